//! [`Response`]: a complete response and the assertions tests make on it.

use super::buf::show;
use crate::Head;

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status line and headers.
    pub head: Head,
    /// The decoded body.
    pub body: Vec<u8>,
}

impl std::ops::Deref for Response {
    type Target = Head;
    fn deref(&self) -> &Head {
        &self.head
    }
}

impl Response {
    /// The body as UTF-8 (panics otherwise).
    #[track_caller]
    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("UTF-8 body")
    }

    /// Asserts the status code.
    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.head.status,
            status,
            "status; headers {:?}; body {:?}",
            self.head.headers,
            show(&self.body)
        );
        self
    }

    /// Asserts the body, as text.
    #[track_caller]
    pub fn expect_body(&self, body: &str) -> &Self {
        assert_eq!(
            String::from_utf8_lossy(&self.body),
            body,
            "body (status {})",
            self.head.status
        );
        self
    }
}
