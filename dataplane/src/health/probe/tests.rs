//! The probes against real servers on 127.0.0.1, started by each test on an ephemeral port.
//!
//! Every wait is bounded: probes run with short timeouts and the servers live only as long as their
//! test's runtime.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctrl::vocab::health::{DnsCheck, HttpCheck, MiscCheck, UdpCheck};
use ctrl::vocab::{CheckKind, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use super::probe;

/// The timeout of a probe that is expected to finish early.
const PATIENT: Duration = Duration::from_secs(2);
/// The timeout of a probe that is expected to run out of time.
const SHORT: Duration = Duration::from_millis(300);
/// How much later than its timeout a probe may return.
const SLACK: Duration = Duration::from_millis(500);

/// 127.0.0.1:`port`.
fn local(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}

/// The address of a socket of the test.
fn v4(addr: std::net::SocketAddr) -> SocketAddrV4 {
    match addr {
        std::net::SocketAddr::V4(addr) => addr,
        std::net::SocketAddr::V6(addr) => panic!("test socket bound to IPv6 {addr}"),
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_tcp_port() -> SocketAddrV4 {
    let listener = std::net::TcpListener::bind(local(0)).expect("bind a TCP port");
    v4(listener.local_addr().expect("local address"))
}

/// A UDP port on 127.0.0.1 that nothing listens on (bound, then released).
fn closed_udp_port() -> SocketAddrV4 {
    let socket = std::net::UdpSocket::bind(local(0)).expect("bind a UDP port");
    v4(socket.local_addr().expect("local address"))
}

/// Runs `kind` against `addr` with `timeout`, checking that it returns in time.
async fn run(kind: &CheckKind, addr: SocketAddrV4, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let outcome = probe(kind, addr, timeout).await;
    let elapsed = start.elapsed();
    assert!(elapsed < timeout + SLACK, "took {elapsed:?} with a timeout of {timeout:?}: {outcome:?}");
    assert!(outcome.latency_us <= u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    outcome
}

/// Asserts `outcome` is `up` with `detail`.
#[track_caller]
fn assert_outcome(outcome: &Outcome, up: bool, detail: &str) {
    assert_eq!((outcome.up, outcome.detail.as_str()), (up, detail), "{outcome:?}");
}

#[test]
fn probe_future_is_send() {
    // The scheduler spawns probes on a multi-threaded runtime.
    fn assert_send<T: Send>(_: &T) {}
    for kind in [CheckKind::Tcp, CheckKind::Http(get()), udp(true), dns("a"), CheckKind::Icmp, misc(&["true"], false)] {
        assert_send(&probe(&kind, local(0), PATIENT));
    }
}

// ---------------------------------------------------------------------------------------- TCP --

#[tokio::test]
async fn tcp_is_up_when_the_connection_is_accepted() {
    let listener = TcpListener::bind(local(0)).await.expect("listen");
    let addr = v4(listener.local_addr().expect("local address"));
    let outcome = run(&CheckKind::Tcp, addr, PATIENT).await;
    assert_outcome(&outcome, true, "connected");
    assert_eq!(outcome.weight, None);
}

#[tokio::test]
async fn tcp_is_down_when_refused() {
    assert_outcome(&run(&CheckKind::Tcp, closed_tcp_port(), PATIENT).await, false, "refused");
}

// --------------------------------------------------------------------------------------- HTTP --

/// What a test HTTP server does with each connection.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    /// Reads the request, writes these bytes and closes.
    Answer(&'static [u8]),
    /// Reads the request, writes these bytes and keeps the connection open.
    AnswerAndHold(&'static [u8]),
    /// Accepts and never answers.
    Silent,
    /// Reads the request and resets the connection.
    Reset,
    /// Reads the request and closes without a word.
    Close,
}

/// A TCP server on 127.0.0.1 that treats every connection as `behaviour` says.
async fn http_server(behaviour: Behaviour) -> SocketAddrV4 {
    let listener = TcpListener::bind(local(0)).await.expect("listen");
    let addr = v4(listener.local_addr().expect("local address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, behaviour));
        }
    });
    addr
}

/// Serves one connection as `behaviour` says.
async fn serve(mut stream: TcpStream, behaviour: Behaviour) {
    if !matches!(behaviour, Behaviour::Silent) {
        read_request(&mut stream).await;
    }
    match behaviour {
        Behaviour::Answer(bytes) => {
            let _ = stream.write_all(bytes).await;
            let _ = stream.shutdown().await;
        }
        Behaviour::AnswerAndHold(bytes) => {
            let _ = stream.write_all(bytes).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
        Behaviour::Silent => tokio::time::sleep(Duration::from_secs(5)).await,
        Behaviour::Reset => {
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
        }
        Behaviour::Close => {}
    }
}

/// Reads until the blank line after the headers, EOF, or one second; stops after the first read if
/// the client does not speak HTTP (a TLS ClientHello).
async fn read_request(stream: &mut TcpStream) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 1024];
    let reading = async {
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            if !request.is_empty() && !request.starts_with(b"GET ") {
                break;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(len) => request.extend_from_slice(&chunk[..len]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), reading).await;
}

/// A GET of "/health".
fn get() -> HttpCheck {
    HttpCheck { path: "/health".to_owned(), host: None, status: Vec::new(), digest: None, tls: false }
}

/// The MD5 of "ok".
const OK_MD5: &str = "444bcb3a3fcf8389296c49467f27e1d6";

#[tokio::test]
async fn http_200_is_up() {
    let addr = http_server(Behaviour::Answer(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nok")).await;
    assert_outcome(&run(&CheckKind::Http(get()), addr, PATIENT).await, true, "HTTP 200");
}

#[tokio::test]
async fn http_503_is_down() {
    let addr = http_server(Behaviour::Answer(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")).await;
    assert_outcome(&run(&CheckKind::Http(get()), addr, PATIENT).await, false, "HTTP 503 (want 2xx)");
}

#[tokio::test]
async fn http_status_list_decides() {
    let addr = http_server(Behaviour::Answer(b"HTTP/1.1 503 Service Unavailable\r\n\r\n")).await;
    let maintenance = HttpCheck { status: vec![503], ..get() };
    assert_outcome(&run(&CheckKind::Http(maintenance), addr, PATIENT).await, true, "HTTP 503");
    let strict = HttpCheck { status: vec![200, 301], ..get() };
    assert_outcome(&run(&CheckKind::Http(strict), addr, PATIENT).await, false, "HTTP 503 (want 200, 301)");
}

#[tokio::test]
async fn http_digest_match_is_up_and_stops_at_content_length() {
    // The server keeps the connection open: the probe must stop at Content-Length, not wait for EOF.
    let addr = http_server(Behaviour::AnswerAndHold(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")).await;
    let check = HttpCheck { digest: Some(OK_MD5.to_owned()), ..get() };
    assert_outcome(&run(&CheckKind::Http(check), addr, PATIENT).await, true, "HTTP 200");
}

#[tokio::test]
async fn http_digest_of_the_body_to_eof() {
    let addr = http_server(Behaviour::Answer(b"HTTP/1.0 200 OK\r\n\r\nok")).await;
    let check = HttpCheck { digest: Some(OK_MD5.to_uppercase()), ..get() };
    assert_outcome(&run(&CheckKind::Http(check), addr, PATIENT).await, true, "HTTP 200");
}

#[tokio::test]
async fn http_digest_mismatch_is_down() {
    let addr = http_server(Behaviour::Answer(b"HTTP/1.0 200 OK\r\n\r\nnot ok")).await;
    let check = HttpCheck { digest: Some(OK_MD5.to_owned()), ..get() };
    assert_outcome(&run(&CheckKind::Http(check), addr, PATIENT).await, false, "digest mismatch");
}

#[tokio::test]
async fn http_server_that_never_answers_is_down_within_the_timeout() {
    let addr = http_server(Behaviour::Silent).await;
    assert_outcome(&run(&CheckKind::Http(get()), addr, SHORT).await, false, "timed out after 300 ms");
}

#[tokio::test]
async fn http_garbage_is_down_at_once() {
    // Not HTTP and the connection stays open: the first bytes are enough to say no.
    let addr = http_server(Behaviour::AnswerAndHold(b"SSH-2.0-OpenSSH_9.6\r\n")).await;
    assert_outcome(&run(&CheckKind::Http(get()), addr, PATIENT).await, false, "garbage: not HTTP");
}

#[tokio::test]
async fn http_reset_is_down() {
    let addr = http_server(Behaviour::Reset).await;
    assert_outcome(&run(&CheckKind::Http(get()), addr, PATIENT).await, false, "reset");
}

#[tokio::test]
async fn http_close_without_answer_is_down() {
    let addr = http_server(Behaviour::Close).await;
    assert_outcome(&run(&CheckKind::Http(get()), addr, PATIENT).await, false, "closed without answer");
}

#[tokio::test]
async fn http_refused_is_down() {
    assert_outcome(&run(&CheckKind::Http(get()), closed_tcp_port(), PATIENT).await, false, "refused");
}

#[tokio::test]
async fn http_bad_path_is_down_without_connecting() {
    let check = HttpCheck { path: "/a b".to_owned(), ..get() };
    assert_outcome(&run(&CheckKind::Http(check), closed_tcp_port(), PATIENT).await, false, "bad path");
}

#[tokio::test]
async fn https_against_plain_http_is_down_not_a_hang() {
    let addr = http_server(Behaviour::Answer(b"HTTP/1.0 400 Bad Request\r\n\r\n")).await;
    let check = HttpCheck { tls: true, ..get() };
    let outcome = run(&CheckKind::Http(check), addr, PATIENT).await;
    assert_outcome(&outcome, false, "TLS: received corrupt message of type InvalidContentType");
}

/// An HTTPS server with a fresh self-signed certificate for "localhost" that answers `response`.
async fn https_server(response: &'static [u8]) -> SocketAddrV4 {
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(super::http::ring_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind(local(0)).await.expect("listen");
    let addr = v4(listener.local_addr().expect("local address"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(stream).await else { return };
                let mut request = [0u8; 1024];
                let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut request)).await;
                let _ = stream.write_all(response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn https_with_a_self_signed_certificate_is_up() {
    let addr = https_server(b"HTTP/1.0 200 OK\r\n\r\nok").await;
    let check = HttpCheck { tls: true, host: Some("localhost".to_owned()), digest: Some(OK_MD5.to_owned()), ..get() };
    assert_outcome(&run(&CheckKind::Http(check), addr, PATIENT).await, true, "HTTP 200");
    let by_address = HttpCheck { tls: true, ..get() };
    assert_outcome(&run(&CheckKind::Http(by_address), addr, PATIENT).await, true, "HTTP 200");
}

// ---------------------------------------------------------------------------------------- UDP --

/// A UDP server on 127.0.0.1 that sends `answer(datagram)` back for each datagram, if it is `Some`.
async fn udp_server(answer: fn(&[u8]) -> Option<Vec<u8>>) -> SocketAddrV4 {
    let socket = UdpSocket::bind(local(0)).await.expect("bind");
    let addr = v4(socket.local_addr().expect("local address"));
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            if let Some(reply) = answer(&buf[..len]) {
                let _ = socket.send_to(&reply, peer).await;
            }
        }
    });
    addr
}

/// A UDP probe sending "ping".
fn udp(require_reply: bool) -> CheckKind {
    CheckKind::Udp(UdpCheck { payload: b"ping".to_vec(), require_reply })
}

#[tokio::test]
async fn udp_echo_is_up_with_require_reply() {
    let addr = udp_server(|datagram| Some(datagram.to_vec())).await;
    assert_outcome(&run(&udp(true), addr, PATIENT).await, true, "answered (4 bytes)");
}

#[tokio::test]
async fn udp_closed_port_is_down_by_icmp_port_unreachable() {
    assert_outcome(&run(&udp(false), closed_udp_port(), PATIENT).await, false, "ICMP port unreachable");
    assert_outcome(&run(&udp(true), closed_udp_port(), PATIENT).await, false, "ICMP port unreachable");
}

#[tokio::test]
async fn udp_silent_server_is_down_with_require_reply_and_up_without() {
    let addr = udp_server(|_| None).await;
    assert_outcome(&run(&udp(true), addr, SHORT).await, false, "no answer within 300 ms");
    assert_outcome(&run(&udp(false), addr, SHORT).await, true, "no ICMP error within 300 ms");
}

// ---------------------------------------------------------------------------------------- DNS --

/// A DNS check for "example.com" A.
fn dns(name: &str) -> CheckKind {
    CheckKind::Dns(DnsCheck { name: name.to_owned(), qtype: 1 })
}

/// The query echoed back with `flags`.
fn answer_with(query: &[u8], flags: u16) -> Option<Vec<u8>> {
    let mut reply = query.to_vec();
    reply.get_mut(2..4)?.copy_from_slice(&flags.to_be_bytes());
    Some(reply)
}

#[tokio::test]
async fn dns_noerror_is_up() {
    let addr = udp_server(|query| answer_with(query, 0x8180)).await;
    assert_outcome(&run(&dns("example.com"), addr, PATIENT).await, true, "NOERROR (0 answers)");
}

#[tokio::test]
async fn dns_nxdomain_is_down() {
    let addr = udp_server(|query| answer_with(query, 0x8183)).await;
    assert_outcome(&run(&dns("example.com"), addr, PATIENT).await, false, "rcode 3 (NXDOMAIN)");
}

#[tokio::test]
async fn dns_wrong_id_is_down() {
    let addr = udp_server(|query| {
        let mut reply = answer_with(query, 0x8180)?;
        *reply.first_mut()? ^= 0xff;
        Some(reply)
    })
    .await;
    let outcome = run(&dns("example.com"), addr, PATIENT).await;
    assert!(!outcome.up && outcome.detail.starts_with("wrong ID "), "{outcome:?}");
}

#[tokio::test]
async fn dns_garbage_is_down() {
    let addr = udp_server(|_| Some(b"hello".to_vec())).await;
    assert_outcome(&run(&dns("example.com"), addr, PATIENT).await, false, "garbage: 5 bytes");
}

#[tokio::test]
async fn dns_silence_and_refusal_are_down() {
    let addr = udp_server(|_| None).await;
    assert_outcome(&run(&dns("example.com"), addr, SHORT).await, false, "no answer within 300 ms");
    assert_outcome(&run(&dns("example.com"), closed_udp_port(), PATIENT).await, false, "ICMP port unreachable");
}

#[tokio::test]
async fn dns_bad_name_is_down() {
    let long_label = format!("{}.com", "a".repeat(64));
    let outcome = run(&dns(&long_label), closed_udp_port(), PATIENT).await;
    assert_outcome(&outcome, false, "bad name: label of 64 bytes (max 63)");
}

// --------------------------------------------------------------------------------------- ICMP --

#[tokio::test]
async fn icmp_echo_to_loopback_is_up() {
    // Needs a ping socket or CAP_NET_RAW (CI runs as root): failing here says which is missing.
    let outcome = run(&CheckKind::Icmp, local(0), PATIENT).await;
    assert!(outcome.up, "ICMP echo to 127.0.0.1 failed (root or ping_group_range needed): {outcome:?}");
    assert_eq!(outcome.detail, "echo reply");
}

// --------------------------------------------------------------------------------------- MISC --

/// A misc check running `command`.
fn misc(command: &[&str], dynamic: bool) -> CheckKind {
    CheckKind::Misc(MiscCheck { command: command.iter().map(|s| (*s).to_owned()).collect(), dynamic })
}

#[tokio::test]
async fn misc_exit_status_decides() {
    let addr = local(0);
    assert_outcome(&run(&misc(&["true"], false), addr, PATIENT).await, true, "exit 0");
    assert_outcome(&run(&misc(&["false"], false), addr, PATIENT).await, false, "exit 1");
    assert_outcome(&run(&misc(&["sh", "-c", "exit 7"], false), addr, PATIENT).await, false, "exit 7");
}

#[tokio::test]
async fn misc_dynamic_exit_sets_the_weight() {
    let outcome = run(&misc(&["sh", "-c", "exit 7"], true), local(0), PATIENT).await;
    assert_eq!((outcome.up, outcome.weight), (true, Some(5)), "{outcome:?}");
    let outcome = run(&misc(&["false"], true), local(0), PATIENT).await;
    assert_eq!((outcome.up, outcome.weight), (false, None), "exit 1 stays down: {outcome:?}");
}

#[tokio::test]
async fn misc_that_outlives_the_timeout_is_killed_and_down() {
    let outcome = run(&misc(&["sleep", "5"], false), local(0), SHORT).await;
    assert_outcome(&outcome, false, "timed out after 300 ms");
}

#[tokio::test]
async fn misc_killed_by_a_signal_is_down() {
    let outcome = run(&misc(&["sh", "-c", "kill -9 $$"], false), local(0), PATIENT).await;
    assert_outcome(&outcome, false, "killed by signal 9");
}

#[tokio::test]
async fn misc_missing_program_or_empty_command_is_down() {
    let missing = "/nonexistent/fnat-no-such-check";
    let outcome = run(&misc(&[missing], false), local(0), PATIENT).await;
    assert_outcome(&outcome, false, &format!("{missing}: not found"));
    assert_outcome(&run(&misc(&[], false), local(0), PATIENT).await, false, "empty command");
}
