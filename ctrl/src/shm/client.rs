//! fnatctl's side of the transport: it finds a live fnatd, takes the file lock, writes one request
//! and waits for its reply.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::frame::{REPLY_MAGIC, REQUEST_MAGIC, build_frame, read_frame};
use super::layout::{
    Geometry, field, is_fresh, le_u16, now_ms, pid_alive, read_header, read_slot, write_ring, write_slot,
};
use crate::msg::{PROTOCOL_VERSION, Reply, Request, decode_reply, encode_request};

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
