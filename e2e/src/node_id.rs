//! `--node-id NAME`: every response carries `X-SockJS-Node: NAME`, so the
//! tests (and an operator) behind a load balancer see which node answered
//! each request of a session. A layer of the test server around every
//! service, not a library feature: the library's responses are untouched.

use http::{HeaderName, HeaderValue, Response};
use tower::util::MapResponseLayer;

/// The response header naming the node.
pub(crate) const X_SOCKJS_NODE: HeaderName = HeaderName::from_static("x-sockjs-node");

/// The header's value for `--node-id NAME`, refused when `NAME` cannot be a
/// header value.
pub(crate) fn header_value(name: &str) -> Result<HeaderValue, String> {
    if name.is_empty() {
        return Err("--node-id: the name is empty".into());
    }
    HeaderValue::from_str(name).map_err(|_| format!("--node-id: {name:?} cannot be a header value"))
}

/// The layer: adds `X-SockJS-Node` to every response, websocket handshakes
/// (`101`) and `404`s included; without a node id it changes nothing, so
/// the server has one type either way.
pub(crate) fn layer<B>(node: Option<HeaderValue>) -> MapResponseLayer<impl Fn(Response<B>) -> Response<B> + Clone> {
    MapResponseLayer::new(move |mut res: Response<B>| {
        if let Some(v) = &node {
            res.headers_mut().insert(X_SOCKJS_NODE, v.clone());
        }
        res
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{Layer, Service, ServiceExt};

    async fn answer(node: Option<HeaderValue>) -> Response<()> {
        let inner = tower::service_fn(|_req: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(Response::builder().status(404).body(()).unwrap())
        });
        let mut svc = layer(node).layer(inner);
        let svc = svc.ready().await.unwrap();
        svc.call(http::Request::new(())).await.unwrap()
    }

    #[tokio::test]
    async fn tags_every_response_only_with_a_node_id() {
        let tagged = answer(Some(header_value("n1").unwrap())).await;
        assert_eq!(tagged.status(), 404);
        assert_eq!(tagged.headers()[X_SOCKJS_NODE], "n1");
        assert!(answer(None).await.headers().get(X_SOCKJS_NODE).is_none());
    }

    #[test]
    fn refuses_names_that_are_not_header_values() {
        assert!(header_value("node-7.eu").is_ok());
        assert!(header_value("").is_err());
        assert!(header_value("a\nb").is_err());
    }
}
