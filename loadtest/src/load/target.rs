//! Targets of a run: parsed `http://` URLs with method, headers and body, and the weighted order
//! in which requests go to them.

use std::net::{SocketAddr, ToSocketAddrs};

use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

/// Largest sum of weights; the pick order is a table of that many entries.
pub const MAX_TOTAL_WEIGHT: u32 = 10_000;

/// One URL to send requests to, ready for the request path.
#[derive(Clone, Debug)]
pub struct Target {
    /// As given, for the report.
    pub url: String,
    pub weight: u32,
    pub method: Method,
    /// The address requests connect to (the first the host resolved to).
    pub addr: SocketAddr,
    /// Index of `addr` among the distinct addresses of the run's targets (each user keeps one
    /// connection per address).
    pub addr_index: usize,
    /// `scheme://authority/path?query`, used as is for HTTP/2.
    pub uri: Uri,
    /// The given headers plus `host` (HTTP/1.1) when not given.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The whole HTTP/1.1 request, serialized once.
    pub http1_request: Bytes,
}

/// What a target is made of before it is checked.
#[derive(Clone, Debug, Default)]
pub struct TargetSpec {
    pub url: String,
    pub weight: u32,
    pub method: String,
    /// `(name, value)` pairs.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Target {
    /// Checks and resolves a target; the error names what is wrong with it.
    pub fn new(spec: &TargetSpec) -> Result<Self, String> {
        let url = &spec.url;
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "{url}: https is not supported by the generator; use http:// (TLS would \
                     measure the handshake library, not the target)"
                ));
            }
            _ => return Err(format!("{url}: the URL must start with http://")),
        }
        let authority = uri
            .authority()
            .ok_or_else(|| format!("{url}: the URL has no host"))?
            .clone();
        let port = authority.port_u16().unwrap_or(80);
        let addr = (authority.host().trim_matches(['[', ']']), port)
            .to_socket_addrs()
            .map_err(|e| format!("{url}: cannot resolve {}: {e}", authority.host()))?
            .next()
            .ok_or_else(|| format!("{url}: {} resolves to no address", authority.host()))?;
        let path: Uri = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(|e| format!("{url}: invalid path: {e}"))?;
        let uri: Uri = format!("http://{authority}{path}")
            .parse()
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        let method = Method::from_bytes(spec.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", spec.method))?;
        if spec.weight == 0 {
            return Err(format!("{url}: weight must be at least 1"));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &spec.headers {
            let name = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            let value = HeaderValue::from_str(value.trim())
                .map_err(|_| format!("invalid value for header {name}: {value:?}"))?;
            headers.append(name, value);
        }
        if !headers.contains_key(HOST) {
            let host = HeaderValue::from_str(authority.as_str())
                .map_err(|_| format!("{url}: invalid host"))?;
            headers.insert(HOST, host);
        }
        let http1_request = Bytes::from(super::h1::serialize(
            &method,
            &path.to_string(),
            &headers,
            &spec.body,
        ));
        Ok(Target {
            http1_request,
            url: url.clone(),
            weight: spec.weight,
            method,
            addr,
            addr_index: 0,
            uri,
            headers,
            body: Bytes::from(spec.body.clone()),
        })
    }
}

/// `WEIGHT@URL` or `URL` (weight 1), as given on the command line.
pub fn parse_weighted_url(text: &str) -> Result<(u32, String), String> {
    match text.split_once('@') {
        Some((weight, url)) if !weight.contains('/') && !weight.contains(':') => {
            let weight: u32 = weight
                .parse()
                .map_err(|_| format!("invalid weight {weight:?} in {text:?}: WEIGHT@URL"))?;
            Ok((weight, url.to_owned()))
        }
        _ => Ok((1, text.to_owned())),
    }
}

/// The order requests go to targets: a smooth weighted round robin, so weights 3:1 send
/// `a a b a` rather than `a a a b`, and any window of requests is split close to the weights.
#[derive(Clone, Debug)]
pub struct PickOrder {
    table: Vec<u16>,
}

impl PickOrder {
    /// The order for these weights (sum 1..=[`MAX_TOTAL_WEIGHT`], at most 65,536 targets); a
    /// target of weight 0 is never picked.
    pub fn new(weights: &[u32]) -> Result<Self, String> {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        if weights.is_empty() {
            return Err("no targets".to_owned());
        }
        if total == 0 {
            return Err("every target has weight 0".to_owned());
        }
        if total > u64::from(MAX_TOTAL_WEIGHT) {
            return Err(format!(
                "the weights add up to {total}; at most {MAX_TOTAL_WEIGHT}"
            ));
        }
        let mut current = vec![0i64; weights.len()];
        let mut table = Vec::with_capacity(total as usize);
        for _ in 0..total {
            for (c, &w) in current.iter_mut().zip(weights) {
                *c += i64::from(w);
            }
            let (best, _) = current
                .iter()
                .enumerate()
                .max_by(|(ia, a), (ib, b)| a.cmp(b).then(ib.cmp(ia)))
                .unwrap_or((0, &0));
            current[best] -= total as i64;
            table.push(best as u16);
        }
        Ok(PickOrder { table })
    }

    /// The target of request `k`.
    pub fn pick(&self, k: u64) -> usize {
        usize::from(self.table[(k % self.table.len() as u64) as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(url: &str) -> TargetSpec {
        TargetSpec {
            url: url.to_owned(),
            weight: 1,
            method: "GET".to_owned(),
            ..TargetSpec::default()
        }
    }

    #[test]
    fn parses_a_loopback_url() {
        let t = Target::new(&spec("http://127.0.0.1:8080/a/b?c=1")).unwrap();
        assert_eq!(t.addr, "127.0.0.1:8080".parse().unwrap());
        assert!(t.http1_request.starts_with(b"GET /a/b?c=1 HTTP/1.1\r\n"));
        assert_eq!(t.uri, "http://127.0.0.1:8080/a/b?c=1");
        assert_eq!(t.headers[HOST], "127.0.0.1:8080");
    }

    #[test]
    fn default_path_and_port() {
        let t = Target::new(&spec("http://localhost")).unwrap();
        assert_eq!(t.addr.port(), 80);
        assert!(
            t.http1_request
                .starts_with(b"GET / HTTP/1.1\r\nhost: localhost\r\n")
        );
    }

    #[test]
    fn refuses_https_and_other_schemes() {
        let err = Target::new(&spec("https://127.0.0.1/")).unwrap_err();
        assert!(err.contains("https is not supported"), "{err}");
        let err = Target::new(&spec("ftp://127.0.0.1/")).unwrap_err();
        assert!(err.contains("http://"), "{err}");
        assert!(Target::new(&spec("not a url")).is_err());
    }

    #[test]
    fn headers_are_checked_and_host_is_kept_when_given() {
        let mut s = spec("http://127.0.0.1:1/");
        s.headers = vec![
            ("Host".into(), "example.com".into()),
            ("x-a".into(), " 1 ".into()),
        ];
        let t = Target::new(&s).unwrap();
        assert_eq!(t.headers[HOST], "example.com");
        assert_eq!(t.headers["x-a"], "1");
        s.headers = vec![("bad name".into(), "v".into())];
        assert!(Target::new(&s).unwrap_err().contains("invalid header name"));
    }

    #[test]
    fn weighted_urls() {
        assert_eq!(
            parse_weighted_url("3@http://h/").unwrap(),
            (3, "http://h/".to_owned())
        );
        assert_eq!(
            parse_weighted_url("http://user@h/").unwrap(),
            (1, "http://user@h/".to_owned())
        );
        assert!(parse_weighted_url("x@http://h/").is_err());
    }

    #[test]
    fn pick_order_is_smooth_and_follows_weights() {
        let order = PickOrder::new(&[3, 1]).unwrap();
        let picks: Vec<usize> = (0..8).map(|k| order.pick(k)).collect();
        assert_eq!(picks, vec![0, 0, 1, 0, 0, 0, 1, 0]);
        let order = PickOrder::new(&[1, 2, 7]).unwrap();
        let mut counts = [0; 3];
        for k in 0..1000 {
            counts[order.pick(k)] += 1;
        }
        assert_eq!(counts, [100, 200, 700]);
        assert!(PickOrder::new(&[]).is_err());
        assert!(PickOrder::new(&[0, 0]).is_err());
        let order = PickOrder::new(&[0, 2, 0, 1]).unwrap();
        let picks: Vec<usize> = (0..6).map(|k| order.pick(k)).collect();
        assert_eq!(picks, vec![1, 3, 1, 1, 3, 1]);
        assert!(PickOrder::new(&[MAX_TOTAL_WEIGHT, 1]).is_err());
    }
}
