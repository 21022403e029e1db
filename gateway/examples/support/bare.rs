//! The bare Pingora proxy of the benchmarks: `upstream_peer` to one fixed upstream, and, for the
//! ablation, the timeouts and request headers Weir sets. Shared by `bare_pingora` and
//! `alloc_count`.

use std::net::SocketAddr;

use async_trait::async_trait;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::Server;
use pingora::server::configuration::ServerConf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "127.0.0.1:18082")]
    pub listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:18001")]
    pub upstream: SocketAddr,
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Ablation: set the peer timeouts Weir sets (connect, read, write, idle), to measure their
    /// cost apart from Weir's own logic.
    #[arg(long)]
    pub timeouts: bool,
    /// Ablation: add the request headers Weir adds (x-request-id, traceparent, x-forwarded-for).
    #[arg(long)]
    pub headers: bool,
    /// Runtime: one single-threaded runtime per thread instead of a work-stealing one
    /// (Pingora's `work_stealing = false`).
    #[arg(long)]
    pub no_work_stealing: bool,
    /// Runtime: accept tasks per listening socket (Pingora's `listener_tasks_per_fd`).
    #[arg(long, default_value_t = 1)]
    pub listener_tasks: usize,
}

struct Bare {
    upstream: SocketAddr,
    timeouts: bool,
    headers: bool,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> pingora::Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.upstream, false, String::new());
        if self.timeouts {
            peer.options.connection_timeout = Some(std::time::Duration::from_secs(1));
            peer.options.read_timeout = Some(std::time::Duration::from_secs(10));
            peer.options.write_timeout = Some(std::time::Duration::from_secs(10));
            peer.options.idle_timeout = Some(std::time::Duration::from_secs(60));
        }
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        req: &mut pingora::http::RequestHeader,
        _ctx: &mut (),
    ) -> pingora::Result<()> {
        if self.headers {
            req.insert_header("x-request-id", "0123456789abcdef0123456789abcdef")?;
            req.insert_header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )?;
            req.insert_header("x-forwarded-for", "127.0.0.1")?;
        }
        Ok(())
    }
}

/// Serve the bare proxy until a signal stops it.
pub fn run(args: Args) {
    let conf = ServerConf {
        threads: args.threads,
        work_stealing: !args.no_work_stealing,
        listener_tasks_per_fd: args.listener_tasks,
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora::proxy::http_proxy_service(
        &server.configuration,
        Bare {
            upstream: args.upstream,
            timeouts: args.timeouts,
            headers: args.headers,
        },
    );
    proxy.add_tcp(&args.listen.to_string());
    server.add_service(proxy);
    server.run_forever()
}
