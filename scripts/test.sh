#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit, fixtures, proptests, DPDK on
# net_pcap and memif, the live lab), then a short run of each fuzz target. Installs what it needs
# first. DPDK tests need root, as CI has.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast
else
    echo "test: cargo-nextest not installed; using cargo test"
    cargo test --workspace --no-fail-fast --lib --bins --tests
fi
cargo test --workspace --doc --exclude dpdk-sys
# A short run of each fuzz target (the long runs: docs/RELIABILITY.md).
scripts/fuzz.sh smoke
