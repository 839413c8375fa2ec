//! Frames in a ring (see the [module docs](super)): magic, version, sequence number, ring position,
//! payload length and CRC32, then the JSON payload padded to 8 bytes. Reading a frame checks all of
//! them; nothing here panics on bad bytes.

use std::fs::File;
use std::io;

use super::layout::{Ring, le_u16, le_u64, read_ring, to_usize};
use crate::msg::{CtrlError, PROTOCOL_VERSION};

/// The magic of a request frame.
pub const REQUEST_MAGIC: [u8; 4] = *b"FNRQ";
/// The magic of a reply frame.
pub const REPLY_MAGIC: [u8; 4] = *b"FNRP";
/// The size of a frame's header.
pub const FRAME_HEADER: u64 = 32;

/// The bytes a frame of `payload_len` bytes takes in a ring.
pub(crate) fn frame_len(payload_len: u64) -> u64 {
    FRAME_HEADER + ((payload_len + 7) & !7)
}

/// The CRC32 of a frame header's first 28 bytes and its payload.
pub fn frame_crc(header: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[..28]);
    h.update(payload);
    h.finalize()
}

/// A whole frame: header, payload, padding.
pub fn build_frame(magic: [u8; 4], seq: u64, pos: u64, payload: &[u8]) -> Vec<u8> {
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
pub(crate) struct Frame {
    pub(crate) seq: u64,
    pub(crate) len: u64,
    pub(crate) payload: Vec<u8>,
}

/// Why committed bytes are not a valid frame, with the sequence number when the header was there.
#[derive(Debug)]
pub(crate) struct BadFrame {
    pub(crate) seq: u64,
    pub(crate) error: CtrlError,
}

/// Reads the frame at `pos`, with `avail` bytes committed from there on.
pub(crate) fn read_frame(
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
