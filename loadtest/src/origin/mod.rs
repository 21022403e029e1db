//! The `origin` subcommand: simulated regional origin servers for tests, demos and benchmarks.
//!
//! One process serves one or more listeners (each its own named origin with
//! its own fault and counters), all in one region. See `handler` for the
//! endpoints and `fault` for the runtime fault state.

mod fault;
mod handler;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use handler::Origin;

/// Command-line arguments of `weir-loadtest origin`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Endpoints (per listener):\n  \
    ANY  /*               200, headers x-weir-origin-region, x-weir-origin; echoes x-request-id and traceparent\n  \
    GET  /healthz         200 \"ok\" (or the fault's status)\n  \
    POST /_origin/fault   set the fault: {\"status\":503,\"delay_ms\":200,\"fail_ratio\":0.5} (all optional)\n  \
    GET  /_origin/fault   current fault as JSON; DELETE clears it\n  \
    GET  /_origin/stats   {\"requests\":N,\"healthz\":M}; DELETE resets")]
pub struct OriginArgs {
    /// Address to listen on; repeat to serve several origins from one process.
    #[arg(long = "listen", value_name = "ADDR", required = true)]
    listen: Vec<SocketAddr>,

    /// Origin name, paired by position with --listen (default: the listen port).
    #[arg(long = "name", value_name = "NAME")]
    name: Vec<String>,

    /// Region reported by every listener of this process.
    #[arg(long, value_name = "REGION", default_value = "local")]
    region: String,

    /// Tokio worker threads.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,

    /// Size in bytes of the 200 response body.
    #[arg(long, value_name = "BYTES", default_value_t = 64)]
    body_size: usize,

    /// Do not echo x-request-id and traceparent back, so every proxy in a benchmark gets the same
    /// response size from the origin.
    #[arg(long)]
    no_echo: bool,
}

/// Why the origin could not run.
#[derive(Debug)]
pub enum Error {
    /// Arguments that clap accepts but that make no sense together.
    Args(String),
    /// A listen address could not be bound.
    Bind { addr: SocketAddr, source: io::Error },
    /// Runtime setup or signal handling failed.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Args(msg) => write!(f, "{msg}"),
            Error::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            Error::Io(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::Io(err)
    }
}

/// Runs the origin(s) until SIGTERM or SIGINT.
pub fn run(args: OriginArgs) -> Result<(), Error> {
    if args.name.len() > args.listen.len() {
        return Err(Error::Args(format!(
            "{} --name given for {} --listen; names pair with listen addresses by position",
            args.name.len(),
            args.listen.len()
        )));
    }
    if args.threads == 0 {
        return Err(Error::Args("--threads must be at least 1".to_owned()));
    }
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    let result = runtime.block_on(serve(args));
    // Open keep-alive connections are simply dropped.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(args: OriginArgs) -> Result<(), Error> {
    // Bind everything first: one bad address fails the process before any listener serves.
    let mut listeners = Vec::with_capacity(args.listen.len());
    for &addr in &args.listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        listeners.push(listener);
    }
    // Install signal handlers before announcing, so a supervisor that reacts to the
    // "listening" line can already stop us cleanly.
    let shutdown = shutdown_signal()?;

    for (index, listener) in listeners.into_iter().enumerate() {
        let local = listener.local_addr()?;
        let name = args
            .name
            .get(index)
            .cloned()
            .unwrap_or_else(|| local.port().to_string());
        let origin =
            Origin::new(&name, &args.region, args.body_size, !args.no_echo).map_err(Error::Args)?;
        eprintln!("origin {name} ({}) listening on {local}", args.region);
        tokio::spawn(accept_loop(listener, Arc::new(origin)));
    }

    shutdown.await
}

/// Resolves on the first SIGTERM or SIGINT.
fn shutdown_signal() -> Result<impl Future<Output = Result<(), Error>>, Error> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    })
}

async fn accept_loop(listener: TcpListener, origin: Arc<Origin>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // Typically EMFILE under heavy load: back off instead of spinning.
                eprintln!("origin: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Best effort: a failure only costs latency.
        let _ = stream.set_nodelay(true);
        let origin = Arc::clone(&origin);
        tokio::spawn(async move {
            let service = service_fn(move |req| handler::handle(Arc::clone(&origin), req));
            // HTTP/1.1 keep-alive, or HTTP/2 when the client opens with its preface (h2c with
            // prior knowledge). Connection errors (client reset, bad request) end that
            // connection only.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
