//! The vocabulary both sides of the control path speak: what a service, a real server, a
//! scheduler, a persistence setting, a mark rule and a traffic counter are. Plain values with no
//! behaviour of the gateway's; `dataplane` re-exports them where its own code names them
//! (`dataplane::lb::Protocol` is [`Protocol`]).

pub mod health;
pub mod mark;
pub mod sched;
pub mod sched_flags;
pub mod service;
pub mod stats;

pub use health::{CheckKind, CheckSpec, CheckTiming, Outcome};
pub use mark::MarkRule;
pub use sched::{SchedFlags, SchedKind, SchedParseError};
pub use sched_flags::{DEFAULT_SCHEDULER, SchedFlagError, parse_sched_flags, sched_flag_names, sched_flags_suffix};
pub use service::{DestId, FwdMethod, Persistence, Protocol, ServiceKey, mask_prefix, prefix_mask};
pub use stats::{Counters, Rates};
