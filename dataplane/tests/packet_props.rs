//! Property tests of `dataplane::packet`: checksum arithmetic against its definition, the views
//! against etherparse as an oracle, no panic on arbitrary bytes, and the builder's frames as
//! etherparse reads them.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};

use dataplane::packet::builder::{self, FrameSpec, TcpSpec};
use dataplane::packet::checksum;
use dataplane::packet::icmp::msg_type;
use dataplane::packet::ipv4::protocol;
use dataplane::packet::{
    ArpOperation, ArpPacket, EtherType, EthernetFrame, Icmpv4Packet, Ipv4Packet, MacAddr, TcpFlags, TcpPacket,
    UdpPacket,
};
use etherparse::{
    Ethernet2Slice, Icmpv4Slice, IpFragOffset, IpHeaders, Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv4Options, Ipv4Slice,
    PacketBuilder, TcpHeader, TcpOptions, TcpSlice, UdpSlice,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// (1) Checksum arithmetic.
// ---------------------------------------------------------------------------------------------

/// The definition of RFC 1071, one 16-bit word at a time.
fn reference_checksum(data: &[u8]) -> u16 {
    let mut acc: u32 = 0;
    for pair in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]));
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !u16::try_from(acc).unwrap()
}

fn to_bytes(words: &[u16]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// Words biased towards the corner values 0x0000 and 0xffff.
fn word() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), Just(0xffffu16), Just(1u16), any::<u16>()]
}

/// Data of 2 to 40 words; when `balanced`, the last word makes the sum a multiple of 0xffff, so
/// that the checksum is 0x0000, the corner where one's complement has two zeros.
fn data_words() -> impl Strategy<Value = Vec<u16>> {
    (prop::collection::vec(word(), 2..40), any::<bool>()).prop_map(|(mut words, balanced)| {
        if balanced {
            let last = words.len() - 1;
            words[last] = checksum::checksum(&to_bytes(&words[..last]));
        }
        words
    })
}

/// Checks an incremental result against a full recompute of the changed data.
fn check_update(updated: u16, new_data: &[u8]) -> Result<(), TestCaseError> {
    let recomputed = checksum::checksum(new_data);
    if new_data.iter().all(|&b| b == 0) {
        // The one documented difference: all-zero data recomputes to 0xffff, updates give 0x0000.
        prop_assert_eq!(recomputed, 0xffff);
        prop_assert!(updated == 0x0000 || updated == 0xffff);
    } else {
        prop_assert_eq!(updated, recomputed);
        prop_assert_ne!(updated, 0xffff);
        let verify = checksum::fold(checksum::sum(&updated.to_be_bytes(), checksum::sum(new_data, 0)));
        prop_assert_eq!(verify, 0xffff);
    }
    Ok(())
}

proptest! {
    #[test]
    fn sum_matches_the_definition_in_any_even_split(
        data in prop::collection::vec(any::<u8>(), 0..300),
        split in any::<prop::sample::Index>(),
    ) {
        prop_assert_eq!(checksum::checksum(&data), reference_checksum(&data));
        let at = split.index(data.len() + 1) & !1;
        let acc = checksum::sum(&data[at..], checksum::sum(&data[..at], 0));
        prop_assert_eq!(!checksum::fold(acc), reference_checksum(&data));
    }

    #[test]
    fn update_u16_equals_recompute(
        mut words in data_words(),
        at in any::<prop::sample::Index>(),
        new in word(),
    ) {
        let csum = checksum::checksum(&to_bytes(&words));
        let i = at.index(words.len());
        let old = words[i];
        words[i] = new;
        check_update(checksum::update_u16(csum, old, new), &to_bytes(&words))?;
    }

    #[test]
    fn update_u32_equals_recompute(
        mut words in data_words(),
        at in any::<prop::sample::Index>(),
        new in (word(), word()),
    ) {
        let csum = checksum::checksum(&to_bytes(&words));
        let i = at.index(words.len() - 1);
        let old = (u32::from(words[i]) << 16) | u32::from(words[i + 1]);
        (words[i], words[i + 1]) = new;
        let new = (u32::from(new.0) << 16) | u32::from(new.1);
        check_update(checksum::update_u32(csum, old, new), &to_bytes(&words))?;
        let (old_addr, new_addr) = (Ipv4Addr::from_bits(old), Ipv4Addr::from_bits(new));
        prop_assert_eq!(checksum::update_addr(csum, old_addr, new_addr), checksum::update_u32(csum, old, new));
    }
}

// ---------------------------------------------------------------------------------------------
// (2) The views agree with etherparse on packets etherparse builds.
// ---------------------------------------------------------------------------------------------

/// Bytes in whole 32-bit words, at most 40: valid IPv4 or TCP options.
fn option_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<[u8; 4]>(), 0..=10).prop_map(|words| words.concat())
}

fn ipv4_header() -> impl Strategy<Value = Ipv4Header> {
    (
        (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<u8>(), any::<u16>()),
        (0u8..64, 0u8..4, any::<bool>(), any::<bool>(), 0u16..0x2000),
        option_bytes(),
    )
        .prop_map(|((source, destination, ttl, ident), (dscp, ecn, df, mf, frag), options)| Ipv4Header {
            source,
            destination,
            time_to_live: ttl,
            identification: ident,
            dscp: Ipv4Dscp::try_new(dscp).unwrap(),
            ecn: Ipv4Ecn::try_new(ecn).unwrap(),
            dont_fragment: df,
            more_fragments: mf,
            fragment_offset: IpFragOffset::try_new(frag).unwrap(),
            options: Ipv4Options::try_from(&options[..]).unwrap(),
            ..Default::default()
        })
}

fn tcp_header() -> impl Strategy<Value = TcpHeader> {
    (
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>()),
        (any::<u16>(), any::<u16>(), any::<u8>()),
        option_bytes(),
    )
        .prop_map(|((sport, dport, seq, ack), (window, urgent, flags), options)| {
            let mut header = TcpHeader::new(sport, dport, seq, window);
            header.acknowledgment_number = ack;
            header.urgent_pointer = urgent;
            let bit = |mask: u8| flags & mask != 0;
            (header.fin, header.syn, header.rst, header.psh) = (bit(0x01), bit(0x02), bit(0x04), bit(0x08));
            (header.ack, header.urg, header.ece, header.cwr) = (bit(0x10), bit(0x20), bit(0x40), bit(0x80));
            header.options = TcpOptions::try_from_slice(&options).unwrap();
            header
        })
}

#[derive(Clone, Debug)]
enum Transport {
    Tcp(TcpHeader),
    Udp(u16, u16),
    Icmp(u8, u8, [u8; 4]),
}

fn transport() -> impl Strategy<Value = Transport> {
    prop_oneof![
        tcp_header().prop_map(Transport::Tcp),
        (any::<u16>(), any::<u16>()).prop_map(|(s, d)| Transport::Udp(s, d)),
        // etherparse reads timestamp messages (13, 14) with a 20-byte header; leave them out.
        (any::<u8>().prop_filter("timestamp", |t| !matches!(t, 13 | 14)), any::<u8>(), any::<[u8; 4]>())
            .prop_map(|(t, c, r)| Transport::Icmp(t, c, r)),
    ]
}

/// An Ethernet/IPv4 frame written by etherparse, plus 0 to 8 bytes of link-layer padding.
fn etherparse_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        (any::<[u8; 6]>(), any::<[u8; 6]>()),
        ipv4_header(),
        transport(),
        prop::collection::vec(any::<u8>(), 0..100),
        prop::collection::vec(any::<u8>(), 0..=8),
    )
        .prop_map(|((src_mac, dst_mac), ip, transport, payload, padding)| {
            let step = PacketBuilder::ethernet2(src_mac, dst_mac).ip(IpHeaders::Ipv4(ip, Default::default()));
            let mut frame = Vec::new();
            match transport {
                Transport::Tcp(tcp) => step.tcp_header(tcp).write(&mut frame, &payload),
                Transport::Udp(s, d) => step.udp(s, d).write(&mut frame, &payload),
                Transport::Icmp(t, c, r) => step.icmpv4_raw(t, c, r).write(&mut frame, &payload),
            }
            .unwrap();
            frame.extend_from_slice(&padding);
            frame
        })
}

/// Parses `frame` with the views and with etherparse and compares every field and checksum.
fn check_against_etherparse(frame: &[u8]) -> Result<(), TestCaseError> {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let oracle = Ethernet2Slice::from_slice_without_fcs(frame).unwrap();
    prop_assert_eq!(eth.dst_addr(), MacAddr(oracle.destination()));
    prop_assert_eq!(eth.src_addr(), MacAddr(oracle.source()));
    prop_assert_eq!(eth.ethertype(), EtherType(oracle.ether_type().0));
    prop_assert_eq!(eth.ethertype(), EtherType::IPV4);

    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let oracle = Ipv4Slice::from_slice(eth.payload()).unwrap();
    let header = oracle.header();
    prop_assert_eq!(ip.version(), header.version());
    prop_assert_eq!(ip.header_len(), header.ihl() * 4);
    prop_assert_eq!(ip.dscp(), header.dcp().value());
    prop_assert_eq!(ip.ecn(), header.ecn().value());
    prop_assert_eq!(ip.total_len(), header.total_len());
    prop_assert_eq!(ip.ident(), header.identification());
    prop_assert_eq!(ip.dont_frag(), header.dont_fragment());
    prop_assert_eq!(ip.more_frags(), header.more_fragments());
    prop_assert_eq!(ip.frag_offset(), header.fragments_offset().byte_offset());
    prop_assert_eq!(ip.is_fragment(), header.is_fragmenting_payload());
    prop_assert_eq!(ip.ttl(), header.ttl());
    prop_assert_eq!(ip.protocol(), header.protocol().0);
    prop_assert_eq!(ip.checksum(), header.header_checksum());
    prop_assert_eq!(ip.src_addr(), header.source_addr());
    prop_assert_eq!(ip.dst_addr(), header.destination_addr());
    prop_assert_eq!(ip.options(), header.options());
    prop_assert_eq!(ip.payload(), oracle.payload().payload);
    prop_assert_eq!(ip.checksum(), header.to_header().calc_header_checksum());
    prop_assert!(ip.verify_checksum());

    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    match ip.protocol() {
        protocol::TCP => {
            let tcp = TcpPacket::new_checked(ip.payload()).unwrap();
            let oracle = TcpSlice::from_slice(ip.payload()).unwrap();
            prop_assert_eq!(tcp.src_port(), oracle.source_port());
            prop_assert_eq!(tcp.dst_port(), oracle.destination_port());
            prop_assert_eq!(tcp.seq_number(), oracle.sequence_number());
            prop_assert_eq!(tcp.ack_number(), oracle.acknowledgment_number());
            prop_assert_eq!(tcp.header_len(), oracle.data_offset() * 4);
            let flags = tcp.flags();
            prop_assert_eq!(flags.contains(TcpFlags::FIN), oracle.fin());
            prop_assert_eq!(flags.contains(TcpFlags::SYN), oracle.syn());
            prop_assert_eq!(flags.contains(TcpFlags::RST), oracle.rst());
            prop_assert_eq!(flags.contains(TcpFlags::PSH), oracle.psh());
            prop_assert_eq!(flags.contains(TcpFlags::ACK), oracle.ack());
            prop_assert_eq!(flags.contains(TcpFlags::URG), oracle.urg());
            prop_assert_eq!(flags.contains(TcpFlags::ECE), oracle.ece());
            prop_assert_eq!(flags.contains(TcpFlags::CWR), oracle.cwr());
            prop_assert_eq!(tcp.window_len(), oracle.window_size());
            prop_assert_eq!(tcp.checksum(), oracle.checksum());
            prop_assert_eq!(tcp.urgent_at(), oracle.urgent_pointer());
            prop_assert_eq!(tcp.options(), oracle.options());
            prop_assert_eq!(tcp.payload(), oracle.payload());
            prop_assert_eq!(Ok(tcp.checksum()), oracle.calc_checksum_ipv4(src.octets(), dst.octets()));
            prop_assert!(tcp.verify_checksum(src, dst));
        }
        protocol::UDP => {
            let udp = UdpPacket::new_checked(ip.payload()).unwrap();
            let oracle = UdpSlice::from_slice(ip.payload()).unwrap();
            prop_assert_eq!(udp.src_port(), oracle.source_port());
            prop_assert_eq!(udp.dst_port(), oracle.destination_port());
            prop_assert_eq!(udp.len(), oracle.length());
            prop_assert_eq!(udp.checksum(), oracle.checksum());
            prop_assert_eq!(udp.payload(), oracle.payload());
            let expected = oracle.to_header().calc_checksum_ipv4_raw(src.octets(), dst.octets(), oracle.payload());
            prop_assert_eq!(Ok(udp.checksum()), expected);
            prop_assert!(udp.verify_checksum(src, dst));
        }
        protocol::ICMP => {
            let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
            let oracle = Icmpv4Slice::from_slice(ip.payload()).unwrap();
            prop_assert_eq!(icmp.msg_type(), oracle.type_u8());
            prop_assert_eq!(icmp.code(), oracle.code_u8());
            prop_assert_eq!(icmp.checksum(), oracle.checksum());
            prop_assert_eq!(icmp.rest_of_header(), u32::from_be_bytes(oracle.bytes5to8()));
            prop_assert_eq!(icmp.data(), &oracle.slice()[8..]);
            prop_assert!(icmp.verify_checksum());
        }
        other => prop_assert!(false, "unexpected protocol {}", other),
    }
    Ok(())
}

/// Recomputes every checksum of an Ethernet/IPv4 frame in place through the views.
fn refill_checksums(frame: &mut [u8]) {
    let mut eth = EthernetFrame::new_checked(frame).unwrap();
    let mut ip = Ipv4Packet::new_checked(eth.payload_mut()).unwrap();
    ip.set_checksum(0x1234);
    ip.fill_checksum();
    let (src, dst, proto) = (ip.src_addr(), ip.dst_addr(), ip.protocol());
    let l4 = ip.payload_mut();
    match proto {
        protocol::TCP => TcpPacket::new_checked(l4).unwrap().fill_checksum(src, dst),
        protocol::UDP => UdpPacket::new_checked(l4).unwrap().fill_checksum(src, dst),
        _ => Icmpv4Packet::new_checked(l4).unwrap().fill_checksum(),
    }
}

proptest! {
    #[test]
    fn views_agree_with_etherparse(frame in etherparse_frame()) {
        check_against_etherparse(&frame)?;
    }

    #[test]
    fn fill_checksum_reproduces_etherparse(frame in etherparse_frame()) {
        let mut refilled = frame.clone();
        refill_checksums(&mut refilled);
        prop_assert_eq!(refilled, frame);
    }

    #[test]
    fn any_single_bit_flip_fails_verification(frame in etherparse_frame(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        // Flip a bit in the IPv4 header or in the transport message, checksum fields included.
        let ip_at = 14;
        let ip = Ipv4Packet::new_checked(&frame[ip_at..]).unwrap();
        let (header_len, total_len, proto) = (usize::from(ip.header_len()), usize::from(ip.total_len()), ip.protocol());
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let mut flipped = frame.clone();
        let in_header = at.index(2) == 0;
        let i = if in_header { ip_at + at.index(header_len) } else { ip_at + header_len + at.index(total_len - header_len) };
        flipped[i] ^= 1 << bit;
        let l4 = &flipped[ip_at + header_len..ip_at + total_len];
        if in_header {
            prop_assert!(!Ipv4Packet::new_unchecked(&flipped[ip_at..]).verify_checksum());
        } else if proto == protocol::TCP {
            prop_assert!(!TcpPacket::new_unchecked(l4).verify_checksum(src, dst));
        } else if proto == protocol::UDP {
            // A flip that turns the checksum field into 0 makes it "none", which verifies.
            let udp = UdpPacket::new_unchecked(l4);
            prop_assert_eq!(udp.verify_checksum(src, dst), udp.checksum() == 0);
        } else {
            prop_assert!(!Icmpv4Packet::new_unchecked(l4).verify_checksum());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (3) Arbitrary bytes never panic.
// ---------------------------------------------------------------------------------------------

/// Parses `bytes` with every view and calls every accessor, then every setter with values taken
/// from `values`, then every accessor again.
fn exercise(bytes: &mut [u8], values: [u8; 8]) {
    let v16 = u16::from_be_bytes([values[0], values[1]]);
    let v32 = u32::from_be_bytes([values[0], values[1], values[2], values[3]]);
    let addr = Ipv4Addr::from_bits(v32);
    let mac = MacAddr([values[0], values[1], values[2], values[3], values[4], values[5]]);

    if let Ok(mut eth) = EthernetFrame::new_checked(&mut *bytes) {
        black_box((eth.dst_addr(), eth.src_addr(), eth.ethertype(), eth.payload().len()));
        eth.set_dst_addr(mac);
        eth.set_src_addr(mac);
        eth.set_ethertype(EtherType(v16));
        black_box(eth.payload_mut().len());
    }
    if let Ok(mut arp) = ArpPacket::new_checked(&mut *bytes) {
        black_box((arp.is_ethernet_ipv4(), arp.operation(), arp.sender_hw_addr(), arp.sender_proto_addr()));
        black_box((arp.target_hw_addr(), arp.target_proto_addr(), arp.hardware_type(), arp.protocol_type()));
        arp.set_operation(ArpOperation::from(v16));
        arp.set_ethernet_ipv4();
        arp.set_sender_hw_addr(mac);
        arp.set_sender_proto_addr(addr);
        arp.set_target_hw_addr(mac);
        arp.set_target_proto_addr(addr);
    }
    for quoted in [false, true] {
        let parsed =
            if quoted { Ipv4Packet::new_checked_quoted(&mut *bytes) } else { Ipv4Packet::new_checked(&mut *bytes) };
        if let Ok(mut ip) = parsed {
            let read = |ip: &Ipv4Packet<&mut [u8]>| {
                black_box((ip.version(), ip.header_len(), ip.dscp_ecn(), ip.dscp(), ip.ecn(), ip.total_len()));
                black_box((ip.ident(), ip.dont_frag(), ip.more_frags(), ip.frag_offset(), ip.is_fragment()));
                black_box((ip.ttl(), ip.protocol(), ip.checksum(), ip.src_addr(), ip.dst_addr()));
                black_box((ip.header().len(), ip.options().len(), ip.payload().len(), ip.verify_checksum()));
            };
            read(&ip);
            ip.set_header_len(values[0]);
            ip.set_total_len(v16);
            read(&ip);
            ip.set_version_and_header_len(values[1], values[2]);
            ip.set_dscp_ecn(values[3]);
            ip.set_ident(v16);
            ip.set_dont_frag(values[4] & 1 != 0);
            ip.set_more_frags(values[4] & 2 != 0);
            ip.set_frag_offset(v16);
            ip.set_ttl(values[5]);
            ip.set_protocol(values[6]);
            ip.set_src_addr(addr);
            ip.set_dst_addr(addr);
            ip.fill_checksum();
            black_box((ip.options_mut().len(), ip.payload_mut().len()));
            read(&ip);
            ip.clear_flags();
        }
    }
    if let Ok(mut tcp) = TcpPacket::new_checked(&mut *bytes) {
        let read = |tcp: &TcpPacket<&mut [u8]>| {
            black_box((tcp.src_port(), tcp.dst_port(), tcp.seq_number(), tcp.ack_number(), tcp.header_len()));
            black_box((tcp.flags(), tcp.window_len(), tcp.checksum(), tcp.urgent_at()));
            black_box((tcp.options().len(), tcp.payload().len(), tcp.verify_checksum(addr, addr)));
        };
        read(&tcp);
        tcp.set_header_len(values[0]);
        read(&tcp);
        tcp.set_src_port(v16);
        tcp.set_dst_port(v16);
        tcp.set_seq_number(v32);
        tcp.set_ack_number(v32);
        tcp.set_flags(TcpFlags::from_bits(values[1]));
        tcp.set_window_len(v16);
        tcp.set_urgent_at(v16);
        tcp.fill_checksum(addr, addr);
        black_box((tcp.options_mut().len(), tcp.payload_mut().len()));
        read(&tcp);
    }
    if let Ok(mut udp) = UdpPacket::new_checked(&mut *bytes) {
        let read = |udp: &UdpPacket<&mut [u8]>| {
            black_box((udp.src_port(), udp.dst_port(), udp.len(), udp.checksum()));
            black_box((udp.payload().len(), udp.verify_checksum(addr, addr)));
        };
        read(&udp);
        udp.set_len(v16);
        read(&udp);
        udp.set_src_port(v16);
        udp.set_dst_port(v16);
        udp.fill_checksum(addr, addr);
        udp.update_checksum_u16(v16, !v16);
        udp.update_checksum_addr(addr, Ipv4Addr::BROADCAST);
        black_box(udp.payload_mut().len());
        read(&udp);
    }
    if let Ok(mut icmp) = Icmpv4Packet::new_checked(&mut *bytes) {
        black_box((icmp.msg_type(), icmp.code(), icmp.checksum(), icmp.rest_of_header()));
        black_box((icmp.echo_ident(), icmp.echo_seq_no(), icmp.next_hop_mtu(), icmp.data().len()));
        black_box(icmp.verify_checksum());
        icmp.set_msg_type(values[0]);
        icmp.set_code(values[1]);
        icmp.set_rest_of_header(v32);
        icmp.set_echo_ident(v16);
        icmp.set_echo_seq_no(v16);
        icmp.set_next_hop_mtu(v16);
        black_box(icmp.data_mut().len());
        icmp.fill_checksum();
    }
}

/// A frame etherparse built, then damaged: cut short and with a few bytes overwritten.
fn damaged_frame() -> impl Strategy<Value = Vec<u8>> {
    (
        etherparse_frame(),
        any::<prop::sample::Index>(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    )
        .prop_map(|(mut frame, cut, writes)| {
            for (at, value) in writes {
                let i = at.index(frame.len());
                frame[i] = value;
            }
            frame.truncate(cut.index(frame.len() + 1));
            frame
        })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..120), values in any::<[u8; 8]>()) {
        exercise(&mut bytes, values);
    }

    #[test]
    fn damaged_frames_never_panic(frame in damaged_frame(), values in any::<[u8; 8]>()) {
        let mut frame = frame;
        if let Ok(eth) = EthernetFrame::new_checked(&frame[..]) {
            // Nested, as the fast path parses them.
            if let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) {
                black_box((TcpPacket::new_checked(ip.payload()).is_ok(), UdpPacket::new_checked(ip.payload()).is_ok()));
                black_box(Icmpv4Packet::new_checked(ip.payload()).map(|icmp| icmp.verify_checksum()).ok());
            }
        }
        let mut l3 = frame.get(14..).map(<[u8]>::to_vec).unwrap_or_default();
        exercise(&mut l3, values);
        exercise(&mut frame, values);
    }
}

// ---------------------------------------------------------------------------------------------
// (4) The builder's frames, as etherparse reads them.
// ---------------------------------------------------------------------------------------------

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    (any::<[u8; 6]>(), any::<[u8; 6]>(), any::<u32>(), any::<u32>(), any::<u8>()).prop_map(|(a, b, s, d, ttl)| {
        FrameSpec::new((MacAddr(a), MacAddr(b)), Ipv4Addr::from_bits(s), Ipv4Addr::from_bits(d)).with_ttl(ttl)
    })
}

/// Checks what etherparse reads in the Ethernet and IPv4 headers of a built frame.
fn check_built_ipv4<'a>(frame: &'a [u8], spec: &FrameSpec, proto: u8) -> Result<&'a [u8], TestCaseError> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).unwrap();
    prop_assert_eq!((MacAddr(eth.source()), MacAddr(eth.destination())), (spec.eth_src, spec.eth_dst));
    prop_assert_eq!(eth.ether_type(), etherparse::EtherType::IPV4);
    let ip = Ipv4Slice::from_slice(eth.payload_slice()).unwrap();
    let header = ip.header();
    prop_assert_eq!((header.source_addr(), header.destination_addr()), (spec.src, spec.dst));
    prop_assert_eq!((header.ttl(), header.identification(), header.dont_fragment()), (spec.ttl, 0, true));
    prop_assert_eq!(header.protocol().0, proto);
    prop_assert_eq!(header.header_checksum(), header.to_header().calc_header_checksum());
    prop_assert_eq!(usize::from(header.total_len()) + 14, frame.len());
    Ok(ip.payload().payload)
}

proptest! {
    #[test]
    fn built_tcp_frames_read_back_in_etherparse(
        spec in frame_spec(),
        (sport, dport, seq, ack, flags, window) in (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>(), any::<u8>(), any::<u16>()),
        options in prop::collection::vec(any::<u8>(), 0..=40),
        payload in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let tcp = TcpSpec::new(sport, dport, TcpFlags::from_bits(flags)).seq(seq).ack(ack).window(window).options(&options);
        let frame = spec.tcp(tcp, &payload);
        let l4 = check_built_ipv4(&frame, &spec, protocol::TCP)?;
        let oracle = TcpSlice::from_slice(l4).unwrap();
        prop_assert_eq!((oracle.source_port(), oracle.destination_port()), (sport, dport));
        prop_assert_eq!((oracle.sequence_number(), oracle.acknowledgment_number()), (seq, ack));
        prop_assert_eq!(oracle.slice()[13], flags);
        prop_assert_eq!(oracle.window_size(), window);
        prop_assert_eq!(&oracle.options()[..options.len()], &options[..]);
        prop_assert!(oracle.options()[options.len()..].iter().all(|&b| b == 0));
        prop_assert_eq!(oracle.payload(), &payload[..]);
        prop_assert_eq!(Ok(oracle.checksum()), oracle.calc_checksum_ipv4(spec.src.octets(), spec.dst.octets()));
    }

    #[test]
    fn built_udp_frames_read_back_in_etherparse(
        spec in frame_spec(),
        (sport, dport, with_checksum) in (any::<u16>(), any::<u16>(), any::<bool>()),
        payload in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let frame = if with_checksum {
            builder::udp_v4((spec.eth_src, spec.eth_dst), SocketAddrV4::new(spec.src, sport), SocketAddrV4::new(spec.dst, dport), &payload, spec.ttl)
        } else {
            spec.udp_without_checksum(sport, dport, &payload)
        };
        let l4 = check_built_ipv4(&frame, &spec, protocol::UDP)?;
        let oracle = UdpSlice::from_slice(l4).unwrap();
        prop_assert_eq!((oracle.source_port(), oracle.destination_port()), (sport, dport));
        prop_assert_eq!(usize::from(oracle.length()), 8 + payload.len());
        prop_assert_eq!(oracle.payload(), &payload[..]);
        let expected = if with_checksum {
            oracle.to_header().calc_checksum_ipv4_raw(spec.src.octets(), spec.dst.octets(), &payload).unwrap()
        } else {
            0
        };
        prop_assert_eq!(oracle.checksum(), expected);
    }

    #[test]
    fn built_icmp_frames_read_back_in_etherparse(
        spec in frame_spec(),
        (ident, seq_no, reply) in (any::<u16>(), any::<u16>(), any::<bool>()),
        payload in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let kind = if reply { msg_type::ECHO_REPLY } else { msg_type::ECHO_REQUEST };
        let frame = builder::icmp_echo_v4((spec.eth_src, spec.eth_dst), spec.src, spec.dst, kind, ident, seq_no, &payload, spec.ttl);
        let l4 = check_built_ipv4(&frame, &spec, protocol::ICMP)?;
        let oracle = Icmpv4Slice::from_slice(l4).unwrap();
        let echo = etherparse::IcmpEchoHeader { id: ident, seq: seq_no };
        let expected = if reply { etherparse::Icmpv4Type::EchoReply(echo) } else { etherparse::Icmpv4Type::EchoRequest(echo) };
        prop_assert_eq!(oracle.icmp_type(), expected.clone());
        prop_assert_eq!(oracle.payload(), &payload[..]);
        prop_assert_eq!(oracle.checksum(), expected.calc_checksum(&payload));
    }

    #[test]
    fn built_arp_frames_match_the_rfc_layout(
        (a, b, c, d) in (any::<[u8; 6]>(), any::<[u8; 6]>(), any::<[u8; 6]>(), any::<[u8; 6]>()),
        (s, t, op) in (any::<u32>(), any::<u32>(), any::<u16>()),
    ) {
        let sender = (MacAddr(c), Ipv4Addr::from_bits(s));
        let target = (MacAddr(d), Ipv4Addr::from_bits(t));
        let frame = builder::arp((MacAddr(a), MacAddr(b)), ArpOperation::from(op), sender, target);
        let eth = Ethernet2Slice::from_slice_without_fcs(&frame).unwrap();
        prop_assert_eq!(eth.ether_type(), etherparse::EtherType::ARP);
        // etherparse 0.16 has no ARP parser: compare with the RFC 826 layout written out.
        let expected: Vec<u8> = [&[0, 1, 8, 0, 6, 4][..], &op.to_be_bytes(), &c, &s.to_be_bytes(), &d, &t.to_be_bytes()].concat();
        prop_assert_eq!(eth.payload_slice(), &expected[..]);
        let arp = ArpPacket::new_checked(eth.payload_slice()).unwrap();
        prop_assert!(arp.is_ethernet_ipv4());
        prop_assert_eq!((arp.operation(), arp.sender_hw_addr(), arp.target_proto_addr()), (ArpOperation::from(op), sender.0, target.1));
    }
}
