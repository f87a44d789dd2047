//! Every error answer, mapped to an HTTP response in one place.

use crate::body::SockJsBody;
use http::{header, HeaderValue, Response, StatusCode};
use sockjs_core::{CallbackError, DecodeError};

/// Why a request was answered with an error status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("not found")]
    NotFound,
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    #[error("{0}")]
    Callback(#[from] CallbackError),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("unsupported websocket version")]
    UpgradeRequired,
    #[error("origin not allowed")]
    Forbidden,
    #[error("{0}")]
    Internal(&'static str),
    #[error("too many sessions")]
    TooManySessions,
    #[error("request body timed out")]
    RequestTimeout,
    #[error("server is shutting down")]
    ShuttingDown,
    #[error("application not reading")]
    AppNotReading,
}

impl HttpError {
    pub(crate) fn into_response(self) -> Response<SockJsBody> {
        let (status, body): (StatusCode, String) = match &self {
            HttpError::NotFound => (StatusCode::NOT_FOUND, "Not Found".into()),
            HttpError::MethodNotAllowed(allow) => {
                // The protocol wants an empty body and no Content-Type here.
                let mut r = Response::new(SockJsBody::empty());
                *r.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                r.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
                return r;
            }
            HttpError::Callback(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            HttpError::Decode(DecodeError::TooLarge | DecodeError::TooManyMessages) | HttpError::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large.".into())
            }
            HttpError::Decode(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            HttpError::BadRequest(m) => (StatusCode::BAD_REQUEST, (*m).into()),
            HttpError::UpgradeRequired => {
                let mut r = Response::new(SockJsBody::full("Unsupported WebSocket version; use 13."));
                *r.status_mut() = StatusCode::UPGRADE_REQUIRED;
                r.headers_mut()
                    .insert("sec-websocket-version", HeaderValue::from_static("13"));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
                return r;
            }
            HttpError::Forbidden => (StatusCode::FORBIDDEN, "Origin not allowed.".into()),
            HttpError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, (*m).into()),
            HttpError::TooManySessions => (StatusCode::SERVICE_UNAVAILABLE, "Too many sessions.".into()),
            HttpError::ShuttingDown => (StatusCode::SERVICE_UNAVAILABLE, "Server is shutting down.".into()),
            HttpError::AppNotReading => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The application is not taking messages; the session is closed.".into(),
            ),
            HttpError::RequestTimeout => {
                let mut r = Response::new(SockJsBody::full("Request body timed out."));
                *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
                let h = r.headers_mut();
                h.insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
                // The rest of the body may still be on its way: do not
                // try to read another request after it.
                h.insert(header::CONNECTION, HeaderValue::from_static("close"));
                return r;
            }
        };
        let mut r = Response::new(SockJsBody::full(body));
        *r.status_mut() = status;
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_PLAIN));
        r
    }
}

/// The error type of response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) const TEXT_PLAIN: &str = "text/plain; charset=UTF-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(HttpError::NotFound.into_response().status(), 404);
        let r = HttpError::MethodNotAllowed("GET").into_response();
        assert_eq!(
            (r.status().as_u16(), r.headers()["allow"].to_str().unwrap()),
            (405, "GET")
        );
        assert!(r.headers().get("content-type").is_none());
        assert_eq!(HttpError::Decode(DecodeError::BrokenJson).into_response().status(), 500);
        assert_eq!(HttpError::Decode(DecodeError::TooLarge).into_response().status(), 413);
        assert_eq!(
            HttpError::UpgradeRequired.into_response().headers()["sec-websocket-version"],
            "13"
        );
        assert_eq!(HttpError::TooManySessions.into_response().status(), 503);
        let r = HttpError::RequestTimeout.into_response();
        assert_eq!(
            (r.status().as_u16(), r.headers()["connection"].to_str().unwrap()),
            (408, "close")
        );
    }
}
