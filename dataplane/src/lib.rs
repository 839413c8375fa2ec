//! fnat's gateway.
//!
//! The sans-IO core (`packet`, `lb`, `net`, `worker`) has no DPDK types and no clocks: packets come in as
//! bytes, time comes in as `now`, decisions come out as values. `dpdk` is the only module with `unsafe`
//! (besides the `dpdk-sys` crate); everything else is `#![deny(unsafe_code)]` territory.

pub mod packet;
#[cfg(feature = "dpdk")]
pub mod dpdk;
