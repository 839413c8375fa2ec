//! The benchmark's addresses: clients behind a router on the LAN side, real servers on the DMZ
//! side, and the numbering that maps a flow to its client address and port and back, so that the
//! generator finds a packet's flow from its headers without a table.

use std::net::Ipv4Addr;

/// fnatd's LAN port address and MAC; the generator's LAN side is the clients' router.
pub const GW_LAN: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// fnatd's DMZ port address.
pub const GW_DMZ: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// The router the clients are behind (the generator's LAN side).
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// fnatd's MACs (set in its configuration).
pub const GW_LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// fnatd's DMZ MAC.
pub const GW_DMZ_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// The generator's LAN side MAC (the router).
pub const GEN_LAN_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xab, 0x01];
/// The generator's DMZ side MAC (every real server).
pub const GEN_DMZ_MAC: [u8; 6] = [0x02, 0, 0, 0, 0xab, 0x02];
/// The virtual address.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
/// The first client address (the benchmarking range, RFC 2544's 198.18.0.0/15).
pub const CLIENT_BASE: u32 = u32::from_be_bytes([198, 18, 0, 0]);
/// The first client port.
pub const CPORT_BASE: u16 = 1024;
/// The first real server address.
pub const RS_BASE: u32 = u32::from_be_bytes([10, 1, 1, 1]);
/// The first FULLNAT local address.
pub const LADDR_BASE: u32 = u32::from_be_bytes([10, 1, 2, 1]);

/// How many clients, flows and servers a run has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Topo {
    /// Flows (client address and port pairs).
    pub flows: u32,
    /// Client addresses; flow `f` comes from client `f % clients`.
    pub clients: u32,
    /// Real servers.
    pub servers: u32,
    /// FULLNAT local addresses (64,512 local ports each).
    pub laddrs: u32,
}

impl Topo {
    /// Checks that every flow has a distinct client port (at most 64,512 flows per client) and
    /// that the addresses stay in their ranges.
    pub fn check(&self) -> Result<(), String> {
        if self.clients == 0 || self.flows == 0 || self.servers == 0 || self.laddrs == 0 {
            return Err("flows, clients, servers and local addresses must be at least 1".into());
        }
        if self.clients > 1 << 17 {
            return Err("at most 131072 clients (198.18.0.0/15)".into());
        }
        if self.flows.div_ceil(self.clients) > u32::from(u16::MAX - CPORT_BASE) {
            return Err(format!(
                "{} flows over {} clients need more than {} ports per client: add clients",
                self.flows,
                self.clients,
                u16::MAX - CPORT_BASE
            ));
        }
        if self.servers > 250 || self.laddrs > 250 {
            return Err("at most 250 real servers and 250 local addresses".into());
        }
        Ok(())
    }

    /// Flow `f`'s client address and port.
    #[inline]
    pub fn client(&self, f: u32) -> (Ipv4Addr, u16) {
        let addr = Ipv4Addr::from(CLIENT_BASE + f % self.clients);
        let port = CPORT_BASE + u16::try_from(f / self.clients).unwrap_or(0);
        (addr, port)
    }

    /// The flow of a client address and port, if it is one of this run's.
    #[inline]
    pub fn flow_of(&self, addr: Ipv4Addr, port: u16) -> Option<u32> {
        let c = u32::from(addr).checked_sub(CLIENT_BASE).filter(|&c| c < self.clients)?;
        let p = u32::from(port.checked_sub(CPORT_BASE)?);
        let f = p.checked_mul(self.clients)?.checked_add(c)?;
        (f < self.flows).then_some(f)
    }

    /// Real server `i`'s address.
    pub fn server(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(RS_BASE + i)
    }

    /// Local address `i`.
    pub fn laddr(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(LADDR_BASE + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_map_to_clients_and_back() {
        let t = Topo { flows: 1_000_000, clients: 256, servers: 4, laddrs: 16 };
        t.check().unwrap();
        for f in [0, 1, 255, 256, 999_999] {
            let (a, p) = t.client(f);
            assert_eq!(t.flow_of(a, p), Some(f));
        }
        assert_eq!(t.client(257), (Ipv4Addr::new(198, 18, 0, 1), 1025));
        assert_eq!(t.flow_of(Ipv4Addr::new(198, 18, 1, 0), 1024), None, "client 256 does not exist");
        assert_eq!(t.flow_of(Ipv4Addr::new(10, 0, 0, 1), 1024), None);
        assert_eq!(t.flow_of(Ipv4Addr::new(198, 18, 0, 0), 80), None);
        let too_many = Topo { flows: 70_000, clients: 1, ..t };
        assert!(too_many.check().unwrap_err().contains("add clients"));
    }
}
