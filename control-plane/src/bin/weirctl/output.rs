//! Human output from the control plane's answers, read as the API's types: aligned tables
//! (history, gateways, audit, the weir-dns members, the gateways' telemetry), the status summary, and change lists (`~ path: old -> new`). An
//! empty or absent value shows as `-`; times are shown as the server gave them.

use std::fmt::{Display, Write as _};

use serde_json::Value;
use weir_protocol::Outcome;
use weir_protocol::api::{
    AuditList, ConfigVersion, ConfigWrite, GatewayList, GatewayView, NodeKind, ReplicaView,
    TelemetryList, VersionList, VersionMeta, Written,
};

/// A cell: the text with control characters (a newline in a message) as spaces so rows stay one
/// line, trimmed; empty as `-`.
pub fn cell(text: &str) -> String {
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        "-".to_string()
    } else {
        text.to_string()
    }
}

/// An optional value as a cell: `-` when absent.
fn opt<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |value| cell(&value.to_string()))
}

/// Rows under a header, columns aligned by two spaces; no trailing spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, value) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(value.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, value) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(value);
            let width = widths.get(i).copied().unwrap_or(0);
            line.extend(std::iter::repeat_n(
                ' ',
                width.saturating_sub(value.chars().count()),
            ));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `GET /v1/versions`.
pub fn history(answer: &VersionList) -> String {
    if answer.versions.is_empty() {
        return "no versions yet\n".to_string();
    }
    let rows: Vec<Vec<String>> = answer
        .versions
        .iter()
        .map(|v| {
            vec![
                v.version.to_string(),
                cell(&v.time),
                cell(&v.author),
                cell(&v.action),
                cell(&v.message),
            ]
        })
        .collect();
    table(&["VERSION", "TIME", "AUTHOR", "ACTION", "MESSAGE"], &rows)
}

/// `GET /v1/audit`.
pub fn audit(answer: &AuditList) -> String {
    if answer.entries.is_empty() {
        return "the audit log is empty\n".to_string();
    }
    let rows: Vec<Vec<String>> = answer
        .entries
        .iter()
        .map(|e| {
            vec![
                cell(&e.time),
                cell(&e.actor),
                cell(&e.action),
                e.version.to_string(),
                cell(&e.message),
                cell(&e.detail),
            ]
        })
        .collect();
    table(
        &["TIME", "ACTOR", "ACTION", "VERSION", "MESSAGE", "DETAIL"],
        &rows,
    )
}

/// `last_report` as one cell: `ack 7 at TIME`.
fn report_cell(gateway: &GatewayView) -> String {
    match &gateway.last_report {
        Some(report) => format!(
            "{} {} at {}",
            report.outcome.as_str(),
            report.version,
            cell(&report.at)
        ),
        None => "-".to_string(),
    }
}

/// Every NACK with its errors: a line naming the gateway after `lead`, then one line per error
/// after `indent`.
fn nacks(gateways: &[GatewayView], lead: &str, indent: &str) -> String {
    let mut out = String::new();
    for gateway in gateways {
        let Some(report) = gateway
            .last_report
            .as_ref()
            .filter(|r| r.outcome == Outcome::Nack)
        else {
            continue;
        };
        let _ = write!(
            out,
            "{lead}{}{} refused version {} at {}",
            cell(&gateway.id),
            region_suffix(gateway),
            report.version,
            cell(&report.at),
        );
        if report.errors.is_empty() {
            out.push_str(" (no reason given)\n");
        } else {
            out.push_str(":\n");
            for error in &report.errors {
                let _ = writeln!(out, "{indent}{}", cell(error));
            }
        }
    }
    out
}

fn region_suffix(gateway: &GatewayView) -> String {
    match gateway.region.as_deref() {
        Some(region) if !region.is_empty() => format!(" ({region})"),
        _ => String::new(),
    }
}

/// The id, with ` (dns)` after a weir-dns instance's.
fn id_cell(node: &GatewayView) -> String {
    match node.kind {
        NodeKind::Gateway => cell(&node.id),
        NodeKind::Dns => format!("{} (dns)", cell(&node.id)),
    }
}

fn yes_no(connected: bool) -> &'static str {
    if connected { "yes" } else { "no" }
}

/// `GET /v1/gateways`.
pub fn gateways(answer: &GatewayList) -> String {
    let gateways = &answer.gateways;
    if gateways.is_empty() {
        return "no gateway has connected yet\n".to_string();
    }
    let rows: Vec<Vec<String>> = gateways
        .iter()
        .map(|g| {
            vec![
                id_cell(g),
                opt(g.region.as_deref()),
                yes_no(g.connected).to_string(),
                opt(g.applied_version),
                report_cell(g),
                cell(&g.last_seen),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "ID",
            "REGION",
            "CONNECTED",
            "VERSION",
            "LAST REPORT",
            "LAST SEEN",
        ],
        &rows,
    );
    let refused = nacks(gateways, "", "  ");
    if !refused.is_empty() {
        out.push('\n');
        out.push_str(&refused);
    }
    out
}

/// `drained`: `{region: {upstream: weight}}` as `eu-west (api 100, web 50)`.
fn drained(meta: &VersionMeta) -> Option<String> {
    if meta.drained.is_empty() {
        return None;
    }
    let parts: Vec<String> = meta
        .drained
        .iter()
        .map(|(region, pools)| {
            if pools.is_empty() {
                return region.clone();
            }
            let weights: Vec<String> = pools
                .iter()
                .map(|(upstream, weight)| format!("{upstream} {weight}"))
                .collect();
            format!("{region} (remembered weights: {})", weights.join(", "))
        })
        .collect();
    Some(parts.join("; "))
}

/// `weirctl status`: the current version (`None` when there is no version yet) and a summary of
/// the gateways: connected, on the current version, not on it, and every NACK.
pub fn status(config: Option<&ConfigVersion>, gateways_answer: &GatewayList) -> String {
    let mut out = String::new();
    let current = match config {
        Some(ConfigVersion { meta, .. }) => {
            let _ = write!(
                out,
                "current version {} ({}) at {} by {}",
                meta.version,
                cell(&meta.action),
                cell(&meta.time),
                cell(&meta.author),
            );
            match cell(&meta.message) {
                message if message != "-" => {
                    let _ = writeln!(out, ": {message}");
                }
                _ => out.push('\n'),
            }
            if !meta.checksum.is_empty() {
                let _ = writeln!(out, "checksum {}", cell(&meta.checksum));
            }
            if let Some(drained) = drained(meta) {
                let _ = writeln!(out, "drained: {drained}");
            }
            Some(meta.version)
        }
        None => {
            out.push_str(
                "no config version yet: store the first one with `weirctl config apply -f FILE`\n",
            );
            None
        }
    };
    if let Some(replica) = &gateways_answer.control_plane {
        out.push_str(&replica_line(replica));
    }
    out.push('\n');
    let (gateways, dns): (Vec<GatewayView>, Vec<GatewayView>) = gateways_answer
        .gateways
        .iter()
        .cloned()
        .partition(|node| node.kind == NodeKind::Gateway);
    if gateways.is_empty() {
        out.push_str("gateways: none has connected yet\n");
    } else {
        followers(&mut out, "gateways", &gateways, current);
    }
    if !dns.is_empty() {
        followers(&mut out, "weir-dns", &dns, current);
    }
    out
}

/// `control plane: replica R (store etcd), leader L`: the gateways listed are R's.
fn replica_line(replica: &ReplicaView) -> String {
    let leader = match &replica.leader {
        Some(leader) if *leader == replica.replica => "this replica".to_owned(),
        Some(leader) => cell(leader),
        None => "none (an election is under way, or etcd is out of reach)".to_owned(),
    };
    let stale = if replica.store_connected {
        ""
    } else {
        "; its view of the store is not following etcd (reads may be stale)"
    };
    format!(
        "control plane: replica {} (store {}), leader {leader}{stale}\n",
        cell(&replica.replica),
        cell(&replica.store)
    )
}

/// One kind of follower in `weirctl status`: how many are connected and on `current`, which runs
/// what, and every NACK.
fn followers(out: &mut String, label: &str, gateways: &[GatewayView], current: Option<u64>) {
    let connected = gateways.iter().filter(|g| g.connected).count();
    let _ = write!(
        out,
        "{label}: {} known, {connected} connected",
        gateways.len()
    );
    match current {
        Some(current) => {
            let on_current = gateways
                .iter()
                .filter(|g| g.applied_version == Some(current))
                .count();
            let _ = writeln!(out, ", {on_current} on version {current}");
        }
        None => out.push('\n'),
    }
    // Which gateway runs which version.
    let rows: Vec<Vec<String>> = gateways
        .iter()
        .map(|g| {
            let version = match (g.applied_version, current) {
                (Some(runs), Some(current)) if runs == current => format!("{runs} (current)"),
                (Some(runs), Some(_)) => format!("{runs} (not current)"),
                (Some(runs), None) => runs.to_string(),
                (None, _) => "- (none yet)".to_string(),
            };
            let connected = if g.connected {
                "yes".to_string()
            } else {
                format!("no (last seen {})", cell(&g.last_seen))
            };
            vec![cell(&g.id), opt(g.region.as_deref()), version, connected]
        })
        .collect();
    for line in table(&["ID", "REGION", "RUNS VERSION", "CONNECTED"], &rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str(&nacks(gateways, "  NACK: ", "      "));
}

/// `weirctl dns`: every GSLB member as each weir-dns instance sees it (from its last report),
/// by name, then the member's place in the name, then instance. HEALTH is its probes', GATEWAYS
/// its region's gateways as the control plane told that instance (`-`: probes alone).
pub fn dns(answer: &GatewayList) -> String {
    let instances: Vec<&GatewayView> = answer
        .gateways
        .iter()
        .filter(|node| node.kind == NodeKind::Dns)
        .collect();
    if instances.is_empty() {
        return "no weir-dns instance has reported yet\n".to_string();
    }
    let mut rows: Vec<(&str, usize, Vec<String>)> = Vec::new();
    let mut notes = String::new();
    for instance in &instances {
        let seen_by = if instance.connected {
            cell(&instance.id)
        } else {
            format!("{} (not connected)", cell(&instance.id))
        };
        let Some(view) = &instance.dns else { continue };
        // A member's place among its name's members (the config's order).
        let mut places: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for member in &view.members {
            let place = places.entry(member.name.as_str()).or_default();
            let order = *place;
            *place += 1;
            rows.push((
                &member.name,
                order,
                vec![
                    cell(&member.name),
                    cell(&member.region),
                    seen_by.clone(),
                    if member.healthy { "up" } else { "down" }.to_string(),
                    match member.gateways {
                        Some(counts) => format!("{}/{} ready", counts.ready, counts.known),
                        None => "-".to_string(),
                    },
                    member.weight.to_string(),
                    yes_no(member.answered).to_string(),
                ],
            ));
        }
        if view.left_out > 0 {
            let _ = writeln!(
                notes,
                "{} reported {} more members than a report carries",
                cell(&instance.id),
                view.left_out
            );
        }
    }
    rows.sort_by(|a, b| (a.0, a.1, &a.2[2]).cmp(&(b.0, b.1, &b.2[2])));
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, _, row)| row).collect();
    let mut out = table(
        &[
            "NAME", "REGION", "SEEN BY", "HEALTH", "GATEWAYS", "WEIGHT", "ANSWERED",
        ],
        &rows,
    );
    out.push_str(&notes);
    out
}

/// `weirctl telemetry`: one row per gateway and pool of its latest summary (a gateway without
/// pools gets one row of `-`), by gateway then upstream and region. RATE is requests per second
/// over the summary's interval, ERRORS the share of them that failed (5xx or no answer).
pub fn telemetry(answer: &TelemetryList) -> String {
    if answer.gateways.is_empty() {
        return "no gateway has sent a health summary yet
"
        .to_string();
    }
    let mut rows = Vec::new();
    for g in &answer.gateways {
        let gateway = if g.stale {
            format!("{} (stale)", cell(&g.id))
        } else {
            cell(&g.id)
        };
        let seen = format!("{:.1}s ago", g.age_ms as f64 / 1e3);
        let version = g.latest.config_version.to_string();
        let mut pools: Vec<_> = g.latest.pools.iter().collect();
        pools.sort_by(|a, b| (&a.upstream, &a.region).cmp(&(&b.upstream, &b.region)));
        if pools.is_empty() {
            let mut row = vec![gateway.clone(), version.clone(), seen.clone()];
            row.extend(std::iter::repeat_n("-".to_string(), 8));
            rows.push(row);
        }
        for pool in pools {
            let seconds = g.latest.interval_ms as f64 / 1e3;
            let rate = if seconds > 0.0 {
                format!("{:.1}/s", pool.requests as f64 / seconds)
            } else {
                "-".to_string()
            };
            let ms = |ms: Option<f64>| opt(ms.map(|ms| format!("{ms:.1}ms")));
            rows.push(vec![
                gateway.clone(),
                version.clone(),
                seen.clone(),
                cell(&pool.upstream),
                cell(&pool.region),
                format!("{:.0}%", pool.healthy_fraction * 100.0),
                rate,
                if pool.requests == 0 {
                    "-".to_string()
                } else {
                    format!("{:.1}%", pool.error_ratio() * 100.0)
                },
                ms(pool.p50_ms),
                ms(pool.p99_ms),
                if pool.breaker_open { "open" } else { "closed" }.to_string(),
            ]);
        }
    }
    table(
        &[
            "GATEWAY", "VERSION", "SEEN", "UPSTREAM", "POOL", "HEALTHY", "RATE", "ERRORS", "P50",
            "P99", "BREAKER",
        ],
        &rows,
    )
}

/// The `changes` of a write, one `~ ` line each, or `no changes`.
pub fn changes(changes: &[String]) -> String {
    if changes.is_empty() {
        return "no changes\n".to_string();
    }
    changes
        .iter()
        .map(|change| format!("~ {}\n", cell(change)))
        .collect()
}

/// `PUT /v1/config`: a dry run, an unchanged config, or a stored version, with the changes.
pub fn applied(answer: &ConfigWrite) -> String {
    match answer {
        ConfigWrite::DryRun(dry_run) => {
            let base = match dry_run.base_version {
                0 => "there is no version yet".to_string(),
                base => format!("against version {base}"),
            };
            format!(
                "dry run ({base}; nothing stored):\n{}",
                changes(&dry_run.changes)
            )
        }
        ConfigWrite::Written(written) if !written.changed => format!(
            "no changes: version {} already is this config\n",
            written.version
        ),
        ConfigWrite::Written(written) => {
            let mut out = format!(
                "stored version {}:\n{}",
                written.version,
                changes(written.detail.changes.as_deref().unwrap_or_default())
            );
            if let Some(rollout) = &written.detail.rollout {
                out.push_str(&crate::rollout::started(rollout));
            }
            out
        }
    }
}

/// A write's answer: `stored version N: what`, or `no changes` when the server stored nothing.
pub fn written<T>(answer: &Written<T>, what: &str, unchanged: &str) -> String {
    if answer.changed {
        format!("stored version {}: {what}\n", answer.version)
    } else {
        format!("no changes: {unchanged} (version {})\n", answer.version)
    }
}

/// The `warnings` of an answer, one `warning: ` line each.
pub fn warnings(warnings: &[String]) -> String {
    warnings
        .iter()
        .map(|warning| format!("warning: {}\n", cell(warning)))
        .collect()
}

/// JSON for `--json`: pretty, one trailing newline.
pub fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeOwned;
    use serde_json::json;
    use weir_protocol::api::RolledBack;

    use super::*;

    /// An answer as weirctl reads it off the wire.
    fn read<T: DeserializeOwned>(answer: Value) -> T {
        serde_json::from_value(answer).expect("an answer of the API's shape")
    }

    #[test]
    fn cells_are_one_line_and_never_empty() {
        assert_eq!(opt(None::<u64>), "-");
        assert_eq!(cell(""), "-");
        assert_eq!(opt(Some(7)), "7");
        assert_eq!(opt(Some("  ")), "-");
        assert_eq!(cell("two\nlines\t"), "two lines");
    }

    #[test]
    fn tables_align() {
        let out = table(
            &["A", "LONGER"],
            &[
                vec!["wide value".into(), "x".into()],
                vec!["é".into(), "-".into()],
            ],
        );
        assert_eq!(out, "A           LONGER\nwide value  x\né           -\n");
    }

    #[test]
    fn history_table() {
        let answer = json!({"versions": [
            {"version": 12, "author": "alice", "message": "eu-west api: bad deploy",
             "time": "2025-06-01T10:02:03Z", "action": "weight", "checksum": "ab"},
            {"version": 11, "author": "ci", "message": "",
             "time": "2025-06-01T09:00:00Z", "action": "replace", "checksum": "cd"},
            {"version": 1, "author": "seed", "message": "", "time": "2025-05-01T00:00:00Z",
             "action": "seed", "checksum": "ef"}
        ]});
        assert_eq!(
            history(&read(answer)),
            "\
VERSION  TIME                  AUTHOR  ACTION   MESSAGE
12       2025-06-01T10:02:03Z  alice   weight   eu-west api: bad deploy
11       2025-06-01T09:00:00Z  ci      replace  -
1        2025-05-01T00:00:00Z  seed    seed     -
"
        );
        assert_eq!(history(&read(json!({"versions": []}))), "no versions yet\n");
    }

    #[test]
    fn audit_table() {
        let answer = json!({"entries": [
            {"time": "2025-06-01T10:02:03Z", "actor": "alice", "action": "drain",
             "version": 13, "message": "maintenance", "detail": "eu-west: 2 pool(s) to weight 0"},
            {"time": "2025-06-01T10:00:00Z", "actor": "recovered", "action": "recovered",
             "version": 12, "detail": ""}
        ]});
        assert_eq!(
            audit(&read(answer)),
            "\
TIME                  ACTOR      ACTION     VERSION  MESSAGE      DETAIL
2025-06-01T10:02:03Z  alice      drain      13       maintenance  eu-west: 2 pool(s) to weight 0
2025-06-01T10:00:00Z  recovered  recovered  12       -            -
"
        );
        assert_eq!(
            audit(&read(json!({"entries": []}))),
            "the audit log is empty\n"
        );
    }

    fn fleet() -> GatewayList {
        read(json!({"current_version": 7, "gateways": [
            {"id": "gw-eu-1", "region": "eu-west", "connected": true, "applied_version": 7,
             "last_report": {"version": 7, "outcome": "ack", "errors": [], "at": "2025-06-01T10:00:01Z"},
             "last_seen": "2025-06-01T10:05:00Z"},
            {"id": "gw-eu-2", "region": "eu-west", "connected": true, "applied_version": 6,
             "last_report": {"version": 7, "outcome": "nack",
                             "errors": ["routes[2].upstream: unknown upstream 'search'"],
                             "at": "2025-06-01T10:00:02Z"},
             "last_seen": "2025-06-01T10:05:00Z"},
            {"id": "gw-us-1", "region": null, "connected": false, "applied_version": null,
             "last_report": null, "last_seen": "2025-05-30T08:00:00Z"}
        ]}))
    }

    #[test]
    fn telemetry_has_a_row_per_gateway_and_pool_and_marks_the_stale() {
        let pool = |region: &str, requests: u64, failed: u64| {
            json!({"upstream": "api", "region": region, "healthy_fraction": 0.5,
                   "requests": requests, "status_5xx": failed, "transport_errors": 0,
                   "p50_ms": if requests > 0 { json!(1.25) } else { json!(null) },
                   "p99_ms": if requests > 0 { json!(20.0) } else { json!(null) },
                   "breaker_open": failed > 0})
        };
        let gateway = |id: &str, stale: bool, pools: Vec<Value>| {
            json!({"id": id, "region": "us-east", "stale": stale,
                   "last_seen": "2025-06-01T10:05:00Z", "age_ms": if stale { 9000 } else { 200 },
                   "stale_after_ms": 3000, "window": 3,
                   "latest": {"region": "us-east", "config_version": 7, "interval_ms": 2000,
                              "pools": pools}})
        };
        let answer: TelemetryList = read(json!({"current_version": 7, "gateways": [
            gateway("gw-1", false, vec![pool("us-east", 40, 40), pool("eu-west", 0, 0)]),
            gateway("gw-2", true, vec![]),
        ]}));
        assert_eq!(
            telemetry(&answer),
            "\
GATEWAY       VERSION  SEEN      UPSTREAM  POOL     HEALTHY  RATE    ERRORS  P50    P99     BREAKER
gw-1          7        0.2s ago  api       eu-west  50%      0.0/s   -       -      -       closed
gw-1          7        0.2s ago  api       us-east  50%      20.0/s  100.0%  1.2ms  20.0ms  open
gw-2 (stale)  7        9.0s ago  -         -        -        -       -       -      -       -
"
        );
        let none: TelemetryList = read(json!({"current_version": null, "gateways": []}));
        assert_eq!(
            telemetry(&none),
            "no gateway has sent a health summary yet\n"
        );
    }

    #[test]
    fn gateways_table_with_nacks_below() {
        assert_eq!(
            gateways(&fleet()),
            "\
ID       REGION   CONNECTED  VERSION  LAST REPORT                     LAST SEEN
gw-eu-1  eu-west  yes        7        ack 7 at 2025-06-01T10:00:01Z   2025-06-01T10:05:00Z
gw-eu-2  eu-west  yes        6        nack 7 at 2025-06-01T10:00:02Z  2025-06-01T10:05:00Z
gw-us-1  -        no         -        -                               2025-05-30T08:00:00Z

gw-eu-2 (eu-west) refused version 7 at 2025-06-01T10:00:02Z:
  routes[2].upstream: unknown upstream 'search'
"
        );
        assert_eq!(
            gateways(&read(json!({"current_version": null, "gateways": []}))),
            "no gateway has connected yet\n"
        );
    }

    #[test]
    fn status_summary() {
        let meta: ConfigVersion = read(
            json!({"version": 7, "author": "alice", "message": "add search",
            "time": "2025-06-01T10:00:00Z", "action": "replace", "checksum": "9f86d0",
            "drained": {"us-east": {"api": 100, "web": 50}}, "config": "[upstreams]\n"}),
        );
        assert_eq!(
            status(Some(&meta), &fleet()),
            "\
current version 7 (replace) at 2025-06-01T10:00:00Z by alice: add search
checksum 9f86d0
drained: us-east (remembered weights: api 100, web 50)

gateways: 3 known, 2 connected, 1 on version 7
  ID       REGION   RUNS VERSION     CONNECTED
  gw-eu-1  eu-west  7 (current)      yes
  gw-eu-2  eu-west  6 (not current)  yes
  gw-us-1  -        - (none yet)     no (last seen 2025-05-30T08:00:00Z)
  NACK: gw-eu-2 (eu-west) refused version 7 at 2025-06-01T10:00:02Z:
      routes[2].upstream: unknown upstream 'search'
"
        );
    }

    #[test]
    fn status_names_the_replica_its_store_and_the_leader() {
        let mut answer = fleet();
        answer.gateways.clear();
        let replica = |leader: Option<&str>, connected: bool| ReplicaView {
            replica: "cp-a/10.0.0.1:7700".into(),
            store: "etcd".into(),
            leader: leader.map(str::to_owned),
            store_connected: connected,
        };
        answer.control_plane = Some(replica(Some("cp-b/10.0.0.2:7700"), true));
        assert!(status(None, &answer).contains(
            "control plane: replica cp-a/10.0.0.1:7700 (store etcd), leader cp-b/10.0.0.2:7700\n"
        ));
        answer.control_plane = Some(replica(Some("cp-a/10.0.0.1:7700"), true));
        assert!(status(None, &answer).contains("leader this replica\n"));
        answer.control_plane = Some(replica(None, false));
        let text = status(None, &answer);
        assert!(
            text.contains("leader none (an election is under way"),
            "{text}"
        );
        assert!(text.contains("not following etcd"), "{text}");
    }

    fn with_dns() -> GatewayList {
        let member = |name: &str, region: &str, healthy: bool, weight: u32| {
            json!({"name": name, "region": region, "healthy": healthy, "weight": weight,
                   "answered": healthy && weight > 0})
        };
        read(json!({"current_version": 7, "gateways": [
            {"id": "dns-a", "kind": "dns", "region": null, "connected": true,
             "applied_version": 7, "last_report": {"version": 7, "outcome": "ack", "errors": [],
             "at": "T"}, "last_seen": "T", "dns": {"members": [
                member("www.gslb.example.com", "us-east", true, 100),
                member("api.gslb.example.com", "us-east", true, 0),
                member("api.gslb.example.com", "eu-west", false, 100)]}},
            {"id": "dns-b", "kind": "dns", "region": null, "connected": false,
             "applied_version": 6, "last_report": null, "last_seen": "T", "dns": {"members": [
                {"name": "api.gslb.example.com", "region": "us-east", "healthy": true,
                 "weight": 100, "answered": false, "gateways": {"known": 2, "ready": 0}}],
                 "left_out": 3}},
            {"id": "gw-1", "kind": "gateway", "region": "us-east", "connected": true,
             "applied_version": 7, "last_report": null, "last_seen": "T"}
        ]}))
    }

    #[test]
    fn dns_members_by_name_and_instance() {
        assert_eq!(
            dns(&with_dns()),
            "\
NAME                  REGION   SEEN BY                HEALTH  GATEWAYS   WEIGHT  ANSWERED
api.gslb.example.com  us-east  dns-a                  up      -          0       no
api.gslb.example.com  us-east  dns-b (not connected)  up      0/2 ready  100     no
api.gslb.example.com  eu-west  dns-a                  down    -          100     no
www.gslb.example.com  us-east  dns-a                  up      -          100     yes
dns-b reported 3 more members than a report carries
"
        );
        assert_eq!(dns(&fleet()), "no weir-dns instance has reported yet\n");
    }

    #[test]
    fn status_lists_weir_dns_apart_from_gateways() {
        let out = status(None, &with_dns());
        assert!(
            out.ends_with(
                "\
gateways: 1 known, 1 connected
  ID    REGION   RUNS VERSION  CONNECTED
  gw-1  us-east  7             yes
weir-dns: 2 known, 1 connected
  ID     REGION  RUNS VERSION  CONNECTED
  dns-a  -       7             yes
  dns-b  -       6             no (last seen T)
"
            ),
            "{out}"
        );
        assert!(gateways(&with_dns()).contains("\ndns-a (dns)  "));
    }

    #[test]
    fn status_without_a_version_or_gateways() {
        let out = status(None, &read(json!({"gateways": []})));
        assert_eq!(
            out,
            "no config version yet: store the first one with `weirctl config apply -f FILE`\n\n\
             gateways: none has connected yet\n"
        );
        let quiet: ConfigVersion = read(json!({"version": 1, "author": "seed", "message": "",
            "time": "T", "action": "seed", "checksum": "", "drained": {}, "config": ""}));
        let out = status(
            Some(&quiet),
            &read(json!({"gateways": [
            {"id": "g", "connected": true, "applied_version": 1, "last_seen": "T"}]})),
        );
        assert_eq!(
            out,
            "current version 1 (seed) at T by seed\n\ngateways: 1 known, 1 connected, 1 on version 1\n  \
             ID  REGION  RUNS VERSION  CONNECTED\n  g   -       1 (current)   yes\n"
        );
    }

    #[test]
    fn changes_are_prefixed() {
        let answer = json!({"version": 8, "changes": [
            "upstreams.api.pools[eu-west].weight: 100 -> 0",
            "routes[search]: added"]});
        assert_eq!(
            applied(&read(answer)),
            "stored version 8:\n~ upstreams.api.pools[eu-west].weight: 100 -> 0\n~ routes[search]: added\n"
        );
        assert_eq!(changes(&[]), "no changes\n");
        assert_eq!(
            applied(&read(json!({"version": 7, "changed": false}))),
            "no changes: version 7 already is this config\n"
        );
    }

    #[test]
    fn dry_runs_say_nothing_was_stored() {
        assert_eq!(
            applied(&read(json!({"dry_run": true, "base_version": 7,
                            "changes": ["load_shedding.max_in_flight: 100 -> 200"]}))),
            "dry run (against version 7; nothing stored):\n~ load_shedding.max_in_flight: 100 -> 200\n"
        );
        assert_eq!(
            applied(&read(
                json!({"dry_run": true, "base_version": 7, "changes": []})
            )),
            "dry run (against version 7; nothing stored):\nno changes\n"
        );
        assert_eq!(
            applied(&read(
                json!({"dry_run": true, "base_version": 0, "changes": ["first version"]})
            )),
            "dry run (there is no version yet; nothing stored):\n~ first version\n"
        );
    }

    #[test]
    fn writes() {
        assert_eq!(
            written(
                &read::<Written<RolledBack>>(json!({"version": 9, "rolled_back_to": 5})),
                "rolled back to version 5",
                "x"
            ),
            "stored version 9: rolled back to version 5\n"
        );
        assert_eq!(
            written(
                &read::<Written<()>>(json!({"version": 7, "changed": false})),
                "x",
                "already version 5's config"
            ),
            "no changes: already version 5's config (version 7)\n"
        );
        assert_eq!(pretty(&json!({"a": 1})), "{\n  \"a\": 1\n}\n");
    }
}
