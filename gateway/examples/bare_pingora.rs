//! The benchmark baseline: a Pingora proxy with nothing but `upstream_peer` (one fixed upstream,
//! keep-alive pooling as Pingora does by default). `loadtest/bench/proxy-bench.sh` measures Weir
//! against it to show what routing, selection, health and metrics cost per request.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;

use async_trait::async_trait;
use clap::Parser;
use pingora::prelude::HttpPeer;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::Server;
use pingora::server::configuration::ServerConf;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:18082")]
    listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:18001")]
    upstream: SocketAddr,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Ablation: set the peer timeouts Weir sets (connect, read, write, idle), to measure their
    /// cost apart from Weir's own logic.
    #[arg(long)]
    timeouts: bool,
    /// Ablation: add the request headers Weir adds (x-request-id, traceparent, x-forwarded-for).
    #[arg(long)]
    headers: bool,
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

fn main() {
    let args = Args::parse();
    let conf = ServerConf {
        threads: args.threads,
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
