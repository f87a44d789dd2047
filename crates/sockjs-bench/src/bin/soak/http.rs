//! The HTTP session driver (xhr, xhr-streaming, eventsource, htmlfile,
//! jsonp): a receiver, reopened as the transport requires, and sends.

use crate::frames::{frame_messages, json_array};
use crate::net::request;
use crate::receiver::Receiver;
use crate::session::{Behaviour, Counters};
use std::sync::atomic::Ordering;

/// One session over the HTTP `transport`; the messages echoed back.
pub(crate) async fn http_session(
    addr: &str,
    base: &str,
    transport: &str,
    behaviour: Behaviour,
    want: &[String],
    c: &Counters,
) -> Result<Vec<String>, String> {
    let (method, path) = match transport {
        "xhr" => ("POST", format!("{base}/xhr")),
        "xhr_streaming" => ("POST", format!("{base}/xhr_streaming")),
        "eventsource" => ("GET", format!("{base}/eventsource")),
        "htmlfile" => ("GET", format!("{base}/htmlfile?c=cb")),
        _ => ("GET", format!("{base}/jsonp?c=cb")),
    };
    let streaming = matches!(transport, "xhr_streaming" | "eventsource" | "htmlfile");
    let mut got = Vec::new();
    // The receiver is opened first; the open frame comes on it.
    let mut receiver = Receiver::open(addr, method, &path, transport).await?;
    let first = receiver.next_frame().await?;
    if first.as_deref() != Some("o") {
        return Err(format!("no open frame: {first:?}"));
    }
    c.sessions.fetch_add(1, Ordering::Relaxed);
    match behaviour {
        Behaviour::Abandon => return Ok(got),
        Behaviour::Abort => {
            if streaming {
                send(addr, base, transport, &want[..1]).await?;
                // Drop the receiver after its first data: mid-response.
                let _ = receiver.next_frame().await;
            }
            return Ok(got);
        }
        Behaviour::WellBehaved => {}
    }
    let sender = {
        let (addr, base, transport, want) = (addr.to_owned(), base.to_owned(), transport.to_owned(), want.to_vec());
        tokio::spawn(async move {
            for chunk in want.chunks(5) {
                send(&addr, &base, &transport, chunk).await?;
            }
            Ok::<(), String>(())
        })
    };
    let mut streaming_receiver = streaming.then_some(receiver);
    while got.len() < want.len() {
        let r = match streaming_receiver.as_mut() {
            Some(r) => r,
            None => {
                // Polling (or a streaming response that hit response_limit): a new request.
                streaming_receiver = Some(Receiver::open(addr, method, &path, transport).await?);
                streaming_receiver.as_mut().expect("just set")
            }
        };
        match r.next_frame().await? {
            Some(f) => frame_messages(&f, &mut got)?,
            None => streaming_receiver = None,
        }
        if !streaming && streaming_receiver.as_ref().is_some_and(|r| r.done) {
            streaming_receiver = None;
        }
    }
    sender.await.map_err(|e| e.to_string())??;
    Ok(got)
}

/// Sends `msgs` with `xhr_send` or `jsonp_send`.
async fn send(addr: &str, base: &str, transport: &str, msgs: &[String]) -> Result<(), String> {
    let json = json_array(msgs);
    let (path, body, ctype, want) = if transport == "jsonp" {
        let mut form = String::from("d=");
        for b in json.bytes() {
            if b.is_ascii_alphanumeric() {
                form.push(b as char);
            } else {
                form.push_str(&format!("%{b:02X}"));
            }
        }
        (
            format!("{base}/jsonp_send"),
            form,
            "application/x-www-form-urlencoded",
            200,
        )
    } else {
        (format!("{base}/xhr_send"), json, "text/plain", 204)
    };
    let (mut conn, status) = request(addr, "POST", &path, &[("Content-Type", ctype)], body.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut reply = Vec::new();
    let _ = conn.read_body(&mut reply).await;
    if status != want {
        return Err(format!("send answered {status}"));
    }
    Ok(())
}
