//! fnat's control crate: what fnatctl and fnatd say to each other, and how.
//!
//! - [`vocab`]: the vocabulary both sides speak (protocol, service key, forwarding method,
//!   persistence, scheduler kind and flags, mark rules, traffic counters).
//! - [`limits`]: the ranges and checks of every value a command or a configuration file may set,
//!   written once: fnatd's control state applies them to every change, wherever it came from.
//! - [`msg`]: the messages ([`msg::Request`] of [`msg::Command`]s, [`msg::Reply`],
//!   [`msg::CtrlError`]), versioned by [`msg::PROTOCOL_VERSION`] and carried as JSON.
//! - [`shm`]: the transport, a file on the shared-memory tmpfs with a request ring and a response
//!   ring; [`shm::Server`] on fnatd's side, [`shm::Client`] on fnatctl's.
//! - [`cli`]: ipvsadm's command line as fnatctl takes it, also the parser of saved rules.
//! - [`save`]: ipvsadm's save format (`fnatctl -S`) and the restore driver (`fnatctl -R`).
//!
//! Nothing here knows the gateway: no packets, no workers, no DPDK. `fnatctl` is this crate's
//! binary and depends on nothing else of fnat; `dataplane` depends on this library.

#![deny(unsafe_code)]

pub mod cli;
pub mod keepalived;
pub mod limits;
pub mod msg;
pub mod save;
pub mod shm;
pub mod vocab;
