//! `weirctl rollout status|promote|abort`: the last staged rollout (`GET /v1/rollout`), and
//! promoting or aborting the one under bake; and the lines `config apply --canary` prints.

use weir_protocol::api::{RolloutStatus, RolloutView, Route};

use crate::cli::RolloutCommand;
use crate::client::{Request, Transport};
use crate::error::Failure;
use crate::output::{cell, pretty};

/// Runs `command`; `json` prints the server's answer instead of text.
pub fn run(command: &RolloutCommand, api: &dyn Transport, json: bool) -> Result<String, Failure> {
    let (request, done) = match command {
        RolloutCommand::Status => (Request::to(Route::RolloutStatus, &[]), ""),
        RolloutCommand::Promote { message } => (
            Request::to(Route::RolloutPromote, &[]).query_opt("message", message.as_deref()),
            "promoted: the canary version goes to every gateway\n",
        ),
        RolloutCommand::Abort { message } => (
            Request::to(Route::RolloutAbort, &[]).query_opt("message", message.as_deref()),
            "aborted: a new version with the stable config goes to every gateway\n",
        ),
    };
    let reply = api.call(&request)?;
    if json {
        return Ok(pretty(&reply.json()?));
    }
    let answer: RolloutStatus = reply.parse()?;
    Ok(format!("{done}{}", status(&answer)))
}

/// What `config apply --canary` started.
pub fn started(rollout: &RolloutView) -> String {
    format!(
        "rollout started: version {} on {} ({}), the others stay on version {}; bake until {} \
         (`weirctl rollout status`)\n",
        rollout.canary_version,
        cell(&rollout.canaries.join(", ")),
        cell(&rollout.selector),
        rollout.stable_version,
        rollout.bake_until
    )
}

/// The rollout in a few lines: what, where, until when, the last evaluations, how it ended.
pub fn status(answer: &RolloutStatus) -> String {
    let Some(rollout) = &answer.rollout else {
        return "no rollout yet (`weirctl config apply -f FILE --canary 10%` starts one)\n".into();
    };
    let mut out = format!(
        "rollout of version {}: {}{}\n  canaries {} ({}); stable version {}\n  started {} by \
         {}, bake {:.1}s until {}\n",
        rollout.canary_version,
        cell(&rollout.state).to_uppercase(),
        rollout
            .outcome_version
            .map(|version| format!(" (version {version})"))
            .unwrap_or_default(),
        cell(&rollout.canaries.join(", ")),
        cell(&rollout.selector),
        rollout.stable_version,
        rollout.started,
        cell(&rollout.author),
        rollout.bake_ms as f64 / 1e3,
        rollout.bake_until,
    );
    if let Some(next) = &rollout.next_evaluation {
        out.push_str(&format!("  next evaluation {next}\n"));
    }
    for evaluation in &rollout.evaluations {
        out.push_str(&format!(
            "  {} {}: {}\n",
            evaluation.at,
            evaluation.verdict,
            cell(&evaluation.evidence)
        ));
    }
    if let Some(finished) = &rollout.finished {
        out.push_str(&format!("  ended {finished}: {}\n", cell(&rollout.reason)));
    }
    out
}

#[cfg(test)]
mod tests {
    use weir_protocol::api::RolloutEvaluation;

    use super::*;

    fn view(state: &str, outcome: Option<u64>) -> RolloutView {
        RolloutView {
            state: state.into(),
            stable_version: 4,
            canary_version: 5,
            canaries: vec!["gw-c".into(), "gw-d".into()],
            selector: "region=eu-west".into(),
            author: "alice".into(),
            started: "2026-01-01T00:00:00.000Z".into(),
            bake_ms: 60_000,
            bake_until: "2026-01-01T00:01:00.000Z".into(),
            next_evaluation: None,
            outcome_version: outcome,
            reason: "canary error ratio 0.500 > baseline 0.000 + 0.02".into(),
            finished: Some("2026-01-01T00:00:07.000Z".into()),
            evaluations: vec![RolloutEvaluation {
                at: "2026-01-01T00:00:07.000Z".into(),
                verdict: "breach".into(),
                evidence: "canary error ratio 0.500".into(),
            }],
        }
    }

    #[test]
    fn the_status_names_the_versions_canaries_evaluations_and_outcome() {
        let text = status(&RolloutStatus {
            rollout: Some(view("rolled_back", Some(6))),
        });
        assert!(
            text.starts_with("rollout of version 5: ROLLED_BACK (version 6)\n"),
            "{text}"
        );
        assert!(
            text.contains("canaries gw-c, gw-d (region=eu-west); stable version 4"),
            "{text}"
        );
        assert!(
            text.contains("breach: canary error ratio 0.500\n"),
            "{text}"
        );
        assert!(
            text.contains("ended 2026-01-01T00:00:07.000Z: canary error ratio"),
            "{text}"
        );
        let none = status(&RolloutStatus { rollout: None });
        assert!(none.starts_with("no rollout yet"), "{none}");
        let started = started(&view("baking", None));
        assert!(
            started.starts_with("rollout started: version 5 on gw-c, gw-d (region=eu-west), the others stay on version 4"),
            "{started}"
        );
    }
}
