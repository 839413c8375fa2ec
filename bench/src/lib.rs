//! fnat's benchmark harness. The pktgen-style generator and criterion benches arrive with the benchmark issue.
