//! Human output from the control plane's JSON: aligned tables (history, gateways, audit), the
//! status summary, and change lists (`~ path: old -> new`). Fields are read leniently: a missing
//! or null one shows as `-`, never as an error; times are shown as the server gave them.

use std::fmt::Write as _;

use serde_json::Value;

/// A cell: strings as given, numbers and booleans as text, missing/null/empty as `-`. Control
/// characters (a newline in a message) become spaces so rows stay one line.
pub fn cell(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
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

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn field(value: &Value, key: &str) -> String {
    cell(value.get(key).unwrap_or(&Value::Null))
}

/// `GET /v1/versions`.
pub fn history(answer: &Value) -> String {
    let versions = list(answer, "versions");
    if versions.is_empty() {
        return "no versions yet\n".to_string();
    }
    let rows: Vec<Vec<String>> = versions
        .iter()
        .map(|v| {
            ["version", "time", "author", "action", "message"]
                .iter()
                .map(|key| field(v, key))
                .collect()
        })
        .collect();
    table(&["VERSION", "TIME", "AUTHOR", "ACTION", "MESSAGE"], &rows)
}

/// `GET /v1/audit`.
pub fn audit(answer: &Value) -> String {
    let entries = list(answer, "entries");
    if entries.is_empty() {
        return "the audit log is empty\n".to_string();
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            ["time", "actor", "action", "version", "message", "detail"]
                .iter()
                .map(|key| field(e, key))
                .collect()
        })
        .collect();
    table(
        &["TIME", "ACTOR", "ACTION", "VERSION", "MESSAGE", "DETAIL"],
        &rows,
    )
}

fn is_nack(report: &Value) -> bool {
    report
        .get("outcome")
        .and_then(Value::as_str)
        .is_some_and(|o| o.eq_ignore_ascii_case("nack"))
}

/// `last_report` as one cell: `ack 7 at TIME`.
fn report_cell(gateway: &Value) -> String {
    match gateway.get("last_report") {
        Some(report) if report.is_object() => {
            let mut text = format!("{} {}", field(report, "outcome"), field(report, "version"));
            if let Some(at) = report.get("at").filter(|at| !at.is_null()) {
                let _ = write!(text, " at {}", cell(at));
            }
            text
        }
        _ => "-".to_string(),
    }
}

/// Every NACK with its errors: a line naming the gateway after `lead`, then one line per error
/// after `indent`.
fn nacks(gateways: &[Value], lead: &str, indent: &str) -> String {
    let mut out = String::new();
    for gateway in gateways {
        let Some(report) = gateway.get("last_report").filter(|r| is_nack(r)) else {
            continue;
        };
        let _ = write!(
            out,
            "{lead}{}{} refused version {}",
            field(gateway, "id"),
            region_suffix(gateway),
            field(report, "version"),
        );
        if let Some(at) = report.get("at").filter(|at| !at.is_null()) {
            let _ = write!(out, " at {}", cell(at));
        }
        let errors = list(report, "errors");
        if errors.is_empty() {
            out.push_str(" (no reason given)\n");
        } else {
            out.push_str(":\n");
            for error in errors {
                let _ = writeln!(out, "{indent}{}", cell(error));
            }
        }
    }
    out
}

fn region_suffix(gateway: &Value) -> String {
    match gateway.get("region").and_then(Value::as_str) {
        Some(region) if !region.is_empty() => format!(" ({region})"),
        _ => String::new(),
    }
}

/// `GET /v1/gateways`.
pub fn gateways(answer: &Value) -> String {
    let gateways = list(answer, "gateways");
    if gateways.is_empty() {
        return "no gateway has connected yet\n".to_string();
    }
    let rows: Vec<Vec<String>> = gateways
        .iter()
        .map(|g| {
            let connected = match g.get("connected").and_then(Value::as_bool) {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            vec![
                field(g, "id"),
                field(g, "region"),
                connected.to_string(),
                field(g, "applied_version"),
                report_cell(g),
                field(g, "last_seen"),
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
fn drained(meta: &Value) -> Option<String> {
    let regions = meta.get("drained")?.as_object()?;
    if regions.is_empty() {
        return None;
    }
    let parts: Vec<String> = regions
        .iter()
        .map(|(region, pools)| match pools.as_object() {
            Some(pools) if !pools.is_empty() => {
                let weights: Vec<String> = pools
                    .iter()
                    .map(|(upstream, weight)| format!("{upstream} {}", cell(weight)))
                    .collect();
                format!("{region} (remembered weights: {})", weights.join(", "))
            }
            _ => region.clone(),
        })
        .collect();
    Some(parts.join("; "))
}

/// `weirctl status`: the current version's meta (`None` when there is no version yet) and a
/// summary of the gateways: connected, on the current version, not on it, and every NACK.
pub fn status(config: Option<&Value>, gateways_answer: &Value) -> String {
    let mut out = String::new();
    let current = match config {
        Some(meta) => {
            let _ = write!(
                out,
                "current version {} ({}) at {} by {}",
                field(meta, "version"),
                field(meta, "action"),
                field(meta, "time"),
                field(meta, "author"),
            );
            match meta.get("message").map(cell) {
                Some(message) if message != "-" => {
                    let _ = writeln!(out, ": {message}");
                }
                _ => out.push('\n'),
            }
            if let Some(checksum) = meta.get("checksum").filter(|c| !c.is_null()) {
                let _ = writeln!(out, "checksum {}", cell(checksum));
            }
            if let Some(drained) = drained(meta) {
                let _ = writeln!(out, "drained: {drained}");
            }
            meta.get("version").and_then(Value::as_u64)
        }
        None => {
            out.push_str(
                "no config version yet: store the first one with `weirctl config apply -f FILE`\n",
            );
            None
        }
    };
    out.push('\n');
    let gateways = list(gateways_answer, "gateways");
    if gateways.is_empty() {
        out.push_str("gateways: none has connected yet\n");
        return out;
    }
    let connected = gateways
        .iter()
        .filter(|g| g.get("connected").and_then(Value::as_bool) == Some(true))
        .count();
    let _ = write!(
        out,
        "gateways: {} known, {connected} connected",
        gateways.len()
    );
    match current {
        Some(current) => {
            let on_current = gateways
                .iter()
                .filter(|g| g.get("applied_version").and_then(Value::as_u64) == Some(current))
                .count();
            let _ = writeln!(out, ", {on_current} on version {current}");
        }
        None => out.push('\n'),
    }
    // Which gateway runs which version.
    let rows: Vec<Vec<String>> = gateways
        .iter()
        .map(|g| {
            let runs = g.get("applied_version").and_then(Value::as_u64);
            let version = match (runs, current) {
                (Some(runs), Some(current)) if runs == current => format!("{runs} (current)"),
                (Some(runs), Some(_)) => format!("{runs} (not current)"),
                (Some(runs), None) => runs.to_string(),
                (None, _) => "- (none yet)".to_string(),
            };
            let connected = match g.get("connected").and_then(Value::as_bool) {
                Some(true) => "yes".to_string(),
                Some(false) => format!("no (last seen {})", field(g, "last_seen")),
                None => "-".to_string(),
            };
            vec![field(g, "id"), field(g, "region"), version, connected]
        })
        .collect();
    for line in table(&["ID", "REGION", "RUNS VERSION", "CONNECTED"], &rows).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str(&nacks(gateways, "  NACK: ", "      "));
    out
}

/// The `changes` of a write, one `~ ` line each, or `no changes`.
pub fn changes(answer: &Value) -> String {
    let changes = list(answer, "changes");
    if changes.is_empty() {
        return "no changes\n".to_string();
    }
    changes
        .iter()
        .map(|change| format!("~ {}\n", cell(change)))
        .collect()
}

/// `PUT /v1/config`: a dry run, an unchanged config, or a stored version, with the changes.
pub fn applied(answer: &Value) -> String {
    if answer.get("dry_run").and_then(Value::as_bool) == Some(true) {
        let base = match answer.get("base_version").and_then(Value::as_u64) {
            Some(0) | None => "there is no version yet".to_string(),
            Some(base) => format!("against version {base}"),
        };
        return format!("dry run ({base}; nothing stored):\n{}", changes(answer));
    }
    if answer.get("changed").and_then(Value::as_bool) == Some(false) {
        return format!(
            "no changes: version {} already is this config\n",
            field(answer, "version")
        );
    }
    format!(
        "stored version {}:\n{}",
        field(answer, "version"),
        changes(answer)
    )
}

/// A write's answer: `stored version N: what`, or `no changes` when the server stored nothing.
pub fn written(answer: &Value, what: &str, unchanged: &str) -> String {
    if answer.get("changed").and_then(Value::as_bool) == Some(false) {
        format!(
            "no changes: {unchanged} (version {})\n",
            field(answer, "version")
        )
    } else {
        format!("stored version {}: {what}\n", field(answer, "version"))
    }
}

/// The `warnings` of an answer, one `warning: ` line each.
pub fn warnings(answer: &Value) -> String {
    list(answer, "warnings")
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
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_are_one_line_and_never_empty() {
        assert_eq!(cell(&json!(null)), "-");
        assert_eq!(cell(&json!("")), "-");
        assert_eq!(cell(&json!(7)), "7");
        assert_eq!(cell(&json!(true)), "true");
        assert_eq!(cell(&json!("two\nlines\t")), "two lines");
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
            {"version": 1, "author": "seed", "time": "2025-05-01T00:00:00Z", "action": "seed"}
        ]});
        assert_eq!(
            history(&answer),
            "\
VERSION  TIME                  AUTHOR  ACTION   MESSAGE
12       2025-06-01T10:02:03Z  alice   weight   eu-west api: bad deploy
11       2025-06-01T09:00:00Z  ci      replace  -
1        2025-05-01T00:00:00Z  seed    seed     -
"
        );
        assert_eq!(history(&json!({"versions": []})), "no versions yet\n");
    }

    #[test]
    fn audit_table() {
        let answer = json!({"entries": [
            {"time": "2025-06-01T10:02:03Z", "actor": "alice", "action": "drain",
             "version": 13, "message": "maintenance", "detail": "eu-west: 2 pool(s) to weight 0"},
            {"time": "2025-06-01T10:00:00Z", "actor": "recovered", "action": "recovered",
             "version": 12, "message": null, "detail": ""}
        ]});
        assert_eq!(
            audit(&answer),
            "\
TIME                  ACTOR      ACTION     VERSION  MESSAGE      DETAIL
2025-06-01T10:02:03Z  alice      drain      13       maintenance  eu-west: 2 pool(s) to weight 0
2025-06-01T10:00:00Z  recovered  recovered  12       -            -
"
        );
        assert_eq!(audit(&json!({})), "the audit log is empty\n");
    }

    fn fleet() -> Value {
        json!({"gateways": [
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
        ]})
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
            gateways(&json!({"gateways": []})),
            "no gateway has connected yet\n"
        );
    }

    #[test]
    fn status_summary() {
        let meta = json!({"version": 7, "author": "alice", "message": "add search",
            "time": "2025-06-01T10:00:00Z", "action": "replace", "checksum": "9f86d0",
            "drained": {"us-east": {"api": 100, "web": 50}}, "config": "[upstreams]\n"});
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
    fn status_without_a_version_or_gateways() {
        let out = status(None, &json!({"gateways": []}));
        assert_eq!(
            out,
            "no config version yet: store the first one with `weirctl config apply -f FILE`\n\n\
             gateways: none has connected yet\n"
        );
        let quiet = json!({"version": 1, "author": "seed", "message": "", "time": "T",
                           "action": "seed", "drained": {}});
        let out = status(
            Some(&quiet),
            &json!({"gateways": [
            {"id": "g", "connected": true, "applied_version": 1, "last_seen": "T"}]}),
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
            applied(&answer),
            "stored version 8:\n~ upstreams.api.pools[eu-west].weight: 100 -> 0\n~ routes[search]: added\n"
        );
        assert_eq!(changes(&json!({"changes": []})), "no changes\n");
        assert_eq!(
            applied(&json!({"version": 7, "changed": false})),
            "no changes: version 7 already is this config\n"
        );
    }

    #[test]
    fn dry_runs_say_nothing_was_stored() {
        assert_eq!(
            applied(&json!({"dry_run": true, "base_version": 7,
                            "changes": ["load_shedding.max_in_flight: 100 -> 200"]})),
            "dry run (against version 7; nothing stored):\n~ load_shedding.max_in_flight: 100 -> 200\n"
        );
        assert_eq!(
            applied(&json!({"dry_run": true, "base_version": 7, "changes": []})),
            "dry run (against version 7; nothing stored):\nno changes\n"
        );
        assert_eq!(
            applied(&json!({"dry_run": true, "base_version": 0, "changes": ["first version"]})),
            "dry run (there is no version yet; nothing stored):\n~ first version\n"
        );
    }

    #[test]
    fn writes() {
        assert_eq!(
            written(
                &json!({"version": 9, "rolled_back_to": 5}),
                "rolled back to version 5",
                "x"
            ),
            "stored version 9: rolled back to version 5\n"
        );
        assert_eq!(
            written(
                &json!({"version": 7, "changed": false}),
                "x",
                "already version 5's config"
            ),
            "no changes: already version 5's config (version 7)\n"
        );
        assert_eq!(pretty(&json!({"a": 1})), "{\n  \"a\": 1\n}\n");
    }
}
