//! `weirctl failover status|pause|resume [UPSTREAM]`: the failover policy's state per upstream
//! and region (`GET /v1/failover`), and pausing or resuming its actions.

use weir_protocol::api::{FailoverPaused, FailoverStatus, Route};

use crate::cli::FailoverCommand;
use crate::client::{Request, Transport};
use crate::error::Failure;
use crate::output::{cell, pretty, table};

/// Runs `command`; `json` prints the server's answer instead of text.
pub fn run(command: &FailoverCommand, api: &dyn Transport, json: bool) -> Result<String, Failure> {
    let (request, paused_word) = match command {
        FailoverCommand::Status => {
            let reply = api.call(&Request::to(Route::FailoverStatus, &[]))?;
            return Ok(if json {
                pretty(&reply.json()?)
            } else {
                status(&reply.parse()?)
            });
        }
        FailoverCommand::Pause { upstream } => (
            Request::to(Route::FailoverPause, &[]).query_opt("upstream", upstream.as_deref()),
            "paused",
        ),
        FailoverCommand::Resume { upstream } => (
            Request::to(Route::FailoverResume, &[]).query_opt("upstream", upstream.as_deref()),
            "resumed",
        ),
    };
    let reply = api.call(&request)?;
    if json {
        return Ok(pretty(&reply.json()?));
    }
    let answer: FailoverPaused = reply.parse()?;
    let target = match command {
        FailoverCommand::Pause { upstream } | FailoverCommand::Resume { upstream } => upstream
            .as_deref()
            .map_or("every upstream".to_owned(), cell),
        FailoverCommand::Status => String::new(),
    };
    Ok(format!(
        "failover {paused_word} for {target}\n{}",
        paused(&answer)
    ))
}

/// What is paused now, in one line.
pub fn paused(answer: &FailoverPaused) -> String {
    if answer.paused_all {
        "paused now: every upstream\n".to_owned()
    } else if answer.paused.is_empty() {
        "paused now: nothing\n".to_owned()
    } else {
        let names: Vec<String> = answer.paused.iter().map(|name| cell(name)).collect();
        format!("paused now: {}\n", names.join(", "))
    }
}

/// One table per upstream: each region's state, weight, counts, last verdicts and next action.
pub fn status(answer: &FailoverStatus) -> String {
    if answer.upstreams.is_empty() {
        return "no upstream has a [failover] policy in the current config\n".to_owned();
    }
    let mut out = String::new();
    for upstream in &answer.upstreams {
        out.push_str(&format!(
            "upstream {} (every {:.1}s{}), last evaluation {}, next {}\n",
            cell(&upstream.upstream),
            upstream.evaluate_every_ms as f64 / 1e3,
            if upstream.paused { ", PAUSED" } else { "" },
            upstream.last_evaluation.as_deref().unwrap_or("-"),
            upstream.next_evaluation.as_deref().unwrap_or("-"),
        ));
        let rows: Vec<Vec<String>> = upstream
            .regions
            .iter()
            .map(|region| {
                let weight = match region.operator_weight {
                    Some(operator) => format!("{} (of {operator})", region.weight),
                    None => region.weight.to_string(),
                };
                let verdicts: Vec<&str> = region
                    .last
                    .iter()
                    .map(|evaluation| match evaluation.verdict.as_str() {
                        "bad" => "B",
                        "good" => "g",
                        _ => ".",
                    })
                    .collect();
                let next = match &region.next_action_at {
                    Some(at) => format!("{} (at {at})", region.next_action),
                    None => region.next_action.clone(),
                };
                vec![
                    cell(&region.region),
                    region.state.clone(),
                    weight,
                    format!("{}/{}", region.bad_in_row, region.good_in_row),
                    verdicts.concat(),
                    cell(&next),
                ]
            })
            .collect();
        out.push_str(&table(
            &["REGION", "STATE", "WEIGHT", "BAD/GOOD", "LAST", "NEXT"],
            &rows,
        ));
        for region in &upstream.regions {
            if let Some(last) = region.last.last() {
                out.push_str(&format!(
                    "  {} last: {}: {}\n",
                    cell(&region.region),
                    last.verdict,
                    cell(&last.evidence)
                ));
            }
        }
    }
    out
}
