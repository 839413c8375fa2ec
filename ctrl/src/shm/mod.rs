//! The transport between fnatctl and fnatd: one file on the shared-memory tmpfs (default
//! `/dev/shm/fnat.ctl`) holding a header, a request ring and a response ring.
//!
//! No `mmap`: both sides use positioned reads and writes (`pread`/`pwrite` through
//! [`FileExt`]) on the same tmpfs pages, so this module needs no `unsafe`. fnatd creates the file
//! with mode 0600 (only the user running fnatd may talk to it), writes it whole under a temporary
//! name and renames it into place, so a client never sees a half-initialised header; it removes the
//! file when the [`Server`] is dropped.
//!
//! # Layout (all integers little-endian)
//!
//! ```text
//! offset  size  field                      written by
//! 0       8     magic "FNATCTL\0"          fnatd, at creation
//! 8       2     protocol version           fnatd, at creation
//! 10      2     reserved (0)
//! 12      4     header size (4096)         fnatd, at creation
//! 16      8     request ring offset        fnatd, at creation
//! 24      8     request ring capacity      fnatd, at creation
//! 32      8     response ring offset       fnatd, at creation
//! 40      8     response ring capacity     fnatd, at creation
//! 48      8     maximum payload size       fnatd, at creation
//! 64      16    fnatd's pid                fnatd (0 once it has stopped)
//! 128     16    heartbeat, ms since 1970   fnatd, on every poll
//! 192     16    request head               fnatd (consumer)
//! 256     16    request tail               the client holding the lock (producer)
//! 320     16    response head              the client holding the lock (consumer)
//! 384     16    response tail              fnatd (producer)
//! 4096    ...   request ring, then response ring
//! ```
//!
//! Magic, version, pid and heartbeat keep these offsets in every protocol version, so that any
//! fnatctl can tell "not running" from "another version". Each 16-byte counter slot holds the value
//! and its bitwise complement, written by one `pwrite`; a reader takes a slot only when the two agree,
//! so a torn read of a counter is retried, never misread. Slots are 64 bytes apart (one cache line
//! each). Head and tail are byte positions that only grow; a position's place in its ring is
//! `position % capacity`, and a frame may wrap around the ring's end.
//!
//! # Frames
//!
//! ```text
//! 0   4  magic: "FNRQ" (request) or "FNRP" (reply)
//! 4   2  protocol version
//! 6   2  reserved (0)
//! 8   8  sequence number (the request's id; the reply echoes it)
//! 16  8  the ring position of this frame (a stale frame of an earlier lap never matches)
//! 24  4  payload length (at most the maximum payload size)
//! 28  4  CRC32 of bytes 0..28 and of the payload
//! 32  .. payload (JSON), padded with zeros to a multiple of 8 bytes
//! ```
//!
//! A producer writes the whole frame first and then moves its tail past it: the tail is the commit.
//! A client killed before that leaves bytes that no one reads (the next client overwrites them); a
//! committed frame whose header, length, position or CRC does not check out is answered with an
//! error, and the consumer skips everything committed so far. Nothing here panics on bad bytes.
//!
//! # One client at a time
//!
//! A client holds an exclusive lock on the file (`flock`) from before it writes its request until it
//! has read the reply, so there is one request in flight. A client that gives up (killed, or timed
//! out) may leave its request committed: fnatd still applies it, like a kernel that received
//! ipvsadm's call, but does not write a reply when a newer request is already waiting (its sender has
//! gone), and the next client discards any reply left unread. The response ring therefore never holds
//! more than two frames, and each ring holds two frames of the maximum size.
//!
//! With the default geometry the file is 64 MiB plus the header: enough for a request creating
//! 10,000 services with 10 real servers each (about 14 MB of JSON) or their listing. tmpfs allocates
//! pages lazily, so the file costs only the pages the rings have touched.

mod client;
pub mod frame;
pub mod layout;
mod server;

pub use client::{CallError, Client, ConnectError};
pub use layout::{DEFAULT_CONTROL_PATH, DEFAULT_MAX_PAYLOAD, DEFAULT_RING_CAPACITY, HEADER_SIZE, MAGIC, STALE_AFTER};
pub use server::{Incoming, Server};
