//! `[rollout]`: the documented example parses, defaults apply when it is absent, every mistake is
//! reported at its path, and the diff names each changed key.

use std::time::Duration;

use weir_config::{RolloutSettings, diff};

use crate::support::{errors, parse_ok, with_api_upstream};

/// Every key, each at its default.
const ROLLOUT_EXAMPLE: &str = r#"
[rollout]
bake = "60s"
evaluate_every = "5s"
max_error_ratio_increase = 0.02
max_p99_ratio = 2.0
min_p99_increase = "50ms"
min_requests = 50
stale_grace = "15s"
"#;

fn problems(text: &str) -> Vec<(String, String)> {
    errors(text)
        .into_iter()
        .map(|error| (error.path, error.message))
        .collect()
}

#[test]
fn the_example_writes_the_defaults_and_absent_means_the_defaults() {
    let written = parse_ok(&with_api_upstream(ROLLOUT_EXAMPLE)).fleet.rollout;
    assert_eq!(written, RolloutSettings::default());
    assert_eq!(
        parse_ok(&with_api_upstream("")).fleet.rollout,
        RolloutSettings::default()
    );
    let short = parse_ok(&with_api_upstream(
        "[rollout]\nbake = \"2s\"\nevaluate_every = \"250ms\"\n",
    ))
    .fleet
    .rollout;
    assert_eq!(
        (short.bake, short.evaluate_every),
        (Duration::from_secs(2), Duration::from_millis(250))
    );
    // A short bake without evaluate_every evaluates at least once within it.
    let tiny = parse_ok(&with_api_upstream("[rollout]\nbake = \"2s\"\n"))
        .fleet
        .rollout;
    assert_eq!(tiny.evaluate_every, Duration::from_secs(2));
}

#[test]
fn every_mistake_is_reported_at_its_path() {
    let text = with_api_upstream(
        "[rollout]\nbake = \"0s\"\nmax_error_ratio_increase = 1.5\nmax_p99_ratio = 0.5\n\
         min_p99_increase = \"2m\"\nmin_requests = 0\nstale_grace = \"20m\"\nsurprise = 1\n",
    );
    let paths: Vec<String> = problems(&text).into_iter().map(|(path, _)| path).collect();
    for expected in [
        "rollout.bake",
        "rollout.max_error_ratio_increase",
        "rollout.max_p99_ratio",
        "rollout.min_p99_increase",
        "rollout.min_requests",
        "rollout.stale_grace",
        "rollout.surprise",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
    let longer = problems(&with_api_upstream(
        "[rollout]\nbake = \"5s\"\nevaluate_every = \"10s\"\n",
    ));
    assert_eq!(longer.len(), 1, "{longer:?}");
    assert_eq!(longer[0].0, "rollout.evaluate_every");
    assert!(longer[0].1.contains("longer than bake"), "{}", longer[0].1);
}

#[test]
fn the_diff_names_each_changed_key() {
    let old = parse_ok(&with_api_upstream(ROLLOUT_EXAMPLE));
    let new = parse_ok(&with_api_upstream(
        "[rollout]\nbake = \"2m\"\nmin_requests = 10\nmax_p99_ratio = 3.0\n",
    ));
    let lines = diff(&old, &new);
    assert_eq!(lines.len(), 3, "{lines:?}");
    for key in [
        "rollout.bake",
        "rollout.min_requests",
        "rollout.max_p99_ratio",
    ] {
        assert!(lines.iter().any(|l| l.contains(key)), "{key} in {lines:?}");
    }
}
