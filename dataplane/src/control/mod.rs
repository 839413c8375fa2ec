//! fnatd's side of the control path, on the main (control) lcore: the authoritative
//! configuration and what fnatctl's requests do to it. The messages, the transport, the ipvsadm
//! grammar and the save format are the `ctrl` crate's, shared with fnatctl.
//!
//! - [`state`]: [`ControlState`], the authoritative configuration (services, mark rules and
//!   timeouts), changed one transaction (one request, all or nothing) at a time with IPVS
//!   semantics and the checks of [`ctrl::limits`], and turned into the immutable
//!   [`Services`](crate::lb::Services) snapshot that the workers read. What only the workers know
//!   (connection counts, the connections themselves) it asks of a [`Gateway`].
//! - [`rules`]: the rules file (`[control] rules`): the state fnatd starts with, and the file
//!   rewritten after every change.
//! - [`stats`]: [`stats::StatsBook`], the gateway's traffic statistics folded from the workers'.
//! - [`templates`]: the persistence templates seen from the control side: listed among the
//!   connections as IPVS lists them, and invalidated when a change deletes their service or real
//!   server.
//! - [`metrics`]: the Prometheus text of a listing and the counters.
//! - [`main_loop`]: [`MainLoop`], the main lcore's duties towards the workers (snapshots and
//!   neighbour tables delivered and retried, retired snapshots freed, templates swept and
//!   invalidated, counters and connections gathered), sans-IO: time is an argument.
//!
//! No worker touches any of this; nothing here uses DPDK, `mmap` or `unsafe`.
//!
//! # The daemon's side
//!
//! fnatd's main loop (`daemon::main_loop`) calls this about every millisecond (each `poll` also
//! refreshes the heartbeat by which fnatctl knows that fnatd is alive):
//!
//! ```no_run
//! use ctrl::shm::Server;
//! use dataplane::control::NoConnections;
//! # fn publish(_: dataplane::lb::Services, _: dataplane::lb::Timeouts) {}
//! # fn run(cfg: &dataplane::config::Config) -> std::io::Result<()> {
//! let mut server = Server::create(&cfg.control_path)?;
//! let mut state = cfg.state.clone();
//! state.set_max_payload(server.max_payload());
//! // fnatd's gateway asks its workers for connection counts and connections.
//! let gateway = NoConnections;
//! loop {
//!     let before = state.generation();
//!     while let Some(incoming) = server.poll() {
//!         let reply = state.answer(incoming.request, &gateway);
//!         server.reply(incoming.seq, &reply)?;
//!     }
//!     if state.generation() != before {
//!         let services = state.services().map_err(std::io::Error::other)?;
//!         publish(services, state.timeouts().clone()); // a new snapshot for the workers
//!     }
//!     std::thread::sleep(std::time::Duration::from_millis(1));
//! }
//! # }
//! ```
//!
//! `state.answer` is `state.apply` turned into the reply: `Done`, the query's answer (`Listing`,
//! `Timeouts`, `Conns`), or the error, with a request that did not decode answered with its decoding
//! error.

#[cfg(any(test, feature = "testing"))]
pub mod fuzz;
pub mod main_loop;
pub mod metrics;
pub mod rules;
pub mod state;
pub mod stats;
pub mod templates;

pub use main_loop::MainLoop;
pub use state::{ControlState, DownMode, Gateway, NoConnections};
