//! fnat's benchmark harness: the pktgen-style generator's pieces ([`pktgen`]; the DPDK loop is the
//! `fnat-gen` binary), the restore benchmark (`fnat-restore-bench`) and the criterion benches of
//! the sans-IO fast path (`benches/`).

pub mod pktgen;
