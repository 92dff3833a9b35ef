//! Loopback addresses and ports.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::process::Proc;

/// A TCP port that was free a moment ago. Only for programs that cannot pick their own port
/// (`bitfleet-server --listen`); peers use port 0 and report theirs in `started`.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// Waits until `proc` accepts TCP connections on 127.0.0.1:`port`, for programs that print no
/// `started` line (`bitfleet-server`).
pub fn wait_listening(proc: &mut Proc, port: u16, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect(loopback(port)).is_err() {
        if !proc.is_running() {
            return Err(proc.failure(&format!("exited before listening on port {port}")));
        }
        if Instant::now() >= deadline {
            return Err(proc.failure(&format!("not listening on port {port} after {timeout:?}")));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
