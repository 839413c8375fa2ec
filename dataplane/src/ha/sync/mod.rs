//! Connection sync: the master gateway sends its connections and persistence templates to the
//! backups, so that a backup that takes over keeps them (the IPVS sync daemon's job,
//! `ip_vs_sync.c`). This module is the message format and its checks on receipt, sans-IO: bytes
//! in and out, no socket, no thread, no clock.
//!
//! - [`codec`]: the message (a header, up to [`MAX_RECORDS`] fixed-size records, a truncated
//!   HMAC-SHA256 tag under a shared [`SyncKey`]), its byte layout, [`MessageWriter`] (the sender's
//!   batching into one buffer) and [`decode`].
//! - [`replay`]: [`ReplayWindow`], each sender's messages accepted once.
//!
//! A receiver takes a datagram in three steps, and acts on its records only if all pass:
//! [`decode`] (the header, the length, the tag before anything of the records, then every
//! record), [`ReplayWindow::check_and_record`] with the header's sender and number, then the
//! records from [`Message::records`]. Every refusal is a [`SyncError`] with a
//! [`label`](SyncError::label) for its counter.
//!
//! What the records mean to the connection table (installing, refreshing, expiry from
//! `timeout_ms`) is the receiver's, not this module's.

pub mod codec;
pub mod daemon;
#[cfg(any(test, feature = "testing"))]
pub mod fuzz;
pub mod replay;

pub use codec::{
    EncodeError, Header, KeyError, MAX_MESSAGE_LEN, MAX_RECORDS, Message, MessageWriter, RECORD_LEN, RecordKind,
    SyncError, SyncFlags, SyncKey, SyncRecord, decode, encode,
};
pub use replay::ReplayWindow;

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
