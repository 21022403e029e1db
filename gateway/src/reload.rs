//! Applying a config to a running gateway, all or nothing: a file's text, or a version pushed by
//! the control plane. Parse and validate off to the side, refuse changes that need a restart,
//! compile, publish with one store, then drop the state of endpoints the new config no longer
//! names. A rejected config changes nothing.

use std::sync::Arc;
use std::time::Instant;

use weir_config::{Config, ConfigErrors};
use weir_protocol::ConfigPush;

use crate::ramp;
use crate::snapshot::{Snapshot, Version};
use crate::state::Gateway;
use crate::tls;

/// Why a new config was not applied. The running config is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("config rejected:\n{0}")]
    Invalid(ConfigErrors),
    #[error("config rejected: {} changed, which needs a restart", .0.join(", "))]
    RestartRequired(Vec<&'static str>),
    #[error("version {version} arrived damaged: checksum {actual}, expected {expected}")]
    Checksum {
        version: u64,
        expected: String,
        actual: String,
    },
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config rejected: tls certificates:\n{0}")]
    Certificates(tls::TlsProblems),
}

impl ReloadError {
    /// The `result` label of `weir_config_reloads_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReloadError::RestartRequired(_) => "restart_required",
            ReloadError::Invalid(_)
            | ReloadError::Read { .. }
            | ReloadError::Checksum { .. }
            | ReloadError::Certificates(_) => "error",
        }
    }
}

/// What a successful apply did.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// The text is the one already running.
    Unchanged { version: u64 },
    /// Published as `version`; `changes` says what differs from the previous one.
    Changed { version: u64, changes: Vec<String> },
}

/// The config checksum, shared with the control plane (SHA-256 of a config text, hex).
pub use weir_protocol::checksum;

/// Apply `text` as the gateway's new config, or leave everything as it was and say why.
/// Counted in `weir_config_reloads_total` and logged either way.
pub fn apply(
    gateway: &Gateway,
    text: &str,
    trigger: &str,
    now: Instant,
) -> Result<Applied, ReloadError> {
    let started = Instant::now();
    let result = apply_inner(gateway, text, now);
    observe(gateway, trigger, &result, started);
    result
}

/// Apply a version pushed by the control plane: the fleet config it carries, with this
/// gateway's own `node` settings. The snapshot takes the control plane's version number.
pub fn apply_pushed(
    gateway: &Gateway,
    node: &Config,
    push: &ConfigPush,
    trigger: &str,
    now: Instant,
) -> Result<Applied, ReloadError> {
    let started = Instant::now();
    let result = apply_pushed_inner(gateway, node, push, now);
    observe(gateway, trigger, &result, started);
    result
}

/// Count and log the outcome; a published version's log line says how long parsing,
/// validating, compiling and publishing took (`apply_ms`).
fn observe(
    gateway: &Gateway,
    trigger: &str,
    result: &Result<Applied, ReloadError>,
    started: Instant,
) {
    match result {
        Ok(Applied::Unchanged { version }) => {
            tracing::info!(trigger, version, "config unchanged; nothing to apply");
        }
        Ok(Applied::Changed { version, changes }) => {
            gateway
                .metrics
                .config_reloads
                .with_label_values(&["ok"])
                .inc();
            let apply_ms = started.elapsed().as_secs_f64() * 1e3;
            tracing::info!(trigger, version, apply_ms, changes = ?changes, "config applied");
        }
        Err(e) => {
            gateway
                .metrics
                .config_reloads
                .with_label_values(&[e.metric_label()])
                .inc();
            let version = gateway.snapshot().version;
            tracing::error!(trigger, still_serving_version = version, error = %e, "config reload rejected");
        }
    }
}

fn apply_inner(gateway: &Gateway, text: &str, now: Instant) -> Result<Applied, ReloadError> {
    let _one_at_a_time = gateway
        .apply_lock
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let current = gateway.snapshot();
    let sum = checksum(text);
    if sum == current.checksum {
        // The text is the same, but the certificate files may have been renewed.
        return refresh_certificates(gateway, &current);
    }
    let config = weir_config::parse(text).map_err(ReloadError::Invalid)?;
    let version = current.version + 1;
    install(gateway, &current, config, version, sum, now)
}

fn apply_pushed_inner(
    gateway: &Gateway,
    node: &Config,
    push: &ConfigPush,
    now: Instant,
) -> Result<Applied, ReloadError> {
    let _one_at_a_time = gateway
        .apply_lock
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let current = gateway.snapshot();
    if push.version == current.version && push.checksum == current.checksum {
        return Ok(Applied::Unchanged {
            version: current.version,
        });
    }
    let actual = checksum(&push.config);
    if actual != push.checksum {
        return Err(ReloadError::Checksum {
            version: push.version,
            expected: push.checksum.clone(),
            actual,
        });
    }
    let fleet = weir_config::parse_fleet(&push.config).map_err(ReloadError::Invalid)?;
    let config = fleet.with_node(node);
    let refused = config.refused_by_node();
    if !refused.is_empty() {
        return Err(ReloadError::Invalid(ConfigErrors(refused)));
    }
    install(gateway, &current, config, push.version, actual, now)
}

/// Compile and publish `config` as `version`, then drop the state of what it no longer names.
fn install(
    gateway: &Gateway,
    current: &Snapshot,
    config: Config,
    version: u64,
    sum: String,
    now: Instant,
) -> Result<Applied, ReloadError> {
    let needs_restart = weir_config::restart_required(&current.config, &config);
    if !needs_restart.is_empty() {
        return Err(ReloadError::RestartRequired(needs_restart));
    }
    // Read and checked before anything is published: a broken set rejects the whole version.
    let certificates = load_certificates(&config)?;
    let id = Version {
        number: version,
        checksum: sum,
    };
    let config = Arc::new(config);
    // The files the config names are read here; one that cannot be used rejects the version.
    let next = Snapshot::compile(Arc::clone(&config), id, &gateway.registries(), now)
        .map_err(ReloadError::Invalid)?;
    // Endpoints back in service by this version (weight 0 -> above, or no longer drained) ramp.
    ramp::ramp_returning(current, &next, now);
    gateway.publish(next);
    publish_certificates(gateway, certificates, tls::unix_now());
    forget_removed(gateway);
    // What changed is for the log and the control plane's report: listed once the version
    // serves, as it takes most of a large config's reload (0.25 s of 0.45 s for 10,000 routes).
    let changes = weir_config::diff(&current.config, &config);
    Ok(Applied::Changed { version, changes })
}

/// Publish the running version compiled again with the endpoint names' latest addresses (the
/// same version number: the config did not change, what its names stand for did), then drop
/// the state of the addresses no pool stands for any more. Called by the resolver task when an
/// answer changed; serialised with reloads, so it never publishes over a newer version.
pub fn republish_resolved(gateway: &Gateway, now: Instant) {
    let _one_at_a_time = gateway
        .apply_lock
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let next = gateway.snapshot().recompile(&gateway.registries(), now);
    gateway.publish(next);
    forget_removed(gateway);
}

/// After a publish: drop the endpoint states, buckets and guards (and their metric series)
/// that the published snapshot no longer names.
fn forget_removed(gateway: &Gateway) {
    let published = gateway.snapshot();
    for key in gateway.registry.retain(|key| published.names_endpoint(key)) {
        gateway
            .metrics
            .forget_endpoint(&key.upstream, &key.region, &key.addr.to_string());
    }
    for policy in gateway
        .limiters
        .retain(|name| published.config.fleet.rate_limits.contains_key(name))
    {
        gateway.metrics.forget_policy(&policy);
    }
    for upstream in gateway
        .guards
        .retain(|name| published.upstreams.contains_key(name))
    {
        gateway.metrics.forget_upstream(&upstream);
    }
}

fn load_certificates(config: &Config) -> Result<tls::CertificateSet, ReloadError> {
    tls::load(
        config.node.tls.as_ref(),
        &tls::provider(),
        std::time::SystemTime::now(),
    )
    .map_err(ReloadError::Certificates)
}

/// The running config's certificate files, read again: published when they changed (a
/// renewal), kept when they did not, rejected whole when broken (the old set keeps serving).
fn refresh_certificates(gateway: &Gateway, current: &Snapshot) -> Result<Applied, ReloadError> {
    let version = current.version;
    if current.config.node.tls.is_none() {
        return Ok(Applied::Unchanged { version });
    }
    let certificates = load_certificates(&current.config)?;
    if certificates.fingerprint == gateway.tls.load().fingerprint {
        return Ok(Applied::Unchanged { version });
    }
    let changes = certificates
        .certificates
        .iter()
        .map(|info| format!("{}: serial {} reloaded", info.path, info.serial))
        .collect();
    publish_certificates(gateway, certificates, tls::unix_now());
    Ok(Applied::Changed { version, changes })
}

/// Serve `certificates` from the next handshake on, with their expiry gauges, and warn of those
/// that expire within two weeks of `now` (Unix seconds).
pub fn publish_certificates(gateway: &Gateway, certificates: tls::CertificateSet, now: i64) {
    let expiry = &gateway.metrics.tls_certificate_expiry;
    expiry.reset();
    // The ACME certificates are not in the file set: their gauges stay.
    for (name, not_after) in &gateway.tls.issued().expiry {
        expiry.with_label_values(&[name]).set(*not_after);
    }
    for info in &certificates.certificates {
        if let Some(name) = info.names.first() {
            expiry.with_label_values(&[name]).set(info.not_after);
        }
    }
    for info in certificates.expiring(now) {
        tracing::warn!(
            certificate = %info.path, file = %info.cert_file.display(), names = ?info.names,
            expires_in_days = (info.not_after - now) / 86_400,
            "tls certificate expires within 14 days"
        );
    }
    gateway.tls.publish(certificates);
}

/// Read and apply the config file at `path`.
pub fn apply_file(
    gateway: &Gateway,
    path: &std::path::Path,
    trigger: &str,
) -> Result<Applied, ReloadError> {
    match std::fs::read_to_string(path) {
        Ok(text) => apply(gateway, &text, trigger, Instant::now()),
        Err(source) => {
            let e = ReloadError::Read {
                path: path.display().to_string(),
                source,
            };
            gateway
                .metrics
                .config_reloads
                .with_label_values(&[e.metric_label()])
                .inc();
            tracing::error!(trigger, error = %e, "config reload rejected");
            Err(e)
        }
    }
}
