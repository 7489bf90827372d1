//! Nagle's algorithm off on the process's PostgreSQL connections.
//!
//! sqlx 0.9.0 no longer sets `TCP_NODELAY` on the sockets it opens
//! (transact-rs/sqlx#4335). A statement larger than one TCP segment (a
//! multi-row insert, a long `IN` list) then holds its last bytes back until
//! the server acknowledges the rest, and the server delays that
//! acknowledgement by ~40 ms on Linux: audit's 100-event append on
//! PostgreSQL took 48 ms instead of ~2 ms (BENCHMARKS.md). sqlx offers no
//! hook to its socket, so after each new connection this finds the process's
//! TCP sockets whose peer is the database's port and sets the option on a
//! duplicate of each descriptor (`pidfd_getfd`: a second handle to the same
//! socket, no unsafe code). Remove once sqlx sets it again.

use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Sets `TCP_NODELAY` on every TCP socket of this process connected to
/// `port`; how many it found. Setting it twice is harmless.
pub fn on_sockets_to(port: u16) -> std::io::Result<usize> {
    use rustix::process::{PidfdFlags, PidfdGetfdFlags, getpid, pidfd_getfd, pidfd_open};
    let me = pidfd_open(getpid(), PidfdFlags::empty())?;
    let mut set = 0;
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let Ok(entry) = entry else { continue };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        // A descriptor closed since the listing is simply gone.
        let Ok(socket) = pidfd_getfd(&me, fd, PidfdGetfdFlags::empty()) else {
            continue;
        };
        let peer = rustix::net::getpeername(&socket)
            .ok()
            .flatten()
            .and_then(|a| SocketAddr::try_from(a).ok());
        if peer.is_some_and(|p| p.port() == port) {
            rustix::net::sockopt::set_tcp_nodelay(&socket, true)?;
            set += 1;
        }
    }
    Ok(set)
}

/// The TCP port a PostgreSQL URL connects to, or `None` when it connects
/// through a Unix socket (no Nagle there).
pub fn port_of(url: &str) -> Option<u16> {
    use std::str::FromStr;
    let options = sea_orm::sqlx::postgres::PgConnectOptions::from_str(url).ok()?;
    (options.get_socket().is_none() && !options.get_host().starts_with('/'))
        .then(|| options.get_port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_comes_from_the_url_and_a_unix_socket_has_none() {
        assert_eq!(port_of("postgres://u@127.0.0.1:5433/db"), Some(5433));
        assert_eq!(port_of("postgres://u@db.example/db"), Some(5432));
        assert_eq!(
            port_of("postgres://u@localhost/db?host=/var/run/postgresql"),
            None
        );
    }

    #[tokio::test]
    async fn a_socket_to_the_port_gets_nagle_turned_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| unreachable!("{e}"))
            .port();
        let client = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        let (_served, _) = listener
            .accept()
            .await
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(!client.nodelay().unwrap_or(true), "Nagle is on by default");
        let found = on_sockets_to(port).unwrap_or_else(|e| unreachable!("{e}"));
        // The client's socket; the accepted one's peer is the client's port.
        assert_eq!(found, 1);
        assert!(client.nodelay().unwrap_or(false));
    }
}
