#!/usr/bin/env bash
# The main job end to end on the embedded default: builds fnat, creates the live lab (a client and
# three real servers in network namespaces, fnatd on DPDK af_packet ports between them), starts
# fnatd, configures a FULLNAT TCP service and a UDP service with three real servers through
# fnatctl, sends real traffic through the VIP (curl requests, UDP requests, a few seconds of wrk),
# prints how the requests spread over the real servers and `fnatctl -L -n`; then stops one real
# server's HTTP server and shows fnatd's health check taking it out while traffic keeps flowing, and
# bringing it back; and tears it all down.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh
cargo build --release --workspace --bins
bin=$PWD/target/release
ctl="$bin/fnatctl"
vip=10.0.0.100
run=$(mktemp -d /tmp/fnat-demo.XXXXXX)
fnatd_pid=""

cleanup() {
    if [[ -n "$fnatd_pid" ]] && kill -0 "$fnatd_pid" 2>/dev/null; then
        kill -TERM "$fnatd_pid" 2>/dev/null || true
        wait "$fnatd_pid" 2>/dev/null || true
    fi
    scripts/lab.sh down >/dev/null 2>&1 || true
    rm -rf "$run"
}
trap cleanup EXIT
client() { ip netns exec fnat-client timeout 30 "$@"; }

echo "== Building the lab (namespaces, veths, real servers)"
scripts/lab.sh up

echo "== Starting fnatd in fnat-gw (configs/lab.toml and a health check of the HTTP service)"
cat configs/lab.toml - >"$run/fnatd.toml" <<'EOF'

# An HTTP GET / of each real server of tcp 10.0.0.100:80 every 0.5 s; two failures in a row take a
# server out, two passes bring it back (docs/LAB.md, "Health checks").
[[check]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
type = "http"
path = "/"
interval = 0.5
timeout = 0.5
fall = 2
rise = 2
EOF
tail -13 "$run/fnatd.toml"
ip netns exec fnat-gw "$bin/fnatd" --config "$run/fnatd.toml" >"$run/fnatd.log" 2>&1 &
fnatd_pid=$!
for _ in $(seq 1 300); do
    grep -q "fnatd: ready" "$run/fnatd.log" && break
    kill -0 "$fnatd_pid" 2>/dev/null || { cat "$run/fnatd.log"; exit 1; }
    sleep 0.1
done
grep "fnatd: ready" "$run/fnatd.log"

echo "== Configuring the services with fnatctl"
set -x
"$ctl" -A -t $vip:80 -s rr
"$ctl" -a -t $vip:80 -r 10.1.0.11:8080 -b
"$ctl" -a -t $vip:80 -r 10.1.0.12:8080 -b
"$ctl" -a -t $vip:80 -r 10.1.0.13:8080 -b
"$ctl" -A -u $vip:53 -s rr
"$ctl" -a -u $vip:53 -r 10.1.0.11:5353 -b
"$ctl" -a -u $vip:53 -r 10.1.0.12:5353 -b
"$ctl" -a -u $vip:53 -r 10.1.0.13:5353 -b
set +x

echo "== 99 HTTP requests from the client to http://$vip/"
for _ in $(seq 1 99); do client curl -s --max-time 5 "http://$vip/"; done >"$run/bodies"
sort "$run/bodies" | uniq -c | awk '{printf "  %-4s answered %d requests\n", $2, $1}'
[[ $(wc -l <"$run/bodies") -eq 99 ]] || { echo "some requests failed"; exit 1; }

echo "== UDP requests to $vip:53 (three clients' sockets, three flows)"
for i in 1 2 3; do client python3 lab/probe.py udp $vip 53 "hello from socket $i"; done

echo "== ping $vip"
client ping -c 2 -W 2 $vip | tail -2

echo "== wrk: 3 seconds, 16 connections"
client wrk -t1 -c16 -d3s "http://$vip/" | sed -n '1,8p'

echo "== What the real servers saw (connections by source address)"
for rs in rs1 rs2 rs3; do
    printf '  %s: ' "$rs"
    grep '^conn ' "/run/fnat-lab/$rs-http.log" | grep -v '^conn 127\.' | awk '{split($2, a, ":"); print a[1]}' | sort | uniq -c | tr -s ' ' | tr '\n' ' '
    echo
done

echo "== fnatctl -L -n"
"$ctl" -L -n
echo "== fnatctl --get-laddr"
"$ctl" --get-laddr
echo "== fnatctl -L -n --stats (traffic per service and real server since the start)"
"$ctl" -L -n --stats
echo "== fnatd's Prometheus endpoint (in the gateway namespace): the UDP service"
ip netns exec fnat-gw curl -s --max-time 5 http://127.0.0.1:9542/metrics | grep 'service="udp/'

echo "== fnatctl --health: every real server's check"
sleep 1
"$ctl" --health

echo "== rs2's HTTP server stops: its check takes it out within 0.5 s x 2 + 0.5 s"
scripts/lab.sh stop-server rs2 http
sleep 2
"$ctl" --health
"$ctl" -L -n -t $vip:80
echo "== 30 HTTP requests meanwhile: every one answered, none by rs2"
for _ in $(seq 1 30); do client curl -s --max-time 5 "http://$vip/"; done >"$run/bodies"
sort "$run/bodies" | uniq -c | awk '{printf "  %-4s answered %d requests\n", $2, $1}'
[[ $(wc -l <"$run/bodies") -eq 30 ]] || { echo "some requests failed"; exit 1; }
if grep -q rs2 "$run/bodies"; then echo "rs2 was sent requests while down"; exit 1; fi

echo "== rs2's HTTP server is back: two passes bring it back"
scripts/lab.sh start-server rs2 http
sleep 2
"$ctl" --health
"$ctl" -L -n -t $vip:80

echo "== Stopping fnatd (SIGTERM): its counters"
kill -TERM "$fnatd_pid"
wait "$fnatd_pid"
fnatd_pid=""
grep -v '^TELEMETRY' "$run/fnatd.log"
echo "demo: OK"
