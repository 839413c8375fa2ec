//! `TCP_CHECK`: up when the server accepts a TCP connection, which is then closed.

use std::net::SocketAddrV4;

use tokio::net::TcpStream;

use super::Verdict;

/// Connects to `addr` and closes the connection at once.
pub(super) async fn probe(addr: SocketAddrV4) -> Verdict {
    match TcpStream::connect(addr).await {
        Ok(stream) => {
            drop(stream);
            Verdict::up("connected")
        }
        Err(err) => Verdict::io_error(&err),
    }
}
