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

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::msg::{
    CtrlError, PROTOCOL_VERSION, Reply, Request, decode_reply, decode_request, encode_reply, encode_request,
};

/// The file's magic bytes.
pub const MAGIC: [u8; 8] = *b"FNATCTL\0";
/// The size of the header; the request ring starts here.
pub const HEADER_SIZE: u64 = 4096;
/// The default capacity of each ring.
pub const DEFAULT_RING_CAPACITY: u64 = 32 << 20;
/// The largest payload a frame carries with the default rings (half a ring, less a frame header).
pub const DEFAULT_MAX_PAYLOAD: u64 = DEFAULT_RING_CAPACITY / 2 - FRAME_HEADER;
/// A heartbeat older than this means fnatd is not running.
pub const STALE_AFTER: Duration = Duration::from_secs(2);

const REQUEST_MAGIC: [u8; 4] = *b"FNRQ";
const REPLY_MAGIC: [u8; 4] = *b"FNRP";
const FRAME_HEADER: u64 = 32;
const MIN_RING_CAPACITY: u64 = 4096;

/// Byte offsets of the header fields.
mod field {
    pub const MAGIC: u64 = 0;
    pub const VERSION: u64 = 8;
    pub const HEADER_SIZE: u64 = 12;
    pub const REQ_OFFSET: u64 = 16;
    pub const REQ_CAPACITY: u64 = 24;
    pub const RESP_OFFSET: u64 = 32;
    pub const RESP_CAPACITY: u64 = 40;
    pub const MAX_PAYLOAD: u64 = 48;
    pub const PID: u64 = 64;
    pub const HEARTBEAT: u64 = 128;
    pub const REQ_HEAD: u64 = 192;
    pub const REQ_TAIL: u64 = 256;
    pub const RESP_HEAD: u64 = 320;
    pub const RESP_TAIL: u64 = 384;
}

/// One ring inside the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ring {
    offset: u64,
    capacity: u64,
}

/// Where the rings are and how large a payload may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    req: Ring,
    resp: Ring,
    max_payload: u64,
}

impl Geometry {
    /// Two rings of `capacity` bytes (a multiple of 8, at least 4 KiB) after the header; a payload
    /// may fill half a ring, less its frame header.
    fn new(capacity: u64) -> Self {
        let capacity = (capacity.max(MIN_RING_CAPACITY) + 7) & !7;
        Self {
            req: Ring { offset: HEADER_SIZE, capacity },
            resp: Ring { offset: HEADER_SIZE + capacity, capacity },
            max_payload: capacity / 2 - FRAME_HEADER,
        }
    }

    fn file_size(&self) -> u64 {
        self.resp.offset + self.resp.capacity
    }

    /// The geometry a header describes, if it is consistent with a file of `len` bytes.
    fn from_header(h: &[u8; 64], len: u64) -> Option<Self> {
        let ring = |off: u64, cap: u64| Ring { offset: le_u64(h, off), capacity: le_u64(h, cap) };
        let g = Self {
            req: ring(field::REQ_OFFSET, field::REQ_CAPACITY),
            resp: ring(field::RESP_OFFSET, field::RESP_CAPACITY),
            max_payload: le_u64(h, field::MAX_PAYLOAD),
        };
        let fits = |r: Ring| {
            r.offset >= HEADER_SIZE
                && r.capacity >= MIN_RING_CAPACITY
                && r.capacity.is_multiple_of(8)
                && r.offset.checked_add(r.capacity).is_some_and(|end| end <= len)
        };
        let sane = fits(g.req)
            && fits(g.resp)
            && (g.req.offset + g.req.capacity <= g.resp.offset || g.resp.offset + g.resp.capacity <= g.req.offset)
            && g.max_payload + FRAME_HEADER <= g.req.capacity.min(g.resp.capacity) / 2;
        sane.then_some(g)
    }
}

fn le_u64(h: &[u8], off: u64) -> u64 {
    let off = usize::try_from(off).unwrap_or(usize::MAX);
    h.get(off..off + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(0, u64::from_le_bytes)
}

fn le_u16(h: &[u8], off: u64) -> u16 {
    let off = usize::try_from(off).unwrap_or(usize::MAX);
    h.get(off..off + 2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map_or(0, u16::from_le_bytes)
}

fn to_usize(v: u64) -> io::Result<usize> {
    usize::try_from(v).map_err(|_| io::Error::other("size does not fit in memory"))
}

/// Milliseconds since 1970 on the wall clock (shared by every process on the host).
fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a heartbeat written at `hb` is recent. A heartbeat in the future (the clock stepped back)
/// counts as recent; fnatd rewrites it within one poll.
fn is_fresh(hb: u64, now: u64) -> bool {
    let stale = u64::try_from(STALE_AFTER.as_millis()).unwrap_or(u64::MAX);
    hb != 0 && hb.saturating_add(stale) >= now
}

/// Whether process `pid` exists. Without `/proc` there is no telling, and it counts as alive.
fn pid_alive(pid: u64) -> bool {
    if pid == 0 || pid > u64::from(u32::MAX) {
        return false;
    }
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Reads a counter slot; `None` if value and complement disagree on every try.
fn read_slot(file: &File, off: u64) -> io::Result<Option<u64>> {
    let mut b = [0u8; 16];
    for _ in 0..64 {
        file.read_exact_at(&mut b, off)?;
        let (v, c) = (le_u64(&b, 0), le_u64(&b, 8));
        if c == !v {
            return Ok(Some(v));
        }
        std::hint::spin_loop();
    }
    Ok(None)
}

/// Writes a counter slot in one `pwrite`.
fn write_slot(file: &File, off: u64, v: u64) -> io::Result<()> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&v.to_le_bytes());
    b[8..].copy_from_slice(&(!v).to_le_bytes());
    file.write_all_at(&b, off)
}

fn read_ring(file: &File, ring: Ring, pos: u64, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let at = (pos + done as u64) % ring.capacity;
        let n = (buf.len() - done).min(to_usize(ring.capacity - at)?);
        file.read_exact_at(&mut buf[done..done + n], ring.offset + at)?;
        done += n;
    }
    Ok(())
}

fn write_ring(file: &File, ring: Ring, pos: u64, buf: &[u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let at = (pos + done as u64) % ring.capacity;
        let n = (buf.len() - done).min(to_usize(ring.capacity - at)?);
        file.write_all_at(&buf[done..done + n], ring.offset + at)?;
        done += n;
    }
    Ok(())
}

/// The bytes a frame of `payload_len` bytes takes in a ring.
fn frame_len(payload_len: u64) -> u64 {
    FRAME_HEADER + ((payload_len + 7) & !7)
}

fn frame_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..28]);
    h.update(payload);
    h.finalize()
}

/// A whole frame: header, payload, padding.
fn build_frame(magic: [u8; 4], seq: u64, pos: u64, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut f = Vec::with_capacity(usize::try_from(frame_len(u64::from(len))).unwrap_or(0));
    f.extend_from_slice(&magic);
    f.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&seq.to_le_bytes());
    f.extend_from_slice(&pos.to_le_bytes());
    f.extend_from_slice(&len.to_le_bytes());
    let crc = frame_crc(&f, payload);
    f.extend_from_slice(&crc.to_le_bytes());
    f.extend_from_slice(payload);
    f.resize(f.len().next_multiple_of(8), 0);
    f
}

/// A valid frame read from a ring.
#[derive(Debug)]
struct Frame {
    seq: u64,
    len: u64,
    payload: Vec<u8>,
}

/// Why committed bytes are not a valid frame, with the sequence number when the header was there.
#[derive(Debug)]
struct BadFrame {
    seq: u64,
    error: CtrlError,
}

/// Reads the frame at `pos`, with `avail` bytes committed from there on.
fn read_frame(
    file: &File,
    ring: Ring,
    pos: u64,
    avail: u64,
    magic: [u8; 4],
    max_payload: u64,
) -> io::Result<Result<Frame, BadFrame>> {
    if avail < FRAME_HEADER {
        return Ok(Err(BadFrame {
            seq: 0,
            error: CtrlError::malformed(format_args!(
                "{avail} committed bytes cannot hold a {FRAME_HEADER}-byte frame header"
            )),
        }));
    }
    let mut h = [0u8; 32];
    read_ring(file, ring, pos, &mut h)?;
    let seq = le_u64(&h, 8);
    let bad = |error| Ok(Err(BadFrame { seq, error }));
    if h[..4] != magic {
        return bad(CtrlError::malformed(format_args!("bad frame magic {:02x?}", &h[..4])));
    }
    let version = le_u16(&h, 4);
    if version != PROTOCOL_VERSION {
        return bad(CtrlError::VersionMismatch { ours: PROTOCOL_VERSION, theirs: version });
    }
    let len = u64::from(u32::from_le_bytes([h[24], h[25], h[26], h[27]]));
    if len > max_payload {
        return bad(CtrlError::TooLarge { size: len, max: max_payload });
    }
    let total = frame_len(len);
    if total > avail {
        return bad(CtrlError::malformed(format_args!("a frame of {total} bytes with only {avail} bytes committed")));
    }
    if le_u64(&h, 16) != pos {
        return bad(CtrlError::malformed(format_args!(
            "frame written for ring position {}, found at {pos}",
            le_u64(&h, 16)
        )));
    }
    let mut payload = vec![0u8; to_usize(len)?];
    read_ring(file, ring, pos + FRAME_HEADER, &mut payload)?;
    if frame_crc(&h, &payload) != u32::from_le_bytes([h[28], h[29], h[30], h[31]]) {
        return bad(CtrlError::malformed("frame checksum mismatch"));
    }
    Ok(Ok(Frame { seq, len: total, payload }))
}

/// The first 64 bytes of the header: the fields written once, at creation.
fn header_bytes(geo: &Geometry) -> [u8; 64] {
    let mut h = [0u8; 64];
    let mut put = |off: u64, bytes: &[u8]| {
        let off = usize::try_from(off).unwrap_or(0);
        h[off..off + bytes.len()].copy_from_slice(bytes);
    };
    put(field::MAGIC, &MAGIC);
    put(field::VERSION, &PROTOCOL_VERSION.to_le_bytes());
    put(field::HEADER_SIZE, &u32::try_from(HEADER_SIZE).unwrap_or(0).to_le_bytes());
    put(field::REQ_OFFSET, &geo.req.offset.to_le_bytes());
    put(field::REQ_CAPACITY, &geo.req.capacity.to_le_bytes());
    put(field::RESP_OFFSET, &geo.resp.offset.to_le_bytes());
    put(field::RESP_CAPACITY, &geo.resp.capacity.to_le_bytes());
    put(field::MAX_PAYLOAD, &geo.max_payload.to_le_bytes());
    h
}

/// Reads the first 64 header bytes and the file's length.
fn read_header(file: &File) -> io::Result<Option<([u8; 64], u64)>> {
    let len = file.metadata()?.len();
    if len < HEADER_SIZE {
        return Ok(None);
    }
    let mut h = [0u8; 64];
    file.read_exact_at(&mut h, 0)?;
    Ok((h[..MAGIC.len()] == MAGIC).then_some((h, len)))
}

/// A request taken from the ring, or why the committed bytes are not one; answer it with
/// [`Server::reply`] and `seq`.
#[derive(Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The sequence number to answer (0 when the bytes did not even hold a frame header).
    pub seq: u64,
    /// The decoded request, or the error to answer with.
    pub request: Result<Request, CtrlError>,
}

/// fnatd's end: owns the control file, takes requests and writes replies. Touched by fnatd's main
/// (control) loop only; every call is non-blocking.
#[derive(Debug)]
pub struct Server {
    file: File,
    path: PathBuf,
    geo: Geometry,
    req_head: u64,
    resp_tail: u64,
    dropped_replies: u64,
}

impl Server {
    /// Creates the control file at `path` with the default geometry. Fails if a live fnatd serves
    /// that file (its pid exists and its heartbeat is fresh) or if the path holds something that is
    /// not an fnat control file; a stale file left by a dead fnatd is replaced.
    pub fn create(path: &Path) -> io::Result<Self> {
        Self::with_ring_capacity(path, DEFAULT_RING_CAPACITY)
    }

    /// Like [`Server::create`] with rings of `capacity` bytes each (tests use small rings).
    pub fn with_ring_capacity(path: &Path, capacity: u64) -> io::Result<Self> {
        Self::check_existing(path)?;
        let geo = Geometry::new(capacity);
        let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
        let tmp = path.with_file_name(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&tmp)?;
        let made = (|| {
            // The mode given to open is filtered by the umask; make sure it is exactly 0600.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.set_len(geo.file_size())?;
            file.write_all_at(&header_bytes(&geo), 0)?;
            write_slot(&file, field::PID, u64::from(std::process::id()))?;
            write_slot(&file, field::HEARTBEAT, now_ms())?;
            for slot in [field::REQ_HEAD, field::REQ_TAIL, field::RESP_HEAD, field::RESP_TAIL] {
                write_slot(&file, slot, 0)?;
            }
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(Self { file, path: path.to_owned(), geo, req_head: 0, resp_tail: 0, dropped_replies: 0 })
    }

    /// Refuses a path served by a live fnatd or holding a foreign file; removes a stale one.
    fn check_existing(path: &Path) -> io::Result<()> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(_) = read_header(&file)? else {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not an fnat control file; remove it if that is safe", path.display()),
            ));
        };
        let pid = read_slot(&file, field::PID)?.unwrap_or(0);
        let hb = read_slot(&file, field::HEARTBEAT)?.unwrap_or(0);
        if pid_alive(pid) && is_fresh(hb, now_ms()) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("fnatd (pid {pid}) is already serving {}", path.display()),
            ));
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The control file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The largest payload a frame carries.
    pub fn max_payload(&self) -> u64 {
        self.geo.max_payload
    }

    /// Replies not written because their sender had gone or the response ring had no room.
    pub fn dropped_replies(&self) -> u64 {
        self.dropped_replies
    }

    /// Writes the heartbeat and takes the next committed request, if any. Never blocks; I/O errors
    /// on the file (which is in memory) read as "nothing new".
    pub fn poll(&mut self) -> Option<Incoming> {
        self.poll_io().ok().flatten()
    }

    fn poll_io(&mut self) -> io::Result<Option<Incoming>> {
        write_slot(&self.file, field::HEARTBEAT, now_ms())?;
        let Some(tail) = read_slot(&self.file, field::REQ_TAIL)? else {
            return Ok(None);
        };
        if tail == self.req_head {
            return Ok(None);
        }
        let avail = tail.wrapping_sub(self.req_head);
        let got = if avail > self.geo.req.capacity {
            Err(BadFrame {
                seq: 0,
                error: CtrlError::malformed(format_args!(
                    "request ring counters are inconsistent (head {}, tail {tail})",
                    self.req_head
                )),
            })
        } else {
            read_frame(&self.file, self.geo.req, self.req_head, avail, REQUEST_MAGIC, self.geo.max_payload)?
        };
        let incoming = match got {
            Ok(frame) => {
                self.req_head += frame.len;
                let request = decode_request(&frame.payload).and_then(|r| {
                    if r.id == frame.seq {
                        Ok(r)
                    } else {
                        Err(CtrlError::malformed(format_args!(
                            "request id {} in a frame with sequence number {}",
                            r.id, frame.seq
                        )))
                    }
                });
                Incoming { seq: frame.seq, request }
            }
            Err(bad) => {
                // Frame boundaries can no longer be trusted: skip everything committed so far.
                self.req_head = tail;
                Incoming { seq: bad.seq, request: Err(bad.error) }
            }
        };
        write_slot(&self.file, field::REQ_HEAD, self.req_head)?;
        Ok(Some(incoming))
    }

    /// Answers the request with sequence number `seq`. A reply too large for a frame is replaced by
    /// [`CtrlError::TooLarge`]. The reply is not written when a newer request is already waiting
    /// (the sender gave up and released the lock) or when the response ring has no room; errors are
    /// I/O errors on the file only.
    pub fn reply(&mut self, seq: u64, reply: &Reply) -> io::Result<()> {
        let mut payload = encode_reply(reply);
        let size = payload.len() as u64;
        if size > self.geo.max_payload {
            payload = encode_reply(&Reply::Error(CtrlError::TooLarge { size, max: self.geo.max_payload }));
        }
        if read_slot(&self.file, field::REQ_TAIL)? != Some(self.req_head) {
            self.dropped_replies += 1;
            return Ok(());
        }
        let head = read_slot(&self.file, field::RESP_HEAD)?;
        let used = head.map(|h| self.resp_tail.wrapping_sub(h));
        let frame = build_frame(REPLY_MAGIC, seq, self.resp_tail, &payload);
        let len = frame.len() as u64;
        match used {
            Some(used) if used <= self.geo.resp.capacity - len.min(self.geo.resp.capacity) => {}
            _ => {
                self.dropped_replies += 1;
                return Ok(());
            }
        }
        write_ring(&self.file, self.geo.resp, self.resp_tail, &frame)?;
        self.resp_tail += len;
        write_slot(&self.file, field::RESP_TAIL, self.resp_tail)
    }
}

impl Drop for Server {
    /// Marks the file as no longer served and removes it, unless another fnatd has replaced it.
    fn drop(&mut self) {
        let _ = write_slot(&self.file, field::PID, 0);
        let _ = write_slot(&self.file, field::HEARTBEAT, 0);
        let ours = self.file.metadata().ok().map(|m| (m.dev(), m.ino()));
        let there = std::fs::metadata(&self.path).ok().map(|m| (m.dev(), m.ino()));
        if ours.is_some() && ours == there {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Why a client cannot reach fnatd.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No fnatd serves the file: it is missing, its pid is gone, or its heartbeat is stale.
    #[error("fnatd is not running ({}: {why})", path.display())]
    NotRunning {
        /// The control file.
        path: PathBuf,
        /// What showed it.
        why: String,
    },
    /// The file belongs to another user (it is mode 0600).
    #[error("permission denied: {} belongs to the user running fnatd", path.display())]
    PermissionDenied {
        /// The control file.
        path: PathBuf,
    },
    /// fnatd speaks another protocol version.
    #[error(
        "fnatctl speaks protocol version {ours} but fnatd speaks version {theirs}; use the fnatctl that came with this fnatd"
    )]
    VersionMismatch {
        /// This client's version.
        ours: u16,
        /// fnatd's version.
        theirs: u16,
    },
    /// The file is not an fnat control file (wrong magic, too short, inconsistent header).
    #[error("{} is not an fnat control file", path.display())]
    NotFnatFile {
        /// The file.
        path: PathBuf,
    },
    /// Another I/O error.
    #[error("{}: {source}", path.display())]
    Io {
        /// The control file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// Why a call did not bring back fnatd's reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Another client held the lock for the whole time-out.
    #[error("another fnatctl is talking to fnatd; gave up after {}", secs(*.0))]
    Busy(Duration),
    /// fnatd did not answer in time (the request may still be applied later).
    #[error("fnatd did not answer within {}", secs(*.0))]
    Timeout(Duration),
    /// fnatd stopped while the request was pending.
    #[error("fnatd stopped while handling the request")]
    NotRunning,
    /// The request does not fit in a frame.
    #[error("request of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The request's size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The reply (or the file's counters) could not be read.
    #[error("unreadable reply from fnatd: {0}")]
    Protocol(String),
    /// An I/O error on the control file.
    #[error("control file: {0}")]
    Io(#[from] io::Error),
}

/// A duration as ipvsadm-style text: "10 s", "0.5 s".
fn secs(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{:.1} s", d.as_secs_f64()) }
}

/// fnatctl's end: one request at a time, under the file lock.
#[derive(Debug)]
pub struct Client {
    file: File,
    path: PathBuf,
    geo: Geometry,
}

/// Releases the file lock when dropped.
struct Locked<'a>(&'a File);

// `File::lock` and friends need Rust 1.89 (the workspace's `rust-version`); the alternative,
// `flock` through libc, would need `unsafe`.
impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Client {
    /// Opens the control file and checks that a live fnatd of this protocol version serves it.
    pub fn connect(path: &Path) -> Result<Self, ConnectError> {
        let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ConnectError::NotRunning { path: path.to_owned(), why: "no such file".into() },
            io::ErrorKind::PermissionDenied => ConnectError::PermissionDenied { path: path.to_owned() },
            _ => ConnectError::Io { path: path.to_owned(), source: e },
        })?;
        let io_err = |source| ConnectError::Io { path: path.to_owned(), source };
        let not_ours = || ConnectError::NotFnatFile { path: path.to_owned() };
        let (h, len) = read_header(&file).map_err(io_err)?.ok_or_else(not_ours)?;
        let pid = read_slot(&file, field::PID).map_err(io_err)?.unwrap_or(0);
        let hb = read_slot(&file, field::HEARTBEAT).map_err(io_err)?.unwrap_or(0);
        let not_running = |why: String| ConnectError::NotRunning { path: path.to_owned(), why };
        if pid == 0 {
            return Err(not_running("fnatd has stopped".into()));
        }
        if !pid_alive(pid) {
            return Err(not_running(format!("fnatd pid {pid} is gone")));
        }
        let now = now_ms();
        if !is_fresh(hb, now) {
            return Err(not_running(format!("fnatd pid {pid} has not polled for {} s", now.saturating_sub(hb) / 1000)));
        }
        let version = le_u16(&h, field::VERSION);
        if version != PROTOCOL_VERSION {
            return Err(ConnectError::VersionMismatch { ours: PROTOCOL_VERSION, theirs: version });
        }
        let geo = Geometry::from_header(&h, len).ok_or_else(not_ours)?;
        Ok(Self { file, path: path.to_owned(), geo })
    }

    /// The control file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends `req` and waits for its reply, at most `timeout` in all (the lock included).
    pub fn call(&mut self, req: &Request, timeout: Duration) -> Result<Reply, CallError> {
        let deadline = Instant::now() + timeout;
        let payload = encode_request(req);
        let size = payload.len() as u64;
        if size > self.geo.max_payload {
            return Err(CallError::TooLarge { size, max: self.geo.max_payload });
        }
        let _locked = self.lock(deadline, timeout)?;
        let counter = |off| {
            read_slot(&self.file, off)?
                .ok_or_else(|| CallError::Protocol("a control-file counter is unreadable".into()))
        };
        // Replies left unread by a client that gave up are stale: skip them.
        let mut resp_head = counter(field::RESP_TAIL)?;
        write_slot(&self.file, field::RESP_HEAD, resp_head)?;

        let tail = counter(field::REQ_TAIL)?;
        let frame = build_frame(REQUEST_MAGIC, req.id, tail, &payload);
        let len = frame.len() as u64;
        let mut pause = Pause::new();
        loop {
            let used = tail.wrapping_sub(counter(field::REQ_HEAD)?);
            if used > self.geo.req.capacity {
                return Err(CallError::Protocol("request ring counters are inconsistent".into()));
            }
            if self.geo.req.capacity - used >= len {
                break;
            }
            pause.wait(deadline, timeout, &self.file)?;
        }
        write_ring(&self.file, self.geo.req, tail, &frame)?;
        write_slot(&self.file, field::REQ_TAIL, tail + len)?;

        let mut pause = Pause::new();
        loop {
            let resp_tail = counter(field::RESP_TAIL)?;
            while resp_head != resp_tail {
                let avail = resp_tail.wrapping_sub(resp_head);
                if avail > self.geo.resp.capacity {
                    return Err(CallError::Protocol("response ring counters are inconsistent".into()));
                }
                let frame = read_frame(&self.file, self.geo.resp, resp_head, avail, REPLY_MAGIC, self.geo.max_payload)?
                    .map_err(|bad| CallError::Protocol(bad.error.to_string()))?;
                resp_head += frame.len;
                write_slot(&self.file, field::RESP_HEAD, resp_head)?;
                if frame.seq == req.id {
                    return decode_reply(&frame.payload).map_err(CallError::Protocol);
                }
            }
            pause.wait(deadline, timeout, &self.file)?;
        }
    }

    fn lock(&self, deadline: Instant, timeout: Duration) -> Result<Locked<'_>, CallError> {
        loop {
            match self.file.try_lock() {
                Ok(()) => return Ok(Locked(&self.file)),
                Err(TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(CallError::Busy(timeout));
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TryLockError::Error(e)) => return Err(e.into()),
            }
        }
    }
}

/// Short, growing sleeps while waiting for fnatd, with the deadline and fnatd's liveness checked.
struct Pause(Duration);

impl Pause {
    fn new() -> Self {
        Self(Duration::from_micros(100))
    }

    fn wait(&mut self, deadline: Instant, timeout: Duration, file: &File) -> Result<(), CallError> {
        if Instant::now() >= deadline {
            return Err(CallError::Timeout(timeout));
        }
        let pid = read_slot(file, field::PID)?.unwrap_or(0);
        if !pid_alive(pid) {
            return Err(CallError::NotRunning);
        }
        std::thread::sleep(self.0.min(deadline.saturating_duration_since(Instant::now())));
        self.0 = (self.0 * 2).min(Duration::from_millis(2));
        Ok(())
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
