use std::sync::Arc;

use super::*;
use crate::lb::service::Persistence;

fn key(client: [u8; 4]) -> TemplateKey {
    TemplateKey {
        proto: Protocol::Tcp,
        client: Ipv4Addr::from(client),
        vip: Ipv4Addr::new(10, 0, 0, 104),
        vport: 80,
        fwmark: 0,
    }
}

fn dest(id: u32) -> TemplateDest {
    TemplateDest {
        id: DestId(id),
        addr: Ipv4Addr::new(10, 1, 0, 10 + u8::try_from(id).unwrap()),
        port: 80,
        method: FwdMethod::FullNat,
    }
}

/// Follows a live template, or binds a new one to `fresh`; returns the real server used.
fn open(t: &Templates, k: &TemplateKey, now: u64, fresh: u32) -> (Acquired<DestId>, DestId) {
    let mut used = DestId(u32::MAX);
    let a = t.acquire(k, now, 360_000, |cur| match cur {
        Some(d) => {
            used = d.id;
            Pick::Keep(d.id)
        }
        None => {
            used = DestId(fresh);
            Pick::Bind(dest(fresh), DestId(fresh))
        }
    });
    (a, used)
}

fn handle(a: Acquired<DestId>) -> TmplHandle {
    match a {
        Acquired::Bound(h, _) => h,
        other => panic!("not bound: {other:?}"),
    }
}

#[test]
fn a_template_is_bound_then_followed_and_counts_its_connections() {
    let t = Templates::with_seed(1024, [1, 2]);
    let k = key([10, 0, 0, 2]);
    let (a, first) = open(&t, &k, 0, 1);
    assert_eq!(first, DestId(1));
    let h = handle(a);
    assert_ne!(h, NO_TEMPLATE);
    // The scheduler would say 2 now; the template says 1.
    let (b, second) = open(&t, &k, 10, 2);
    assert_eq!((handle(b), second), (h, DestId(1)));
    let info = t.get(h, 10).unwrap();
    assert_eq!((info.key, info.dest, info.conns, info.expire_ms), (k, dest(1), 2, 360_000));
    // Another client is scheduled on its own.
    let (c, other) = open(&t, &key([10, 0, 0, 3]), 10, 3);
    assert_eq!(other, DestId(3));
    assert_ne!(handle(c), h);
    assert_eq!(t.len(), 2);
}

#[test]
fn a_template_outlives_its_last_connection_by_the_timeout() {
    let t = Templates::with_seed(1024, [1, 2]);
    let k = key([10, 0, 0, 2]);
    let h = handle(open(&t, &k, 0, 1).0);
    assert_eq!(handle(open(&t, &k, 1_000, 2).0), h);
    // Long-lived connections keep it alive past its timeout.
    assert_eq!(open(&t, &k, 500_000, 2).1, DestId(1));
    t.release(h, 600_000);
    t.release(h, 700_000);
    t.release(h, 800_000);
    assert_eq!(t.get(h, 800_000).map(|i| (i.conns, i.expire_ms)), Some((0, 360_000)));
    // Alive until 1_160_000, not at it.
    assert_eq!(open(&t, &k, 1_159_999, 2).1, DestId(1));
    t.release(h, 1_159_999);
    assert_eq!(t.get(h, 1_159_999 + 360_000), None);
    assert_eq!(open(&t, &k, 1_159_999 + 360_000, 2).1, DestId(2), "expired: scheduled afresh");
    assert_eq!(t.len(), 1, "the expired entry was rebound in place");
}

#[test]
fn clients_in_one_masked_network_share_a_template() {
    let t = Templates::with_seed(1024, [1, 2]);
    let p = Persistence::secs(360).with_netmask(24);
    let k = |c: [u8; 4]| TemplateKey { client: p.client_net(Ipv4Addr::from(c)), ..key(c) };
    assert_eq!(open(&t, &k([10, 0, 0, 2]), 0, 1).1, DestId(1));
    assert_eq!(open(&t, &k([10, 0, 0, 77]), 1, 2).1, DestId(1));
    assert_eq!(open(&t, &k([10, 0, 1, 2]), 2, 3).1, DestId(3));
    let listed = {
        let mut v = Vec::new();
        t.for_each(3, |i| {
            v.push((i.key.client, i.dest.id, i.conns));
            true
        });
        v.sort_by_key(|x| x.0);
        v
    };
    assert_eq!(listed, vec![(Ipv4Addr::new(10, 0, 0, 0), DestId(1), 2), (Ipv4Addr::new(10, 0, 1, 0), DestId(3), 1)]);
}

#[test]
fn the_caller_may_rebind_or_refuse() {
    let t = Templates::with_seed(1024, [1, 2]);
    let k = key([10, 0, 0, 2]);
    let h = handle(open(&t, &k, 0, 1).0);
    // The template's server is no longer available: the caller schedules anew and rebinds.
    let a = t.acquire(&k, 5, 360_000, |cur| {
        assert_eq!(cur, Some(&dest(1)));
        Pick::Bind(dest(2), ())
    });
    assert_eq!(a, Acquired::Bound(h, ()));
    assert_eq!(t.get(h, 5).map(|i| (i.dest.id, i.conns)), Some((DestId(2), 2)));
    // No server at all: nothing changes.
    assert_eq!(t.acquire(&k, 6, 360_000, |_| Pick::<()>::None), Acquired::None);
    assert_eq!(t.get(h, 6).map(|i| i.conns), Some(2));
    // Keep without a live template is refused as untracked.
    assert_eq!(t.acquire(&key([9, 9, 9, 9]), 6, 1, |_| Pick::Keep(7)), Acquired::Untracked(7));
    assert_eq!(t.len(), 1);
}

#[test]
fn a_full_shard_drops_its_expired_entries_or_leaves_the_connection_untracked() {
    // One entry per shard.
    let t = Templates::with_seed(SHARDS, [3, 4]);
    assert_eq!(t.capacity(), SHARDS);
    let a = key([10, 0, 0, 2]);
    let b = (3..=255u8)
        .map(|i| key([10, 0, 0, i]))
        .find(|k| t.shard_of(k) == t.shard_of(&a))
        .expect("two clients in one shard");
    let h = handle(open(&t, &a, 0, 1).0);
    assert_eq!(open(&t, &b, 1, 2).0, Acquired::Untracked(DestId(2)), "full: no template");
    t.release(h, 2);
    assert_eq!(open(&t, &b, 3, 2).0, Acquired::Untracked(DestId(2)), "a's template lives for its timeout");
    let hb = handle(open(&t, &b, 2 + 360_000, 2).0);
    assert_eq!(hb, h, "a's expired entry made room");
    assert_eq!(open(&t, &a, 2 + 360_000, 3).1, DestId(3));
}

#[test]
fn invalidated_templates_wait_for_their_connections() {
    let t = Templates::with_seed(1024, [1, 2]);
    let (k1, k2) = (key([10, 0, 0, 2]), key([10, 0, 0, 3]));
    let h1 = handle(open(&t, &k1, 0, 1).0);
    let h2 = handle(open(&t, &k2, 0, 2).0);
    t.release(h2, 1);
    // Real server 1 and 2 deleted.
    assert_eq!(t.retain(|_, d| d.id == DestId(3)), 2);
    assert_eq!(t.len(), 1, "the unused one went at once");
    assert_eq!(t.get(h1, 2), None, "invalidated: found no more");
    // The client is scheduled afresh (and rebinds the entry its connection still holds).
    let (a, d) = open(&t, &k1, 3, 3);
    assert_eq!((handle(a), d), (h1, DestId(3)));
    assert_eq!(t.get(h1, 3).map(|i| i.conns), Some(2));
    // Once invalidated without a rebind, the last release removes the entry.
    assert_eq!(t.retain(|_, _| false), 1);
    t.release(h1, 4);
    assert_eq!(t.len(), 1);
    t.release(h1, 5);
    assert!(t.is_empty());
}

#[test]
fn the_sweep_frees_expired_unused_entries_a_bounded_number_at_a_time() {
    let t = Templates::with_seed(16 * SHARDS, [5, 6]);
    let live = handle(open(&t, &key([10, 0, 0, 1]), 0, 1).0);
    for i in 2..40u8 {
        let h = handle(open(&t, &key([10, 0, 0, i]), 0, 1).0);
        t.release(h, 0);
    }
    assert_eq!(t.len(), 39);
    let mut cursor = SweepCursor::default();
    assert_eq!(t.sweep(&mut cursor, 359_999, t.capacity()), 0, "not expired yet");
    let mut removed = 0;
    for _ in 0..4 {
        removed += t.sweep(&mut cursor, 360_000, t.capacity() / 4);
    }
    assert_eq!(removed, 38);
    assert_eq!(t.len(), 1);
    assert!(t.get(live, 1_000_000).is_some(), "a template with connections is never swept");
    assert_eq!(t.sweep(&mut cursor, u64::MAX, 0), 0);
}

#[test]
fn a_template_with_connections_past_its_timeout_lists_a_rearmed_timer() {
    let t = Templates::with_seed(1024, [1, 2]);
    let h = handle(open(&t, &key([10, 0, 0, 2]), 0, 1).0);
    let mut seen = Vec::new();
    for now in [1_000, 360_000, 400_000] {
        t.for_each(now, |i| {
            seen.push(i.expire_ms);
            true
        });
    }
    assert_eq!(seen, vec![359_000, 360_000, 320_000]);
    t.release(h, 400_000);
    t.for_each(400_000, |i| {
        assert_eq!(i.expire_ms, 360_000);
        false
    });
}

#[test]
fn bogus_handles_are_ignored() {
    let t = Templates::with_seed(64, [1, 2]);
    t.release(NO_TEMPLATE, 0);
    t.release(u32::MAX, 0);
    t.release(12345, 0);
    assert!(t.is_empty());
    assert_eq!(t.get(12345, 0), None);
}

#[test]
fn two_workers_agree_on_every_clients_server() {
    let t = Arc::new(Templates::with_seed(4096, [7, 8]));
    let run = |me: u32| {
        let t = Arc::clone(&t);
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for i in 0..20_000u32 {
                let k = key([10, 0, u8::try_from(i % 7).unwrap(), u8::try_from(i % 16).unwrap()]);
                let (a, d) = open(&t, &k, u64::from(i), me);
                seen.push((k, d, handle(a)));
            }
            seen
        })
    };
    let (a, b) = (run(1), run(2));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let mut first: std::collections::HashMap<TemplateKey, DestId> = std::collections::HashMap::new();
    for (k, d, _) in a.iter().chain(&b) {
        assert_eq!(*first.entry(*k).or_insert(*d), *d, "{k:?}");
    }
    assert_eq!(first.len(), 7 * 16);
    for (_, _, h) in a.iter().chain(&b) {
        t.release(*h, 100_000);
    }
    let mut total = 0;
    t.for_each(100_000, |i| {
        total += i.conns;
        true
    });
    assert_eq!(total, 0);
    assert_eq!(t.len(), 7 * 16);
    assert_eq!(t.sweep(&mut SweepCursor::default(), 460_000, t.capacity()), 7 * 16);
}

#[test]
fn connections_removed_out_of_order_leave_the_template_to_the_latest_end() {
    let t = Templates::with_seed(1024, [1, 2]);
    let k = key([10, 0, 0, 2]);
    let h = handle(open(&t, &k, 0, 1).0);
    open(&t, &k, 300_000, 1);
    // The second connection ends at 350_000; the first, expired at 60_000, is found only later.
    t.release(h, 350_000);
    t.release(h, 60_000);
    assert_eq!(t.get(h, 400_000).map(|i| (i.conns, i.expire_ms)), Some((0, 310_000)));
}

#[test]
fn the_fwmark_template_hash_keeps_the_mark() {
    let t = Templates::with_seed(64, [0x1234, 0x5678]);
    let at =
        |mark: u32, client: [u8; 4]| t.hash(&TemplateKey { client: Ipv4Addr::from(client), ..TemplateKey::mark(mark) });
    assert_ne!(at(1, [10, 0, 0, 0]), at(2, [10, 0, 0, 0]), "marks differ");
    // 0x80 is a bit the mark's mix used to set in the client's half: these two merged.
    assert_ne!(at(1, [0, 0, 0, 0]), at(1, [128, 0, 0, 0]), "clients differ");
    // Every field contributes: a grid of marks x clients (/24 prefixes over all four octets), and
    // an address template changed in one field at a time, all hash apart.
    let mut seen = std::collections::HashSet::new();
    for mark in 1..=32u32 {
        for c in 0..256u32 {
            let client = (c << 24 | c << 16 | c << 8).to_be_bytes();
            assert!(seen.insert(at(mark, client)), "mark {mark} client {client:?}");
        }
    }
    let base = key([10, 2, 3, 0]);
    for k in [
        base,
        TemplateKey { client: Ipv4Addr::new(10, 2, 4, 0), ..base },
        TemplateKey { vip: Ipv4Addr::new(10, 0, 0, 105), ..base },
        TemplateKey { vport: 443, ..base },
        TemplateKey { vport: 0, ..base },
        TemplateKey { proto: Protocol::Udp, ..base },
        TemplateKey { fwmark: 1, ..base },
    ] {
        assert!(seen.insert(t.hash(&k)), "{k:?}");
    }
}
