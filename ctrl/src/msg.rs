//! The control messages: what fnatctl asks ([`Request`]) and what fnatd answers ([`Reply`]).
//!
//! Payloads travel as JSON (`serde_json`): self-describing, strictly typed on decoding (a port that
//! does not fit in `u16`, an unknown command or a missing field is refused, never guessed), and easy
//! to read in a hex dump. The transport ([`super::shm`]) frames each payload with the protocol
//! version, a sequence number, its length and a CRC32, so a payload reaching [`decode_request`] is
//! exactly what a client wrote; decoding still validates it, and a payload that does not decode is
//! answered with [`CtrlError::Malformed`].
//!
//! Values are checked for range (weights, thresholds, ports, forwarding methods) by fnatd's state
//! when it applies them, with the checks of [`crate::limits`], not here: a message that decodes is
//! well-formed, not necessarily acceptable.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::limits::Violation;
use crate::vocab::{
    Counters, DestId, FwdMethod, MarkRule, Outcome, Persistence, Protocol, Rates, SchedFlags, SchedKind, ServiceKey,
};

/// The version of the control protocol: the shared file's layout, the framing and these messages.
/// Bump it on any incompatible change; fnatctl and fnatd refuse to talk across versions.
pub const PROTOCOL_VERSION: u16 = 9;

/// A virtual service as ipvsadm's `-A`/`-E` describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    /// Protocol, VIP and port.
    pub key: ServiceKey,
    /// The scheduler (fnatctl sends ipvsadm's default, wlc, when `-s` is not given).
    pub scheduler: SchedKind,
    /// The scheduler flags (`-b`); `-E` replaces them, as ipvsadm does (no `-b`: none). Left out
    /// of the JSON when none is set.
    #[serde(default, skip_serializing_if = "no_flags")]
    pub flags: SchedFlags,
    /// Persistence (`-p [timeout] [-M netmask]`); `-E` replaces it (no `-p`: none), as ipvsadm
    /// does. A port-0 service must have it. Left out of the JSON when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
}

/// A real server as ipvsadm's `-a`/`-e` describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestSpec {
    /// The real server's address.
    pub addr: Ipv4Addr,
    /// The real server's port (fnatctl fills in the service's port when `-r` has none). Direct
    /// routing and tunnelling cannot map ports: for them it must be the service's port.
    pub port: u16,
    /// Scheduling weight, 0..=65535.
    pub weight: u32,
    /// The forwarding method.
    pub method: FwdMethod,
    /// Upper connection threshold (`-x`), 0..=2147483647; 0: none (then left out of the JSON).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub upper: u32,
    /// Lower connection threshold (`-y`), 0..=2147483647, at most `upper` (IPVS refuses a lower
    /// threshold above the upper one, so with no upper threshold it is 0); 0 is left out of the JSON.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lower: u32,
}

/// Whether no scheduler flag is set (the JSON leaves such flags out, keeping large listings small).
fn no_flags(f: &SchedFlags) -> bool {
    *f == SchedFlags::default()
}

/// Whether a threshold is 0, none (left out of the JSON).
fn is_false(v: &bool) -> bool {
    !v
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// One change or query. The commands of one [`Request`] form one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// `-A`: add a virtual service.
    AddService(ServiceSpec),
    /// `-E`: change a virtual service's scheduler, scheduler flags and persistence.
    EditService(ServiceSpec),
    /// `-D`: delete a virtual service with its real servers and local addresses.
    DelService(ServiceKey),
    /// `-C`: delete every virtual service.
    Clear,
    /// `-a`: add a real server to a service.
    AddDest {
        /// The service.
        svc: ServiceKey,
        /// The real server.
        dest: DestSpec,
    },
    /// `-e`: change a real server's weight, forwarding method and thresholds (address and port
    /// name it).
    EditDest {
        /// The service.
        svc: ServiceKey,
        /// The real server with its new values.
        dest: DestSpec,
    },
    /// `-d`: delete a real server.
    DelDest {
        /// The service.
        svc: ServiceKey,
        /// The real server's address.
        addr: Ipv4Addr,
        /// The real server's port.
        port: u16,
    },
    /// `--add-laddr`: give a FULLNAT service one more local address.
    AddLaddr {
        /// The service.
        svc: ServiceKey,
        /// The local address.
        addr: Ipv4Addr,
    },
    /// `--del-laddr`: take a local address from a FULLNAT service.
    DelLaddr {
        /// The service.
        svc: ServiceKey,
        /// The local address.
        addr: Ipv4Addr,
    },
    /// `-L`, `--get-laddr`: the services (all, or one) with their real servers and local addresses.
    List {
        /// Only this service.
        svc: Option<ServiceKey>,
        /// With the traffic counters and rates of every service and real server (`--stats`,
        /// `--rate`); without, they are zero and left out of the reply, which keeps a listing of a
        /// large table small.
        #[serde(default, skip_serializing_if = "is_false")]
        traffic: bool,
    },
    /// `--set tcp tcpfin udp`: the ESTABLISHED, FIN_WAIT and UDP timeouts, in seconds; 0 keeps a
    /// value as it is. Each is at most 31 days (ipvsadm's limit). The workers use the new values
    /// from the snapshot that carries them.
    SetTimeouts {
        /// ESTABLISHED TCP connections.
        tcp: u32,
        /// TCP connections in FIN_WAIT.
        tcpfin: u32,
        /// UDP flows.
        udp: u32,
    },
    /// `-L --timeout`: the three timeouts `--set` changes, answered with [`Reply::Timeouts`].
    GetTimeouts,
    /// `-L -c`: the connections (all, or of one service), answered with [`Reply::Conns`].
    ListConns {
        /// Only the connections of this service.
        svc: Option<ServiceKey>,
    },
    /// `--add-mark`: append a rule to the firewall-mark classifier (an identical rule is refused).
    AddMark(MarkRule),
    /// `--del-mark`: remove the classifier rule equal to this one.
    DelMark(MarkRule),
    /// `--list-marks`: the classifier's rules in order, answered with [`Reply::Marks`].
    ListMarks,
    /// `-Z`: zero the traffic counters and rates, of one service and its real servers or of
    /// everything (the gateway's total too). Not a configuration change: nothing is saved.
    Zero {
        /// Only this service (which must exist).
        svc: Option<ServiceKey>,
    },
    /// `--counters`: the counters of every port and worker and the gateway's traffic, answered
    /// with [`Reply::Counters`].
    Counters,
    /// `-L --health`: what the health checks found of every checked real server, answered with
    /// [`Reply::Health`].
    ListHealth,
    /// `--reload-checks`: fnatd reads the `[[check]]` tables of its configuration file again and
    /// checks by them from now on (all or nothing: a file it refuses changes nothing).
    ReloadChecks,
    /// `--vrrp`: the state of every VRRP instance, answered with [`Reply::Vrrp`].
    ListVrrp,
    /// `--start-daemon master|backup --syncid N --mcast-interface PORT`: start a connection-sync
    /// daemon (the key and the group come from fnatd's `[sync]`).
    StartDaemon {
        /// Master or backup.
        role: SyncRole,
        /// IPVS's sync id.
        syncid: u8,
        /// The port (by name) the messages travel on.
        interface: String,
    },
    /// `--stop-daemon master|backup`.
    StopDaemon {
        /// Master or backup.
        role: SyncRole,
    },
    /// `-L --daemon`: the sync daemons running, answered with [`Reply::Daemons`].
    ListDaemons,
}

/// A connection-sync daemon's role, IPVS's `--start-daemon` state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncRole {
    /// Sends this gateway's connections.
    Master,
    /// Installs the master's.
    Backup,
}

impl SyncRole {
    /// ipvsadm's word.
    pub fn name(self) -> &'static str {
        match self {
            SyncRole::Master => "master",
            SyncRole::Backup => "backup",
        }
    }
}

impl std::str::FromStr for SyncRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "master" => Ok(SyncRole::Master),
            "backup" => Ok(SyncRole::Backup),
            _ => Err(format!("daemon state '{s}' is neither master nor backup")),
        }
    }
}

/// A running sync daemon, as `-L --daemon` lists it (and the metrics count it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonView {
    /// Master or backup.
    pub role: SyncRole,
    /// The port the messages travel on.
    pub interface: String,
    /// The sync id.
    pub syncid: u8,
    /// The multicast group (unicast peers: none).
    pub group: Option<Ipv4Addr>,
    /// The UDP port.
    pub port: u16,
    /// The longest message, in bytes.
    pub maxlen: u16,
    /// Messages sent (both roles count on the one socket).
    pub sent: u64,
    /// Connections sent.
    pub sent_records: u64,
    /// Messages accepted.
    pub received: u64,
    /// Connections received.
    pub received_records: u64,
    /// Messages refused, by reason.
    pub dropped: Vec<(String, u64)>,
    /// How long the last message's oldest connection waited, in milliseconds.
    pub lag_ms: u64,
    /// Requests for every connection sent (backup).
    pub resyncs_asked: u64,
    /// Such requests answered (master).
    pub resyncs_answered: u64,
}

impl Command {
    /// Whether the command changes the configuration (everything but the queries [`Command::List`],
    /// [`Command::GetTimeouts`] and [`Command::ListConns`]).
    pub fn is_change(&self) -> bool {
        !self.is_query()
    }

    /// Whether the command asks for an answer rather than changing anything.
    pub fn is_query(&self) -> bool {
        matches!(
            self,
            Self::List { .. }
                | Self::GetTimeouts
                | Self::ListConns { .. }
                | Self::ListMarks
                | Self::Zero { .. }
                | Self::Counters
                | Self::ListHealth
                | Self::ReloadChecks
                | Self::ListVrrp
                | Self::StartDaemon { .. }
                | Self::StopDaemon { .. }
                | Self::ListDaemons
        )
    }
}

/// What a client sends: commands applied as one transaction, all or nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The request's identity; the transport's sequence number, echoed in the reply.
    pub id: u64,
    /// The commands, applied in order.
    pub commands: Vec<Command>,
}

impl Request {
    /// A request with a fresh id: unique among the requests of this process, and with the pid and
    /// the clock mixed in, so that two clients (one perhaps killed mid-call) never share one. Never 0.
    pub fn new(commands: Vec<Command>) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let count = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() ^ u64::from(d.subsec_nanos()).rotate_left(34));
        let id = (u64::from(std::process::id()) << 40) ^ nanos.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ count;
        Self { id: id.max(1), commands }
    }
}

/// What fnatd answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Every command was applied.
    Done,
    /// The answer to a request with a [`Command::List`] (its other commands were applied too).
    Listing(Listing),
    /// The answer to [`Command::GetTimeouts`]: seconds, as ipvsadm's `--timeout` prints them.
    Timeouts {
        /// ESTABLISHED TCP connections.
        tcp: u32,
        /// TCP connections in FIN_WAIT.
        tcpfin: u32,
        /// UDP flows.
        udp: u32,
    },
    /// The answer to [`Command::ListConns`].
    Conns(ConnListing),
    /// The answer to [`Command::ListMarks`]: the classifier's rules in order.
    Marks(Vec<MarkRule>),
    /// The answer to [`Command::Counters`].
    Counters(CounterReport),
    /// The answer to [`Command::ListHealth`]: every checked real server, by service in creation
    /// order.
    Health(Vec<HealthView>),
    /// The answer to [`Command::ListVrrp`]: every VRRP instance, in configuration order.
    Vrrp(Vec<VrrpView>),
    /// The answer to [`Command::ListDaemons`]: master first.
    Daemons(Vec<DaemonView>),
    /// Nothing was applied, for this reason.
    Error(CtrlError),
}

/// One VRRP instance as fnatd runs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VrrpView {
    /// The instance's name.
    pub name: String,
    /// The port it advertises on.
    pub port: String,
    /// Its virtual router id.
    pub vrid: u8,
    /// Its priority.
    pub priority: u8,
    /// Its advertisement interval, in centiseconds.
    pub advert_interval_cs: u16,
    /// Whether it preempts a master of lower priority.
    pub preempt: bool,
    /// `INIT`, `BACKUP`, `MASTER` or `FAULT`.
    pub state: String,
    /// The master's address, when known (this gateway's own when it is Master).
    pub master: Option<Ipv4Addr>,
    /// Its virtual addresses.
    pub addresses: Vec<Ipv4Addr>,
    /// How long it has been in its state, in milliseconds.
    pub since_ms: u64,
    /// State changes since fnatd started.
    pub transitions: u64,
    /// Advertisements sent.
    pub adverts_sent: u64,
    /// Advertisements received for its VRID.
    pub adverts_received: u64,
    /// Packets refused (wrong TTL, version, type, checksum, count, interval).
    pub adverts_refused: u64,
}

/// What the health checks found of one real server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthView {
    /// Its service.
    pub svc: ServiceKey,
    /// Its address.
    pub addr: Ipv4Addr,
    /// Its port.
    pub port: u16,
    /// The check's kind (`tcp`, `http`, ...) and the port it checks.
    pub check: String,
    /// Up, down, or not checked yet.
    pub state: HealthState,
    /// How long it has been in that state, in milliseconds.
    pub since_ms: u64,
    /// The last check's outcome.
    pub last: Option<Outcome>,
    /// Checks run, and how many of them failed.
    pub checks: u64,
    /// Of `checks`, those that failed.
    pub failures: u64,
    /// Times it went down or came back.
    pub transitions: u64,
    /// How the server is taken out while down: `removed` or `weight 0`.
    pub taken_out: Option<String>,
}

/// A real server's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Not checked yet: it takes traffic meanwhile.
    Unknown,
    /// Its checks pass.
    Up,
    /// Its checks failed `fall` times in a row.
    Down,
}

impl HealthState {
    /// As listings print it.
    pub fn name(self) -> &'static str {
        match self {
            HealthState::Unknown => "UNKNOWN",
            HealthState::Up => "UP",
            HealthState::Down => "DOWN",
        }
    }
}

/// The services as fnatd holds them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    /// The connection-table capacity of each worker (ipvsadm's `size=`).
    pub conn_table_size: usize,
    /// Services in the order they were created.
    pub services: Vec<ServiceView>,
}

/// One service of a [`Listing`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceView {
    /// Key, scheduler and scheduler flags.
    pub spec: ServiceSpec,
    /// FULLNAT local addresses, in the order they are used.
    pub laddrs: Vec<Ipv4Addr>,
    /// Real servers in the order they were added.
    pub dests: Vec<DestView>,
    /// Traffic through the service (`-L --stats`), when the listing asked for it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub stats: Counters,
    /// Its rates (`-L --rate`), when the listing asked for them.
    #[serde(default, skip_serializing_if = "is_default")]
    pub rates: Rates,
}

/// One real server of a [`ServiceView`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestView {
    /// fnatd's identity for it (stable while the server exists).
    pub id: DestId,
    /// Address, port, weight, method and thresholds.
    pub spec: DestSpec,
    /// Established TCP connections, summed over the workers.
    pub active: u32,
    /// All other connections, summed over the workers.
    pub inactive: u32,
    /// Traffic through the real server (`-L --stats`), when the listing asked for it.
    #[serde(default, skip_serializing_if = "is_default")]
    pub stats: Counters,
    /// Its rates (`-L --rate`), when the listing asked for them.
    #[serde(default, skip_serializing_if = "is_default")]
    pub rates: Rates,
}

/// The answer to [`Command::Counters`]: what every port and worker counted, and the gateway's
/// traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CounterReport {
    /// Every port, in configuration order.
    pub ports: Vec<PortCounters>,
    /// Every worker, in lcore order.
    pub workers: Vec<WorkerCounters>,
    /// The gateway's traffic through its services (IPVS's totals).
    pub total: Counters,
    /// Its rates.
    pub rates: Rates,
}

/// What a port's driver counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortCounters {
    /// The port's name in the configuration.
    pub name: String,
    /// How replies reach the worker that owns their connection (`lb::rss::SteerMode::name`).
    pub steering: String,
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because the receive queues were full.
    pub missed: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Receive failures for lack of mbufs.
    pub rx_nombuf: u64,
}

/// What a worker counted: packets by verdict and drops by reason (every reason, zeros included).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerCounters {
    /// The worker's lcore.
    pub lcore: u32,
    /// Counters by name (`rx`, `tx`, `fwd_in`, ...).
    pub counters: Vec<(String, u64)>,
    /// Drops by reason.
    pub drops: Vec<(String, u64)>,
}

/// The connections fnatd's workers hold, as `-L -c` shows them. A listing is bounded so that its
/// reply fits in one message ([`ConnListing::max_entries`]); what did not fit is counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnListing {
    /// The connections, in no particular order (ipvsadm's is the kernel's hash order).
    pub conns: Vec<ConnView>,
    /// How many more connections there were.
    pub omitted: u64,
}

impl ConnListing {
    /// An upper bound on the JSON size of one [`ConnView`] in a listing, its separating comma
    /// included. The largest entry (every address `255.255.255.255:65535`, `expire_ms` at
    /// `u64::MAX`, the longest IPVS state name) takes 217 bytes; the rest is slack for state names
    /// up to 50 characters.
    pub const MAX_ENTRY_JSON: u64 = 256;

    /// How many connections a listing may hold for its reply to stay well below `max_payload`
    /// bytes: three quarters of the payload, less a kilobyte for the envelope, at
    /// [`ConnListing::MAX_ENTRY_JSON`] bytes each. With the default rings (16 MiB payloads), 49 148.
    pub fn max_entries(max_payload: u64) -> usize {
        let room = max_payload.saturating_sub(1024) / 4 * 3;
        usize::try_from(room / Self::MAX_ENTRY_JSON).unwrap_or(usize::MAX)
    }
}

/// One connection of a [`ConnListing`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnView {
    /// TCP or UDP.
    pub proto: Protocol,
    /// Milliseconds until it expires unless a packet passes.
    pub expire_ms: u64,
    /// The state as IPVS names it: `ESTABLISHED`, `SYN_RECV`, ... for TCP, `UDP` for UDP flows.
    pub state: String,
    /// The client's address and port.
    pub client: SocketAddrV4,
    /// The virtual service's address and port.
    pub virt: SocketAddrV4,
    /// FULLNAT only: the local address and port the gateway uses towards the real server.
    pub local: Option<SocketAddrV4>,
    /// The real server's address and port.
    pub dest: SocketAddrV4,
    /// The forwarding method the connection uses (it keeps it when the real server's changes).
    pub method: FwdMethod,
    /// The mark of a fwmark service's persistence template (ipvsadm shows its protocol as `IP`
    /// and its virtual address as the mark); 0 otherwise, and then left out of the JSON.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fwmark: u32,
}

/// Why fnatd refused a request. Messages are single lines, worded like ipvsadm's where it has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum CtrlError {
    /// `-E`, `-D` or `-L` of a service that does not exist.
    #[error("No such service")]
    NoSuchService(ServiceKey),
    /// A real-server or local-address command on a service that does not exist.
    #[error("Service not defined")]
    ServiceNotDefined(ServiceKey),
    /// `-A` of a service that exists.
    #[error("Service already exists")]
    ServiceExists(ServiceKey),
    /// `-a` of a real server the service already has.
    #[error("Destination already exists")]
    DestExists {
        /// The service.
        svc: ServiceKey,
        /// The real server's address.
        addr: Ipv4Addr,
        /// The real server's port.
        port: u16,
    },
    /// `-e` or `-d` of a real server the service does not have.
    #[error("No such destination")]
    NoSuchDest {
        /// The service.
        svc: ServiceKey,
        /// The real server's address.
        addr: Ipv4Addr,
        /// The real server's port.
        port: u16,
    },
    /// `--add-laddr` of a local address the service already has.
    #[error("Local address already exists")]
    LaddrExists {
        /// The service.
        svc: ServiceKey,
        /// The local address.
        addr: Ipv4Addr,
    },
    /// `--del-laddr` of a local address the service does not have.
    #[error("No such local address")]
    NoSuchLaddr {
        /// The service.
        svc: ServiceKey,
        /// The local address.
        addr: Ipv4Addr,
    },
    /// `--add-mark` of a rule the classifier already has.
    #[error("Mark rule already exists")]
    MarkRuleExists(MarkRule),
    /// `--del-mark` of a rule the classifier does not have.
    #[error("No such mark rule")]
    NoSuchMarkRule(MarkRule),
    /// A value out of range or in conflict with the configuration (see [`crate::limits`]).
    #[error("{0}")]
    Limit(Violation),
    /// A request fnatd cannot take as it is; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// Something IPVS does that fnat does not do yet.
    #[error("{0} is not supported yet")]
    NotSupported(String),
    /// The request was framed for another protocol version.
    #[error("fnatctl and fnatd speak different protocol versions (fnatd: {ours}, request: {theirs})")]
    VersionMismatch {
        /// fnatd's version.
        ours: u16,
        /// The request's version.
        theirs: u16,
    },
    /// The request's bytes do not form a valid message.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A message larger than the transport carries.
    #[error("message of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The message's size in bytes.
        size: u64,
        /// The limit in bytes.
        max: u64,
    },
}

impl From<Violation> for CtrlError {
    fn from(v: Violation) -> Self {
        Self::Limit(v)
    }
}

impl CtrlError {
    /// A [`CtrlError::Malformed`] with `what` made a single line.
    pub fn malformed(what: impl std::fmt::Display) -> Self {
        Self::Malformed(one_line(&what.to_string()))
    }
}

/// `s` with line breaks turned into spaces, so that every error prints as one line.
fn one_line(s: &str) -> String {
    s.split(['\n', '\r']).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The JSON payload of a request.
pub fn encode_request(req: &Request) -> Vec<u8> {
    // Serialising these plain data types cannot fail: no maps with non-string keys, no custom
    // serialisers that error.
    serde_json::to_vec(req).unwrap_or_default()
}

/// A request from its JSON payload; [`CtrlError::Malformed`] if it does not decode.
pub fn decode_request(bytes: &[u8]) -> Result<Request, CtrlError> {
    serde_json::from_slice(bytes).map_err(CtrlError::malformed)
}

/// The JSON payload of a reply.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    serde_json::to_vec(reply).unwrap_or_default()
}

/// A reply from its JSON payload; the decoding error as text if it does not decode.
pub fn decode_reply(bytes: &[u8]) -> Result<Reply, String> {
    serde_json::from_slice(bytes).map_err(|e| one_line(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport: 80, fwmark: 0 }
    }

    #[test]
    fn a_request_is_plain_json() {
        let req = Request {
            id: 7,
            commands: vec![Command::DelDest { svc: key(), addr: Ipv4Addr::new(10, 1, 0, 11), port: 8080 }],
        };
        let text = String::from_utf8(encode_request(&req)).unwrap();
        assert_eq!(
            text,
            r#"{"id":7,"commands":[{"DelDest":{"svc":{"protocol":"Tcp","vip":"10.0.0.100","vport":80},"addr":"10.1.0.11","port":8080}}]}"#
        );
        assert_eq!(decode_request(text.as_bytes()), Ok(req));
    }

    #[test]
    fn out_of_range_and_unknown_fields_do_not_decode() {
        for bad in [
            r#"{"id":1,"commands":[{"DelService":{"protocol":"Tcp","vip":"10.0.0.1","vport":65536}}]}"#,
            r#"{"id":1,"commands":[{"DelService":{"protocol":"Sctp","vip":"10.0.0.1","vport":80}}]}"#,
            r#"{"id":1,"commands":[{"DelService":{"protocol":"Tcp","vip":"10.0.0.300","vport":80}}]}"#,
            r#"{"id":1,"commands":[{"Frobnicate":{}}]}"#,
            r#"{"id":1,"commands":[],"extra":1}"#,
            r#"{"id":-1,"commands":[]}"#,
            "{\"id\":1,\n\"commands\":[",
            "",
        ] {
            let err = decode_request(bad.as_bytes()).unwrap_err();
            assert!(matches!(err, CtrlError::Malformed(_)), "{bad}: {err:?}");
            assert!(!err.to_string().contains('\n'), "{err}");
        }
    }

    #[test]
    fn the_largest_connection_entry_fits_its_bound() {
        let max = SocketAddrV4::new(Ipv4Addr::BROADCAST, u16::MAX);
        let worst = ConnView {
            proto: Protocol::Tcp,
            expire_ms: u64::MAX,
            state: "ESTABLISHED".into(),
            client: max,
            virt: max,
            local: Some(max),
            dest: max,
            method: FwdMethod::FullNat,
            fwmark: 0,
        };
        let one = serde_json::to_vec(&worst).unwrap();
        assert_eq!(one.len() + 1, 217, "{}", String::from_utf8_lossy(&one));
        assert!((one.len() as u64) < ConnListing::MAX_ENTRY_JSON, "the entry and its comma");
        // A full listing of the largest entries stays within three quarters of the payload.
        let max_payload = 64 << 10;
        let n = ConnListing::max_entries(max_payload);
        assert_eq!(n, 189);
        let listing = ConnListing { conns: vec![worst; n], omitted: u64::MAX };
        let size = encode_reply(&Reply::Conns(listing)).len() as u64;
        assert!(size <= max_payload / 4 * 3, "{size}");
        assert_eq!(ConnListing::max_entries(crate::shm::DEFAULT_MAX_PAYLOAD), 49_148);
        assert_eq!(ConnListing::max_entries(0), 0);
    }

    #[test]
    fn replies_round_trip() {
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1234);
        for reply in [
            Reply::Done,
            Reply::Timeouts { tcp: 900, tcpfin: 120, udp: 300 },
            Reply::Conns(ConnListing {
                conns: vec![ConnView {
                    proto: Protocol::Udp,
                    expire_ms: 299_000,
                    state: "UDP".into(),
                    client: a,
                    virt: a,
                    local: None,
                    dest: a,
                    method: FwdMethod::Dr,
                    fwmark: 0,
                }],
                omitted: 3,
            }),
        ] {
            assert_eq!(decode_reply(&encode_reply(&reply)), Ok(reply));
        }
        let text = String::from_utf8(encode_request(&Request {
            id: 2,
            commands: vec![Command::SetTimeouts { tcp: 1, tcpfin: 0, udp: 3 }, Command::GetTimeouts],
        }))
        .unwrap();
        assert_eq!(text, r#"{"id":2,"commands":[{"SetTimeouts":{"tcp":1,"tcpfin":0,"udp":3}},"GetTimeouts"]}"#);
        assert!(Command::GetTimeouts.is_query() && Command::ListConns { svc: None }.is_query());
        assert!(Command::SetTimeouts { tcp: 0, tcpfin: 0, udp: 0 }.is_change());
    }

    #[test]
    fn flags_and_thresholds_are_left_out_of_the_json_when_unset() {
        let plain =
            ServiceSpec { key: key(), scheduler: SchedKind::Rr, flags: SchedFlags::default(), persistence: None };
        let text = serde_json::to_string(&plain).unwrap();
        assert_eq!(text, r#"{"key":{"protocol":"Tcp","vip":"10.0.0.100","vport":80},"scheduler":"Rr"}"#);
        assert_eq!(serde_json::from_str::<ServiceSpec>(&text).unwrap(), plain);
        let flagged = ServiceSpec { flags: SchedFlags { fallback: false, port: true, flag3: false }, ..plain };
        let text = serde_json::to_string(&flagged).unwrap();
        assert!(text.ends_with(r#""flags":{"fallback":false,"port":true,"flag3":false}}"#), "{text}");
        assert_eq!(serde_json::from_str::<ServiceSpec>(&text).unwrap(), flagged);
        let persistent = ServiceSpec { persistence: Some(Persistence::secs(360).with_netmask(24)), ..plain };
        let text = serde_json::to_string(&persistent).unwrap();
        assert!(text.ends_with(r#""scheduler":"Rr","persistence":{"timeout_ms":360000,"netmask":24}}"#), "{text}");
        assert_eq!(serde_json::from_str::<ServiceSpec>(&text).unwrap(), persistent);
        assert!(serde_json::from_str::<ServiceSpec>(&text.replace("netmask", "mask")).is_err());
        let dest = DestSpec {
            addr: Ipv4Addr::new(10, 1, 0, 11),
            port: 80,
            weight: 1,
            method: FwdMethod::Dr,
            upper: 0,
            lower: 0,
        };
        let text = serde_json::to_string(&dest).unwrap();
        assert_eq!(text, r#"{"addr":"10.1.0.11","port":80,"weight":1,"method":"Dr"}"#);
        assert_eq!(serde_json::from_str::<DestSpec>(&text).unwrap(), dest);
        let limited = DestSpec { upper: 100, lower: 0, ..dest };
        let text = serde_json::to_string(&limited).unwrap();
        assert_eq!(text, r#"{"addr":"10.1.0.11","port":80,"weight":1,"method":"Dr","upper":100}"#);
        assert_eq!(serde_json::from_str::<DestSpec>(&text).unwrap(), limited);
        // Still strict: a threshold that does not fit, or an unknown field, does not decode.
        assert!(serde_json::from_str::<DestSpec>(&text.replace("100", "4294967296")).is_err());
        assert!(serde_json::from_str::<DestSpec>(&text.replace("upper", "uper")).is_err());
    }

    #[test]
    fn errors_read_like_ipvsadm() {
        let k = key();
        let addr = Ipv4Addr::new(10, 1, 0, 11);
        assert_eq!(CtrlError::NoSuchService(k).to_string(), "No such service");
        assert_eq!(CtrlError::ServiceNotDefined(k).to_string(), "Service not defined");
        assert_eq!(CtrlError::ServiceExists(k).to_string(), "Service already exists");
        assert_eq!(CtrlError::DestExists { svc: k, addr, port: 80 }.to_string(), "Destination already exists");
        assert_eq!(CtrlError::NoSuchDest { svc: k, addr, port: 80 }.to_string(), "No such destination");
        assert_eq!(
            CtrlError::NotSupported("forwarding method Masq".into()).to_string(),
            "forwarding method Masq is not supported yet"
        );
        assert_eq!(CtrlError::malformed("a\nb\r\nc").to_string(), "malformed request: a b c");
    }
}
