//! Request handling for one origin listener: the fast 200 path, `/healthz`, and `/_origin/*` control endpoints.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::fault::{FaultSpec, FaultState};

static X_REGION: HeaderName = HeaderName::from_static("x-weir-origin-region");
static X_ORIGIN: HeaderName = HeaderName::from_static("x-weir-origin");
static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
static SAW_REQUEST_ID: HeaderName = HeaderName::from_static("x-weir-origin-saw-request-id");
static SAW_TRACEPARENT: HeaderName = HeaderName::from_static("x-weir-origin-saw-traceparent");

const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// Largest body accepted on `POST /_origin/fault`.
const MAX_CONTROL_BODY: usize = 64 * 1024;

pub type ResponseBody = Full<Bytes>;

/// One simulated origin (one listener): identity, prebuilt body, fault and counters.
#[derive(Debug)]
pub struct Origin {
    region: HeaderValue,
    name: HeaderValue,
    body: Bytes,
    /// Echo `x-request-id` and `traceparent` back (tests check propagation with it).
    echo: bool,
    fault: FaultState,
    requests: AtomicU64,
    healthz: AtomicU64,
}

impl Origin {
    /// Builds an origin; fails if the name or region cannot be sent as a header value.
    pub fn new(name: &str, region: &str, body_size: usize, echo: bool) -> Result<Self, String> {
        let name_value = HeaderValue::from_str(name)
            .map_err(|_| format!("origin name {name:?} is not a valid header value"))?;
        let region_value = HeaderValue::from_str(region)
            .map_err(|_| format!("region {region:?} is not a valid header value"))?;
        Ok(Self {
            region: region_value,
            name: name_value,
            body: Bytes::from(padded_body(name, region, body_size)),
            echo,
            fault: FaultState::default(),
            requests: AtomicU64::new(0),
            healthz: AtomicU64::new(0),
        })
    }
}

/// `origin NAME (REGION)` padded with dots (or cut) to exactly `size` bytes, ending in a newline.
fn padded_body(name: &str, region: &str, size: usize) -> Vec<u8> {
    if size == 0 {
        return Vec::new();
    }
    let mut body = format!("origin {name} ({region})").into_bytes();
    body.resize(size - 1, b'.');
    body.push(b'\n');
    body
}

/// Body of `GET /_origin/stats`.
#[derive(serde::Serialize)]
struct Stats {
    /// Non-`/_origin` requests served (including `/healthz`).
    requests: u64,
    /// Of which `GET`/`HEAD /healthz`.
    healthz: u64,
}

/// Serves one request; never fails (errors become 4xx responses).
pub async fn handle(
    origin: Arc<Origin>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let path = req.uri().path();
    if path == "/_origin" || path.starts_with("/_origin/") {
        return Ok(control(&origin, req).await);
    }
    Ok(serve(&origin, req).await)
}

/// The simulated application: 200 with identity headers, unless a fault says otherwise.
async fn serve(origin: &Origin, req: Request<Incoming>) -> Response<ResponseBody> {
    origin.requests.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let healthz = parts.uri.path() == "/healthz"
        && (parts.method == Method::GET || parts.method == Method::HEAD);
    if healthz {
        origin.healthz.fetch_add(1, Ordering::Relaxed);
    }
    drain(body).await;

    let effect = origin.fault.sample();
    if let Some(delay) = effect.delay {
        tokio::time::sleep(delay).await;
    }

    let body = match (healthz, effect.status) {
        (true, None) => Bytes::from_static(b"ok\n"),
        (true, Some(_)) => Bytes::from_static(b"fault\n"),
        (false, _) => origin.body.clone(),
    };
    let mut resp = Response::new(Full::new(body));
    if let Some(status) = effect.status {
        *resp.status_mut() = status;
    }
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, TEXT_PLAIN);
    headers.insert(X_REGION.clone(), origin.region.clone());
    headers.insert(X_ORIGIN.clone(), origin.name.clone());
    if origin.echo {
        if let Some(id) = parts.headers.get(&X_REQUEST_ID) {
            headers.insert(SAW_REQUEST_ID.clone(), id.clone());
        }
        if let Some(tp) = parts.headers.get(&TRACEPARENT) {
            headers.insert(SAW_TRACEPARENT.clone(), tp.clone());
        }
    }
    resp
}

/// Reads and drops a request body so the connection stays reusable.
async fn drain(mut body: Incoming) {
    while !body.is_end_stream() {
        match body.frame().await {
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
}

/// `/_origin/*`: fault and stats control; never subject to the fault.
async fn control(origin: &Origin, req: Request<Incoming>) -> Response<ResponseBody> {
    match (req.uri().path(), req.method()) {
        ("/_origin/fault", &Method::GET) => json(StatusCode::OK, &origin.fault.get()),
        ("/_origin/fault", &Method::POST) => {
            let bytes = match Limited::new(req.into_body(), MAX_CONTROL_BODY)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(err) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!("cannot read fault body: {err}\n"),
                    );
                }
            };
            match FaultSpec::from_json(&bytes).and_then(|spec| {
                origin.fault.set(spec)?;
                Ok(spec)
            }) {
                Ok(spec) => json(StatusCode::OK, &spec),
                Err(msg) => text(StatusCode::BAD_REQUEST, format!("{msg}\n")),
            }
        }
        ("/_origin/fault", &Method::DELETE) => {
            origin.fault.clear();
            json(StatusCode::OK, &FaultSpec::default())
        }
        ("/_origin/fault", _) => not_allowed("GET, POST, DELETE"),
        ("/_origin/stats", &Method::GET) => json(
            StatusCode::OK,
            &Stats {
                requests: origin.requests.load(Ordering::Relaxed),
                healthz: origin.healthz.load(Ordering::Relaxed),
            },
        ),
        ("/_origin/stats", &Method::DELETE) => {
            origin.requests.store(0, Ordering::Relaxed);
            origin.healthz.store(0, Ordering::Relaxed);
            json(
                StatusCode::OK,
                &Stats {
                    requests: 0,
                    healthz: 0,
                },
            )
        }
        ("/_origin/stats", _) => not_allowed("GET, DELETE"),
        _ => text(
            StatusCode::NOT_FOUND,
            "unknown control endpoint; try /_origin/fault or /_origin/stats\n".to_owned(),
        ),
    }
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<ResponseBody> {
    match serde_json::to_vec(value) {
        Ok(mut body) => {
            body.push(b'\n');
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            *resp.status_mut() = status;
            resp.headers_mut().insert(CONTENT_TYPE, APPLICATION_JSON);
            resp
        }
        Err(err) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode JSON: {err}\n"),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    resp
}

fn not_allowed(allow: &'static str) -> Response<ResponseBody> {
    let mut resp = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed; allowed: {allow}\n"),
    );
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}

#[cfg(test)]
mod tests {
    use super::padded_body;

    #[test]
    fn body_is_padded_or_cut_to_size() {
        let body = padded_body("a", "us-east", 32);
        assert_eq!(body.len(), 32);
        assert!(body.starts_with(b"origin a (us-east)...."));
        assert_eq!(body.last(), Some(&b'\n'));
        assert_eq!(padded_body("a", "us-east", 5), b"orig\n");
        assert!(padded_body("a", "us-east", 0).is_empty());
        assert_eq!(padded_body("a", "r", 15), b"origin a (r)..\n");
    }
}
