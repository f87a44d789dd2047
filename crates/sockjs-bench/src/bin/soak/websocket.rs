//! The websocket session driver.

use crate::frames::{frame_messages, json_array};
use crate::net::connect;
use crate::session::{Behaviour, Counters};
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// How long an abandoned websocket stays connected without reading: past
/// the server's heartbeat (2 s) plus pong deadline (3 s).
pub(crate) const ABANDONED_WS_HOLD: Duration = Duration::from_secs(8);

/// One websocket session; the messages echoed back.
pub(crate) async fn websocket_session(
    addr: &str,
    base: &str,
    behaviour: Behaviour,
    want: &[String],
    c: &Counters,
) -> Result<Vec<String>, String> {
    let tcp = connect(addr).await.map_err(|e| e.to_string())?;
    let url = format!("ws://{addr}{base}/websocket");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let first = ws.next().await;
    if !matches!(&first, Some(Ok(Message::Text(t))) if t.as_str() == "o") {
        return Err(format!("no open frame: {first:?}"));
    }
    c.sessions.fetch_add(1, Ordering::Relaxed);
    let mut got = Vec::new();
    match behaviour {
        Behaviour::Abandon => {
            // Silence: never read again (so pings go unanswered) and let
            // the server's pong deadline end it; the socket is dropped later.
            tokio::spawn(async move {
                tokio::time::sleep(ABANDONED_WS_HOLD).await;
                drop(ws);
            });
            return Ok(got);
        }
        Behaviour::Abort => {
            let _ = ws.send(Message::text(json_array(&want[..1]))).await;
            drop(ws);
            return Ok(got);
        }
        Behaviour::WellBehaved => {}
    }
    for chunk in want.chunks(5) {
        ws.send(Message::text(json_array(chunk)))
            .await
            .map_err(|e| e.to_string())?;
    }
    while got.len() < want.len() {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => frame_messages(t.as_str(), &mut got)?,
            Some(Ok(_)) => {}
            other => return Err(format!("websocket ended early: {other:?}")),
        }
    }
    let _ = ws.close(None).await;
    while let Some(Ok(_)) = ws.next().await {}
    Ok(got)
}
