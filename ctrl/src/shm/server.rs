//! fnatd's side of the transport: it creates the file, takes requests from the request ring and
//! writes replies into the response ring, refreshing the heartbeat on every poll.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::frame::{BadFrame, REPLY_MAGIC, REQUEST_MAGIC, build_frame, read_frame};
use super::layout::{
    DEFAULT_RING_CAPACITY, Geometry, field, header_bytes, is_fresh, now_ms, pid_alive, read_header, read_slot,
    write_ring, write_slot,
};
use crate::msg::{CtrlError, Reply, Request, decode_request, encode_reply};

/// A request taken from the ring, or why the committed bytes are not one; answer it with
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

    /// Writes the heartbeat alone: fnatd is alive but takes no request now (it holds an answer
    /// until a change is in force). An I/O error is left for the next poll to meet.
    pub fn heartbeat(&mut self) {
        let _ = write_slot(&self.file, field::HEARTBEAT, now_ms());
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
