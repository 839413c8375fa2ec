#!/usr/bin/env bash
# The fnat live lab: network namespaces with a real client, a gateway namespace for fnatd (two veth
# ends driven by DPDK's net_af_packet PMD), a bridge and three real servers (HTTP :8080, UDP echo
# :5353, TCP line echo :9000). See docs/LAB.md for the picture and how to run fnatd in it.
#
#   scripts/lab.sh up        build everything (tearing leftovers down first), start the servers
#   scripts/lab.sh down      stop every process in the lab namespaces, delete them (never fails)
#   scripts/lab.sh status    what exists, which servers run, veth offloads (exit 0 when all is up)
#   scripts/lab.sh exec NS CMD...   run CMD in a lab namespace (NS: client, gw, sw, rs1..rs3 or fnat-*)
#
# Runs as root. Installs what it needs if missing (iproute2, ethtool, python3, curl, wrk, tcpdump, ping).
# FNAT_LAB_OFFLOADS=keep leaves the veth offloads at the kernel's defaults (to see why they must go).
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

RUN=/run/fnat-lab
NS_CLIENT=fnat-client
NS_GW=fnat-gw
NS_SW=fnat-sw
RS_NAMES=(rs1 rs2 rs3)
ALL_NS=("$NS_CLIENT" "$NS_GW" "$NS_SW" fnat-rs1 fnat-rs2 fnat-rs3)

# The addresses other code depends on.
GW_LAN_MAC=02:00:00:00:00:01
GW_DMZ_MAC=02:00:00:00:00:02
CLIENT_MAC=02:00:00:00:0c:02
CLIENT_IP=10.0.0.2/24
DMZ_GW_IP=10.1.0.1
rs_ip() { echo "10.1.0.1${1#rs}"; }         # rs1 -> 10.1.0.11
rs_mac() { echo "02:00:00:00:0d:1${1#rs}"; } # rs1 -> 02:00:00:00:0d:11

HTTP_PORT=8080
UDP_PORT=5353
TCP_PORT=9000

# Every veth end of the lab, as "namespace device".
VETH_ENDS=(
    "$NS_GW lan0" "$NS_CLIENT cl0"
    "$NS_GW dmz0" "$NS_SW sw-gw"
    "fnat-rs1 eth0" "$NS_SW sw-rs1"
    "fnat-rs2 eth0" "$NS_SW sw-rs2"
    "fnat-rs3 eth0" "$NS_SW sw-rs3"
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

build() {
    local rs ns
    say "creating namespaces ${ALL_NS[*]}"
    for ns in "${ALL_NS[@]}"; do new_ns "$ns"; done

    say "wiring veths (client <-> gw: cl0/lan0; gw <-> switch: dmz0/sw-gw; rsN: eth0/sw-rsN)"
    ip link add lan0 netns "$NS_GW" address "$GW_LAN_MAC" type veth \
        peer name cl0 netns "$NS_CLIENT" address "$CLIENT_MAC"
    ip link add dmz0 netns "$NS_GW" address "$GW_DMZ_MAC" type veth \
        peer name sw-gw netns "$NS_SW"
    for rs in "${RS_NAMES[@]}"; do
        ip link add eth0 netns "fnat-$rs" address "$(rs_mac "$rs")" type veth \
            peer name "sw-$rs" netns "$NS_SW"
    done

    # The gateway namespace: fnatd owns lan0 and dmz0 through af_packet; its kernel stays quiet
    # (no addresses, no ARP, no IPv6, no forwarding).
    in_ns "$NS_GW" sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.arp_ignore=8 \
        net.ipv4.conf.default.arp_ignore=8
    for dev in lan0 dmz0; do
        in_ns "$NS_GW" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1" "net.ipv4.conf.$dev.arp_ignore=8"
        in_ns "$NS_GW" ip link set "$dev" arp off
        in_ns "$NS_GW" ip link set "$dev" up
    done

    # The client.
    in_ns "$NS_CLIENT" sysctl -qw net.ipv6.conf.cl0.disable_ipv6=1
    in_ns "$NS_CLIENT" ip addr add "$CLIENT_IP" dev cl0
    in_ns "$NS_CLIENT" ip link set cl0 up

    # The switch: a plain learning bridge, forwarding at once (no STP, no forward delay).
    in_ns "$NS_SW" ip link add br0 type bridge stp_state 0 forward_delay 0
    in_ns "$NS_SW" sysctl -qw net.ipv6.conf.br0.disable_ipv6=1
    for dev in sw-gw sw-rs1 sw-rs2 sw-rs3; do
        in_ns "$NS_SW" sysctl -qw "net.ipv6.conf.$dev.disable_ipv6=1"
        in_ns "$NS_SW" ip link set "$dev" master br0
        in_ns "$NS_SW" ip link set "$dev" up
    done
    in_ns "$NS_SW" ip link set br0 up

    # The real servers: replies to the FULLNAT local address 10.1.0.10 go straight over the bridge;
    # anything else via fnatd's dmz address.
    for rs in "${RS_NAMES[@]}"; do
        ns=fnat-$rs
        in_ns "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1
        in_ns "$ns" ip addr add "$(rs_ip "$rs")/24" dev eth0
        in_ns "$ns" ip link set eth0 up
        in_ns "$ns" ip route add default via "$DMZ_GW_IP"
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

start_server() {
    local rs=$1 kind=$2 script=$3 port=$4
    # In its own session (a signal to the caller's process group does not reach it). Not a group
    # leader here, so setsid does not fork and $! is the server's pid (ip netns exec execs it);
    # the server writes the same pid again once it listens.
    setsid ip netns exec "fnat-$rs" python3 -u "$ROOT/lab/$script" --name "$rs" --port "$port" \
        --pidfile "$RUN/$rs-$kind.pid" >"$RUN/$rs-$kind.log" 2>&1 </dev/null &
    echo "$!" >"$RUN/$rs-$kind.pid"
}

# Waits (bounded) until one server answers inside its namespace.
wait_server() {
    local rs=$1 kind=$2 i got want pid
    for i in $(seq 1 50); do
        case $kind in
        http)
            want="$rs"
            got=$(in_ns "fnat-$rs" curl -s --max-time 1 "http://127.0.0.1:$HTTP_PORT/" 2>/dev/null || true)
            ;;
        udp)
            want="127.0.0.1:$UDP_PORT $rs ready"
            got=$(in_ns "fnat-$rs" python3 "$ROOT/lab/probe.py" udp 127.0.0.1 "$UDP_PORT" ready --timeout 0.5 2>/dev/null || true)
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
    say "starting servers: HTTP :$HTTP_PORT, UDP echo :$UDP_PORT, TCP echo :$TCP_PORT in each real server"
    for rs in "${RS_NAMES[@]}"; do
        start_server "$rs" http http_server.py "$HTTP_PORT"
        start_server "$rs" udp udp_echo.py "$UDP_PORT"
        start_server "$rs" tcp tcp_echo.py "$TCP_PORT"
    done
    for rs in "${RS_NAMES[@]}"; do
        for kind in http udp tcp; do
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

# Prints the lab's state; exit status 0 when every namespace exists and every server runs.
status() {
    local ns rs kind pid f state end dev bad feat s pids ok=0
    echo "namespaces:"
    for ns in "${ALL_NS[@]}"; do
        if ns_exists "$ns"; then
            echo "  $ns:"
            in_ns "$ns" ip -br addr show 2>/dev/null | awk '$1 != "lo" { printf "    %s\n", $0 }'
        else
            echo "  $ns: absent"
            ok=1
        fi
    done
    echo "servers:"
    for rs in "${RS_NAMES[@]}"; do
        for kind in http udp tcp; do
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
    client | gw | sw | rs1 | rs2 | rs3) echo "fnat-$1" ;;
    fnat-client | fnat-gw | fnat-sw | fnat-rs1 | fnat-rs2 | fnat-rs3) echo "$1" ;;
    *) die "unknown namespace '$1' (client, gw, sw, rs1, rs2, rs3)" ;;
    esac
}

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
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
