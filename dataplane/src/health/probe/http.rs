//! `HTTP_GET` and `SSL_GET`: one GET, up when the status (and, if asked, the body's MD5) is right.
//!
//! The request is HTTP/1.0 with `Connection: close`, so the answer is never chunked and ends at EOF
//! or at its `Content-Length`. The probe reads at most [`HEAD_CAP`] of head and [`BODY_CAP`] of body,
//! stops after the head when no digest is asked for, and stops at once on a first line that is not
//! `HTTP/1.x NNN`. With TLS the certificate is not verified (keepalived's `SSL_GET` does not
//! either); SNI carries the `Host` name when it is a DNS name.

use std::net::SocketAddrV4;
use std::sync::{Arc, OnceLock};

use ctrl::vocab::health::HttpCheck;
use md5::{Digest, Md5};
use rustls::ClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::Verdict;

/// The most of the status line and headers read.
const HEAD_CAP: usize = 64 * 1024;
/// The most of the body read (for its digest).
const BODY_CAP: usize = 1024 * 1024;
/// How much one read asks for.
const READ_CHUNK: usize = 16 * 1024;

/// GETs `check.path` from `addr`, over TLS if `check.tls` (the caller bounds the wait).
pub(super) async fn probe(check: &HttpCheck, addr: SocketAddrV4) -> Verdict {
    let host = check.host.clone().unwrap_or_else(|| addr.to_string());
    let request = match request(&check.path, &host) {
        Ok(request) => request,
        Err(bad) => return Verdict::down(bad),
    };
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => return Verdict::io_error(&err),
    };
    if !check.tls {
        return exchange(stream, &request, check).await;
    }
    let config = match tls_config() {
        Ok(config) => Arc::clone(config),
        Err(err) => return Verdict::down(format!("TLS setup: {err}")),
    };
    match TlsConnector::from(config).connect(server_name(&host, addr), stream).await {
        Ok(stream) => exchange(stream, &request, check).await,
        Err(err) => Verdict::down(format!("TLS: {err}")),
    }
}

/// The request for `path` with `Host: host`; refuses what would break the request line or headers.
fn request(path: &str, host: &str) -> Result<Vec<u8>, &'static str> {
    let unsafe_char = |c: char| c.is_ascii_whitespace() || c.is_control();
    if !path.starts_with('/') || path.contains(unsafe_char) {
        return Err("bad path");
    }
    if host.is_empty() || host.contains(unsafe_char) {
        return Err("bad host");
    }
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: fnat-health\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    Ok(request.into_bytes())
}

/// Sends `request` on `stream`, reads the response and judges it.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, request: &[u8], check: &HttpCheck) -> Verdict {
    let sent = async {
        stream.write_all(request).await?;
        stream.flush().await
    };
    if let Err(err) = sent.await {
        return Verdict::io_error(&err);
    }
    match read_response(&mut stream, check.digest.is_some()).await {
        Ok(response) => judge(&response, check),
        Err(err) => Verdict::io_error(&err),
    }
}

/// What was read of a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Response {
    /// The bytes read, from the status line on.
    bytes: Vec<u8>,
    /// The length of the head (status line, headers, blank line), once its end was seen.
    head_len: Option<usize>,
}

impl Response {
    /// The body read so far, cut at `Content-Length` if the head has one.
    fn body(&self) -> &[u8] {
        let Some(head_len) = self.head_len else { return &[] };
        let body = self.bytes.get(head_len..).unwrap_or_default();
        match content_length(self.bytes.get(..head_len).unwrap_or_default()) {
            Some(len) => body.get(..len).unwrap_or(body),
            None => body,
        }
    }

    /// Whether nothing more needs to be read: a bad first line, a full head (and body if
    /// `want_body`), or a cap reached.
    fn is_done(&self, want_body: bool) -> bool {
        if !looks_like_http(&self.bytes) {
            return true;
        }
        let Some(head_len) = self.head_len else { return self.bytes.len() >= HEAD_CAP };
        if !want_body {
            return true;
        }
        let body_len = self.bytes.len().saturating_sub(head_len);
        let head = self.bytes.get(..head_len).unwrap_or_default();
        body_len >= BODY_CAP || content_length(head).is_some_and(|len| body_len >= len)
    }
}

/// Reads the response until [`Response::is_done`] or EOF (a TLS peer's missing close_notify counts
/// as EOF: servers often skip it on `Connection: close`).
async fn read_response<S: AsyncRead + Unpin>(stream: &mut S, want_body: bool) -> std::io::Result<Response> {
    let mut response = Response::default();
    let mut chunk = vec![0u8; READ_CHUNK];
    while !response.is_done(want_body) {
        let len = match stream.read(&mut chunk).await {
            Ok(0) => break,
            Ok(len) => len,
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(err) => return Err(err),
        };
        let searched_from = response.bytes.len().saturating_sub(3);
        response.bytes.extend_from_slice(chunk.get(..len).unwrap_or_default());
        if response.head_len.is_none() {
            response.head_len = head_end(&response.bytes, searched_from);
        }
    }
    Ok(response)
}

/// The length of the head if `bytes` holds its end (a blank line, CRLF or bare LF), searching from
/// `from`.
fn head_end(bytes: &[u8], from: usize) -> Option<usize> {
    let tail = bytes.get(from..)?;
    let crlf = tail.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4);
    let lf = tail.windows(2).position(|w| w == b"\n\n").map(|at| at + 2);
    let end = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b)?,
    };
    Some(from + end)
}

/// Whether `bytes` may start an HTTP/1.x response (a prefix of `HTTP/1.` is given the benefit of
/// the doubt).
fn looks_like_http(bytes: &[u8]) -> bool {
    const PREFIX: &[u8] = b"HTTP/1.";
    let n = bytes.len().min(PREFIX.len());
    bytes.get(..n) == PREFIX.get(..n)
}

/// The status code of `head`'s status line, `HTTP/1.x NNN[ reason]`.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let [minor, b' ', d1, d2, d3, after @ ..] = rest else { return None };
    let digits = [*d1, *d2, *d3];
    if !minor.is_ascii_digit() || !digits.iter().all(u8::is_ascii_digit) || after.first().is_some_and(|&b| b != b' ') {
        return None;
    }
    digits.iter().try_fold(0u16, |code, &d| code.checked_mul(10)?.checked_add(u16::from(d - b'0')))
}

/// The `Content-Length` of `head`, if it has one that parses (the head need not be UTF-8).
fn content_length(head: &[u8]) -> Option<usize> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (name, value) = (line.get(..colon)?, line.get(colon + 1..)?);
        if !name.trim_ascii().eq_ignore_ascii_case(b"content-length") {
            return None;
        }
        std::str::from_utf8(value).ok()?.trim().parse().ok()
    })
}

/// The verdict on `response` for `check`.
fn judge(response: &Response, check: &HttpCheck) -> Verdict {
    if response.bytes.is_empty() {
        return Verdict::down("closed without answer");
    }
    let Some(code) = status_code(&response.bytes) else {
        return Verdict::down("garbage: not HTTP");
    };
    let wanted = if check.status.is_empty() { (200..300).contains(&code) } else { check.status.contains(&code) };
    if !wanted {
        return Verdict::down(format!("HTTP {code} (want {})", want_list(&check.status)));
    }
    if let Some(want) = &check.digest {
        if response.head_len.is_none() {
            return Verdict::down("digest mismatch: head cut short");
        }
        if !md5_hex(response.body()).eq_ignore_ascii_case(want.trim()) {
            return Verdict::down("digest mismatch");
        }
    }
    Verdict::up(format!("HTTP {code}"))
}

/// The wanted status codes in words: "2xx" or "200, 301".
fn want_list(status: &[u16]) -> String {
    if status.is_empty() {
        return "2xx".to_owned();
    }
    status.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
}

/// The MD5 of `body` in lowercase hex.
fn md5_hex(body: &[u8]) -> String {
    Md5::digest(body).iter().map(|b| format!("{b:02x}")).collect()
}

/// The TLS server name for `host` (its port, if any, removed); the address when `host` is no name.
fn server_name(host: &str, addr: SocketAddrV4) -> ServerName<'static> {
    let bare = match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    match ServerName::try_from(bare) {
        Ok(name) => name.to_owned(),
        Err(_) => ServerName::from(std::net::IpAddr::V4(*addr.ip())),
    }
}

/// The shared client configuration: ring, TLS 1.2 and 1.3, no certificate check, no resumption
/// (each check does a full handshake).
fn tls_config() -> Result<&'static Arc<ClientConfig>, &'static str> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    let built = CONFIG.get_or_init(|| {
        let provider = Arc::new(ring_provider());
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|err| err.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert))
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Arc::new(config))
    });
    built.as_ref().map_err(String::as_str)
}

/// rustls's *ring* provider. rustls 0.23.48 deprecates it for lacking post-quantum key exchange;
/// the other provider (aws-lc-rs) needs cmake and a C toolchain to build, and a health check's
/// traffic is no secret worth protecting from a future quantum computer.
#[allow(deprecated)]
pub(super) fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A certificate verifier that accepts any certificate and any handshake signature, like
/// keepalived's `SSL_GET`: a health check asks whether the service answers, not who it is.
#[derive(Debug)]
struct AcceptAnyCert;

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        ring_provider().signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_must_be_http_1x_and_three_digits() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"HTTP/1.0 503\r\n"), Some(503));
        assert_eq!(status_code(b"HTTP/1.0 404"), Some(404));
        assert_eq!(status_code(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(status_code(b"HTTP/2 200\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 2x0 OK\r\n"), None);
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }

    #[test]
    fn head_ends_at_the_first_blank_line() {
        assert_eq!(head_end(b"HTTP/1.0 200 OK\r\n\r\nbody", 0), Some(19));
        assert_eq!(head_end(b"HTTP/1.0 200 OK\n\nbody", 0), Some(17));
        assert_eq!(head_end(b"HTTP/1.0 200 OK\r\nA: b\r\n", 0), None);
    }

    #[test]
    fn body_stops_at_content_length() {
        let bytes = b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nabcdef".to_vec();
        let response = Response { head_len: head_end(&bytes, 0), bytes };
        assert_eq!(response.body(), b"ab");
        assert!(response.is_done(true));
        assert_eq!(content_length(b"HTTP/1.0 200 \xe9t\xe9\r\nX: y\r\nContent-Length : 12 \r\n\r\n"), Some(12));
        assert_eq!(content_length(b"HTTP/1.0 200 OK\r\nContent-Length: x\r\n\r\n"), None);
    }

    #[test]
    fn request_refuses_header_injection() {
        assert_eq!(request("/x\r\nEvil: 1", "h"), Err("bad path"));
        assert_eq!(request("x", "h"), Err("bad path"));
        assert_eq!(request("/", "h\n"), Err("bad host"));
        let ok = request("/health?x=1", "example.com").unwrap_or_default();
        assert!(ok.starts_with(b"GET /health?x=1 HTTP/1.0\r\nHost: example.com\r\n"));
    }

    #[test]
    fn md5_is_lowercase_hex() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }

    #[test]
    fn sni_is_the_host_name_without_port_or_the_address() {
        let addr = SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 1), 443);
        assert!(matches!(server_name("example.com:8443", addr), ServerName::DnsName(n) if n.as_ref() == "example.com"));
        assert!(matches!(server_name("10.0.0.1:443", addr), ServerName::IpAddress(_)));
        assert!(matches!(server_name("bad host!", addr), ServerName::IpAddress(_)));
    }
}
