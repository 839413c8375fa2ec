#!/usr/bin/env bash
# The benchmark set of docs/PERFORMANCE.md, as root: fnatd against the I/O ceiling (dpdk-testpmd in
# io mode on the same memif link) with the fnat-gen generator, the criterion microbenchmarks of the
# fast path, the restore benchmark and the health checker's (scripts/health-bench.sh). Results (JSON)
# go to bench-results/<date>/.
#
#   scripts/bench.sh            the whole set (about 20 minutes)
#   scripts/bench.sh --quick    shorter runs, fewer flows (about 6 minutes)
#
# Every run is bounded in time; fnat-gen starts and stops its targets itself and removes its run
# directory, so nothing is left behind. Timings on a shared machine are noisy: compare the ratios
# measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[[ ${1:-} == --quick ]] && quick=1
scripts/deps.sh
cargo build --release -p dataplane --bin fnatd -p ctrl -p bench --bins
gen=target/release/fnat-gen
out=bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"

secs=5 flows=1000000 conns=2000000
if ((quick)); then secs=2 flows=100000 conns=400000; fi

# Each comparison runs three times (this shared machine has slow spells); the run with the median
# fnatd/testpmd ratio is kept as NAME.json, all three as NAME.1.json to NAME.3.json.
run() { # name, fnat-gen arguments...
    local name=$1
    shift
    echo "== $name: fnat-gen $*"
    for i in 1 2 3; do
        "$gen" "$@" --json >"$out/$name.$i.json"
    done
    python3 - "$out" "$name" <<'PY'
import json, shutil, sys
out, name = sys.argv[1], sys.argv[2]
runs = [json.load(open(f"{out}/{name}.{i}.json")) for i in (1, 2, 3)]
key = "cps" if runs[0]["fnatd"]["traffic"] == "new" else "mpps"
order = sorted(range(3), key=lambda i: runs[i]["ratio"][key])
for i, r in enumerate(runs):
    for target in ("testpmd", "fnatd"):
        v = r[target]
        lat = v["latency_ns"]
        extra = f"  {v['cps']:.0f} conn/s" if v["traffic"] == "new" else ""
        print(f"  run {i + 1} {target:<8} {v['mpps']:7.3f} Mpps {v['gbps']:7.3f} Gbit/s  loss in {v['in']['loss']*100:.3f}% "
              f"out {v['out']['loss']*100:.3f}%  p50 {lat['p50']/1e3:.1f} us p99 {lat['p99']/1e3:.1f} us "
              f"p99.9 {lat['p999']/1e3:.1f} us{extra}  wrong {v['wrong']}")
    print(f"  run {i + 1} fnatd / testpmd: {r['ratio']['mpps']*100:.1f}% of the frames per second"
          + (f", {r['ratio']['cps']*100:.1f}% of the connections" if key == "cps" else ""))
median = order[1]
shutil.copy(f"{out}/{name}.{median + 1}.json", f"{out}/{name}.json")
print(f"  median: run {median + 1}, {runs[median]['ratio'][key]*100:.1f}%")
PY
}

run established-tcp-64 --compare --flows "$flows" --clients 1024 --size 64 --duration "$secs"
run established-udp-64 --compare --proto udp --flows "$flows" --clients 1024 --size 64 --duration "$secs"
run established-tcp-1518 --compare --flows 10000 --size 1518 --duration "$secs"
run new-tcp-64 --compare --traffic new --flows "$conns" --clients 4096 --size 64 --duration "$secs"

# Latency at half of fnatd's maximum rate (both targets offered the same rate).
half=$(python3 -c "import json; print(int(json.load(open('$out/established-tcp-64.json'))['fnatd']['mpps'] * 1e6 / 2))")
run established-tcp-64-half-rate --compare --flows "$flows" --clients 1024 --size 64 --duration "$secs" --rate "$half"

# Two workers (issue 9): the generator spreads frames over two queues by Toeplitz, as a NIC's RSS.
# This machine has two CPUs: either the second worker shares CPU 0 with the generator, or both
# workers take turns on CPU 1 (--workers-cpu 1). Neither shows scaling; they show where replies go
# (the redirected share) and what the redirect ring costs against RSS steering in the same setup.
workers() { # name, fnat-gen arguments...
    local name=$1
    shift
    echo "== $name: fnat-gen $*"
    for i in 1 2 3; do
        "$gen" "$@" --json >"$out/$name.$i.json"
        python3 - "$out/$name.$i.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
red = r.get("redirected") or {}
lat = r["latency_ns"]
share = red.get("frames", 0) / max(red.get("replies_forwarded", 0), 1) * 100
print(f"  {r['mpps']:7.3f} Mpps  p50 {lat['p50']/1e3:.1f} us p99 {lat['p99']/1e3:.1f} us  "
      f"redirected {red.get('frames')} ({share:.1f}% of the replies)  wrong {r['wrong']}")
PY
    done
}
workers workers-1 --flows 100000 --duration "$secs"
workers workers-2-rss --workers 2 --flows 100000 --duration "$secs"
workers workers-2-redirect --workers 2 --steering redirect --flows 100000 --duration "$secs"
workers workers-2-nat --workers 2 --nat --flows 100000 --duration "$secs"
workers workers-2-rss-cpu1 --workers 2 --workers-cpu 1 --flows 100000 --duration "$secs"
workers workers-2-redirect-cpu1 --workers 2 --workers-cpu 1 --steering redirect --flows 100000 --duration "$secs"

echo "== criterion: the fast path"
cargo bench -p bench --bench fastpath 2>&1 | tee "$out/fastpath.txt" | grep -E "^fastpath/|^ +time:|^ +thrpt:|bytes per connection" | grep -v "%" || true

echo "== restore: 10,000 services x 10 real servers"
target/release/fnat-restore-bench | tee "$out/restore.txt"

echo "== health checks: 10,000 real servers checked every second"
scripts/health-bench.sh "$out" "$secs"
echo "bench: results in $out"
