//! The control path: how fnatctl changes fnatd's services at runtime.
//!
//! - [`cli`]: ipvsadm's command line as fnatctl takes it, also the parser of saved rules ([`save`]).
//! - [`msg`]: the messages ([`Request`] of [`Command`]s, [`Reply`], [`CtrlError`]), versioned by
//!   [`PROTOCOL_VERSION`] and carried as JSON.
//! - [`sched_flags`]: ipvsadm's default scheduler (wlc) and its scheduler-flag names (`-b`), parsed
//!   and printed as ipvsadm does; shared by fnatctl and the configuration file.
//! - [`save`]: ipvsadm's save format (`fnatctl -S`) and the restore driver (`fnatctl -R`), shared by
//!   fnatctl and fnatd.
//! - [`shm`]: the transport, a file on the shared-memory tmpfs (default `/dev/shm/fnat.ctl`, mode
//!   0600) with a request ring and a response ring; [`Server`] on fnatd's side, [`Client`] on
//!   fnatctl's. One client at a time (a file lock); torn, stale or corrupt messages are detected and
//!   never misread.
//! - [`state`]: [`ControlState`], the authoritative configuration (services and timeouts), changed
//!   one transaction (one request, all or nothing) at a time with IPVS semantics, and turned into the
//!   immutable [`Services`](crate::lb::Services) snapshot that the workers read. What only the workers
//!   know (connection counts, the connections themselves) it asks of a [`Gateway`].
//! - [`templates`]: the persistence templates seen from the control side: listed among the
//!   connections as IPVS lists them, and invalidated when a change deletes their service or real
//!   server.
//!
//! Everything here runs on fnatd's main (control) lcore, or in fnatctl; no worker touches it. Nothing
//! here uses DPDK, `mmap` or `unsafe`; it builds without the `dpdk` feature, which is how fnatctl
//! links it.
//!
//! # The daemon's side
//!
//! fnatd's main loop calls this about every millisecond (each `poll` also refreshes the heartbeat by
//! which fnatctl knows that fnatd is alive):
//!
//! ```no_run
//! use dataplane::control::{ControlState, NoConnections, Server};
//! # fn publish(_: dataplane::lb::Services, _: dataplane::lb::Timeouts) {}
//! # fn run(cfg: &dataplane::config::Config) -> std::io::Result<()> {
//! let mut server = Server::create(&cfg.control_path)?;
//! let mut state = ControlState::from_config(cfg);
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
//! `state.answer` is `state.apply` turned into the [`Reply`]: `Done`, the query's answer (`Listing`,
//! `Timeouts`, `Conns`), or the error, with a request that did not decode answered with its decoding
//! error.

pub mod cli;
pub mod fuzz;
pub mod metrics;
pub mod msg;
pub mod save;
pub mod sched_flags;
pub mod shm;
pub mod state;
pub mod stats;
pub mod templates;

pub use msg::{
    Command, ConnListing, ConnView, CounterReport, CtrlError, DestSpec, DestView, Listing, PROTOCOL_VERSION,
    PortCounters, Reply, Request, ServiceSpec, ServiceView, WorkerCounters,
};
pub use sched_flags::{DEFAULT_SCHEDULER, SchedFlagError, parse_sched_flags, sched_flag_names, sched_flags_suffix};
pub use shm::{CallError, Client, ConnectError, Incoming, Server};
pub use state::{ControlState, Gateway, NoConnections};
