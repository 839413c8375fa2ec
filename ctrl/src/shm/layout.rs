//! The file's layout (see the [module docs](super)): the header's fields, the two rings' geometry,
//! the counter slots (value and complement in one `pwrite`) and positioned reads and writes that
//! wrap around a ring's end. Public because it is the wire format: a test or a tool may read and
//! write a control file the way a broken client would.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::frame::FRAME_HEADER;
use crate::msg::PROTOCOL_VERSION;

/// The file's magic bytes.
pub const MAGIC: [u8; 8] = *b"FNATCTL\0";
/// The size of the header; the request ring starts here.
pub const HEADER_SIZE: u64 = 4096;
/// The default capacity of each ring.
pub const DEFAULT_RING_CAPACITY: u64 = 32 << 20;
/// The largest payload a frame carries with the default rings (half a ring, less a frame header).
pub const DEFAULT_MAX_PAYLOAD: u64 = DEFAULT_RING_CAPACITY / 2 - FRAME_HEADER;
/// Where fnatd and fnatctl meet when nothing else is said (`[control] path`, `fnatctl --ctl`,
/// `FNAT_CTL`): a file on the shared-memory tmpfs.
pub const DEFAULT_CONTROL_PATH: &str = "/dev/shm/fnat.ctl";
/// A heartbeat older than this means fnatd is not running.
pub const STALE_AFTER: Duration = Duration::from_secs(2);

const MIN_RING_CAPACITY: u64 = 4096;

/// Byte offsets of the header fields (see the layout in the [module docs](super)).
#[allow(missing_docs)]
pub mod field {
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
pub struct Ring {
    /// Where the ring starts in the file.
    pub offset: u64,
    /// Its size in bytes.
    pub capacity: u64,
}

/// Where the rings are and how large a payload may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// The request ring.
    pub req: Ring,
    /// The response ring.
    pub resp: Ring,
    /// The largest payload a frame may carry.
    pub max_payload: u64,
}

impl Geometry {
    /// Two rings of `capacity` bytes (a multiple of 8, at least 4 KiB) after the header; a payload
    /// may fill half a ring, less its frame header.
    pub fn new(capacity: u64) -> Self {
        let capacity = (capacity.max(MIN_RING_CAPACITY) + 7) & !7;
        Self {
            req: Ring { offset: HEADER_SIZE, capacity },
            resp: Ring { offset: HEADER_SIZE + capacity, capacity },
            max_payload: capacity / 2 - FRAME_HEADER,
        }
    }

    /// The size of the whole file.
    pub fn file_size(&self) -> u64 {
        self.resp.offset + self.resp.capacity
    }

    /// The geometry a header describes, if it is consistent with a file of `len` bytes.
    pub fn from_header(h: &[u8; 64], len: u64) -> Option<Self> {
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

/// A little-endian u64 at `off` (0 when out of range).
pub(crate) fn le_u64(h: &[u8], off: u64) -> u64 {
    let off = usize::try_from(off).unwrap_or(usize::MAX);
    h.get(off..off + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(0, u64::from_le_bytes)
}

/// A little-endian u16 at `off` (0 when out of range).
pub(crate) fn le_u16(h: &[u8], off: u64) -> u16 {
    let off = usize::try_from(off).unwrap_or(usize::MAX);
    h.get(off..off + 2).and_then(|b| <[u8; 2]>::try_from(b).ok()).map_or(0, u16::from_le_bytes)
}

pub(crate) fn to_usize(v: u64) -> io::Result<usize> {
    usize::try_from(v).map_err(|_| io::Error::other("size does not fit in memory"))
}

/// Milliseconds since 1970 on the wall clock (shared by every process on the host).
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a heartbeat written at `hb` is recent. A heartbeat in the future (the clock stepped back)
/// counts as recent; fnatd rewrites it within one poll.
pub(crate) fn is_fresh(hb: u64, now: u64) -> bool {
    let stale = u64::try_from(STALE_AFTER.as_millis()).unwrap_or(u64::MAX);
    hb != 0 && hb.saturating_add(stale) >= now
}

/// Whether process `pid` exists. Without `/proc` there is no telling, and it counts as alive.
pub(crate) fn pid_alive(pid: u64) -> bool {
    if pid == 0 || pid > u64::from(u32::MAX) {
        return false;
    }
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Reads a counter slot; `None` if value and complement disagree on every try.
pub fn read_slot(file: &File, off: u64) -> io::Result<Option<u64>> {
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
pub fn write_slot(file: &File, off: u64, v: u64) -> io::Result<()> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&v.to_le_bytes());
    b[8..].copy_from_slice(&(!v).to_le_bytes());
    file.write_all_at(&b, off)
}

/// Reads `buf.len()` bytes of `ring` from position `pos`, wrapping around its end.
pub fn read_ring(file: &File, ring: Ring, pos: u64, buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let at = (pos + done as u64) % ring.capacity;
        let n = (buf.len() - done).min(to_usize(ring.capacity - at)?);
        file.read_exact_at(&mut buf[done..done + n], ring.offset + at)?;
        done += n;
    }
    Ok(())
}

/// Writes `buf` into `ring` at position `pos`, wrapping around its end.
pub fn write_ring(file: &File, ring: Ring, pos: u64, buf: &[u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let at = (pos + done as u64) % ring.capacity;
        let n = (buf.len() - done).min(to_usize(ring.capacity - at)?);
        file.write_all_at(&buf[done..done + n], ring.offset + at)?;
        done += n;
    }
    Ok(())
}

/// The first 64 bytes of the header: the fields written once, at creation.
pub(crate) fn header_bytes(geo: &Geometry) -> [u8; 64] {
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
pub fn read_header(file: &File) -> io::Result<Option<([u8; 64], u64)>> {
    let len = file.metadata()?.len();
    if len < HEADER_SIZE {
        return Ok(None);
    }
    let mut h = [0u8; 64];
    file.read_exact_at(&mut h, 0)?;
    Ok((h[..MAGIC.len()] == MAGIC).then_some((h, len)))
}
