//! The background task that resolves the endpoint names of the running config with
//! `hickory-resolver` (never on the request path): each name when its answer's TTL ends (the
//! policy is `names::schedule`), the answers published to `Gateway::names`, and the running
//! version compiled again when one changed, so pools follow their names while the addresses
//! that stay keep their state. A failed lookup keeps the last good addresses, and is logged
//! and counted (`weir_upstream_resolutions_total{name,result}`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use weir_config::{AddressFamily, Config, ResolverSettings};

use crate::names::schedule::Outcome;
use crate::names::{Lookup, NameState};
use crate::reload;
use crate::state::Gateway;

/// How often the task looks at the running config for names added or removed (and at most
/// how long it sleeps while a name is due later).
const POLL: Duration = Duration::from_millis(250);

pub struct NameResolver {
    pub gateway: Arc<Gateway>,
}

#[async_trait]
impl BackgroundService for NameResolver {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut names = Resolving::default();
        loop {
            let wait = names.step(&self.gateway).await;
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// The task's state: each name's schedule and last good answer, and the resolver built from
/// the settings it was built with.
#[derive(Default)]
struct Resolving {
    names: BTreeMap<String, NameState>,
    client: Option<(ResolverSettings, TokioResolver)>,
}

impl Resolving {
    /// Follows the running config's names, looks up those that are due, publishes what changed;
    /// returns how long to sleep.
    async fn step(&mut self, gateway: &Gateway) -> Duration {
        let snapshot = gateway.snapshot();
        let settings = &snapshot.config.node.resolver;
        let wanted = hosts(&snapshot.config);
        let now = Instant::now();
        self.follow_settings(settings, now);
        let before = self.names.len();
        let metrics = &gateway.metrics;
        self.names.retain(|host, _| {
            let keep = wanted.contains(host);
            if !keep {
                let _ = metrics
                    .upstream_resolved_addresses
                    .remove_label_values(&[host]);
                for result in ["ok", "empty", "error"] {
                    let _ = metrics
                        .upstream_resolutions
                        .remove_label_values(&[host, result]);
                }
            }
            keep
        });
        let removed = self.names.len() < before;
        for host in &wanted {
            self.names
                .entry(host.clone())
                .or_insert_with(|| NameState::new(now));
        }
        let mut changes = Vec::new();
        if self.names.values().any(|name| name.is_due(now)) {
            match self.client(settings) {
                Ok(client) => changes = self.resolve_due(client, settings, gateway).await,
                // Each due name's lookup failed: counted, logged, and tried again after its
                // backoff (with the resolver built afresh), not every poll.
                Err(error) => self.fail_due(&error, settings, gateway),
            }
        }
        if removed || !changes.is_empty() {
            gateway.names.update(changes, |host| wanted.contains(host));
            reload::republish_resolved(gateway, Instant::now());
        }
        let next = self.names.values().map(NameState::next_at).min();
        next.map_or(POLL, |at| at.saturating_duration_since(Instant::now()))
            .min(POLL)
    }

    /// Every name is asked again at once when the settings changed (a reload), with a
    /// resolver built for the new ones.
    fn follow_settings(&mut self, settings: &ResolverSettings, now: Instant) {
        if self
            .client
            .as_ref()
            .is_some_and(|(built_for, _)| built_for != settings)
        {
            self.client = None;
            self.names.values_mut().for_each(|name| name.ask_now(now));
        }
    }

    /// The resolver for `settings`, built when there is none yet (or the settings changed:
    /// see `follow_settings`).
    fn client(&mut self, settings: &ResolverSettings) -> Result<TokioResolver, String> {
        if let Some((_, client)) = &self.client {
            return Ok(client.clone());
        }
        let client = build(settings)?;
        self.client = Some((settings.clone(), client.clone()));
        Ok(client)
    }

    /// No resolver could be built: every due name's lookup counts as failed.
    fn fail_due(&mut self, error: &str, settings: &ResolverSettings, gateway: &Gateway) {
        let now = Instant::now();
        for (host, state) in &mut self.names {
            if state.is_due(now) {
                let outcome = state.record(Lookup::Failed, settings, now);
                let why = format!("no resolver: {error}");
                observe(gateway, host, state, &outcome, Some(&why));
            }
        }
    }

    /// Looks up every due name at once, each within `settings.timeout`; returns the names whose
    /// addresses changed.
    async fn resolve_due(
        &mut self,
        client: TokioResolver,
        settings: &ResolverSettings,
        gateway: &Gateway,
    ) -> Vec<(String, Arc<[std::net::IpAddr]>)> {
        let now = Instant::now();
        let mut lookups = tokio::task::JoinSet::new();
        for (host, state) in &self.names {
            if state.is_due(now) {
                let (client, host) = (client.clone(), host.clone());
                lookups.spawn(look_up(client, host, settings.timeout));
            }
        }
        let mut changes = Vec::new();
        while let Some(done) = lookups.join_next().await {
            let Ok((host, lookup, error)) = done else {
                continue; // a panicked lookup: asked again at the next step
            };
            let Some(state) = self.names.get_mut(&host) else {
                continue;
            };
            let outcome = state.record(lookup, settings, Instant::now());
            observe(gateway, &host, state, &outcome, error.as_deref());
            if let Some(addresses) = outcome.changed {
                changes.push((host, addresses));
            }
        }
        changes
    }
}

/// Counts and logs one lookup's outcome.
fn observe(
    gateway: &Gateway,
    host: &str,
    state: &NameState,
    outcome: &Outcome,
    error: Option<&str>,
) {
    let metrics = &gateway.metrics;
    metrics
        .upstream_resolutions
        .with_label_values(&[host, outcome.result])
        .inc();
    let kept = state.last_good().map_or(0, |addresses| addresses.len());
    metrics
        .upstream_resolved_addresses
        .with_label_values(&[host])
        .set(kept as i64);
    if outcome.result != "ok" {
        tracing::warn!(
            name = host,
            result = outcome.result,
            error = error.unwrap_or("no address"),
            failures = state.failures(),
            kept_addresses = kept,
            "endpoint name lookup failed; keeping the last good addresses"
        );
    }
    if outcome.dropped > 0 {
        tracing::warn!(
            name = host,
            dropped = outcome.dropped,
            kept_addresses = kept,
            "endpoint name answered more addresses than resolver.max_addresses; the rest are ignored"
        );
    }
    if let Some(addresses) = &outcome.changed {
        let shown: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        tracing::info!(name = host, addresses = ?shown, "endpoint name resolved to new addresses");
    }
}

/// One lookup of `host`, bounded by `timeout`: the answer, or `Failed` and why.
async fn look_up(
    client: TokioResolver,
    host: String,
    timeout: Duration,
) -> (String, Lookup, Option<String>) {
    // Asked as a fully qualified name: no search domains appended.
    let fqdn = format!("{host}.");
    let (lookup, error) = match tokio::time::timeout(timeout, client.lookup_ip(fqdn.as_str())).await
    {
        Err(_) => (
            Lookup::Failed,
            Some(format!("no answer within {timeout:?}")),
        ),
        Ok(Err(error)) => (Lookup::Failed, Some(error.to_string())),
        Ok(Ok(answer)) => {
            let ttl = answer
                .valid_until()
                .saturating_duration_since(Instant::now());
            let ips = answer.iter().collect();
            (Lookup::Answer { ips, ttl }, None)
        }
    };
    (host, lookup, error)
}

/// A hickory resolver for `settings`: its nameservers (UDP, then TCP), or `/etc/resolv.conf`'s.
/// No cache of its own: the schedule asks each name again only when its TTL ends.
fn build(settings: &ResolverSettings) -> Result<TokioResolver, String> {
    let provider = TokioRuntimeProvider::default();
    let mut builder = if settings.nameservers.is_empty() {
        TokioResolver::builder(provider).map_err(|e| format!("/etc/resolv.conf: {e}"))?
    } else {
        let servers = settings
            .nameservers
            .iter()
            .map(|server| {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                NameServerConfig::new(server.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
            .with_options(ResolverOpts::default())
    };
    let options: &mut ResolverOpts = builder.options_mut();
    options.cache_size = 0;
    // Two tries within the task's own bound on the whole lookup.
    options.timeout = (settings.timeout / 2).max(Duration::from_millis(50));
    options.attempts = 1;
    options.ip_strategy = match settings.family {
        AddressFamily::Any => LookupIpStrategy::Ipv4AndIpv6,
        AddressFamily::Ipv4 => LookupIpStrategy::Ipv4Only,
        AddressFamily::Ipv6 => LookupIpStrategy::Ipv6Only,
    };
    builder.build().map_err(|e| e.to_string())
}

/// Every host named by an endpoint of a pool of the config.
fn hosts(config: &Config) -> BTreeSet<String> {
    config
        .fleet
        .upstreams
        .values()
        .flat_map(|upstream| &upstream.pools)
        .flat_map(|pool| &pool.endpoints)
        .filter_map(|endpoint| endpoint.name())
        .map(|name| name.host.clone())
        .collect()
}
