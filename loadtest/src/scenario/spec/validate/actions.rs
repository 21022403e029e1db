//! `[[actions]]`: when each action fires, whether it is a failure, and the HTTP request or
//! command it runs with its timeout.

use std::time::Duration;

use bytes::Bytes;

use super::errors::Errors;
use super::names::Names;
use super::values::{duration, headers, http_url, method, optional_duration, positive};
use crate::scenario::spec::model::{
    Action, ActionKind, DEFAULT_COMMAND_TIMEOUT, DEFAULT_HTTP_ACTION_TIMEOUT, HttpAction,
};
use crate::scenario::spec::raw::{RawAction, RawHttp};

pub(super) fn validate_actions(
    raw: Vec<RawAction>,
    total: Option<Duration>,
    errors: &mut Errors,
) -> Vec<Action> {
    let mut names = Names::default();
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, action)| {
            let path = format!("actions[{i}]");
            let name = names.take(&path, action.name.clone(), "action", i, errors);
            validate_action(&path, name, action, total, errors)
        })
        .collect()
}

fn validate_action(
    path: &str,
    name: String,
    raw: RawAction,
    total: Option<Duration>,
    errors: &mut Errors,
) -> Option<Action> {
    let at = errors
        .required(format!("{path}.at"), raw.at)
        .and_then(|text| duration(&format!("{path}.at"), &text, errors));
    if let (Some(at), Some(total)) = (at, total)
        && at >= total
    {
        errors.add(
            format!("{path}.at"),
            format!(
                "{} is not before the end of the phases ({})",
                humantime::format_duration(at),
                humantime::format_duration(total)
            ),
        );
    }
    let (kind, timeout) = match (raw.http, raw.command) {
        (Some(http), None) => http_action(path, http, raw.timeout, errors)?,
        (None, Some(command)) => command_action(path, command, raw.timeout, errors)?,
        _ => {
            errors.add(path, "exactly one of http or command");
            return None;
        }
    };
    Some(Action {
        name,
        at: at?,
        failure: raw.failure,
        timeout,
        kind,
    })
}

fn http_action(
    path: &str,
    raw: RawHttp,
    action_timeout: Option<String>,
    errors: &mut Errors,
) -> Option<(ActionKind, Duration)> {
    let timeout = match (action_timeout, raw.timeout) {
        (Some(_), Some(_)) => {
            errors.add(
                format!("{path}.http.timeout"),
                "set the timeout once, either on the action or in http",
            );
            None
        }
        (Some(text), None) => duration(&format!("{path}.timeout"), &text, errors),
        (None, text) => optional_duration(
            &format!("{path}.http.timeout"),
            text,
            DEFAULT_HTTP_ACTION_TIMEOUT,
            errors,
        ),
    };
    let url = errors
        .required(format!("{path}.http.url"), raw.url)
        .and_then(|url| http_url(&format!("{path}.http.url"), &url, errors));
    let method = method(
        &format!("{path}.http.method"),
        raw.method.as_deref(),
        errors,
    );
    let headers = headers(&format!("{path}.http.headers"), &raw.headers, errors);
    let timeout = positive(&format!("{path}.timeout"), timeout?, errors)?;
    let action = HttpAction {
        method: method?,
        url: url?,
        headers: headers?,
        body: Bytes::from(raw.body.unwrap_or_default()),
    };
    Some((ActionKind::Http(Box::new(action)), timeout))
}

fn command_action(
    path: &str,
    command: Vec<String>,
    timeout: Option<String>,
    errors: &mut Errors,
) -> Option<(ActionKind, Duration)> {
    let timeout = optional_duration(
        &format!("{path}.timeout"),
        timeout,
        DEFAULT_COMMAND_TIMEOUT,
        errors,
    );
    if command.first().is_none_or(|program| program.is_empty()) {
        errors.add(
            format!("{path}.command"),
            "needs a program, e.g. [\"sh\", \"-c\", \"...\"]",
        );
        return None;
    }
    let timeout = positive(&format!("{path}.timeout"), timeout?, errors)?;
    Some((ActionKind::Command(command), timeout))
}
