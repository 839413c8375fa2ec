//! Opening a connection: the service a packet belongs to, its real server (by the scheduler, or by
//! the client's persistence template), and the new entry in this worker's connection table.
//!
//! A packet to `VIP:port` belongs to the service of that exact key or, when there is none, to the
//! VIP's port-0 service (IPVS's catch-all lookup; a port-0 service is always persistent); before
//! both, a packet that the snapshot's classifier marks goes to the fwmark service of its mark, if
//! there is one (IPVS looks fwmark services up first). For a
//! persistent service the worker asks the gateway-wide [`Templates`](crate::lb::Templates) under
//! the client's shard lock: a live template whose real server is still in the service is followed
//! (a quiesced one too, unless `expire_quiescent_template` is set: IPVS's `ip_vs_check_template`
//! looks only at the server's presence and that setting, not at its weight or thresholds);
//! otherwise the scheduler picks and the template is (re)bound to its choice. The connection holds
//! its template until it is removed, and every removal releases it (`Worker::remove_conn` and the
//! expiry sweep). This is the only lock on the packet path; no packet of an established connection
//! takes it.

use crate::lb::conn::{CONN_F_NO_OUTPUT, ConnIdx};
use crate::lb::nat_owner::{NatOrigin, NatScheme, mixed_owner};
use crate::lb::persist::{Acquired, NO_TEMPLATE, Pick, TemplateDest, TmplHandle};
use crate::lb::sched::SchedCtx;
use crate::lb::service::ServiceIdx;
use crate::lb::{Conn, Dir, FlowKey, FwdMethod, Protocol, RealServer, Service, TcpState, TemplateKey};

use super::{DropReason, Parsed, Worker, is_lone_syn};

/// What became of a packet that found no connection.
pub(super) enum Opened {
    /// A connection opened on this worker.
    Here(ConnIdx, Dir),
    /// The connection, if any, belongs to this other worker (NAT on several workers, see
    /// `lb::nat_owner`).
    Elsewhere(u16),
}

impl Worker {
    /// Opens a connection for a packet to a virtual service, if it may open one here.
    pub(super) fn open(&mut self, p: &Parsed, now: u64) -> Result<Opened, DropReason> {
        let k = p.key;
        let Some((sidx, _)) = self.snap.services.find_for_packet(k.proto, k.dst, k.dport) else {
            if let Some(owner) = self.nat_reply_owner(&k) {
                return Ok(Opened::Elsewhere(owner));
            }
            return Err(if self.snap.services.is_vip(k.dst) { DropReason::NoService } else { DropReason::NotForUs });
        };
        if let Some(owner) = self.nat_request_owner(sidx, &k).filter(|&o| o != self.id.index) {
            return Ok(Opened::Elsewhere(owner));
        }
        if k.proto == Protocol::Tcp && !is_lone_syn(p.tcp_flags) {
            return Err(DropReason::NoConn);
        }
        if self.snap.floating.is_standby(k.dst) {
            return Err(DropReason::Standby);
        }
        let (dest, tmpl) = self.choose(sidx, p, now)?;
        let opened = self.connect(p, now, sidx, &dest, tmpl);
        if opened.is_err() {
            self.templates.release(tmpl, now);
        }
        opened.map(|(idx, dir)| Opened::Here(idx, dir))
    }

    /// The owner of the connections of service `sidx` that `k` (client to VIP) would open or
    /// belongs to, when the service has NAT real servers and there are several workers.
    #[inline]
    fn nat_request_owner(&self, sidx: ServiceIdx, k: &FlowKey) -> Option<u16> {
        if self.id.count < 2 {
            return None;
        }
        let rss = match self.snap.services.nat().scheme(sidx)? {
            NatScheme::ClientRss => self.snap.client_rss(k.src),
            NatScheme::Mixed => None,
        };
        Some(match rss {
            Some(rss) => rss.flow_queue(k.src, k.sport, k.dst, k.dport),
            None => mixed_owner(k.src, k.sport, self.id.count),
        })
    }

    /// The owner of the NAT connection that `k` (from a NAT real server to a client) is a reply of,
    /// when there are several workers.
    pub(super) fn nat_reply_owner(&self, k: &FlowKey) -> Option<u16> {
        if self.id.count < 2 {
            return None;
        }
        let rss = match self.snap.services.nat().origin(k.proto, k.src, k.sport)? {
            NatOrigin::Vip(vip, vport) => self.snap.client_rss(k.dst).map(|rss| (rss, vip, vport)),
            NatOrigin::Mixed => None,
        };
        Some(match rss {
            Some((rss, vip, vport)) => rss.flow_queue(k.dst, k.dport, vip, vport),
            None => mixed_owner(k.dst, k.dport, self.id.count),
        })
    }

    /// The owner of the NAT connection of a flow in either direction (client to VIP, or real
    /// server to client), when there are several workers.
    pub(super) fn nat_owner(&self, k: &FlowKey) -> Option<u16> {
        match self.snap.services.find_for_packet(k.proto, k.dst, k.dport) {
            Some((sidx, _)) => self.nat_request_owner(sidx, k),
            None => self.nat_reply_owner(k),
        }
    }

    /// The real server of a new connection to service `sidx`, with the template it holds (if any).
    fn choose(&mut self, sidx: ServiceIdx, p: &Parsed, now: u64) -> Result<(RealServer, TmplHandle), DropReason> {
        let k = p.key;
        let snap = &*self.snap;
        let svc = snap.services.get(sidx).ok_or(DropReason::NoService)?;
        let sched = self.sched.get_mut(sidx as usize).ok_or(DropReason::NoDest)?;
        // The gateway's counts of this service's real servers, from the snapshot's load board.
        let loads = |j: usize| snap.loads.total(snap.services.dest_slot(sidx, j));
        let ctx =
            SchedCtx { src: k.src, sport: k.sport, dst: k.dst, now, loads: &loads, cursor: snap.services.cursor(sidx) };
        let Some(pers) = svc.persistence else {
            let dest = sched.pick(&svc.dests, &ctx).and_then(|i| svc.dests.get(i)).ok_or(DropReason::NoDest)?;
            return Ok((*dest, NO_TEMPLATE));
        };
        let client = pers.client_net(k.src);
        let key = TemplateKey::for_service(&svc.key, k.proto, client, k.dst);
        let quiescent = snap.expire_quiescent_template;
        let mut followed = false;
        let acquired = self.templates.acquire(&key, now, pers.timeout_ms, |live| {
            // A template is followed while its server is eligible (IPVS-SEMANTICS.md): present, not
            // overloaded, and, with expire_quiescent_template, not quiesced.
            let follow = live.and_then(|t| followable(svc, t, quiescent));
            if let Some(i) = follow.filter(|&i| !sched.is_overloaded(&svc.dests, ctx.loads, i)) {
                followed = true;
                return Pick::Keep(i);
            }
            match sched.pick(&svc.dests, &ctx).and_then(|i| svc.dests.get(i).map(|d| (i, d))) {
                Some((i, d)) => Pick::Bind(TemplateDest::from(d), i),
                None => Pick::None,
            }
        });
        let (i, tmpl) = match acquired {
            Acquired::Bound(h, i) => (i, h),
            Acquired::Untracked(i) => {
                self.stats.persist_untracked += 1;
                (i, NO_TEMPLATE)
            }
            Acquired::None => return Err(DropReason::NoDest),
        };
        let Some(&dest) = svc.dests.get(i) else {
            self.templates.release(tmpl, now);
            return Err(DropReason::NoDest);
        };
        // A template newly bound: the backups learn it (a sync master).
        let note = (!followed && snap.sync_master && tmpl != NO_TEMPLATE)
            .then(|| super::sync::template_record(&key, &TemplateDest::from(&dest), pers.timeout_ms));
        if followed {
            self.stats.persist_followed += 1;
        }
        if let Some(r) = note {
            self.sync_note_record(r);
        }
        Ok((dest, tmpl))
    }

    /// Creates the connection to `dest` for the packet: route check, local port, table entry.
    fn connect(
        &mut self,
        p: &Parsed,
        now: u64,
        sidx: ServiceIdx,
        dest: &RealServer,
        tmpl: TmplHandle,
    ) -> Result<(ConnIdx, Dir), DropReason> {
        let k = p.key;
        let snap = &*self.snap;
        // Refuse before creating state when the real server cannot be routed to.
        let (_, nh) = snap.routes.lookup(dest.addr).ok_or(DropReason::NoRoute)?;
        if dest.method == FwdMethod::Dr && nh != dest.addr {
            return Err(DropReason::DrNotOnLink);
        }
        // A real server of port 0 (port-0 services) takes each connection on its own port.
        let rport = if dest.port == 0 { k.dport } else { dest.port };
        // FULLNAT takes a local port; the other methods keep the client's address and port.
        let (lip, lport) = match dest.method {
            FwdMethod::FullNat => {
                let laddrs = snap.services.get(sidx).map_or(&[][..], |s: &Service| &s.laddrs);
                self.laddr.acquire(laddrs, dest.addr, rport).ok_or(DropReason::NoLocalPort)?
            }
            _ => (k.src, k.sport),
        };
        let conn = Conn {
            cip: k.src,
            vip: k.dst,
            lip,
            rip: dest.addr,
            cport: k.sport,
            vport: k.dport,
            lport,
            rport,
            expires: now,
            dest: dest.id,
            proto: k.proto,
            state: TcpState::None as u8,
            // DR and TUN replies bypass the gateway: the INPUT-ONLY state table applies.
            flags: if matches!(dest.method, FwdMethod::Dr | FwdMethod::Tun) { CONN_F_NO_OUTPUT } else { 0 },
            method: dest.method,
            tmpl,
            tally: self.dest_conns.slot(dest.id),
        };
        // Without a local port the reply's flow (RIP:rport -> CIP:cport) may already belong to
        // another connection (the same client port to two VIPs sharing a real server).
        let clash = dest.method != FwdMethod::FullNat && self.conns.lookup(&conn.key(Dir::Out)).is_some();
        let inserted = if clash {
            Err(DropReason::ConnClash)
        } else {
            self.conns.insert(conn).map_err(|_| DropReason::ConnTableFull)
        };
        match inserted {
            Ok(idx) => {
                self.stats.conns_created += 1;
                self.dest_conns.open(&self.snap, conn.tally);
                Ok((idx, Dir::In))
            }
            Err(e) => {
                if dest.method == FwdMethod::FullNat {
                    self.laddr.release(lip, lport);
                }
                Err(e)
            }
        }
    }
}

/// The index in the service of a template's real server, when the template may be followed: the
/// server is still in the service, and it is not quiesced while `expire_quiescent_template` is set
/// (the caller also requires that it is not overloaded).
fn followable(svc: &Service, t: &TemplateDest, expire_quiescent: bool) -> Option<usize> {
    let i = svc.dests.iter().position(|d| d.id == t.id)?;
    let quiesced = svc.dests.get(i).is_some_and(|d| d.weight == 0);
    (!(expire_quiescent && quiesced)).then_some(i)
}
