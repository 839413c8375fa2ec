//! `fnat-health-scale`: fnatd's checker (`dataplane::health::Runner`, the thread and probes fnatd
//! runs) with 10,000 real servers checked every second, by default: does it keep each server's
//! schedule, and what does it cost?
//!
//! The real servers are loopback addresses (`127.1.x.y`, one per server, so that no two checks
//! share a 4-tuple) answered by a small responder in this process (a TCP listener on every
//! loopback address with a deep backlog; HTTP checks get `200 OK`). The run reports the checks
//! completed per second against those due, how many passed, the time between two checks of the
//! same server (from the second round on: the first checks are spread over an interval on
//! purpose), and the checker thread's CPU time (read from `/proc/self/task/*/stat` for the thread
//! named `fnat-health`, so the responder's work is not counted).

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use ctrl::vocab::health::HttpCheck;
use ctrl::vocab::{CheckKind, CheckSpec, CheckTiming, Protocol, ServiceKey};
use dataplane::health::{Notify, Runner, Target};
use dataplane::lb::DestId;
use hdrhistogram::Histogram;

/// Checks N loopback real servers every interval with fnatd's checker and reports how well it
/// keeps the schedule and what it costs.
#[derive(Parser, Debug)]
#[command(name = "fnat-health-scale")]
struct Args {
    /// Real servers checked.
    #[arg(long, default_value_t = 10_000)]
    servers: u32,
    /// Milliseconds between two checks of a server.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// Seconds to run.
    #[arg(long, default_value_t = 10)]
    secs: u64,
    /// The check: tcp or http.
    #[arg(long, default_value = "http")]
    kind: String,
    /// Responder threads.
    #[arg(long, default_value_t = 2)]
    responders: usize,
}

fn main() -> Result<()> {
    let a = Args::parse();
    if a.servers == 0 || a.servers > 62_500 {
        bail!("--servers must be from 1 to 62500 (127.1.0.1 to 127.1.249.250)");
    }
    let kind = match a.kind.as_str() {
        "tcp" => CheckKind::Tcp,
        "http" => CheckKind::Http(HttpCheck { path: "/".into(), host: None, status: vec![], digest: None, tls: false }),
        other => bail!("--kind {other}: tcp or http"),
    };
    let http = matches!(kind, CheckKind::Http(_));
    let listener = listener().context("the responder's listener")?;
    let port = listener.local_addr()?.port();
    let stop = Arc::new(AtomicBool::new(false));
    let listener = Arc::new(listener);
    listener.set_nonblocking(true)?;
    let responders: Vec<_> = (0..a.responders)
        .map(|_| {
            let (l, stop) = (Arc::clone(&listener), Arc::clone(&stop));
            std::thread::spawn(move || respond(&l, &stop, http))
        })
        .collect();

    let timing = CheckTiming {
        interval_ms: a.interval_ms,
        timeout_ms: a.interval_ms.min(2000),
        retries: 0,
        retry_delay_ms: 1000,
        rise: 1,
        fall: 1,
    };
    let svc = ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport: 80, fwmark: 0 };
    let targets: Vec<Target> = (0..a.servers)
        .map(|i| {
            let (hi, lo) = (u8::try_from(i / 250).unwrap_or(0), u8::try_from(i % 250 + 1).unwrap_or(1));
            let addr = SocketAddrV4::new(Ipv4Addr::new(127, 1, hi, lo), port);
            Target {
                id: DestId(i),
                svc,
                dest: addr,
                addr,
                spec: CheckSpec { kind: kind.clone(), port: None, timing },
                inhibit: false,
                weight: 1,
                notify: Notify::default(),
                passive: None,
            }
        })
        .collect();

    let runner = Runner::start().context("starting the checker")?;
    let cpu0 = checker_cpu();
    let started = Instant::now();
    runner.set_targets(targets);
    let mut last: HashMap<DestId, Instant> = HashMap::with_capacity(usize::try_from(a.servers).unwrap_or(0));
    let mut gaps = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut checks, mut passed, mut counted_from) = (0u64, 0u64, None);
    let mut first_detail = None;
    let settle = Duration::from_millis(2 * a.interval_ms);
    let end = Duration::from_secs(a.secs);
    while started.elapsed() < end {
        std::thread::sleep(Duration::from_millis(5));
        let now = Instant::now();
        for (id, outcome) in runner.results() {
            if now.duration_since(started) >= settle {
                counted_from.get_or_insert(now);
                checks += 1;
                passed += u64::from(outcome.up);
                if let Some(prev) = last.get(&id).filter(|&&p| p.duration_since(started) >= settle) {
                    let us = u64::try_from(now.duration_since(*prev).as_micros()).unwrap_or(u64::MAX);
                    gaps.record(us.max(1))?;
                }
                if !outcome.up && first_detail.is_none() {
                    first_detail = Some(outcome.detail.clone());
                }
            }
            last.insert(id, now);
        }
    }
    let measured = counted_from.map_or(Duration::ZERO, |t| t.elapsed()).as_secs_f64();
    // The thread names itself once it runs: not yet there at the start is no time spent.
    let cpu = checker_cpu().map(|b| b - cpu0.unwrap_or(0.0));
    let wall = started.elapsed().as_secs_f64();
    drop(runner);
    stop.store(true, Ordering::Relaxed);
    for r in responders {
        let _ = r.join();
    }

    #[allow(clippy::cast_precision_loss)]
    let (rate, due) = (checks as f64 / measured.max(1e-9), f64::from(a.servers) * 1000.0 / a.interval_ms as f64);
    #[allow(clippy::cast_precision_loss)]
    let ms = |q: f64| gaps.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "fnat-health-scale: {} {} checks of {} real servers every {} ms, {} s",
        a.kind, checks, a.servers, a.interval_ms, a.secs
    );
    println!(
        "  checks/s            {rate:.0} (due {due:.0}), measured over {measured:.1} s after the first two rounds"
    );
    #[allow(clippy::cast_precision_loss)]
    let pass = 100.0 * passed as f64 / checks.max(1) as f64;
    println!(
        "  passed              {pass:.2}%{}",
        first_detail.map(|d| format!(" (first failure: {d})")).unwrap_or_default()
    );
    #[allow(clippy::cast_precision_loss)]
    let max = gaps.max() as f64 / 1000.0;
    println!(
        "  between two checks  p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {max:.1} ms (interval {} ms)",
        ms(0.5),
        ms(0.99),
        ms(0.999),
        a.interval_ms
    );
    match cpu {
        Some(c) => println!("  checker thread CPU  {c:.2} s in {wall:.1} s ({:.1}% of one core)", 100.0 * c / wall),
        None => println!("  checker thread CPU  unknown (no fnat-health thread in /proc/self/task)"),
    }
    if pass < 99.0 || rate < 0.95 * due {
        bail!("the checker fell behind or checks failed");
    }
    Ok(())
}

/// A listener on every loopback address with a backlog deep enough for a second's checks.
fn listener() -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0).into())?;
    s.listen(65_535)?;
    Ok(s.into())
}

/// Answers every connection: a `200 OK` to an HTTP request, or a close.
fn respond(listener: &TcpListener, stop: &AtomicBool, http: bool) {
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut s, _)) => {
                if http {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                    let mut got = 0;
                    while got < buf.len() {
                        match s.read(&mut buf[got..]) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => got += n,
                        }
                        if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                            break;
                        }
                    }
                    let _ = s.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_micros(200)),
            Err(_) => {}
        }
    }
}

/// CPU seconds (user and system) of this process's thread named `fnat-health`.
fn checker_cpu() -> Option<f64> {
    let tick = 100.0; // USER_HZ on Linux
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() != "fnat-health" {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // After the ")" closing the name: state is field 3; utime and stime are 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
        return Some((utime + stime) / tick);
    }
    None
}
