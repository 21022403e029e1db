//! `[failover.<upstream>]`: the issue's example parses to the expected policy, defaults apply,
//! every mistake is reported at its path, and the diff names each changed key.

use std::time::Duration;

use weir_config::{FailoverPolicy, UnhealthyWhen, diff};

use crate::support::{errors, parse_ok, with_api_upstream};

/// A policy with every key for upstream `api`, each at its default.
pub const FAILOVER_EXAMPLE: &str = r#"
[failover.api]
evaluate_every = "5s"
unhealthy_when = { healthy_fraction_below = 0.7, error_ratio_above = 0.05 }
quorum = 0.5
drain_after = 3
restore_after = 12
ramp = ["10%", "50%", "100%"]
never_drain_last = true
max_drained = 1
"#;

fn policy(keys: &str) -> String {
    with_api_upstream(&format!("[failover.api]\n{keys}\n"))
}

/// Every problem of `text` as `(path, message)`.
fn problems(text: &str) -> Vec<(String, String)> {
    errors(text)
        .into_iter()
        .map(|error| (error.path, error.message))
        .collect()
}

#[test]
fn the_example_parses_to_the_expected_policy() {
    let config = parse_ok(&with_api_upstream(FAILOVER_EXAMPLE));
    let written = FailoverPolicy {
        upstream: "api".to_owned(),
        evaluate_every: Duration::from_secs(5),
        unhealthy_when: UnhealthyWhen {
            healthy_fraction_below: Some(0.7),
            error_ratio_above: Some(0.05),
        },
        quorum: 0.5,
        drain_after: 3,
        restore_after: 12,
        ramp: vec![10, 50, 100],
        never_drain_last: true,
        max_drained: 1,
    };
    assert_eq!(config.fleet.failover.get("api"), Some(&written));
    // The example writes the defaults.
    assert_eq!(written, FailoverPolicy::defaults("api"));
    assert!(parse_ok(&with_api_upstream("")).fleet.failover.is_empty());
}

#[test]
fn defaults_fill_what_is_not_written_and_a_written_condition_stands_alone() {
    let config = parse_ok(&policy(""));
    assert_eq!(
        config.fleet.failover.get("api"),
        Some(&FailoverPolicy::defaults("api"))
    );
    let config = parse_ok(&policy(
        "unhealthy_when = { error_ratio_above = 0.2 }\nramp = [\"100%\"]\nnever_drain_last = false\nmax_drained = 2",
    ));
    let api = &config.fleet.failover["api"];
    assert_eq!(
        api.unhealthy_when,
        UnhealthyWhen {
            healthy_fraction_below: None,
            error_ratio_above: Some(0.2),
        }
    );
    assert_eq!(api.ramp, vec![100]);
    assert!(!api.never_drain_last);
    assert_eq!(api.max_drained, 2);
}

#[test]
fn a_policy_must_name_an_upstream() {
    let found = problems(&with_api_upstream("[failover.web]\n"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "failover.web");
    assert!(found[0].1.contains("names no upstream"), "{found:?}");
}

#[test]
fn every_value_mistake_is_reported_at_its_path() {
    let found = problems(&policy(
        "evaluate_every = \"500ms\"\n\
         unhealthy_when = { healthy_fraction_below = 0.0, error_ratio_above = 1.0 }\n\
         quorum = 1.5\n\
         drain_after = 0\n\
         restore_after = 0\n\
         max_drained = 0\n\
         never_drain_last = \"yes\"\n\
         ramp = [\"50%\", \"50%\", \"120%\", \"10\"]\n\
         every = \"5s\"",
    ));
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    for expected in [
        "failover.api.evaluate_every",
        "failover.api.unhealthy_when.healthy_fraction_below",
        "failover.api.unhealthy_when.error_ratio_above",
        "failover.api.quorum",
        "failover.api.drain_after",
        "failover.api.restore_after",
        "failover.api.max_drained",
        "failover.api.never_drain_last",
        "failover.api.ramp[1]",
        "failover.api.ramp[2]",
        "failover.api.ramp[3]",
        "failover.api.every",
    ] {
        assert!(
            paths.contains(&expected),
            "{expected} missing in {found:#?}"
        );
    }
    assert_eq!(found.len(), 12, "{found:#?}");
    let message = |path: &str| {
        found
            .iter()
            .find(|(at, _)| at == path)
            .map(|(_, message)| message.as_str())
            .unwrap_or_default()
    };
    assert!(message("failover.api.evaluate_every").contains("between 1s and 10m"));
    assert!(message("failover.api.ramp[1]").contains("above the step before it (50%)"));
    assert!(message("failover.api.ramp[2]").contains("whole percentage"));
    assert!(message("failover.api.drain_after").contains("between 1 and 1000"));
}

#[test]
fn evaluate_every_is_bounded_above_too() {
    let found = problems(&policy("evaluate_every = \"11m\""));
    assert_eq!(
        found,
        vec![(
            "failover.api.evaluate_every".to_owned(),
            "must be between 1s and 10m, got 11m".to_owned()
        )]
    );
}

#[test]
fn a_ramp_must_end_at_the_operators_weight_and_not_be_empty() {
    for (ramp, message) in [
        ("[\"10%\", \"50%\"]", "must end at \"100%\""),
        ("[]", "at least one step"),
        ("[\"100%\", \"50%\"]", "above the step before it (100%)"),
    ] {
        let found = problems(&policy(&format!("ramp = {ramp}")));
        assert_eq!(found.len(), 1, "{ramp}: {found:?}");
        assert!(found[0].0.starts_with("failover.api.ramp"), "{found:?}");
        assert!(found[0].1.contains(message), "{ramp}: {found:?}");
    }
}

#[test]
fn an_empty_unhealthy_when_is_refused() {
    let found = problems(&policy("unhealthy_when = {}"));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "failover.api.unhealthy_when");
    assert!(found[0].1.contains("at least one condition"));
}

#[test]
fn diff_names_failover_changes() {
    let old = parse_ok(&with_api_upstream(FAILOVER_EXAMPLE));
    let new = parse_ok(&policy(
        "drain_after = 5\nramp = [\"25%\", \"100%\"]\nunhealthy_when = { error_ratio_above = 0.05 }",
    ));
    assert_eq!(
        diff(&old, &new),
        vec![
            "failover.api.unhealthy_when.healthy_fraction_below: 0.7 -> off",
            "failover.api.drain_after: 3 -> 5",
            "failover.api.ramp: [10%, 50%, 100%] -> [25%, 100%]",
        ]
    );
    let none = parse_ok(&with_api_upstream(""));
    assert_eq!(diff(&none, &new), vec!["failover.api: added"]);
}

#[test]
fn a_ramp_error_reads_as_in_the_docs() {
    let text = format!("{FAILOVER_EXAMPLE}\n[upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [\"127.0.0.1:9001\"]\n")
        .replace("ramp = [\"10%\", \"50%\", \"100%\"]", "ramp = [\"50%\", \"50%\", \"100%\"]");
    let found = errors(&text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        found[0].to_string(),
        "failover.api.ramp[1]: must be above the step before it (50%), got 50% (line 8, column 16)"
    );
}
