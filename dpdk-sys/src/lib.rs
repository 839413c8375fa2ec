//! Raw bindings to DPDK; filled in by the dpdk-sys work.
