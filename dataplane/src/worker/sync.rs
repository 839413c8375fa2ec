//! Connection sync, the worker's side: a sync master notes its connections for the backups; a
//! backup installs what the master noted (the IPVS sync daemon's two ends, `ip_vs_sync.c`).
//!
//! A master notes a connection when it is created, when its TCP state changes, and at a packet
//! once its last note is older than the refresh period (about [`REFRESH_MS`], told by three bits
//! of its flags, so that the entry keeps its size), so that a backup's copy of a long-lived
//! connection does not expire while the master's lives. The notes wait in a bounded buffer until
//! the poll loop passes them to the control lcore ([`Worker::drain_sync`]); beyond it they are
//! lost (counted; the next change or refresh sends them again). Nothing of this runs unless the
//! snapshot says this gateway is a sync master.
//!
//! A backup installs a record on the worker the master had it on (the master's worker index: with
//! as many workers and the same steering, the one that will receive its packets after a takeover),
//! finding its service and real server by address, taking its local port, and giving it the
//! time the master had left. A record of a connection it has refreshes it.

use super::Worker;
use crate::ha::sync::{RecordKind, SyncFlags, SyncRecord};
use crate::lb::conn::{CONN_F_NO_OUTPUT, CONN_F_REPLIED, ConnIdx};
use crate::lb::persist::{NO_TEMPLATE, TemplateDest, TemplateKey};
use crate::lb::{Conn, Dir, FwdMethod, Protocol, ServiceKey, TcpState};

/// The connection was noted for the backups at least once.
pub(crate) const CONN_F_SYNCED: u8 = 0x08;
/// Three bits: the refresh period in which it was last noted.
const EPOCH_SHIFT: u32 = 4;
const EPOCH_MASK: u8 = 0x70;
/// The refresh period, a power of two of milliseconds (32.8 s): a connection that lives on is
/// noted again at most this often, so a backup's copy (at least this long from expiry when noted)
/// never runs out first.
pub const REFRESH_MS: u64 = 1 << 15;

/// Notes a worker keeps between two polls at most.
pub(super) const SYNC_OUT_MAX: usize = 1024;
/// Table entries a resync examines per poll.
pub const RESYNC_SCAN_PER_POLL: usize = 4096;

/// The refresh period `now` falls in, as the flags keep it.
#[inline]
fn epoch(now: u64) -> u8 {
    (((now / REFRESH_MS) & 0x7) as u8) << EPOCH_SHIFT
}

impl Worker {
    /// Notes connection `idx` for the backups when it is new to them, its state `changed`, or its
    /// last note is from an earlier refresh period. A sync master only (the caller checks).
    #[cold]
    #[inline(never)]
    pub(super) fn sync_note(&mut self, idx: ConnIdx, changed: bool, now: u64) {
        let e = epoch(now);
        let c = self.conns.get_mut(idx);
        let noted = c.flags & CONN_F_SYNCED != 0;
        if noted && !changed && c.flags & EPOCH_MASK == e {
            return;
        }
        c.flags = (c.flags & !EPOCH_MASK) | e | CONN_F_SYNCED;
        let c = *c;
        let fwmark = self.dest_conns.service_of(c.tally).map_or(0, |k| k.fwmark);
        self.sync_note_record(record_of(&c, fwmark, self.id.index, now));
    }

    /// Keeps a note for the backups (a template bound, or a connection), while there is room.
    #[cold]
    pub(super) fn sync_note_record(&mut self, r: SyncRecord) {
        if self.sync_out.len() >= SYNC_OUT_MAX {
            self.stats.sync_lost += 1;
            return;
        }
        self.sync_out.push(r);
        self.stats.sync_out += 1;
    }

    /// Starts noting every connection for the backups (a backup asked), a stretch per poll.
    pub fn start_resync(&mut self) {
        if self.snap.sync_master {
            self.resync_at = Some(0);
        }
    }

    /// Notes the next stretch of the table for a resync in progress: at most
    /// [`RESYNC_SCAN_PER_POLL`] entries, and no more connections than the buffer has room for.
    pub fn resync_step(&mut self, now: u64) {
        let Some(mut i) = self.resync_at else { return };
        let end = i.saturating_add(RESYNC_SCAN_PER_POLL).min(self.conns.capacity());
        while i < end && self.sync_out.len() < SYNC_OUT_MAX {
            if self.conns.used_at(i).is_some() {
                let idx = ConnIdx::try_from(i).unwrap_or(ConnIdx::MAX);
                if !self.conns.is_expired(idx, now) {
                    self.sync_note(idx, true, now);
                }
            }
            i += 1;
        }
        self.resync_at = (i < self.conns.capacity()).then_some(i);
    }

    /// Takes the connections noted for the backups since the last call.
    pub fn drain_sync(&mut self, mut f: impl FnMut(SyncRecord)) {
        for r in self.sync_out.drain(..) {
            f(r);
        }
    }

    /// Installs (or refreshes) a connection the master synced; a template record, or one whose
    /// service, real server or local port is not available here, is refused (counted).
    pub fn install_synced(&mut self, r: &SyncRecord, now: u64) -> bool {
        let ok = self.install(r, now).is_some();
        if ok {
            self.stats.sync_in += 1;
        } else {
            self.stats.sync_refused += 1;
        }
        ok
    }

    fn install(&mut self, r: &SyncRecord, now: u64) -> Option<()> {
        if r.kind != RecordKind::Conn {
            return None;
        }
        let services = &self.snap.services;
        let (_, svc) = if r.fwmark != 0 {
            services.find(&ServiceKey::mark(r.fwmark))?
        } else {
            services.find_for_packet(r.proto, r.vip, r.vport)?
        };
        let dest = svc.dests.iter().find(|d| d.addr == r.rip && (d.port == r.rport || d.port == 0))?;
        // Without CONN_F_SYNCED: a backup that takes over notes it to the other gateway afresh.
        let mut flags = 0;
        if r.flags.contains(SyncFlags::REPLIED) {
            flags |= CONN_F_REPLIED;
        }
        if r.flags.contains(SyncFlags::NO_OUTPUT) {
            flags |= CONN_F_NO_OUTPUT;
        }
        let conn = Conn {
            cip: r.cip,
            vip: r.vip,
            lip: r.lip,
            rip: r.rip,
            cport: r.cport,
            vport: r.vport,
            lport: r.lport,
            rport: r.rport,
            expires: now.saturating_add(u64::from(r.timeout_ms)),
            dest: dest.id,
            proto: r.proto,
            state: r.state as u8,
            flags,
            method: r.method,
            tmpl: NO_TEMPLATE,
            tally: self.dest_conns.slot(dest.id),
        };
        let established = |c: &Conn| c.proto == Protocol::Tcp && c.state == TcpState::Established as u8;
        if let Some((idx, _)) = self.conns.lookup(&conn.key(Dir::In)) {
            let old = *self.conns.get(idx);
            if (old.rip, old.rport, old.lip, old.lport) != (conn.rip, conn.rport, conn.lip, conn.lport) {
                return None;
            }
            let c = self.conns.get_mut(idx);
            c.state = conn.state;
            c.expires = conn.expires;
            c.flags = (c.flags & !(CONN_F_REPLIED | CONN_F_NO_OUTPUT)) | flags;
            if established(&old) != established(&conn) {
                self.dest_conns.established(&self.snap, conn.tally, established(&conn));
            }
            return Some(());
        }
        if conn.method == FwdMethod::FullNat && !self.laddr.take(conn.lip, conn.lport) {
            return None;
        }
        let clash = self.conns.lookup(&conn.key(Dir::Out)).is_some();
        if clash || self.conns.insert(conn).is_err() {
            if conn.method == FwdMethod::FullNat {
                self.laddr.release(conn.lip, conn.lport);
            }
            return None;
        }
        self.dest_conns.open(&self.snap, conn.tally);
        if established(&conn) {
            self.dest_conns.established(&self.snap, conn.tally, true);
        }
        Some(())
    }
}

/// The record of a persistence template of `key` bound to `dest`, expiring in `timeout_ms` (no
/// worker: templates are the gateway's).
pub fn template_record(key: &TemplateKey, dest: &TemplateDest, timeout_ms: u64) -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Template,
        proto: key.proto,
        method: FwdMethod::FullNat,
        state: TcpState::None,
        flags: SyncFlags::NONE,
        fwmark: key.fwmark,
        cip: key.client,
        vip: key.vip,
        lip: std::net::Ipv4Addr::UNSPECIFIED,
        rip: dest.addr,
        cport: 0,
        vport: key.vport,
        lport: 0,
        rport: dest.port,
        timeout_ms: u32::try_from(timeout_ms).unwrap_or(u32::MAX),
        worker: 0,
    }
}

/// The record of connection `c` (of a service marked `fwmark`, 0 for none) on worker `worker`, at
/// `now`.
fn record_of(c: &Conn, fwmark: u32, worker: u16, now: u64) -> SyncRecord {
    let mut flags = SyncFlags::NONE;
    if c.flags & CONN_F_REPLIED != 0 {
        flags = flags.with(SyncFlags::REPLIED);
    }
    if c.flags & CONN_F_NO_OUTPUT != 0 {
        flags = flags.with(SyncFlags::NO_OUTPUT);
    }
    SyncRecord {
        kind: RecordKind::Conn,
        proto: c.proto,
        method: c.method,
        state: TcpState::from_u8(c.state),
        flags,
        fwmark,
        cip: c.cip,
        vip: c.vip,
        lip: c.lip,
        rip: c.rip,
        cport: c.cport,
        vport: c.vport,
        lport: c.lport,
        rport: c.rport,
        timeout_ms: u32::try_from(c.expires.saturating_sub(now)).unwrap_or(u32::MAX),
        worker,
    }
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
