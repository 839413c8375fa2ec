//! The safe wrapper over DPDK (`dpdk-sys`): EAL, lcores, mempools, mbufs, ports and queues.
//!
//! This module and `dpdk-sys` hold all of fnat's `unsafe`; every block states why it is sound.
//!
//! # Design
//!
//! - [`Eal::init`] starts DPDK once per process; the calling thread becomes the main lcore.
//!   Workers run closures through [`Eal::launch`] / [`Eal::wait`].
//! - [`Mempool`] is a shared, thread-safe handle to a packet-buffer pool; [`Mbuf`] is an owned
//!   packet (like `Box`), freed on drop.
//! - [`Port`] is the control handle of an ethdev port (configure, start, link, stats, MAC, RSS
//!   key and redirection table). [`Port::start`] returns one [`RxQueue`] and one [`TxQueue`]
//!   handle per queue: the fast path.
//! - [`Port::steer_to_queue`] installs `rte_flow` rules sending a destination address and port
//!   bits to one rx queue; the [`FlowRules`] it returns removes them on drop (`flow.rs`).
//!
//! # Invariants (what may be called from where)
//!
//! - EAL: `Eal::init` once, first, on the thread that will be the main lcore. Objects of this
//!   module keep the EAL alive; `rte_eal_cleanup` runs when the `Eal` and all of them are gone,
//!   on the main lcore, and is skipped (left to process exit) if a pool had to be leaked.
//! - Mempools and mbufs: any thread. A pool is freed only when its last handle is dropped and
//!   all its mbufs are back; otherwise it is leaked, so an `Mbuf` never dangles. Mempool caches
//!   are per lcore: allocate and free on EAL threads for speed (other threads work, uncached).
//! - Ports: control calls from any thread, serialised per port by a lock; never on the fast
//!   path. `configure`/`stop`/`close` are refused while queue handles exist.
//! - Flow rules: owned by their `FlowRules` (any thread); `configure` is refused while any are
//!   installed, `close` flushes them, `stop` keeps them (see `flow.rs` for devices that drop
//!   rules on a stop).
//! - Queues: one lcore per queue (DPDK's rule), enforced by ownership: a handle is unique,
//!   `Send`, and bursts take `&mut self`. Bursts do not lock, allocate (given capacity) or panic.
//! - Multi-segment mbufs: byte accessors cover the first segment only; callers drop packets with
//!   `nb_segs() > 1` (none arrive for standard MTUs with [`Mempool::DEFAULT_DATA_ROOM`]).
//! - Panics: a panic in a launched closure aborts the process (it runs under an `extern "C"`
//!   entry, which cannot unwind; release builds use `panic = "abort"` anyway).
//!
//! Poll-mode drivers are plugins that the EAL loads from the distribution's plugin directory
//! (Debian: `/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0`); vdevs such as `net_pcap0`, `net_ring0`,
//! `net_null0` and `net_af_packet0` need nothing but their `--vdev` argument.

mod eal;
mod error;
mod flow;
mod mbuf;
mod mempool;
mod port;
mod queue;

pub use eal::{Eal, LcoreId, current_lcore, lcore_socket, tsc_cycles};
pub use error::{DpdkError, errno, strerror};
pub use flow::FlowRules;
pub use mbuf::Mbuf;
pub use mempool::Mempool;
pub use port::{LinkStatus, Port, PortConf, PortId, PortInfo, PortQueues, PortStats};
pub use queue::{RX_BURST_MAX, RxQueue, TxQueue};

/// Raw constants and types, for flags this wrapper passes through (`RTE_MBUF_F_TX_*`,
/// `RTE_ETH_TX_OFFLOAD_*`, ...).
pub use dpdk_sys as sys;
