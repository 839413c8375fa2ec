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
#   scripts/lab.sh exec NS CMD...   run CMD in a lab namespace (NS: client, gw, gw2 (HA), sw, router,
#                                   rs1..rs3 or fnat-*)
#   scripts/lab.sh stop-server RS KIND    stop one real server's server (RS: rs1..rs3; KIND: http, udp,
#   scripts/lab.sh start-server RS KIND   tcp, ipip), or start it again (a health check's failure)
#   scripts/lab.sh partition | heal       HA variant only: isolate the gateways' bridge ports from
#                                         each other on br0 and br1 (a split brain), or undo it
#
# FNAT_LAB_HA=1 scripts/lab.sh up builds the HA variant (docs/LAB.md, "The HA variant"): two gateway
# namespaces fnat-gw (A) and fnat-gw2 (B), each with lan0 and dmz0, the client side a bridge br1 in
# fnat-sw. The other commands follow the variant the lab was brought up as (FNAT_LAB_HA=0 or 1
# overrides that); `down` removes what either variant built. FNAT_LAB_GW2=kernel (with up) leaves
# fnat-gw2's lan0/dmz0 usable by its kernel (ARP on) for a keepalived there instead of fnatd.
#
# Runs as root. Installs what it needs if missing (iproute2, ethtool, python3, curl, wrk, tcpdump, ping,
# keepalived).
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
NS_GW2=fnat-gw2
NS_SW=fnat-sw
NS_ROUTER=fnat-router
RS_NAMES=(rs1 rs2 rs3)

# Which variant: FNAT_LAB_HA=1 or 0; unset, `up` builds the plain lab and the other commands follow
# the variant that is up ($RUN/ha marks the HA one).
case ${FNAT_LAB_HA:-} in
1) HA=1 ;;
0) HA=0 ;;
'') if [[ ${1:-} != up && -e $RUN/ha ]]; then HA=1; else HA=0; fi ;;
*)
    printf 'lab: error: FNAT_LAB_HA must be 0 or 1, not "%s"\n' "$FNAT_LAB_HA" >&2
    exit 2
    ;;
esac
# fnat-gw2's kernel: "quiet" as fnat-gw's (for fnatd), or "kernel" (for keepalived; HA only).
GW2_MODE=${FNAT_LAB_GW2:-quiet}
[[ $GW2_MODE == quiet || $GW2_MODE == kernel ]] || {
    printf 'lab: error: FNAT_LAB_GW2 must be quiet or kernel, not "%s"\n' "$GW2_MODE" >&2
    exit 2
}
if ((HA)); then
    ALL_NS=("$NS_CLIENT" "$NS_GW" "$NS_GW2" "$NS_SW" "$NS_ROUTER" fnat-rs1 fnat-rs2 fnat-rs3)
else
    ALL_NS=("$NS_CLIENT" "$NS_GW" "$NS_SW" "$NS_ROUTER" fnat-rs1 fnat-rs2 fnat-rs3)
fi
# What `down` removes, whatever the variant.
ANY_NS=("$NS_CLIENT" "$NS_GW" "$NS_GW2" "$NS_SW" "$NS_ROUTER" fnat-rs1 fnat-rs2 fnat-rs3)

# The addresses other code depends on.
GW_LAN_MAC=02:00:00:00:00:01
GW_DMZ_MAC=02:00:00:00:00:02
# HA: gateway B's ports (gateway A, fnat-gw, keeps the MACs above). The ports' addresses are in
# fnatd's configurations (configs/lab-ha-a.toml, lab-ha-b.toml), none in the kernel.
GW2_LAN_MAC=02:00:00:00:01:01
GW2_DMZ_MAC=02:00:00:00:01:02
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

# Every veth end of the lab, as "namespace device", and the bridges' ports (in $NS_SW).
# Plain: cl0 <-> lan0 directly, dmz0 <-> sw-gw on br0.
# HA: cl0 <-> sw-cl, lan0 <-> sw-gw1l (A), sw-gw2l (B) on br1; dmz0 <-> sw-gw1d (A), sw-gw2d (B) on
# br0. GW_PORTS: the gateways' bridge ports, which `partition` isolates from each other.
if ((HA)); then
    VETH_ENDS=(
        "$NS_CLIENT cl0" "$NS_SW sw-cl"
        "$NS_GW lan0" "$NS_SW sw-gw1l"
        "$NS_GW dmz0" "$NS_SW sw-gw1d"
        "$NS_GW2 lan0" "$NS_SW sw-gw2l"
        "$NS_GW2 dmz0" "$NS_SW sw-gw2d"
    )
    BR0_PORTS=(sw-gw1d sw-gw2d)
    BR1_PORTS=(sw-cl sw-gw1l sw-gw2l)
    GW_PORTS=(sw-gw1l sw-gw2l sw-gw1d sw-gw2d)
else
    VETH_ENDS=(
        "$NS_GW lan0" "$NS_CLIENT cl0"
        "$NS_GW dmz0" "$NS_SW sw-gw"
    )
    BR0_PORTS=(sw-gw)
    BR1_PORTS=()
    GW_PORTS=()
fi
VETH_ENDS+=(
    "fnat-rs1 eth0" "$NS_SW sw-rs1"
    "fnat-rs2 eth0" "$NS_SW sw-rs2"
    "fnat-rs3 eth0" "$NS_SW sw-rs3"
    "$NS_ROUTER rt-sw" "$NS_SW sw-rt"
    "$NS_ROUTER rt-cl" "$NS_CLIENT cl1"
)
BR0_PORTS+=(sw-rs1 sw-rs2 sw-rs3 sw-rt)
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
    for pair in ip:iproute2 ethtool:ethtool python3:python3 curl:curl wrk:wrk tcpdump:tcpdump ping:iputils-ping keepalived:keepalived; do
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
    for ns in "${ANY_NS[@]}"; do
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
    for ns in "${ANY_NS[@]}"; do
        if ns_exists "$ns"; then
            ip netns del "$ns" 2>/dev/null || warn "could not delete namespace $ns"
        fi
    done
    rm -rf "$RUN"
    # fnatd's DPDK runtime directories (file_prefix "fnat-lab"; HA: "fnat-lab-a", "fnat-lab-b"),
    # once nothing uses them.
    rm -rf /var/run/dpdk/fnat-lab /var/run/dpdk/fnat-lab-a /var/run/dpdk/fnat-lab-b 2>/dev/null || true
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

# The gateway namespace $1: fnatd owns lan0 and dmz0 through af_packet; its kernel stays quiet
# (no addresses, no ARP, no IPv6, no forwarding). Its own traffic goes through fnatd's kernel twins
# (the tap interfaces lan and dmz, with the ports' addresses): strict reverse-path filtering on
# lan0/dmz0 (no route points at them) keeps the kernel from also taking the frames it sees there,
# which carry the twins' MAC addresses (as a NIC bound to DPDK would not show them to the kernel at
# all). With $2 = kernel (FNAT_LAB_GW2=kernel, fnat-gw2 only) lan0/dmz0 are left to the kernel
# instead, for keepalived: ARP on, arp_ignore 0; still no address (whoever runs there adds them),
# no IPv6, no forwarding, rp_filter 1.
gateway_setup() {
    local ns=$1 mode=${2:-quiet} dev
    if [[ $mode == kernel ]]; then
        ns_sysctl "$ns" net.ipv4.ip_forward=0
        for dev in lan0 dmz0; do
            ns_sysctl "$ns" "net.ipv6.conf.$dev.disable_ipv6=1" "net.ipv4.conf.$dev.arp_ignore=0" \
                "net.ipv4.conf.$dev.rp_filter=1"
        done
    else
        ns_sysctl "$ns" net.ipv4.ip_forward=0 net.ipv4.conf.all.arp_ignore=8 \
            net.ipv4.conf.default.arp_ignore=8
        for dev in lan0 dmz0; do
            ns_sysctl "$ns" "net.ipv6.conf.$dev.disable_ipv6=1" "net.ipv4.conf.$dev.arp_ignore=8" \
                "net.ipv4.conf.$dev.rp_filter=1"
            in_ns "$ns" ip link set "$dev" arp off
        done
    fi
    in_ns "$ns" ip link set dmz0 mtu "$DMZ_MTU"
    for dev in lan0 dmz0; do in_ns "$ns" ip link set "$dev" up; done
}

# A plain learning bridge $1 in $NS_SW with ports $3..., forwarding at once (no STP, no forward
# delay), every device at MTU $2.
bridge_setup() {
    local br=$1 mtu=$2 dev
    shift 2
    in_ns "$NS_SW" ip link add "$br" type bridge stp_state 0 forward_delay 0
    ns_sysctl "$NS_SW" "net.ipv6.conf.$br.disable_ipv6=1"
    for dev in "$@"; do
        ns_sysctl "$NS_SW" "net.ipv6.conf.$dev.disable_ipv6=1"
        in_ns "$NS_SW" ip link set "$dev" mtu "$mtu"
        in_ns "$NS_SW" ip link set "$dev" master "$br"
        in_ns "$NS_SW" ip link set "$dev" up
    done
    in_ns "$NS_SW" ip link set "$br" mtu "$mtu"
    in_ns "$NS_SW" ip link set "$br" up
}

build() {
    local rs ns dev
    say "creating namespaces ${ALL_NS[*]}"
    for ns in "${ALL_NS[@]}"; do new_ns "$ns"; done

    if ((HA)); then
        say "wiring veths (client <-> br1: cl0/sw-cl; gw A: lan0/sw-gw1l on br1, dmz0/sw-gw1d on br0;" \
            "gw B: lan0/sw-gw2l, dmz0/sw-gw2d; rsN: eth0/sw-rsN; router: rt-sw/sw-rt, rt-cl/cl1)"
        ip link add cl0 netns "$NS_CLIENT" address "$CLIENT_MAC" type veth \
            peer name sw-cl netns "$NS_SW"
        ip link add lan0 netns "$NS_GW" address "$GW_LAN_MAC" type veth \
            peer name sw-gw1l netns "$NS_SW"
        ip link add dmz0 netns "$NS_GW" address "$GW_DMZ_MAC" type veth \
            peer name sw-gw1d netns "$NS_SW"
        ip link add lan0 netns "$NS_GW2" address "$GW2_LAN_MAC" type veth \
            peer name sw-gw2l netns "$NS_SW"
        ip link add dmz0 netns "$NS_GW2" address "$GW2_DMZ_MAC" type veth \
            peer name sw-gw2d netns "$NS_SW"
    else
        say "wiring veths (client <-> gw: cl0/lan0; gw <-> switch: dmz0/sw-gw; rsN: eth0/sw-rsN;" \
            "router: rt-sw/sw-rt, rt-cl/cl1)"
        ip link add lan0 netns "$NS_GW" address "$GW_LAN_MAC" type veth \
            peer name cl0 netns "$NS_CLIENT" address "$CLIENT_MAC"
        ip link add dmz0 netns "$NS_GW" address "$GW_DMZ_MAC" type veth \
            peer name sw-gw netns "$NS_SW"
    fi
    for rs in "${RS_NAMES[@]}"; do
        ip link add eth0 netns "fnat-$rs" address "$(rs_mac "$rs")" type veth \
            peer name "sw-$rs" netns "$NS_SW"
    done
    ip link add rt-sw netns "$NS_ROUTER" address "$ROUTER_SW_MAC" type veth \
        peer name sw-rt netns "$NS_SW"
    ip link add rt-cl netns "$NS_ROUTER" address "$ROUTER_CL_MAC" type veth \
        peer name cl1 netns "$NS_CLIENT" address "$CLIENT1_MAC"

    # The gateway namespaces (HA: both; fnat-gw2 as FNAT_LAB_GW2 says).
    gateway_setup "$NS_GW"
    if ((HA)); then gateway_setup "$NS_GW2" "$GW2_MODE"; fi

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

    # The switch: br0 on the real servers' side; HA: br1 on the clients' side too (MTU 1500 there,
    # as the client side always is). VRRP adverts (224.0.0.18, link-local) are flooded to every
    # port whatever the bridge's multicast snooping does.
    bridge_setup br0 "$DMZ_MTU" "${BR0_PORTS[@]}"
    if ((HA)); then bridge_setup br1 1500 "${BR1_PORTS[@]}"; fi

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
    if ((HA)); then
        : >"$RUN/ha"
        if [[ $GW2_MODE == kernel ]]; then : >"$RUN/gw2-kernel"; fi
    fi
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

# "on" or "off": bridge port $1's isolation (bridge_slave isolated) in $NS_SW; empty when unknown.
port_isolated() {
    local out
    out=$(in_ns "$NS_SW" bridge -d link show dev "$1" 2>/dev/null || true)
    [[ $out =~ isolated\ (on|off) ]] && echo "${BASH_REMATCH[1]}"
    return 0
}

# HA: the bridges' ports, the gateways' veths and whether the gateways are partitioned; non-zero
# when a port is missing, down or on the wrong bridge, or the isolation is half done.
ha_check() {
    local br dev ports out bad="" iso isolated=0 ns label lan dmz mode flags
    echo "bridges ($NS_SW):"
    for br in br0 br1; do
        if [[ $br == br0 ]]; then ports=("${BR0_PORTS[@]}"); else ports=("${BR1_PORTS[@]}"); fi
        out=""
        for dev in "${ports[@]}"; do
            flags=$(in_ns "$NS_SW" ip -o link show dev "$dev" 2>/dev/null || true)
            if [[ $flags != *" master $br "* ]]; then
                bad+=" $dev-not-on-$br"
            elif [[ $flags != *"state UP"* ]]; then
                bad+=" $dev-down"
            fi
            iso=$(port_isolated "$dev")
            out+=" $dev"
            if [[ $iso == on ]]; then
                out+="(isolated)"
                isolated=$((isolated + 1))
            fi
        done
        printf '  %s:%s\n' "$br" "$out"
    done
    for label in A B; do
        if [[ $label == A ]]; then
            ns=$NS_GW lan=sw-gw1l dmz=sw-gw1d mode="quiet (for fnatd)"
        else
            ns=$NS_GW2 lan=sw-gw2l dmz=sw-gw2d mode="quiet (for fnatd)"
            [[ -e $RUN/gw2-kernel ]] && mode="in use (FNAT_LAB_GW2=kernel)"
        fi
        ns_exists "$ns" || continue
        out=""
        for dev in lan0 dmz0; do
            flags=$(in_ns "$ns" ip -o link show dev "$dev" 2>/dev/null || true)
            [[ $flags =~ link/ether\ ([0-9a-f:]+) ]] && out+=" $dev ${BASH_REMATCH[1]}"
            if [[ $flags == *NOARP* ]]; then out+=" (arp off)"; else out+=" (arp on)"; fi
            [[ $flags == *"state UP"* ]] || bad+=" $ns/$dev-down"
        done
        printf '  gateway %s %-8s%s; bridge ports %s (br1), %s (br0); its kernel %s\n' \
            "$label" "$ns" "$out" "$lan" "$dmz" "$mode"
    done
    if ((isolated == 0)); then
        echo "  gateways hear each other (scripts/lab.sh partition isolates them)"
    elif ((isolated == ${#GW_PORTS[@]})); then
        echo "  PARTITIONED: the gateways' ports are isolated from each other (scripts/lab.sh heal)"
    else
        bad+=" half-partitioned"
    fi
    if [[ -n $bad ]]; then
        echo "  BAD:$bad"
        return 1
    fi
    return 0
}

# partition|heal: bridge port isolation on the gateways' ports of br0 and br1. Isolated ports do
# not forward to one another (unicast, broadcast, multicast: VRRP adverts, ARP, GARPs), but do to
# and from every other port, so the client and the real servers still reach both gateways.
isolate() {
    local state=$1 dev
    need_root
    ((HA)) || die "no HA lab here (FNAT_LAB_HA=1 scripts/lab.sh up)"
    ns_exists "$NS_SW" || die "namespace $NS_SW does not exist (FNAT_LAB_HA=1 scripts/lab.sh up)"
    for dev in "${GW_PORTS[@]}"; do
        in_ns "$NS_SW" bridge link set dev "$dev" isolated "$state"
        [[ $(port_isolated "$dev") == "$state" ]] || die "$dev: isolation is not $state"
    done
}

# Prints the lab's state; exit status 0 when every namespace exists, every server runs and the
# NAT/DR/TUN setup (routes, rules, sysctls, the TUN devices) is in place (HA: and the bridges).
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
    if ((HA)) && ns_exists "$NS_SW"; then ha_check || ok=1; fi
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
    client | gw | gw2 | sw | router | rs1 | rs2 | rs3) echo "fnat-$1" ;;
    fnat-client | fnat-gw | fnat-gw2 | fnat-sw | fnat-router | fnat-rs1 | fnat-rs2 | fnat-rs3) echo "$1" ;;
    *) die "unknown namespace '$1' (client, gw, gw2 (HA), sw, router, rs1, rs2, rs3)" ;;
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
partition)
    isolate on
    say "partitioned: the gateways' ports on br0 and br1 (${GW_PORTS[*]}) are isolated from each other"
    ;;
heal)
    isolate off
    say "healed: the gateways hear each other again"
    ;;
-h | --help | help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
