//! Talking to the control plane: requests built as plain values (path, query, `If-Match`, body),
//! sent by a blocking ureq agent with timeouts, and answers sorted by status into the exit codes
//! of docs/control-plane.md#weirctl. A transport failure or timeout names the URL it tried.

use std::fmt::Write as _;

use serde::de::DeserializeOwned;
use serde_json::Value;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, parse_pem};
use weir_protocol::api::Route;

use crate::connection::{CONNECT_TIMEOUT, CaFile, Endpoint, OVERALL_TIMEOUT, Source, Token};
use crate::error::{Failure, problem_of};

/// One API call, before it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: &'static str,
    /// The path, its segments already encoded.
    pub path: String,
    /// Query pairs, already encoded.
    pub query: Vec<(&'static str, String)>,
    pub if_match: Option<u64>,
    /// `Content-Type` and bytes, for PUT and POST.
    pub body: Option<(&'static str, Vec<u8>)>,
}

impl Request {
    /// A call of `route`, its path parameters filled in order by `params` (each encoded here as
    /// one path segment).
    pub fn to(route: Route, params: &[&str]) -> Request {
        let params: Vec<String> = params.iter().map(|param| segment(param)).collect();
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        Request {
            method: route.method().as_str(),
            path: route.fill(&params),
            query: Vec::new(),
            if_match: None,
            body: None,
        }
    }

    /// With a body of `content_type`.
    pub fn body(mut self, content_type: &'static str, body: Vec<u8>) -> Request {
        self.body = Some((content_type, body));
        self
    }

    /// Adds `key=value` to the query, `value` percent-encoded.
    pub fn query(mut self, key: &'static str, value: impl std::fmt::Display) -> Request {
        self.query.push((key, encode(&value.to_string())));
        self
    }

    /// Adds `key=value` when there is a value.
    pub fn query_opt<T: std::fmt::Display>(self, key: &'static str, value: Option<T>) -> Request {
        match value {
            Some(value) => self.query(key, value),
            None => self,
        }
    }

    /// Refuse (409) unless the current version is `version`.
    pub fn if_match(mut self, version: Option<u64>) -> Request {
        self.if_match = version;
        self
    }

    /// The path and query, as sent.
    pub fn target(&self) -> String {
        let mut target = self.path.clone();
        for (i, (key, value)) in self.query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(key);
            target.push('=');
            target.push_str(value);
        }
        target
    }

    /// The `If-Match` header value: the version in quotes.
    pub fn if_match_header(&self) -> Option<String> {
        self.if_match.map(|version| format!("\"{version}\""))
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// One path segment (an upstream, a region): encoded, and never `.` or `..`.
pub fn segment(text: &str) -> String {
    if text.bytes().all(|b| b == b'.') {
        "%2E".repeat(text.len())
    } else {
        encode(text)
    }
}

/// What the control plane answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub method: &'static str,
    /// The full URL that was called.
    pub url: String,
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The body as JSON, as the server wrote it (for `--json`); an answer that is not JSON is
    /// unexpected (exit 4).
    pub fn json(&self) -> Result<Value, Failure> {
        self.parse()
    }

    /// The body as the API's type for this answer; an answer that is not JSON, or not that
    /// type, is unexpected (exit 4).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(&self.body).map_err(|e| {
            let what = if e.is_data() {
                format!(
                    "the {} answer is not what weirctl expects ({e})",
                    self.status
                )
            } else {
                format!("the {} answer is not JSON ({e})", self.status)
            };
            Failure::Unexpected {
                method: self.method.to_string(),
                url: self.url.clone(),
                what,
            }
        })
    }
}

/// Sends requests. The real one is [`HttpClient`]; tests answer from a script.
pub trait Transport {
    fn endpoint(&self) -> &Endpoint;

    /// Sends `request`. `Err` only when there is no answer (exit 4); any status is a `Reply`.
    fn send(&self, request: &Request) -> Result<Reply, Failure>;

    /// Sends `request` and sorts the answer: `Ok` for 2xx, else the failure it means.
    fn call(&self, request: &Request) -> Result<Reply, Failure> {
        let reply = self.send(request)?;
        check(reply, self.endpoint().token_from)
    }
}

/// Sorts an answer by status: 2xx ok; 401/403 unauthorised (3); other 4xx refused (1); 5xx
/// failed (4); anything else (a redirect) unexpected (4).
pub fn check(reply: Reply, token_from: Source) -> Result<Reply, Failure> {
    let status = reply.status;
    if (200..300).contains(&status) {
        return Ok(reply);
    }
    let problem = Box::new(problem_of(&reply.body));
    let body = serde_json::from_str::<Value>(&reply.body)
        .ok()
        .filter(Value::is_object);
    Err(match status {
        401 | 403 => Failure::Unauthorised {
            status,
            problem,
            token_from,
            body,
        },
        400..=499 => Failure::Refused {
            method: reply.method.to_string(),
            url: reply.url,
            status,
            problem,
            body,
        },
        500..=599 => Failure::ServerFailed {
            method: reply.method.to_string(),
            url: reply.url,
            status,
            problem,
            body,
        },
        _ => Failure::Unexpected {
            method: reply.method.to_string(),
            url: reply.url,
            what: format!("status {status}; point WEIR_URL (or --url) at the control plane itself"),
        },
    })
}

/// The real transport: a blocking ureq agent.
pub struct HttpClient {
    agent: ureq::Agent,
    endpoint: Endpoint,
    token: Token,
    ca_file: Option<CaFile>,
}

impl HttpClient {
    /// An https:// control plane is trusted through `ca_file` when given, else through the
    /// public roots (Mozilla's, built in). A CA file that cannot be read is a usage error.
    pub fn new(
        endpoint: Endpoint,
        token: Token,
        ca_file: Option<&CaFile>,
    ) -> Result<HttpClient, Failure> {
        let mut config = ureq::Agent::config_builder();
        if let Some(ca_file) = ca_file {
            let roots = RootCerts::new_with_certs(&read_ca_file(ca_file)?);
            config = config.tls_config(TlsConfig::builder().root_certs(roots).build());
        }
        let agent = config
            // 4xx/5xx carry problem+json worth reading.
            .http_status_as_error(false)
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(OVERALL_TIMEOUT))
            // The API does not redirect; following one could send the token elsewhere.
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("weirctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .new_agent();
        Ok(HttpClient {
            agent,
            endpoint,
            token,
            ca_file: ca_file.cloned(),
        })
    }

    fn unreachable(&self, request: &Request, url: &str, reason: String) -> Failure {
        // rustls reports an untrusted or mismatched certificate as "invalid peer certificate".
        if reason.contains("certificate") {
            return Failure::Untrusted {
                method: request.method.to_string(),
                url: url.to_string(),
                reason,
                ca_file: self.ca_file.clone(),
            };
        }
        Failure::Unreachable {
            method: request.method.to_string(),
            url: url.to_string(),
            reason,
            url_from: self.endpoint.url_from,
        }
    }
}

impl Transport for HttpClient {
    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn send(&self, request: &Request) -> Result<Reply, Failure> {
        let url = format!("{}{}", self.endpoint.url, request.target());
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(&url)
            .header("Authorization", format!("Bearer {}", self.token.expose()))
            .header("Accept", "application/json, application/problem+json");
        if let Some(value) = request.if_match_header() {
            builder = builder.header("If-Match", value);
        }
        let sent = match &request.body {
            Some((content_type, bytes)) => builder
                .header("Content-Type", *content_type)
                .body(bytes.clone())
                .map(|r| self.agent.run(r)),
            None if request.method == "GET" => builder.body(()).map(|r| self.agent.run(r)),
            None => builder.body(Vec::new()).map(|r| self.agent.run(r)),
        };
        let sent = sent.map_err(|e| {
            Failure::Usage(format!(
                "cannot build a request for {url}: {e}; check the URL and the arguments"
            ))
        })?;
        let mut response = sent.map_err(|e| self.unreachable(request, &url, reason(&e)))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().map_err(|e| {
            self.unreachable(request, &url, format!("reading the answer: {}", reason(&e)))
        })?;
        Ok(Reply {
            method: request.method,
            url,
            status,
            body,
        })
    }
}

/// The certificates in a PEM file; none, or a file that cannot be read, is a usage error.
fn read_ca_file(ca_file: &CaFile) -> Result<Vec<Certificate<'static>>, Failure> {
    let bad = |why: String| {
        Failure::Usage(format!(
            "the CA file {} (from {}) {why}",
            ca_file.path.display(),
            ca_file.from
        ))
    };
    let pem = std::fs::read(&ca_file.path).map_err(|e| bad(format!("cannot be read: {e}")))?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(bad(format!("is not valid PEM: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(bad(
            "has no PEM certificate (-----BEGIN CERTIFICATE-----)".into()
        ));
    }
    Ok(certs)
}

/// Why a call got no answer, in words an operator can act on.
fn reason(error: &ureq::Error) -> String {
    use ureq::Timeout;
    match error {
        ureq::Error::Timeout(Timeout::Connect) => format!(
            "could not connect within {}",
            humantime::format_duration(CONNECT_TIMEOUT)
        ),
        ureq::Error::Timeout(Timeout::Resolve) => "resolving the host name timed out".into(),
        ureq::Error::Timeout(Timeout::Global) => format!(
            "no complete answer within {}",
            humantime::format_duration(OVERALL_TIMEOUT)
        ),
        ureq::Error::Timeout(other) => format!("timed out ({other})"),
        ureq::Error::HostNotFound => "host not found".into(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "connection refused".into()
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            method: "GET",
            url: "http://cp:7700/v1/config".into(),
            status,
            body: body.into(),
        }
    }

    fn code(status: u16) -> u8 {
        match check(reply(status, "{}"), Source::Env("WEIR_TOKEN")) {
            Ok(_) => 0,
            Err(failure) => failure.exit_code(),
        }
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        for (status, expected) in [
            (200, 0),
            (201, 0),
            (204, 0),
            (400, 1),
            (404, 1),
            (409, 1),
            (413, 1),
            (415, 1),
            (422, 1),
            (401, 3),
            (403, 3),
            (500, 4),
            (502, 4),
            (503, 4),
            (504, 4),
            (301, 4),
            (304, 4),
        ] {
            assert_eq!(code(status), expected, "status {status}");
        }
    }

    #[test]
    fn check_keeps_the_problem_body() {
        let failure = check(
            reply(
                409,
                r#"{"title":"Conflict","detail":"stale","current_version":7}"#,
            ),
            Source::Default,
        )
        .unwrap_err();
        assert_eq!(failure.status(), Some(409));
        assert_eq!(failure.body().unwrap()["current_version"], 7);
        let not_json = check(reply(502, "Bad Gateway"), Source::Default).unwrap_err();
        assert!(not_json.body().is_none());
        assert!(not_json.to_string().contains("http://cp:7700/v1/config"));
        assert!(not_json.to_string().contains("Bad Gateway"));
    }

    #[test]
    fn encoding_keeps_only_unreserved() {
        assert_eq!(encode("eu-west_1.a~b"), "eu-west_1.a~b");
        assert_eq!(
            encode("drain eu: maintenance & more/100%"),
            "drain%20eu%3A%20maintenance%20%26%20more%2F100%25"
        );
        assert_eq!(encode("é?#="), "%C3%A9%3F%23%3D");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("a/b"), "a%2Fb");
    }

    #[test]
    fn targets_and_if_match() {
        let request = Request::to(Route::DrainRegion, &["eu-west"])
            .query("message", "eu maintenance")
            .query_opt("dry_run", None::<bool>)
            .query_opt("limit", Some(5))
            .if_match(Some(7));
        assert_eq!(
            request.target(),
            "/v1/regions/eu-west/drain?message=eu%20maintenance&limit=5"
        );
        assert_eq!(request.method, "POST");
        assert_eq!(request.if_match_header().as_deref(), Some("\"7\""));
        let gateways = Request::to(Route::Gateways, &[]);
        assert_eq!(
            (gateways.method, gateways.target()),
            ("GET", "/v1/gateways".into())
        );
        assert_eq!(gateways.if_match_header(), None);
    }

    #[test]
    fn route_parameters_are_encoded_as_segments() {
        let request = Request::to(Route::SetWeight, &["my api", ".."]).body("a/b", vec![1]);
        assert_eq!(request.method, "PUT");
        assert_eq!(
            request.target(),
            "/v1/upstreams/my%20api/pools/%2E%2E/weight"
        );
        assert_eq!(request.body, Some(("a/b", vec![1])));
    }

    #[test]
    fn non_json_success_is_unexpected() {
        let failure = reply(200, "<html>").json().unwrap_err();
        assert_eq!(failure.exit_code(), 4);
        assert!(failure.to_string().contains("not JSON"));
        assert_eq!(reply(200, r#"{"a":1}"#).json().unwrap()["a"], 1);
    }

    #[test]
    fn an_answer_of_the_wrong_shape_is_unexpected() {
        use weir_protocol::api::VersionList;
        let failure = reply(200, r#"{"entries": []}"#)
            .parse::<VersionList>()
            .unwrap_err();
        assert_eq!(failure.exit_code(), 4);
        let message = failure.to_string();
        assert!(message.contains("not what weirctl expects"), "{message}");
        assert!(message.contains("versions"), "{message}");
        let failure = reply(200, "<html>").parse::<VersionList>().unwrap_err();
        assert!(failure.to_string().contains("not JSON"));
        let list: VersionList = reply(200, r#"{"versions": []}"#).parse().unwrap();
        assert!(list.versions.is_empty());
    }

    #[test]
    fn nobody_listening_is_unreachable_with_the_url() {
        // Port 1 on localhost: nothing listens there, so the connection is refused at once.
        let client = HttpClient::new(
            Endpoint {
                url: "http://127.0.0.1:1".into(),
                url_from: Source::Flag("--url"),
                token_from: Source::Env("WEIR_TOKEN"),
            },
            Token::new("weir_s3cret".into()),
            None,
        )
        .expect("a client without a CA file");
        let failure = client.call(&Request::to(Route::Gateways, &[])).unwrap_err();
        assert_eq!(failure.exit_code(), 4);
        let message = failure.to_string();
        assert!(
            message.contains("GET http://127.0.0.1:1/v1/gateways"),
            "{message}"
        );
        assert!(message.contains("--url"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}
