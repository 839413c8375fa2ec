//! fnatd's Prometheus endpoint: a plain HTTP/1.1 server on the management address
//! (`[control] metrics`) answering `GET /metrics`. It runs on its own thread (never on a worker
//! lcore) and owns no figures: for each scrape it asks the main loop, which renders the text from
//! the same state `fnatctl` reads ([`crate::control::metrics`]) and hands it back.
//!
//! Requests are untrusted: the head is read with a timeout and a size limit, anything but
//! `GET /metrics` (or `/`) is answered 404 or 405, and one scrape is served at a time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// The longest request head read.
const MAX_HEAD: usize = 8192;
/// How long a client may take to send its request, and the main loop to render.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// A scrape waiting for its text.
pub type Scrape = SyncSender<String>;

/// The endpoint's thread and the main loop's end of it.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    scrapes: Receiver<Scrape>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Listens on `addr` and starts serving.
    pub fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, scrapes) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread =
            std::thread::Builder::new().name("fnat-metrics".into()).spawn(move || serve(&listener, &tx, &flag))?;
        Ok(Self { addr, scrapes, stop, thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Main loop side: the scrape waiting for its text, if any (never blocks).
    pub fn pending(&self) -> Option<Scrape> {
        self.scrapes.try_recv().ok()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(listener: &TcpListener, main: &Sender<Scrape>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                // A client that misbehaves only loses its own answer.
                let _ = answer(stream, main);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn answer(mut stream: TcpStream, main: &Sender<Scrape>) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let head = read_head(&mut stream)?;
    let (status, body) = match route(&head) {
        Ok(()) => {
            let (tx, rx) = sync_channel(1);
            let text = main.send(tx).ok().and_then(|()| rx.recv_timeout(IO_TIMEOUT).ok());
            match text {
                Some(t) => ("200 OK", t),
                None => ("503 Service Unavailable", "fnatd did not answer in time\n".to_owned()),
            }
        }
        Err(status) => (status, format!("{status}\n")),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(reply.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

/// Reads up to the blank line that ends an HTTP request head (at most [`MAX_HEAD`] bytes).
fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        if head.len() >= MAX_HEAD {
            break;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    Ok(head)
}

/// Whether the request asks for the metrics, or the status to answer instead.
fn route(head: &[u8]) -> Result<(), &'static str> {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = std::str::from_utf8(line).map_err(|_| "400 Bad Request")?.trim_end();
    let mut words = line.split(' ');
    let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    if !words.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err("400 Bad Request");
    }
    if method != "GET" && method != "HEAD" {
        return Err("405 Method Not Allowed");
    }
    match target.split('?').next() {
        Some("/metrics" | "/") => Ok(()),
        _ => Err("404 Not Found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_the_main_loops_text_and_refuses_the_rest() {
        let m = MetricsServer::start("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = m.addr();
        let main = std::thread::spawn(move || {
            // The main loop: answer three scrapes.
            let mut served = 0;
            for _ in 0..2000 {
                if let Some(s) = m.pending() {
                    s.send(format!("fnat_test {served}\n")).unwrap();
                    served += 1;
                    if served == 2 {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            m
        });
        let ok = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains("Content-Length: 12\r\n") && ok.ends_with("\r\n\r\nfnat_test 0\n"), "{ok}");
        assert!(get(addr, "GET / HTTP/1.0\n\n").ends_with("fnat_test 1\n"));
        assert!(get(addr, "GET /other HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 Not Found"));
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        assert!(get(addr, "garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        // A head without its end, as long as the limit: read up to the limit, refused.
        assert!(get(addr, &"x".repeat(MAX_HEAD)).starts_with("HTTP/1.1 400"));
        let m = main.join().unwrap();
        drop(m);
        // Stopped: nobody listens any more.
        assert!(TcpStream::connect(addr).is_err());
    }
}
