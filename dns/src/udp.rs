//! weir-dns's UDP serving loop: worker threads on one socket, each receiving a batch of
//! datagrams with one `recvmmsg`, answering each into a buffer it keeps ([`respond`]), and
//! sending the replies with one `sendmmsg`, as Knot and NSD do. It replaces hickory-server's
//! UDP path (a `recvfrom`, a task and a `sendto` per query); TCP stays on hickory-server. A send
//! that fails loses that one reply (UDP may); sends never wait, so a client that does not read
//! cannot stall the others. A receive error other than an interruption is logged and the worker
//! goes on.

mod respond;

use std::io::IoSliceMut;
use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg,
};

pub use respond::respond;

use crate::handler::{Handler, MAX_UDP_PAYLOAD};
use crate::metrics::QueryCounters;

/// Datagrams received (and replies sent) per system call at most.
const BATCH: usize = 32;
/// The largest datagram read, as hickory reads (a longer one is cut and then FORMERR).
const RECEIVE_SIZE: usize = 4_096;
/// Pause after a receive error, so a persistent one does not spin a core.
const ERROR_PAUSE: Duration = Duration::from_millis(10);

/// Starts `workers` threads (at least one) answering on `socket`, for the life of the process.
pub fn serve(socket: UdpSocket, handler: Arc<Handler>, workers: usize) -> std::io::Result<()> {
    let socket = Arc::new(socket);
    for index in 0..workers.max(1) {
        let (socket, handler) = (Arc::clone(&socket), Arc::clone(&handler));
        std::thread::Builder::new()
            .name(format!("dns-udp-{index}"))
            .spawn(move || Worker::new().run(&socket, &handler))?;
    }
    Ok(())
}

/// One thread's buffers, allocated once.
struct Worker {
    received: Vec<Vec<u8>>,
    replies: Vec<Vec<u8>>,
    /// The source of each datagram of the current batch and whether it gets a reply.
    sources: Vec<(SockaddrStorage, bool)>,
    lengths: Vec<usize>,
    receive_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    counters: QueryCounters,
}

impl Worker {
    fn new() -> Worker {
        Worker {
            received: vec![vec![0; RECEIVE_SIZE]; BATCH],
            replies: (0..BATCH)
                .map(|_| Vec::with_capacity(usize::from(MAX_UDP_PAYLOAD)))
                .collect(),
            sources: Vec::with_capacity(BATCH),
            lengths: Vec::with_capacity(BATCH),
            receive_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
            counters: QueryCounters::default(),
        }
    }

    fn run(mut self, socket: &UdpSocket, handler: &Handler) {
        loop {
            match self.receive(socket) {
                Ok(()) => {}
                Err(Errno::EINTR) => continue,
                Err(error) => {
                    tracing::warn!(%error, "udp receive failed");
                    std::thread::sleep(ERROR_PAUSE);
                    continue;
                }
            }
            self.answer(handler);
            self.send(socket);
        }
    }

    /// Blocks until at least one datagram is there, then takes what else is queued (up to
    /// [`BATCH`]).
    fn receive(&mut self, socket: &UdpSocket) -> Result<(), Errno> {
        self.sources.clear();
        self.lengths.clear();
        let mut slices: Vec<[IoSliceMut<'_>; 1]> = self
            .received
            .iter_mut()
            .map(|buffer| [IoSliceMut::new(buffer)])
            .collect();
        let results = recvmmsg(
            socket.as_raw_fd(),
            &mut self.receive_headers,
            slices.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )?;
        for message in results {
            let Some(address) = message.address else {
                continue;
            };
            self.sources.push((address, false));
            self.lengths.push(message.bytes);
        }
        Ok(())
    }

    fn answer(&mut self, handler: &Handler) {
        for (index, (address, reply)) in self.sources.iter_mut().enumerate() {
            let Some(source) = socket_addr(address) else {
                continue;
            };
            let packet = &self.received[index][..self.lengths[index].min(RECEIVE_SIZE)];
            *reply = respond(
                handler,
                &mut self.counters,
                packet,
                source,
                &mut self.replies[index],
            );
        }
    }

    /// Sends the batch's replies; one that cannot be sent is skipped (and lost).
    fn send(&mut self, socket: &UdpSocket) {
        let mut slices = Vec::with_capacity(self.sources.len());
        let mut addresses = Vec::with_capacity(self.sources.len());
        for (index, (address, reply)) in self.sources.iter().enumerate() {
            if *reply {
                slices.push([std::io::IoSlice::new(&self.replies[index])]);
                addresses.push(Some(*address));
            }
        }
        let mut start = 0;
        while start < slices.len() {
            let sent = sendmmsg(
                socket.as_raw_fd(),
                &mut self.send_headers,
                &slices[start..],
                &addresses[start..],
                [] as [ControlMessage<'_>; 0],
                MsgFlags::MSG_DONTWAIT,
            );
            match sent {
                Ok(results) => start += results.count().max(1),
                Err(Errno::EINTR) => {}
                Err(error) => {
                    tracing::debug!(%error, "udp reply not sent");
                    start += 1;
                }
            }
        }
    }
}

/// A received source address as a `SocketAddr` (`None` for a family other than IP).
fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4(SocketAddrV4::from(*v4)));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6(SocketAddrV6::from(*v6)))
}

/// How many workers by default: one per core this process may run on.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}
