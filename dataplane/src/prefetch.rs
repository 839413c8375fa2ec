//! A cache prefetch hint: asks the CPU to start loading the cache line of a value the caller is
//! about to read, so that the misses of a burst's connection lookups overlap instead of following
//! one another. It never reads or writes memory and cannot fault; on other architectures it does
//! nothing.

/// Hints that `*v` will be read soon.
#[inline(always)]
pub fn read<T>(v: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it does not access memory architecturally and never faults,
    // whatever the address; `v` is a valid reference anyway. SSE is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(std::ptr::from_ref(v).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}
