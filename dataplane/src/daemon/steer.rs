//! Each port's steering, decided at start: how the replies to the local addresses behind it reach
//! the worker that owns their connection (see `lb::rss` and `lb::laddr`).
//!
//! In order of preference, as the configuration allows (`steering`, default `auto`):
//! - `rss`: the device does RSS over the workers' queues; fnatd reads its key and redirection
//!   table back, and the workers choose FULLNAT local ports whose replies hash to their own queue.
//!   A device without RSS whose peer spreads frames by Toeplitz (`peer_reta_size`) counts as such.
//! - `flow`: one rte_flow rule per local address and worker, sending replies by the destination
//!   port's low bits (the worker owns the ports `port % workers`); needs a power-of-two number of
//!   workers and a device that takes the rules.
//! - `redirect`: replies reach any worker, which passes them to the owner through a ring.
//!
//! fnatd prints what each port got, and why when it is less than asked; fnatctl `--counters` and
//! the metrics show it too.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::config::{PortConfig, SteerChoice};
use crate::dpdk::{FlowRules, Port};
use crate::lb::rss::{DEFAULT_KEY, PortSteering, SteerMode, Steering};
use crate::net::RouteTable;

/// One port's steering and what holds it up.
#[derive(Debug)]
pub struct PortSteer {
    /// The port's name in the configuration.
    pub name: String,
    /// What the workers are told.
    pub steering: PortSteering,
    /// The start message's explanation.
    pub note: String,
    port: Port,
    /// rte_flow rules per local address (`flow` mode).
    rules: HashMap<Ipv4Addr, Vec<FlowRules>>,
}

impl PortSteer {
    /// Decides the steering of a configured and started `port` with `workers` queues.
    pub fn decide(pc: &PortConfig, port: &Port, workers: u16) -> Self {
        let (rss, rss_note) = known_rss(pc, port, workers);
        let (mode, note) = match (pc.steering, &rss) {
            _ if workers < 2 => (SteerMode::Single, rss_note),
            (SteerChoice::Redirect, _) => (SteerMode::Redirect, format!("as configured; {rss_note}")),
            (SteerChoice::Auto | SteerChoice::Rss, Some((_, true))) => (SteerMode::Rss, rss_note),
            (SteerChoice::Auto | SteerChoice::Rss, Some((_, false))) => (SteerMode::PeerRss, rss_note),
            (SteerChoice::Rss, None) => (SteerMode::Redirect, rss_note),
            (SteerChoice::Auto | SteerChoice::Flow, _) => match flow_probe(port, workers) {
                Ok(()) => (SteerMode::Flow, format!("rte_flow rules per local address and worker; {rss_note}")),
                Err(e) => (SteerMode::Redirect, format!("{rss_note}; {e}")),
            },
        };
        let steering = PortSteering { mode, rss: rss.map(|(s, _)| s) };
        Self { name: pc.name.clone(), steering, note, port: port.clone(), rules: HashMap::new() }
    }

    /// The start message: the mode and why.
    pub fn describe(&self) -> String {
        format!("fnatd: port {}: steering {} ({})", self.name, self.steering.mode.name(), self.note)
    }

    /// In `flow` mode, installs the rules of the local addresses among `lips` whose replies arrive
    /// on this port (by `routes`) and have none yet. The first failure turns the port to
    /// `redirect` (the rules are a shortcut: the local ports' owners stay the same), with a
    /// message; the rules already installed are kept.
    pub fn install_flows(
        &mut self,
        lips: impl Iterator<Item = Ipv4Addr>,
        routes: &RouteTable,
        index: u16,
        workers: u16,
    ) {
        if self.steering.mode != SteerMode::Flow {
            return;
        }
        for lip in lips {
            if self.rules.contains_key(&lip) || routes.lookup(lip).is_none_or(|(p, _)| p != index) {
                continue;
            }
            let mask = workers - 1;
            match (0..workers).map(|w| self.port.steer_to_queue(lip, w, mask, w)).collect::<Result<Vec<_>, _>>() {
                Ok(rules) => {
                    self.rules.insert(lip, rules);
                }
                Err(e) => {
                    self.steering.mode = SteerMode::Redirect;
                    self.note = format!("the device refused an rte_flow rule for {lip}: {e}");
                    eprintln!("{}; replies use the redirect ring", self.describe());
                    return;
                }
            }
        }
    }

    /// Removes the rte_flow rules (before the port stops).
    pub fn clear(&mut self) {
        self.rules.clear();
    }
}

/// Whether the device takes the rte_flow rules of `flow` steering: a rule for a documentation
/// address (192.0.2.1, which no traffic carries) installed and removed again.
fn flow_probe(port: &Port, workers: u16) -> Result<(), String> {
    if !workers.is_power_of_two() {
        return Err(format!("rte_flow steering needs a power-of-two number of workers, not {workers}"));
    }
    let probe = port.steer_to_queue(Ipv4Addr::new(192, 0, 2, 1), 0, workers - 1, 0);
    probe.map(drop).map_err(|e| format!("the device takes no rte_flow steering rule: {e}"))
}

/// The port's RSS as fnatd can know it (and whether the device's own, else its peer's), with a
/// note on where it comes from.
fn known_rss(pc: &PortConfig, port: &Port, workers: u16) -> (Option<(Arc<Steering>, bool)>, String) {
    if workers < 2 {
        return (None, "one worker".to_owned());
    }
    let info = port.info().unwrap_or_default();
    if info.flow_type_rss_offloads != 0 && info.reta_size > 0 {
        // RSS over every worker: a table that leaves a queue out (some PMDs start with all zeros)
        // is rewritten round robin.
        if port.rss_reta().is_ok_and(|reta| !(0..workers).all(|q| reta.contains(&q))) {
            let reta: Vec<u16> = (0..info.reta_size).map(|i| i % workers).collect();
            if let Err(e) = port.set_rss_reta(&reta) {
                eprintln!("fnatd: port {}: cannot spread the RSS table over {workers} queues: {e}", pc.name);
            }
        }
        let read = port.rss_key().and_then(|key| Ok((key, port.rss_reta()?)));
        return match read.map_err(|e| e.to_string()).and_then(|(key, reta)| Ok((Steering::new(&key, reta)?, key))) {
            Ok((s, _)) if !s.covers(workers) => {
                (None, format!("the device's RSS table does not name all {workers} queues"))
            }
            Ok((s, key)) => {
                let note = format!(
                    "the device's RSS: key {}..., {}-entry table over {workers} queues",
                    hex(&key[..key.len().min(4)]),
                    s.reta().len()
                );
                (Some((Arc::new(s), true)), note)
            }
            Err(e) => (None, format!("the device's RSS could not be read back: {e}")),
        };
    }
    match pc.peer_reta_size {
        Some(size) => {
            let key = pc.rss_key.as_deref().unwrap_or(&DEFAULT_KEY);
            match Steering::round_robin(key, size, workers) {
                Ok(s) if s.covers(workers) => (
                    Some((Arc::new(s), false)),
                    format!("the peer's RSS: key {}..., {size}-entry table over {workers} queues", hex(&key[..4])),
                ),
                Ok(_) => (None, format!("a peer table of {size} entries cannot name all {workers} queues")),
                Err(e) => (None, e),
            }
        }
        None => (None, format!("{} does no RSS and no peer_reta_size is set", info.driver_name)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
