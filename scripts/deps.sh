#!/usr/bin/env bash
# Installs what fnat needs to build and run, if missing: DPDK 22.11 (libdpdk-dev, dpdk, and
# dpdk-dev for dpdk-testpmd, the benchmarks' ceiling), libclang-dev for bindgen, pkg-config, libpcap-dev for net_pcap, and the live lab's
# tools (iproute2, ethtool, python3, curl, wrk, tcpdump, ping). Safe to run again; does nothing
# when all is there.
set -euo pipefail

need=()
dpkg -s libdpdk-dev >/dev/null 2>&1 || need+=(libdpdk-dev)
dpkg -s dpdk >/dev/null 2>&1 || need+=(dpdk)
dpkg -s dpdk-dev >/dev/null 2>&1 || need+=(dpdk-dev)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s libpcap-dev >/dev/null 2>&1 || need+=(libpcap-dev)
# The live lab (scripts/lab.sh): namespaces, offload settings, real clients and servers.
for pkg in iproute2 ethtool python3 curl wrk tcpdump iputils-ping; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "deps: missing packages: ${need[*]}; run as root, or: apt-get install ${need[*]}" >&2
        exit 1
    fi
    echo "deps: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "deps: cargo not found: install the Rust toolchain (rustup) first" >&2
    exit 1
fi

# cargo-fuzz for the fuzz targets (dataplane/fuzz); built from crates.io once.
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "deps: installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi
