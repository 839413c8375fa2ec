//! `fnat-conn-memory`: the memory one connection costs in a worker's connection table, measured and
//! computed, for tables of 1M and 10M connections (or the counts given as arguments).
//!
//! For each count, in this fresh process: the resident set (`/proc/self/statm`) before creating a
//! `ConnTable` of exactly that capacity and after filling it with FULLNAT connections (each indexed
//! in both directions), divided by the count; and the same from sizes: the 48-byte `Conn`, the
//! index slots (8 bytes each, at least 4 per connection rounded up to a power of two) and the 4-byte
//! free list, as `ConnTable::bytes_per_conn` reports. Each table is freed before the next is built.
//! Exits with status 1 when a figure passes the target of 128 bytes per connection.
//!
//! Run: `cargo run --release -p bench --bin fnat-conn-memory [COUNT...]`.

use std::process::ExitCode;
use std::time::Instant;

use dataplane::lb::{Conn, ConnTable, Dir};

/// The target, both directions indexed.
const TARGET: f64 = 128.0;
/// Bytes of one index slot (`(u32 hash, u32 entry)`).
const SLOT_BYTES: usize = 8;

/// Resident bytes of this process: `/proc/self/statm`'s second field (pages) times the page size.
fn rss_bytes() -> Result<u64, String> {
    let statm = std::fs::read_to_string("/proc/self/statm").map_err(|e| format!("/proc/self/statm: {e}"))?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("/proc/self/statm: no resident field in '{}'", statm.trim()))?;
    Ok(pages * page_size())
}

/// The page size, from the auxiliary vector (`AT_PAGESZ`); 4096 when it cannot be read.
fn page_size() -> u64 {
    const AT_PAGESZ: u64 = 6;
    let auxv = std::fs::read("/proc/self/auxv").unwrap_or_default();
    auxv.chunks_exact(16)
        .filter_map(|e| {
            let key = u64::from_ne_bytes(e[..8].try_into().ok()?);
            let value = u64::from_ne_bytes(e[8..].try_into().ok()?);
            Some((key, value))
        })
        .find(|&(k, _)| k == AT_PAGESZ)
        .map_or(4096, |(_, v)| v)
}

/// Measures one table of `n` connections; returns whether both figures are within the target.
fn measure(n: u32) -> Result<bool, String> {
    let t0 = Instant::now();
    let before = rss_bytes()?;
    let mut table = ConnTable::with_seed(n as usize, [0x1234, 0x5678]);
    for i in 0..n {
        table.insert(dataplane::fixtures::synthetic_conn(i)).map_err(|_| format!("table full at {i} of {n}"))?;
    }
    let after = rss_bytes()?;
    // Every connection is reachable both ways (a sample, to keep the run short).
    for i in (0..n).step_by(997) {
        let c = dataplane::fixtures::synthetic_conn(i);
        for dir in [Dir::In, Dir::Out] {
            if table.lookup(&c.key(dir)) != Some((i, dir)) {
                return Err(format!("connection {i} not found {dir:?}"));
            }
        }
    }
    let nf = f64::from(n);
    let n = n as usize;
    let slots = (n * 4).next_power_of_two();
    let sized = std::mem::size_of::<Conn>() * n + slots * SLOT_BYTES + n * std::mem::size_of::<u32>();
    let delta = after.saturating_sub(before);
    let (by_rss, by_size) = (delta as f64 / nf, sized as f64 / nf);
    let ok = by_rss <= TARGET && by_size <= TARGET;
    println!(
        "{n} connections, both directions indexed: {by_rss:.1} B/conn by RSS delta ({:.1} MiB), \
         {by_size:.1} B/conn by sizes (Conn {} B + {slots} slots x {SLOT_BYTES} B / {n} = {:.1} B + free list 4 B; \
         ConnTable::bytes_per_conn {}); {} the {TARGET} B target ({:.1} s)",
        delta as f64 / f64::from(1 << 20),
        std::mem::size_of::<Conn>(),
        (slots * SLOT_BYTES) as f64 / nf,
        table.bytes_per_conn(),
        if ok { "within" } else { "OVER" },
        t0.elapsed().as_secs_f64(),
    );
    Ok(ok)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let counts: Result<Vec<u32>, String> = if args.is_empty() {
        Ok(vec![1_000_000, 10_000_000])
    } else {
        args.iter()
            .map(|a| {
                a.replace('_', "")
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n > 0 && n as usize <= dataplane::lb::conn::MAX_CAPACITY)
                    .ok_or_else(|| format!("'{a}' is not a connection count (1 to 2^30)"))
            })
            .collect()
    };
    let mut all_ok = true;
    for n in counts.unwrap_or_else(|e| {
        eprintln!("fnat-conn-memory: {e}");
        std::process::exit(2)
    }) {
        match measure(n) {
            Ok(ok) => all_ok &= ok,
            Err(e) => {
                eprintln!("fnat-conn-memory: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
