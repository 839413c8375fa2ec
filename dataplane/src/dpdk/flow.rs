//! Flow steering with `rte_flow`: rules that send chosen packets to a chosen rx queue.
//!
//! fnat needs one kind of rule (issue 9): IPv4 packets to one address whose TCP or UDP
//! destination port has given low bits go to one rx queue. With local ports split among workers
//! by their low bits, FULLNAT replies then reach the worker that owns their local port without
//! depending on the RSS hash. [`Port::steer_to_queue`] installs such a rule for TCP and for UDP
//! and returns [`FlowRules`], which owns both.
//!
//! # Lifetime of the rules
//!
//! - Each rule is checked with `rte_flow_validate` before `rte_flow_create`. A set is installed
//!   whole or not at all: when the second rule fails, the first is destroyed again.
//! - Dropping a [`FlowRules`] destroys its rules (best effort, newest first);
//!   [`FlowRules::destroy`] does the same and reports a failure.
//! - [`Port::close`] first removes every rule still installed (`rte_flow_flush`), so closing
//!   works whatever `FlowRules` are alive; those then own nothing, and dropping them later does
//!   nothing. [`Port::configure`] is refused while rules are installed.
//! - [`Port::stop`] leaves the rules alone. Only a device that reports
//!   `RTE_ETH_DEV_CAPA_FLOW_RULE_KEEP` promises to keep them across a stop and a start; on
//!   others, drop the `FlowRules` before stopping the port and install them again after starting.
//! - Every call holds the port's control lock, like the other control operations; a
//!   `FlowRules` may be dropped on any thread.
//!
//! # What devices accept (DPDK 22.11)
//!
//! Steering is the PMD's work. `net_ring`, `net_null`, `net_pcap` and `net_memif` have no flow
//! support and answer ENOSYS ("Function not implemented"). `net_tap` turns rules into Linux tc
//! flower filters with an skbedit queue mapping, so it needs a kernel with cls_flower,
//! sch_multiq and act_skbedit; it matches ports exactly or not at all: a partial port mask
//! passes validation but creation fails with "item not supported". Hardware PMDs differ in the
//! masks they take; the error names the part of the rule they refused.

use std::ffi::CStr;
use std::net::Ipv4Addr;
use std::os::raw::c_void;
use std::ptr::{self, NonNull};

use dpdk_sys::{rte_flow, rte_flow_action, rte_flow_attr, rte_flow_error, rte_flow_item};

use super::error::{DpdkError, errno, strerror};
use super::port::Port;

/// The transport protocols a steering rule is installed for.
#[derive(Debug, Clone, Copy)]
enum L4 {
    Tcp,
    Udp,
}

impl Port {
    /// Sends IPv4 packets to `dst` whose TCP or UDP destination port `p` has
    /// `p & mask == bits` to rx queue `queue`: two rules, one per protocol, owned by the returned
    /// [`FlowRules`] (see the module docs for their lifetime and for what devices accept).
    ///
    /// With ports split among `n` workers (a power of two) by `port % n`, worker `w`'s rule is
    /// `steer_to_queue(lip, w, n - 1, w)`. `mask` 0xffff matches one port, 0 every port.
    /// The port must be configured with more than `queue` rx queues; `bits` must lie within
    /// `mask`. A refusal by the device is a [`DpdkError::Flow`] with the PMD's message.
    pub fn steer_to_queue(&self, dst: Ipv4Addr, bits: u16, mask: u16, queue: u16) -> Result<FlowRules, DpdkError> {
        let port = self.raw_id();
        if bits & !mask != 0 {
            return Err(DpdkError::InvalidArgument(format!("port bits {bits:#06x} lie outside the mask {mask:#06x}")));
        }
        let mut state = self.lock()?;
        let Some((rx_queues, _)) = state.configured else {
            return Err(DpdkError::PortState { port, op: "install flow rules", state: "not configured" });
        };
        if queue >= rx_queues {
            return Err(DpdkError::InvalidArgument(format!(
                "rx queue {queue} does not exist: port {port} has {rx_queues} rx queue(s)"
            )));
        }
        let mut flows = Vec::with_capacity(2);
        for l4 in [L4::Tcp, L4::Udp] {
            match create_steering_rule(port, dst, bits, mask, queue, l4) {
                Ok(flow) => flows.push(flow),
                Err(err) => {
                    for flow in flows.into_iter().rev() {
                        // The rule being refused is what the caller needs to hear about; a
                        // failure to take back the first one cannot be reported beside it.
                        let _ = destroy_rule(port, flow);
                    }
                    return Err(err);
                }
            }
        }
        state.flow_sets += 1;
        Ok(FlowRules { port: self.clone(), flows, epoch: state.flow_epoch })
    }
}

/// Flow rules installed on a port; they are removed when this is dropped.
///
/// Holds its port's state alive. After [`Port::close`] (which flushes all rules) it owns nothing.
#[derive(Debug)]
pub struct FlowRules {
    port: Port,
    /// The rules in creation order.
    flows: Vec<NonNull<rte_flow>>,
    /// The port's flush count when the rules were made; if it moved on, DPDK already freed them.
    epoch: u64,
}

// SAFETY: the rte_flow handles are opaque tokens that this type only hands back to
// rte_flow_destroy, under the port's control lock, from whatever thread drops it; DPDK's flow
// calls are not tied to the thread that created the rule.
unsafe impl Send for FlowRules {}
// SAFETY: no method reachable through `&FlowRules` touches the handles.
unsafe impl Sync for FlowRules {}

impl FlowRules {
    /// The port the rules are installed on.
    pub fn port(&self) -> &Port {
        &self.port
    }

    /// How many rules this set holds (two for a [`Port::steer_to_queue`]).
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether the set holds no rules.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// Removes the rules now, reporting the first failure (the other rules are still removed).
    pub fn destroy(mut self) -> Result<(), DpdkError> {
        self.remove()
    }

    /// Destroys the rules newest first, unless the port was closed (DPDK freed them then).
    fn remove(&mut self) -> Result<(), DpdkError> {
        let flows = std::mem::take(&mut self.flows);
        if flows.is_empty() {
            return Ok(());
        }
        let Ok(mut state) = self.port.lock() else {
            return Ok(());
        };
        if state.flow_epoch != self.epoch {
            return Ok(());
        }
        state.flow_sets -= 1;
        let port = self.port.raw_id();
        let mut result = Ok(());
        for flow in flows.into_iter().rev() {
            if let Err(err) = destroy_rule(port, flow) {
                result = result.and(Err(err));
            }
        }
        result
    }
}

impl Drop for FlowRules {
    fn drop(&mut self) {
        // Nothing to report to from a drop; `destroy` is there for callers who want the error.
        let _ = self.remove();
    }
}

/// Removes every rule on the port and invalidates the live [`FlowRules`] (called by close with
/// the port lock held). DPDK counts the handles as gone even when the flush fails.
pub(super) fn flush_rules(port: u16, flow_sets: &mut usize, flow_epoch: &mut u64) -> Result<(), DpdkError> {
    if *flow_sets == 0 {
        return Ok(());
    }
    *flow_sets = 0;
    *flow_epoch += 1;
    let mut error = rte_flow_error::default();
    // SAFETY: a control call on a valid port with a valid out-struct; the port lock is held.
    let ret = unsafe { dpdk_sys::rte_flow_flush(port, &mut error) };
    if ret < 0 {
        return Err(flow_error(port, "rte_flow_flush", ret, &error));
    }
    Ok(())
}

/// Validates, then creates, one rule: ETH / IPV4 dst / TCP-or-UDP dst port under a mask / END
/// -> QUEUE / END, on ingress. The caller holds the port lock.
fn create_steering_rule(
    port: u16,
    dst: Ipv4Addr,
    bits: u16,
    mask: u16,
    queue: u16,
    l4: L4,
) -> Result<NonNull<rte_flow>, DpdkError> {
    let mut attr = rte_flow_attr::default();
    attr.set_ingress(1);

    // Header fields of rte_flow items are in network byte order (rte_be32_t, rte_be16_t).
    let mut ip_spec = dpdk_sys::rte_flow_item_ipv4::default();
    ip_spec.hdr.dst_addr = u32::from(dst).to_be();
    let mut ip_mask = dpdk_sys::rte_flow_item_ipv4::default();
    ip_mask.hdr.dst_addr = u32::MAX.to_be();

    let mut tcp_spec = dpdk_sys::rte_flow_item_tcp::default();
    tcp_spec.hdr.dst_port = bits.to_be();
    let mut tcp_mask = dpdk_sys::rte_flow_item_tcp::default();
    tcp_mask.hdr.dst_port = mask.to_be();
    let mut udp_spec = dpdk_sys::rte_flow_item_udp::default();
    udp_spec.hdr.dst_port = bits.to_be();
    let mut udp_mask = dpdk_sys::rte_flow_item_udp::default();
    udp_mask.hdr.dst_port = mask.to_be();
    let l4_item = match l4 {
        L4::Tcp => item(dpdk_sys::RTE_FLOW_ITEM_TYPE_TCP, &tcp_spec, &tcp_mask),
        L4::Udp => item(dpdk_sys::RTE_FLOW_ITEM_TYPE_UDP, &udp_spec, &udp_mask),
    };
    let pattern = [
        // Any Ethernet header: no spec, no mask.
        rte_flow_item { type_: dpdk_sys::RTE_FLOW_ITEM_TYPE_ETH, ..rte_flow_item::default() },
        item(dpdk_sys::RTE_FLOW_ITEM_TYPE_IPV4, &ip_spec, &ip_mask),
        l4_item,
        rte_flow_item { type_: dpdk_sys::RTE_FLOW_ITEM_TYPE_END, ..rte_flow_item::default() },
    ];
    let to_queue = dpdk_sys::rte_flow_action_queue { index: queue };
    let actions = [
        rte_flow_action {
            type_: dpdk_sys::RTE_FLOW_ACTION_TYPE_QUEUE,
            conf: ptr::from_ref(&to_queue).cast::<c_void>(),
        },
        rte_flow_action { type_: dpdk_sys::RTE_FLOW_ACTION_TYPE_END, conf: ptr::null() },
    ];

    let mut error = rte_flow_error::default();
    // SAFETY: attr, the END-terminated pattern and action arrays, and the specs, masks and queue
    // configuration they point to live on this stack frame for the whole call; DPDK only reads
    // them. error is a valid out-struct. The caller holds the port lock.
    let ret = unsafe { dpdk_sys::rte_flow_validate(port, &attr, pattern.as_ptr(), actions.as_ptr(), &mut error) };
    if ret < 0 {
        return Err(flow_error(port, "rte_flow_validate", ret, &error));
    }
    let mut error = rte_flow_error::default();
    // SAFETY: as for rte_flow_validate above; the PMD copies what the rule keeps.
    let flow = unsafe { dpdk_sys::rte_flow_create(port, &attr, pattern.as_ptr(), actions.as_ptr(), &mut error) };
    NonNull::new(flow).ok_or_else(|| flow_error(port, "rte_flow_create", errno(), &error))
}

/// A pattern item matching `spec` under `mask` (no range).
fn item<T>(type_: dpdk_sys::rte_flow_item_type, spec: &T, mask: &T) -> rte_flow_item {
    rte_flow_item {
        type_,
        spec: ptr::from_ref(spec).cast::<c_void>(),
        last: ptr::null(),
        mask: ptr::from_ref(mask).cast::<c_void>(),
    }
}

/// Destroys one rule; the caller holds the port lock.
fn destroy_rule(port: u16, flow: NonNull<rte_flow>) -> Result<(), DpdkError> {
    let mut error = rte_flow_error::default();
    // SAFETY: flow came from rte_flow_create on this port and was not destroyed or flushed since
    // (callers check the port's flush count); the port lock is held.
    let ret = unsafe { dpdk_sys::rte_flow_destroy(port, flow.as_ptr(), &mut error) };
    if ret < 0 {
        return Err(flow_error(port, "rte_flow_destroy", ret, &error));
    }
    Ok(())
}

/// The error of a failed flow call, with the PMD's message (read while the port lock is held,
/// as DPDK keeps it valid only while the port stays configured).
fn flow_error(port: u16, call: &'static str, code: i32, error: &rte_flow_error) -> DpdkError {
    let code = code.saturating_abs();
    let msg = if error.message.is_null() {
        strerror(code)
    } else {
        // SAFETY: a non-NULL message points to a NUL-terminated string of the PMD (or ethdev),
        // valid while the port is configured; it is copied out at once.
        unsafe { CStr::from_ptr(error.message) }.to_string_lossy().into_owned()
    };
    DpdkError::Flow { port, call, code, cause: cause_name(error.type_), msg }
}

/// What `rte_flow_error.type` blames, in words.
fn cause_name(kind: dpdk_sys::rte_flow_error_type) -> &'static str {
    match kind {
        dpdk_sys::RTE_FLOW_ERROR_TYPE_NONE => "none given",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_HANDLE => "the flow rule",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ATTR_GROUP => "the group attribute",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ATTR_PRIORITY => "the priority attribute",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ATTR_INGRESS => "the ingress attribute",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ATTR_EGRESS => "the egress attribute",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ATTR_TRANSFER => "the transfer attribute",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ATTR => "the attributes",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ITEM_NUM => "the pattern length",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ITEM_SPEC => "a pattern item's spec",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ITEM_LAST => "a pattern item's range",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ITEM_MASK => "a pattern item's mask",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ITEM => "a pattern item",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ACTION_NUM => "the number of actions",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ACTION_CONF => "an action's configuration",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_ACTION => "an action",
        dpdk_sys::RTE_FLOW_ERROR_TYPE_STATE => "the device state",
        _ => "unspecified",
    }
}
