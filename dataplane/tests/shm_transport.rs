//! Tests of the shared-memory transport (`ctrl::shm`) with fnatd's control state behind it; they
//! write raw bytes into the rings through the public layout (`ctrl::shm::layout`, `frame`) the way
//! a broken or killed client would.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ctrl::msg::{
    Command, ConnListing, ConnView, CtrlError, DestSpec, DestView, Listing, PROTOCOL_VERSION, Reply, Request,
    ServiceSpec, ServiceView, encode_request,
};
use ctrl::shm::frame::{REQUEST_MAGIC, build_frame, frame_crc};
use ctrl::shm::layout::{Geometry, field, now_ms, read_header, read_slot, write_ring, write_slot};
use ctrl::shm::{CallError, Client, ConnectError, DEFAULT_RING_CAPACITY, HEADER_SIZE, Server};
use ctrl::vocab::{Counters, DestId, FwdMethod, Protocol, Rates, SchedFlags, SchedKind, ServiceKey};
use dataplane::control::{ControlState, Gateway, NoConnections};
use dataplane::lb::Services;

const SECOND: Duration = Duration::from_secs(1);

/// A fresh path in the temporary directory, unique to this process and test.
fn temp_path(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("fnat-ctl-test-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

fn key(vport: u16) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport, fwmark: 0 }
}

fn add(vport: u16) -> Command {
    Command::AddService(ServiceSpec {
        key: key(vport),
        scheduler: SchedKind::Rr,
        flags: SchedFlags::default(),
        persistence: None,
    })
}

fn dest(last: u8) -> DestSpec {
    DestSpec {
        addr: Ipv4Addr::new(10, 2, 0, last),
        port: 8080,
        weight: 1,
        method: FwdMethod::FullNat,
        upper: 0,
        lower: 0,
    }
}

/// A connection from client `10.9.0.<n>:<40000 + n>`, FULLNAT through local port `lport` when given.
fn conn(n: u8, lport: Option<u16>) -> ConnView {
    let a = |last: u8, port: u16| std::net::SocketAddrV4::new(Ipv4Addr::new(10, 9, 0, last), port);
    ConnView {
        proto: Protocol::Tcp,
        expire_ms: 899_500,
        state: "ESTABLISHED".into(),
        client: a(n, 40_000 + u16::from(n)),
        virt: std::net::SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 100), 80),
        local: lport.map(|p| std::net::SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 10), p)),
        dest: a(200, 8080),
        method: if lport.is_some() { FwdMethod::FullNat } else { FwdMethod::Nat },
        fwmark: 0,
    }
}

/// fnatd's loop on a thread, answering from a `ControlState`, until `stop` is set.
struct Daemon {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<(Server, ControlState)>,
}

impl Daemon {
    fn start(server: Server) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut server = server;
            let mut state = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
            while !flag.load(Ordering::Relaxed) {
                while let Some(incoming) = server.poll() {
                    let reply = state.answer(incoming.request, &NoConnections);
                    server.reply(incoming.seq, &reply).unwrap();
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            (server, state)
        });
        Self { stop, handle }
    }

    fn stop(self) -> (Server, ControlState) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

/// Raw access to a control file, as a misbehaving client has it.
struct Raw {
    file: File,
    geo: Geometry,
}

impl Raw {
    fn open(path: &Path) -> Self {
        let file = OpenOptions::new().read(true).write(true).open(path).unwrap();
        let (h, len) = read_header(&file).unwrap().unwrap();
        let geo = Geometry::from_header(&h, len).unwrap();
        Self { file, geo }
    }

    fn slot(&self, off: u64) -> u64 {
        read_slot(&self.file, off).unwrap().unwrap()
    }

    fn set(&self, off: u64, v: u64) {
        write_slot(&self.file, off, v).unwrap();
    }

    /// Writes `bytes` at the request tail; moves the tail by `commit` bytes.
    fn write(&self, bytes: &[u8], commit: u64) {
        let tail = self.slot(field::REQ_TAIL);
        write_ring(&self.file, self.geo.req, tail, bytes).unwrap();
        self.set(field::REQ_TAIL, tail + commit);
    }

    /// A valid request frame at the current tail.
    fn frame(&self, req: &Request) -> Vec<u8> {
        build_frame(REQUEST_MAGIC, req.id, self.slot(field::REQ_TAIL), &encode_request(req))
    }
}

fn req(commands: Vec<Command>) -> Request {
    Request::new(commands)
}

/// Patches a frame's header and recomputes its CRC.
fn patch(mut frame: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    frame[at..at + bytes.len()].copy_from_slice(bytes);
    let len = usize::try_from(u32::from_le_bytes(frame[24..28].try_into().unwrap())).unwrap();
    let len = len.min(frame.len() - 32);
    let crc = frame_crc(&frame[..32], &frame[32..32 + len]);
    frame[28..32].copy_from_slice(&crc.to_le_bytes());
    frame
}

#[test]
fn every_command_and_reply_makes_the_round_trip() {
    let path = temp_path("roundtrip");
    let server = Server::create(&path).unwrap();
    let svc = key(80);
    let commands = vec![
        add(80),
        Command::EditService(ServiceSpec {
            key: svc,
            scheduler: SchedKind::Wrr,
            flags: SchedFlags { fallback: true, port: false, flag3: true },
            persistence: Some(ctrl::vocab::Persistence::secs(600).with_netmask(24)),
        }),
        Command::DelService(svc),
        Command::Clear,
        Command::AddDest { svc, dest: dest(1) },
        Command::EditDest { svc, dest: DestSpec { upper: 2_147_483_647, lower: 1000, ..dest(1) } },
        Command::DelDest { svc, addr: dest(1).addr, port: 8080 },
        Command::AddLaddr { svc, addr: Ipv4Addr::new(10, 1, 0, 10) },
        Command::DelLaddr { svc, addr: Ipv4Addr::new(10, 1, 0, 10) },
        Command::List { svc: None, traffic: false },
        Command::List { svc: Some(svc), traffic: false },
        Command::SetTimeouts { tcp: 900, tcpfin: 0, udp: 2_678_400 },
        Command::GetTimeouts,
        Command::ListConns { svc: None },
        Command::ListConns { svc: Some(svc) },
    ];
    let a = Ipv4Addr::new(1, 2, 3, 4);
    let errors = vec![
        CtrlError::NoSuchService(svc),
        CtrlError::ServiceNotDefined(svc),
        CtrlError::ServiceExists(svc),
        CtrlError::DestExists { svc, addr: a, port: 1 },
        CtrlError::NoSuchDest { svc, addr: a, port: 1 },
        CtrlError::LaddrExists { svc, addr: a },
        CtrlError::NoSuchLaddr { svc, addr: a },
        CtrlError::Invalid("x".into()),
        CtrlError::NotSupported("y".into()),
        CtrlError::VersionMismatch { ours: 1, theirs: 2 },
        CtrlError::Malformed("z".into()),
        CtrlError::TooLarge { size: 5, max: 4 },
    ];
    let listing = Listing {
        conn_table_size: 1 << 20,
        services: vec![ServiceView {
            spec: ServiceSpec {
                key: svc,
                scheduler: SchedKind::Wrr,
                flags: SchedFlags { port: true, ..SchedFlags::default() },
                persistence: Some(ctrl::vocab::Persistence::secs(360)),
            },
            laddrs: vec![a],
            dests: vec![DestView {
                id: DestId(7),
                spec: DestSpec { upper: 100, lower: 75, ..dest(3) },
                active: 1,
                inactive: 2,
                stats: Counters { conns: 1, inpkts: 2, outpkts: 3, inbytes: 4, outbytes: u64::MAX },
                rates: Rates { cps: 5, inpps: 6, outpps: 7, inbps: 8, outbps: 9 },
            }],
            stats: Counters { conns: 10, ..Counters::default() },
            rates: Rates { outbps: 11, ..Rates::default() },
        }],
    };
    let conns = ConnListing { conns: vec![conn(1, Some(2)), conn(3, None)], omitted: 12 };
    let mut replies = vec![
        Reply::Done,
        Reply::Listing(listing),
        Reply::Timeouts { tcp: 900, tcpfin: 120, udp: 300 },
        Reply::Conns(conns),
    ];
    replies.extend(errors.into_iter().map(Reply::Error));
    let n = commands.len().max(replies.len());

    let (got_tx, got_rx) = mpsc::channel();
    let answers = replies.clone();
    let daemon = std::thread::spawn(move || {
        let mut server = server;
        for i in 0..n {
            let incoming = loop {
                if let Some(x) = server.poll() {
                    break x;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            got_tx.send(incoming.request.clone().unwrap()).unwrap();
            server.reply(incoming.seq, &answers[i % answers.len()]).unwrap();
        }
        server
    });
    let mut client = Client::connect(&path).unwrap();
    for i in 0..n {
        let r = req(vec![commands[i % commands.len()].clone()]);
        let reply = client.call(&r, 5 * SECOND).unwrap();
        assert_eq!(reply, replies[i % replies.len()]);
        assert_eq!(got_rx.recv().unwrap(), r);
    }
    let r = req(commands.clone());
    drop(daemon.join().unwrap());
    assert!(!path.exists(), "the server removes its file");
    assert!(encode_request(&r).len() < 2000);
}

#[test]
fn the_file_is_private_to_its_owner() {
    let path = temp_path("mode");
    let server = Server::create(&path).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta.len(), HEADER_SIZE + 2 * DEFAULT_RING_CAPACITY, "a sparse file of the full size");
    drop(server);
}

#[test]
fn a_request_half_written_by_a_killed_client_is_never_read() {
    let path = temp_path("torn");
    let mut server = Server::with_ring_capacity(&path, 4096).unwrap();
    let raw = Raw::open(&path);
    let dead = req(vec![add(1)]);
    let frame = raw.frame(&dead);
    // Killed halfway through the frame, and killed after the frame but before the tail moved.
    raw.write(&frame[..frame.len() / 2], 0);
    assert_eq!(server.poll(), None);
    raw.write(&frame, 0);
    assert_eq!(server.poll(), None);
    assert_eq!(raw.slot(field::REQ_TAIL), 0);
    // The next client overwrites the orphaned bytes and is served.
    let daemon = Daemon::start(server);
    let mut client = Client::connect(&path).unwrap();
    let reply = client.call(&req(vec![add(2)]), 5 * SECOND).unwrap();
    assert_eq!(reply, Reply::Done);
    let (_server, state) = daemon.stop();
    let l = state.listing(None, &NoConnections).unwrap();
    assert_eq!(l.services.len(), 1);
    assert_eq!(l.services[0].spec.key.vport, 2, "the dead request was never applied");
}

#[test]
fn a_committed_request_of_a_client_that_died_is_applied_and_its_reply_discarded() {
    let path = temp_path("dead");
    let mut server = Server::with_ring_capacity(&path, 4096).unwrap();
    let raw = Raw::open(&path);
    let mut state = ControlState::new(&Services::default(), vec![], 64);

    // Died after committing; fnatd answers while no one waits: the reply stays in the ring.
    let dead = req(vec![add(1)]);
    raw.write(&raw.frame(&dead), raw.frame(&dead).len() as u64);
    let incoming = server.poll().unwrap();
    assert_eq!(incoming.request, Ok(dead.clone()));
    let reply = state.answer(incoming.request, &NoConnections);
    server.reply(incoming.seq, &reply).unwrap();
    assert_ne!(raw.slot(field::RESP_TAIL), raw.slot(field::RESP_HEAD));

    // Died after committing, and the next client wrote before fnatd polled: that reply is not written.
    let dead2 = req(vec![add(2)]);
    raw.write(&raw.frame(&dead2), raw.frame(&dead2).len() as u64);
    let committed = raw.slot(field::REQ_TAIL);
    let p = path.clone();
    let client = std::thread::spawn(move || {
        let mut client = Client::connect(&p).unwrap();
        client.call(&req(vec![Command::List { svc: None, traffic: false }]), 5 * SECOND)
    });
    while raw.slot(field::REQ_TAIL) == committed {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(raw.slot(field::RESP_HEAD), raw.slot(field::RESP_TAIL), "stale reply discarded");
    let mut answered = 0;
    while answered < 2 {
        while let Some(incoming) = server.poll() {
            let reply = state.answer(incoming.request, &NoConnections);
            server.reply(incoming.seq, &reply).unwrap();
            answered += 1;
        }
    }
    let Reply::Listing(l) = client.join().unwrap().unwrap() else {
        panic!("expected a listing");
    };
    let ports: Vec<u16> = l.services.iter().map(|s| s.spec.key.vport).collect();
    assert_eq!(ports, vec![1, 2], "both dead requests were applied");
    assert_eq!(server.dropped_replies(), 1);
}

#[test]
fn invalid_committed_bytes_get_an_error_and_the_server_goes_on() {
    let path = temp_path("garbage");
    let mut server = Server::with_ring_capacity(&path, 4096).unwrap();
    let raw = Raw::open(&path);
    let max = server.max_payload();
    let good = |raw: &Raw| {
        let r = req(vec![add(9)]);
        let f = raw.frame(&r);
        (r, f)
    };
    type Check = fn(&CtrlError) -> bool;
    type Make = Box<dyn Fn(&Raw) -> (Vec<u8>, u64)>;
    let cases: Vec<(&str, Make, Check)> = vec![
        (
            "garbage",
            Box::new(|_| (vec![0xa5; 64], 64)),
            |e| matches!(e, CtrlError::Malformed(m) if m.starts_with("bad frame magic")),
        ),
        ("shorter than a header", Box::new(|_| (vec![0; 16], 16)), |e| {
            e.to_string() == "malformed request: 16 committed bytes cannot hold a 32-byte frame header"
        }),
        (
            "truncated",
            Box::new(move |raw| {
                let (_, f) = good(raw);
                (f.clone(), 40)
            }),
            |e| matches!(e, CtrlError::Malformed(m) if m.contains("with only 40 bytes committed")),
        ),
        (
            "wrong version",
            Box::new(move |raw| {
                let (_, f) = good(raw);
                let n = f.len() as u64;
                (patch(f, 4, &(PROTOCOL_VERSION + 1).to_le_bytes()), n)
            }),
            |e| *e == CtrlError::VersionMismatch { ours: PROTOCOL_VERSION, theirs: PROTOCOL_VERSION + 1 },
        ),
        (
            "wrong magic",
            Box::new(move |raw| {
                let (_, f) = good(raw);
                let n = f.len() as u64;
                (patch(f, 0, b"FNRP"), n)
            }),
            |e| matches!(e, CtrlError::Malformed(m) if m.starts_with("bad frame magic")),
        ),
        (
            "bad checksum",
            Box::new(move |raw| {
                let (_, mut f) = good(raw);
                f[40] ^= 1;
                let n = f.len() as u64;
                (f, n)
            }),
            |e| e.to_string() == "malformed request: frame checksum mismatch",
        ),
        (
            "oversized length",
            Box::new(move |raw| {
                let (_, f) = good(raw);
                let n = f.len() as u64;
                let len = u32::try_from(max + 1).unwrap();
                (patch(f, 24, &len.to_le_bytes()), n)
            }),
            |e| matches!(e, CtrlError::TooLarge { .. }),
        ),
        (
            "a stale frame of another position",
            Box::new(move |raw| {
                let (_, f) = good(raw);
                let n = f.len() as u64;
                (patch(f, 16, &12345u64.to_le_bytes()), n)
            }),
            |e| matches!(e, CtrlError::Malformed(m) if m.contains("ring position 12345")),
        ),
        (
            "not JSON",
            Box::new(|raw| {
                let f = build_frame(REQUEST_MAGIC, 5, raw.slot(field::REQ_TAIL), b"{nope");
                let n = f.len() as u64;
                (f, n)
            }),
            |e| matches!(e, CtrlError::Malformed(m) if m.contains("line 1")),
        ),
        (
            "an id that is not the sequence number",
            Box::new(|raw| {
                let r = req(vec![add(3)]);
                let f = build_frame(REQUEST_MAGIC, r.id + 1, raw.slot(field::REQ_TAIL), &encode_request(&r));
                let n = f.len() as u64;
                (f, n)
            }),
            |e| matches!(e, CtrlError::Malformed(m) if m.contains("sequence number")),
        ),
        (
            "a tail beyond the ring",
            Box::new(|_| (Vec::new(), 4096 + 8)),
            |e| matches!(e, CtrlError::Malformed(m) if m.contains("inconsistent")),
        ),
    ];
    for (what, make, check) in cases {
        let (bytes, commit) = make(&raw);
        raw.write(&bytes, commit);
        let incoming = server.poll().unwrap_or_else(|| panic!("{what}: nothing taken"));
        let err = incoming.request.expect_err(what);
        assert!(check(&err), "{what}: {err:?}");
        assert!(!err.to_string().contains('\n'), "{what}: {err}");
        assert_eq!(server.poll(), None, "{what}: the rest is skipped");
        server.reply(incoming.seq, &Reply::Error(err)).unwrap();
        // And the next valid request is served.
        let (r, f) = good(&raw);
        raw.write(&f, f.len() as u64);
        assert_eq!(server.poll().map(|i| i.request), Some(Ok(r)), "after {what}");
    }
}

#[test]
fn frames_wrap_around_the_ring_end() {
    let path = temp_path("wrap");
    let server = Server::with_ring_capacity(&path, 4096).unwrap();
    let daemon = Daemon::start(server);
    let mut client = Client::connect(&path).unwrap();
    // Requests of growing size, so frames start and end at every place in the ring.
    for i in 0..200u16 {
        let commands = (0..(i % 13)).map(|j| add(1000 + i * 16 + j)).collect();
        let commands: Vec<Command> = [commands, vec![Command::List { svc: None, traffic: false }]].concat();
        let n = commands.len();
        let Reply::Listing(l) = client.call(&req(commands), 5 * SECOND).unwrap() else {
            panic!("expected a listing");
        };
        assert!(l.services.len() >= n - 1);
        // Keep the listings small.
        client.call(&req(vec![Command::Clear]), 5 * SECOND).unwrap();
    }
    let (server, _) = daemon.stop();
    assert_eq!(server.dropped_replies(), 0);
}

#[test]
fn messages_beyond_the_limit_are_refused_on_both_sides() {
    let path = temp_path("large");
    let server = Server::with_ring_capacity(&path, 4096).unwrap();
    let max = server.max_payload();
    let daemon = Daemon::start(server);
    let mut client = Client::connect(&path).unwrap();
    let big = req((1..200).map(add).collect());
    let err = client.call(&big, 5 * SECOND).unwrap_err();
    assert!(matches!(err, CallError::TooLarge { max: m, .. } if m == max), "{err}");
    // A listing too large for a frame comes back as an error.
    for i in 0..10 {
        let cmds = (0..10).map(|j| add(100 + i * 10 + j)).collect();
        assert_eq!(client.call(&req(cmds), 5 * SECOND).unwrap(), Reply::Done);
    }
    let reply = client.call(&req(vec![Command::List { svc: None, traffic: false }]), 5 * SECOND).unwrap();
    assert!(matches!(reply, Reply::Error(CtrlError::TooLarge { max: m, .. }) if m == max), "{reply:?}");
    daemon.stop();
}

/// A gateway holding `n` connections, whatever is asked.
struct ManyConns(usize);

impl Gateway for ManyConns {
    fn conn_counts(&self, _: DestId) -> (u32, u32) {
        (0, 0)
    }

    fn connections(&self, _: Option<ServiceKey>, max: usize) -> ConnListing {
        let shown = self.0.min(max);
        let conns = (0..shown).map(|i| conn(u8::try_from(i % 250).unwrap(), Some(1024))).collect();
        ConnListing { conns, omitted: u64::try_from(self.0 - shown).unwrap() }
    }
}

#[test]
fn a_connection_listing_is_cut_to_fit_the_transport() {
    let path = temp_path("conns");
    let mut server = Server::with_ring_capacity(&path, 64 << 10).unwrap();
    let mut state = ControlState::new(&Services::default(), vec![], 64);
    state.set_max_payload(server.max_payload());
    let max = state.max_conns();
    assert_eq!(max, ConnListing::max_entries(server.max_payload()));
    assert!(max > 50 && max < 1000, "{max}");
    let p = path.clone();
    let client = std::thread::spawn(move || {
        let mut client = Client::connect(&p).unwrap();
        client.call(&req(vec![Command::ListConns { svc: None }]), 5 * SECOND)
    });
    let incoming = loop {
        if let Some(x) = server.poll() {
            break x;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let reply = state.answer(incoming.request, &ManyConns(max + 1000));
    server.reply(incoming.seq, &reply).unwrap();
    let Reply::Conns(l) = client.join().unwrap().unwrap() else {
        panic!("expected connections");
    };
    assert_eq!((l.conns.len(), l.omitted), (max, 1000));
}

#[test]
fn ten_thousand_services_with_ten_real_servers_fit_in_one_request() {
    let path = temp_path("big");
    let server = Server::create(&path).unwrap();
    let daemon = Daemon::start(server);
    let mut client = Client::connect(&path).unwrap();
    let mut commands = Vec::with_capacity(110_000);
    for s in 0..10_000u32 {
        let svc = ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::from(0x0a00_0000 + s), vport: 80, fwmark: 0 };
        commands.push(Command::AddService(ServiceSpec {
            key: svc,
            scheduler: SchedKind::Wrr,
            flags: SchedFlags::default(),
            persistence: None,
        }));
        for d in 0..10u8 {
            let mut dest = dest(d + 1);
            dest.addr = Ipv4Addr::from(0x0b00_0000 + s * 16 + u32::from(d));
            commands.push(Command::AddDest { svc, dest });
        }
    }
    commands.push(Command::List { svc: None, traffic: false });
    let big = req(commands);
    let Reply::Listing(l) = client.call(&big, 60 * SECOND).unwrap() else {
        panic!("expected a listing");
    };
    assert_eq!(l.services.len(), 10_000);
    assert_eq!(l.services[9_999].dests.len(), 10);
    let (_, state) = daemon.stop();
    assert_eq!(state.services().unwrap().len(), 10_000);
}

#[test]
fn two_clients_at_once_are_served_one_after_the_other() {
    let path = temp_path("two");
    let server = Server::with_ring_capacity(&path, 4096).unwrap();
    let daemon = Daemon::start(server);
    let clients: Vec<_> = (0..2u16)
        .map(|c| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut client = Client::connect(&path).unwrap();
                for i in 0..50 {
                    let r = req(vec![add(1000 * (c + 1) + i)]);
                    assert_eq!(client.call(&r, 10 * SECOND).unwrap(), Reply::Done);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let (_, state) = daemon.stop();
    assert_eq!(state.len(), 100);
}

#[test]
fn a_client_waits_for_the_lock_and_gives_up_at_the_deadline() {
    let path = temp_path("busy");
    let server = Server::with_ring_capacity(&path, 4096).unwrap();
    let daemon = Daemon::start(server);
    let holder = File::open(&path).unwrap();
    holder.lock().unwrap();
    let mut client = Client::connect(&path).unwrap();
    let err = client.call(&req(vec![add(1)]), Duration::from_millis(100)).unwrap_err();
    assert_eq!(err.to_string(), "another fnatctl is talking to fnatd; gave up after 0.1 s");
    holder.unlock().unwrap();
    assert_eq!(client.call(&req(vec![add(1)]), 5 * SECOND).unwrap(), Reply::Done);
    daemon.stop();
}

#[test]
fn a_server_that_does_not_answer_times_out() {
    let path = temp_path("silent");
    let server = Server::with_ring_capacity(&path, 4096).unwrap();
    let mut client = Client::connect(&path).unwrap();
    let err = client.call(&req(vec![add(1)]), Duration::from_millis(200)).unwrap_err();
    assert_eq!(err.to_string(), "fnatd did not answer within 0.2 s");
    drop(server);
    let err = client.call(&req(vec![add(1)]), Duration::from_millis(200)).unwrap_err();
    assert!(matches!(err, CallError::NotRunning), "{err}");
}

#[test]
fn a_live_server_is_not_replaced_but_a_stale_file_is() {
    let path = temp_path("stale");
    let first = Server::with_ring_capacity(&path, 4096).unwrap();
    let err = Server::create(&path).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert_eq!(err.to_string(), format!("fnatd (pid {}) is already serving {}", std::process::id(), path.display()));
    // The heartbeat goes stale: the file is replaced, and the old server leaves the new file alone.
    let raw = Raw::open(&path);
    raw.set(field::HEARTBEAT, now_ms() - 5000);
    let second = Server::with_ring_capacity(&path, 4096).unwrap();
    drop(first);
    assert!(path.exists());
    // A dead pid with a fresh heartbeat is stale too.
    let raw = Raw::open(&path);
    raw.set(field::PID, 0);
    let third = Server::with_ring_capacity(&path, 4096).unwrap();
    drop(second);
    assert!(path.exists());
    Client::connect(&path).unwrap();
    drop(third);
    assert!(!path.exists());
}

#[test]
fn a_foreign_file_is_never_replaced() {
    let path = temp_path("foreign");
    std::fs::write(&path, b"precious data").unwrap();
    let err = Server::create(&path).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read(&path).unwrap(), b"precious data");
    let err = Client::connect(&path).unwrap_err();
    assert_eq!(err.to_string(), format!("{} is not an fnat control file", path.display()));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn connect_tells_why_fnatd_cannot_be_reached() {
    let path = temp_path("connect");
    let err = Client::connect(&path).unwrap_err();
    assert_eq!(err.to_string(), format!("fnatd is not running ({}: no such file)", path.display()));

    let server = Server::with_ring_capacity(&path, 4096).unwrap();
    let raw = Raw::open(&path);
    raw.set(field::HEARTBEAT, now_ms() - 3000);
    let err = Client::connect(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("fnatd is not running ({}: fnatd pid {} has not polled for 3 s)", path.display(), std::process::id())
    );
    raw.set(field::HEARTBEAT, now_ms());
    raw.set(field::PID, 0);
    let err = Client::connect(&path).unwrap_err();
    assert!(err.to_string().ends_with(": fnatd has stopped)"), "{err}");
    raw.set(field::PID, u64::from(u32::MAX));
    let err = Client::connect(&path).unwrap_err();
    assert!(err.to_string().ends_with(" is gone)"), "{err}");

    raw.set(field::PID, u64::from(std::process::id()));
    raw.file.write_all_at(&(PROTOCOL_VERSION + 1).to_le_bytes(), field::VERSION).unwrap();
    let err = Client::connect(&path).unwrap_err();
    assert!(
        matches!(err, ConnectError::VersionMismatch { ours: PROTOCOL_VERSION, theirs } if theirs == PROTOCOL_VERSION + 1),
        "{err}"
    );
    raw.file.write_all_at(b"NOTFNAT\0", field::MAGIC).unwrap();
    let err = Client::connect(&path).unwrap_err();
    assert!(matches!(err, ConnectError::NotFnatFile { .. }), "{err}");
    drop(server);
}

#[test]
fn another_users_file_is_permission_denied() {
    let path = temp_path("perm");
    let server = Server::with_ring_capacity(&path, 4096).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
    // root reads any file: the check only means something for other users.
    let root = std::fs::metadata(&path).unwrap().uid() == 0;
    match Client::connect(&path) {
        Err(e) => {
            assert!(!root);
            assert_eq!(
                e.to_string(),
                format!("permission denied: {} belongs to the user running fnatd", path.display())
            );
        }
        Ok(_) => assert!(root),
    }
    drop(server);
}
