//! HTTP senders: `xhr_send` and `jsonp_send` deliver a batch of messages
//! to the session's application.

use super::session_headers;
use crate::body::SockJsBody;
use crate::cors::AllowOrigin;
use crate::error::{BoxError, HttpError, TEXT_PLAIN};
use crate::shared::short_id;
use crate::state::State;
use http::header;
use http::request::Parts;
use http::{Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use sockjs_core::{decode_messages, jsonp_send_payload, Endpoint};
use std::sync::Arc;

pub(crate) async fn send<H, B>(
    state: &Arc<State<H>>,
    parts: &Parts,
    body: B,
    session: &str,
    endpoint: Endpoint,
    allow: &AllowOrigin,
) -> Result<Response<SockJsBody>, HttpError>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let shared = state.sessions.get(session).ok_or(HttpError::NotFound)?;
    // JSON escapes can make a payload up to six times its decoded size; the
    // decoded size is what `max_message_size` bounds.
    let max_raw = state.config.max_message_size.saturating_mul(6).saturating_add(1024);
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_raw as u64) {
        return Err(HttpError::PayloadTooLarge);
    }
    // A peer trickling its body must not hold the request (and its
    // connection) open without bound.
    let collected = tokio::time::timeout(
        state.config.body_read_timeout,
        http_body_util::Limited::new(body, max_raw).collect(),
    )
    .await
    .map_err(|_| HttpError::RequestTimeout)?;
    let bytes = collected
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                HttpError::PayloadTooLarge
            } else {
                HttpError::BadRequest("Failed to read the request body.")
            }
        })?
        .to_bytes();
    let payload = if endpoint == Endpoint::JsonpSend {
        let form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.trim_start()
                    .to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        jsonp_send_payload(&bytes, form)?
    } else {
        std::borrow::Cow::Borrowed(&bytes[..])
    };
    let messages = decode_messages(&payload, state.decode_limits())?;
    shared
        .meters
        .received(messages.len() as u64, messages.iter().map(|m| m.len() as u64).sum());
    if let Some(tx) = shared.inbound() {
        let any = !messages.is_empty();
        let since = shared.idle_generation();
        // Waits while the application is behind (backpressure reaches the
        // client as a slower xhr_send), but not without bound: an
        // application that stopped reading must not hold the request, and
        // the messages it did not take must not vanish silently, so the
        // session is closed (the client learns it from the close frame).
        let wait = state
            .config
            .slow_consumer_timeout
            .unwrap_or(state.config.body_read_timeout);
        let mut delivered = Ok(());
        for m in messages {
            // The bound is on time without progress: an application that
            // keeps taking messages, however slowly, is waited for.
            match tokio::time::timeout(wait, tx.send(m)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(elapsed) => {
                    delivered = Err(elapsed);
                    break;
                }
            }
        }
        if delivered.is_err() {
            let (code, reason) = crate::shared::APP_NOT_READING;
            tracing::debug!(session = %short_id(session), "application not taking inbound messages: closing");
            shared.close(code, reason);
            return Err(HttpError::AppNotReading);
        }
        if any {
            shared.settle(&tx, since, state.config.xhr_send_settle).await;
        }
    }
    let (status, content) = match endpoint {
        Endpoint::JsonpSend => (StatusCode::OK, "ok"),
        _ => (StatusCode::NO_CONTENT, ""),
    };
    let mut r = Response::new(SockJsBody::full(content));
    *r.status_mut() = status;
    session_headers(&state.config.jsessionid, parts, allow, TEXT_PLAIN, r.headers_mut());
    Ok(r)
}
