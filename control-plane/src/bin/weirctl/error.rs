//! What can go wrong in weirctl: one variant per exit code of docs/control-plane.md#weirctl,
//! each with a message that says what failed and what to fix, read from the API's problem+json.

use std::fmt;

use serde_json::Value;
use weir_protocol::api::Problem;

use crate::connection::{CaFile, SettingsError, Source};

/// Exit codes (docs/control-plane.md#weirctl).
pub mod exit {
    /// Done.
    pub const OK: u8 = 0;
    /// The control plane refused (invalid config, conflict, not found).
    pub const REFUSED: u8 = 1;
    /// Usage error (clap uses 2 for its own errors too).
    pub const USAGE: u8 = 2;
    /// Not authorised (`401`/`403`).
    pub const UNAUTHORISED: u8 = 3;
    /// Cannot reach the control plane, or it failed (`5xx`).
    pub const UNAVAILABLE: u8 = 4;
}

/// The problem in an error answer: problem+json when it parses (every field may be missing),
/// else the start of the text as the detail, so a proxy's odd error page still reads.
pub fn problem_of(body: &str) -> Problem {
    match serde_json::from_str::<Problem>(body) {
        Ok(problem) => problem,
        Err(_) => Problem {
            detail: first_line(body, 200),
            ..Problem::default()
        },
    }
}

/// `detail`, or `title` when there is no detail.
fn said(problem: &Problem) -> Option<&str> {
    [problem.detail.as_str(), problem.title.as_str()]
        .into_iter()
        .map(str::trim)
        .find(|s| !s.is_empty())
}

/// `"422 Invalid Config"`, or just the status when there is no title.
fn status_line(problem: &Problem, status: u16) -> String {
    match problem.title.trim() {
        "" => status.to_string(),
        title => format!("{status} {title}"),
    }
}

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// Bad arguments or settings, found before any request.
    Usage(String),
    /// No token at all.
    NoToken,
    /// A 4xx other than 401/403.
    Refused {
        method: String,
        url: String,
        status: u16,
        problem: Box<Problem>,
        body: Option<Value>,
    },
    /// 401 or 403.
    Unauthorised {
        status: u16,
        problem: Box<Problem>,
        token_from: Source,
        body: Option<Value>,
    },
    /// No answer: connection, DNS, TLS or timeout.
    Unreachable {
        method: String,
        url: String,
        reason: String,
        url_from: Source,
    },
    /// An https:// control plane whose certificate is not trusted.
    Untrusted {
        method: String,
        url: String,
        reason: String,
        ca_file: Option<CaFile>,
    },
    /// A 5xx.
    ServerFailed {
        method: String,
        url: String,
        status: u16,
        problem: Box<Problem>,
        body: Option<Value>,
    },
    /// An answer weirctl does not understand (a redirect, a 2xx that is not JSON...).
    Unexpected {
        method: String,
        url: String,
        what: String,
    },
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => exit::USAGE,
            Failure::Refused { .. } => exit::REFUSED,
            Failure::NoToken | Failure::Unauthorised { .. } => exit::UNAUTHORISED,
            Failure::Unreachable { .. }
            | Failure::Untrusted { .. }
            | Failure::ServerFailed { .. }
            | Failure::Unexpected { .. } => exit::UNAVAILABLE,
        }
    }

    /// The server's problem+json, for `--json`.
    pub fn body(&self) -> Option<&Value> {
        match self {
            Failure::Refused { body, .. }
            | Failure::Unauthorised { body, .. }
            | Failure::ServerFailed { body, .. } => body.as_ref(),
            _ => None,
        }
    }

    /// The HTTP status the control plane answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Failure::Refused { status, .. }
            | Failure::Unauthorised { status, .. }
            | Failure::ServerFailed { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl std::error::Error for Failure {}

impl From<SettingsError> for Failure {
    fn from(error: SettingsError) -> Failure {
        match error {
            SettingsError::Usage(message) => Failure::Usage(message),
            SettingsError::NoToken => Failure::NoToken,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(message) => f.write_str(message),
            Failure::NoToken => fmt::Display::fmt(&SettingsError::NoToken, f),
            Failure::Refused {
                method,
                url,
                status,
                problem,
                ..
            } => {
                let status = status_line(problem, *status);
                let Some(said) = said(problem) else {
                    // Not problem+json: likely something other than the control plane.
                    return write!(
                        f,
                        "{method} {url} was refused ({status}) with no reason given; is that \
                         the control plane? (check WEIR_URL or --url)"
                    );
                };
                write!(f, "the control plane refused ({status}): {said}")?;
                for error in problem.errors.iter().flatten() {
                    write!(f, "\n{error}")?;
                }
                Ok(())
            }
            Failure::Unauthorised {
                status: 403,
                problem,
                ..
            } => match said(problem) {
                Some(said) => write!(f, "{said} (403): use a token with that role"),
                None => f.write_str(
                    "the token lacks the role this needs (403): use a token with that role",
                ),
            },
            Failure::Unauthorised {
                status,
                problem,
                token_from,
                ..
            } => {
                write!(f, "the token was refused ({status}")?;
                if let Some(said) = said(problem) {
                    write!(f, ": {said}")?;
                }
                let fix = match token_from {
                    Source::Flag(_) => "check --token",
                    _ => "check WEIR_TOKEN",
                };
                write!(f, "): {fix}")
            }
            Failure::Unreachable {
                method,
                url,
                reason,
                url_from,
            } => {
                write!(
                    f,
                    "cannot reach the control plane ({method} {url}): {reason}; is it running \
                     there? "
                )?;
                match url_from {
                    Source::Default => f.write_str("(the default URL: set WEIR_URL or --url)"),
                    from => write!(f, "(the URL is from {from})"),
                }
            }
            Failure::Untrusted {
                method,
                url,
                reason,
                ca_file,
            } => {
                write!(
                    f,
                    "cannot trust the control plane ({method} {url}): {reason}; "
                )?;
                match ca_file {
                    None => f.write_str(
                        "if its certificate is signed by its own CA, pass that CA with --ca-file \
                         (or WEIR_CA_FILE)",
                    ),
                    Some(ca) => write!(
                        f,
                        "the CA file {} (from {}) did not sign its certificate, or the \
                         certificate does not name this host",
                        ca.path.display(),
                        ca.from
                    ),
                }
            }
            Failure::ServerFailed {
                method,
                url,
                status,
                problem,
                ..
            } => {
                write!(
                    f,
                    "the control plane failed ({method} {url}: {})",
                    status_line(problem, *status)
                )?;
                if let Some(said) = said(problem) {
                    write!(f, ": {said}")?;
                }
                Ok(())
            }
            Failure::Unexpected { method, url, what } => {
                write!(f, "unexpected answer to {method} {url}: {what}")
            }
        }
    }
}

/// The first line of `text`, at most `max` characters.
pub fn first_line(text: &str, max: usize) -> String {
    let line = text.trim().lines().next().unwrap_or("").trim();
    if line.chars().count() > max {
        let cut: String = line.chars().take(max).collect();
        format!("{cut}...")
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(body: &str) -> Box<Problem> {
        Box::new(problem_of(body))
    }

    fn refused(status: u16, body: &str) -> Failure {
        Failure::Refused {
            method: "PUT".into(),
            url: "http://cp/v1/config".into(),
            status,
            problem: boxed(body),
            body: serde_json::from_str(body).ok(),
        }
    }

    #[test]
    fn config_problems_print_with_their_position() {
        let body = r#"{"type":"about:blank","title":"Invalid Config","status":422,
            "detail":"the config has 3 problems; nothing was stored",
            "errors":[
              {"path":"upstreams.api.pools[0].weight","message":"must be 0..=100","line":12,"column":10},
              {"path":"routes[1].upstream","message":"unknown upstream 'apx'","line":20,"column":null},
              {"path":"redis","message":"needed by rate_limits","line":null,"column":null}]}"#;
        let failure = refused(422, body);
        assert_eq!(failure.exit_code(), exit::REFUSED);
        assert_eq!(
            failure.to_string(),
            "the control plane refused (422 Invalid Config): the config has 3 problems; \
             nothing was stored\n\
             upstreams.api.pools[0].weight: must be 0..=100 (line 12, column 10)\n\
             routes[1].upstream: unknown upstream 'apx' (line 20)\n\
             redis: needed by rate_limits"
        );
        assert_eq!(failure.body().unwrap()["status"], 422);
    }

    #[test]
    fn conflicts_and_not_found_are_refusals_with_the_detail() {
        let conflict = refused(
            409,
            r#"{"title":"Conflict","status":409,"detail":"the change was based on version 6 but the current version is 7; read it again and retry","current_version":7}"#,
        );
        assert_eq!(conflict.exit_code(), exit::REFUSED);
        assert_eq!(
            conflict.to_string(),
            "the control plane refused (409 Conflict): the change was based on version 6 but \
             the current version is 7; read it again and retry"
        );
        let Failure::Refused { problem, .. } = &conflict else {
            unreachable!()
        };
        assert_eq!(problem.current_version, Some(7));

        let missing = refused(
            404,
            r#"{"title":"Not Found","detail":"there is no version 9"}"#,
        );
        assert_eq!(
            missing.to_string(),
            "the control plane refused (404 Not Found): there is no version 9"
        );
        let bare = refused(413, "");
        assert_eq!(
            bare.to_string(),
            "PUT http://cp/v1/config was refused (413) with no reason given; is that the \
             control plane? (check WEIR_URL or --url)"
        );
    }

    #[test]
    fn unauthorised_says_which_and_what_to_fix() {
        let from_env = Failure::Unauthorised {
            status: 401,
            problem: boxed(r#"{"title":"Unauthorized","detail":"the bearer token is not valid"}"#),
            token_from: Source::Env("WEIR_TOKEN"),
            body: None,
        };
        assert_eq!(from_env.exit_code(), exit::UNAUTHORISED);
        assert_eq!(
            from_env.to_string(),
            "the token was refused (401: the bearer token is not valid): check WEIR_TOKEN"
        );
        let from_flag = Failure::Unauthorised {
            status: 401,
            problem: Box::default(),
            token_from: Source::Flag("--token"),
            body: None,
        };
        assert_eq!(
            from_flag.to_string(),
            "the token was refused (401): check --token"
        );
        let forbidden = Failure::Unauthorised {
            status: 403,
            problem: boxed(
                r#"{"title":"Forbidden","detail":"token 'bob' has role 'read', this needs 'operate'"}"#,
            ),
            token_from: Source::Env("WEIR_TOKEN"),
            body: None,
        };
        assert_eq!(forbidden.exit_code(), exit::UNAUTHORISED);
        assert_eq!(
            forbidden.to_string(),
            "token 'bob' has role 'read', this needs 'operate' (403): use a token with that role"
        );
        assert_eq!(Failure::NoToken.exit_code(), exit::UNAUTHORISED);
        assert!(Failure::NoToken.to_string().contains("WEIR_TOKEN"));
        let no_token = Failure::from(SettingsError::NoToken);
        assert_eq!(no_token.exit_code(), exit::UNAUTHORISED);
        assert_eq!(no_token.to_string(), SettingsError::NoToken.to_string());
        let usage = Failure::from(SettingsError::Usage("bad --url".into()));
        assert_eq!(usage.exit_code(), exit::USAGE);
        assert_eq!(usage.to_string(), "bad --url");
    }

    #[test]
    fn unavailable_names_the_url() {
        let unreachable = Failure::Unreachable {
            method: "GET".into(),
            url: "http://10.0.0.1:7700/v1/gateways".into(),
            reason: "connection refused".into(),
            url_from: Source::Env("WEIR_URL"),
        };
        assert_eq!(unreachable.exit_code(), exit::UNAVAILABLE);
        assert_eq!(
            unreachable.to_string(),
            "cannot reach the control plane (GET http://10.0.0.1:7700/v1/gateways): connection \
             refused; is it running there? (the URL is from WEIR_URL)"
        );
        let failed = Failure::ServerFailed {
            method: "PUT".into(),
            url: "http://cp/v1/config".into(),
            status: 500,
            problem: boxed(
                r#"{"title":"Store Failure","detail":"the store failed; nothing was changed: disk full"}"#,
            ),
            body: None,
        };
        assert_eq!(failed.exit_code(), exit::UNAVAILABLE);
        assert_eq!(
            failed.to_string(),
            "the control plane failed (PUT http://cp/v1/config: 500 Store Failure): the store \
             failed; nothing was changed: disk full"
        );
        let proxy = Failure::ServerFailed {
            method: "GET".into(),
            url: "http://cp/v1/config".into(),
            status: 502,
            problem: boxed("<html>\n<h1>Bad Gateway</h1>"),
            body: None,
        };
        assert_eq!(
            proxy.to_string(),
            "the control plane failed (GET http://cp/v1/config: 502): <html>"
        );
        assert_eq!(Failure::Usage("x".into()).exit_code(), exit::USAGE);
        let default_url = Failure::Unreachable {
            method: "GET".into(),
            url: "http://127.0.0.1:7700/v1/config".into(),
            reason: "connection refused".into(),
            url_from: Source::Default,
        };
        assert!(
            default_url
                .to_string()
                .ends_with("(the default URL: set WEIR_URL or --url)")
        );
    }

    #[test]
    fn first_line_is_cut() {
        assert_eq!(first_line("  a\nb", 10), "a");
        assert_eq!(first_line("abcdef", 3), "abc...");
        assert_eq!(first_line("", 3), "");
    }
}
