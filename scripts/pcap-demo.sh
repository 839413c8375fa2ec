#!/usr/bin/env bash
# The pcap demo: fnatd on DPDK's net_pcap ports reads a capture of client and real-server packets and
# writes what it sends. Shows the frames going in and the rewritten frames coming out, checks them
# byte for byte against the expected frames, prints fnatd's counters, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cargo build --release --bins -p dataplane --features testing
bin=target/release

run=$(mktemp -d /tmp/fnat-pcap-demo.XXXXXX)
prefix="fnat-demo-$$"
fnatd_pid=""
cleanup() {
    [[ -n "$fnatd_pid" ]] && kill -TERM "$fnatd_pid" 2>/dev/null && wait "$fnatd_pid" 2>/dev/null || true
    rm -rf "$run" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT

"$bin/fnat-pcap" write "$run"
sed -e "s|@RUN_DIR@|$run|g" -e "s|file_prefix = \"fnat-pcap\"|file_prefix = \"$prefix\"|" configs/pcap-demo.toml >"$run/fnatd.toml"

echo "== Into fnatd from the clients (port lan): TCP to VIP 10.0.0.100:80 (rr), UDP to :53 (wrr), two connections of one client to the persistent 10.0.0.104:80"
"$bin/fnat-pcap" show "$run/lan-in.pcap"
echo "== Into fnatd from the real servers (port dmz): replies to the local address 10.1.0.10"
"$bin/fnat-pcap" show "$run/dmz-in.pcap"

"$bin/fnatd" --config "$run/fnatd.toml" >"$run/fnatd.log" 2>&1 &
fnatd_pid=$!
for _ in $(seq 1 300); do
    grep -q "fnatd: ready" "$run/fnatd.log" && break
    kill -0 "$fnatd_pid" 2>/dev/null || { cat "$run/fnatd.log"; exit 1; }
    sleep 0.1
done
sleep 1
kill -TERM "$fnatd_pid"
wait "$fnatd_pid"
fnatd_pid=""

echo "== Out of fnatd to the real servers (port dmz): FULLNAT, LIP:lport -> RIP:8080, TTL - 1"
"$bin/fnat-pcap" show "$run/dmz-out.pcap"
echo "== Out of fnatd to the clients (port lan): VIP:vport -> client"
"$bin/fnat-pcap" show "$run/lan-out.pcap"
echo "== fnatd's log"
cat "$run/fnatd.log"
echo "== Check against the expected frames"
"$bin/fnat-pcap" compare "$run"
echo "pcap demo: OK"
