//! The load of each scenario: what one session does, from connect to drain.
//!
//! One module per scenario family, all built on `shared` (the target, the
//! run plan, session paths and the websocket handshake), which imports none
//! of them.

mod connect;
mod idle;
mod shared;
mod websocket;
mod xhr;

pub(crate) use connect::establish;
pub(crate) use idle::idle;
pub(crate) use shared::{Plan, Target};
pub(crate) use websocket::websocket;
pub(crate) use xhr::xhr;
