//! The config compiler's last stage: a validated config compiled into a `Snapshot`, the lookup
//! structures the request path uses (the runtime model of `runtime.rs`), with endpoint states,
//! limiter buckets and upstream guards attached from the registries that outlive versions.
//! Published whole with one `ArcSwap::store`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use weir_config::{Config, ConfigErrors};

use crate::client_ip::ClientIpResolver;
use crate::endpoint::{EndpointKey, EndpointRegistry};
use crate::metrics::Metrics;
use crate::names::ResolvedNames;
use crate::ratelimit::policy::RouteLimits;
use crate::ratelimit::store::RedisStore;
use crate::ratelimit::{LimiterRegistry, Policy};
use crate::resilience::fault::FaultPlan;
use crate::resilience::guards::GuardRegistry;
use crate::router::{Prefix, Router};
use crate::runtime::{PoolRuntime, RouteEntry, UpstreamRuntime};
use crate::upstream_tls::{self, PoolTls};

/// One config version, ready to serve.
pub struct Snapshot {
    /// With a config file, counts reloads from 1; with a control plane, the control plane's
    /// version number, and 0 while no version has arrived yet.
    pub version: u64,
    /// SHA-256 of the config text, hex, for telling versions apart across processes.
    pub checksum: String,
    pub config: Arc<Config>,
    pub local_region: Option<Arc<str>>,
    pub router: Router<Arc<RouteEntry>>,
    pub upstreams: BTreeMap<String, Arc<UpstreamRuntime>>,
    /// Rate-limit policies by name.
    pub policies: BTreeMap<String, Arc<Policy>>,
    pub client_ip: ClientIpResolver,
    /// The store of global limits; `None` without a `[redis]` section.
    pub redis: Option<Arc<RedisStore>>,
}

/// Which version a compiled config is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// See [`Snapshot::version`].
    pub number: u64,
    /// See [`Snapshot::checksum`].
    pub checksum: String,
}

/// The state that outlives config versions, which a compile attaches the new version to:
/// endpoint states, rate-limit buckets and the Redis store, upstream breakers, budgets and
/// bulkheads, the addresses endpoint names resolved to, and the metrics whose handles the
/// runtime model pre-binds.
#[derive(Clone, Copy)]
pub struct Registries<'a> {
    pub endpoints: &'a EndpointRegistry,
    /// A pool's name endpoints stand for the addresses found here (none until resolved).
    pub names: &'a ResolvedNames,
    pub limiters: &'a LimiterRegistry,
    pub guards: &'a GuardRegistry,
    pub metrics: &'a Metrics,
}

impl Snapshot {
    /// True while a gateway run by a control plane has no version yet (from it or its cache):
    /// every request is answered 503 and `/readyz` says not ready.
    pub fn awaiting_config(&self) -> bool {
        self.version == 0
    }

    /// Compile a validated config as `version`. Endpoint states, buckets and guards come from
    /// (and are added to) `registries`; nothing is removed from them here (see `reload.rs`).
    /// Fails, with every problem at its key, when a file the config names (a pool's `tls`
    /// files) cannot be read or used; the version is then not served.
    pub fn compile(
        config: Arc<Config>,
        version: Version,
        registries: &Registries<'_>,
        now: Instant,
    ) -> Result<Self, ConfigErrors> {
        let tls = load_pool_tls(&config)?;
        Ok(Self::compile_loaded(config, version, &tls, registries, now))
    }

    /// This version compiled again against the registries as they are now (the endpoint
    /// names' latest addresses), with the TLS it already loaded, so no file is read and it
    /// cannot fail: what the resolver task publishes when a name's answer changes. The version
    /// number and checksum stay.
    pub fn recompile(&self, registries: &Registries<'_>, now: Instant) -> Self {
        let tls: LoadedTls = self
            .upstreams
            .iter()
            .flat_map(|(name, upstream)| {
                upstream
                    .pools
                    .iter()
                    .enumerate()
                    .filter_map(|(index, pool)| {
                        let tls = pool.tls.as_ref()?;
                        Some(((name.clone(), index), Arc::clone(tls)))
                    })
            })
            .collect();
        let version = Version {
            number: self.version,
            checksum: self.checksum.clone(),
        };
        Self::compile_loaded(Arc::clone(&self.config), version, &tls, registries, now)
    }

    fn compile_loaded(
        config: Arc<Config>,
        version: Version,
        tls: &LoadedTls,
        registries: &Registries<'_>,
        now: Instant,
    ) -> Self {
        let policies = compile_policies(&config, registries);
        let local_region: Option<Arc<str>> = config.node.gateway.region.as_deref().map(Arc::from);
        let upstreams: BTreeMap<String, Arc<UpstreamRuntime>> = config
            .fleet
            .upstreams
            .iter()
            .map(|(name, up)| {
                let local = local_region.as_deref();
                let runtime = compile_upstream(name, up, local, tls, registries, now);
                (name.clone(), Arc::new(runtime))
            })
            .collect();
        let router =
            Router::new(config.fleet.routes.iter().filter_map(|route| {
                compile_route(route, &upstreams, &policies, registries.metrics)
            }));
        Self {
            version: version.number,
            checksum: version.checksum,
            local_region,
            router,
            upstreams,
            policies,
            client_ip: ClientIpResolver::new(&config.fleet.client_ip),
            redis: registries
                .limiters
                .store(config.fleet.redis.as_ref(), registries.metrics),
            config,
        }
    }

    /// Whether this snapshot names the endpoint (used to prune the registry after a swap).
    pub fn names_endpoint(&self, key: &EndpointKey) -> bool {
        self.upstreams.get(key.upstream.as_ref()).is_some_and(|up| {
            up.pools.iter().any(|p| {
                p.region == key.region && p.endpoints.iter().any(|e| e.key.addr == key.addr)
            })
        })
    }
}

/// A snapshot of a config text for unit tests' fixtures: version `version` (no checksum), fresh
/// limiter and guard registries, endpoint state from `endpoints`, metric handles bound to
/// `metrics`.
#[cfg(test)]
pub(crate) fn compile_text(
    text: &str,
    version: u64,
    endpoints: &EndpointRegistry,
    metrics: &Metrics,
    now: Instant,
) -> Snapshot {
    let config = weir_config::parse(text).expect("valid test config");
    let registries = Registries {
        endpoints,
        names: &ResolvedNames::default(),
        limiters: &LimiterRegistry::default(),
        guards: &GuardRegistry::default(),
        metrics,
    };
    let version = Version {
        number: version,
        checksum: String::new(),
    };
    Snapshot::compile(Arc::new(config), version, &registries, now).expect("test config compiles")
}

/// Every pool's `tls`, loaded from its files, by (upstream, pool index); every problem of every
/// pool is reported.
type LoadedTls = BTreeMap<(String, usize), Arc<PoolTls>>;

fn load_pool_tls(config: &Config) -> Result<LoadedTls, ConfigErrors> {
    let mut loaded = BTreeMap::new();
    let mut errors = Vec::new();
    for (name, upstream) in &config.fleet.upstreams {
        for (index, pool) in upstream.pools.iter().enumerate() {
            let Some(tls) = &pool.tls else { continue };
            let path = format!(
                "{}.pools[{index}].tls",
                weir_config::join_key("upstreams", name)
            );
            match upstream_tls::load(tls, &path) {
                Ok(pool_tls) => {
                    loaded.insert((name.clone(), index), Arc::new(pool_tls));
                }
                Err(problems) => errors.extend(problems),
            }
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Whether every file a config names can be read and used, as a compile would find it: the
/// same problems, without building anything else (for `--check` and start-up).
pub fn check_files(config: &Config) -> Result<(), ConfigErrors> {
    load_pool_tls(config).map(|_| ())
}

/// Rate-limit policies by name, each over its buckets from the limiter registry.
fn compile_policies(config: &Config, registries: &Registries<'_>) -> BTreeMap<String, Arc<Policy>> {
    let key_prefix = config
        .fleet
        .redis
        .as_ref()
        .map_or(weir_config::RedisSettings::DEFAULT_KEY_PREFIX, |r| {
            r.key_prefix.as_str()
        });
    config
        .fleet
        .rate_limits
        .iter()
        .map(|(name, policy)| {
            let buckets = registries.limiters.buckets(policy);
            let compiled = Policy::compile(policy, buckets, key_prefix, registries.metrics);
            (name.clone(), Arc::new(compiled))
        })
        .collect()
}

/// An upstream with its guard (kept across versions) and its pools; creates its retry and
/// breaker series at 0. Each compile function destructures its config struct without `..`, so a
/// field added to it does not build until it is compiled (or said to be read elsewhere).
fn compile_upstream(
    name: &str,
    up: &weir_config::Upstream,
    local_region: Option<&str>,
    tls: &LoadedTls,
    registries: &Registries<'_>,
    now: Instant,
) -> UpstreamRuntime {
    let weir_config::Upstream {
        name: _, // the key it is listed under, `name`
        region_policy,
        health,
        min_healthy_fraction,
        outlier,
        connect_timeout,
        retry_budget,
        circuit_breaker,
        slow_start,
        bulkhead,
        pools,
    } = up;
    let metrics = registries.metrics;
    let name_arc: Arc<str> = Arc::from(name);
    let pools = pools
        .iter()
        .enumerate()
        .map(|(index, pool)| {
            let pool_tls = tls.get(&(name.to_owned(), index)).cloned();
            compile_pool(&name_arc, pool, pool_tls, local_region, registries, now)
        })
        .collect();
    let guard = registries.guards.get_or_create(name, now);
    let runtime = UpstreamRuntime {
        name: name_arc,
        policy: *region_policy,
        health: health.clone(),
        min_healthy_fraction: *min_healthy_fraction,
        outlier: outlier.clone(),
        connect_timeout: *connect_timeout,
        retry_budget: retry_budget.clone(),
        breaker: circuit_breaker.clone(),
        slow_start: *slow_start,
        bulkhead: bulkhead.clone(),
        adaptive: guard.adaptive_limit(bulkhead.adaptive.as_ref(), now),
        guard,
        pools,
        panic_routing: metrics.panic_routing.with_label_values(&[name]),
    };
    for reason in ["connect_failure", "reset", "status"] {
        metrics.retries.with_label_values(&[name, reason]);
    }
    for reason in ["budget_exhausted", "attempts_exhausted", "deadline"] {
        metrics.retries_refused.with_label_values(&[name, reason]);
    }
    metrics.breaker_rejections.with_label_values(&[name]);
    runtime
}

/// One region's pool of `upstream`: endpoint states from the registry (their health, ejection
/// and drain gauges set to what they are now) and the pool's pre-bound metric handles.
fn compile_pool(
    upstream: &Arc<str>,
    pool: &weir_config::Pool,
    tls: Option<Arc<PoolTls>>,
    local_region: Option<&str>,
    registries: &Registries<'_>,
    now: Instant,
) -> PoolRuntime {
    let weir_config::Pool {
        region: region_name,
        weight,
        endpoints,
        drained,
        tls: _, // loaded before (`load_pool_tls`), given as `tls`
        protocol,
    } = pool;
    let metrics = registries.metrics;
    let region: Arc<str> = Arc::from(region_name.as_str());
    let drained: Vec<SocketAddr> = addresses(drained, registries.names)
        .into_iter()
        .map(|(addr, _)| addr)
        .collect();
    let resolved = addresses(endpoints, registries.names);
    // Without `tls.sni`, a TLS connection to a resolved address names its DNS name.
    let server_names = match &tls {
        Some(pool_tls) if pool_tls.sni.is_none() => resolved
            .iter()
            .filter_map(|(addr, name)| Some((*addr, Arc::from(name.as_deref()?))))
            .collect(),
        _ => Vec::new(),
    };
    let endpoints = resolved
        .into_iter()
        .map(|(addr, _)| {
            let key = EndpointKey {
                upstream: Arc::clone(upstream),
                region: Arc::clone(&region),
                addr,
            };
            let state = registries.endpoints.get_or_create(key, now);
            let labels = [&**upstream, region_name, &state.label];
            metrics
                .endpoint_healthy
                .with_label_values(&labels)
                .set(i64::from(state.is_healthy()));
            metrics
                .endpoint_ejected
                .with_label_values(&labels)
                .set(i64::from(state.is_ejected(now)));
            metrics
                .endpoint_drained
                .with_label_values(&labels)
                .set(i64::from(drained.contains(&addr)));
            state
        })
        .collect();
    let labels = [&**upstream, region_name.as_str()];
    PoolRuntime {
        is_local: local_region == Some(region_name.as_str()),
        weight: *weight,
        endpoints,
        drained,
        tls,
        server_names,
        protocol: *protocol,
        upstream_duration: metrics.upstream_duration.with_label_values(&labels),
        connect_failures: metrics.connect_failures.with_label_values(&labels),
        status_5xx: metrics.upstream_failures.with_label_values(&[
            labels[0],
            labels[1],
            "status_5xx",
        ]),
        exchange_failures: metrics
            .upstream_failures
            .with_label_values(&[labels[0], labels[1], "exchange"]),
        ejections: metrics.ejections.with_label_values(&labels),
        spill_routing: metrics.spill_routing.with_label_values(&labels),
        census: Default::default(),
        region,
    }
}

/// The addresses `endpoints` stand for now, with the name each came from: each address as
/// written, each name's last resolved addresses (none before its first answer); each address
/// once, its first mention kept.
fn addresses<'a>(
    endpoints: &'a [weir_config::Endpoint],
    names: &ResolvedNames,
) -> Vec<(SocketAddr, Option<&'a str>)> {
    let mut out = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        match endpoint {
            weir_config::Endpoint::Addr(addr) => out.push((*addr, None)),
            weir_config::Endpoint::Name(name) => out.extend(
                names
                    .addresses(name)
                    .into_iter()
                    .map(|addr| (addr, Some(name.host.as_str()))),
            ),
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    out.retain(|(addr, _)| seen.insert(*addr));
    out
}

/// A route as the router holds it: its host, its prefix and the entry, or `None` when its
/// upstream is missing (validation rules that out; it would only drop the route).
fn compile_route(
    route: &weir_config::Route,
    upstreams: &BTreeMap<String, Arc<UpstreamRuntime>>,
    policies: &BTreeMap<String, Arc<Policy>>,
    metrics: &Metrics,
) -> Option<(weir_config::HostMatch, Prefix, Arc<RouteEntry>)> {
    let weir_config::Route {
        name,
        host,
        path_prefix,
        upstream,
        timeout,
        read_timeout,
        connect_timeout,
        priority,
        retry,
        fault,
        rate_limits,
        request,
        https,
    } = route;
    let upstream = Arc::clone(upstreams.get(upstream)?);
    let connect_timeout = connect_timeout.unwrap_or(upstream.connect_timeout);
    let entry = RouteEntry {
        name: Arc::from(name.as_str()),
        upstream,
        timeout: *timeout,
        read_timeout: *read_timeout,
        connect_timeout,
        priority: *priority,
        retry: retry.clone(),
        fault: fault.as_ref().map(|fault| {
            for kind in ["delay", "abort"] {
                metrics.faults.with_label_values(&[name, kind]);
            }
            FaultPlan::new(fault)
        }),
        request_duration: metrics.request_duration.with_label_values(&[name]),
        limits: RouteLimits::new(
            rate_limits
                .iter()
                .filter_map(|policy| policies.get(policy).cloned()),
        ),
        request: request.clone(),
        redirect_https: https.redirect_https,
        https_port: https.https_port,
        redirects: https
            .redirect_https
            .then(|| metrics.redirects.with_label_values(&[name])),
        // Validated as printable ASCII, so it is a valid header value.
        hsts: https
            .hsts
            .as_deref()
            .and_then(|v| http::HeaderValue::from_str(v).ok()),
    };
    let prefix = Prefix {
        text: path_prefix.clone(),
        ignore_case: request.path_prefix_ignore_case,
    };
    Some((host.clone(), prefix, Arc::new(entry)))
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn addresses_of(snapshot: &Snapshot, pool: usize) -> Vec<String> {
        snapshot.upstreams["api"].pools[pool]
            .endpoints
            .iter()
            .map(|e| e.label.clone())
            .collect()
    }

    fn ips(list: &[&str]) -> Arc<[IpAddr]> {
        list.iter().map(|ip| ip.parse().expect("ip")).collect()
    }

    #[test]
    fn names_stand_for_their_addresses_and_a_recompile_keeps_the_state_of_those_that_stay() {
        let dir = tempfile::tempdir().expect("dir");
        let ca = dir.path().join("ca.pem");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["api.internal".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        std::fs::write(&ca, cert.pem()).expect("write ca");
        let text = format!(
            "[upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\n\
             endpoints = [\"api.internal:80\", \"10.0.0.1:80\", \"old.internal:80\"]\n\
             drained = [\"old.internal:80\"]\n\
             [[upstreams.api.pools]]\nregion = \"eu-west\"\n\
             endpoints = [\"api.internal:443\", \"10.0.0.9:443\"]\n\
             tls = {{ ca_file = {:?} }}\n\
             [[routes]]\nupstream = \"api\"\n",
            ca.display().to_string()
        );
        let config = Arc::new(weir_config::parse(&text).expect("valid"));
        let (endpoints, names) = (EndpointRegistry::default(), ResolvedNames::default());
        let (limiters, guards) = (LimiterRegistry::default(), GuardRegistry::default());
        let metrics = Metrics::new().expect("metrics");
        let registries = Registries {
            endpoints: &endpoints,
            names: &names,
            limiters: &limiters,
            guards: &guards,
            metrics: &metrics,
        };
        let now = Instant::now();
        let version = Version {
            number: 7,
            checksum: "c".into(),
        };
        let first = Snapshot::compile(config, version, &registries, now).expect("compiles");
        assert_eq!(
            addresses_of(&first, 0),
            ["10.0.0.1:80"],
            "names not resolved yet"
        );

        names.update(
            [
                ("api.internal".to_owned(), ips(&["10.0.0.1", "10.0.0.2"])),
                ("old.internal".to_owned(), ips(&["10.0.0.3"])),
            ],
            |_| true,
        );
        let second = first.recompile(&registries, now);
        assert_eq!((second.version, second.checksum.as_str()), (7, "c"));
        // 10.0.0.1 is both resolved and written: one endpoint.
        assert_eq!(
            addresses_of(&second, 0),
            ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"]
        );
        let kept = |snapshot: &Snapshot| {
            Arc::clone(
                snapshot.upstreams["api"].pools[0]
                    .endpoints
                    .iter()
                    .find(|e| e.label == "10.0.0.1:80")
                    .expect("10.0.0.1"),
            )
        };
        assert!(Arc::ptr_eq(&kept(&first), &kept(&second)), "the same state");
        let pool = &second.upstreams["api"].pools[0];
        assert_eq!(
            pool.drained,
            ["10.0.0.3:80".parse().unwrap()],
            "a drained name"
        );
        assert!(pool.server_names.is_empty(), "plain text: no server names");
        // Over TLS without `sni`, a resolved address names its DNS name; a written one does not.
        let tls_pool = &second.upstreams["api"].pools[1];
        assert!(Arc::ptr_eq(
            tls_pool.tls.as_ref().expect("tls"),
            first.upstreams["api"].pools[1].tls.as_ref().expect("tls")
        ));
        let name_of = |addr: &str| tls_pool.server_name(addr.parse().unwrap()).cloned();
        assert_eq!(name_of("10.0.0.2:443").as_deref(), Some("api.internal"));
        assert_eq!(name_of("10.0.0.9:443"), None);
    }
}
