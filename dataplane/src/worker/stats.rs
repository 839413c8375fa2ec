//! Per-worker counters: packets by verdict and drops by reason.
//!
//! Owned and written by one worker core only (plain integers, no atomics); read by the control side
//! when the worker hands them over.

use std::fmt;

macro_rules! drop_reasons {
    ($($(#[doc = $doc:literal])* $name:ident => $label:literal,)*) => {
        /// Why a packet was dropped. Every drop is counted under exactly one reason.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $($(#[doc = $doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in counter order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// The number of reasons.
            pub const COUNT: usize = Self::ALL.len();

            /// A short stable name for counters and logs.
            pub fn label(self) -> &'static str {
                match self {
                    $(DropReason::$name => $label,)*
                }
            }
        }
    };
}

drop_reasons! {
    /// Shorter than an Ethernet header.
    EthTruncated => "eth_truncated",
    /// Not addressed to the receiving port's MAC address.
    EthNotForUs => "eth_not_for_us",
    /// VLAN-tagged (802.1Q/802.1ad): not supported yet.
    Vlan => "vlan",
    /// ARP that is not Ethernet/IPv4 or is cut short.
    ArpMalformed => "arp_malformed",
    /// ARP about an address that is not ours.
    ArpNotForUs => "arp_not_for_us",
    /// Neither IPv4 nor ARP.
    NotIpv4 => "not_ipv4",
    /// IPv4 header or total length beyond the frame.
    IpTruncated => "ip_truncated",
    /// IPv4 header inconsistent (version, header length, total length).
    IpMalformed => "ip_malformed",
    /// IPv4 header checksum wrong.
    IpChecksum => "ip_checksum",
    /// IPv4 options present: not handled.
    IpOptions => "ip_options",
    /// A fragment overlapping another of its datagram: the whole datagram is dropped (as Linux).
    FragOverlap => "frag_overlap",
    /// A fragment received twice (the copy is dropped).
    FragDuplicate => "frag_duplicate",
    /// More fragments than a datagram may have.
    FragTooMany => "frag_too_many",
    /// A fragment reaching beyond the largest IPv4 datagram.
    FragTooBig => "frag_too_big",
    /// No room to reassemble: every slot or the memory budget in use.
    FragNoRoom => "frag_no_room",
    /// A fragment inconsistent with itself or its datagram.
    FragMalformed => "frag_malformed",
    /// A datagram not complete within the reassembly timeout (counted once per datagram).
    FragTimeout => "frag_timeout",
    /// Source address that cannot be a client (0/8-unspecified, loopback, multicast, broadcast).
    Martian => "martian_source",
    /// Source address equal to the destination (land attack).
    Land => "land",
    /// An ICMP error whose TTL would reach zero (errors about errors are never sent).
    TtlExpired => "ttl_expired",
    /// An ICMP error the gateway would send (time exceeded, fragmentation needed) was over its rate.
    IcmpRateLimited => "icmp_rate_limited",
    /// ICMP other than an echo request to one of our addresses (errors are not translated yet).
    Icmp => "icmp",
    /// ICMP message cut short or with a wrong checksum.
    IcmpMalformed => "icmp_malformed",
    /// ICMP error quoting a packet of no connection.
    IcmpNoConn => "icmp_no_conn",
    /// An IP protocol other than TCP, UDP and ICMP.
    UnsupportedProtocol => "unsupported_protocol",
    /// TCP or UDP header truncated or inconsistent.
    L4Malformed => "l4_malformed",
    /// Source or destination port zero.
    ZeroPort => "zero_port",
    /// Destination is neither a VIP nor a local address.
    NotForUs => "not_for_us",
    /// A VIP, but no service on that protocol and port.
    NoService => "no_service",
    /// A new connection to a floating VIP that another gateway holds (this one is VRRP Backup or
    /// in Fault).
    Standby => "standby",
    /// Matches no connection and may not open one (TCP without a lone SYN, or a reply to a local
    /// address that no connection holds).
    NoConn => "no_conn",
    /// The scheduler found no eligible real server.
    NoDest => "no_dest",
    /// No free local port on any local address.
    NoLocalPort => "no_local_port",
    /// The connection table is full.
    ConnTableFull => "conn_table_full",
    /// A packet of a connection whose real server was deleted, with `expire_nodest_conn` on.
    DestRemoved => "dest_removed",
    /// A NAT/DR/TUN connection's reply flow already belongs to another connection.
    ConnClash => "conn_clash",
    /// A DR real server that is not on one of the gateway's links.
    DrNotOnLink => "dr_not_on_link",
    /// Too big for the egress MTU with Don't Fragment set, where no "fragmentation needed" is
    /// sent (a packet the gateway does not answer for, e.g. an ICMP error).
    NeedsFragmentation => "needs_fragmentation",
    /// No packet buffer for a fragment or a reassembled datagram.
    NoBuffer => "no_buffer",
    /// No room in the buffer for the tunnel header.
    NoHeadroom => "no_headroom",
    /// No route to the next destination.
    NoRoute => "no_route",
    /// The next hop did not answer ARP in time.
    NeighTimeout => "neigh_timeout",
    /// The queue of packets waiting for ARP was full.
    HoldFull => "hold_full",
    /// The ring to the owning worker was full.
    RedirectFull => "redirect_full",
    /// A redirected packet would be redirected again.
    RedirectLoop => "redirect_loop",
    /// The TX queue did not take the packet.
    TxFull => "tx_full",
    /// A frame for the kernel over its port's rate (`[port.kernel] rate`).
    KernelRateLimited => "kernel_rate_limited",
    /// The kernel twin's queue did not take the frame.
    KernelFull => "kernel_full",
    /// A frame the kernel sent that fnatd does not let out: not IPv4 or ARP, cut short, or an ARP
    /// reply (fnatd answers ARP for the port's addresses itself).
    FromKernelRefused => "from_kernel_refused",
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One worker's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerStats {
    /// Packets received from the ports.
    pub rx: u64,
    /// Packets handed to the ports for transmission.
    pub tx: u64,
    /// Packets forwarded client to real server.
    pub fwd_in: u64,
    /// Packets forwarded real server to client.
    pub fwd_out: u64,
    /// Packets passed to another worker that owns their connection.
    pub redirected_out: u64,
    /// Packets received from other workers.
    pub redirected_in: u64,
    /// Connections created.
    pub conns_created: u64,
    /// Connections removed on expiry.
    pub conns_expired: u64,
    /// ARP requests for our addresses answered.
    pub arp_replies: u64,
    /// ARP requests sent (resolution and confirmation of neighbours, announcements).
    pub arp_requests: u64,
    /// ICMP echo requests answered.
    pub icmp_echo: u64,
    /// Packets held until their next hop answered ARP.
    pub held: u64,
    /// Held packets sent once the next hop was resolved.
    pub released: u64,
    /// Packets wrapped in an IPIP header (TUN).
    pub tunnelled: u64,
    /// ICMP errors translated for a connection.
    pub icmp_translated: u64,
    /// ICMP "fragmentation needed" errors sent.
    pub icmp_frag_needed: u64,
    /// ICMP "time exceeded" errors sent (a forwarded packet's TTL ran out).
    pub icmp_time_exceeded: u64,
    /// IPv4 fragments received for reassembly.
    pub frags_in: u64,
    /// Datagrams reassembled from them.
    pub reassembled: u64,
    /// Datagrams fragmented to fit their egress MTU.
    pub fragmented: u64,
    /// Fragments sent.
    pub frags_out: u64,
    /// Client SYNs sent again on a connection whose real server never answered (passive health
    /// evidence).
    pub syn_unanswered: u64,
    /// Frames passed to the ports' kernel twins (the gateway's own traffic).
    pub to_kernel: u64,
    /// Frames the kernel twins sent out through the ports.
    pub from_kernel: u64,
    /// Connections of persistent services sent where their client's template said.
    pub persist_followed: u64,
    /// Connections of persistent services scheduled without a template: the template table was full.
    pub persist_untracked: u64,
    /// Connection records handed to the sync daemon for the backups (sync master).
    pub sync_out: u64,
    /// Records lost: the ring to the control lcore was full.
    pub sync_lost: u64,
    /// Connections installed or refreshed from the master's records (sync backup).
    pub sync_in: u64,
    /// Records not installed: no such service or real server here, or its local port in use.
    pub sync_refused: u64,
    /// Drops by reason, indexed by `DropReason as usize`.
    pub drops: [u64; DropReason::COUNT],
}

impl Default for WorkerStats {
    fn default() -> Self {
        Self {
            rx: 0,
            tx: 0,
            fwd_in: 0,
            fwd_out: 0,
            redirected_out: 0,
            redirected_in: 0,
            conns_created: 0,
            conns_expired: 0,
            arp_replies: 0,
            arp_requests: 0,
            icmp_echo: 0,
            held: 0,
            released: 0,
            tunnelled: 0,
            icmp_translated: 0,
            icmp_frag_needed: 0,
            icmp_time_exceeded: 0,
            frags_in: 0,
            reassembled: 0,
            fragmented: 0,
            frags_out: 0,
            syn_unanswered: 0,
            to_kernel: 0,
            from_kernel: 0,
            persist_followed: 0,
            persist_untracked: 0,
            sync_out: 0,
            sync_lost: 0,
            sync_in: 0,
            sync_refused: 0,
            drops: [0; DropReason::COUNT],
        }
    }
}

impl WorkerStats {
    /// Counts one drop.
    #[inline]
    pub fn count_drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }

    /// Drops counted under `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }

    /// All drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// The counters other than drops, by name, in field order.
    pub fn named(&self) -> [(&'static str, u64); 30] {
        [
            ("rx", self.rx),
            ("tx", self.tx),
            ("fwd_in", self.fwd_in),
            ("fwd_out", self.fwd_out),
            ("redirected_out", self.redirected_out),
            ("redirected_in", self.redirected_in),
            ("conns_created", self.conns_created),
            ("conns_expired", self.conns_expired),
            ("arp_replies", self.arp_replies),
            ("arp_requests", self.arp_requests),
            ("icmp_echo", self.icmp_echo),
            ("held", self.held),
            ("released", self.released),
            ("tunnelled", self.tunnelled),
            ("icmp_translated", self.icmp_translated),
            ("icmp_frag_needed", self.icmp_frag_needed),
            ("icmp_time_exceeded", self.icmp_time_exceeded),
            ("frags_in", self.frags_in),
            ("reassembled", self.reassembled),
            ("fragmented", self.fragmented),
            ("frags_out", self.frags_out),
            ("syn_unanswered", self.syn_unanswered),
            ("to_kernel", self.to_kernel),
            ("from_kernel", self.from_kernel),
            ("persist_followed", self.persist_followed),
            ("persist_untracked", self.persist_untracked),
            ("sync_out", self.sync_out),
            ("sync_lost", self.sync_lost),
            ("sync_in", self.sync_in),
            ("sync_refused", self.sync_refused),
        ]
    }

    /// Adds another worker's counters (for gateway-wide totals).
    pub fn add(&mut self, o: &WorkerStats) {
        self.rx += o.rx;
        self.tx += o.tx;
        self.fwd_in += o.fwd_in;
        self.fwd_out += o.fwd_out;
        self.redirected_out += o.redirected_out;
        self.redirected_in += o.redirected_in;
        self.conns_created += o.conns_created;
        self.conns_expired += o.conns_expired;
        self.arp_replies += o.arp_replies;
        self.arp_requests += o.arp_requests;
        self.icmp_echo += o.icmp_echo;
        self.held += o.held;
        self.released += o.released;
        self.tunnelled += o.tunnelled;
        self.icmp_translated += o.icmp_translated;
        self.icmp_frag_needed += o.icmp_frag_needed;
        self.icmp_time_exceeded += o.icmp_time_exceeded;
        self.frags_in += o.frags_in;
        self.reassembled += o.reassembled;
        self.fragmented += o.fragmented;
        self.frags_out += o.frags_out;
        self.syn_unanswered += o.syn_unanswered;
        self.to_kernel += o.to_kernel;
        self.from_kernel += o.from_kernel;
        self.persist_followed += o.persist_followed;
        self.persist_untracked += o.persist_untracked;
        self.sync_out += o.sync_out;
        self.sync_lost += o.sync_lost;
        self.sync_in += o.sync_in;
        self.sync_refused += o.sync_refused;
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
    }
}

impl fmt::Display for WorkerStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, n)) in self.named().iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{name} {n}")?;
        }
        write!(f, " drops {}", self.total_drops())?;
        for r in DropReason::ALL {
            let n = self.dropped(*r);
            if n > 0 {
                write!(f, " {}={n}", r.label())?;
            }
        }
        Ok(())
    }
}
