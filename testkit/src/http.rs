//! A blocking HTTP client for tests, and the answers it reads.

use std::time::Duration;

/// An answer: status, headers (names as sent), body as text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    /// The first header named `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The name of the simulated origin that answered (`x-weir-origin`), or "".
    pub fn origin(&self) -> &str {
        self.header("x-weir-origin").unwrap_or("")
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A client that returns 4xx and 5xx as answers, not errors, and gives up after 15 s.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(15)))
        .build()
        .into()
}

/// One request through `agent`; `body` is `(content type, text)`. Errors are transport errors
/// (refused, reset, timed out): every status is an answer.
pub fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, &str)>,
) -> Result<Resp, ureq::Error> {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = match body {
        Some((content_type, text)) => agent.run(
            request
                .header("content-type", content_type)
                .body(text.to_string())
                .expect("request"),
        )?,
        None => agent.run(request.body(()).expect("request"))?,
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response.body_mut().read_to_string()?;
    Ok(Resp {
        status,
        headers,
        body,
    })
}
