//! Classic pcap capture files (microsecond timestamps, Ethernet link type): read and write.
//!
//! Used by the pcap demo, the fixture tools and the DPDK net_pcap tests. Not on the packet path.

use std::io::{self, Read, Write};

const MAGIC_US: u32 = 0xa1b2_c3d4;
const MAGIC_NS: u32 = 0xa1b2_3c4d;
const LINKTYPE_ETHERNET: u32 = 1;
/// The largest record accepted when reading.
pub const MAX_RECORD: u32 = 256 * 1024;

/// One captured frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Capture time, seconds.
    pub ts_sec: u32,
    /// Capture time, sub-second part (microseconds, or nanoseconds in a nanosecond file).
    pub ts_frac: u32,
    /// The frame as captured.
    pub data: Vec<u8>,
}

/// Writes an Ethernet pcap file.
pub fn write(mut w: impl Write, frames: &[Record]) -> io::Result<()> {
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&MAGIC_US.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&0i32.to_le_bytes());
    hdr.extend_from_slice(&0u32.to_le_bytes());
    hdr.extend_from_slice(&65535u32.to_le_bytes());
    hdr.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    w.write_all(&hdr)?;
    for r in frames {
        let len =
            u32::try_from(r.data.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&r.ts_sec.to_le_bytes());
        rec.extend_from_slice(&r.ts_frac.to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        w.write_all(&rec)?;
        w.write_all(&r.data)?;
    }
    w.flush()
}

/// Writes frames with timestamps one millisecond apart.
pub fn write_frames(w: impl Write, frames: &[Vec<u8>]) -> io::Result<()> {
    let recs: Vec<Record> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let ms = u32::try_from(i).unwrap_or(u32::MAX);
            Record { ts_sec: ms / 1000, ts_frac: (ms % 1000) * 1000, data: f.clone() }
        })
        .collect();
    write(w, &recs)
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

/// Reads an Ethernet pcap file (either byte order, micro- or nanosecond timestamps).
pub fn read(mut r: impl Read) -> io::Result<Vec<Record>> {
    let mut hdr = [0u8; 24];
    r.read_exact(&mut hdr)?;
    let magic_le = u32::from_le_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]);
    let le = match magic_le {
        MAGIC_US | MAGIC_NS => true,
        m if m.swap_bytes() == MAGIC_US || m.swap_bytes() == MAGIC_NS => false,
        _ => return Err(bad("not a pcap file (bad magic)")),
    };
    let u32_at = |b: &[u8], i: usize| {
        let a = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if le { u32::from_le_bytes(a) } else { u32::from_be_bytes(a) }
    };
    if u32_at(&hdr, 20) & 0x0fff_ffff != LINKTYPE_ETHERNET {
        return Err(bad("pcap link type is not Ethernet"));
    }
    let mut out = Vec::new();
    loop {
        let mut rec = [0u8; 16];
        match r.read_exact(&mut rec) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(out),
            Err(e) => return Err(e),
        }
        let incl = u32_at(&rec, 8);
        if incl > MAX_RECORD {
            return Err(bad("pcap record larger than 256 KiB"));
        }
        let mut data = vec![0u8; incl as usize];
        r.read_exact(&mut data)?;
        out.push(Record { ts_sec: u32_at(&rec, 0), ts_frac: u32_at(&rec, 4), data });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let frames = vec![vec![1u8; 60], vec![2u8; 1514], vec![]];
        let mut buf = Vec::new();
        write_frames(&mut buf, &frames).unwrap();
        assert_eq!(buf.len(), 24 + 3 * 16 + 60 + 1514);
        let back: Vec<Vec<u8>> = read(&buf[..]).unwrap().into_iter().map(|r| r.data).collect();
        assert_eq!(back, frames);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read(&[0u8; 10][..]).is_err());
        assert!(read(&[0xffu8; 24][..]).is_err());
        let mut buf = Vec::new();
        write_frames(&mut buf, &[vec![0u8; 4]]).unwrap();
        buf.truncate(buf.len() - 1);
        assert!(read(&buf[..]).is_err(), "truncated record");
    }
}
