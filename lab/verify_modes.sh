#!/usr/bin/env bash
# Validates the lab's side of NAT, DR and TUN without fnatd (docs/LAB.md, "Validating the lab
# without fnatd"). lab/inject.py plays fnatd inside fnat-gw on lan0/dmz0 (AF_PACKET) for rs1; fnatd
# replaces it. Brings the lab up, checks, tears it down; holds /run/fnat-lab.test.lock meanwhile
# (the lock dataplane/tests/lab.rs takes) and refuses to run while another lab is up.
#
#   lab/verify_modes.sh            # as root; FNAT_LAB_DMZ_MTU=1520 lab/verify_modes.sh for jumbo TUN
#
# Per mode: one injected packet (a TCP SYN and a UDP datagram, as fnatd would forward them) and where
# the answer shows up; then the forwarder with real traffic from the client (curl, an upload of
# 300 kB, a download of 1 MB, UDP :53, a TCP echo on :9000), where the replies arrived (cl0: through
# the gateway, cl1: through the router), what the real server saw (its log names the client
# 10.0.0.2), ARP on the bridge (nothing ever for the VIP) and the hosts' drop counters.
# Prints "N passed, M failed"; exit status 0 when all passed.
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
LAB=$ROOT/scripts/lab.sh
INJECT=$ROOT/lab/inject.py
LOCK=/run/fnat-lab.test.lock
RUN=/run/fnat-lab
VIP=10.0.0.100
TMP=$(mktemp -d /tmp/fnat-verify.XXXXXX)
BG=() # pids of the background processes started here
passed=0
failed=0

ok() {
    printf 'ok    %s\n' "$*"
    passed=$((passed + 1))
}
bad() {
    printf 'FAIL  %s\n' "$*"
    failed=$((failed + 1))
}
# expect DESCRIPTION ACTUAL WANTED: exact match.
expect() {
    if [[ $2 == "$3" ]]; then ok "$1"; else bad "$1: got '$2', want '$3'"; fi
}
# expect_grep DESCRIPTION FILE REGEX: FILE has a line matching REGEX.
expect_grep() {
    if grep -Eq -- "$3" "$2"; then ok "$1"; else
        bad "$1: no line matches /$3/ in:"
        sed 's/^/      /' "$2" | head -n 20
    fi
}
# expect_none DESCRIPTION FILE REGEX: FILE has no line matching REGEX.
expect_none() {
    if ! grep -Eq -- "$3" "$2"; then ok "$1"; else
        bad "$1: unexpected lines:"
        grep -E -- "$3" "$2" | sed 's/^/      /' | head -n 20
    fi
}
in_ns() {
    local ns=$1
    shift
    ip netns exec "fnat-$ns" "$@"
}

cleanup() {
    local pid
    for pid in "${BG[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    "$LAB" down >/dev/null 2>&1 || true
    rm -rf "$TMP"
}

# capture NAME NS DEV FILTER: a bounded tcpdump (incoming frames only) into $TMP/NAME; returns
# once it listens.
capture() {
    local name=$1 ns=$2 dev=$3 filter=$4
    # ip netns exec directly (it execs), so that $! is tcpdump's timeout and not a subshell.
    ip netns exec "fnat-$ns" timeout 60 tcpdump -nl --immediate-mode -Q in -i "$dev" "$filter" \
        >"$TMP/$name" 2>"$TMP/$name.err" &
    BG+=("$!")
    for _ in $(seq 1 50); do
        grep -q "listening on" "$TMP/$name.err" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "tcpdump on $ns/$dev did not start: $(cat "$TMP/$name.err")" >&2
    return 1
}
# Stops every capture and forwarder still running (SIGTERM, the tools print their counters).
stop_bg() {
    local pid
    sleep 0.5
    for pid in "${BG[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${BG[@]}"; do wait "$pid" 2>/dev/null || true; done
    BG=()
}
# Forget what earlier steps left in the caches: neighbours (a FAILED entry for the VIP in the
# client after an injected SYN-ACK), the client's path MTU to the VIP (lowered by TUN's ICMP).
fresh_caches() {
    in_ns client ip neigh flush dev cl0
    in_ns client ip route flush cache
    in_ns rs1 ip neigh flush dev eth0
}
# conns LOCAL: how many connections rs1's HTTP server logged from the client 10.0.0.2 to LOCAL.
conns() { grep -Ec "^conn 10\.0\.0\.2:[0-9]+ to $1\$" "$RUN/rs1-http.log" || true; }

# One packet per mode, as fnatd would forward it; nothing else runs in fnat-gw.
inject_checks() {
    local mode=$1 sport=$2
    fresh_caches
    capture "inj-$mode-cl0" client cl0 "ip and src host $VIP and dst port $sport"
    capture "inj-$mode-cl1" client cl1 "ip and src host $VIP and dst port $sport"
    in_ns gw python3 "$INJECT" send --mode "$mode" --sport "$sport" >"$TMP/inj-$mode-tcp"
    in_ns gw python3 "$INJECT" send --mode "$mode" --proto udp --sport "$sport" >"$TMP/inj-$mode-udp"
    stop_bg
    if [[ $mode == nat ]]; then
        expect_grep "$mode inject: SYN-ACK from the RIP comes back to the gateway (dmz0)" \
            "$TMP/inj-$mode-tcp" "back on dmz0: .* tcp 10\.1\.0\.11:8080 -> 10\.0\.0\.2:$sport flags SA"
        expect_grep "$mode inject: UDP answer from the RIP comes back to the gateway (dmz0)" \
            "$TMP/inj-$mode-udp" "back on dmz0: .* udp 10\.1\.0\.11:5353 -> 10\.0\.0\.2:$sport"
        expect_none "$mode inject: nothing from the VIP reaches the client directly" \
            "$TMP/inj-$mode-cl1" "."
    else
        expect_grep "$mode inject: SYN-ACK from VIP:80 arrives on the client's cl1 (router)" \
            "$TMP/inj-$mode-cl1" "IP $VIP\.80 > 10\.0\.0\.2\.$sport: Flags \[S\.\]"
        expect_grep "$mode inject: UDP answer from VIP:53 arrives on cl1" \
            "$TMP/inj-$mode-cl1" "IP $VIP\.53 > 10\.0\.0\.2\.$sport: "
        expect_none "$mode inject: nothing comes back to the gateway" "$TMP/inj-$mode-tcp" "back on dmz0"
        expect_none "$mode inject: nothing from the VIP on cl0" "$TMP/inj-$mode-cl0" "."
    fi
}

# Real traffic through the forwarder.
forward_checks() {
    local mode=$1 got seen_as before pid
    # What rs1 sees: the client itself, connecting to the VIP (DR, TUN) or to its RIP:rport (NAT).
    seen_as=$VIP:80
    [[ $mode == nat ]] && seen_as=10.1.0.11:8080
    before=$(conns "$seen_as")
    # (Not the injected flows: rs1 may still retransmit their SYN-ACKs.)
    capture "fwd-$mode-cl0" client cl0 "ip and src host $VIP and not dst portrange 40000-40009"
    capture "fwd-$mode-cl1" client cl1 "ip and src host $VIP and not dst portrange 40000-40009"
    capture "fwd-$mode-arp" sw sw-rs1 "arp"
    fresh_caches
    ip netns exec fnat-gw timeout 60 python3 "$INJECT" forward --mode "$mode" >"$TMP/fwd-$mode" 2>&1 &
    pid=$!
    BG+=("$pid")
    for _ in $(seq 1 50); do
        grep -q "ready" "$TMP/fwd-$mode" && break
        sleep 0.1
    done

    got=$(in_ns client curl -s --max-time 5 "http://$VIP/" || true)
    expect "$mode: curl http://$VIP/" "$got" "rs1"
    got=$(in_ns client curl -s --max-time 20 --data-binary "@$TMP/upload" "http://$VIP/" || true)
    expect "$mode: upload of 300000 bytes (full-size client segments)" "$got" "rs1 300000"
    got=$( (in_ns client curl -s --max-time 20 "http://$VIP/bytes/1000000" || true) | wc -c)
    expect "$mode: download of 1000000 bytes" "$got" "1000000"
    got=$(in_ns client timeout 20 python3 lab/probe.py udp "$VIP" 53 hello --count 3 | tr '\n' '|' || true)
    expect "$mode: UDP $VIP:53" "$got" "$VIP:53 rs1 hello 0|$VIP:53 rs1 hello 1|$VIP:53 rs1 hello 2|"
    got=$(in_ns client timeout 20 python3 lab/probe.py tcp "$VIP" 9000 hold --count 3 | tail -n 3 | tr '\n' '|' || true)
    expect "$mode: TCP echo $VIP:9000 (one connection)" "$got" "rs1 hold 0|rs1 hold 1|rs1 hold 2|"
    if [[ $mode == tun ]]; then
        kill -USR1 "$(cat "$RUN/rs1-ipip.pid")"
        sleep 0.3
    fi
    stop_bg
    sed 's/^/      /' "$TMP/fwd-$mode"

    if (($(conns "$seen_as") > before)); then
        ok "$mode: rs1 saw the client's own address, to $seen_as: $(grep '^conn 10\.0\.0\.2:' "$RUN/rs1-http.log" | tail -n 1)"
    else
        bad "$mode: rs1 logged no connection from 10.0.0.2 to $seen_as:"
        tail -n 5 "$RUN/rs1-http.log" | sed 's/^/      /'
    fi
    if [[ $mode == nat ]]; then
        expect_grep "$mode: replies from the VIP arrive on cl0 (through the gateway)" "$TMP/fwd-$mode-cl0" "IP $VIP\."
        expect_none "$mode: nothing from the VIP on cl1" "$TMP/fwd-$mode-cl1" "."
        expect_grep "$mode: the forwarder rewrote replies" "$TMP/fwd-$mode" "nat_back [1-9]"
    else
        expect_grep "$mode: replies from the VIP arrive on cl1 (through the router)" "$TMP/fwd-$mode-cl1" "IP $VIP\."
        expect_none "$mode: no reply through the gateway (none on cl0)" "$TMP/fwd-$mode-cl0" "."
        expect_none "$mode: no reply came back to dmz0" "$TMP/fwd-$mode" "ignored on dmz0"
        expect_grep "$mode: rs1 resolved the router" "$TMP/fwd-$mode-arp" "Request who-has 10\.1\.0\.254 tell 10\.1\.0\.11"
    fi
    expect_none "$mode: no ARP on the bridge names the VIP (arp_ignore/arp_announce)" "$TMP/fwd-$mode-arp" "$VIP"
    if [[ $mode == tun ]]; then
        expect_grep "tun: rs1's decapsulator counted packets" "$RUN/rs1-ipip.log" "decapsulated [1-9][0-9]* packets"
        expect_grep "tun: rs1's decapsulator had no write error" "$RUN/rs1-ipip.log" "write_errors 0"
        sed 's/^/      /' "$RUN/rs1-ipip.log"
    fi
}

# drop_checks NS COUNTER...: counters of packets a host dropped or refused; all must be 0.
drop_checks() {
    local ns=$1 out
    shift
    out=$(in_ns "$ns" nstat -az "$@" | awk 'NR > 1 && $2 != 0 { printf "%s=%s ", $1, $2 }')
    expect "$ns: $* all 0" "$out" ""
}

main() {
    [[ $(id -u) -eq 0 ]] || {
        echo "run as root" >&2
        exit 2
    }
    exec 9>"$LOCK"
    echo "waiting for $LOCK (the lab tests hold it while they run)"
    flock -w 1200 9 || {
        echo "could not take $LOCK within 20 min" >&2
        exit 1
    }
    if [[ $'\n'$(ip netns list) == *$'\n'fnat-* ]]; then
        echo "lab namespaces exist ($(ip netns list | grep '^fnat-' | awk '{print $1}' | tr '\n' ' '))" \
            "although no lab test holds the lock: someone's lab is up; run scripts/lab.sh down first" >&2
        exit 1
    fi
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    "$LAB" up >"$TMP/up.log" 2>&1 || {
        cat "$TMP/up.log"
        exit 1
    }
    ok "scripts/lab.sh up (dmz MTU ${FNAT_LAB_DMZ_MTU:-1500})"
    if "$LAB" status >"$TMP/status" 2>&1; then ok "scripts/lab.sh status"; else
        bad "scripts/lab.sh status"
        cat "$TMP/status"
    fi
    head -c 300000 /dev/urandom >"$TMP/upload"

    # ARP on the bridge, asked from dmz0 as fnatd would.
    expect "arp: rs1 answers for its RIP" "$(in_ns gw python3 "$INJECT" arp 10.1.0.11 || true)" \
        "reply 10.1.0.11 is-at 02:00:00:00:0d:11"
    expect "arp: no real server answers for the VIP on the bridge" \
        "$(in_ns gw python3 "$INJECT" arp "$VIP" || true)" "no reply for $VIP within 1.0s"
    expect "arp: the router answers for 10.1.0.254" "$(in_ns gw python3 "$INJECT" arp 10.1.0.254 || true)" \
        "reply 10.1.0.254 is-at 02:00:00:00:0d:fe"

    inject_checks dr 40001
    inject_checks tun 40002
    inject_checks nat 40003
    forward_checks dr
    forward_checks tun
    forward_checks nat
    # rs1 must drop nothing, and send no ICMP unreachable (a protocol-unreachable for IPIP would
    # mean the decapsulator's raw socket missed packets). The client refuses the injected
    # answers (no socket), so its unreachables do not count.
    drop_checks rs1 IpInHdrErrors IpInAddrErrors IpInUnknownProtos IpInDiscards TcpInCsumErrors \
        UdpInCsumErrors IcmpInCsumErrors IcmpOutDestUnreachs
    drop_checks client IpInHdrErrors IpInAddrErrors IpInDiscards TcpInCsumErrors UdpInCsumErrors \
        IcmpInCsumErrors
    echo "$passed passed, $failed failed"
    ((failed == 0))
}

main "$@"
