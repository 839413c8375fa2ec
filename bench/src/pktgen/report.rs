//! What a run measured: per direction the frames sent and received, throughput and loss; the
//! latency percentiles (from time stamps carried in the frames, in an hdrhistogram); the
//! connections per second of a new-connection run; the sample of frames checked; printed as a
//! table or as one JSON object.

use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Frames one way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flowing {
    /// Frames the generator handed to its port.
    pub sent: u64,
    /// Frames the generator's port refused (its ring was full): not offered, not lost.
    pub refused: u64,
    /// Frames that came back on the other side.
    pub received: u64,
}

impl Flowing {
    /// The share of the sent frames that did not come back.
    pub fn loss(&self) -> f64 {
        if self.sent == 0 { 0.0 } else { self.sent.saturating_sub(self.received) as f64 / self.sent as f64 }
    }
}

/// A whole run's figures.
#[derive(Debug)]
pub struct Report {
    /// `fnatd` or `testpmd`.
    pub target: String,
    /// `established` or `new`.
    pub traffic: String,
    /// `tcp` or `udp`.
    pub proto: String,
    /// Frame size on the wire (FCS included).
    pub size: usize,
    /// Flows.
    pub flows: u32,
    /// Offered rate in frames per second (0: as fast as the link takes them).
    pub offered: u64,
    /// Seconds of measurement.
    pub seconds: f64,
    /// Client to real server.
    pub inbound: Flowing,
    /// Real server to client.
    pub outbound: Flowing,
    /// Latency in nanoseconds, both directions (a new-connection run: the handshake).
    pub latency: Histogram<u64>,
    /// New connections completed (new-connection runs).
    pub handshakes: u64,
    /// Frames checked in full (addresses, ports, TTL, checksums) and how many were wrong.
    pub checked: u64,
    /// Checked frames found wrong.
    pub wrong: u64,
    /// Flows set up before the measurement (established runs) and how long that took.
    pub setup: Option<(u64, f64)>,
    /// The first wrong frame, described.
    pub first_wrong: Option<String>,
    /// fnatctl changes made during the measurement: applied, failed, the first failure's message.
    pub churn: Option<(u64, u64, Option<String>)>,
    /// fnatd's counters when it stopped (its "workers total" line), drops by reason included.
    pub target_counters: Option<String>,
    /// fnatd's start messages on its ports' steering.
    pub steering: Vec<String>,
    /// A SYN flood beside the traffic: SYNs sent, and the target's VmRSS (KiB) before and after.
    pub flood: Option<(u64, u64, u64)>,
}

impl Report {
    /// Received frames per second, both directions.
    pub fn pps(&self) -> f64 {
        (self.inbound.received + self.outbound.received) as f64 / self.seconds
    }

    /// Gigabits per second of received frames (FCS included, no preamble or gap).
    pub fn gbps(&self) -> f64 {
        self.pps() * self.size as f64 * 8.0 / 1e9
    }

    /// New connections per second.
    pub fn cps(&self) -> f64 {
        self.handshakes as f64 / self.seconds
    }

    /// A counter of fnatd's final "workers total" line.
    pub fn target_counter(&self, name: &str) -> Option<u64> {
        let words: Vec<&str> = self.target_counters.as_deref()?.split_whitespace().collect();
        words.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok())
    }

    /// Frames fnatd's workers passed to one another, and the replies (server to client) it
    /// forwarded: with FULLNAT, every redirected frame is a reply (with NAT, requests may be too).
    pub fn redirects(&self) -> Option<(u64, u64)> {
        Some((self.target_counter("redirected_out")?, self.target_counter("fwd_out")?))
    }

    fn percentile(&self, q: f64) -> u64 {
        if self.latency.is_empty() { 0 } else { self.latency.value_at_quantile(q) }
    }

    /// The figures as JSON.
    pub fn json(&self) -> Value {
        let dir = |f: &Flowing| {
            json!({"sent": f.sent, "refused": f.refused, "received": f.received, "loss": f.loss(),
                   "mpps": f.received as f64 / self.seconds / 1e6})
        };
        json!({
            "target": self.target, "traffic": self.traffic, "proto": self.proto, "size": self.size,
            "flows": self.flows, "offered_pps": self.offered, "seconds": self.seconds,
            "in": dir(&self.inbound), "out": dir(&self.outbound),
            "mpps": self.pps() / 1e6, "gbps": self.gbps(),
            "latency_ns": {"p50": self.percentile(0.5), "p99": self.percentile(0.99),
                           "p999": self.percentile(0.999), "max": self.latency.max(),
                           "samples": self.latency.len()},
            "handshakes": self.handshakes, "cps": self.cps(),
            "checked": self.checked, "wrong": self.wrong, "first_wrong": self.first_wrong,
            "setup": self.setup.map(|(n, s)| json!({"flows": n, "seconds": s})),
            "fnatd_counters": self.target_counters,
            "steering": self.steering,
            "redirected": self.redirects().map(|(r, out)| json!({"frames": r, "replies_forwarded": out})),
            "flood": self.flood.map(|(n, before, after)| json!({"syns": n, "rss_kib_before": before, "rss_kib_after": after})),
            "churn": self.churn.as_ref().map(|(a, f, e)| json!({"applied": a, "failed": f, "first_failure": e})),
        })
    }

    /// The figures as a table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let offered = if self.offered == 0 { "max".to_owned() } else { format!("{} pps", self.offered) };
        let _ = writeln!(
            s,
            "{} {} {}, {} bytes, {} flows, offered {offered}, {:.1} s",
            self.target, self.traffic, self.proto, self.size, self.flows, self.seconds
        );
        if let Some((n, secs)) = self.setup {
            let _ = writeln!(s, "  setup: {n} flows established in {secs:.2} s");
        }
        for (name, f) in [("in  (client -> server)", &self.inbound), ("out (server -> client)", &self.outbound)] {
            let _ = writeln!(
                s,
                "  {name}: sent {:>11} received {:>11} loss {:>7.3}%  {:>7.3} Mpps  (refused by the generator's ring: {})",
                f.sent,
                f.received,
                f.loss() * 100.0,
                f.received as f64 / self.seconds / 1e6,
                f.refused
            );
        }
        let _ = writeln!(s, "  total: {:.3} Mpps, {:.3} Gbit/s", self.pps() / 1e6, self.gbps());
        if self.traffic == "new" {
            let _ = writeln!(s, "  new connections: {} ({:.0} per second)", self.handshakes, self.cps());
        }
        let _ = writeln!(
            s,
            "  latency{}: p50 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us ({} samples)",
            if self.traffic == "new" { " (handshake)" } else { "" },
            self.percentile(0.5) as f64 / 1e3,
            self.percentile(0.99) as f64 / 1e3,
            self.percentile(0.999) as f64 / 1e3,
            self.latency.max() as f64 / 1e3,
            self.latency.len()
        );
        let _ = writeln!(s, "  checked {} frames in full: {} wrong", self.checked, self.wrong);
        if let Some((n, before, after)) = self.flood {
            let _ = writeln!(
                s,
                "  SYN flood beside it: {n} SYNs; the target's memory {before} KiB before, {after} KiB after"
            );
        }
        for l in &self.steering {
            let _ = writeln!(s, "  {l}");
        }
        if let Some((r, out)) = self.redirects() {
            let share = if out == 0 { 0.0 } else { r as f64 * 100.0 / out as f64 };
            let _ =
                writeln!(s, "  redirected between workers: {r} frames ({share:.2}% of the {out} replies forwarded)");
        }
        if let Some(c) = &self.target_counters {
            let _ = writeln!(s, "  fnatd's counters: {c}");
        }
        if let Some((applied, failed, first)) = &self.churn {
            let _ = writeln!(
                s,
                "  fnatctl changes meanwhile: {applied} applied, {failed} failed{}",
                first.as_ref().map(|e| format!(" (first: {e})")).unwrap_or_default()
            );
        }
        if let Some(w) = &self.first_wrong {
            let _ = writeln!(s, "  first wrong frame: {w}");
        }
        s
    }
}
