//! The websocket handshake: validated from the request parts, answered with
//! 101, and the session started on the upgraded connection.

use super::guard::FragmentGuard;
use super::session::run_boxed;
use crate::body::SockJsBody;
use crate::error::HttpError;
use crate::handler::Handler;
use crate::state::{conn_info, State};
use http::header::{self, HeaderValue};
use http::request::Parts;
use http::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use sockjs_core::Transport;
use std::sync::Arc;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

/// True when header `name` lists `token` (comma-separated, any case).
fn header_has_token(parts: &Parts, name: header::HeaderName, token: &str) -> bool {
    let values = parts.headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
    sockjs_core::header_has_token(values, token)
}

/// Validates an RFC 6455 handshake from the request parts. hixie-76
/// handshakes (no `Sec-WebSocket-Key`) are refused.
pub(crate) fn validate(parts: &Parts) -> Result<HeaderValue, HttpError> {
    if !header_has_token(parts, header::UPGRADE, "websocket") {
        return Err(HttpError::BadRequest("Can \"Upgrade\" only to \"WebSocket\"."));
    }
    if !header_has_token(parts, header::CONNECTION, "upgrade") {
        return Err(HttpError::BadRequest("\"Connection\" must be \"Upgrade\"."));
    }
    let key = parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(HttpError::BadRequest(
            "Not a valid websocket request: missing Sec-WebSocket-Key.",
        ))?;
    if parts.headers.get(header::SEC_WEBSOCKET_VERSION).map(|v| v.as_bytes()) != Some(b"13") {
        return Err(HttpError::UpgradeRequired);
    }
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    HeaderValue::from_str(&accept).map_err(|_| HttpError::BadRequest("Invalid Sec-WebSocket-Key."))
}

/// Answers the handshake with 101 and runs the session on the upgraded
/// connection. `session` is `None` for the raw endpoint.
pub(crate) fn upgrade<H: Handler>(
    state: &Arc<State<H>>,
    mut parts: Parts,
    session: Option<&str>,
) -> Result<Response<SockJsBody>, HttpError> {
    let accept = validate(&parts)?;
    // hyper hands out upgrades on HTTP/1.1 only; on HTTP/1.0 (or a
    // websocket handshake over HTTP/2) it is the client's mistake, not a
    // missing capability of the server.
    if parts.version != http::Version::HTTP_11 {
        return Err(HttpError::BadRequest("WebSocket handshakes need HTTP/1.1."));
    }
    // Counted from the handshake on, so the cap is answered with a status
    // (503) rather than a websocket that closes at once.
    let slot = state.try_reserve()?;
    let on_upgrade = parts
        .extensions
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or(HttpError::Internal("This server does not support connection upgrades."))?;
    let raw = session.is_none();
    let transport = if raw {
        Transport::RawWebsocket
    } else {
        Transport::Websocket
    };
    // Boxed, as the stream below: this task lives as long as the session,
    // and each value moved by value through its nested futures keeps a
    // copy's room in every one of them (async state machines do not reuse
    // the room of moved-from locals), which made an idle session's task
    // several KiB. Boxes move as pointers.
    let info = Box::new(conn_info(&state.config, &parts, transport));
    let state = state.clone();
    tokio::spawn(async move {
        // In a block, so that `io` is not held across the session's await.
        let ws = {
            let io = match on_upgrade.await {
                Ok(io) => TokioIo::new(io),
                Err(e) => {
                    tracing::debug!(error = %e, "websocket upgrade failed");
                    return;
                }
            };
            Box::new(
                WebSocketStream::from_raw_socket(
                    FragmentGuard::new(io, state.config.max_fragments, state.config.websocket_frame_timeout),
                    Role::Server,
                    Some(ws_config(&state.config, raw)),
                )
                .await,
            )
        };
        run_boxed(state, ws, info, raw, slot).await;
    });
    let mut r = Response::new(SockJsBody::empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    Ok(r)
}

/// tungstenite's limits. The framed endpoint's messages are JSON: their
/// decoded size (what `max_message_size` bounds, checked after decoding)
/// can be a sixth of their wire size, so the wire is allowed that much.
pub(super) fn ws_config(config: &crate::config::Config, raw: bool) -> WebSocketConfig {
    let wire = if raw {
        config.max_message_size
    } else {
        config.max_message_size.saturating_mul(6).saturating_add(1024)
    };
    WebSocketConfig::default()
        .max_message_size(Some(wire))
        .max_frame_size(Some(wire))
        // tungstenite allocates its read buffer up front and keeps it for
        // the session's life; the guard below it reads from the socket in
        // chunks of its own that it frees once taken, so this buffer can
        // stay small without a system call per small read (an idle
        // session holds 256 bytes here instead of 2 KiB). A frame's whole
        // length is reserved once its header is read, so larger messages
        // only cost more (cheap, in-memory) reads, no extra copies.
        .read_buffer_size(256)
        // Frames are collected up to 4 KiB and written by the flush that ends
        // each batch (`send` flushes), so a burst of raw echoes costs one
        // write per ~4 KiB instead of one per message. tungstenite keeps the
        // buffer's capacity after a burst, so it is kept small: it only grows
        // past this for a single frame larger than it.
        .write_buffer_size(4 * 1024)
}
