//! High availability: the protocols that let two or more gateways share virtual addresses.
//!
//! Each protocol is a sans-IO core, like the rest of the gateway: packets come in as bytes, time
//! comes in as `now`, and decisions (send this advertisement, announce these addresses) come out as
//! values for the caller to carry out.

pub mod vrrp;
