//! Ethernet ports (`rte_ethdev`): lookup, information, configuration, start/stop, link, stats.
//!
//! A [`Port`] is the control handle: cloneable, `Send + Sync`, with every control call
//! serialised by a per-port lock (DPDK's ethdev control functions are not thread-safe). The fast
//! path lives in the queue handles that [`Port::start`] hands out, one per queue
//! ([`RxQueue`]/[`TxQueue`], see `queue.rs`); while any of them is alive the port refuses
//! `stop`, `close` and `configure`, so a queue can never be polled while DPDK tears it down.
//! There is one shared state per port id in the process, however many times it is looked up.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use super::eal::EalRef;
use super::error::{DpdkError, check};
use super::flow::flush_rules;
use super::mempool::Mempool;
use super::queue::{RxQueue, TxQueue};

/// The shared state of every open port, by id; one entry per port, so two lookups of the same
/// port agree on whether it is started and on its live queue handles.
static PORTS: Mutex<BTreeMap<u16, Weak<PortShared>>> = Mutex::new(BTreeMap::new());

/// Descriptor count used when `PortConf` asks for 0 (DPDK then adjusts it to the device).
const DEFAULT_DESC: u16 = 1024;

/// An ethdev port id, as DPDK numbers them (in probe order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortId(pub u16);

impl std::fmt::Display for PortId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "port {}", self.0)
    }
}

/// How to set a port up: queue counts, ring sizes, MTU, RSS and offloads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortConf {
    /// Rx queues (one per worker); at least 1.
    pub rx_queues: u16,
    /// Tx queues (one per worker); at least 1.
    pub tx_queues: u16,
    /// Rx descriptors per queue (0: 1024); adjusted to the device's limits.
    pub rx_desc: u16,
    /// Tx descriptors per queue (0: 1024); adjusted to the device's limits.
    pub tx_desc: u16,
    /// MTU to set, or `None` for the device default (1500).
    pub mtu: Option<u16>,
    /// Spread flows over the rx queues with RSS (IP/TCP/UDP hash functions the device offers);
    /// only takes effect with more than one rx queue on a device that offers RSS.
    pub rss: bool,
    /// RSS key (e.g. a symmetric one), `hash_key_size` bytes; `None` keeps the device default.
    pub rss_key: Option<Vec<u8>>,
    /// Port-level rx offloads (`RTE_ETH_RX_OFFLOAD_*`); must be offered by the device.
    pub rx_offloads: u64,
    /// Port-level tx offloads (`RTE_ETH_TX_OFFLOAD_*`); must be offered by the device.
    pub tx_offloads: u64,
}

/// What a device can do (`rte_eth_dev_info`), in Rust types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortInfo {
    /// The PMD's name (`net_pcap`, `net_ring`, `net_ixgbe`...).
    pub driver_name: String,
    /// Maximum rx queues.
    pub max_rx_queues: u16,
    /// Maximum tx queues.
    pub max_tx_queues: u16,
    /// Rx offloads offered (`RTE_ETH_RX_OFFLOAD_*` bits).
    pub rx_offload_capa: u64,
    /// Tx offloads offered (`RTE_ETH_TX_OFFLOAD_*` bits).
    pub tx_offload_capa: u64,
    /// RSS hash functions offered (`RTE_ETH_RSS_*` bits); 0 means no RSS.
    pub flow_type_rss_offloads: u64,
    /// Entries in the RSS redirection table.
    pub reta_size: u16,
    /// RSS key length in bytes (0 if the device reports none).
    pub hash_key_size: u8,
    /// Largest frame the device receives.
    pub max_rx_pktlen: u32,
    /// Smallest MTU accepted.
    pub min_mtu: u16,
    /// Largest MTU accepted.
    pub max_mtu: u16,
}

/// Link state (`rte_eth_link`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStatus {
    /// Whether the link is up.
    pub up: bool,
    /// Speed in Mbit/s (0 if unknown or down; virtual devices report a nominal value).
    pub speed_mbps: u32,
    /// Whether the link is full duplex.
    pub full_duplex: bool,
}

/// Basic port counters (`rte_eth_stats`), cumulative since start or the last reset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets sent.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes sent.
    pub obytes: u64,
    /// Packets dropped by the device because the rx queues were full.
    pub imissed: u64,
    /// Erroneous packets received.
    pub ierrors: u64,
    /// Packets that failed to be sent.
    pub oerrors: u64,
    /// Rx buffer allocation failures (mempool empty).
    pub rx_nombuf: u64,
}

/// The queue handles of a started port: `rx[i]` and `tx[i]` are queue `i`.
#[derive(Debug)]
pub struct PortQueues {
    /// One handle per rx queue.
    pub rx: Vec<RxQueue>,
    /// One handle per tx queue.
    pub tx: Vec<TxQueue>,
}

/// What the control path knows about a port, guarded by `PortShared::state`.
#[derive(Debug, Default)]
pub(super) struct PortState {
    /// Queue counts of the last successful configure.
    pub(super) configured: Option<(u16, u16)>,
    started: bool,
    closed: bool,
    /// Pools the rx queues may refill from; kept alive until close.
    pools: Vec<Mempool>,
    /// Live `FlowRules` that still own rules on the device.
    pub(super) flow_sets: usize,
    /// How many times the port's rules were flushed (at close); a `FlowRules` made before the
    /// last flush owns nothing any more.
    pub(super) flow_epoch: u64,
}

/// One port's shared state; queue handles hold it too.
#[derive(Debug)]
pub(crate) struct PortShared {
    id: PortId,
    state: Mutex<PortState>,
    /// `RxQueue` + `TxQueue` handles alive.
    live_queues: AtomicUsize,
    _eal: EalRef,
}

impl PortShared {
    pub(crate) fn id(&self) -> PortId {
        self.id
    }

    /// Called by a queue handle's drop.
    pub(crate) fn release_queue(&self) {
        self.live_queues.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A control handle to an ethdev port; clones share the same port state.
#[derive(Debug, Clone)]
pub struct Port {
    shared: Arc<PortShared>,
}

impl Port {
    /// The port DPDK registered under `name` (`net_pcap0`, `net_ring0`, `0000:03:00.0`...).
    pub fn by_name(name: &str) -> Result<Port, DpdkError> {
        let eal = EalRef::current()?;
        let c_name = CString::new(name)
            .map_err(|_| DpdkError::InvalidArgument(format!("port name {name:?} contains a NUL byte")))?;
        let mut id = 0u16;
        // SAFETY: the EAL is running; c_name is a valid C string and id a valid out-pointer for
        // the duration of the call.
        let ret = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(c_name.as_ptr(), &mut id) };
        if ret != 0 {
            return Err(DpdkError::PortNotFound(name.to_owned()));
        }
        Ok(Self::shared_for(PortId(id), eal))
    }

    /// The port with id `id`, if such a device exists.
    pub fn by_id(id: PortId) -> Result<Port, DpdkError> {
        let eal = EalRef::current()?;
        // SAFETY: the EAL is running; the check reads the port table for any id.
        if unsafe { dpdk_sys::rte_eth_dev_is_valid_port(id.0) } == 0 {
            return Err(DpdkError::PortNotFound(id.to_string()));
        }
        Ok(Self::shared_for(id, eal))
    }

    /// Number of usable ports (0 if the EAL is not running).
    pub fn count() -> u16 {
        if EalRef::current().is_err() {
            return 0;
        }
        // SAFETY: the EAL is running; this reads the port table.
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }

    fn shared_for(id: PortId, eal: EalRef) -> Port {
        let mut ports = PORTS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = ports.get(&id.0).and_then(Weak::upgrade) {
            return Port { shared };
        }
        let shared = Arc::new(PortShared {
            id,
            state: Mutex::new(PortState::default()),
            live_queues: AtomicUsize::new(0),
            _eal: eal,
        });
        ports.insert(id.0, Arc::downgrade(&shared));
        Port { shared }
    }

    /// This port's id.
    pub fn id(&self) -> PortId {
        self.shared.id
    }

    pub(super) fn raw_id(&self) -> u16 {
        self.shared.id.0
    }

    /// Locks the control state, refusing a closed port.
    pub(super) fn lock(&self) -> Result<MutexGuard<'_, PortState>, DpdkError> {
        let state = self.shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.closed {
            return Err(DpdkError::PortClosed(self.raw_id()));
        }
        Ok(state)
    }

    /// Refuses while queue handles are alive.
    fn check_no_queues(&self) -> Result<(), DpdkError> {
        match self.shared.live_queues.load(Ordering::Acquire) {
            0 => Ok(()),
            count => Err(DpdkError::QueuesInUse { port: self.raw_id(), count }),
        }
    }

    /// The device's name as DPDK knows it.
    pub fn name(&self) -> Result<String, DpdkError> {
        let _state = self.lock()?;
        let mut buf = [0 as std::os::raw::c_char; dpdk_sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: buf has the RTE_ETH_NAME_MAX_LEN bytes the function requires; the port lock is
        // held.
        check("rte_eth_dev_get_name_by_port", unsafe {
            dpdk_sys::rte_eth_dev_get_name_by_port(self.raw_id(), buf.as_mut_ptr())
        })?;
        // SAFETY: on success DPDK wrote a NUL-terminated name into buf.
        Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
    }

    /// What the device can do.
    pub fn info(&self) -> Result<PortInfo, DpdkError> {
        let _state = self.lock()?;
        self.info_locked()
    }

    fn info_locked(&self) -> Result<PortInfo, DpdkError> {
        let mut raw = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: raw is a valid out-struct; the port lock is held.
        check("rte_eth_dev_info_get", unsafe { dpdk_sys::rte_eth_dev_info_get(self.raw_id(), &mut raw) })?;
        let driver_name = if raw.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: a non-NULL driver_name points to the PMD's static NUL-terminated name.
            unsafe { CStr::from_ptr(raw.driver_name) }.to_string_lossy().into_owned()
        };
        Ok(PortInfo {
            driver_name,
            max_rx_queues: raw.max_rx_queues,
            max_tx_queues: raw.max_tx_queues,
            rx_offload_capa: raw.rx_offload_capa,
            tx_offload_capa: raw.tx_offload_capa,
            flow_type_rss_offloads: raw.flow_type_rss_offloads,
            reta_size: raw.reta_size,
            hash_key_size: raw.hash_key_size,
            max_rx_pktlen: raw.max_rx_pktlen,
            min_mtu: raw.min_mtu,
            max_mtu: raw.max_mtu,
        })
    }

    /// Configures the port and sets up its queues, each rx queue refilling from `pool`.
    ///
    /// Refused while the port is started or flow rules are installed ([`Port::steer_to_queue`]).
    /// RSS is enabled when `conf.rss`, more than one rx queue and a device offering IP/TCP/UDP
    /// hashing; descriptor counts are adjusted to the device.
    pub fn configure(&self, conf: &PortConf, pool: &Mempool) -> Result<(), DpdkError> {
        let port = self.raw_id();
        let mut state = self.lock()?;
        if state.started {
            return Err(DpdkError::PortState { port, op: "configure", state: "started" });
        }
        if state.flow_sets > 0 {
            return Err(DpdkError::PortState { port, op: "configure", state: "flow rules are installed" });
        }
        self.check_no_queues()?;
        let info = self.info_locked()?;
        if conf.rx_queues == 0
            || conf.tx_queues == 0
            || conf.rx_queues > info.max_rx_queues
            || conf.tx_queues > info.max_tx_queues
        {
            return Err(DpdkError::QueueCount {
                port,
                rx: conf.rx_queues,
                tx: conf.tx_queues,
                max_rx: info.max_rx_queues,
                max_tx: info.max_tx_queues,
            });
        }
        let rx_missing = conf.rx_offloads & !info.rx_offload_capa;
        let tx_missing = conf.tx_offloads & !info.tx_offload_capa;
        if rx_missing != 0 || tx_missing != 0 {
            return Err(DpdkError::OffloadUnsupported { port, rx_missing, tx_missing });
        }

        let mut eth_conf = dpdk_sys::rte_eth_conf::default();
        eth_conf.rxmode.offloads = conf.rx_offloads;
        eth_conf.txmode.offloads = conf.tx_offloads;
        if let Some(mtu) = conf.mtu {
            eth_conf.rxmode.mtu = u32::from(mtu);
        }
        let mut key = conf.rss_key.clone();
        let wanted_hash = u64::from(dpdk_sys::RTE_ETH_RSS_IP)
            | u64::from(dpdk_sys::RTE_ETH_RSS_TCP)
            | u64::from(dpdk_sys::RTE_ETH_RSS_UDP);
        let rss_hf = wanted_hash & info.flow_type_rss_offloads;
        if conf.rss && conf.rx_queues > 1 && rss_hf != 0 {
            eth_conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            let rss = &mut eth_conf.rx_adv_conf.rss_conf;
            rss.rss_hf = rss_hf;
            if let Some(key) = key.as_mut() {
                rss.rss_key_len = u8::try_from(key.len())
                    .map_err(|_| DpdkError::InvalidArgument(format!("RSS key of {} bytes is too long", key.len())))?;
                rss.rss_key = key.as_mut_ptr();
            }
        }
        // SAFETY: eth_conf is fully initialised (zeroed plus our fields) and, with the RSS key
        // it may point to, outlives the call; DPDK copies what it keeps. The port is stopped
        // and no queue handle exists (checked above under the port lock).
        check("rte_eth_dev_configure", unsafe {
            dpdk_sys::rte_eth_dev_configure(port, conf.rx_queues, conf.tx_queues, &eth_conf)
        })?;
        state.configured = None;
        if !state.pools.iter().any(|p| p.as_ptr() == pool.as_ptr()) {
            state.pools.push(pool.clone());
        }

        let mut rx_desc = if conf.rx_desc == 0 { DEFAULT_DESC } else { conf.rx_desc };
        let mut tx_desc = if conf.tx_desc == 0 { DEFAULT_DESC } else { conf.tx_desc };
        // SAFETY: the counts are valid in/out pointers for the call; the port is configured.
        check("rte_eth_dev_adjust_nb_rx_tx_desc", unsafe {
            dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(port, &mut rx_desc, &mut tx_desc)
        })?;
        // SAFETY: reads the port's NUMA socket; -1 (any) if unknown.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(port) };
        // SOCKET_ID_ANY (-1) is passed as its unsigned bit pattern, as DPDK expects.
        let socket = u32::try_from(socket).unwrap_or(u32::MAX);
        for queue in 0..conf.rx_queues {
            // SAFETY: queue < rx_queues as configured; NULL rx_conf selects the device default;
            // the pool stays alive in `state.pools` for as long as the queue may use it.
            check("rte_eth_rx_queue_setup", unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(port, queue, rx_desc, socket, std::ptr::null(), pool.as_ptr())
            })?;
        }
        for queue in 0..conf.tx_queues {
            // SAFETY: queue < tx_queues as configured; NULL tx_conf selects the device default.
            check("rte_eth_tx_queue_setup", unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(port, queue, tx_desc, socket, std::ptr::null())
            })?;
        }
        state.configured = Some((conf.rx_queues, conf.tx_queues));
        Ok(())
    }

    /// Starts the port and hands out one handle per queue (move each to the lcore that polls
    /// it). `stop`, `close` and `configure` are refused until every handle is dropped.
    pub fn start(&self) -> Result<PortQueues, DpdkError> {
        let port = self.raw_id();
        let mut state = self.lock()?;
        let Some((rx, tx)) = state.configured else {
            return Err(DpdkError::PortState { port, op: "start", state: "not configured" });
        };
        if state.started {
            return Err(DpdkError::PortState { port, op: "start", state: "already started" });
        }
        // SAFETY: the port is configured with all queues set up; the port lock is held.
        check("rte_eth_dev_start", unsafe { dpdk_sys::rte_eth_dev_start(port) })?;
        state.started = true;
        self.shared.live_queues.fetch_add(usize::from(rx) + usize::from(tx), Ordering::AcqRel);
        Ok(PortQueues {
            rx: (0..rx).map(|q| RxQueue::new(Arc::clone(&self.shared), q)).collect(),
            tx: (0..tx).map(|q| TxQueue::new(Arc::clone(&self.shared), q)).collect(),
        })
    }

    /// Stops the port (a no-op if it is not started); refused while queue handles are alive.
    pub fn stop(&self) -> Result<(), DpdkError> {
        let mut state = self.lock()?;
        self.stop_locked(&mut state)
    }

    fn stop_locked(&self, state: &mut PortState) -> Result<(), DpdkError> {
        if !state.started {
            return Ok(());
        }
        self.check_no_queues()?;
        // SAFETY: the port is started and no queue handle exists, so no lcore is polling it.
        check("rte_eth_dev_stop", unsafe { dpdk_sys::rte_eth_dev_stop(self.raw_id()) })?;
        state.started = false;
        Ok(())
    }

    /// Stops and closes the port, releasing its queues and pools; afterwards every call on
    /// this port returns [`DpdkError::PortClosed`]. Flow rules still installed are flushed
    /// first; the [`FlowRules`] that held them own nothing afterwards.
    ///
    /// [`FlowRules`]: super::FlowRules
    pub fn close(&self) -> Result<(), DpdkError> {
        let mut state = self.lock()?;
        self.check_no_queues()?;
        let PortState { flow_sets, flow_epoch, .. } = &mut *state;
        // DPDK counts the rules as gone even if the flush fails, and closing the device releases
        // whatever the PMD still holds, so a failed flush does not stop the close.
        let _ = flush_rules(self.raw_id(), flow_sets, flow_epoch);
        self.stop_locked(&mut state)?;
        // SAFETY: the port is stopped and no queue handle exists; DPDK releases the queues (and
        // their mbufs) before returning.
        check("rte_eth_dev_close", unsafe { dpdk_sys::rte_eth_dev_close(self.raw_id()) })?;
        state.closed = true;
        state.configured = None;
        state.pools.clear();
        PORTS.lock().unwrap_or_else(PoisonError::into_inner).remove(&self.raw_id());
        Ok(())
    }

    /// The port's primary MAC address.
    pub fn mac_addr(&self) -> Result<[u8; 6], DpdkError> {
        let _state = self.lock()?;
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: addr is a valid out-struct; the port lock is held.
        check("rte_eth_macaddr_get", unsafe { dpdk_sys::rte_eth_macaddr_get(self.raw_id(), &mut addr) })?;
        Ok(addr.addr_bytes)
    }

    /// Replaces the port's primary MAC address.
    pub fn set_mac_addr(&self, mac: [u8; 6]) -> Result<(), DpdkError> {
        let _state = self.lock()?;
        let mut addr = dpdk_sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: addr is valid for the call (DPDK copies it); the port lock is held.
        check("rte_eth_dev_default_mac_addr_set", unsafe {
            dpdk_sys::rte_eth_dev_default_mac_addr_set(self.raw_id(), &mut addr)
        })?;
        Ok(())
    }

    /// Turns promiscuous mode on or off.
    pub fn promiscuous(&self, on: bool) -> Result<(), DpdkError> {
        let _state = self.lock()?;
        // SAFETY: plain control calls on a valid port id; the port lock is held.
        let ret = unsafe {
            if on {
                dpdk_sys::rte_eth_promiscuous_enable(self.raw_id())
            } else {
                dpdk_sys::rte_eth_promiscuous_disable(self.raw_id())
            }
        };
        check("rte_eth_promiscuous_enable/disable", ret)?;
        Ok(())
    }

    /// Whether promiscuous mode is on.
    pub fn is_promiscuous(&self) -> Result<bool, DpdkError> {
        let _state = self.lock()?;
        // SAFETY: reads the port's flag; the port lock is held.
        let ret = unsafe { dpdk_sys::rte_eth_promiscuous_get(self.raw_id()) };
        Ok(check("rte_eth_promiscuous_get", ret)? == 1)
    }

    /// The link state, without waiting for auto-negotiation.
    pub fn link(&self) -> Result<LinkStatus, DpdkError> {
        let _state = self.lock()?;
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: link is a valid out-struct; the port lock is held.
        check("rte_eth_link_get_nowait", unsafe { dpdk_sys::rte_eth_link_get_nowait(self.raw_id(), &mut link) })?;
        let up = link.link_status() != 0;
        Ok(LinkStatus { up, speed_mbps: if up { link.link_speed } else { 0 }, full_duplex: link.link_duplex() != 0 })
    }

    /// The port counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let _state = self.lock()?;
        let mut raw = dpdk_sys::rte_eth_stats::default();
        // SAFETY: raw is a valid out-struct; the port lock is held. Reading stats while
        // lcores poll the queues is allowed by DPDK.
        check("rte_eth_stats_get", unsafe { dpdk_sys::rte_eth_stats_get(self.raw_id(), &mut raw) })?;
        Ok(PortStats {
            ipackets: raw.ipackets,
            opackets: raw.opackets,
            ibytes: raw.ibytes,
            obytes: raw.obytes,
            imissed: raw.imissed,
            ierrors: raw.ierrors,
            oerrors: raw.oerrors,
            rx_nombuf: raw.rx_nombuf,
        })
    }

    /// Resets the port counters to zero.
    pub fn reset_stats(&self) -> Result<(), DpdkError> {
        let _state = self.lock()?;
        // SAFETY: a plain control call; the port lock is held.
        check("rte_eth_stats_reset", unsafe { dpdk_sys::rte_eth_stats_reset(self.raw_id()) })?;
        Ok(())
    }

    /// The RSS key in use (for computing Toeplitz hashes in software): `hash_key_size` bytes,
    /// or 40 if the device reports no size; empty if the device has no RSS.
    /// [`DpdkError::Unsupported`] if it hashes but cannot tell its key (`net_tap`).
    pub fn rss_key(&self) -> Result<Vec<u8>, DpdkError> {
        let _state = self.lock()?;
        let info = self.info_locked()?;
        if info.flow_type_rss_offloads == 0 {
            return Ok(Vec::new());
        }
        // A PMD that reports no key size uses the standard 40-byte Toeplitz key.
        let len = if info.hash_key_size == 0 { 40 } else { info.hash_key_size };
        let mut key = vec![0u8; usize::from(len)];
        let mut conf = dpdk_sys::rte_eth_rss_conf { rss_key: key.as_mut_ptr(), rss_key_len: len, rss_hf: 0 };
        // SAFETY: conf points to a key buffer of rss_key_len bytes that outlives the call; the
        // port lock is held.
        let ret = unsafe { dpdk_sys::rte_eth_dev_rss_hash_conf_get(self.raw_id(), &mut conf) };
        if ret == -libc::ENOTSUP {
            return Err(DpdkError::Unsupported { port: self.raw_id(), what: "readable RSS key" });
        }
        check("rte_eth_dev_rss_hash_conf_get", ret)?;
        key.truncate(usize::from(conf.rss_key_len.min(len)));
        Ok(key)
    }

    /// The RSS redirection table in use, `reta_size` entries: entry `i` is the rx queue that a
    /// packet whose RSS hash has `hash % reta_size == i` reaches (with [`Port::rss_key`], what
    /// `lb::rss::Steering` needs to predict a flow's queue).
    ///
    /// What a device holds before any update is the PMD's choice: most NIC drivers fill the
    /// queues round-robin when RSS is configured, `net_null` keeps all zeros. A device without
    /// a table (`reta_size` 0, or no query operation) gives [`DpdkError::Unsupported`].
    pub fn rss_reta(&self) -> Result<Vec<u16>, DpdkError> {
        const WHAT: &str = "RSS redirection table";
        let port = self.raw_id();
        let _state = self.lock()?;
        let info = self.info_locked()?;
        let size = usize::from(info.reta_size);
        if size == 0 {
            return Err(DpdkError::Unsupported { port, what: WHAT });
        }
        let group = dpdk_sys::RTE_ETH_RETA_GROUP_SIZE as usize;
        let mut groups: Vec<dpdk_sys::rte_eth_rss_reta_entry64> = (0..size.div_ceil(group))
            .map(|g| {
                // Ask for every entry the table has; the last group may be partial.
                let in_group = (size - g * group).min(group);
                let mask = if in_group == group { u64::MAX } else { (1u64 << in_group) - 1 };
                dpdk_sys::rte_eth_rss_reta_entry64 { mask, reta: [0; dpdk_sys::RTE_ETH_RETA_GROUP_SIZE as usize] }
            })
            .collect();
        // SAFETY: groups holds ceil(reta_size / 64) entries, as many as DPDK reads and writes for
        // a table of reta_size entries; the port lock is held.
        let ret = unsafe { dpdk_sys::rte_eth_dev_rss_reta_query(port, groups.as_mut_ptr(), info.reta_size) };
        if ret == -libc::ENOTSUP {
            return Err(DpdkError::Unsupported { port, what: WHAT });
        }
        check("rte_eth_dev_rss_reta_query", ret)?;
        Ok(groups.iter().flat_map(|g| g.reta).take(size).collect())
    }

    /// Writes the RSS redirection table: `reta` must have the device's `reta_size` entries, each
    /// naming a configured rx queue.
    pub fn set_rss_reta(&self, reta: &[u16]) -> Result<(), DpdkError> {
        const WHAT: &str = "RSS redirection table";
        let port = self.raw_id();
        let state = self.lock()?;
        let info = self.info_locked()?;
        if info.reta_size == 0 {
            return Err(DpdkError::Unsupported { port, what: WHAT });
        }
        let rx_queues = state.configured.map_or(0, |(rx, _)| rx);
        if reta.len() != usize::from(info.reta_size) || reta.iter().any(|&q| q >= rx_queues) {
            return Err(DpdkError::InvalidArgument(format!(
                "a redirection table of {} entries over {rx_queues} rx queue(s): port {port} needs {} entries, each \
                 a configured queue",
                reta.len(),
                info.reta_size
            )));
        }
        let group = dpdk_sys::RTE_ETH_RETA_GROUP_SIZE as usize;
        let mut groups: Vec<dpdk_sys::rte_eth_rss_reta_entry64> = reta
            .chunks(group)
            .map(|chunk| {
                let mut g = dpdk_sys::rte_eth_rss_reta_entry64 {
                    mask: if chunk.len() == group { u64::MAX } else { (1u64 << chunk.len()) - 1 },
                    reta: [0; dpdk_sys::RTE_ETH_RETA_GROUP_SIZE as usize],
                };
                g.reta[..chunk.len()].copy_from_slice(chunk);
                g
            })
            .collect();
        // SAFETY: groups holds ceil(reta_size / 64) entries, as many as DPDK reads for a table of
        // reta_size entries; the port lock is held.
        let ret = unsafe { dpdk_sys::rte_eth_dev_rss_reta_update(port, groups.as_mut_ptr(), info.reta_size) };
        if ret == -libc::ENOTSUP {
            return Err(DpdkError::Unsupported { port, what: WHAT });
        }
        check("rte_eth_dev_rss_reta_update", ret)?;
        Ok(())
    }
}
