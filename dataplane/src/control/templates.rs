//! What the control side does with the gateway's persistence templates: list them among the
//! connections as IPVS does (`fnatctl -L -c`), and invalidate those a configuration change leaves
//! without a persistent service or real server. Runs on fnatd's main lcore; each call locks one
//! template shard at a time.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::ha::sync::{RecordKind, SyncRecord};
use crate::lb::persist::{Acquired, Pick, TemplateDest, TemplateInfo, TemplateKey};
use crate::lb::{ServiceKey, Services, TcpState, Templates};
use crate::snapshot::Snapshot;
use crate::worker::template_record;
use ctrl::msg::{ConnListing, ConnView};

/// Appends the live templates (of one service, or all) to a listing, as IPVS lists them among the
/// connections: state `NONE`, the masked client address with port 0, the service's port (0 for a
/// port-0 service) and the real server's port (0 for a port-0 service); beyond `max` entries they
/// are counted in `omitted`.
pub fn list_templates(templates: &Templates, svc: Option<ServiceKey>, max: usize, now: u64, out: &mut ConnListing) {
    templates.for_each(now, |t| {
        if svc.is_none_or(|k| {
            k.protocol == t.key.proto && k.vip == t.key.vip && k.vport == t.key.vport && k.fwmark == t.key.fwmark
        }) {
            if out.conns.len() < max {
                out.conns.push(template_view(&t));
            } else {
                out.omitted += 1;
            }
        }
        true
    });
}

/// A template as `fnatctl -L -c` shows it.
pub fn template_view(t: &TemplateInfo) -> ConnView {
    ConnView {
        proto: t.key.proto,
        expire_ms: t.expire_ms,
        state: TcpState::None.name().to_owned(),
        client: SocketAddrV4::new(t.key.client, 0),
        // IPVS shows a fwmark template's virtual address as the mark.
        virt: if t.key.fwmark == 0 {
            SocketAddrV4::new(t.key.vip, t.key.vport)
        } else {
            SocketAddrV4::new(Ipv4Addr::from(t.key.fwmark), 0)
        },
        local: None,
        dest: SocketAddrV4::new(t.dest.addr, t.dest.port),
        method: t.dest.method,
        fwmark: t.key.fwmark,
    }
}

/// Invalidates the templates whose service is gone or no longer persistent, or whose real server
/// left the service (IPVS drops them with the service or the server). Returns how many.
pub fn forget_templates(templates: &Templates, services: &Services) -> usize {
    templates.retain(|k, d| {
        services
            .find(&ServiceKey { protocol: k.proto, vip: k.vip, vport: k.vport, fwmark: k.fwmark })
            .is_some_and(|(_, s)| s.persistence.is_some() && s.dests.iter().any(|r| r.id == d.id))
    })
}

/// Installs a template the master synced into the gateway's `templates` (the control lcore's
/// part: templates are the gateway's, not a worker's), by `snap`'s service and real server; false
/// when this gateway has no such persistent service or real server, or no room.
pub fn install_synced(templates: &Templates, snap: &Snapshot, r: &SyncRecord, now: u64) -> bool {
    if r.kind != RecordKind::Template {
        return false;
    }
    let found = if r.fwmark != 0 {
        snap.services.find(&ServiceKey::mark(r.fwmark))
    } else {
        snap.services.find_for_packet(r.proto, r.vip, r.vport.max(1)).filter(|(_, s)| s.key.vport == r.vport)
    };
    let Some((_, svc)) = found.filter(|(_, s)| s.persistence.is_some()) else { return false };
    let Some(d) = svc.dests.iter().find(|d| d.addr == r.rip && d.port == r.rport) else { return false };
    let key = TemplateKey::for_service(&svc.key, r.proto, r.cip, r.vip);
    let dest = TemplateDest::from(d);
    match templates.acquire(&key, now, u64::from(r.timeout_ms), |_| Pick::Bind(dest, ())) {
        // No connection holds it here: it expires its timeout from now.
        Acquired::Bound(h, ()) => {
            templates.release(h, now);
            true
        }
        Acquired::Untracked(()) | Acquired::None => false,
    }
}

/// Every live template as a sync record, for a backup that asked for everything.
pub fn synced_records(templates: &Templates, now: u64, mut f: impl FnMut(SyncRecord)) {
    templates.for_each(now, |t| {
        f(template_record(&t.key, &t.dest, t.expire_ms));
        true
    });
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::lb::persist::{Pick, TemplateDest, TemplateKey};
    use crate::lb::{DestId, FwdMethod, Persistence, Protocol, RealServer, SchedFlags, SchedKind, Service};

    fn rs(id: u32, last: u8, port: u16) -> RealServer {
        let addr = Ipv4Addr::new(10, 1, 0, last);
        RealServer { id: DestId(id), addr, port, weight: 1, method: FwdMethod::FullNat, upper: 0, lower: 0 }
    }

    fn svc(vport: u16, dests: Vec<RealServer>, persistence: Option<Persistence>) -> Service {
        Service {
            key: ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 104), vport, fwmark: 0 },
            scheduler: SchedKind::Rr,
            flags: SchedFlags::default(),
            dests,
            laddrs: vec![],
            persistence,
        }
    }

    fn bind(t: &Templates, client: [u8; 4], vport: u16, d: &RealServer) {
        let key = TemplateKey {
            proto: Protocol::Tcp,
            client: Ipv4Addr::from(client),
            vip: Ipv4Addr::new(10, 0, 0, 104),
            vport,
            fwmark: 0,
        };
        let dest = TemplateDest { id: d.id, addr: d.addr, port: if vport == 0 { 0 } else { d.port }, method: d.method };
        t.acquire(&key, 0, 360_000, |_| Pick::Bind(dest, ()));
    }

    #[test]
    fn templates_are_listed_like_ipvs() {
        let t = Templates::with_seed(1024, [1, 2]);
        bind(&t, [10, 0, 0, 2], 80, &rs(1, 11, 8080));
        bind(&t, [10, 0, 0, 0], 0, &rs(2, 12, 0));
        let mut out = ConnListing::default();
        list_templates(&t, None, 10, 1_000, &mut out);
        out.conns.sort_by_key(|c| c.virt.port());
        let a = |s: &str| s.parse::<SocketAddrV4>().unwrap();
        let want = |client, virt, dest| ConnView {
            proto: Protocol::Tcp,
            expire_ms: 359_000,
            state: "NONE".into(),
            client: a(client),
            virt: a(virt),
            local: None,
            dest: a(dest),
            method: FwdMethod::FullNat,
            fwmark: 0,
        };
        assert_eq!(
            out.conns,
            vec![
                want("10.0.0.0:0", "10.0.0.104:0", "10.1.0.12:0"),
                want("10.0.0.2:0", "10.0.0.104:80", "10.1.0.11:8080")
            ]
        );
        // One service only, and the cap.
        let key = ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 104), vport: 0, fwmark: 0 };
        let mut one = ConnListing::default();
        list_templates(&t, Some(key), 10, 1_000, &mut one);
        assert_eq!(one.conns.len(), 1);
        let mut capped = ConnListing::default();
        list_templates(&t, None, 1, 1_000, &mut capped);
        assert_eq!((capped.conns.len(), capped.omitted), (1, 1));
    }

    #[test]
    fn fwmark_templates_are_listed_as_ip_to_the_mark_and_forgotten_with_their_service() {
        let t = Templates::with_seed(1024, [1, 2]);
        let d = rs(1, 11, 0);
        let key = TemplateKey { client: Ipv4Addr::new(10, 0, 0, 2), ..TemplateKey::mark(7) };
        let dest = TemplateDest { id: d.id, addr: d.addr, port: 0, method: d.method };
        t.acquire(&key, 0, 360_000, |_| Pick::Bind(dest, ()));
        bind(&t, [10, 0, 0, 2], 80, &rs(2, 12, 80));
        let mut out = ConnListing::default();
        list_templates(&t, Some(ServiceKey::mark(7)), 10, 1_000, &mut out);
        assert_eq!(out.conns.len(), 1);
        let c = &out.conns[0];
        assert_eq!((c.fwmark, c.virt, c.dest), (7, "0.0.0.7:0".parse().unwrap(), "10.1.0.11:0".parse().unwrap()));
        let fwm = Service { key: ServiceKey::mark(7), ..svc(0, vec![d], Some(Persistence::secs(360))) };
        let p = Some(Persistence::secs(360));
        let both = Services::new(vec![fwm.clone(), svc(80, vec![rs(2, 12, 80)], p)]).unwrap();
        assert_eq!(forget_templates(&t, &both), 0);
        assert_eq!(forget_templates(&t, &Services::new(vec![svc(80, vec![rs(2, 12, 80)], p)]).unwrap()), 1);
    }

    #[test]
    fn a_change_forgets_the_templates_of_deleted_services_and_servers() {
        let t = Templates::with_seed(1024, [1, 2]);
        let (a, b) = (rs(1, 11, 80), rs(2, 12, 80));
        bind(&t, [10, 0, 0, 2], 80, &a);
        bind(&t, [10, 0, 0, 3], 80, &b);
        bind(&t, [10, 0, 0, 4], 0, &rs(3, 13, 0));
        let p = Some(Persistence::secs(360));
        let kept = Services::new(vec![svc(80, vec![a, b], p), svc(0, vec![rs(3, 13, 0)], p)]).unwrap();
        assert_eq!(forget_templates(&t, &kept), 0);
        // Real server b deleted, the port-0 service no longer there.
        let changed = Services::new(vec![svc(80, vec![a], p)]).unwrap();
        assert_eq!(forget_templates(&t, &changed), 2);
        // Persistence switched off.
        assert_eq!(forget_templates(&t, &Services::new(vec![svc(80, vec![a], None)]).unwrap()), 1);
        let mut out = ConnListing::default();
        list_templates(&t, None, 10, 0, &mut out);
        assert!(out.conns.is_empty());
    }
}
