//! `fnat-list-stall`: how long `fnatctl -L -c` holds up a worker's bursts, on a worker holding 1M
//! connections (or the count given as the first argument).
//!
//! One worker (`Poller` over `MemIo`, linked with a control side through `worker::shared::links`)
//! polls in a loop on this thread; another thread plays the main lcore: after a quiet spell it asks
//! for every connection (`WorkerShared::request_conns`, as `MainLoop::connections` does) and waits
//! for the answer the way `MainLoop::wait` does (checking every 200 us). Each `poll` is timed: the
//! gap between two bursts of a busy worker is the time one poll takes. Printed: the longest poll
//! while the listing was pending, the longest before it (the loop's own noise on this machine), how
//! many polls the listing spanned, how long it took, and what it returned.
//!
//! Run: `cargo run --release -p bench --bin fnat-list-stall [COUNT]`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use dataplane::fixtures;
use dataplane::lb::ConnTable;
use dataplane::worker::mem_io::MemIo;
use dataplane::worker::poll::{Poller, redirect_mesh};
use dataplane::worker::shared::{self, ConnQuery};

/// The worker's clock (ms): nothing expires.
const NOW: u64 = 1_000;
/// How long the worker polls before the listing is asked for.
const QUIET: Duration = Duration::from_millis(100);
/// How long the control side waits for the answer at most.
const WAIT: Duration = Duration::from_secs(5);

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let t0 = Instant::now();
    let mut table = ConnTable::with_seed((n as usize).next_power_of_two(), [0x1234, 0x5678]);
    for i in 0..n {
        table.insert(fixtures::synthetic_conn(i)).expect("room for every connection");
    }
    let worker = fixtures::worker_with_table(table);
    eprintln!("fnat-list-stall: {n} connections in {:.1} s", t0.elapsed().as_secs_f64());
    let (ctl, links) = shared::links(16, 64);
    let redirects = redirect_mesh(1, 16).pop().expect("one worker's links");
    let mut poller = Poller::with_control(worker, redirects, 2, links);
    let mut io = MemIo::new(2);

    let asked = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let control = {
        let (shared, asked, done) = (Arc::clone(&ctl.shared), Arc::clone(&asked), Arc::clone(&done));
        thread::spawn(move || {
            thread::sleep(QUIET);
            let start = Instant::now();
            asked.store(true, Ordering::Release);
            let ticket = shared.request_conns(ConnQuery { svc: None, max: n as usize });
            while start.elapsed() < WAIT && !shared.is_served(ticket) {
                thread::sleep(Duration::from_micros(200));
            }
            let p = shared.published();
            done.store(true, Ordering::Release);
            (p.conn_list.len(), p.conn_omitted, start.elapsed())
        })
    };
    let (mut quiet_max, mut busy_max, mut busy_polls) = (Duration::ZERO, Duration::ZERO, 0u64);
    while !done.load(Ordering::Acquire) {
        let before = asked.load(Ordering::Acquire);
        let t = Instant::now();
        poller.poll(&mut io, NOW);
        let d = t.elapsed();
        // A poll the request reached while it ran counts as one during the listing.
        let during = before || asked.load(Ordering::Acquire);
        if during {
            busy_max = busy_max.max(d);
            busy_polls += 1;
        } else {
            quiet_max = quiet_max.max(d);
        }
    }
    let (listed, omitted, took) = control.join().expect("the control thread");
    println!(
        "list stall, {n} connections: longest poll during the listing {:.1} us (before it {:.1} us); \
         the listing spanned {busy_polls} polls and took {:.1} ms; {listed} listed, {omitted} omitted",
        busy_max.as_secs_f64() * 1e6,
        quiet_max.as_secs_f64() * 1e6,
        took.as_secs_f64() * 1e3,
    );
    drop(ctl);
}
