//! Safe DPDK wrapper; filled in by the dpdk work.
