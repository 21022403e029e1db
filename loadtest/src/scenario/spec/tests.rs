//! The scenario file end to end: what `parse` and `load` accept, with the defaults applied, and
//! every error with its path.

use std::path::Path;
use std::time::Duration;

use http::Method;

use super::model::{DEFAULT_COMMAND_TIMEOUT, PhaseKind};
use super::{ActionKind, load, parse};

const MINIMAL: &str = r#"
name = "minimal"

[load]
targets = [{ url = "http://127.0.0.1:8080/" }]

[[phases]]
kind = "steady"
rate = 100
duration = "10s"
"#;

fn errors_of(text: &str) -> Vec<String> {
    match parse(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors,
    }
}

/// MINIMAL with `extra` appended (TOML tables, so it goes after everything else).
fn with(extra: &str) -> String {
    format!("{MINIMAL}\n{extra}")
}

fn has(errors: &[String], expected: &str) {
    assert!(
        errors.iter().any(|e| e == expected),
        "no error `{expected}` in {errors:#?}"
    );
}

#[test]
fn minimal_gets_defaults() {
    let scenario = parse(MINIMAL).unwrap();
    assert_eq!(scenario.name, "minimal");
    assert_eq!(scenario.load.connections, 50);
    assert_eq!(scenario.load.streams, 1);
    assert_eq!(scenario.load.threads, 1);
    assert!(!scenario.load.http2);
    assert_eq!(scenario.load.timeout, Duration::from_secs(10));
    let target = &scenario.load.targets[0];
    assert_eq!(target.name, "target-1");
    assert_eq!(target.method, Method::GET);
    assert_eq!(target.weight, 1);
    assert!(target.body.is_empty());
    let phase = &scenario.phases[0];
    assert_eq!(phase.name, "phase-1");
    assert_eq!(phase.kind, PhaseKind::Steady);
    assert_eq!((phase.rate_from, phase.rate_to), (100.0, 100.0));
    assert_eq!(phase.weights, vec![1]);
    assert_eq!(scenario.duration(), Duration::from_secs(10));
    assert!(scenario.actions.is_empty() && scenario.asserts.is_empty());
}

#[test]
fn full_scenario() {
    let text = r#"
name = "full"
description = "everything"
assert = ["errors < 1%", "p99 < 50ms"]

[load]
targets = [
  { name = "a", url = "http://127.0.0.1:8080/a", weight = 3, method = "POST", headers = { "X-Api-Key" = "k" }, body = "hi" },
  { url = "http://localhost:8081" },
]
connections = 64
streams = 4
threads = 2
http2 = true
timeout = "2s"

[[phases]]
name = "warm-up"
kind = "ramp"
from = 0
to = 1000.5
duration = "10s"

[[phases]]
kind = "spike"
rate = 5000
duration = "1m 30s"
weights = { a = 0, target-2 = 7 }
assert = ["p99.9 < 1s"]

[[actions]]
name = "fault"
at = "10s"
failure = true
http = { method = "POST", url = "http://127.0.0.1:9001/_origin/fault", body = '{"status":503}', headers = { "content-type" = "application/json" }, timeout = "5s" }

[[actions]]
at = "20s"
command = ["sh", "-c", "exit 0"]
"#;
    let s = parse(text).unwrap();
    assert_eq!(s.description.as_deref(), Some("everything"));
    assert_eq!(s.asserts.len(), 2);
    assert_eq!(s.load.connections, 64);
    assert_eq!((s.load.streams, s.load.threads), (4, 2));
    assert!(s.load.http2);
    assert_eq!(s.load.timeout, Duration::from_secs(2));
    let a = &s.load.targets[0];
    assert_eq!((a.name.as_str(), a.weight), ("a", 3));
    assert_eq!(a.method, Method::POST);
    assert_eq!(a.headers["x-api-key"], "k");
    assert_eq!(a.body, "hi");
    assert_eq!(s.load.targets[1].name, "target-2");
    let ramp = &s.phases[0];
    assert_eq!(
        (ramp.kind, ramp.rate_from, ramp.rate_to),
        (PhaseKind::Ramp, 0.0, 1000.5)
    );
    assert_eq!(ramp.weights, vec![3, 1]);
    let spike = &s.phases[1];
    assert_eq!(spike.name, "phase-2");
    assert_eq!(spike.start, Duration::from_secs(10));
    assert_eq!(spike.duration, Duration::from_secs(90));
    assert_eq!(spike.end(), Duration::from_secs(100));
    assert_eq!(spike.weights, vec![0, 7]);
    assert_eq!(spike.asserts[0].text(), "p99.9 < 1s");
    assert_eq!(s.duration(), Duration::from_secs(100));
    let fault = &s.actions[0];
    assert_eq!(
        (fault.name.as_str(), fault.at, fault.failure),
        ("fault", Duration::from_secs(10), true)
    );
    assert_eq!(fault.timeout, Duration::from_secs(5));
    let ActionKind::Http(http) = &fault.kind else {
        panic!("not http")
    };
    assert_eq!(http.method, Method::POST);
    assert_eq!(http.headers["content-type"], "application/json");
    assert_eq!(http.body, r#"{"status":503}"#);
    let cmd = &s.actions[1];
    assert_eq!(cmd.name, "action-2");
    assert_eq!(cmd.timeout, DEFAULT_COMMAND_TIMEOUT);
    assert!(matches!(&cmd.kind, ActionKind::Command(argv) if argv.len() == 3));
}

#[test]
fn syntax_errors_have_line_and_column() {
    let errors = errors_of("name = \"x\"\n[load]\ntargets = [\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("line 3, column "), "{errors:?}");
    let errors = errors_of(&with("[[phases]]\nkind = \"steady\"\nrat = 5\n"));
    assert!(
        errors[0].starts_with("line 14, column 1: unknown field `rat`"),
        "{errors:?}"
    );
    let errors = errors_of(&MINIMAL.replace("targets = [", "connections = \"many\"\ntargets = ["));
    assert!(errors[0].starts_with("line 5, column 15: "), "{errors:?}");
}

#[test]
fn every_error_is_collected_with_its_path() {
    let text = r#"
[load]
targets = [{ url = "https://example.com/" }, { weight = 0 }]
connections = 0

[[phases]]
kind = "steady"
rate = 0
duration = "10s"

[[phases]]
kind = "wobble"
duration = "soon"

[[actions]]
at = "1s"
"#;
    let errors = errors_of(text);
    has(&errors, "name: missing");
    has(
        &errors,
        "load.targets[0].url: `https://example.com/` https is not supported by the load \
         generator yet; use http://",
    );
    has(&errors, "load.targets[1].url: missing");
    has(
        &errors,
        "load.targets[1].weight: must be at least 1 (a phase's `weights` can set 0 for that phase)",
    );
    has(&errors, "load.connections: must be at least 1");
    has(&errors, "phases[0].rate: must be > 0");
    has(
        &errors,
        "phases[1].kind: unknown kind `wobble`; use ramp, steady or spike",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("phases[1].duration: `soon` is not a duration"))
    );
    has(&errors, "actions[0]: exactly one of http or command");
    assert_eq!(errors.len(), 9, "{errors:#?}");
}

#[test]
fn load_is_required() {
    let errors =
        errors_of("name = \"x\"\n[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n");
    assert_eq!(errors, vec!["load: missing"]);
    let errors = errors_of(
        "name = \"x\"\n[load]\ntargets = []\n[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n",
    );
    assert_eq!(errors, vec!["load.targets: at least one target is needed"]);
}

#[test]
fn at_least_one_phase() {
    let text = "name = \"x\"\n[load]\ntargets = [{ url = \"http://h/\" }]\n";
    assert_eq!(
        errors_of(text),
        vec!["phases: at least one [[phases]] is needed"]
    );
}

#[test]
fn rates_by_kind() {
    let errors = errors_of(&with(
        "[[phases]]\nkind = \"ramp\"\nrate = 5\nduration = \"1s\"\n",
    ));
    has(
        &errors,
        "phases[1].rate: a ramp has `from` and `to`, not `rate`",
    );
    has(&errors, "phases[1].from: missing");
    has(&errors, "phases[1].to: missing");
    let errors = errors_of(&with(
        "[[phases]]\nkind = \"spike\"\nfrom = 1\nto = 2\nduration = \"1s\"\n",
    ));
    has(
        &errors,
        "phases[1].from: only a ramp has `from` and `to`; a spike phase has `rate`",
    );
    has(
        &errors,
        "phases[1].to: only a ramp has `from` and `to`; a spike phase has `rate`",
    );
    has(&errors, "phases[1].rate: missing");
    let errors = errors_of(&with(
        "[[phases]]\nkind = \"ramp\"\nfrom = -1\nto = 0\nduration = \"1s\"\n",
    ));
    has(&errors, "phases[1].from: must be ≥ 0");
    has(&errors, "phases[1].to: must be > 0");
    let errors = errors_of(&with(
        "[[phases]]\nkind = \"steady\"\nrate = nan\nduration = \"1s\"\n",
    ));
    has(
        &errors,
        "phases[1].rate: must be a finite number of requests/s",
    );
    let errors = errors_of(&with(
        "[[phases]]\nkind = \"steady\"\nrate = inf\nduration = \"1s\"\n",
    ));
    has(
        &errors,
        "phases[1].rate: must be a finite number of requests/s",
    );
    let errors = errors_of(&with("[[phases]]\nrate = 1\nduration = \"1s\"\n"));
    has(&errors, "phases[1].kind: missing");
}

#[test]
fn ramp_may_start_at_zero() {
    let s = parse(&with(
        "[[phases]]\nkind = \"ramp\"\nfrom = 0\nto = 10\nduration = \"5s\"\n",
    ))
    .unwrap();
    assert_eq!(s.phases[1].start, Duration::from_secs(10));
    assert_eq!((s.phases[1].rate_from, s.phases[1].rate_to), (0.0, 10.0));
}

#[test]
fn durations() {
    let errors = errors_of(&with(
        "[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"0s\"\n",
    ));
    has(&errors, "phases[1].duration: must be more than 0");
    let errors = errors_of(&with("[[phases]]\nkind = \"steady\"\nrate = 1\n"));
    has(&errors, "phases[1].duration: missing");
    let errors = errors_of(&MINIMAL.replace("[load]", "[load]\ntimeout = \"0ms\""));
    has(&errors, "load.timeout: must be more than 0");
    let errors = errors_of(&MINIMAL.replace("[load]", "[load]\ntimeout = \"10\""));
    assert!(
        errors[0].starts_with("load.timeout: `10` is not a duration"),
        "{errors:?}"
    );
}

#[test]
fn total_duration_is_capped() {
    let errors = errors_of(&with(
        "[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"6h\"\n",
    ));
    has(
        &errors,
        "phases: the phases add up to 6h 10s, more than the limit of 6h",
    );
    assert!(parse(&MINIMAL.replace("\"10s\"", "\"6h\"")).is_ok());
    let huge = "[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"500000000000years\"\n";
    let errors = errors_of(&with(&format!("{huge}{huge}")));
    assert!(
        errors[0].contains("more than the limit of 6h"),
        "{errors:?}"
    );
}

#[test]
fn urls_must_be_plain_http() {
    let url_error = |url: &str| {
        let errors = errors_of(&MINIMAL.replace("http://127.0.0.1:8080/", url));
        errors[0].clone()
    };
    assert_eq!(
        url_error("/relative"),
        "load.targets[0].url: `/relative` must be an absolute URL, e.g. http://127.0.0.1:8080/"
    );
    assert_eq!(
        url_error("ftp://h/"),
        "load.targets[0].url: `ftp://h/` scheme `ftp` is not supported; use http://"
    );
    assert!(url_error("http://exa mple/").contains("is not a URL"));
    assert!(url_error("").contains("is not a URL"));
    assert!(parse(&MINIMAL.replace("http://127.0.0.1:8080/", "http://localhost")).is_ok());
}

#[test]
fn headers_and_methods() {
    let bad = MINIMAL.replace(
        "{ url = \"http://127.0.0.1:8080/\" }",
        "{ url = \"http://h/\", method = \"post\", headers = { \"bad name\" = \"v\", ok = \"line\\nbreak\", content-length = \"3\" } }",
    );
    let errors = errors_of(&bad);
    has(
        &errors,
        "load.targets[0].method: methods are case-sensitive: write `POST`",
    );
    has(
        &errors,
        "load.targets[0].headers.bad name: `bad name` is not a valid header name",
    );
    has(
        &errors,
        "load.targets[0].headers.ok: is not a valid header value (visible ASCII, spaces and tabs only)",
    );
    has(
        &errors,
        "load.targets[0].headers.content-length: is set from the body; leave it out",
    );
    let bad = MINIMAL.replace("}]", ", method = \"GE T\" }]");
    has(
        &errors_of(&bad),
        "load.targets[0].method: `GE T` is not a valid HTTP method",
    );
    let custom = MINIMAL.replace("}]", ", method = \"PURGE\" }]");
    assert_eq!(
        parse(&custom).unwrap().load.targets[0].method.as_str(),
        "PURGE"
    );
}

#[test]
fn streams_need_http2() {
    let errors = errors_of(&MINIMAL.replace("[load]", "[load]\nstreams = 8"));
    has(
        &errors,
        "load.streams: more than 1 stream per connection needs http2 = true",
    );
}

#[test]
fn assert_after_load_is_explained() {
    let errors =
        errors_of(&MINIMAL.replace("[[phases]]", "assert = [\"errors < 1%\"]\n\n[[phases]]"));
    assert!(
        errors[0].starts_with("load.assert: whole-run assertions go at the top"),
        "{errors:?}"
    );
}

#[test]
fn assertions_are_checked_with_their_paths() {
    let text = format!("assert = [\"p99 < 5%\"]\n{MINIMAL}").replace(
        "duration = \"10s\"",
        "duration = \"10s\"\nassert = [\"errors < 1%\", \"latency < 1s\"]",
    );
    let errors = errors_of(&text);
    has(
        &errors,
        "assert[0]: assertion `p99 < 5%`: a latency is a duration, not a percentage; use ns, us, µs, ms or s",
    );
    assert!(errors.iter().any(|e| {
        e.starts_with("phases[0].assert[1]: assertion `latency < 1s`: unknown metric")
    }));
    assert_eq!(errors.len(), 2);
}

#[test]
fn names_are_unique() {
    let errors = errors_of(&with(
        "[[phases]]\nname = \"phase-1\"\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n\
         [[phases]]\nname = \"run\"\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n\
         [[actions]]\nname = \"x\"\nat = \"1s\"\ncommand = [\"true\"]\n\
         [[actions]]\nname = \"x\"\nat = \"1s\"\ncommand = [\"true\"]\n",
    ));
    has(
        &errors,
        "phases[1].name: `phase-1` is already the name of another phase",
    );
    has(
        &errors,
        "phases[2].name: `run` is the name of the whole run",
    );
    has(
        &errors,
        "actions[1].name: `x` is already the name of another action",
    );
}

#[test]
fn phase_weights() {
    let two = MINIMAL.replace(
        "targets = [{ url = \"http://127.0.0.1:8080/\" }]",
        "targets = [{ name = \"web\", url = \"http://h/\", weight = 2 }, { name = \"api\", url = \"http://h/api/\" }]",
    );
    let s = parse(&format!("{two}\n[[phases]]\nkind = \"spike\"\nrate = 9\nduration = \"1s\"\nweights = {{ api = 5 }}\n")).unwrap();
    assert_eq!(s.phases[0].weights, vec![2, 1]);
    assert_eq!(s.phases[1].weights, vec![0, 5]);
    let errors = errors_of(&format!(
        "{two}\n[[phases]]\nkind = \"spike\"\nrate = 9\nduration = \"1s\"\nweights = {{ apy = 5, web = 0 }}\n"
    ));
    has(
        &errors,
        "phases[1].weights.apy: no target named `apy`; the targets are: web, api",
    );
    has(
        &errors,
        "phases[1].weights: at least one target needs a weight above 0 (targets left out get 0)",
    );
}

#[test]
fn actions() {
    let action = |body: &str| with(&format!("[[actions]]\n{body}\n"));
    let errors = errors_of(&action("at = \"10s\"\ncommand = [\"true\"]"));
    has(
        &errors,
        "actions[0].at: 10s is not before the end of the phases (10s)",
    );
    let errors = errors_of(&action("command = [\"true\"]"));
    has(&errors, "actions[0].at: missing");
    let errors = errors_of(&action(
        "at = \"1s\"\ncommand = [\"true\"]\nhttp = { url = \"http://h/\" }",
    ));
    has(&errors, "actions[0]: exactly one of http or command");
    let errors = errors_of(&action("at = \"1s\"\ncommand = []"));
    has(
        &errors,
        "actions[0].command: needs a program, e.g. [\"sh\", \"-c\", \"...\"]",
    );
    let errors = errors_of(&action("at = \"1s\"\nhttp = { url = \"https://h/\" }"));
    has(
        &errors,
        "actions[0].http.url: `https://h/` https is not supported by the load generator yet; use http://",
    );
    let errors = errors_of(&action(
        "at = \"1s\"\ntimeout = \"1s\"\nhttp = { url = \"http://h/\", timeout = \"2s\" }",
    ));
    has(
        &errors,
        "actions[0].http.timeout: set the timeout once, either on the action or in http",
    );
    let errors = errors_of(&action(
        "at = \"1s\"\ntimeout = \"0s\"\ncommand = [\"true\"]",
    ));
    has(&errors, "actions[0].timeout: must be more than 0");
    let s = parse(&action(
        "at = \"9.5s\"\ntimeout = \"3s\"\nhttp = { url = \"http://h/x\" }",
    ))
    .unwrap();
    assert_eq!(s.actions[0].at, Duration::from_millis(9500));
    assert_eq!(s.actions[0].timeout, Duration::from_secs(3));
    assert!(matches!(&s.actions[0].kind, ActionKind::Http(h) if h.method == Method::GET));
}

#[test]
fn an_invalid_rate_does_not_hide_a_late_action() {
    // Two independent mistakes, two errors: the phase's rate is wrong, and the action is
    // after the end of the phases (whose durations are valid).
    let text = with(
        "[[phases]]\nkind = \"steady\"\nrate = 0\nduration = \"5s\"\n\
         [[actions]]\nname = \"late\"\nat = \"20s\"\ncommand = [\"true\"]\n",
    );
    let errors = errors_of(&text);
    assert_eq!(
        errors,
        vec![
            "phases[1].rate: must be > 0".to_owned(),
            "actions[0].at: 20s is not before the end of the phases (15s)".to_owned(),
        ]
    );
    // A rate of the wrong type is one error among the others too.
    let errors = errors_of(&text.replace("rate = 0", "rate = \"fast\""));
    assert_eq!(
        errors[0],
        "phases[1].rate: must be a number of requests/s, not the string \"fast\""
    );
    assert_eq!(errors.len(), 2, "{errors:#?}");
    // With a phase's length unknown, the end is unknown: no guess is reported.
    let errors = errors_of(&text.replace("duration = \"5s\"", "duration = \"soon\""));
    assert!(
        errors.iter().all(|e| !e.starts_with("actions[0].at")),
        "{errors:#?}"
    );
}

#[test]
fn load_prefixes_the_path() {
    let missing = Path::new("/nonexistent/scenario.toml");
    let errors = load(missing).unwrap_err();
    assert!(
        errors[0].starts_with("cannot read /nonexistent/scenario.toml: "),
        "{errors:?}"
    );
    let dir = std::env::temp_dir().join(format!("weir-scenario-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.toml");
    std::fs::write(&file, MINIMAL.replace("rate = 100", "rate = 0")).unwrap();
    let errors = load(&file).unwrap_err();
    assert_eq!(
        errors,
        vec![format!("{}: phases[0].rate: must be > 0", file.display())]
    );
    std::fs::write(&file, MINIMAL).unwrap();
    assert!(load(&file).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn examples_parse() {
    let region = parse(include_str!("../../../scenarios/region-dies.toml")).unwrap();
    assert_eq!(region.actions.iter().filter(|a| a.failure).count(), 1);
    let flood = parse(include_str!("../../../scenarios/rate-limit-flood.toml")).unwrap();
    assert_eq!(flood.load.targets.len(), 2);
    let failover = parse(include_str!("../../../scenarios/region-failover.toml")).unwrap();
    assert_eq!(failover.actions.len(), 6);
    let canary = parse(include_str!("../../../scenarios/bad-canary.toml")).unwrap();
    assert_eq!(canary.load.targets.len(), 2);
    assert_eq!(canary.actions.iter().filter(|a| a.failure).count(), 1);
}
