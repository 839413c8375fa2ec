#!/usr/bin/env bash
# The health checker at scale (docs/PERFORMANCE.md, "Health checks"): fnat-health-scale alone
# (10,000 real servers on loopback addresses, an HTTP check of each every second: checks/s, the
# time between two checks of a server, the checker thread's CPU), then fnatd's forwarding rate
# (fnat-gen, established TCP, 64-byte frames) three times without and three times with those
# checks running beside it, alternately, and the ratio of the medians.
#
#   scripts/health-bench.sh [OUT_DIR [SECONDS [SERVERS]]]    as root (SERVERS: 10000 by default)
#
# fnat-health-scale runs the checker fnatd runs (dataplane::health::Runner and its probes) in a
# process of its own: on this two-CPU machine it competes for the same CPUs as fnatd's main lcore
# and the generator, which is what 10,000 checks a second inside fnatd would do.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench-results/health-$(date +%Y%m%d-%H%M%S)}
secs=${2:-3}
servers=${3:-10000}
mkdir -p "$out"
gen=target/release/fnat-gen
scale=target/release/fnat-health-scale
[[ -x $gen && -x $scale ]] || cargo build --release -p dataplane --bin fnatd -p bench --bins

echo "-- the checker alone: 10 s"
"$scale" --servers "$servers" --secs 10 | tee "$out/health-scale.txt"

mpps() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['mpps'])" "$1"; }
for i in 1 2 3; do
    "$gen" --flows 100000 --clients 1024 --size 64 --duration "$secs" --json >"$out/fwd-plain.$i.json"
    "$scale" --servers "$servers" --secs $((secs + 4)) >"$out/health-beside.$i.txt" 2>&1 &
    checker=$!
    sleep 2
    "$gen" --flows 100000 --clients 1024 --size 64 --duration "$secs" --json >"$out/fwd-checked.$i.json"
    wait "$checker" || echo "  (run $i: the checker fell behind while fnatd forwarded: $(grep checks/s "$out/health-beside.$i.txt"))"
    echo "  run $i: $(mpps "$out/fwd-plain.$i.json") Mpps plain, $(mpps "$out/fwd-checked.$i.json") Mpps with $servers checks/s; $(grep 'checks/s' "$out/health-beside.$i.txt" | xargs)"
done
python3 - "$out" <<'PY'
import json, statistics, sys
out = sys.argv[1]
plain = statistics.median(json.load(open(f"{out}/fwd-plain.{i}.json"))["mpps"] for i in (1, 2, 3))
checked = statistics.median(json.load(open(f"{out}/fwd-checked.{i}.json"))["mpps"] for i in (1, 2, 3))
print(f"  median: {plain:.3f} Mpps plain, {checked:.3f} Mpps with the checks: {checked / plain * 100:.1f}%")
PY
