//! Following the control plane, as a gateway does: hold `GET /v1/stream` open, refuse a pushed
//! version that does not go forward, apply the others all or nothing to the [`State`], keep the
//! last applied one in the cache file (so a restart without the control plane still answers),
//! and report ACK or NACK with this server's view of its members. A stream silent for
//! `stream_timeout` is dead and is reopened after a jittered backoff. Queries never wait on any
//! of this: they read whatever catalog was swapped in last. A change in member health is
//! reported too (looked at every [`VIEW_INTERVAL`]), so `weirctl dns` shows what is answered.
//! The gateways' readiness the stream carries goes to the [`Gates`](crate::gateways::Gates);
//! while the stream is down, the probes alone judge every member.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use weir_config::ControlPlaneSettings;
use weir_protocol::{ConfigPush, DnsView, MemberHealth, Outcome, Report, StreamMessage};
use weir_push_client::backoff::reconnect_wait;
use weir_push_client::cache;
use weir_push_client::http::{Endpoint, LinkError, body_text};
use weir_push_client::lines::Lines;
use weir_push_client::mailbox::Mailbox;
use weir_push_client::order::check_order;
use weir_push_client::report::send_report;

use crate::catalog::Catalog;
use crate::state::{Applied, State};

/// Largest stream line accepted: a config is at most 1 MiB, JSON escaping adds some.
const MAX_LINE_BYTES: usize = 8 << 20;
/// How often the member view is compared with the last one reported.
pub const VIEW_INTERVAL: Duration = Duration::from_secs(1);

/// This server's view of every member, by name (then config order), capped for a report.
pub fn member_view(catalog: &Catalog) -> DnsView {
    let mut names: Vec<_> = catalog.names().collect();
    names.sort_by(|a, b| a.name.cmp(&b.name));
    let members = names
        .iter()
        .flat_map(|name| {
            name.rules.members.iter().map(|member| MemberHealth {
                name: name.name.to_string(),
                region: member.region.to_string(),
                healthy: member.health.as_ref().is_none_or(|target| target.is_up()),
                weight: member.weight,
                answered: member.eligible(),
                gateways: member.gate.counts(),
            })
        })
        .collect();
    DnsView::capped(members)
}

/// How a stream ended.
#[derive(Debug, thiserror::Error)]
enum StreamEnd {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("the control plane refused the stream: {0}")]
    Refused(String),
    #[error("no message for {0:?}: the stream is dead")]
    Timeout(Duration),
    #[error("the control plane closed the stream")]
    Closed,
    #[error("the stream broke: {0}")]
    Broken(String),
}

impl StreamEnd {
    fn label(&self) -> &'static str {
        match self {
            StreamEnd::Link(_) | StreamEnd::Broken(_) => "error",
            StreamEnd::Refused(_) => "refused",
            StreamEnd::Timeout(_) => "timeout",
            StreamEnd::Closed => "closed",
        }
    }
}

pub struct Follower {
    state: Arc<State>,
    endpoint: Endpoint,
    /// The id this server streams and reports as (its token must be bound to it).
    id: String,
    region: Option<String>,
    settings: ControlPlaneSettings,
    /// The newest report made, re-sent with a fresh member view when health changes.
    last: Mutex<Option<Report>>,
    reports: Mailbox,
}

impl Follower {
    pub fn new(
        state: Arc<State>,
        endpoint: Endpoint,
        id: String,
        region: Option<String>,
        settings: ControlPlaneSettings,
    ) -> Follower {
        Follower {
            state,
            endpoint,
            id,
            region,
            settings,
            last: Mutex::new(None),
            reports: Mailbox::default(),
        }
    }

    /// Follows the stream, sends reports and watches the member view, until the task is
    /// dropped (at shutdown).
    pub async fn run(&self) {
        tokio::join!(self.follow_loop(), self.report_loop(), self.view_loop());
    }

    async fn follow_loop(&self) {
        let mut failures: u32 = 0;
        loop {
            let mut heard = false;
            let end = self.follow(&mut heard).await;
            self.state.metrics.control_plane_connected.set(0);
            self.state.gates.forget();
            self.state
                .metrics
                .control_plane_streams
                .with_label_values(&[end.label()])
                .inc();
            failures = if heard { 1 } else { failures.saturating_add(1) };
            let wait = reconnect_wait(
                failures.min(16),
                self.settings.reconnect_backoff,
                self.settings.max_reconnect_backoff,
                &mut rand::rng(),
            );
            tracing::warn!(
                url = self.endpoint.show(weir_protocol::STREAM_PATH), error = %end,
                serving_version = self.state.served().0,
                retry_in_ms = wait.as_millis() as u64,
                "control-plane stream down; answering from the last config"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// Opens the stream and applies what it carries until it ends. `heard` is set once the
    /// control plane said anything, so the backoff starts over after a good connection.
    async fn follow(&self, heard: &mut bool) -> StreamEnd {
        let mut path = format!(
            "{}?gateway={}&kind=dns",
            weir_protocol::STREAM_PATH,
            self.id
        );
        if let Some(region) = &self.region {
            path.push_str("&region=");
            path.push_str(region);
        }
        // A control plane that accepts the connection and never answers is as dead as a silent
        // stream.
        let timeout = self.settings.stream_timeout;
        let sent = tokio::time::timeout(timeout, self.endpoint.send(Method::GET, &path, None));
        let response = match sent.await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return e.into(),
            Err(_) => return StreamEnd::Timeout(timeout),
        };
        if response.status() != StatusCode::OK {
            let status = response.status();
            let body = body_text(response.into_body()).await;
            return StreamEnd::Refused(format!("{status}: {body}"));
        }
        self.state.metrics.control_plane_connected.set(1);
        tracing::info!(url = self.endpoint.show(&path), "control-plane stream open");
        let mut body = response.into_body();
        let mut lines = Lines::new(MAX_LINE_BYTES);
        loop {
            let chunk = match tokio::time::timeout(timeout, body.frame()).await {
                Err(_) => return StreamEnd::Timeout(timeout),
                Ok(None) => return StreamEnd::Closed,
                Ok(Some(Err(e))) => return StreamEnd::Broken(e.to_string()),
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers carry nothing for us
                },
            };
            let complete = match lines.push(&chunk) {
                Ok(complete) => complete,
                Err(e) => return StreamEnd::Broken(e.to_string()),
            };
            for line in complete {
                *heard = true;
                match serde_json::from_slice::<StreamMessage>(&line) {
                    Ok(StreamMessage::Config(push)) => self.receive(push).await,
                    Ok(StreamMessage::Hello { heartbeat_ms }) => {
                        if Duration::from_millis(heartbeat_ms.saturating_mul(2)) > timeout {
                            tracing::warn!(
                                heartbeat_ms,
                                stream_timeout_ms = timeout.as_millis() as u64,
                                "--stream-timeout is under two heartbeats: a quiet stream may be taken for dead"
                            );
                        }
                    }
                    Ok(StreamMessage::Heartbeat) => {}
                    Ok(StreamMessage::Gateways(readiness)) => self.state.gates.apply(readiness),
                    // A newer control plane may send kinds this server does not know.
                    Err(e) => tracing::warn!(error = %e, "unreadable stream message skipped"),
                }
            }
        }
    }

    /// Applies one pushed version, caches it when it changed the answers, and reports.
    async fn receive(&self, push: ConfigPush) {
        let (serving, checksum) = self.state.served();
        if let Err(stale) = check_order(&push, (serving, &checksum)) {
            self.count_push("stale");
            tracing::warn!(
                pushed_version = push.version, serving_version = serving, error = %stale,
                "pushed version refused: versions only go forward"
            );
            self.post(self.report(push.version, Outcome::Nack, vec![stale.to_string()], None));
            return;
        }
        let result = self.state.apply_push(&push);
        let applied_at = SystemTime::now();
        let version = push.version;
        let (outcome, errors, at) = match result {
            Ok(Applied::Changed) => {
                tracing::info!(version, "pushed config applied");
                self.save_cache(push).await;
                (Outcome::Ack, Vec::new(), unix_us(applied_at))
            }
            Ok(Applied::Unchanged) => (Outcome::Ack, Vec::new(), None),
            Err(errors) => {
                for error in &errors {
                    tracing::error!(version, error = %error, "pushed config error");
                }
                tracing::error!(
                    version,
                    errors = errors.len(),
                    serving_version = serving,
                    "pushed config rejected; the running config stays"
                );
                (Outcome::Nack, weir_protocol::cap_errors(errors), None)
            }
        };
        self.count_push(outcome.as_str());
        self.post(self.report(version, outcome, errors, at));
    }

    fn count_push(&self, outcome: &str) {
        self.state
            .metrics
            .control_plane_pushes
            .with_label_values(&[outcome])
            .inc();
    }

    /// A report about `version`, with the version served now and the member view.
    fn report(
        &self,
        version: u64,
        outcome: Outcome,
        errors: Vec<String>,
        applied_at_unix_us: Option<u64>,
    ) -> Report {
        Report {
            region: self.region.clone(),
            version,
            outcome,
            errors,
            applied_version: self.state.served().0,
            applied_at_unix_us,
            dns: Some(member_view(&self.state.catalog.load())),
        }
    }

    /// Remembers `report` and hands it to the reporter without waiting; an unsent one is
    /// replaced.
    fn post(&self, report: Report) {
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(report.clone());
        if let Some(old) = self.reports.post(report) {
            self.state
                .metrics
                .control_plane_reports
                .with_label_values(&["superseded"])
                .inc();
            tracing::debug!(
                version = old.version,
                "an unsent report was replaced by a newer one"
            );
        }
    }

    /// The last report again with the current member view, if that view changed.
    fn refreshed(&self) -> Option<Report> {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let mut report = last.clone()?;
        let view = member_view(&self.state.catalog.load());
        if report.dns.as_ref() == Some(&view) {
            return None;
        }
        report.dns = Some(view);
        Some(report)
    }

    async fn view_loop(&self) {
        let mut ticks = tokio::time::interval(VIEW_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Some(report) = self.refreshed() {
                tracing::info!("member health changed; reporting it");
                self.post(report);
            }
        }
    }

    async fn save_cache(&self, push: ConfigPush) {
        let path = self.settings.cache_path.clone();
        let version = push.version;
        match tokio::task::spawn_blocking(move || cache::save(&path, &push)).await {
            Ok(Ok(())) => tracing::debug!(version, "config cached"),
            Ok(Err(e)) => tracing::error!(
                version, path = %self.settings.cache_path.display(), error = %e,
                "cannot write the config cache; a restart without the control plane would answer from an older version"
            ),
            Err(e) => tracing::error!(version, error = %e, "the cache write was cancelled"),
        }
    }

    /// Posts reports one at a time, off the stream's path.
    async fn report_loop(&self) {
        loop {
            self.reports.posted.notified().await;
            let Some(report) = self.reports.take() else {
                continue;
            };
            let outcome = send_report(&self.endpoint, &self.id, &report).await;
            self.state
                .metrics
                .control_plane_reports
                .with_label_values(&[outcome])
                .inc();
        }
    }
}

/// Serves the cached version, if there is a valid one, before the control plane answers.
pub fn boot_from_cache(state: &State, cache_path: &std::path::Path) {
    match cache::load(cache_path) {
        Ok(push) => match state.apply_push(&push) {
            Ok(_) => tracing::info!(
                version = push.version, cache = %cache_path.display(),
                "answering from the cached config until the control plane answers"
            ),
            Err(errors) => tracing::warn!(
                cache = %cache_path.display(), version = push.version, errors = ?errors,
                "the cached config is not usable; waiting for the control plane"
            ),
        },
        Err(cache::CacheError::Missing(_)) => tracing::info!(
            cache = %cache_path.display(),
            "no cached config yet; waiting for the control plane (every question is REFUSED until then)"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cached config not used; waiting for the control plane")
        }
    }
}

fn unix_us(time: SystemTime) -> Option<u64> {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_micros()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    const ZONE: &str = r#"
[dns]
zones = ["gslb.example.com"]
soa = { mname = "ns1.gslb.example.com", rname = "ops.example.com" }
ns = ["ns1.gslb.example.com"]

[dns.names."api.gslb.example.com"]
[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10"]
weight = WEIGHT
[[dns.names."api.gslb.example.com".members]]
region = "eu-west"
addresses = ["192.0.2.20"]
"#;

    fn push(version: u64, config: &str) -> ConfigPush {
        ConfigPush {
            version,
            checksum: weir_protocol::checksum(config),
            config: config.to_string(),
        }
    }

    fn zone(weight: u32) -> String {
        ZONE.replace("WEIGHT", &weight.to_string())
    }

    fn follower(cache: &std::path::Path) -> Follower {
        let state = Arc::new(State::empty(Arc::new(Metrics::new())).unwrap());
        let endpoint = Endpoint::new("http://127.0.0.1:9", None, "t").unwrap();
        let settings = ControlPlaneSettings {
            url: "http://127.0.0.1:9".into(),
            token_file: "token".into(),
            cache_path: cache.to_path_buf(),
            ca_file: None,
            stream_timeout: Duration::from_secs(6),
            reconnect_backoff: Duration::from_millis(200),
            max_reconnect_backoff: Duration::from_secs(10),
            telemetry_interval: ControlPlaneSettings::DEFAULT_TELEMETRY_INTERVAL,
        };
        Follower::new(state, endpoint, "dns-1".into(), None, settings)
    }

    fn last(follower: &Follower) -> Report {
        follower.reports.take().expect("a report was posted")
    }

    #[tokio::test]
    async fn pushes_are_applied_cached_and_acked_with_the_member_view() {
        let dir = tempfile::tempdir().unwrap();
        let cache_path = dir.path().join("cache.json");
        let follower = follower(&cache_path);
        follower.receive(push(3, &zone(100))).await;
        let report = last(&follower);
        assert_eq!((report.outcome, report.applied_version), (Outcome::Ack, 3));
        assert!(report.applied_at_unix_us.is_some());
        let view = report.dns.expect("a member view");
        let weights: Vec<_> = view
            .members
            .iter()
            .map(|m| (&*m.region, m.weight, m.answered))
            .collect();
        assert_eq!(weights, [("us-east", 100, true), ("eu-west", 100, true)]);
        assert_eq!(cache::load(&cache_path).unwrap(), push(3, &zone(100)));

        // A drain (a new version with weight 0) shows in the view; the cache follows.
        follower.receive(push(4, &zone(0))).await;
        let view = last(&follower).dns.unwrap();
        assert_eq!(
            (view.members[0].weight, view.members[0].answered),
            (0, false)
        );
        assert_eq!(cache::load(&cache_path).unwrap().version, 4);

        // The same version again (a reconnect): ACK, nothing applied.
        follower.receive(push(4, &zone(0))).await;
        let report = last(&follower);
        assert_eq!(report.outcome, Outcome::Ack);
        assert_eq!(report.applied_at_unix_us, None);
        assert_eq!(follower.state.status().generation, 2);
    }

    #[tokio::test]
    async fn stale_broken_and_dnsless_versions_are_nacked_and_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache_path = dir.path().join("cache.json");
        let follower = follower(&cache_path);
        follower.receive(push(5, &zone(100))).await;
        let _ = last(&follower);

        follower.receive(push(4, &zone(0))).await;
        let report = last(&follower);
        assert_eq!(
            (report.outcome, report.version, report.applied_version),
            (Outcome::Nack, 4, 5)
        );
        assert!(
            report.errors[0].contains("older than version 5"),
            "{:?}",
            report.errors
        );

        let mut tampered = push(6, &zone(0));
        tampered.checksum = weir_protocol::checksum("something else");
        follower.receive(tampered).await;
        let report = last(&follower);
        assert_eq!(report.outcome, Outcome::Nack);
        assert!(report.errors[0].contains("checksum"), "{:?}", report.errors);

        follower.receive(push(7, "")).await;
        let report = last(&follower);
        assert_eq!((report.outcome, report.applied_version), (Outcome::Nack, 5));
        assert!(report.errors[0].contains("no [dns]"), "{:?}", report.errors);

        let broken = zone(100).replace("192.0.2.20", "192.0.2.300");
        follower.receive(push(8, &broken)).await;
        let report = last(&follower);
        assert_eq!(report.outcome, Outcome::Nack);
        assert!(
            report.errors[0].contains("members[1].addresses[0]"),
            "{:?}",
            report.errors
        );

        assert_eq!(follower.state.served().0, 5);
        assert_eq!(
            cache::load(&cache_path).unwrap().version,
            5,
            "the cache keeps the applied one"
        );
        let view = member_view(&follower.state.catalog.load());
        assert!(view.members.iter().all(|m| m.weight == 100));
    }

    #[tokio::test]
    async fn a_changed_view_is_reported_again_and_an_unchanged_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let follower = follower(&dir.path().join("cache.json"));
        assert!(
            follower.refreshed().is_none(),
            "nothing to refresh before a report"
        );
        follower.receive(push(1, &zone(100))).await;
        assert!(follower.refreshed().is_none(), "the view has not changed");
        // The last report carried another view (as before a probe flipped a member).
        if let Some(report) = follower.last.lock().unwrap().as_mut() {
            report.dns.as_mut().unwrap().members[1].healthy = false;
        }
        let again = follower.refreshed().expect("the view changed");
        assert_eq!((again.version, again.outcome), (1, Outcome::Ack));
        assert!(again.dns.unwrap().members[1].healthy);
    }

    #[tokio::test]
    async fn a_restart_answers_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache_path = dir.path().join("cache.json");
        let first = follower(&cache_path);
        first.receive(push(9, &zone(100))).await;
        let second = follower(&cache_path);
        assert_eq!(second.state.served().0, 0);
        boot_from_cache(&second.state, &cache_path);
        assert_eq!(second.state.served().0, 9);
        assert_eq!(member_view(&second.state.catalog.load()).members.len(), 2);
        std::fs::write(&cache_path, b"{\"version\":3,").unwrap();
        let third = follower(&cache_path);
        boot_from_cache(&third.state, &cache_path);
        assert_eq!(third.state.served().0, 0, "a damaged cache is not used");
    }
}
