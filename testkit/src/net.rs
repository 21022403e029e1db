//! Loopback addresses for processes under test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

/// A free loopback port (bound, then released for the process under test to take). Another test
/// can take it first; [`crate::retry_port_races`] starts again with new ports when that happens.
pub fn free_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr")
}

/// `127.0.0.<last_octet>`: another client address on loopback.
pub fn loopback(last_octet: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet))
}
