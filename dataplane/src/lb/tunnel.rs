//! IPv4-in-IPv4 (IPIP, protocol 4) for the TUN method: an outer header from the gateway to the real
//! server around the untouched client packet (RFC 2003).

use std::net::Ipv4Addr;

use crate::packet::{Ipv4Packet, ipv4};

/// Bytes the outer header adds.
pub const OVERHEAD: usize = ipv4::HEADER_LEN;

/// Writes the outer IPv4 header into `hdr` for the inner packet `inner` (a validated IPv4 packet of
/// `inner_len` bytes): from `src` to `dst`, protocol 4, the inner packet's TOS, TTL and Don't Fragment
/// flag, identification `ident`, and its checksum.
pub fn write_outer(
    hdr: &mut [u8],
    inner: &Ipv4Packet<&[u8]>,
    inner_len: u16,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
) {
    let Some(hdr) = hdr.get_mut(..OVERHEAD) else { return };
    hdr.fill(0);
    let mut outer = Ipv4Packet::new_unchecked(hdr);
    outer.set_version_and_header_len(4, 20);
    outer.set_dscp_ecn(inner.dscp_ecn());
    outer.set_total_len(inner_len.saturating_add(20));
    outer.set_ident(ident);
    outer.set_dont_frag(inner.dont_frag());
    outer.set_ttl(inner.ttl());
    outer.set_protocol(ipv4::protocol::IPIP);
    outer.set_src_addr(src);
    outer.set_dst_addr(dst);
    outer.fill_checksum();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::MacAddr;
    use crate::packet::builder::FrameSpec;

    #[test]
    fn the_outer_header_copies_what_rfc_2003_says() {
        let eth = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let frame =
            FrameSpec::new(eth, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 100)).with_ttl(57).udp(1, 2, b"x");
        let inner = Ipv4Packet::new_checked(&frame[14..]).unwrap();
        let mut hdr = [0xffu8; 20];
        write_outer(&mut hdr, &inner, inner.total_len(), Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 11), 7);
        let outer = Ipv4Packet::new_checked_quoted(&hdr[..]).unwrap();
        assert!(outer.verify_checksum());
        assert_eq!(outer.total_len(), inner.total_len() + 20);
        assert_eq!((outer.ttl(), outer.protocol(), outer.ident(), outer.dont_frag()), (57, 4, 7, true));
        assert_eq!((outer.src_addr(), outer.dst_addr()), (Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 1, 0, 11)));
    }
}
