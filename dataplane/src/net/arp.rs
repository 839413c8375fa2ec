//! ARP frames the gateway writes: replies (in place, from the request), requests and gratuitous ARP.
//!
//! All writers take a frame buffer the caller provides (an mbuf's data or a byte vector) and never
//! allocate. Frames are padded to the Ethernet minimum of 60 bytes (without FCS).

use std::net::Ipv4Addr;

use crate::packet::{ArpOperation, ArpPacket, EtherType, EthernetFrame, MacAddr, ethernet};

/// Length of the ARP frames written here: the Ethernet minimum.
pub const FRAME_LEN: usize = 60;

/// Turns a validated ARP request in `frame` (asking for `ip`, one of ours) into the reply, sent
/// from `our_mac` to the requester. The caller checked that the frame holds an Ethernet/IPv4 ARP
/// request for `ip`.
pub fn answer_in_place(frame: &mut [u8], our_mac: MacAddr, ip: Ipv4Addr) {
    let mut eth = EthernetFrame::new_unchecked(&mut *frame);
    let requester_mac;
    let requester_ip;
    {
        let mut arp = ArpPacket::new_unchecked(eth.payload_mut());
        requester_mac = arp.sender_hw_addr();
        requester_ip = arp.sender_proto_addr();
        arp.set_operation(ArpOperation::Reply);
        arp.set_sender_hw_addr(our_mac);
        arp.set_sender_proto_addr(ip);
        arp.set_target_hw_addr(requester_mac);
        arp.set_target_proto_addr(requester_ip);
    }
    eth.set_dst_addr(requester_mac);
    eth.set_src_addr(our_mac);
}

/// Writes an ARP request for `target` from `our_mac`/`our_ip` into `frame` (at least
/// [`FRAME_LEN`] bytes; the rest is zeroed), sent to `dst_mac` (broadcast to resolve, the
/// neighbour's own address to confirm it). Returns the frame length, or `None` if `frame` is short.
pub fn write_request(
    frame: &mut [u8],
    our_mac: MacAddr,
    our_ip: Ipv4Addr,
    target: Ipv4Addr,
    dst_mac: MacAddr,
) -> Option<usize> {
    write(frame, ArpOperation::Request, our_mac, our_ip, dst_mac, MacAddr::ZERO, target)
}

/// Writes a gratuitous ARP (a broadcast request with sender and target `ip`) announcing that `ip`
/// is at `our_mac`.
pub fn write_gratuitous(frame: &mut [u8], our_mac: MacAddr, ip: Ipv4Addr) -> Option<usize> {
    write(frame, ArpOperation::Request, our_mac, ip, MacAddr::BROADCAST, MacAddr::ZERO, ip)
}

fn write(
    frame: &mut [u8],
    op: ArpOperation,
    sha: MacAddr,
    spa: Ipv4Addr,
    eth_dst: MacAddr,
    tha: MacAddr,
    tpa: Ipv4Addr,
) -> Option<usize> {
    let frame = frame.get_mut(..FRAME_LEN)?;
    frame.fill(0);
    let mut eth = EthernetFrame::new_unchecked(&mut *frame);
    eth.set_dst_addr(eth_dst);
    eth.set_src_addr(sha);
    eth.set_ethertype(EtherType::ARP);
    let mut arp = ArpPacket::new_unchecked(&mut frame[ethernet::HEADER_LEN..]);
    arp.set_ethernet_ipv4();
    arp.set_operation(op);
    arp.set_sender_hw_addr(sha);
    arp.set_sender_proto_addr(spa);
    arp.set_target_hw_addr(tha);
    arp.set_target_proto_addr(tpa);
    Some(FRAME_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::builder;

    const US: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
    const THEM: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);
    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn a_request_becomes_the_reply() {
        let mut f =
            builder::arp((THEM, MacAddr::BROADCAST), ArpOperation::Request, (THEM, CLIENT), (MacAddr::ZERO, VIP));
        answer_in_place(&mut f, US, VIP);
        let want = builder::arp((US, THEM), ArpOperation::Reply, (US, VIP), (THEM, CLIENT));
        assert_eq!(f, want);
    }

    #[test]
    fn requests_and_announcements_are_well_formed() {
        let mut buf = [0xaau8; 64];
        assert_eq!(write_request(&mut buf, US, Ipv4Addr::new(10, 0, 0, 1), CLIENT, MacAddr::BROADCAST), Some(60));
        let mut want = builder::arp(
            (US, MacAddr::BROADCAST),
            ArpOperation::Request,
            (US, Ipv4Addr::new(10, 0, 0, 1)),
            (MacAddr::ZERO, CLIENT),
        );
        want.resize(60, 0);
        assert_eq!(&buf[..60], &want[..]);
        assert_eq!(write_gratuitous(&mut buf, US, VIP), Some(60));
        let mut want = builder::arp((US, MacAddr::BROADCAST), ArpOperation::Request, (US, VIP), (MacAddr::ZERO, VIP));
        want.resize(60, 0);
        assert_eq!(&buf[..60], &want[..]);
        assert_eq!(write_gratuitous(&mut [0u8; 59], US, VIP), None);
    }
}
