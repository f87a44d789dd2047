//! Receiving requests: the frames each HTTP transport's response carries.

use crate::net::request;
use sockjs_testkit::AsyncConn;

/// One receiving request and the frames it carries.
pub(crate) struct Receiver {
    http: AsyncConn,
    transport: String,
    pending: Vec<u8>,
    prelude_seen: bool,
    /// Polling receivers carry one frame.
    pub(crate) done: bool,
}

impl Receiver {
    /// Sends the receiving request and checks its status.
    pub(crate) async fn open(addr: &str, method: &str, path: &str, transport: &str) -> Result<Receiver, String> {
        let (http, status) = request(addr, method, path, &[], b"").await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{path} answered {status}"));
        }
        Ok(Receiver {
            http,
            transport: transport.to_owned(),
            pending: Vec::new(),
            prelude_seen: false,
            done: false,
        })
    }

    /// The next frame; `None` when the response ended.
    pub(crate) async fn next_frame(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(f) = self.take_frame()? {
                return Ok(Some(f));
            }
            if self.done {
                return Ok(None);
            }
            let more = self
                .http
                .body_data(&mut self.pending)
                .await
                .map_err(|e| e.to_string())?;
            if !more {
                if !self.pending.is_empty() && !self.pending.iter().all(u8::is_ascii_whitespace) {
                    return Err(format!("trailing data {:?}", String::from_utf8_lossy(&self.pending)));
                }
                return Ok(None);
            }
        }
    }

    fn take(&mut self, end: usize, skip: usize) -> String {
        let rest = self.pending.split_off(end + skip);
        let mut item = std::mem::replace(&mut self.pending, rest);
        item.truncate(end);
        String::from_utf8_lossy(&item).into_owned()
    }

    fn take_frame(&mut self) -> Result<Option<String>, String> {
        let find = |hay: &[u8], n: &[u8]| hay.windows(n.len()).position(|w| w == n);
        match self.transport.as_str() {
            "xhr" | "xhr_streaming" => {
                let Some(i) = find(&self.pending, b"\n") else {
                    return Ok(None);
                };
                let line = self.take(i, 1);
                if self.transport == "xhr" {
                    self.done = true;
                }
                if !self.prelude_seen && self.transport == "xhr_streaming" {
                    self.prelude_seen = true;
                    return if line.len() == 2048 {
                        self.take_frame()
                    } else {
                        Err("bad prelude".into())
                    };
                }
                Ok(Some(line))
            }
            "eventsource" => {
                if !self.prelude_seen {
                    if self.pending.len() < 2 {
                        return Ok(None);
                    }
                    self.take(0, 2);
                    self.prelude_seen = true;
                }
                let Some(i) = find(&self.pending, b"\r\n\r\n") else {
                    return Ok(None);
                };
                let event = self.take(i, 4);
                let data = event.strip_prefix("data: ").ok_or("bad event")?;
                Ok(Some(percent_decode(data)?))
            }
            "htmlfile" => {
                let Some(start) = find(&self.pending, b"<script>\np(") else {
                    return Ok(None);
                };
                let Some(end) = find(&self.pending[start..], b");\n</script>\r\n") else {
                    return Ok(None);
                };
                let js = self.take(start + end, 14);
                let arg = &js[start + 11..];
                serde_json::from_str::<String>(arg)
                    .map(Some)
                    .map_err(|e| format!("bad htmlfile frame: {e}"))
            }
            _ => {
                let Some(i) = find(&self.pending, b");\r\n") else {
                    return Ok(None);
                };
                let js = self.take(i, 4);
                self.done = true;
                let arg = js.strip_prefix("/**/cb(").ok_or("bad jsonp frame")?;
                serde_json::from_str::<String>(arg)
                    .map(Some)
                    .map_err(|e| format!("bad jsonp frame: {e}"))
            }
        }
    }
}

/// Decodes `%XX` escapes (eventsource data).
fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("truncated escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}
