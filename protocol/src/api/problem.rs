//! API errors as RFC 9457 problem+json: a status, a title, a detail that says what to fix, every
//! problem of an invalid config with its path and position, and the current version on a
//! conflict. Read leniently (every field may be missing), so a proxy's error page still reads.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The body of every error answer (`application/problem+json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Problem {
    /// Always `about:blank`: the status and title say it all.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// An invalid config's problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ConfigProblem>>,
    /// The version now current, on a conflict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<u64>,
}

impl Problem {
    /// A problem with `status`, `title` and `detail`.
    pub fn new(status: u16, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank".into(),
            title: title.into(),
            status,
            detail: detail.into(),
            errors: None,
            current_version: None,
        }
    }
}

/// One problem of an invalid config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigProblem {
    /// Where, as a key path (`routes[1].upstream`).
    pub path: String,
    pub message: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl fmt::Display for ConfigProblem {
    /// `path: message (line L, column C)`; the position is left out when unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, " (line {line}, column {column})"),
            (Some(line), None) => write!(f, " (line {line})"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_leave_out_what_they_do_not_have() {
        let mut problem = Problem::new(409, "Conflict", "stale");
        assert_eq!(
            serde_json::to_string(&problem).unwrap(),
            r#"{"type":"about:blank","title":"Conflict","status":409,"detail":"stale"}"#
        );
        problem.current_version = Some(7);
        problem.errors = Some(vec![ConfigProblem {
            path: "redis".into(),
            message: "needed".into(),
            line: None,
            column: None,
        }]);
        assert_eq!(
            serde_json::to_string(&problem).unwrap(),
            r#"{"type":"about:blank","title":"Conflict","status":409,"detail":"stale","errors":[{"path":"redis","message":"needed","line":null,"column":null}],"current_version":7}"#
        );
    }

    #[test]
    fn odd_error_pages_still_read() {
        let problem: Problem = serde_json::from_str(r#"{"detail": "x"}"#).unwrap();
        assert_eq!(problem.detail, "x");
        assert_eq!((problem.status, problem.errors), (0, None));
    }

    #[test]
    fn config_problems_print_with_their_position() {
        let problem = |line, column| ConfigProblem {
            path: "routes[1].upstream".into(),
            message: "unknown upstream 'apx'".into(),
            line,
            column,
        };
        assert_eq!(
            problem(Some(20), Some(3)).to_string(),
            "routes[1].upstream: unknown upstream 'apx' (line 20, column 3)"
        );
        assert_eq!(
            problem(Some(20), None).to_string(),
            "routes[1].upstream: unknown upstream 'apx' (line 20)"
        );
        assert_eq!(
            problem(None, None).to_string(),
            "routes[1].upstream: unknown upstream 'apx'"
        );
    }
}
