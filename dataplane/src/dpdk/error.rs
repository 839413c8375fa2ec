//! Errors of the DPDK wrapper, carrying DPDK's own error text (`rte_strerror`).
//!
//! These are control-path errors (EAL start, pool creation, port setup); the fast path
//! (`rx_burst`, `tx_burst`, `Mempool::alloc`) reports by counts and `Option`, never by this type.

use std::ffi::CStr;

use thiserror::Error;

/// What went wrong in a DPDK control operation.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DpdkError {
    /// `Eal::init` was already called in this process; DPDK's EAL runs at most once.
    #[error("the DPDK EAL was already initialised in this process (it can be initialised only once)")]
    EalAlreadyInitialized,
    /// The EAL is not running (not initialised yet, or its initialisation failed).
    #[error("the DPDK EAL is not running; call Eal::init first")]
    EalNotRunning,
    /// `rte_eal_init` failed; the text says why (bad argument, no memory, no permission...).
    #[error(
        "rte_eal_init failed: {msg} (rte_errno {code}); check the EAL arguments and privileges \
         (hugepages and PCI devices need root)"
    )]
    EalInit {
        /// rte_errno after the call.
        code: i32,
        /// `rte_strerror(code)`.
        msg: String,
    },
    /// A string handed to DPDK contains a NUL byte or is too long.
    #[error("invalid argument for DPDK: {0}")]
    InvalidArgument(String),
    /// A DPDK call returned an error; `call` names the C function.
    #[error("{call} failed: {msg} (errno {code})")]
    Call {
        /// The DPDK function that failed.
        call: &'static str,
        /// The positive errno value (from the return value or rte_errno).
        code: i32,
        /// `rte_strerror(code)`.
        msg: String,
    },
    /// No ethdev port has this name (check the `--vdev`/PCI allow-list EAL arguments).
    #[error("no DPDK port named {0:?}")]
    PortNotFound(String),
    /// The port was closed; its id no longer names a device.
    #[error("port {0} is closed")]
    PortClosed(u16),
    /// The operation does not fit the port's current state (configure while started, ...).
    #[error("port {port}: cannot {op} while {state}")]
    PortState {
        /// The port id.
        port: u16,
        /// The refused operation.
        op: &'static str,
        /// The state that refuses it.
        state: &'static str,
    },
    /// Queue handles of the port are still alive; drop them (stop the workers) first.
    #[error("port {port}: {count} queue handle(s) still in use; drop them before stop/close/configure")]
    QueuesInUse {
        /// The port id.
        port: u16,
        /// How many `RxQueue`/`TxQueue` handles are alive.
        count: usize,
    },
    /// More queues were requested than the device offers (or none at all).
    #[error("port {port}: {rx} rx / {tx} tx queues requested, the device offers 1..={max_rx} rx / 1..={max_tx} tx")]
    QueueCount {
        /// The port id.
        port: u16,
        /// Requested rx queues.
        rx: u16,
        /// Requested tx queues.
        tx: u16,
        /// The device's maximum rx queues.
        max_rx: u16,
        /// The device's maximum tx queues.
        max_tx: u16,
    },
    /// Requested offloads the device does not offer (the bits it lacks).
    #[error("port {port}: unsupported offloads: rx {rx_missing:#x}, tx {tx_missing:#x}")]
    OffloadUnsupported {
        /// The port id.
        port: u16,
        /// Requested rx offload bits the device lacks.
        rx_missing: u64,
        /// Requested tx offload bits the device lacks.
        tx_missing: u64,
    },
    /// The device lacks a feature the call needs (an RSS redirection table, ...).
    #[error("port {port}: the device has no {what}")]
    Unsupported {
        /// The port id.
        port: u16,
        /// The missing feature.
        what: &'static str,
    },
    /// An rte_flow call failed; `msg` is the PMD's own explanation.
    #[error("port {port}: {call} failed: {msg} (cause: {cause}; errno {code})")]
    Flow {
        /// The port id.
        port: u16,
        /// The rte_flow function that failed.
        call: &'static str,
        /// The positive errno value.
        code: i32,
        /// What the PMD blamed (`rte_flow_error.type`, in words): "a pattern item", "an action"...
        cause: &'static str,
        /// `rte_flow_error.message`, or `rte_strerror(code)` when the PMD gave none.
        msg: String,
    },
    /// The lcore is not an enabled worker lcore (it is the main lcore, or not in `-l`).
    #[error("lcore {0} is not an enabled worker lcore")]
    NotAWorker(u32),
    /// The worker lcore is still running a previous function; `wait` for it first.
    #[error("lcore {0} is busy; wait for it before launching again")]
    LcoreBusy(u32),
}

impl DpdkError {
    /// A failed call with error code `code` (positive or negative errno; the sign is dropped).
    pub(crate) fn call(call: &'static str, code: i32) -> Self {
        let code = code.saturating_abs();
        Self::Call { call, code, msg: strerror(code) }
    }

    /// A failed call that reported its error through `rte_errno`.
    pub(crate) fn from_errno(call: &'static str) -> Self {
        Self::call(call, errno())
    }
}

/// The calling thread's `rte_errno` (DPDK's per-thread error code).
pub fn errno() -> i32 {
    // SAFETY: the shim only reads the calling thread's thread-local rte_errno; it has no
    // preconditions and works before EAL init too.
    unsafe { dpdk_sys::fnat_rte_errno() }
}

/// DPDK's text for an errno value (system errno or one of DPDK's `E_RTE_*` codes).
pub fn strerror(code: i32) -> String {
    // SAFETY: rte_strerror accepts any int and returns a pointer to a NUL-terminated string that
    // is either static or in a thread-local buffer; it stays valid until the next call on this
    // thread, and we copy it out before returning.
    unsafe {
        let text = dpdk_sys::rte_strerror(code);
        if text.is_null() {
            return format!("error {code}");
        }
        CStr::from_ptr(text).to_string_lossy().into_owned()
    }
}

/// Turns a DPDK `int` return (0 or positive on success, negative errno on failure) into a result.
pub(crate) fn check(call: &'static str, ret: i32) -> Result<i32, DpdkError> {
    if ret < 0 { Err(DpdkError::call(call, ret)) } else { Ok(ret) }
}
