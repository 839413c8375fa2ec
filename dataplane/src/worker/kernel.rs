//! The exception path, worker side: the gateway's own traffic to and from its kernel.
//!
//! A port with a kernel twin (`[port.kernel]`, see `daemon::kni`) hands the kernel what fnatd does
//! not handle itself among the frames for the port's own addresses: TCP and UDP to a port address
//! and port that is no service (replies to the kernel's own connections among them, a health
//! check's for instance), ICMP fnatd does not answer (echo replies, errors quoting the kernel's
//! packets), packets to a port address whose TTL is 1 (an eBGP peer's), and ARP replies to a port
//! address (the kernel resolves its own next hops; fnatd learns from the same reply). fnatd stays
//! the one owner of ARP for its addresses: it answers requests, and the kernel's own answers are
//! not let out. VIPs and local addresses are never the kernel's.
//!
//! Each worker passes at most its share of the port's rate ([`KernelPath::share`]); beyond it the
//! frame is dropped, counted as `kernel_rate_limited`. What real servers send (the answers to the
//! health checks, their ARP replies) has a bucket of its own of the same rate, so that a flood at
//! the gateway's address cannot make the checks fail and evict healthy servers (as DPVS users saw,
//! dpvs#457). None of this is on the path of a forwarded packet: a frame reaches it only after the
//! worker found nothing of its own to do with it.
//!
//! [`KernelPath::share`]: crate::net::KernelPath::share

use std::net::Ipv4Addr;

use super::{DropReason, Verdict, Worker};
use crate::net::{PortIdx, TokenBucket};
use crate::packet::{ArpOperation, ArpPacket, EtherType, EthernetFrame};

/// Each port's buckets on one worker, for real servers' frames and for the others (`None`: the
/// port has no twin).
#[derive(Debug, Default)]
pub(super) struct KernelBuckets(Vec<Option<[TokenBucket; 2]>>);

impl KernelBuckets {
    /// The buckets of `snap`'s ports, keeping those of ports whose twin is unchanged from `old`.
    pub(super) fn rebuild(&mut self, old: &crate::snapshot::Snapshot, snap: &crate::snapshot::Snapshot) {
        let same = old.ifaces.iter().map(|i| &i.kernel).eq(snap.ifaces.iter().map(|i| &i.kernel));
        if same && self.0.len() == snap.ifaces.len() {
            return;
        }
        self.0 = snap.ifaces.iter().map(|i| i.kernel.as_ref().map(|k| [k.share(snap.workers); 2])).collect();
    }

    /// The bucket of `port` for a frame from a real server (`from_real`) or another.
    fn get(&mut self, port: PortIdx, from_real: bool) -> Option<&mut TokenBucket> {
        let [real, other] = self.0.get_mut(usize::from(port)).and_then(Option::as_mut)?;
        Some(if from_real { real } else { other })
    }

    /// Whether `port` has a twin.
    fn has(&self, port: PortIdx) -> bool {
        self.0.get(usize::from(port)).is_some_and(Option::is_some)
    }
}

impl Worker {
    /// Whether a packet to `dst` that fnatd has no use for belongs to the kernel of `rx_port`:
    /// `dst` is one of the ports' own addresses and `rx_port` has a twin.
    #[inline]
    pub(super) fn kernel_bound(&self, dst: Ipv4Addr, rx_port: PortIdx) -> bool {
        self.kernel.has(rx_port) && self.snap.ifaces.iter().any(|i| i.owns(dst))
    }

    /// Passes the frame from `src` to the kernel twin of `rx_port`, within this worker's share of
    /// its rate (a real server's frame within the real servers').
    #[cold]
    #[inline(never)]
    pub(super) fn pass_to_kernel(&mut self, rx_port: PortIdx, src: Ipv4Addr, now: u64) -> Result<Verdict, DropReason> {
        let from_real = self.snap.services.is_real_addr(src);
        let bucket = self.kernel.get(rx_port, from_real).ok_or(DropReason::NotForUs)?;
        if !bucket.allow(now) {
            return Err(DropReason::KernelRateLimited);
        }
        Ok(Verdict::ToKernel)
    }

    /// The kernel's answer when fnatd found no use for a packet from `src` to `dst` (dropped for
    /// `reason`): the frame goes to the kernel when it is the kernel's, else it is dropped as it
    /// was.
    #[cold]
    #[inline(never)]
    pub(super) fn unhandled(
        &mut self,
        reason: DropReason,
        (src, dst): (Ipv4Addr, Ipv4Addr),
        rx_port: PortIdx,
        now: u64,
    ) -> Result<Verdict, DropReason> {
        if self.kernel_bound(dst, rx_port) { self.pass_to_kernel(rx_port, src, now) } else { Err(reason) }
    }

    /// A frame not addressed to the port's MAC: an IPv4 packet to a link-local multicast group
    /// (224.0.0.0/24: VRRP, routing protocols, IPVS's sync group) goes to the twin of `rx_port`,
    /// within the bucket of the servers' and peers' frames, so that a flood at the gateway's
    /// address cannot silence the VRRP peers; anything else is dropped as not for us.
    #[cold]
    #[inline(never)]
    pub(super) fn link_multicast(&mut self, frame: &[u8], rx_port: PortIdx, now: u64) -> Result<Verdict, DropReason> {
        let eth = EthernetFrame::new_unchecked(frame);
        let dst_mac = eth.dst_addr();
        let ip = crate::packet::Ipv4Packet::new_checked(eth.payload()).map_err(|_| DropReason::EthNotForUs)?;
        let dst = ip.dst_addr();
        let link_local = dst.octets()[..3] == [224, 0, 0];
        if !link_local || dst_mac != multicast_mac(dst) || !self.kernel.has(rx_port) {
            return Err(DropReason::EthNotForUs);
        }
        let bucket = self.kernel.get(rx_port, true).ok_or(DropReason::EthNotForUs)?;
        if !bucket.allow(now) {
            return Err(DropReason::KernelRateLimited);
        }
        Ok(Verdict::ToKernel)
    }

    /// Checks a frame the kernel twin of `port` sent, before it leaves by `port`: IPv4 or an ARP
    /// request, from the port's MAC address (set here: the twin has it, unless someone changed it).
    pub fn from_kernel(&mut self, frame: &mut [u8], port: PortIdx) -> Result<(), DropReason> {
        let Some(iface) = self.snap.ifaces.get(usize::from(port)).filter(|i| i.kernel.is_some()) else {
            return Err(DropReason::FromKernelRefused);
        };
        let mac = iface.mac;
        let eth = EthernetFrame::new_checked(&*frame).map_err(|_| DropReason::FromKernelRefused)?;
        match eth.ethertype() {
            EtherType::IPV4 => {}
            EtherType::ARP => {
                let arp = ArpPacket::new_checked(eth.payload()).map_err(|_| DropReason::FromKernelRefused)?;
                if arp.operation() != ArpOperation::Request {
                    return Err(DropReason::FromKernelRefused);
                }
            }
            _ => return Err(DropReason::FromKernelRefused),
        }
        EthernetFrame::new_unchecked(frame).set_src_addr(mac);
        self.stats.from_kernel += 1;
        Ok(())
    }
}

/// The Ethernet address of IPv4 multicast group `group` (RFC 1112: 01-00-5E and its low 23 bits).
fn multicast_mac(group: Ipv4Addr) -> crate::packet::MacAddr {
    let o = group.octets();
    crate::packet::MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;
