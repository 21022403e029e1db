//! A snapshot compiled from a config text, and requests routed on it, for the unit tests of the
//! request modules (test builds only).

use std::sync::Arc;
use std::time::Instant;

use http::HeaderValue;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::endpoint::{EndpointRegistry, EndpointState};
use crate::metrics::Metrics;
use crate::request::attempt::{Attempts, Target};
use crate::runtime::{RouteEntry, UpstreamRuntime};
use crate::snapshot::{Snapshot, compile_text};
use crate::trace_ctx::RequestId;

/// One upstream `api` with one pool of loopback endpoints, one route to it, and the metrics
/// the snapshot's handles were bound to.
pub(crate) struct Fixture {
    pub snapshot: Snapshot,
    pub metrics: Metrics,
    pub id: RequestId,
}

impl Fixture {
    /// `upstream` and `route` are extra keys of `[upstreams.api]` and of the route.
    pub(crate) fn new(upstream: &str, route: &str, ports: &[u16]) -> Self {
        let endpoints: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
        let text = format!(
            "[upstreams.api]\n{upstream}\n[[upstreams.api.pools]]\nregion = \"r\"\n\
             endpoints = [{}]\n[[routes]]\nupstream = \"api\"\n{route}\n",
            endpoints.join(", ")
        );
        let metrics = Metrics::new().expect("metrics");
        let snapshot = compile_text(
            &text,
            1,
            &EndpointRegistry::default(),
            &metrics,
            Instant::now(),
        );
        Self {
            snapshot,
            metrics,
            id: RequestId {
                value: HeaderValue::from_static("req-1"),
                from_client: false,
            },
        }
    }

    pub(crate) fn route(&self) -> Arc<RouteEntry> {
        Arc::clone(
            self.snapshot
                .router
                .find("example.com", "/")
                .expect("the route"),
        )
    }

    pub(crate) fn upstream(&self) -> &UpstreamRuntime {
        &self.snapshot.upstreams["api"]
    }

    pub(crate) fn endpoint(&self, i: usize) -> &Arc<EndpointState> {
        &self.upstream().pools[0].endpoints[i]
    }

    /// A request routed to the route, arrived at `arrived`.
    pub(crate) fn request(&self, arrived: Instant) -> Attempts {
        let mut attempts = Attempts::new();
        attempts.routed(self.route());
        attempts.start_clock(arrived);
        attempts
    }

    /// `upstream_peer`'s steps: the deadline, a pending-connect slot, an endpoint.
    pub(crate) fn start(&self, attempts: &mut Attempts, now: Instant) -> Target {
        let remaining = attempts.time_left(now, &self.metrics).expect("time left");
        attempts
            .hold_connect_slot(&self.metrics)
            .expect("a pending-connect slot");
        attempts
            .start(
                remaining,
                now,
                &mut StdRng::seed_from_u64(7),
                &self.id,
                &self.metrics,
            )
            .expect("an endpoint")
    }
}
