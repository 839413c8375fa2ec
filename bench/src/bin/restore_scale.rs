//! `fnat-restore-bench`: what applying a large configuration (`fnatctl -R` of 10,000 virtual
//! services with 10 real servers each, by default) costs, end to end and on the worker.
//!
//! An operator restores a saved table after a restart or a failover, or replaces it wholesale from
//! an orchestrator: one `fnatctl -R`, one transaction. Two costs matter. The operator waits for the
//! request (parse in fnatctl, JSON through the control file, the all-or-nothing apply on fnatd's
//! main lcore), and the gateway forwards nothing on a worker while it swaps in the new snapshot
//! (`Worker::set_snapshot` runs on the worker lcore between bursts). So:
//!
//! - Part A, end to end: a real fnatd (DPDK, `--no-huge`, two `net_null` ports that receive
//!   nothing, one worker) started from a generated configuration in a temporary directory; the
//!   wall time of `fnatctl -R` with the rules on stdin, of `fnatctl -L -n` and `fnatctl -S -n`
//!   (their output checked: every service and real server listed, the saved text the restored
//!   one), of `fnatctl -C` and of a second `-R`; and fnatd's peak RSS (VmHWM) before and after.
//!   fnatd answers a request before it builds and publishes the new snapshot, so the `-L` right
//!   after a restore also waits for that.
//! - Part B, in process, with the dataplane library alone (no DPDK): the same rules through the
//!   daemon's code path, step by step (parse, JSON encode and decode, `ControlState::answer`,
//!   `ControlState::services`, `Snapshot::with_config`, `Services::carry_cursors`), then
//!   `Worker::set_snapshot` on a worker built as fnatd builds it: the first, full snapshot, and a
//!   snapshot after one weight change (an incremental `fnatctl -e`), the median of five runs each.
//!   Old snapshots are kept alive outside the worker as fnatd's main lcore keeps them, so the
//!   worker's time does not include freeing them.
//!
//! Everything the run creates (the temporary directory, the fnatd child, DPDK's
//! `/var/run/dpdk/<file-prefix>` directory) is removed on success and on error (not if the bench
//! itself is killed: a Ctrl-C reaches fnatd too, which exits, but the directories stay). A failing
//! fnatctl step is reported in its row and makes the exit status 1 after all the figures are out.
//! Part A needs root.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use clap::Parser;
use ctrl::cli::{self, PortNames};
use ctrl::msg::{Reply, Request, decode_request, encode_reply, encode_request};
use ctrl::save::parse_rules;
use ctrl::shm::DEFAULT_MAX_PAYLOAD;
use dataplane::config::Config;
use dataplane::control::NoConnections;
use dataplane::control::rules::save_state;
use dataplane::fixtures;
use dataplane::lb::{ConnTable, LocalAddrPool, Templates};
use dataplane::net::{NeighManager, NeighTimers};
use dataplane::packet::MacAddr;
use dataplane::snapshot::Snapshot;
use dataplane::worker::{Worker, WorkerId};
use serde_json::json;

/// Applies N virtual services of M real servers each (an `fnatctl -R` restore) and reports what it
/// costs: end to end through a real fnatd, and on the worker (in process).
#[derive(Parser, Debug)]
#[command(name = "fnat-restore-bench")]
struct Args {
    /// Virtual services (TCP, wlc), each on its own VIP, port 80.
    #[arg(long, default_value_t = 10_000)]
    services: usize,
    /// FULLNAT real servers per service (port 8080, weight 1).
    #[arg(long, default_value_t = 10)]
    servers: usize,
    /// The fnatd binary [default: `fnatd` next to this executable].
    #[arg(long, value_name = "PATH")]
    fnatd: Option<PathBuf>,
    /// The fnatctl binary [default: `fnatctl` next to this executable].
    #[arg(long, value_name = "PATH")]
    fnatctl: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Only the in-process part (no fnatd, no root needed).
    #[arg(long)]
    skip_daemon: bool,
}

/// Runs of each worker swap; the median is reported.
const RUNS: usize = 5;
/// The service port and the real servers' port.
const VPORT: u16 = 80;
const RPORT: u16 = 8080;
/// FULLNAT local address, inside the DMZ port's prefix (10.1.0.1/16) as the real servers are.
const LIP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
/// Distinct real-server addresses available in 10.1.1.1 - 10.1.255.254 (254 hosts per /24).
const RS_ADDRS: usize = 255 * 254;
/// VIPs are 172.17.0.1 onwards (254 hosts per /24), inside the LAN port's 172.16.0.0/12 up to here.
const MAX_SERVICES: usize = 200 * 256 * 254;

/// VIP of service `i`: 172.17.0.1, 172.17.0.2, ... 172.17.0.254, 172.17.1.1, ...
fn vip(i: usize) -> Ipv4Addr {
    let (host, net) = (i % 254 + 1, i / 254);
    Ipv4Addr::new(172, octet(17 + net / 256), octet(net % 256), octet(host))
}

/// Real server `j` of service `i`: consecutive addresses from 10.1.1.1, wrapping after `RS_ADDRS`
/// (so addresses repeat across services, never within one).
fn real_server(i: usize, j: usize, m: usize) -> Ipv4Addr {
    let k = (i * m + j) % RS_ADDRS;
    Ipv4Addr::new(10, 1, octet(1 + k / 254), octet(k % 254 + 1))
}

fn octet(v: usize) -> u8 {
    u8::try_from(v).expect("octets are checked by the argument limits")
}

/// The rules exactly as `fnatctl -S` prints such a table: services sorted by address, each followed
/// by its real servers sorted by address, then one `--add-laddr` line per service (its default
/// local address, as `-S` saves it).
fn rules_text(n: usize, m: usize) -> String {
    let mut out = String::with_capacity(n * (40 + 50 * m + 45));
    for i in 0..n {
        let v = vip(i);
        out.push_str(&format!("-A -t {v}:{VPORT} -s wlc\n"));
        let mut rs: Vec<Ipv4Addr> = (0..m).map(|j| real_server(i, j, m)).collect();
        rs.sort();
        for r in rs {
            out.push_str(&format!("-a -t {v}:{VPORT} -r {r}:{RPORT} -b -w 1\n"));
        }
    }
    for i in 0..n {
        out.push_str(&format!("--add-laddr -t {}:{VPORT} -z {LIP}\n", vip(i)));
    }
    out
}

/// fnatd's configuration: two null ports that receive nothing, one worker on lcore 1, no services.
fn config_text(run_dir: &Path, prefix: &str) -> String {
    format!(
        r#"# fnat-restore-bench: fnatd on two net_null ports that receive nothing.
{base}
[[port]]
name = "lan"
device = "net_null0,no-rx=1"
mac = "02:00:00:00:00:01"
addresses = ["172.16.0.1/12"]

[[port]]
name = "dmz"
device = "net_null1,no-rx=1"
mac = "02:00:00:00:00:02"
addresses = ["10.1.0.1/16"]

[local]
addresses = ["{LIP}"]
ports = "1024-65535"
"#,
        base = bench::pktgen::target::fnatd_base(run_dir, prefix, 512, 65536, &Default::default())
    )
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let v = f();
    (v, start.elapsed())
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A duration as the table shows it: seconds, milliseconds or microseconds.
fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else if s >= 1e-5 {
        format!("{:.0} µs", s * 1e6)
    } else {
        format!("{:.2} µs", s * 1e6)
    }
}

/// The largest request fnatd's control file takes (its default rings).
fn max_payload() -> usize {
    usize::try_from(DEFAULT_MAX_PAYLOAD).unwrap_or(usize::MAX)
}

fn percent(part: usize, whole: usize) -> f64 {
    megabytes(part) / megabytes(whole.max(1)) * 100.0
}

fn megabytes(bytes: usize) -> f64 {
    // Precision loss is irrelevant for a size printed with one decimal.
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    b / 1e6
}

// ---------------------------------------------------------------------------------------------
// Part A: a real fnatd.

/// A scratch directory, removed on drop with DPDK's runtime directory for `prefix`.
#[derive(Debug)]
struct RunDir {
    path: PathBuf,
    prefix: String,
}

impl RunDir {
    fn new() -> Result<Self> {
        let prefix = format!("fnat-restore-bench-{}", std::process::id());
        let path = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, prefix })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&self.prefix));
    }
}

/// The fnatd child: stopped (SIGTERM, then waited for) when dropped, before its run directory goes.
#[derive(Debug)]
struct Daemon {
    process: fixtures::process::Daemon,
    ctl: PathBuf,
    fnatctl: PathBuf,
    // Last: removed after the child has stopped (fields drop in order).
    _dir: RunDir,
}

impl Daemon {
    /// Starts fnatd on `config` and waits for its "fnatd: ready" line.
    fn start(fnatd: &Path, fnatctl: &Path, dir: RunDir, config: &str) -> Result<Self> {
        let conf = dir.path.join("fnatd.toml");
        std::fs::write(&conf, config).with_context(|| format!("writing {}", conf.display()))?;
        let mut cmd = Command::new(fnatd);
        cmd.arg("--config").arg(&conf);
        let process = fixtures::process::Daemon::fnatd(cmd, &dir.path.join("fnatd.log"), Duration::from_secs(60))
            .map_err(|e| anyhow!(e))?;
        Ok(Self { process, ctl: dir.path.join("fnatd.ctl"), fnatctl: fnatctl.to_owned(), _dir: dir })
    }

    fn pid(&self) -> Result<u32> {
        self.process.pid().context("fnatd is not running")
    }

    /// fnatd's peak and current resident set size, in KiB (VmHWM, VmRSS).
    fn memory_kib(&self) -> Result<(u64, u64)> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading fnatd's status")?;
        let field = |name: &str| -> Result<u64> {
            let line = status.lines().find(|l| l.starts_with(name)).with_context(|| format!("no {name} line"))?;
            let kb = line.split_whitespace().nth(1).with_context(|| format!("bad {name} line: {line}"))?;
            kb.parse().with_context(|| format!("bad {name} line: {line}"))
        };
        Ok((field("VmHWM:")?, field("VmRSS:")?))
    }

    /// Runs `fnatctl --ctl CTL args` with `input` on stdin; its stdout, and the wall time from
    /// spawning it to its exit. A failure is an error with fnatctl's message.
    fn fnatctl(&self, args: &[&str], input: &str) -> Result<(String, Duration)> {
        let start = Instant::now();
        let mut child = Command::new(&self.fnatctl)
            .arg("--ctl")
            .arg(&self.ctl)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", self.fnatctl.display()))?;
        // fnatctl reads all of stdin before it writes anything: no deadlock writing it all first.
        let mut stdin = child.stdin.take().context("fnatctl's stdin")?;
        let written = stdin.write_all(input.as_bytes());
        drop(stdin);
        let out = child.wait_with_output().context("waiting for fnatctl")?;
        let took = start.elapsed();
        if !out.status.success() {
            bail!(
                "fnatctl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        written.context("writing fnatctl's stdin")?;
        Ok((String::from_utf8(out.stdout).context("fnatctl's output is not UTF-8")?, took))
    }

    /// SIGTERM, then waits (30 s at most, then SIGKILL); what fnatd printed.
    fn stop(&mut self) -> Result<String> {
        match self.process.stop(Duration::from_secs(30)) {
            Ok(s) if s.success() => Ok(self.process.log()),
            Ok(s) => bail!("fnatd exited with {s}: {}", self.process.log().trim()),
            Err(e) => bail!("fnatd {e}"),
        }
    }
}

/// One timed fnatctl call of part A: its wall time, or why it failed (the run goes on, so that
/// one failing step does not hide the others' figures, and exits with an error at the end).
#[derive(Debug)]
struct Step {
    /// The table's label.
    label: &'static str,
    /// The JSON key.
    key: &'static str,
    took: Result<Duration, String>,
}

/// What part A measured.
#[derive(Debug)]
struct EndToEnd {
    steps: Vec<Step>,
    /// Whether `-S -n` printed exactly the restored text (false: the same lines, reordered).
    save_identical: Option<bool>,
    /// fnatd's VmHWM and VmRSS (KiB) when ready and at the end.
    ready_kib: (u64, u64),
    end_kib: (u64, u64),
    /// Why fnatd did not stop cleanly, if it did not.
    stop_error: Option<String>,
}

impl EndToEnd {
    fn errors(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.steps.iter().filter_map(|s| s.took.as_ref().err().map(|e| format!("{}: {e}", s.label))).collect();
        v.extend(self.stop_error.iter().map(|e| format!("stopping fnatd: {e}")));
        v
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").ok().is_some_and(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2)) == Some("0")
    })
}

/// Checks `fnatctl -L -n` output: `n` service lines and `n * m` real-server lines.
fn check_listing(out: &str, n: usize, m: usize) -> Result<()> {
    let services = out.lines().filter(|l| l.starts_with("TCP  ")).count();
    let dests = out.lines().filter(|l| l.starts_with("  -> ") && !l.starts_with("  -> RemoteAddress")).count();
    ensure!(
        services == n && dests == n * m,
        "fnatctl -L -n lists {services} services and {dests} real servers, expected {n} and {}",
        n * m
    );
    Ok(())
}

/// Checks `fnatctl -S -n` output against the restored text: identical, or else the same lines in
/// another order (true when identical).
fn check_save(saved: &str, rules: &str) -> Result<bool> {
    if saved == rules {
        return Ok(true);
    }
    let mut a: Vec<&str> = saved.lines().collect();
    let mut b: Vec<&str> = rules.lines().collect();
    a.sort_unstable();
    b.sort_unstable();
    if a == b {
        return Ok(false);
    }
    let first = a.iter().zip(&b).find(|(x, y)| x != y).map(|(x, y)| format!("saved '{x}', restored '{y}'"));
    bail!(
        "fnatctl -S -n differs from the restored rules: {} lines saved, {} restored; first difference (sorted): {}",
        a.len(),
        b.len(),
        first.unwrap_or_else(|| "one is a prefix of the other".into())
    )
}

fn end_to_end(args: &Args, rules: &str) -> Result<EndToEnd> {
    ensure!(is_root(), "the end-to-end part starts DPDK and needs root (or use --skip-daemon)");
    let exe = std::env::current_exe().context("locating this executable")?;
    let fnatd = args.fnatd.clone().unwrap_or_else(|| exe.with_file_name("fnatd"));
    let fnatctl = args.fnatctl.clone().unwrap_or_else(|| exe.with_file_name("fnatctl"));
    for p in [&fnatd, &fnatctl] {
        ensure!(p.is_file(), "{} not found (build it, or pass --fnatd/--fnatctl)", p.display());
    }
    let dir = RunDir::new()?;
    let config = config_text(&dir.path, &dir.prefix);
    let mut d = Daemon::start(&fnatd, &fnatctl, dir, &config)?;
    let ready_kib = d.memory_kib()?;
    let (n, m) = (args.services, args.servers);
    let mut steps = Vec::new();
    let mut step = |label, key, f: &mut dyn FnMut() -> Result<Duration>| {
        steps.push(Step { label, key, took: f().map_err(|e| format!("{e:#}")) });
    };
    let mut save_identical = None;

    step("fnatctl -R (restore, one transaction)", "restore_s", &mut || Ok(d.fnatctl(&["-R"], rules)?.1));
    step("fnatctl -L -n (then; waits for the snapshot)", "list_s", &mut || {
        let (out, took) = d.fnatctl(&["-L", "-n"], "")?;
        check_listing(&out, n, m)?;
        Ok(took)
    });
    step("fnatctl -S -n", "save_s", &mut || {
        let (out, took) = d.fnatctl(&["-S", "-n"], "")?;
        save_identical = Some(check_save(&out, rules)?);
        Ok(took)
    });
    step("fnatctl -C", "clear_s", &mut || {
        let took = d.fnatctl(&["-C"], "")?.1;
        check_listing(&d.fnatctl(&["-L", "-n"], "")?.0, 0, m).context("after -C")?;
        Ok(took)
    });
    step("fnatctl -R again (after -C)", "restore_again_s", &mut || Ok(d.fnatctl(&["-R"], rules)?.1));
    step("fnatctl -L -n again", "list_again_s", &mut || {
        let (out, took) = d.fnatctl(&["-L", "-n"], "")?;
        check_listing(&out, n, m)?;
        Ok(took)
    });
    let end_kib = d.memory_kib()?;
    let stop_error = d.stop().err().map(|e| format!("{e:#}"));
    Ok(EndToEnd { steps, save_identical, ready_kib, end_kib, stop_error })
}

// ---------------------------------------------------------------------------------------------
// Part B: in process.

/// What part B measured.
#[derive(Debug)]
struct InProcess {
    request_bytes: usize,
    list_reply_bytes: usize,
    parse: Duration,
    encode: Duration,
    decode: Duration,
    apply: Duration,
    services: Duration,
    snapshot: Duration,
    carry_cursors: Duration,
    swap_full: Vec<Duration>,
    change_apply: Duration,
    change_services: Duration,
    change_snapshot: Duration,
    swap_change: Vec<Duration>,
}

/// A worker as fnatd builds it (worker 0 of 1, which also announces new VIPs), on `snap`.
fn new_worker(cfg: &Config, snap: &Arc<Snapshot>, neigh: &NeighManager, templates: &Arc<Templates>) -> Worker {
    let id = WorkerId { index: 0, count: 1 };
    Worker::new(
        id,
        Arc::clone(snap),
        neigh.current(),
        ConnTable::new(cfg.conn_table_size),
        LocalAddrPool::new(cfg.local_ports.clone(), id.index, id.count),
        Arc::clone(templates),
    )
}

fn in_process(args: &Args, rules: &str) -> Result<InProcess> {
    let (n, m) = (args.services, args.servers);
    let dir = std::env::temp_dir().join("fnat-restore-bench-in-process");
    let cfg = Config::parse(Path::new("fnat-restore-bench.toml"), &config_text(&dir, "unused"))
        .map_err(|e| anyhow!("the generated configuration: {e}"))?;
    let macs: Vec<MacAddr> = cfg.ports.iter().map(|p| p.mac.unwrap_or_default()).collect();

    // fnatd's start: the state, the first snapshot (no services), the templates, the worker.
    let mut state = dataplane::control::rules::initial_state(&cfg).map_err(|e| anyhow!(e))?;
    let snap0 = Arc::new(Snapshot::from_config(&cfg, &macs).with_services(state.services()?));
    let neigh = NeighManager::new(&cfg.neighbours, NeighTimers::default());
    let templates = Arc::new(Templates::new(cfg.conn_table_size));

    // fnatctl: the lines to commands, the request to JSON; fnatd: JSON to the request, applied.
    let (commands, parse) = timed(|| parse_rules(rules));
    let commands = commands.map_err(|e| anyhow!("the generated rules: {e}"))?;
    let (bytes, encode) = timed(|| encode_request(&Request::new(commands)));
    let (request, decode) = timed(|| decode_request(&bytes));
    let (reply, apply) = timed(|| state.answer(request, &NoConnections));
    ensure!(reply == Reply::Done, "the restore was refused: {reply:?}");
    ensure!(state.len() == n, "{} services after the restore, expected {n}", state.len());
    let saved = save_state(&state).map_err(|e| anyhow!("{e}"))?;
    check_save(&saved, rules)?;
    // What `fnatctl -L` and `-S` get back: the whole listing in one reply.
    let listing = state.listing(None, &NoConnections).map_err(|e| anyhow!("{e}"))?;
    let list_reply_bytes = encode_reply(&Reply::Listing(listing)).len();

    // fnatd's main lcore after the reply: the new snapshot, published.
    let (services, services_t) = timed(|| state.services());
    let services = services?;
    let (full, snapshot) = timed(|| Arc::new(snap0.with_config(services, state.timeouts().clone())));
    let ((), carry_cursors) = timed(|| full.services.carry_cursors(&snap0.services, &state.take_history()));

    // The worker's swap to the full snapshot, each run on a fresh worker (as after a restart).
    let mut swap_full = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let mut w = new_worker(&cfg, &snap0, &neigh, &templates);
        let ((), t) = timed(|| w.set_snapshot(Arc::clone(&full)));
        swap_full.push(t);
    }

    // One weight change at a time, on a worker that has the full snapshot. fnatd keeps the
    // retired snapshots until no worker holds them: so does this.
    let mut w = new_worker(&cfg, &snap0, &neigh, &templates);
    w.set_snapshot(Arc::clone(&full));
    let names = PortNames::system();
    let mut retired = vec![Arc::clone(&full)];
    let mut current = full;
    let (mut change_apply, mut change_services, mut change_snapshot) = (Vec::new(), Vec::new(), Vec::new());
    let mut swap_change = Vec::with_capacity(RUNS);
    for r in 0..RUNS {
        let i = r * n.max(1) / RUNS;
        let line = format!("-e -t {}:{VPORT} -r {}:{RPORT} -b -w 2", vip(i), real_server(i, 0, m));
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let cmd = cli::change(&words, &names).map_err(|e| anyhow!("{line}: {e}"))?;
        let (reply, t) = timed(|| state.answer(Ok(Request::new(vec![cmd])), &NoConnections));
        ensure!(reply == Reply::Done, "{line}: {reply:?}");
        change_apply.push(t);
        let (services, t) = timed(|| state.services());
        change_services.push(t);
        let services = services?;
        let (next, t) = timed(|| Arc::new(current.with_config(services, state.timeouts().clone())));
        change_snapshot.push(t);
        next.services.carry_cursors(&current.services, &state.take_history());
        let ((), t) = timed(|| w.set_snapshot(Arc::clone(&next)));
        swap_change.push(t);
        retired.push(std::mem::replace(&mut current, next));
    }
    drop(w);
    drop(retired);

    Ok(InProcess {
        request_bytes: bytes.len(),
        list_reply_bytes,
        parse,
        encode,
        decode,
        apply,
        services: services_t,
        snapshot,
        carry_cursors,
        swap_full,
        change_apply: median(change_apply),
        change_services: median(change_services),
        change_snapshot: median(change_snapshot),
        swap_change,
    })
}

// ---------------------------------------------------------------------------------------------
// Output.

fn print_table(args: &Args, rules: &str, a: Option<&EndToEnd>, b: &InProcess) {
    let row = |name: &str, value: String| println!("  {name:<44} {value}");
    let limit = max_payload();
    println!(
        "restore {} services x {} real servers ({:.1} MB request, {:.0}% of the {:.1} MB limit)",
        args.services,
        args.servers,
        megabytes(b.request_bytes),
        percent(b.request_bytes, limit),
        megabytes(limit),
    );
    row("rules text (fnatctl -S format)", format!("{:.1} MB, {} lines", megabytes(rules.len()), rules.lines().count()));
    row(
        "fnatctl -L / -S reply (the listing)",
        format!("{:.1} MB, {:.0}% of the limit", megabytes(b.list_reply_bytes), percent(b.list_reply_bytes, limit)),
    );
    if let Some(a) = a {
        println!("end to end (fnatd, 1 worker, 2 net_null ports)");
        for s in &a.steps {
            let value = match &s.took {
                Ok(d) if s.key == "save_s" => match a.save_identical {
                    Some(true) => format!("{} (identical to the rules)", human(*d)),
                    _ => format!("{} (the same lines, reordered)", human(*d)),
                },
                Ok(d) => human(*d),
                Err(e) => format!("FAILED: {e}"),
            };
            row(s.label, value);
        }
        let mib = |(hwm, rss): (u64, u64)| format!("{} / {} MiB", hwm / 1024, rss / 1024);
        row("fnatd VmHWM / VmRSS when ready", mib(a.ready_kib));
        row("fnatd VmHWM / VmRSS at the end", mib(a.end_kib));
        if let Some(e) = &a.stop_error {
            row("fnatd stop", format!("FAILED: {e}"));
        }
    }
    println!("in process (fnatctl's and fnatd's code path, step by step)");
    row("fnatctl: parse the rules", human(b.parse));
    row("fnatctl: encode the request (JSON)", human(b.encode));
    row("fnatd: decode the request", human(b.decode));
    row("fnatd: apply (ControlState::answer)", human(b.apply));
    row("fnatd: ControlState::services", human(b.services));
    row("fnatd: Snapshot::with_config", human(b.snapshot));
    row("fnatd: Services::carry_cursors", human(b.carry_cursors));
    row("one change (-e weight): apply", human(b.change_apply));
    row("one change: ControlState::services", human(b.change_services));
    row("one change: Snapshot::with_config", human(b.change_snapshot));
    println!("worker (Worker::set_snapshot, median of {RUNS}: the time it does not forward)");
    row("worker snapshot swap (full)", human(median(b.swap_full.clone())));
    row("worker snapshot swap (one change)", human(median(b.swap_change.clone())));
}

fn print_json(args: &Args, rules: &str, a: Option<&EndToEnd>, b: &InProcess) -> Result<()> {
    let runs = |v: &[Duration]| v.iter().map(|d| secs(*d)).collect::<Vec<f64>>();
    let end_to_end = a.map(|a| {
        let mut o = serde_json::Map::new();
        for s in &a.steps {
            o.insert(s.key.into(), s.took.as_ref().ok().map_or(serde_json::Value::Null, |d| json!(secs(*d))));
        }
        o.insert("save_identical".into(), json!(a.save_identical));
        o.insert("fnatd_vmhwm_ready_kib".into(), json!(a.ready_kib.0));
        o.insert("fnatd_vmrss_ready_kib".into(), json!(a.ready_kib.1));
        o.insert("fnatd_vmhwm_end_kib".into(), json!(a.end_kib.0));
        o.insert("fnatd_vmrss_end_kib".into(), json!(a.end_kib.1));
        o.insert("errors".into(), json!(a.errors()));
        serde_json::Value::Object(o)
    });
    let out = json!({
        "services": args.services,
        "servers": args.servers,
        "rules_bytes": rules.len(),
        "rules_lines": rules.lines().count(),
        "request_bytes": b.request_bytes,
        "list_reply_bytes": b.list_reply_bytes,
        "limit_bytes": max_payload(),
        "end_to_end": end_to_end,
        "in_process": {
            "parse_s": secs(b.parse),
            "encode_s": secs(b.encode),
            "decode_s": secs(b.decode),
            "apply_s": secs(b.apply),
            "services_s": secs(b.services),
            "snapshot_s": secs(b.snapshot),
            "carry_cursors_s": secs(b.carry_cursors),
            "change_apply_s": secs(b.change_apply),
            "change_services_s": secs(b.change_services),
            "change_snapshot_s": secs(b.change_snapshot),
        },
        "worker": {
            "swap_full_s": secs(median(b.swap_full.clone())),
            "swap_full_runs_s": runs(&b.swap_full),
            "swap_one_change_s": secs(median(b.swap_change.clone())),
            "swap_one_change_runs_s": runs(&b.swap_change),
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Prints the figures; an end-to-end part that failed, or any of its steps, makes it an error
/// after the figures are out.
fn run(args: &Args) -> Result<()> {
    ensure!(args.services <= MAX_SERVICES, "--services: at most {MAX_SERVICES}");
    ensure!((1..=RS_ADDRS).contains(&args.servers), "--servers: 1 to {RS_ADDRS}");
    let rules = rules_text(args.services, args.servers);
    let a = if args.skip_daemon { None } else { Some(end_to_end(args, &rules)) };
    let b = in_process(args, &rules).context("in process")?;
    let (done, failed) = match a {
        Some(Ok(a)) => {
            let errors = a.errors();
            (Some(a), (!errors.is_empty()).then(|| errors.join("; ")))
        }
        Some(Err(e)) => (None, Some(format!("{e:#}"))),
        None => (None, None),
    };
    if args.json {
        print_json(args, &rules, done.as_ref(), &b)?;
    } else {
        print_table(args, &rules, done.as_ref(), &b);
    }
    match failed {
        Some(e) => bail!("end to end: {e}"),
        None => Ok(()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fnat-restore-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
