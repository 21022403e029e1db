//! The fleet as the control plane sees it: the versions to push (one `watch` channel of
//! [`Targets`] every stream follows, so a slow gateway skips to the newest version instead of
//! queueing old ones; during a staged rollout the canary gateways are pushed the canary version
//! and every other node the stable one, each stream picking by its id) and what each gateway
//! last said. Memory is bounded: at most `Limits::max_gateways` are
//! remembered, each token registers at most `Limits::max_per_token` of them, and each report keeps
//! at most `weir_protocol::MAX_REPORT_ERRORS` errors of at most `MAX_ERROR_CHARS` characters. A new gateway past a
//! cap is refused ([`Refused`]); only a gateway disconnected for longer than `FORGET_AFTER` is
//! forgotten to make room, so a flood of new ids can never evict a gateway that is in use.
//! The gateways' readiness per region (ready: stream open) is kept in a second `watch` channel
//! that weir-dns streams follow; it changes only when a count does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::sync::watch;
use weir_protocol::api::{GatewayView, LastReport, NodeKind};
use weir_protocol::{ConfigPush, DnsView, GatewayReadiness, Report, StreamMessage};

use crate::metrics::Metrics;

/// Default of `--max-gateways`: most gateways remembered at once.
pub const MAX_GATEWAYS: usize = 10_000;
/// Default of `--max-gateways-per-token`: most gateways one token may register.
pub const MAX_GATEWAYS_PER_TOKEN: usize = 1_000;
/// A gateway disconnected for longer than this may be forgotten to make room for a new one.
pub const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The caps on the gateway table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_gateways: usize,
    pub max_per_token: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_gateways: MAX_GATEWAYS,
            max_per_token: MAX_GATEWAYS_PER_TOKEN,
        }
    }
}

/// Why a new gateway id was not registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "token '{token}' already speaks for {cap} gateways, its cap (--max-gateways-per-token); \
         a gateway is forgotten an hour after it disconnects"
    )]
    TokenCap { token: String, cap: usize },
    #[error(
        "the control plane already tracks {cap} gateways, its cap (--max-gateways); a gateway \
         is forgotten an hour after it disconnects"
    )]
    FleetCap { cap: usize },
}

impl Refused {
    /// The `reason` label of `weir_cp_gateways_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::TokenCap { .. } => "token_cap",
            Refused::FleetCap { .. } => "fleet_cap",
        }
    }
}

/// A version ready to send: the stream line is serialized once, not once per gateway.
#[derive(Debug)]
pub struct Pushed {
    pub version: u64,
    pub line: bytes::Bytes,
}

impl Pushed {
    pub fn new(version: u64, checksum: &str, config: &str) -> Pushed {
        let line = StreamMessage::Config(ConfigPush {
            version,
            checksum: checksum.to_string(),
            config: config.to_string(),
        })
        .to_line();
        Pushed {
            version,
            line: bytes::Bytes::from(line),
        }
    }
}

/// What the streams push: the stable version to every node, and during a staged rollout the
/// canary version to the canary gateways. Each version's line is serialized once.
#[derive(Debug, Default)]
pub struct Targets {
    pub stable: Option<Arc<Pushed>>,
    pub canary: Option<Canary>,
}

/// The canary version and the gateways it goes to.
#[derive(Debug)]
pub struct Canary {
    pub pushed: Arc<Pushed>,
    pub gateways: BTreeSet<String>,
}

impl Targets {
    /// The version stream `id` of `kind` is pushed. weir-dns is never a canary.
    pub fn pick(&self, id: &str, kind: NodeKind) -> Option<&Arc<Pushed>> {
        if kind == NodeKind::Gateway
            && let Some(canary) = &self.canary
            && canary.gateways.contains(id)
        {
            return Some(&canary.pushed);
        }
        self.stable.as_ref()
    }

    fn stable_version(&self) -> u64 {
        self.stable.as_ref().map_or(0, |p| p.version)
    }

    fn canary_version(&self) -> u64 {
        self.canary.as_ref().map_or(0, |c| c.pushed.version)
    }
}

#[derive(Debug)]
struct Entry {
    /// The name of the token that registered this gateway (counted against its cap).
    token: String,
    /// A gateway until its stream says `kind=dns` or a report carries a weir-dns member view.
    kind: NodeKind,
    region: Option<String>,
    streams: usize,
    applied_version: Option<u64>,
    applied_at_unix_us: Option<u64>,
    last_report: Option<LastReport>,
    last_seen: SystemTime,
    /// A weir-dns instance's last member view (capped).
    dns: Option<DnsView>,
}

pub struct Fleet {
    latest: watch::Sender<Arc<Targets>>,
    /// Known and ready gateways per region, for weir-dns.
    readiness: watch::Sender<Arc<GatewayReadiness>>,
    gateways: Mutex<BTreeMap<String, Entry>>,
    limits: Limits,
    metrics: Metrics,
}

impl Fleet {
    pub fn new(metrics: Metrics) -> Fleet {
        Fleet::with_limits(metrics, Limits::default())
    }

    pub fn with_limits(metrics: Metrics, limits: Limits) -> Fleet {
        Fleet {
            latest: watch::Sender::new(Arc::default()),
            readiness: watch::Sender::new(Arc::default()),
            gateways: Mutex::new(BTreeMap::new()),
            limits,
            metrics,
        }
    }

    /// Makes `pushed` the version every stream sends (ending a canary: promoting the canary's
    /// own version, or a newer one), unless a newer one already is (two commits finishing out of
    /// order never move the fleet backwards).
    pub fn publish(&self, pushed: Pushed) {
        let pushed = Arc::new(pushed);
        self.latest.send_if_modified(|latest| {
            if pushed.version <= latest.stable_version() || pushed.version < latest.canary_version()
            {
                return false;
            }
            *latest = Arc::new(Targets {
                stable: Some(Arc::clone(&pushed)),
                canary: None,
            });
            true
        });
    }

    /// Pushes `pushed` to the gateways `canaries` only; every other node keeps the stable
    /// version. Refused (`false`) unless it is newer than every version published.
    pub fn publish_canary(&self, pushed: Pushed, canaries: BTreeSet<String>) -> bool {
        let pushed = Arc::new(pushed);
        self.latest.send_if_modified(|latest| {
            if pushed.version <= latest.stable_version().max(latest.canary_version()) {
                return false;
            }
            *latest = Arc::new(Targets {
                stable: latest.stable.clone(),
                canary: Some(Canary {
                    pushed: Arc::clone(&pushed),
                    gateways: canaries.clone(),
                }),
            });
            true
        })
    }

    /// What the streams push now.
    pub fn targets(&self) -> Arc<Targets> {
        Arc::clone(&self.latest.borrow())
    }

    /// Follow the versions to push (the receiver sees the current ones as unseen).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Targets>> {
        let mut receiver = self.latest.subscribe();
        receiver.mark_changed();
        receiver
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.gateways.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Follow the gateways' readiness (the receiver sees the current one as unseen).
    pub fn follow_readiness(&self) -> watch::Receiver<Arc<GatewayReadiness>> {
        let mut receiver = self.readiness.subscribe();
        receiver.mark_changed();
        receiver
    }

    /// Recounts the gateways' readiness (a gateway disconnected for longer than
    /// [`FORGET_AFTER`] no longer counts: it is taken for retired). Called on weir-dns streams'
    /// heartbeats, so that hour passing is seen without any other change.
    pub fn refresh_readiness(&self) {
        let gateways = self.lock();
        self.recount(&gateways);
    }

    /// Recounts the gateways' readiness from `gateways` (called with the table locked, after
    /// every change to it) and wakes the followers only when a count changed.
    fn recount(&self, gateways: &BTreeMap<String, Entry>) {
        let now = SystemTime::now();
        let mut readiness = GatewayReadiness::default();
        for entry in gateways.values() {
            let ready = entry.streams > 0;
            let retired = !ready
                && now
                    .duration_since(entry.last_seen)
                    .is_ok_and(|gone| gone > FORGET_AFTER);
            if let (NodeKind::Gateway, Some(region), false) = (entry.kind, &entry.region, retired) {
                readiness.count(region, ready);
            }
        }
        self.readiness.send_if_modified(|current| {
            if **current == readiness {
                return false;
            }
            *current = Arc::new(readiness);
            true
        });
    }

    /// A gateway (or a weir-dns instance, `kind`) opened a stream; it counts as connected until
    /// the guard is dropped. `token` is the name of the token it presented.
    pub fn connect(
        self: &Arc<Self>,
        id: &str,
        region: Option<String>,
        kind: NodeKind,
        token: &str,
    ) -> Result<StreamGuard, Refused> {
        let now = SystemTime::now();
        let mut gateways = self.lock();
        let entry = self.admit(&mut gateways, id, token, now)?;
        entry.streams += 1;
        entry.last_seen = now;
        if region.is_some() {
            entry.region = region;
        }
        if kind == NodeKind::Dns {
            entry.kind = kind;
        }
        self.recount(&gateways);
        self.metrics.gateways_connected.inc();
        Ok(StreamGuard {
            fleet: Arc::clone(self),
            id: id.to_string(),
        })
    }

    /// The entry of `id`, registered for `token` if it is new and the caps allow it.
    fn admit<'a>(
        &self,
        gateways: &'a mut BTreeMap<String, Entry>,
        id: &str,
        token: &str,
        now: SystemTime,
    ) -> Result<&'a mut Entry, Refused> {
        if !gateways.contains_key(id) {
            if let Err(refused) = make_room(gateways, token, self.limits, now) {
                self.metrics
                    .gateways_refused
                    .with_label_values(&[refused.reason()])
                    .inc();
                return Err(refused);
            }
            self.metrics.gateways_known.set(gateways.len() as i64 + 1);
        }
        Ok(gateways.entry(id.to_string()).or_insert_with(|| Entry {
            token: token.to_string(),
            kind: NodeKind::Gateway,
            region: None,
            streams: 0,
            applied_version: None,
            applied_at_unix_us: None,
            last_report: None,
            last_seen: now,
            dns: None,
        }))
    }

    /// `id` said it is a weir-dns instance (`?kind=dns` on its stream).
    pub fn mark_dns(&self, id: &str) {
        let mut gateways = self.lock();
        if let Some(entry) = gateways.get_mut(id) {
            entry.kind = NodeKind::Dns;
            self.recount(&gateways);
        }
    }

    /// The stream of `id` is still alive (a heartbeat or a push went out).
    pub fn seen(&self, id: &str) {
        if let Some(entry) = self.lock().get_mut(id) {
            entry.last_seen = SystemTime::now();
        }
    }

    /// Records a gateway's report, sent with the token named `token`.
    pub fn report(
        &self,
        id: &str,
        token: &str,
        report: Report,
        now: SystemTime,
    ) -> Result<(), Refused> {
        let mut gateways = self.lock();
        let entry = self.admit(&mut gateways, id, token, now)?;
        self.metrics
            .reports
            .with_label_values(&[report.outcome.as_str()])
            .inc();
        entry.last_seen = now;
        if report.region.is_some() {
            entry.region = report.region;
        }
        if report.applied_version > 0 {
            if entry.applied_version != Some(report.applied_version) {
                entry.applied_at_unix_us = report.applied_at_unix_us;
            }
            entry.applied_version = Some(report.applied_version);
        }
        if let Some(view) = report.dns {
            entry.kind = NodeKind::Dns;
            entry.dns = Some(view.recapped());
        }
        entry.last_report = Some(LastReport {
            version: report.version,
            outcome: report.outcome,
            errors: weir_protocol::cap_errors(report.errors),
            at: humantime::format_rfc3339_millis(now).to_string(),
        });
        self.recount(&gateways);
        Ok(())
    }

    /// A gateway sent a health summary with the token named `token`: it is registered like a
    /// report registers it (same caps), and counts as seen. The readiness is recounted only when
    /// its region changed, so frequent summaries cost no walk of the table.
    pub fn heard(
        &self,
        id: &str,
        token: &str,
        region: Option<&str>,
        now: SystemTime,
    ) -> Result<(), Refused> {
        let mut gateways = self.lock();
        let entry = self.admit(&mut gateways, id, token, now)?;
        entry.last_seen = now;
        if let Some(region) = region
            && entry.region.as_deref() != Some(region)
        {
            entry.region = Some(region.to_string());
            self.recount(&gateways);
        }
        Ok(())
    }

    /// What the fleet knows of gateway `id` now, if it remembers it.
    pub fn seen_of(&self, id: &str) -> Option<Seen> {
        self.lock().get(id).map(|entry| Seen {
            last_seen: entry.last_seen,
            connected: entry.streams > 0,
            applied_version: entry.applied_version,
            last_report: entry.last_report.clone(),
        })
    }

    /// Every remembered gateway, by id.
    pub fn gateways(&self) -> Vec<GatewayView> {
        self.lock()
            .iter()
            .map(|(id, entry)| GatewayView {
                id: id.clone(),
                kind: entry.kind,
                region: entry.region.clone(),
                connected: entry.streams > 0,
                applied_version: entry.applied_version,
                applied_at_unix_us: entry.applied_at_unix_us,
                last_report: entry.last_report.clone(),
                last_seen: humantime::format_rfc3339_millis(entry.last_seen).to_string(),
                dns: entry.dns.clone(),
            })
            .collect()
    }

    fn disconnect(&self, id: &str) {
        let mut gateways = self.lock();
        if let Some(entry) = gateways.get_mut(id) {
            entry.streams = entry.streams.saturating_sub(1);
            entry.last_seen = SystemTime::now();
        }
        self.recount(&gateways);
        drop(gateways);
        self.metrics.gateways_connected.dec();
    }
}

/// Makes room for one more gateway of `token`: when a cap is reached, gateways disconnected for
/// longer than [`FORGET_AFTER`] are forgotten; if that is not enough, the new one is refused.
/// A gateway in use (connected, or heard from within the hour) is never forgotten.
fn make_room(
    gateways: &mut BTreeMap<String, Entry>,
    token: &str,
    limits: Limits,
    now: SystemTime,
) -> Result<(), Refused> {
    let count =
        |gateways: &BTreeMap<String, Entry>| gateways.values().filter(|e| e.token == token).count();
    let full = |gateways: &BTreeMap<String, Entry>| {
        gateways.len() >= limits.max_gateways || count(gateways) >= limits.max_per_token
    };
    if !full(gateways) {
        return Ok(());
    }
    gateways.retain(|_, entry| {
        entry.streams > 0
            || now
                .duration_since(entry.last_seen)
                .map_or(true, |gone| gone <= FORGET_AFTER)
    });
    if count(gateways) >= limits.max_per_token {
        return Err(Refused::TokenCap {
            token: token.to_string(),
            cap: limits.max_per_token,
        });
    }
    if gateways.len() >= limits.max_gateways {
        return Err(Refused::FleetCap {
            cap: limits.max_gateways,
        });
    }
    Ok(())
}

/// One gateway as [`Fleet::seen_of`] gives it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its stream last carried a message, or it last reported or sent telemetry.
    pub last_seen: SystemTime,
    pub connected: bool,
    pub applied_version: Option<u64>,
    pub last_report: Option<LastReport>,
}

/// Marks a stream closed when dropped (however the stream ended).
pub struct StreamGuard {
    fleet: Arc<Fleet>,
    id: String,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.fleet.disconnect(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use weir_protocol::Outcome;

    use super::*;

    fn fleet() -> Arc<Fleet> {
        Arc::new(Fleet::new(Metrics::new().unwrap()))
    }

    fn picked(targets: &Targets, id: &str, kind: NodeKind) -> Option<u64> {
        targets.pick(id, kind).map(|p| p.version)
    }

    #[test]
    fn publish_never_goes_backwards() {
        let fleet = fleet();
        let mut follower = fleet.subscribe();
        fleet.publish(Pushed::new(2, "c", "x"));
        fleet.publish(Pushed::new(1, "c", "x"));
        assert!(follower.has_changed().unwrap());
        let version = |f: &mut watch::Receiver<Arc<Targets>>| {
            picked(&f.borrow_and_update(), "g", NodeKind::Gateway)
        };
        assert_eq!(version(&mut follower), Some(2));
        assert!(!follower.has_changed().unwrap());
        fleet.publish(Pushed::new(3, "c", "x"));
        assert_eq!(version(&mut follower), Some(3));
    }

    #[test]
    fn a_canary_version_goes_to_the_canaries_only_until_promoted_or_replaced() {
        let fleet = fleet();
        fleet.publish(Pushed::new(4, "c", "x"));
        let canaries: BTreeSet<String> = ["gw-b".to_string()].into();
        assert!(!fleet.publish_canary(Pushed::new(4, "c", "y"), canaries.clone()));
        assert!(fleet.publish_canary(Pushed::new(5, "c", "y"), canaries.clone()));
        let targets = fleet.targets();
        assert_eq!(picked(&targets, "gw-a", NodeKind::Gateway), Some(4));
        assert_eq!(picked(&targets, "gw-b", NodeKind::Gateway), Some(5));
        assert_eq!(
            picked(&targets, "gw-b", NodeKind::Dns),
            Some(4),
            "weir-dns is never a canary"
        );
        // A stream that subscribes mid-rollout sees the same targets.
        let follower = fleet.subscribe();
        assert_eq!(
            picked(&follower.borrow(), "gw-b", NodeKind::Gateway),
            Some(5)
        );
        // Promote: the canary's own version to everyone.
        fleet.publish(Pushed::new(5, "c", "y"));
        let targets = fleet.targets();
        assert!(targets.canary.is_none());
        assert_eq!(picked(&targets, "gw-a", NodeKind::Gateway), Some(5));
        // A rollback version replaces a canary for everyone.
        assert!(fleet.publish_canary(Pushed::new(6, "c", "z"), canaries));
        fleet.publish(Pushed::new(7, "c", "x"));
        let targets = fleet.targets();
        assert_eq!(picked(&targets, "gw-b", NodeKind::Gateway), Some(7));
        assert!(targets.canary.is_none());
    }

    #[test]
    fn streams_and_reports_make_the_gateway_view() {
        let fleet = fleet();
        let guard = fleet
            .connect("g1", Some("us-east".into()), NodeKind::Gateway, "t")
            .unwrap();
        let second = fleet.connect("g1", None, NodeKind::Gateway, "t").unwrap();
        drop(guard);
        fleet
            .report(
                "g1",
                "t",
                Report {
                    region: None,
                    version: 4,
                    outcome: Outcome::Nack,
                    errors: vec!["routes[0].upstream: unknown".into()],
                    applied_version: 3,
                    applied_at_unix_us: Some(10),
                    dns: None,
                },
                SystemTime::now(),
            )
            .unwrap();
        let view = &fleet.gateways()[0];
        assert!(view.connected, "one stream is still open");
        assert_eq!(view.region.as_deref(), Some("us-east"));
        assert_eq!(view.applied_version, Some(3));
        let last = view.last_report.as_ref().unwrap();
        assert_eq!((last.version, last.outcome), (4, Outcome::Nack));
        drop(second);
        assert!(!fleet.gateways()[0].connected);
    }

    fn ack(version: u64) -> Report {
        Report {
            region: None,
            version,
            outcome: Outcome::Ack,
            errors: Vec::new(),
            applied_version: version,
            applied_at_unix_us: None,
            dns: None,
        }
    }

    #[test]
    fn a_report_with_a_member_view_makes_a_dns_entry() {
        let fleet = fleet();
        let _stream = fleet
            .connect("dns-1", None, NodeKind::Gateway, "t")
            .unwrap();
        assert_eq!(fleet.gateways()[0].kind, NodeKind::Gateway);
        fleet.mark_dns("dns-2");
        assert_eq!(
            fleet.gateways().len(),
            1,
            "marking an unknown id adds nothing"
        );
        let other = self::fleet();
        let _other_stream = other
            .connect("dns-0", None, NodeKind::Gateway, "t")
            .unwrap();
        other.mark_dns("dns-0");
        assert_eq!(
            other.gateways()[0].kind,
            NodeKind::Dns,
            "its stream said kind=dns"
        );
        assert!(other.gateways()[0].dns.is_none());
        let member = weir_protocol::MemberHealth {
            name: "api.gslb.example.com".into(),
            region: "us-east".into(),
            healthy: true,
            weight: 0,
            answered: false,
            gateways: None,
        };
        let mut report = ack(2);
        report.dns = Some(DnsView {
            members: vec![member.clone(); weir_protocol::MAX_REPORT_MEMBERS + 5],
            left_out: 0,
        });
        fleet
            .report("dns-1", "t", report, SystemTime::now())
            .unwrap();
        let view = &fleet.gateways()[0];
        assert_eq!(view.kind, NodeKind::Dns);
        let dns = view.dns.as_ref().unwrap();
        assert_eq!(
            dns.members.len(),
            weir_protocol::MAX_REPORT_MEMBERS,
            "kept capped"
        );
        assert_eq!(dns.left_out, 5);
        fleet
            .report("dns-1", "t", ack(3), SystemTime::now())
            .unwrap();
        let view = &fleet.gateways()[0];
        assert_eq!(
            view.kind,
            NodeKind::Dns,
            "a report without a view keeps the kind"
        );
        assert_eq!(view.dns.as_ref().unwrap().members[0], member);
    }

    #[test]
    fn readiness_counts_gateways_per_region_and_changes_only_with_a_count() {
        let fleet = fleet();
        let mut follower = fleet.follow_readiness();
        assert!(follower.has_changed().unwrap(), "the first view is unseen");
        assert!(follower.borrow_and_update().regions.is_empty());
        let a = fleet
            .connect("a", Some("us-east".into()), NodeKind::Gateway, "t")
            .unwrap();
        let b = fleet
            .connect("b", Some("us-east".into()), NodeKind::Gateway, "t")
            .unwrap();
        let _dns = fleet
            .connect("d", Some("us-east".into()), NodeKind::Dns, "t")
            .unwrap();
        let _plain = fleet.connect("p", None, NodeKind::Gateway, "t").unwrap();
        let counts = |follower: &mut watch::Receiver<Arc<GatewayReadiness>>| {
            let view = follower.borrow_and_update();
            view.regions.get("us-east").map(|r| (r.known, r.ready))
        };
        assert_eq!(
            counts(&mut follower),
            Some((2, 2)),
            "weir-dns is no gateway"
        );
        drop(a);
        assert!(follower.has_changed().unwrap());
        assert_eq!(counts(&mut follower), Some((2, 1)));
        fleet.report("b", "t", ack(1), SystemTime::now()).unwrap();
        assert!(
            !follower.has_changed().unwrap(),
            "a report changed no count"
        );
        drop(b);
        assert_eq!(counts(&mut follower), Some((2, 0)));
        assert!(follower.borrow().regions["us-east"].all_down());
        // Gone for longer than FORGET_AFTER: retired, no longer known.
        if let Some(entry) = fleet.lock().get_mut("a") {
            entry.last_seen = SystemTime::now() - FORGET_AFTER - Duration::from_secs(1);
        }
        fleet.refresh_readiness();
        assert_eq!(counts(&mut follower), Some((1, 0)));
    }

    #[test]
    fn a_token_past_its_cap_is_refused_and_evicts_nobody() {
        let fleet = Arc::new(Fleet::with_limits(
            Metrics::new().unwrap(),
            Limits {
                max_gateways: 100,
                max_per_token: 3,
            },
        ));
        let now = SystemTime::now();
        let _real = fleet
            .connect("real", None, NodeKind::Gateway, "honest")
            .unwrap();
        for i in 0..3 {
            fleet
                .report(&format!("p{i}"), "leaked", ack(1), now)
                .unwrap();
        }
        let refused = fleet.report("p3", "leaked", ack(1), now).unwrap_err();
        assert_eq!(
            refused,
            Refused::TokenCap {
                token: "leaked".into(),
                cap: 3
            }
        );
        assert!(
            fleet
                .connect("p4", None, NodeKind::Gateway, "leaked")
                .is_err()
        );
        // A known id is not new: its reports still count.
        fleet.report("p0", "leaked", ack(2), now).unwrap();
        let ids: Vec<String> = fleet.gateways().into_iter().map(|g| g.id).collect();
        assert_eq!(ids, ["p0", "p1", "p2", "real"]);
        // An hour after they went quiet, they may be forgotten to make room.
        let later = now + FORGET_AFTER + Duration::from_secs(1);
        fleet.report("p5", "leaked", ack(1), later).unwrap();
        let ids: Vec<String> = fleet.gateways().into_iter().map(|g| g.id).collect();
        assert_eq!(ids, ["p5", "real"], "the connected gateway is kept");
    }

    #[test]
    fn a_health_summary_registers_its_gateway_like_a_report() {
        let fleet = Arc::new(Fleet::with_limits(
            Metrics::new().unwrap(),
            Limits {
                max_gateways: 10,
                max_per_token: 2,
            },
        ));
        let mut follower = fleet.follow_readiness();
        follower.borrow_and_update();
        let now = SystemTime::now();
        fleet.heard("a", "t", Some("us-east"), now).unwrap();
        let view = &fleet.gateways()[0];
        assert_eq!(
            (view.id.as_str(), view.region.as_deref()),
            ("a", Some("us-east"))
        );
        assert!(!view.connected && view.last_report.is_none());
        assert!(
            follower.has_changed().unwrap(),
            "a new region's gateway is known"
        );
        follower.borrow_and_update();
        fleet.heard("a", "t", Some("us-east"), now).unwrap();
        fleet.heard("a", "t", None, now).unwrap();
        assert!(!follower.has_changed().unwrap(), "no count changed");
        fleet.heard("b", "t", None, now).unwrap();
        assert_eq!(
            fleet.heard("c", "t", None, now).unwrap_err(),
            Refused::TokenCap {
                token: "t".into(),
                cap: 2
            }
        );
    }

    #[test]
    fn a_full_table_refuses_new_ids_and_keeps_those_in_use() {
        let fleet = Arc::new(Fleet::with_limits(
            Metrics::new().unwrap(),
            Limits {
                max_gateways: 3,
                max_per_token: 10,
            },
        ));
        let now = SystemTime::now();
        for token in ["a", "b", "c"] {
            fleet.report(token, token, ack(1), now).unwrap();
        }
        assert_eq!(
            fleet.report("d", "d", ack(1), now).unwrap_err(),
            Refused::FleetCap { cap: 3 }
        );
        assert_eq!(fleet.gateways().len(), 3);
    }
}
