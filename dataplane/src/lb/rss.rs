//! The Toeplitz hash NICs use for receive-side scaling (RSS), computed in software, so that fnatd
//! can tell which queue (and so which worker) a NIC will deliver a flow to.
//!
//! For an input of n bytes and a key of at least n + 4 bytes, the hash is the XOR, over every set
//! bit i of the input (most significant bit of the first byte first), of the 32-bit window of the
//! key starting at bit i. It is linear: the hash of `a XOR b` is the XOR of the hashes, so the part
//! of an IPv4 4-tuple's hash that one field contributes can be computed apart and combined — which
//! is what choosing a FULLNAT local port for a given queue needs (the reply's tuple differs from
//! one candidate port to the next in the destination port only).
//!
//! The input for IPv4 TCP/UDP is, as Microsoft's RSS specification and every NIC lay it out: source
//! address, destination address, source port, destination port, each in network byte order.

use std::net::Ipv4Addr;

/// The RSS key most NICs ship with (Microsoft's verification key), 40 bytes.
pub const DEFAULT_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b,
    0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac,
    0x01, 0xfa,
];

/// A symmetric key (the 16-bit pattern 0x6d5a repeated): a flow and its reverse hash alike,
/// whatever the addresses and ports.
pub const SYMMETRIC_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d,
    0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a, 0x6d, 0x5a,
    0x6d, 0x5a,
];

/// Reads a key as the configuration writes it: `default`, `symmetric`, or 16 to 64 bytes of hex
/// (pairs of digits, optionally separated by `:`).
pub fn parse_key(text: &str) -> Result<Vec<u8>, String> {
    match text {
        "default" => return Ok(DEFAULT_KEY.to_vec()),
        "symmetric" => return Ok(SYMMETRIC_KEY.to_vec()),
        _ => {}
    }
    let digits: String = text.chars().filter(|&c| c != ':').collect();
    let bad = || format!("'{text}' is not 'default', 'symmetric' or 16 to 64 bytes of hex");
    if !digits.len().is_multiple_of(2) || !(32..=128).contains(&digits.len()) {
        return Err(bad());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| digits.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok()).ok_or_else(bad))
        .collect()
}

/// How the replies of a port's connections reach the worker that owns them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteerMode {
    /// One worker: there is nothing to steer.
    Single,
    /// FULLNAT local ports chosen by the port's own RSS (key and redirection table read from the
    /// device): replies reach their owner with no rule and no redirect.
    Rss,
    /// As `Rss`, with the hashing of the port's peer as configured (a virtual port whose other end
    /// spreads frames over the queues by Toeplitz, such as memif in the benchmarks).
    PeerRss,
    /// One rte_flow rule per local address and worker: the destination port's low bits name the
    /// queue (the worker owns the local ports `port % workers`).
    Flow,
    /// No steering: a reply may reach any worker, which passes it to the owner (`port % workers`)
    /// through a ring.
    Redirect,
}

impl SteerMode {
    /// The mode's name, as fnatctl and the start message show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Rss => "rss",
            Self::PeerRss => "rss-peer",
            Self::Flow => "flow",
            Self::Redirect => "redirect",
        }
    }
}

/// What the workers know about one port's steering: its mode, and its RSS when known (also in
/// `Flow` and `Redirect` modes, where it still tells which worker a client's packets reach).
#[derive(Clone, Debug)]
pub struct PortSteering {
    /// How replies reach their owner.
    pub mode: SteerMode,
    /// The port's RSS (key and redirection table), when fnatd knows it.
    pub rss: Option<std::sync::Arc<Steering>>,
}

impl PortSteering {
    /// The RSS by which FULLNAT local ports are chosen, in the modes that choose them so.
    pub fn port_choice(&self) -> Option<&std::sync::Arc<Steering>> {
        self.rss.as_ref().filter(|_| matches!(self.mode, SteerMode::Rss | SteerMode::PeerRss))
    }
}

/// A Toeplitz hasher over one key: the key's 32-bit window at every bit position of a 12-byte
/// input (an IPv4 4-tuple), precomputed per input byte and value, so that hashing takes 12 table
/// lookups and XORs.
#[derive(Clone, Debug)]
pub struct Toeplitz {
    /// `table[byte][value]`: the hash contribution of input byte number `byte` holding `value`.
    table: Box<[[u32; 256]; 12]>,
}

impl Toeplitz {
    /// A hasher for `key`, which must hold at least 16 bytes (12 of input plus the 4 of the last
    /// window); a shorter key is padded with zeros.
    pub fn new(key: &[u8]) -> Self {
        let bit = |i: usize| key.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
        // The 32-bit window of the key starting at bit `i`.
        let window = |i: usize| (0..32).fold(0u32, |w, j| (w << 1) | u32::from(bit(i + j)));
        let mut table = Box::new([[0u32; 256]; 12]);
        for (byte, row) in table.iter_mut().enumerate() {
            for (value, slot) in row.iter_mut().enumerate() {
                *slot = (0..8).filter(|b| value & (0x80 >> b) != 0).fold(0, |h, b| h ^ window(byte * 8 + b));
            }
        }
        Self { table }
    }

    /// The hash of an input of at most 12 bytes.
    #[inline]
    pub fn hash(&self, input: &[u8]) -> u32 {
        input.iter().zip(self.table.iter()).fold(0, |h, (&v, row)| h ^ row[usize::from(v)])
    }

    /// The hash of an IPv4 TCP/UDP flow, as a NIC computes it for the packet from `src:sport` to
    /// `dst:dport`.
    #[inline]
    pub fn ipv4_tuple(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u32 {
        let mut input = [0u8; 12];
        input[..4].copy_from_slice(&src.octets());
        input[4..8].copy_from_slice(&dst.octets());
        input[8..10].copy_from_slice(&sport.to_be_bytes());
        input[10..].copy_from_slice(&dport.to_be_bytes());
        self.hash(&input)
    }

    /// The hash of IPv4 addresses alone (the "2-tuple" NICs use for fragments and other protocols).
    #[inline]
    pub fn ipv4_addrs(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        let mut input = [0u8; 8];
        input[..4].copy_from_slice(&src.octets());
        input[4..].copy_from_slice(&dst.octets());
        self.hash(&input)
    }

    /// What destination port `dport` adds to a 4-tuple's hash (by linearity: the hash of the
    /// tuple with every other field zero).
    #[inline]
    pub fn dport_part(&self, dport: u16) -> u32 {
        let [hi, lo] = dport.to_be_bytes();
        self.table[10][usize::from(hi)] ^ self.table[11][usize::from(lo)]
    }
}

/// What a port's receive-side scaling does with a packet: its Toeplitz key and its redirection
/// table (entry `hash % size` names the rx queue, i.e. the worker; the NIC takes the hash's low bits).
#[derive(Clone, Debug)]
pub struct Steering {
    hasher: Toeplitz,
    reta: Vec<u16>,
    mask: u32,
}

impl Steering {
    /// The steering of a port with `key` and redirection table `reta` (a power of two of entries,
    /// at most 65,536, as NICs have).
    pub fn new(key: &[u8], reta: Vec<u16>) -> Result<Self, String> {
        if reta.is_empty() || !reta.len().is_power_of_two() || reta.len() > 1 << 16 {
            return Err(format!("a redirection table of {} entries: a power of two up to 65536", reta.len()));
        }
        let mask = u32::try_from(reta.len() - 1).unwrap_or(0);
        Ok(Self { hasher: Toeplitz::new(key), reta, mask })
    }

    /// A table of `size` entries naming `queues` queues in turn, as DPDK fills one by default.
    pub fn round_robin(key: &[u8], size: usize, queues: u16) -> Result<Self, String> {
        let queues = queues.max(1);
        Self::new(key, (0..size).map(|i| u16::try_from(i % usize::from(queues)).unwrap_or(0)).collect())
    }

    /// Whether every queue below `queues` has at least one entry (each worker gets traffic).
    pub fn covers(&self, queues: u16) -> bool {
        (0..queues).all(|q| self.reta.contains(&q))
    }

    /// The redirection table.
    pub fn reta(&self) -> &[u16] {
        &self.reta
    }

    /// The queue the NIC delivers a packet with RSS hash `hash` to.
    #[inline]
    pub fn queue(&self, hash: u32) -> u16 {
        self.reta[(hash & self.mask) as usize]
    }

    /// The queue of the TCP/UDP packets from `src:sport` to `dst:dport`.
    #[inline]
    pub fn flow_queue(&self, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> u16 {
        self.queue(self.hasher.ipv4_tuple(src, dst, sport, dport))
    }

    /// The queue of an IPv4 fragment from `src` to `dst`: NICs hash fragments on their addresses
    /// alone (they carry no ports but the first).
    #[inline]
    pub fn fragment_queue(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
        self.queue(self.hasher.ipv4_addrs(src, dst))
    }

    /// The queue of a FULLNAT reply from the real server `rip:rport` to the local `lip:lport`.
    #[inline]
    pub fn reply_queue(&self, rip: Ipv4Addr, rport: u16, lip: Ipv4Addr, lport: u16) -> u16 {
        self.flow_queue(rip, rport, lip, lport)
    }
}

/// One worker's free local ports on one local address, chosen so that the real server's replies
/// reach this worker by the NIC's own RSS (no rte_flow rule, no redirect between workers).
///
/// A reply's hash is `base ^ part(lport)`, `base` being the hash of the tuple with local port 0
/// (linearity). The ports are kept in buckets by the low bits of `part(lport)`: for a connection to
/// a real server, the buckets whose ports land on one of this worker's redirection entries are
/// `entry ^ (base & mask)`. A port is this worker's for one real server and another worker's for
/// the next, so every worker keeps all ports, and two workers never pick the same port for the same
/// real server (each redirection entry has one queue). Ports are reused FIFO within a bucket, as late
/// as possible.
#[derive(Debug)]
pub struct SteeredPorts {
    buckets: Vec<std::collections::VecDeque<u16>>,
    /// The redirection entries that name this worker's queue.
    mine: Vec<u32>,
    next: usize,
}

impl SteeredPorts {
    /// The ports of `range` for worker (queue) `queue` under `steering`.
    pub fn new(steering: &Steering, range: std::ops::RangeInclusive<u16>, queue: u16) -> Self {
        let mut buckets = vec![std::collections::VecDeque::new(); steering.reta.len()];
        for p in range {
            buckets[(steering.hasher.dport_part(p) & steering.mask) as usize].push_back(p);
        }
        let mine = (0..=steering.mask).filter(|&i| steering.reta[i as usize] == queue).collect();
        Self { buckets, mine, next: 0 }
    }

    /// A free port whose replies from `rip:rport` to `lip` reach this worker, if any.
    pub fn acquire(&mut self, steering: &Steering, rip: Ipv4Addr, rport: u16, lip: Ipv4Addr) -> Option<u16> {
        let base = steering.hasher.ipv4_tuple(rip, lip, rport, 0) & steering.mask;
        let n = self.mine.len();
        for k in 0..n {
            let entry = self.mine[(self.next + k) % n];
            if let Some(port) = self.buckets[((entry ^ base) & steering.mask) as usize].pop_front() {
                // The next connection starts from the next entry: ports of every bucket get used.
                self.next = (self.next + k + 1) % n;
                return Some(port);
            }
        }
        None
    }

    /// Gives a port back (to the back of its bucket).
    pub fn release(&mut self, steering: &Steering, port: u16) {
        self.buckets[(steering.hasher.dport_part(port) & steering.mask) as usize].push_back(port);
    }

    /// Free ports, over all buckets.
    pub fn available(&self) -> usize {
        self.buckets.iter().map(std::collections::VecDeque::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Microsoft's RSS verification suite, IPv4: (destination, source, hash of the addresses,
    /// hash of the 4-tuple) with the default key.
    /// An endpoint: address and port.
    type End = (Ipv4Addr, u16);

    const VECTORS: [(End, End, u32, u32); 5] = [
        ((Ipv4Addr::new(161, 142, 100, 80), 1766), (Ipv4Addr::new(66, 9, 149, 187), 2794), 0x323e_8fc2, 0x51cc_c178),
        ((Ipv4Addr::new(65, 69, 140, 83), 4739), (Ipv4Addr::new(199, 92, 111, 2), 14230), 0xd718_262a, 0xc626_b0ea),
        ((Ipv4Addr::new(12, 22, 207, 184), 38024), (Ipv4Addr::new(24, 19, 198, 95), 12898), 0xd2d0_a5de, 0x5c2b_394a),
        ((Ipv4Addr::new(209, 142, 163, 6), 2217), (Ipv4Addr::new(38, 27, 205, 30), 48228), 0x8298_9176, 0xafc7_327f),
        ((Ipv4Addr::new(202, 188, 127, 2), 1303), (Ipv4Addr::new(153, 39, 163, 191), 44251), 0x5d18_09c5, 0x10e8_28a2),
    ];

    #[test]
    fn microsofts_verification_vectors() {
        let t = Toeplitz::new(&DEFAULT_KEY);
        for ((dst, dport), (src, sport), addrs, tuple) in VECTORS {
            assert_eq!(t.ipv4_addrs(src, dst), addrs, "{src} -> {dst}");
            assert_eq!(t.ipv4_tuple(src, dst, sport, dport), tuple, "{src}:{sport} -> {dst}:{dport}");
        }
    }

    #[test]
    fn the_hash_is_linear_in_the_destination_port() {
        let t = Toeplitz::new(&DEFAULT_KEY);
        let (src, dst) = (Ipv4Addr::new(10, 1, 0, 11), Ipv4Addr::new(10, 1, 0, 10));
        let base = t.ipv4_tuple(src, dst, 8080, 0);
        for dport in [1, 80, 1024, 40_000, 65_535] {
            assert_eq!(t.ipv4_tuple(src, dst, 8080, dport), base ^ t.dport_part(dport));
        }
    }

    #[test]
    fn a_bit_by_bit_reference_agrees_for_other_keys() {
        // The definition, computed the slow way, against the table for the default key and two others.
        let reference = |key: &[u8], input: &[u8]| {
            let bit = |i: usize| key.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0);
            let mut h = 0u32;
            for i in 0..input.len() * 8 {
                if input[i / 8] & (0x80 >> (i % 8)) != 0 {
                    h ^= (0..32).fold(0u32, |w, j| (w << 1) | u32::from(bit(i + j)));
                }
            }
            h
        };
        for key in &keys() {
            let t = Toeplitz::new(key);
            for input in [&[0u8; 12][..], &[0xff; 12], b"fnat-rss-key", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]] {
                assert_eq!(t.hash(input), reference(key, input), "key {key:02x?} input {input:02x?}");
            }
        }
    }

    fn keys() -> Vec<Vec<u8>> {
        let mut x = 0x0bad_cafe_f00d_d00du64;
        let random = (0..40)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x.to_be_bytes()[4]
            })
            .collect();
        vec![DEFAULT_KEY.to_vec(), [0x6d, 0x5a].repeat(20), random]
    }

    #[test]
    fn a_chosen_local_port_brings_the_reply_to_its_worker() {
        let lip = Ipv4Addr::new(10, 1, 0, 10);
        for key in keys() {
            for (size, queues) in [(64usize, 2u16), (128, 2), (128, 3), (512, 4)] {
                // Entries spread round robin over the queues, as DPDK sets a table up by default.
                let reta: Vec<u16> = (0..size).map(|i| u16::try_from(i).unwrap() % queues).collect();
                let s = Steering::new(&key, reta).unwrap();
                for q in 0..queues {
                    let mut ports = SteeredPorts::new(&s, 1024..=65535, q);
                    assert_eq!(ports.available(), 64_512);
                    for i in 0..2000u32 {
                        let rip = Ipv4Addr::from(0x0a01_0100 + i % 7);
                        let rport = 8080 + u16::try_from(i % 3).unwrap();
                        let port = ports.acquire(&s, rip, rport, lip).expect("a port");
                        assert_eq!(
                            s.reply_queue(rip, rport, lip, port),
                            q,
                            "key {:02x?} size {size} queue {q}",
                            &key[..4]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ports_run_out_per_real_server_and_come_back() {
        let s = Steering::new(&DEFAULT_KEY, (0..128u16).map(|i| i % 2).collect()).unwrap();
        let (rip, lip) = (Ipv4Addr::new(10, 1, 0, 11), Ipv4Addr::new(10, 1, 0, 10));
        let mut ports = SteeredPorts::new(&s, 1024..=2047, 0);
        let mut taken = Vec::new();
        while let Some(p) = ports.acquire(&s, rip, 80, lip) {
            taken.push(p);
        }
        // About half the range lands on queue 0 for this real server; none twice.
        let n = taken.len();
        assert!((400..=624).contains(&n), "{n} ports of 1024");
        taken.sort_unstable();
        taken.dedup();
        assert_eq!(taken.len(), n);
        // Another real server can still use the ports left (theirs for it).
        assert!(ports.acquire(&s, Ipv4Addr::new(10, 1, 0, 12), 80, lip).is_some());
        for p in taken {
            ports.release(&s, p);
        }
        assert!(ports.acquire(&s, rip, 80, lip).is_some());
        assert!(Steering::new(&DEFAULT_KEY, vec![0; 100]).is_err());
    }
}
