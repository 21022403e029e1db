//! The graceful binary upgrade's pieces that are Weir's own (Pingora hands the proxy listeners
//! over itself; see docs/operating.md): the admin listener, which Weir binds and Pingora does not
//! know, is bound with `SO_REUSEPORT` so the new process can bind it while the old one still
//! serves; the upgrade socket's directory is checked before Pingora would panic on it; and the
//! new process tells systemd it is the unit's main process once it listens.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pingora::server::configuration::Opt;
use socket2::{Domain, Protocol, Socket, Type};

use crate::state::Gateway;

/// How often the systemd notifier looks at whether the proxy listens.
const LISTEN_POLL: Duration = Duration::from_millis(20);

/// Pingora's command-line options for this run: only `upgrade` is ours to set.
pub fn pingora_opt(upgrade: bool) -> Opt {
    Opt {
        upgrade,
        ..Opt::default()
    }
}

/// A listener on `addr` that another process (the next or the previous binary, same user) may
/// bind too while this one is open. Both accept until the old one exits; a connection waiting
/// in the old socket's queue at that moment is reset, which a prober retries.
pub fn bind_shared(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Pingora binds the upgrade socket with `unwrap`: say clearly what is wrong instead.
pub fn check_socket_dir(socket: &Path) -> Result<(), String> {
    let dir = match socket.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "--upgrade-socket {}: {} is not a directory",
            socket.display(),
            dir.display()
        )),
        Err(e) => Err(format!(
            "--upgrade-socket {}: directory {}: {e}",
            socket.display(),
            dir.display()
        )),
    }
}

/// How long a successor started on SIGUSR2 has to bind the upgrade socket.
const SUCCESSOR_START: Duration = Duration::from_secs(10);

/// SIGUSR2 (nginx's binary upgrade, and what systemd can send): start this process's command
/// line again with `--upgrade` (the binary now at that path: the new version), as a child in the
/// same cgroup, user and sandbox, and wait until it waits on `socket`. Returns its pid; an error
/// when it cannot start or exits first (the caller then keeps serving).
pub async fn start_successor(socket: &Path) -> Result<u32, String> {
    let mut rest: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if rest.is_empty() {
        return Err("no argv[0] to start again".to_string());
    }
    let program = rest.remove(0);
    if !rest.iter().any(|a| a == "--upgrade") {
        rest.push("--upgrade".into());
    }
    check_socket_dir(socket)?;
    // A socket file left from an earlier hand-over would look like the successor's.
    let _ = std::fs::remove_file(socket);
    let mut child = std::process::Command::new(&program)
        .args(&rest)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.to_string_lossy()))?;
    let deadline = tokio::time::Instant::now() + SUCCESSOR_START;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the successor exited with {status} before taking over"
            ));
        }
        if socket.exists() {
            return Ok(child.id());
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "the successor did not open {} within {} s",
                socket.display(),
                SUCCESSOR_START.as_secs()
            ));
        }
        tokio::time::sleep(LISTEN_POLL).await;
    }
}

/// Under systemd (`$NOTIFY_SOCKET` set), a thread that sends `READY=1` once the proxy listens;
/// after an upgrade also `MAINPID=`, so systemd follows the new process and does not stop the
/// unit when the old one exits.
pub fn notify_systemd_when_listening(gateway: &Arc<Gateway>, upgraded: bool) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let gateway = Arc::clone(gateway);
    let spawned = std::thread::Builder::new()
        .name("weir-sd-notify".to_string())
        .spawn(move || {
            while !gateway.is_listening() {
                std::thread::sleep(LISTEN_POLL);
            }
            let main_pid = upgraded.then(std::process::id);
            crate::sd_notify::notify(&crate::sd_notify::message(true, main_pid));
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start the systemd notifier");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_process_can_bind_the_admin_address_while_the_first_listens() {
        let first = bind_shared("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = first.local_addr().unwrap();
        let second = bind_shared(addr).unwrap();
        assert_eq!(second.local_addr().unwrap(), addr);
        // A plain bind (what a stray second gateway would do) is still refused.
        assert!(std::net::TcpListener::bind(addr).is_err());
    }

    #[test]
    fn a_missing_socket_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_socket_dir(&dir.path().join("upgrade.sock")), Ok(()));
        let missing = dir.path().join("nope/upgrade.sock");
        let error = check_socket_dir(&missing).unwrap_err();
        assert!(error.contains("nope"), "{error}");
        assert_eq!(check_socket_dir(Path::new("upgrade.sock")), Ok(()));
    }
}
