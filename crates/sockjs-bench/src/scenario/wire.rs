//! What goes on a websocket for each protocol the bench speaks: SockJS
//! framing, a raw websocket, or Engine.IO v4 / Socket.IO v5. The scenarios
//! are written once over it.

use super::shared::{session_path, ws_connect, Error, Target, HANDSHAKE_TIMEOUT};
use crate::frame::{self, Kind};
use crate::sio::{self, Packet};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A websocket client connection.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// The protocol on a websocket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// SockJS framing: `<base>/<server>/<session>/websocket`, `o`, `a[...]`.
    SockJs,
    /// SockJS's raw websocket (`<base>/websocket`): one message per frame.
    Raw,
    /// Engine.IO v4 / Socket.IO v5 on the default namespace, event `msg`.
    SocketIo,
}

/// What a text frame from the server asks of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reply {
    /// Nothing to answer.
    None,
    /// Send this frame back (a Socket.IO pong).
    Send(&'static str),
}

impl Wire {
    /// Connects session `sid` and completes the protocol's opening (`o`;
    /// `0{...}`, `40`, `40{...}`), with `read_buffer` bytes of read buffer.
    pub(crate) async fn open(self, t: &Target, sid: u32, read_buffer: usize) -> Result<Ws, Error> {
        let path = match self {
            Wire::SockJs => session_path(t, sid, "websocket"),
            Wire::Raw => format!("{}/websocket", t.prefix),
            Wire::SocketIo => sio::websocket_path(&t.prefix),
        };
        let mut ws = ws_connect(t, &path, read_buffer).await?;
        if self == Wire::Raw {
            return Ok(ws);
        }
        let open = async {
            let mut engine_open = false;
            loop {
                let f = match ws.next().await {
                    Some(Ok(Message::Text(f))) => f,
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(other)) => return Err(format!("expected an opening frame, got {other:?}").into()),
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err("connection closed while opening".into()),
                };
                match (self, sio::parse(f.as_str())) {
                    (Wire::SockJs, _) if f.as_str() == "o" => return Ok(()),
                    (Wire::SocketIo, Packet::Open) if !engine_open => {
                        engine_open = true;
                        ws.send(Message::text(sio::CONNECT)).await?;
                    }
                    (Wire::SocketIo, Packet::Ping) => ws.send(Message::text(sio::PONG)).await?,
                    (Wire::SocketIo, Packet::Connected) if engine_open => return Ok(()),
                    _ => return Err::<(), Error>(format!("unexpected {:?} while opening", f.as_str()).into()),
                }
            }
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, open).await {
            Ok(Ok(())) => Ok(ws),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("not open within {HANDSHAKE_TIMEOUT:?}").into()),
        }
    }

    /// The text frame that sends message `m` (which needs no JSON escaping).
    pub(crate) fn wrap(self, m: &str) -> String {
        match self {
            Wire::SockJs => format!("[\"{m}\"]"),
            Wire::Raw => m.to_owned(),
            Wire::SocketIo => sio::encode_event(m),
        }
    }

    /// Hands every message of a text frame from the server to `each`; says
    /// what to answer. Errors on a close or a protocol violation.
    pub(crate) fn read(self, f: &str, mut each: impl FnMut(&str)) -> Result<Reply, Error> {
        match self {
            Wire::Raw => {
                each(f);
                Ok(Reply::None)
            }
            Wire::SockJs => match frame::parse(f, each) {
                Kind::Messages(_) | Kind::Heartbeat => Ok(Reply::None),
                Kind::Open => Err("second o frame".into()),
                Kind::Close(f) => Err(format!("server closed the session: {f}").into()),
                Kind::Invalid(f) => Err(format!("invalid frame {f:?}").into()),
            },
            Wire::SocketIo => match sio::parse(f) {
                Packet::Event(m) => {
                    each(&m);
                    Ok(Reply::None)
                }
                Packet::Ping => Ok(Reply::Send(sio::PONG)),
                Packet::Close(f) => Err(format!("server closed the connection: {f}").into()),
                Packet::Open | Packet::Connected => Err(format!("second opening packet {f:?}").into()),
                Packet::Invalid(f) => Err(format!("invalid packet {f:?}").into()),
            },
        }
    }

    /// Reads one websocket message: hands its messages to `each`, says what
    /// to answer. Errors when the connection ends or the server breaks the
    /// protocol.
    pub(crate) fn read_message(
        self,
        next: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
        each: impl FnMut(&str),
    ) -> Result<Reply, Error> {
        match next {
            Some(Ok(Message::Text(f))) => self.read(f.as_str(), each),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => Ok(Reply::None),
            Some(Ok(Message::Binary(_))) => Err("binary message from the server".into()),
            Some(Ok(Message::Close(f))) => Err(format!("server closed the websocket: {f:?}").into()),
            Some(Err(e)) => Err(e.into()),
            None => Err("connection closed by the server".into()),
        }
    }
}
