#!/usr/bin/env bash
# Runs the fuzz targets (dataplane/fuzz, docs/RELIABILITY.md) with cargo-fuzz. libFuzzer needs
# nightly features: RUSTC_BOOTSTRAP=1 unlocks them on the stable toolchain.
#
#   scripts/fuzz.sh smoke               each target for 20 s from its committed corpus (CI)
#   scripts/fuzz.sh run TARGET RUNS     one target for RUNS inputs, e.g. worker_path 10000000
#
# Bounded in time either way; crashes land in dataplane/fuzz/artifacts/TARGET/ and fail the run.
# The corpus a run grows stays in a temporary copy; the committed corpus only changes by hand.
set -euo pipefail
cd "$(dirname "$0")/../dataplane"
export RUSTC_BOOTSTRAP=1

run() { # target, libFuzzer arguments...
    local target=$1
    shift
    local corpus
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' RETURN
    cp -r "fuzz/corpus/$target/." "$corpus/"
    # Without AddressSanitizer: the code under test is safe Rust (the one prefetch hint aside), and
    # the fuzzer runs about five times faster.
    cargo fuzz run -O -s none "$target" "$corpus" -- -print_final_stats=1 "$@"
}

case ${1:-smoke} in
smoke)
    for target in worker_path control_request vrrp_advert sync_message; do
        run "$target" -max_total_time=20
    done
    ;;
run)
    run "$2" -runs="$3" -max_total_time=7200
    ;;
*)
    echo "usage: scripts/fuzz.sh [smoke | run TARGET RUNS]" >&2
    exit 2
    ;;
esac
