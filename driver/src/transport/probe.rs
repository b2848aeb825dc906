//! One blocking TLS handshake before a run: a certificate that does not verify, a server that
//! stalls mid-handshake or answers with something that is not TLS is then one clear line before
//! any load, not the same failure counted once per connection.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};

use super::{Failure, TlsClient};

/// How long the probe waits after its handshake for the server to refuse it: in TLS 1.3 the
/// client is done before the server has checked its certificate, so a server that wants one
/// says no (an alert) only after — one round trip later.
const REFUSAL_WAIT: Duration = Duration::from_millis(200);

/// Connects to `addr` and completes one handshake within `timeout`, then says goodbye and
/// reads what the server answers for a moment: a refusal sent after the handshake is one.
pub fn handshake(client: &TlsClient, addr: SocketAddr, timeout: Duration) -> Result<(), Failure> {
    // Its own session is not offered to the run's connections: the first of them makes a full
    // handshake, as it would without the probe.
    let mut s = connect(&client.without_resumption(), addr, timeout)?;
    s.conn.send_close_notify();
    let deadline = Instant::now() + REFUSAL_WAIT.min(timeout);
    let mut sink = [0u8; 4096];
    loop {
        // One deadline for the whole wait: a server that keeps talking cannot hold the run.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.sock.set_read_timeout(Some(left)).is_err() {
            return Ok(());
        }
        match std::io::Read::read(&mut s, &mut sink) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(Failure::io(&e)),
            // Timed out, reset or closed without close_notify: no refusal came.
            Err(_) => return Ok(()),
        }
    }
}

/// A blocking TLS connection to `addr`, its handshake done within `timeout` (reads and writes
/// then time out after `timeout` too): for the probe, and for reading a nines-server's
/// counters over TLS.
pub fn connect(
    client: &TlsClient,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<StreamOwned<ClientConnection, TcpStream>, Failure> {
    let started = Instant::now();
    let mut tcp = TcpStream::connect_timeout(&addr, timeout).map_err(|e| Failure::io(&e))?;
    let mut tls = ClientConnection::new(client.config.clone(), client.server_name.clone())
        .map_err(|e| Failure::from_rustls(&e))?;
    while tls.is_handshaking() {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(Failure::timed_out(timeout));
        }
        let _ = tcp.set_read_timeout(Some(left));
        let _ = tcp.set_write_timeout(Some(left));
        match tls.complete_io(&mut tcp) {
            Ok((0, 0)) if tls.is_handshaking() => return Err(Failure::closed_mid_handshake()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Failure::timed_out(timeout))
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(Failure::closed_mid_handshake())
            }
            Err(e) => return Err(Failure::io(&e)),
        }
    }
    let _ = tcp.set_read_timeout(Some(timeout));
    let _ = tcp.set_write_timeout(Some(timeout));
    Ok(StreamOwned::new(tls, tcp))
}
