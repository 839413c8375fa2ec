//! The pktgen-style generator's pieces that need no DPDK: the benchmark topology and its flow
//! numbering ([`topo`]), the frames it writes and reads ([`frames`]), the configurations of the
//! gateway under test ([`target`]), the fnatctl changes of `--churn` ([`churn`]) and the results
//! ([`report`]). The DPDK loop itself is the `fnat-gen` binary.

pub mod churn;
pub mod frames;
pub mod report;
pub mod target;
pub mod topo;
