//! SockJS message arrays: the body a session sends, the messages a frame
//! carries.

/// `msgs` as a JSON array, the body of a send.
pub(crate) fn json_array(msgs: &[String]) -> String {
    serde_json::to_string(msgs).expect("json")
}

/// Messages of a frame (`a[...]`), `Err` for a close frame.
pub(crate) fn frame_messages(frame: &str, out: &mut Vec<String>) -> Result<(), String> {
    match frame.as_bytes().first() {
        Some(b'o' | b'h') => Ok(()),
        Some(b'a') => {
            let msgs: Vec<String> =
                serde_json::from_str(&frame[1..]).map_err(|e| format!("bad frame {frame:?}: {e}"))?;
            out.extend(msgs);
            Ok(())
        }
        Some(b'c') => Err(format!("closed: {frame}")),
        _ => Err(format!("unexpected frame {frame:?}")),
    }
}
