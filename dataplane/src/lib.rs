//! fnat's gateway.
//!
//! The sans-IO core (`packet`, `lb`, `net`, `snapshot`, `worker`, `config`) has no DPDK types and no
//! clocks: packets come in as bytes, time comes in as `now`, decisions come out as values. `dpdk` is
//! the only module with `unsafe` (besides the `dpdk-sys` crate), but for `prefetch`, one cache hint.
//!
//! Test helpers (`fixtures`, `pcap`, `packet::builder`, the fuzz targets' bodies in
//! `control::fuzz` and `fixtures::fuzz`) are built only for this crate's tests and with the
//! `testing` feature (the integration tests, benches, fuzz targets and the pcap tool): they are
//! not part of the gateway's API.

#![deny(unsafe_code)]

pub mod config;
pub mod control;
#[cfg(feature = "dpdk")]
pub mod daemon;
#[cfg(feature = "dpdk")]
#[allow(unsafe_code)]
pub mod dpdk;
#[cfg(any(test, feature = "testing"))]
pub mod fixtures;
pub mod ha;
mod hash;
pub mod health;
pub mod hooks;
pub mod lb;
pub mod net;
pub mod packet;
#[cfg(any(test, feature = "testing"))]
pub mod pcap;
#[allow(unsafe_code)]
pub mod prefetch;
pub mod snapshot;
pub mod worker;
