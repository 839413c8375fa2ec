#!/usr/bin/env bash
# The fnat live lab: network namespaces with a real client, a gateway namespace for fnatd (two veth
# ends driven by DPDK's net_af_packet PMD), a bridge, three real servers (HTTP :8080, :80 and :443, UDP
# echo :5353 and :53, TCP line echo :9000, an IPIP decapsulator) and a router that carries the real
# servers' direct replies (DR, TUN) back to the client. All four forwarding modes (FULLNAT, NAT, DR,
# TUN) work on it at the same time. See docs/LAB.md for the picture and how to run fnatd in it.
#
#   scripts/lab.sh up        build everything (tearing leftovers down first), start the servers
#   scripts/lab.sh down      stop every process in the lab namespaces, delete them (never fails)
#   scripts/lab.sh status    what exists, which servers run, the NAT/DR/TUN setup (VIP on lo, rules,
#                            routes, sysctls, ipip0), veth offloads (exit 0 when all is up)
#   scripts/lab.sh exec NS CMD...   run CMD in a lab namespace (NS: client, gw, sw, router, rs1..rs3
#                                   or fnat-*)
#   scripts/lab.sh stop-server RS KIND    stop one real server's server (RS: rs1..rs3; KIND: http, udp,
#   scripts/lab.sh start-server RS KIND   tcp, ipip), or start it again (a health check's failure)
#
# Runs as root. Installs what it needs if missing (iproute2, ethtool, python3, curl, wrk, tcpdump, ping).
# FNAT_LAB_OFFLOADS=keep leaves the veth offloads at the kernel's defaults (to see why they must go).
# FNAT_LAB_DMZ_MTU=N (default 1500) sets the MTU of every device on the real servers' side (dmz0,
# the bridge and its ports, the servers' eth0, the router's rt-sw): 1520 lets a full-size client
# packet through in TUN mode (1500 + the 20-byte outer IPIP header).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUN=/run/fnat-lab
NS_CLIENT=fnat-client
NS_GW=fnat-gw
NS_SW=fnat-sw
NS_ROUTER=fnat-router
RS_NAMES=(rs1 rs2 rs3)
ALL_NS=("$NS_CLIENT" "$NS_GW" "$NS_SW" "$NS_ROUTER" fnat-rs1 fnat-rs2 fnat-rs3)

# The addresses other code depends on.
GW_LAN_MAC=02:00:00:00:00:01
GW_DMZ_MAC=02:00:00:00:00:02
CLIENT_MAC=02:00:00:00:0c:02
CLIENT_IP=10.0.0.2/24
DMZ_GW_IP=10.1.0.1
VIP=10.0.0.100
CLIENT_NET=10.0.0.0/24
# The direct-reply path (DR, TUN): real server -> router (bridge leg rt-sw) -> client (second leg cl1).
CLIENT1_MAC=02:00:00:00:0c:03
CLIENT1_IP=10.2.0.2
ROUTER_CL_MAC=02:00:00:00:0c:fe
ROUTER_CL_IP=10.2.0.1
ROUTER_SW_MAC=02:00:00:00:0d:fe
ROUTER_SW_IP=10.1.0.254
# Policy routing on the real servers: packets sourced from the VIP use this table (default via the
# router), everything else the main table (default via fnatd's 10.1.0.1).
VIP_TABLE=100
VIP_RULE_PREF=100
TUN_DEV=ipip0
DMZ_MTU=${FNAT_LAB_DMZ_MTU:-1500}
rs_ip() { echo "10.1.0.1${1#rs}"; }         # rs1 -> 10.1.0.11
rs_mac() { echo "02:00:00:00:0d:1${1#rs}"; } # rs1 -> 02:00:00:00:0d:11

HTTP_PORT=8080
UDP_PORT=5353
TCP_PORT=9000
# DR and TUN cannot map ports: the real servers also listen on the VIP's ports (in the same
# processes, which log to the same files).
HTTP_DIRECT_PORT=80
# Plain HTTP on 443 too: a firewall-mark service groups :80 and :443 (port-0 real servers keep the
# client's port).
HTTP_MARK_PORT=443
UDP_DIRECT_PORT=53
# The per-server processes (pid and log files $RUN/rsN-KIND.pid/.log).
KINDS=(http udp tcp ipip)

# Every veth end of the lab, as "namespace device".
VETH_ENDS=(
    "$NS_GW lan0" "$NS_CLIENT cl0"
    "$NS_GW dmz0" "$NS_SW sw-gw"
    "fnat-rs1 eth0" "$NS_SW sw-rs1"
    "fnat-rs2 eth0" "$NS_SW sw-rs2"
    "fnat-rs3 eth0" "$NS_SW sw-rs3"
    "$NS_ROUTER rt-sw" "$NS_SW sw-rt"
    "$NS_ROUTER rt-cl" "$NS_CLIENT cl1"
)
# Offloads switched off on every veth end (see docs/LAB.md): checksum offload (partial checksums in
# the frames af_packet reads), TSO/GSO (64 KB super-frames), GRO (coalesced frames on receive),
# VLAN acceleration (tags moved out of the frame). ethtool feature names as `ethtool -k` prints them.
OFFLOAD_ARGS=(rx off tx off tso off gso off gro off rxvlan off txvlan off)
OFFLOAD_FEATURES=(rx-checksumming tx-checksumming tcp-segmentation-offload
    generic-segmentation-offload generic-receive-offload tx-udp-segmentation
    rx-vlan-offload tx-vlan-offload)

say() { printf 'lab: %s\n' "$*"; }
warn() { printf 'lab: %s\n' "$*" >&2; }
die() {
    warn "error: $*"
    exit 1
}
need_root() { [[ $(id -u) -eq 0 ]] || die "run as root (network namespaces need it)"; }
ns_exists() { [[ -e /run/netns/$1 ]]; }
in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# Installs the tools the lab uses when missing; `apt-get update` at most once.
deps() {
    local need=() cmd pkg
    for pair in ip:iproute2 ethtool:ethtool python3:python3 curl:curl wrk:wrk tcpdump:tcpdump ping:iputils-ping; do
        cmd=${pair%%:*}
        pkg=${pair#*:}
        if ! command -v "$cmd" >/dev/null 2>&1 || ! dpkg -s "$pkg" >/dev/null 2>&1; then
            need+=("$pkg")
        fi
    done
    ((${#need[@]})) || return 0
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
}

# Is $1 a live process started from this lab (a server of lab/)? Guards against pid reuse.
is_lab_pid() {
    local pid=$1
    [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$ROOT/lab/"
}

# Pids of the processes inside the lab's namespaces.
lab_ns_pids() {
    local ns
    for ns in "${ALL_NS[@]}"; do
        if ns_exists "$ns"; then ip netns pids "$ns" 2>/dev/null || true; fi
    done
}

# Stops everything and deletes the namespaces. Never fails; safe after a half-done `up`.
down() {
    local f pid pids left i ns
    if [[ -d $RUN ]]; then
        for f in "$RUN"/*.pid; do
            [[ -e $f ]] || continue
            pid=$(cat "$f" 2>/dev/null || true)
            if is_lab_pid "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
        done
    fi
    # Whatever else still runs inside the lab namespaces (fnatd, a client, a capture) was started
    # for the lab: the namespaces cannot really go while a process holds them.
    pids=$(lab_ns_pids | sort -un | tr '\n' ' ')
    for pid in $pids; do
        say "stopping pid $pid ($(ps -o args= -p "$pid" 2>/dev/null | cut -c1-60 || true))"
        kill -TERM "$pid" 2>/dev/null || true
    done
    for i in $(seq 1 50); do
        left=$(lab_ns_pids | tr '\n' ' ')
        [[ -z ${left// /} ]] && break
        if ((i == 50)); then
            warn "killing pids still running after 5 s: $left"
            for pid in $left; do kill -KILL "$pid" 2>/dev/null || true; done
            sleep 0.2
        else
            sleep 0.1
        fi
    done
    for ns in "${ALL_NS[@]}"; do
        if ns_exists "$ns"; then
            ip netns del "$ns" 2>/dev/null || warn "could not delete namespace $ns"
        fi
    done
    rm -rf "$RUN"
    # fnatd's DPDK runtime directory (file_prefix "fnat-lab"), once nothing uses it.
    rm -rf /var/run/dpdk/fnat-lab 2>/dev/null || true
    return 0
}

new_ns() {
    local ns=$1
    ip netns add "$ns"
    in_ns "$ns" ip link set lo up
    # No IPv6 anywhere in the lab: no router solicitations, ND or MLD noise on the wire.
    in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# Switches the offloads off on one veth end and checks that they are.
offloads_off() {
    local ns=$1 dev=$2 feat state
    [[ ${FNAT_LAB_OFFLOADS:-off} == keep ]] && return 0
    in_ns "$ns" ethtool -K "$dev" "${OFFLOAD_ARGS[@]}" >/dev/null 2>&1 || true
    for feat in "${OFFLOAD_FEATURES[@]}"; do
        state=$(in_ns "$ns" ethtool -k "$dev" | awk -v f="$feat:" '$1 == f { print $2 }')
        [[ -z $state || $state == off ]] || die "$ns/$dev: $feat is still $state"
    done
}

# sysctl -w in a namespace, quietly.
ns_sysctl() {
    local ns=$1
    shift
    in_ns "$ns" sysctl -qw "$@"
}

build() {
    local rs ns dev
    say "creating namespaces ${ALL_NS[*]}"
    for ns in "${ALL_NS[@]}"; do new_ns "$ns"; done

    say "wiring veths (client <-> gw: cl0/lan0; gw <-> switch: dmz0/sw-gw; rsN: eth0/sw-rsN;" \
        "router: rt-sw/sw-rt, rt-cl/cl1)"
    ip link add lan0 netns "$NS_GW" address "$GW_LAN_MAC" type veth \
        peer name cl0 netns "$NS_CLIENT" address "$CLIENT_MAC"
    ip link add dmz0 netns "$NS_GW" address "$GW_DMZ_MAC" type veth \
        peer name sw-gw netns "$NS_SW"
    for rs in "${RS_NAMES[@]}"; do
        ip link add eth0 netns "fnat-$rs" address "$(rs_mac "$rs")" type veth \
            peer name "sw-$rs" netns "$NS_SW"
    done
    ip link add rt-sw netns "$NS_ROUTER" address "$ROUTER_SW_MAC" type veth \
        peer name sw-rt netns "$NS_SW"
    ip link add rt-cl netns "$NS_ROUTER" address "$ROUTER_CL_MAC" type veth \
        peer name cl1 netns "$NS_CLIENT" address "$CLIENT1_MAC"

    # The gateway namespace: fnatd owns lan0 and dmz0 through af_packet; its kernel stays quiet
    # (no addresses, no ARP, no IPv6, no forwarding). Its own traffic goes through fnatd's kernel
    # twins (the tap interfaces lan and dmz, with the ports' addresses): strict reverse-path
    # filtering on lan0/dmz0 (no route points at them) keeps the kernel from also taking the frames
    # it sees there, which carry the twins' MAC addresses (as a NIC bound to DPDK would not show
    # them to the kernel at all).
    ns_sysctl "$NS_GW" net.ipv4.ip_forward=0 net.ipv4.conf.all.arp_ignore=8 \
        net.ipv4.conf.default.arp_ignore=8
    for dev in lan0 dmz0; do
        ns_sysctl "$NS_GW" "net.ipv6.conf.$dev.disable_ipv6=1" "net.ipv4.conf.$dev.arp_ignore=8" \
            "net.ipv4.conf.$dev.rp_filter=1"
        in_ns "$NS_GW" ip link set "$dev" arp off
    done
    in_ns "$NS_GW" ip link set dmz0 mtu "$DMZ_MTU"
    for dev in lan0 dmz0; do in_ns "$NS_GW" ip link set "$dev" up; done

    # The client: requests leave by cl0 (10.0.0.0/24, the VIP is on-link there: fnatd answers ARP);
    # DR/TUN replies from the VIP come back on cl1 from the router. rp_filter off, or the kernel
    # would drop them: its route back to 10.0.0.100 is via cl0, not cl1.
    ns_sysctl "$NS_CLIENT" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    for dev in cl0 cl1; do
        ns_sysctl "$NS_CLIENT" "net.ipv6.conf.$dev.disable_ipv6=1" "net.ipv4.conf.$dev.rp_filter=0"
    done
    in_ns "$NS_CLIENT" ip addr add "$CLIENT_IP" dev cl0
    in_ns "$NS_CLIENT" ip addr add "$CLIENT1_IP/24" dev cl1
    in_ns "$NS_CLIENT" ip link set cl0 up
    in_ns "$NS_CLIENT" ip link set cl1 up

    # The switch: a plain learning bridge, forwarding at once (no STP, no forward delay).
    in_ns "$NS_SW" ip link add br0 type bridge stp_state 0 forward_delay 0
    ns_sysctl "$NS_SW" net.ipv6.conf.br0.disable_ipv6=1
    for dev in sw-gw sw-rs1 sw-rs2 sw-rs3 sw-rt; do
        ns_sysctl "$NS_SW" "net.ipv6.conf.$dev.disable_ipv6=1"
        in_ns "$NS_SW" ip link set "$dev" mtu "$DMZ_MTU"
        in_ns "$NS_SW" ip link set "$dev" master br0
        in_ns "$NS_SW" ip link set "$dev" up
    done
    in_ns "$NS_SW" ip link set br0 mtu "$DMZ_MTU"
    in_ns "$NS_SW" ip link set br0 up

    # The router: forwards the real servers' direct replies (source VIP) to the client's cl1. Only
    # that direction: requests never come this way. rp_filter off (it has no route back to the VIP
    # through rt-sw), no redirects, ARP answered only for the address of the asking interface.
    ns_sysctl "$NS_ROUTER" net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.send_redirects=0 \
        net.ipv4.conf.all.arp_ignore=1
    for dev in rt-sw rt-cl; do
        ns_sysctl "$NS_ROUTER" "net.ipv6.conf.$dev.disable_ipv6=1" "net.ipv4.conf.$dev.rp_filter=0" \
            "net.ipv4.conf.$dev.send_redirects=0"
    done
    in_ns "$NS_ROUTER" ip link set rt-sw mtu "$DMZ_MTU"
    in_ns "$NS_ROUTER" ip addr add "$ROUTER_SW_IP/24" dev rt-sw
    in_ns "$NS_ROUTER" ip addr add "$ROUTER_CL_IP/24" dev rt-cl
    in_ns "$NS_ROUTER" ip link set rt-sw up
    in_ns "$NS_ROUTER" ip link set rt-cl up
    in_ns "$NS_ROUTER" ip route add "$CLIENT_NET" via "$CLIENT1_IP" dev rt-cl

    # The real servers, ready for every mode at once:
    # - FULLNAT: replies to the local address 10.1.0.10 go straight over the bridge (on-link);
    # - NAT: replies from the RIP to the client follow the default route via fnatd's 10.1.0.1;
    # - DR/TUN: the VIP on lo (accepts client -> VIP); ARP for it never answered or announced on
    #   eth0 (arp_ignore=1, arp_announce=2); replies sourced from the VIP take table $VIP_TABLE
    #   (default via the router), bypassing fnatd;
    # - TUN: a TUN device $TUN_DEV into which lab/ipip_decap.py writes the decapsulated packets
    #   (rp_filter off: the route back to the client is via eth0, not $TUN_DEV).
    for rs in "${RS_NAMES[@]}"; do
        ns=fnat-$rs
        ns_sysctl "$ns" net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
            net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 \
            net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
            net.ipv4.conf.eth0.rp_filter=0 net.ipv6.conf.eth0.disable_ipv6=1
        in_ns "$ns" ip link set eth0 mtu "$DMZ_MTU"
        in_ns "$ns" ip addr add "$(rs_ip "$rs")/24" dev eth0
        in_ns "$ns" ip link set eth0 up
        in_ns "$ns" ip route add default via "$DMZ_GW_IP"
        in_ns "$ns" ip addr add "$VIP/32" dev lo
        in_ns "$ns" ip route add default via "$ROUTER_SW_IP" dev eth0 table "$VIP_TABLE"
        in_ns "$ns" ip rule add pref "$VIP_RULE_PREF" from "$VIP" lookup "$VIP_TABLE"
        in_ns "$ns" ip tuntap add dev "$TUN_DEV" mode tun
        ns_sysctl "$ns" "net.ipv6.conf.$TUN_DEV.disable_ipv6=1" "net.ipv4.conf.$TUN_DEV.rp_filter=0"
        in_ns "$ns" ip link set "$TUN_DEV" up
    done

    if [[ ${FNAT_LAB_OFFLOADS:-off} == keep ]]; then
        warn "FNAT_LAB_OFFLOADS=keep: veth offloads left on; af_packet will read bad frames"
    else
        say "switching off checksum/segmentation/GRO/VLAN offloads on every veth end"
    fi
    local end
    for end in "${VETH_ENDS[@]}"; do
        # shellcheck disable=SC2086
        offloads_off $end
    done
}

# start_server RS KIND SCRIPT ARGS...: one process of lab/ in a real server's namespace.
start_server() {
    local rs=$1 kind=$2 script=$3
    shift 3
    # In its own session (a signal to the caller's process group does not reach it). Not a group
    # leader here, so setsid does not fork and $! is the server's pid (ip netns exec execs it);
    # the server writes the same pid again once it listens.
    setsid ip netns exec "fnat-$rs" python3 -u "$ROOT/lab/$script" --name "$rs" "$@" \
        --pidfile "$RUN/$rs-$kind.pid" >"$RUN/$rs-$kind.log" 2>&1 </dev/null &
    echo "$!" >"$RUN/$rs-$kind.pid"
}

# start_kind RS KIND: the lab's server of that kind in a real server.
start_kind() {
    case $2 in
    http) start_server "$1" http http_server.py --port "$HTTP_PORT" --port "$HTTP_DIRECT_PORT" --port "$HTTP_MARK_PORT" ;;
    udp) start_server "$1" udp udp_echo.py --port "$UDP_PORT" --port "$UDP_DIRECT_PORT" ;;
    tcp) start_server "$1" tcp tcp_echo.py --port "$TCP_PORT" ;;
    ipip) start_server "$1" ipip ipip_decap.py --dev "$TUN_DEV" ;;
    *) die "unknown server kind '$2' (${KINDS[*]})" ;;
    esac
}

# stop_kind RS KIND: stops that server (by the pid the lab recorded), waiting until it is gone.
stop_kind() {
    local pid i
    pid=$(cat "$RUN/$1-$2.pid" 2>/dev/null || true)
    [[ -n $pid ]] || die "no $1 $2 server is recorded in $RUN"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$RUN/$1-$2.pid"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$RUN/$1-$2.pid"
}

# Waits (bounded) until one server answers inside its namespace.
wait_server() {
    local rs=$1 kind=$2 i got want pid port
    for i in $(seq 1 50); do
        case $kind in
        http)
            want="$rs $rs $rs"
            got=""
            for port in "$HTTP_PORT" "$HTTP_DIRECT_PORT" "$HTTP_MARK_PORT"; do
                got+=" $(in_ns "fnat-$rs" curl -s --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null || true)"
            done
            got=${got# }
            ;;
        udp)
            want="127.0.0.1:$UDP_PORT $rs ready 127.0.0.1:$UDP_DIRECT_PORT $rs ready"
            got=""
            for port in "$UDP_PORT" "$UDP_DIRECT_PORT"; do
                got+=" $(in_ns "fnat-$rs" python3 "$ROOT/lab/probe.py" udp 127.0.0.1 "$port" ready --timeout 0.5 2>/dev/null || true)"
            done
            got=${got# }
            ;;
        ipip)
            # Ready once it has the raw socket and holds the TUN device (which then has a carrier).
            want="attached LOWER_UP"
            got=""
            if grep -q " $TUN_DEV attached" "$RUN/$rs-$kind.log" 2>/dev/null; then got="attached"; fi
            if [[ $(in_ns "fnat-$rs" ip link show "$TUN_DEV" 2>/dev/null) == *LOWER_UP* ]]; then
                got+=" LOWER_UP"
            fi
            ;;
        tcp)
            want="$rs ready"
            got=$(in_ns "fnat-$rs" python3 "$ROOT/lab/probe.py" tcp 127.0.0.1 "$TCP_PORT" ready --timeout 0.5 2>/dev/null | tail -n 1 || true)
            ;;
        esac
        [[ $got == "$want" ]] && return 0
        pid=$(cat "$RUN/$rs-$kind.pid" 2>/dev/null || true)
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            warn "$rs $kind server (pid $pid) died; its log:"
            sed 's/^/  /' "$RUN/$rs-$kind.log" >&2 || true
            return 1
        fi
        sleep 0.2
    done
    warn "$rs $kind server does not answer after 10 s (last answer: '${got}'); its log:"
    sed 's/^/  /' "$RUN/$rs-$kind.log" >&2 || true
    return 1
}

start_servers() {
    local rs kind
    mkdir -p "$RUN"
    say "starting servers in each real server: HTTP :$HTTP_PORT, :$HTTP_DIRECT_PORT and :$HTTP_MARK_PORT," \
        "UDP echo :$UDP_PORT and :$UDP_DIRECT_PORT, TCP echo :$TCP_PORT, IPIP decapsulator -> $TUN_DEV"
    for rs in "${RS_NAMES[@]}"; do
        for kind in "${KINDS[@]}"; do start_kind "$rs" "$kind"; done
    done
    for rs in "${RS_NAMES[@]}"; do
        for kind in "${KINDS[@]}"; do
            wait_server "$rs" "$kind" || die "the $rs $kind server did not come up"
        done
    done
}

UP_DONE=0
on_up_exit() {
    local rc=$?
    ((UP_DONE)) && return 0
    trap - ERR
    ((rc)) || rc=1
    warn "up failed (exit $rc); tearing down what was built"
    down >/dev/null 2>&1 || true
    exit "$rc"
}

up() {
    need_root
    deps
    say "tearing down leftovers"
    down
    trap 'warn "failed at line $LINENO: $BASH_COMMAND"' ERR
    trap on_up_exit EXIT
    trap 'exit 130' INT TERM
    mkdir -p "$RUN"
    build
    start_servers
    UP_DONE=1
    trap - ERR EXIT INT TERM
    say "up"
    status
}

# A sysctl's value in a namespace (empty when unreadable).
ns_sysctl_get() {
    in_ns "$1" sysctl -n "$2" 2>/dev/null || true
}

# "via GW dev DEV" of the route the kernel picks in namespace $1 for `ip route get ARGS...`.
route_via() {
    local ns=$1
    shift
    in_ns "$ns" ip -o route get "$@" 2>/dev/null |
        awk '{ v = ""; d = ""; for (i = 1; i < NF; i++) { if ($i == "via") v = $(i + 1); if ($i == "dev") d = $(i + 1) }
               printf "%s", (v == "" ? "on-link" : "via " v) " dev " d }'
}

# One line on a real server's setup for NAT, DR and TUN; non-zero when something is off.
rs_check() {
    local rs=$1 ns=fnat-$1 bad="" v want
    ns_exists "$ns" || return 1
    # (Command output into variables, not `| grep -q`: with pipefail, grep's early exit can fail
    # the pipeline with SIGPIPE.)
    [[ $(in_ns "$ns" ip -o addr show dev lo) == *" $VIP/32 "* ]] || bad+=" no-VIP-on-lo"
    for v in all eth0; do
        [[ $(ns_sysctl_get "$ns" "net.ipv4.conf.$v.arp_ignore") == 1 ]] || bad+=" $v.arp_ignore!=1"
        [[ $(ns_sysctl_get "$ns" "net.ipv4.conf.$v.arp_announce") == 2 ]] || bad+=" $v.arp_announce!=2"
    done
    for v in all eth0 "$TUN_DEV"; do
        [[ $(ns_sysctl_get "$ns" "net.ipv4.conf.$v.rp_filter") == 0 ]] || bad+=" $v.rp_filter!=0"
    done
    [[ $'\n'$(in_ns "$ns" ip rule show) == *$'\n'"$VIP_RULE_PREF:"*"from $VIP lookup $VIP_TABLE"* ]] ||
        bad+=" no-rule"
    v=$(route_via "$ns" "${CLIENT_IP%/*}" from "$VIP")
    want="via $ROUTER_SW_IP dev eth0"
    [[ $v == "$want" ]] || bad+=" from-VIP:'$v'"
    v=$(route_via "$ns" "${CLIENT_IP%/*}" from "$(rs_ip "$rs")")
    [[ $v == "via $DMZ_GW_IP dev eth0" ]] || bad+=" from-RIP:'$v'"
    [[ $(in_ns "$ns" ip link show "$TUN_DEV" 2>/dev/null) == *LOWER_UP* ]] || bad+=" $TUN_DEV-no-carrier"
    printf '  %-4s VIP %s/32 on lo, arp_ignore 1 arp_announce 2 (all, eth0), rp_filter 0;' "$rs" "$VIP"
    printf ' from VIP: %s (table %s); from RIP: via %s; %s carrier; eth0 mtu %s' \
        "$want" "$VIP_TABLE" "$DMZ_GW_IP" "$TUN_DEV" \
        "$(in_ns "$ns" cat /sys/class/net/eth0/mtu 2>/dev/null || echo '?')"
    if [[ -n $bad ]]; then
        printf ' -- BAD:%s\n' "$bad"
        return 1
    fi
    printf ' -- ok\n'
}

# The router and the client's second leg; non-zero when something is off.
direct_path_check() {
    local bad="" v
    if ns_exists "$NS_ROUTER"; then
        [[ $(ns_sysctl_get "$NS_ROUTER" net.ipv4.ip_forward) == 1 ]] || bad+=" router-ip_forward!=1"
        [[ $(ns_sysctl_get "$NS_ROUTER" net.ipv4.conf.all.rp_filter) == 0 ]] || bad+=" router-rp_filter"
        v=$(route_via "$NS_ROUTER" "${CLIENT_IP%/*}")
        [[ $v == "via $CLIENT1_IP dev rt-cl" ]] || bad+=" router-route:'$v'"
    else
        bad+=" no-$NS_ROUTER"
    fi
    if ns_exists "$NS_CLIENT"; then
        for v in all cl1; do
            [[ $(ns_sysctl_get "$NS_CLIENT" "net.ipv4.conf.$v.rp_filter") == 0 ]] || bad+=" client-$v.rp_filter"
        done
        v=$(route_via "$NS_CLIENT" "$VIP")
        [[ $v == "on-link dev cl0" ]] || bad+=" client-route-to-VIP:'$v'"
    fi
    printf '  router %s (ip_forward 1, rp_filter 0): %s via %s dev rt-cl;' "$NS_ROUTER" "$CLIENT_NET" "$CLIENT1_IP"
    printf ' client: VIP on-link via cl0, replies accepted on cl1 (rp_filter 0)'
    if [[ -n $bad ]]; then
        printf ' -- BAD:%s\n' "$bad"
        return 1
    fi
    printf ' -- ok\n'
}

# Prints the lab's state; exit status 0 when every namespace exists, every server runs and the
# NAT/DR/TUN setup (routes, rules, sysctls, the TUN devices) is in place.
status() {
    local ns rs kind pid f state end dev bad feat s pids ok=0
    echo "namespaces:"
    for ns in "${ALL_NS[@]}"; do
        if ns_exists "$ns"; then
            echo "  $ns:"
            # lo only when it holds more than 127.0.0.1 (the VIP on the real servers).
            in_ns "$ns" ip -br addr show 2>/dev/null |
                awk '$1 != "lo" || NF > 3 { printf "    %s\n", $0 }'
        else
            echo "  $ns: absent"
            ok=1
        fi
    done
    echo "servers:"
    for rs in "${RS_NAMES[@]}"; do
        for kind in "${KINDS[@]}"; do
            f=$RUN/$rs-$kind.pid
            pid=$(cat "$f" 2>/dev/null || true)
            if [[ -z $pid ]]; then
                state="not started"
                ok=1
            elif is_lab_pid "$pid"; then
                state="running (pid $pid, log $RUN/$rs-$kind.log)"
            else
                state="dead (pid $pid)"
                ok=1
            fi
            printf '  %-4s %-4s %s\n' "$rs" "$kind" "$state"
        done
    done
    echo "NAT/DR/TUN setup:"
    direct_path_check || ok=1
    for rs in "${RS_NAMES[@]}"; do
        if ns_exists "fnat-$rs"; then rs_check "$rs" || ok=1; fi
    done
    echo "offloads (${OFFLOAD_FEATURES[*]}):"
    for end in "${VETH_ENDS[@]}"; do
        ns=${end% *}
        dev=${end#* }
        ns_exists "$ns" || continue
        bad=""
        for feat in "${OFFLOAD_FEATURES[@]}"; do
            s=$(in_ns "$ns" ethtool -k "$dev" 2>/dev/null | awk -v f="$feat:" '$1 == f { print $2 }')
            [[ -z $s || $s == off ]] || bad+=" $feat"
        done
        if [[ -n $bad ]]; then bad="ON:$bad"; else bad="all off"; fi
        printf '  %-12s %-7s %s\n' "$ns" "$dev" "$bad"
    done
    echo "other processes in the lab namespaces:"
    pids=""
    for ns in "${ALL_NS[@]}"; do
        ns_exists "$ns" || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            is_lab_pid "$pid" && continue
            echo "  $ns: pid $pid: $(ps -o args= -p "$pid" 2>/dev/null | cut -c1-100)"
            pids+=" $pid"
        done
    done
    [[ -n $pids ]] || echo "  none"
    return "$ok"
}

ns_name() {
    case $1 in
    client | gw | sw | router | rs1 | rs2 | rs3) echo "fnat-$1" ;;
    fnat-client | fnat-gw | fnat-sw | fnat-router | fnat-rs1 | fnat-rs2 | fnat-rs3) echo "$1" ;;
    *) die "unknown namespace '$1' (client, gw, sw, router, rs1, rs2, rs3)" ;;
    esac
}

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

cmd=${1:-}
shift || true
case $cmd in
up) up ;;
down)
    need_root
    down
    say "down"
    ;;
status) status ;;
stop-server | start-server)
    need_root
    [[ $# -eq 2 ]] || die "usage: scripts/lab.sh $cmd rs1|rs2|rs3 http|udp|tcp|ipip"
    [[ " ${RS_NAMES[*]} " == *" $1 "* ]] || die "unknown real server '$1' (${RS_NAMES[*]})"
    if [[ $cmd == stop-server ]]; then
        stop_kind "$1" "$2"
        say "$1 $2 stopped"
    else
        start_kind "$1" "$2"
        wait_server "$1" "$2" || die "the $1 $2 server did not come up"
        say "$1 $2 started"
    fi
    ;;
exec)
    need_root
    [[ $# -ge 2 ]] || die "usage: scripts/lab.sh exec NS CMD..."
    ns=$(ns_name "$1")
    shift
    ns_exists "$ns" || die "namespace $ns does not exist (scripts/lab.sh up)"
    exec ip netns exec "$ns" "$@"
    ;;
-h | --help | help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
