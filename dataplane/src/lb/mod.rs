//! The load-balancing core: services and real servers, schedulers, persistence templates, the
//! per-core connection table, TCP state and timeouts, local address/port pools, and the per-mode
//! rewrites (`rewrite` for FULLNAT and NAT, `tunnel` for TUN).
//!
//! Sans-IO: no DPDK types, no clocks. Time comes in as `now` (milliseconds on a monotonic clock
//! chosen by the caller). Everything here that a worker owns (`ConnTable`, `LocalAddrPool`,
//! `SchedState`) is touched by that worker's core only; the configuration (`Services`) is an immutable
//! snapshot shared by all workers. Nothing in the per-packet path allocates, locks or panics, with
//! one documented exception: the gateway-wide persistence templates (`persist::Templates`), whose
//! shard locks are taken when a connection of a persistent service opens or ends (never per packet
//! of an established connection).

pub mod conn;
pub mod fwmark;
pub mod laddr;
pub mod loads;
pub mod nat_owner;
pub mod persist;
mod probe;
pub mod rewrite;
pub mod rss;
pub mod sched;
pub mod service;
pub mod tcp_state;
pub mod tunnel;

pub use conn::{Conn, ConnTable, Dir, FlowKey};
pub use laddr::LocalAddrPool;
pub use persist::{TemplateKey, Templates};
pub use sched::{SchedFlags, SchedKind, SchedState};
pub use service::{DestId, FwdMethod, Persistence, Protocol, RealServer, Service, ServiceKey, Services};
pub use tcp_state::{TcpState, Timeouts};
