//! Dispatch: a request under the prefix is parsed into a [`Route`] once,
//! then handed to the one place that answers it (a fixed page, an HTTP
//! receiver or sender, or the websocket handshake).

use crate::body::SockJsBody;
use crate::config::{Config, Transport};
use crate::cors;
use crate::error::BoxError;
use crate::error::HttpError;
use crate::handler::Handler;
use crate::pages;
use crate::state::State;
use crate::transport::{receive, send};
use crate::ws::handshake;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use sockjs_core::{Endpoint, Route, RouteError};
use std::sync::Arc;

pub(crate) async fn handle<H, B>(state: Arc<State<H>>, req: Request<B>) -> Response<SockJsBody>
where
    H: Handler,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    match dispatch(&state, parts, body).await {
        Ok(r) => r,
        Err(e) => {
            state.meters.refused(&e);
            e.into_response()
        }
    }
}

/// True when `e` serves at least one enabled transport. JSONP (and its
/// send endpoint) cannot be origin-checked, so an allow-list turns it off.
fn endpoint_enabled(config: &Config, e: Endpoint) -> bool {
    let served = e.transports();
    if served.contains(Transport::JsonpPolling) && cors::refuses_unchecked(&config.cors) {
        return false;
    }
    served.intersects(config.transports)
}

async fn dispatch<H, B>(state: &Arc<State<H>>, parts: Parts, body: B) -> Result<Response<SockJsBody>, HttpError>
where
    H: Handler,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let config = &state.config;
    let path = parts.uri.path();
    let rel = under_prefix(path, &config.prefix).unwrap_or("");
    let route = sockjs_core::route(parts.method.as_str(), rel).map_err(|e| match e {
        RouteError::MethodNotAllowed(allow) => HttpError::MethodNotAllowed(allow),
        _ => HttpError::NotFound,
    })?;
    match route {
        Route::Greeting => Ok(pages::greeting()),
        Route::Iframe => pages::iframe(state, &parts),
        Route::Info => pages::info(config, &parts),
        Route::Preflight {
            allow: methods,
            endpoint,
        } => {
            if endpoint.is_some_and(|e| !endpoint_enabled(config, e)) {
                return Err(HttpError::NotFound);
            }
            pages::preflight(config, methods, &parts)
        }
        Route::RawWebsocket => {
            if !config.is_enabled(Transport::RawWebsocket) {
                return Err(HttpError::NotFound);
            }
            cors::decide(&config.cors, &parts)?;
            handshake::upgrade(state, parts, None)
        }
        Route::Session { session, endpoint, .. } => {
            if !endpoint_enabled(config, endpoint) || session.len() > config.max_session_id_len {
                return Err(HttpError::NotFound);
            }
            let allow = cors::decide(&config.cors, &parts)?;
            match endpoint {
                Endpoint::Websocket => handshake::upgrade(state, parts.clone(), Some(session)),
                Endpoint::XhrSend | Endpoint::JsonpSend => {
                    send::send(state, &parts, body, session, endpoint, &allow).await
                }
                _ => receive::receive(state, &parts, body, session, endpoint, &allow).await,
            }
        }
        _ => Err(HttpError::NotFound),
    }
}

/// The path under `prefix`, if `path` is `prefix` itself or below it on a
/// segment boundary.
pub(crate) fn under_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_whole_segments() {
        assert_eq!(under_prefix("/echo", "/echo"), Some(""));
        assert_eq!(under_prefix("/echo/info", "/echo"), Some("/info"));
        assert_eq!(under_prefix("/echoes", "/echo"), None);
        assert_eq!(under_prefix("/x", ""), Some("/x"));
    }
}
