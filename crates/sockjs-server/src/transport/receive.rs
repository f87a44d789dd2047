//! HTTP receivers: xhr, xhr_streaming, eventsource, htmlfile and jsonp.
//! Each request attaches to its session and streams frames out of it
//! through a [`ReceiverBody`].

use super::session_headers;
use crate::body::{request_drain, ReceiverBody, SockJsBody};
use crate::cors::AllowOrigin;
use crate::error::HttpError;
use crate::handler::Handler;
use crate::state::{conn_info, State};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::Response;
use http_body::Body;
use sockjs_core::{query_param, validate_callback, Attach, Endpoint, Receiver};
use std::sync::Arc;

pub(crate) async fn receive<H: Handler, B>(
    state: &Arc<State<H>>,
    parts: &Parts,
    body: B,
    session: &str,
    endpoint: Endpoint,
    allow: &AllowOrigin,
) -> Result<Response<SockJsBody>, HttpError>
where
    B: Body + Send + 'static,
{
    let (Some(kind), Some(transport)) = (endpoint.receiver(), endpoint.transport()) else {
        return Err(HttpError::NotFound);
    };
    let callback = if kind.needs_callback() {
        let raw = parts.uri.query().and_then(|q| query_param(q, &["c", "callback"]));
        let decoded = match raw {
            Some(Err(_)) => return Err(sockjs_core::CallbackError::Invalid.into()),
            Some(Ok(s)) => Some(s),
            None => None,
        };
        validate_callback(decoded.as_deref())?.to_owned()
    } else {
        String::new()
    };
    let mut created = false;
    let shared = state.get_or_create(session, || {
        created = true;
        conn_info(&state.config, parts, transport)
    })?;
    if !created {
        // Like sockjs-node: the session's headers, URL and peer are those
        // of its latest request.
        shared.set_latest(conn_info(&state.config, parts, transport));
    }
    let body = match shared.attach_within(state.config.receiver_grace).await {
        Attach::Attached(rid) => SockJsBody::receiver(ReceiverBody::new(
            shared,
            rid,
            kind,
            &callback,
            state.config.response_limit,
            state.config.heartbeat_delay,
            request_drain(body, state.config.max_message_size as u64),
        )),
        _ => {
            shared.meters.another_connection();
            let (code, reason) = sockjs_core::ANOTHER_CONNECTION;
            let mut frame = String::new();
            kind.wrap_frame(&sockjs_core::encode_close(code, reason), &callback, &mut frame);
            SockJsBody::chunks([Bytes::from(kind.prelude(&callback)), Bytes::from(frame)])
        }
    };
    let mut r = Response::new(body);
    session_headers(
        &state.config.jsessionid,
        parts,
        allow,
        kind.content_type(),
        r.headers_mut(),
    );
    if parts.version == http::Version::HTTP_10 {
        // Without chunking, the end of the connection is the end of the body.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if matches!(kind, Receiver::JsonpPolling | Receiver::HtmlFile) {
        // Script and HTML bodies: no sniffing them into something else.
        r.headers_mut()
            .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    }
    Ok(r)
}
