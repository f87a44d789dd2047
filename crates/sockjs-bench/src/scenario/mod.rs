//! The load of each scenario: what one session does, from connect to drain.
//!
//! One module per scenario family, all built on `shared` (the target, the
//! run plan, session paths and the websocket handshake) and `wire` (what
//! each protocol puts on a websocket), which import none of them.

mod connect;
mod fanout;
mod idle;
mod shared;
mod websocket;
mod wire;
mod xhr;

pub(crate) use connect::establish;
pub(crate) use fanout::{default_rate, fanout, Fanout};
pub(crate) use idle::{idle, IdleTransport};
pub(crate) use shared::{measure, Measured, Plan, Target};
pub(crate) use websocket::{websocket_echo, Echo};
pub(crate) use wire::Wire;
pub(crate) use xhr::xhr;
