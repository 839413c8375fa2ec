//! The EAL (environment abstraction layer): start-up, lcores, remote launch, TSC, clean-up.
//!
//! DPDK's EAL is process-global and starts at most once. [`Eal::init`] enforces that with an
//! atomic guard. Every DPDK object of this wrapper (pools, ports, queues) holds an `EalRef`, so
//! `rte_eal_cleanup` runs only when the last of them is gone; see [`Eal`]'s `Drop`.

use std::ffi::{CStr, CString, c_int, c_void};
use std::os::raw::c_char;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::error::DpdkError;

/// Set by the first `Eal::init`; DPDK cannot start its EAL twice in one process.
static INIT_ATTEMPTED: AtomicBool = AtomicBool::new(false);

/// Set when a resource had to be leaked (a mempool with mbufs still out); then the EAL memory
/// must never be torn down, as those mbufs may still be dropped later.
static EAL_MUST_STAY: AtomicBool = AtomicBool::new(false);

/// The running EAL, if any; resources created without an `&Eal` at hand find it here.
static RUNNING: Mutex<Weak<EalShared>> = Mutex::new(Weak::new());

/// Serialises `rte_eal_remote_launch`: two threads launching on the same lcore at once would
/// race on DPDK's per-lcore function/argument slots.
static LAUNCH_LOCK: Mutex<()> = Mutex::new(());

/// Program name passed to `rte_eal_init` as argv\[0\].
const PROGRAM: &str = "fnatd";

/// A logical core id as DPDK numbers them (`-l 0,1` gives lcores 0 and 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LcoreId(pub u32);

impl std::fmt::Display for LcoreId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lcore {}", self.0)
    }
}

/// The shared core of the EAL: dropped when the `Eal` and every pool, port and queue are gone.
#[derive(Debug)]
struct EalShared {
    main_lcore: u32,
}

/// A keep-alive reference to the running EAL, held by every DPDK resource of this wrapper.
#[derive(Debug, Clone)]
pub(crate) struct EalRef(Arc<EalShared>);

impl EalRef {
    /// The running EAL, or `EalNotRunning`.
    pub(crate) fn current() -> Result<Self, DpdkError> {
        RUNNING.lock().unwrap_or_else(PoisonError::into_inner).upgrade().map(EalRef).ok_or(DpdkError::EalNotRunning)
    }
}

/// Marks the EAL as never to be cleaned up (some DPDK memory was deliberately leaked).
pub(crate) fn keep_eal_forever() {
    EAL_MUST_STAY.store(true, Ordering::Release);
}

impl Drop for EalShared {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap_or_else(PoisonError::into_inner) = Weak::new();
        if EAL_MUST_STAY.load(Ordering::Acquire) {
            return;
        }
        // rte_eal_cleanup must run on the main lcore, after the workers returned; a last
        // reference dropped anywhere else leaves the clean-up to process exit.
        if current_lcore() != Some(LcoreId(self.main_lcore)) {
            return;
        }
        // SAFETY: we are on the main lcore and no wrapper object refers to DPDK any more (this is
        // the last EalRef and no pool was leaked). rte_eal_mp_wait_lcore only waits for workers
        // to finish their current function; rte_eal_cleanup then releases EAL memory that
        // nothing can reach.
        unsafe {
            dpdk_sys::rte_eal_mp_wait_lcore();
            dpdk_sys::rte_eal_cleanup();
        }
    }
}

/// The initialised EAL. Create it once, first, on the thread that becomes the main lcore.
///
/// Dropping it calls `rte_eal_cleanup` once every [`Mempool`](super::Mempool),
/// [`Port`](super::Port) and queue handle is gone too, and only if the last of them goes on the
/// main lcore thread (it first waits for running workers to return). If a mempool was leaked
/// (mbufs outstanding at its drop), clean-up is skipped and the OS reclaims everything at exit.
/// DPDK cannot be re-initialised after either.
#[derive(Debug)]
pub struct Eal {
    shared: EalRef,
}

impl Eal {
    /// Starts DPDK's EAL with `args` (EAL arguments without argv\[0\], e.g.
    /// `["-l", "0,1", "--no-huge", "--vdev=net_ring0"]`).
    ///
    /// The calling thread becomes the main lcore and is pinned to its CPU. A second call in the
    /// same process returns [`DpdkError::EalAlreadyInitialized`], whatever the first returned.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        let mut owned = Vec::with_capacity(args.len() + 1);
        for arg in std::iter::once(PROGRAM).chain(args.iter().map(String::as_str)) {
            let arg = CString::new(arg)
                .map_err(|_| DpdkError::InvalidArgument(format!("EAL argument {arg:?} contains a NUL byte")))?;
            owned.push(arg);
        }
        let argc = c_int::try_from(owned.len())
            .map_err(|_| DpdkError::InvalidArgument("too many EAL arguments".to_owned()))?;
        if INIT_ATTEMPTED.swap(true, Ordering::AcqRel) {
            return Err(DpdkError::EalAlreadyInitialized);
        }
        // rte_eal_init permutes argv (getopt) and some drivers keep pointers into the strings,
        // so both the strings and the array live for the rest of the process. This happens once.
        let strings: &'static [CString] = Box::leak(owned.into_boxed_slice());
        let argv: &'static mut [*mut c_char] = Box::leak(
            strings
                .iter()
                .map(|s| s.as_ptr().cast_mut())
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        // SAFETY: argv holds argc pointers to NUL-terminated strings followed by a NULL, all
        // leaked so they outlive the EAL; DPDK only reorders the pointer array. The guard above
        // makes this the only rte_eal_init of the process.
        let ret = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            let code = super::error::errno();
            return Err(DpdkError::EalInit { code, msg: super::error::strerror(code) });
        }
        // SAFETY: the EAL is initialised; rte_get_main_lcore only reads its configuration.
        let main_lcore = unsafe { dpdk_sys::rte_get_main_lcore() };
        let shared = Arc::new(EalShared { main_lcore });
        *RUNNING.lock().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(&shared);
        Ok(Eal { shared: EalRef(shared) })
    }

    /// The main lcore (the thread that called `init`).
    pub fn main_lcore(&self) -> LcoreId {
        LcoreId(self.shared.0.main_lcore)
    }

    /// The enabled worker lcores, in id order (the `-l` list minus the main lcore).
    pub fn worker_lcores(&self) -> Vec<LcoreId> {
        let mut workers = Vec::new();
        let mut lcore = u32::MAX; // rte_get_next_lcore(-1, ...) starts at 0.
        loop {
            // SAFETY: the EAL is running (self holds it); rte_get_next_lcore only reads the lcore
            // configuration, which is immutable after init.
            lcore = unsafe { dpdk_sys::rte_get_next_lcore(lcore, 1, 0) };
            if lcore >= dpdk_sys::RTE_MAX_LCORE {
                return workers;
            }
            workers.push(LcoreId(lcore));
        }
    }

    /// The NUMA socket of the main lcore (0 on single-socket machines).
    pub fn socket_id(&self) -> i32 {
        lcore_socket(self.main_lcore())
    }

    /// Timestamp-counter ticks per second (for converting `rte_get_tsc_cycles` to time).
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: the EAL is running; rte_get_tsc_hz reads a value fixed at init.
        unsafe { dpdk_sys::rte_get_tsc_hz() }
    }

    /// DPDK's runtime directory (`/var/run/dpdk/<file-prefix>` as root): remove it after the
    /// EAL is cleaned up if the prefix was per-run.
    pub fn runtime_dir(&self) -> PathBuf {
        // SAFETY: the EAL is running; the returned string is owned by the EAL and valid until
        // cleanup, and we copy it.
        let dir = unsafe { CStr::from_ptr(dpdk_sys::rte_eal_get_runtime_dir()) };
        PathBuf::from(dir.to_string_lossy().into_owned())
    }

    /// Runs `f` on worker `lcore`; its return value is collected by [`Eal::wait`].
    ///
    /// `f` runs on DPDK's EAL thread for that lcore, so `rte_lcore_id()` there is `lcore` and the
    /// mempool caches work. A panic in `f` aborts the process: the entry point is an
    /// `extern "C"` function, which cannot unwind (and the release profile has `panic = "abort"`).
    pub fn launch<F>(&self, lcore: LcoreId, f: F) -> Result<(), DpdkError>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        if lcore == self.main_lcore() || !self.worker_lcores().contains(&lcore) {
            return Err(DpdkError::NotAWorker(lcore.0));
        }
        let closure = Box::into_raw(Box::new(f));
        let _serial = LAUNCH_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        // SAFETY: lcore is an enabled worker; trampoline::<F> takes back exactly the Box we leak
        // here, once. The launch lock keeps other launches from racing on the lcore's slots.
        let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline::<F>), closure.cast::<c_void>(), lcore.0) };
        if ret < 0 {
            // SAFETY: the launch failed, so DPDK never saw the pointer run; we still own the Box.
            drop(unsafe { Box::from_raw(closure) });
            return Err(if ret == -libc::EBUSY {
                DpdkError::LcoreBusy(lcore.0)
            } else {
                DpdkError::call("rte_eal_remote_launch", ret)
            });
        }
        Ok(())
    }

    /// Waits for worker `lcore` to finish and returns what its function returned (0 if the
    /// lcore was idle).
    pub fn wait(&self, lcore: LcoreId) -> i32 {
        if lcore == self.main_lcore() || !self.worker_lcores().contains(&lcore) {
            return 0;
        }
        // SAFETY: lcore is an enabled worker; rte_eal_wait_lcore polls its state until it is
        // back to WAIT, which has no other effect.
        unsafe { dpdk_sys::rte_eal_wait_lcore(lcore.0) }
    }
}

/// The entry point DPDK calls on the worker: takes back the boxed closure and runs it.
extern "C" fn trampoline<F>(arg: *mut c_void) -> c_int
where
    F: FnOnce() -> i32 + Send + 'static,
{
    // SAFETY: arg is the pointer Box::into_raw produced in Eal::launch for exactly this F, and
    // DPDK passes it to this function once.
    let f = unsafe { Box::from_raw(arg.cast::<F>()) };
    f()
}

/// The lcore the calling thread runs as: `Some` on EAL threads (main and workers) and on
/// registered non-EAL threads, `None` elsewhere (`LCORE_ID_ANY`).
pub fn current_lcore() -> Option<LcoreId> {
    // SAFETY: rte_lcore_id only reads a thread-local variable, which is valid on any thread at
    // any time (before EAL init it holds its initial value).
    let id = unsafe { dpdk_sys::rte_lcore_id() };
    (id != dpdk_sys::LCORE_ID_ANY).then_some(LcoreId(id))
}

/// The NUMA socket of `lcore` (`SOCKET_ID_ANY`, -1, if unknown).
pub fn lcore_socket(lcore: LcoreId) -> i32 {
    if lcore.0 >= dpdk_sys::RTE_MAX_LCORE {
        return dpdk_sys::SOCKET_ID_ANY;
    }
    // SAFETY: lcore is below RTE_MAX_LCORE, as the function requires; it reads static config.
    let socket = unsafe { dpdk_sys::rte_lcore_to_socket_id(lcore.0) };
    i32::try_from(socket).unwrap_or(dpdk_sys::SOCKET_ID_ANY)
}

/// The timestamp counter (`rdtsc`), in ticks of [`Eal::tsc_hz`].
#[inline]
pub fn tsc_cycles() -> u64 {
    // SAFETY: reads the CPU's timestamp counter; no memory is touched.
    unsafe { dpdk_sys::rte_get_tsc_cycles() }
}
