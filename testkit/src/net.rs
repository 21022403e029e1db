//! Loopback addresses for processes under test.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Mutex;

/// Ports this process has handed out: the kernel may give a just-released port again at once,
/// and two listeners of one process under test (its proxy and admin ports) must differ.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A free loopback port (bound, then released for the process under test to take), never one
/// this process handed out before. Another test can take it first; [`crate::retry_port_races`]
/// starts again with new ports when that happens.
pub fn free_addr() -> SocketAddr {
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local addr");
        if handed_out.insert(addr.port()) {
            return addr;
        }
    }
}

/// `127.0.0.<last_octet>`: another client address on loopback.
pub fn loopback(last_octet: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet))
}
