//! systemd's readiness protocol (`sd_notify`): a datagram to `$NOTIFY_SOCKET` saying the gateway
//! is ready, and after a binary upgrade that it is the unit's main process now. Without
//! `$NOTIFY_SOCKET` (not run by systemd, or not `Type=notify`) nothing is sent; a send that fails
//! is logged and otherwise ignored: systemd's own start timeout is the backstop.

use std::os::unix::net::UnixDatagram;

/// What to tell systemd, as `KEY=value` lines.
pub fn message(ready: bool, main_pid: Option<u32>) -> String {
    let mut lines = Vec::new();
    if let Some(pid) = main_pid {
        lines.push(format!("MAINPID={pid}"));
    }
    if ready {
        lines.push("READY=1".to_string());
    }
    lines.join("\n")
}

/// Sends `text` to `$NOTIFY_SOCKET`, if systemd set one; returns whether it was sent.
pub fn notify(text: &str) -> bool {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return false;
    };
    match send(&path.to_string_lossy(), text) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, socket = %path.to_string_lossy(), "sd_notify failed");
            false
        }
    }
}

/// A path, or `@name` for a socket in the abstract namespace (as systemd passes it).
fn send(socket: &str, text: &str) -> std::io::Result<()> {
    let datagram = UnixDatagram::unbound()?;
    match socket.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            datagram.send_to_addr(text.as_bytes(), &addr)?;
        }
        None => {
            datagram.send_to(text.as_bytes(), socket)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgraded_process_claims_the_main_pid_before_it_says_ready() {
        assert_eq!(message(true, None), "READY=1");
        assert_eq!(message(true, Some(42)), "MAINPID=42\nREADY=1");
        assert_eq!(message(false, Some(7)), "MAINPID=7");
    }

    #[test]
    fn the_message_reaches_a_path_socket_and_an_abstract_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        send(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("weir-sd-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        send(&format!("@{name}"), "MAINPID=1").unwrap();
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"MAINPID=1");
    }
}
