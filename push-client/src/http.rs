//! One HTTP/1.1 exchange with the control plane (plain or over rustls): connect with a timeout,
//! send the request with the follower's bearer token, hand back the response with its body still
//! streaming. Each call opens its own connection: the stream lives long, reports are rare.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Connecting (and the TLS handshake) must finish within this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("connecting to {0} timed out")]
    ConnectTimeout(String),
    #[error("HTTP exchange with {0} failed: {1}")]
    Http(String, String),
}

/// Where the control plane is and how to talk to it (cloned for each task that talks to it).
#[derive(Clone)]
pub struct Endpoint {
    /// `host:port`, also the `Host` header.
    authority: String,
    /// Path prefix of the API (no trailing slash), from the URL.
    prefix: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// `Bearer <token>`, marked sensitive so it is never logged by `http`.
    authorization: HeaderValue,
    /// The `User-Agent` header: `weir-gateway` unless [`Endpoint::user_agent`] says otherwise.
    user_agent: &'static str,
}

impl Endpoint {
    /// From `control_plane.url`, its optional CA bundle and the token.
    pub fn new(url: &str, ca_file: Option<&Path>, token: &str) -> Result<Endpoint, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("control_plane.url {url:?}: {e}"))?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(format!(
                    "control_plane.url {url:?}: must start with http:// or https://"
                ));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("control_plane.url {url:?}: no host"))?
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let bare_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let authority = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let tls = if https {
            let connector = connector(ca_file)?;
            let name = ServerName::try_from(bare_host)
                .map_err(|e| format!("control_plane.url {url:?}: {e}"))?;
            Some((connector, name))
        } else {
            None
        };
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| {
                "the control-plane token file holds characters a header cannot carry".to_string()
            })?;
        authorization.set_sensitive(true);
        Ok(Endpoint {
            authority,
            prefix: uri.path().trim_end_matches('/').to_string(),
            tls,
            authorization,
            user_agent: "weir-gateway",
        })
    }

    /// The same endpoint, naming its client `agent` in `User-Agent` (e.g. `weir-dns`).
    #[must_use]
    pub fn user_agent(mut self, agent: &'static str) -> Endpoint {
        self.user_agent = agent;
        self
    }

    /// The URL of `path`, for logs.
    pub fn show(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{}{path}", self.authority, self.prefix)
    }

    /// Sends one request; `body` is JSON when given.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>, LinkError> {
        let target = self.show(path_and_query);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.prefix))
            .header(header::HOST, &self.authority)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(header::USER_AGENT, self.user_agent);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| LinkError::Http(target.clone(), e.to_string()))?;
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.authority))
            .await
            .map_err(|_| LinkError::ConnectTimeout(target.clone()))?
            .map_err(|e| LinkError::Connect(target.clone(), e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => exchange(tcp, request, &target).await,
            Some((connector, name)) => {
                let tls =
                    tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), tcp))
                        .await
                        .map_err(|_| LinkError::ConnectTimeout(target.clone()))?
                        .map_err(|e| LinkError::Connect(target.clone(), format!("TLS: {e}")))?;
                exchange(tls, request, &target).await
            }
        }
    }
}

/// Up to 4 KiB of a response body, for error messages.
pub async fn body_text(body: hyper::body::Incoming) -> String {
    let limited = http_body_util::Limited::new(body, 4096);
    match tokio::time::timeout(Duration::from_secs(2), limited.collect()).await {
        Ok(Ok(collected)) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_string(),
        _ => String::new(),
    }
}

async fn exchange<Io>(
    io: Io,
    request: Request<Full<Bytes>>,
    target: &str,
) -> Result<Response<Incoming>, LinkError>
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http_error = |e: hyper::Error| LinkError::Http(target.to_string(), e.to_string());
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(http_error)?;
    tokio::spawn(async move {
        // Ends when the response body is dropped or the peer closes; errors show up there.
        let _ = connection.await;
    });
    sender.send_request(request).await.map_err(http_error)
}

/// Trusts `ca_file` when given, else the system's roots.
fn connector(ca_file: Option<&Path>) -> Result<TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("control_plane.ca_file {}: {e}", path.display()))?
            {
                let cert =
                    cert.map_err(|e| format!("control_plane.ca_file {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("control_plane.ca_file {}: {e}", path.display()))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs()
                .map_err(|e| format!("cannot load the system's CA certificates: {e}"))?;
            roots.add_parsable_certificates(native);
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_endpoints() {
        let plain = Endpoint::new("http://127.0.0.1:7700/", None, "t\n").unwrap();
        assert_eq!(plain.show("/v1/stream"), "http://127.0.0.1:7700/v1/stream");
        assert_eq!(plain.authorization, "Bearer t");
        assert_eq!(plain.user_agent, "weir-gateway");
        assert!(plain.authorization.is_sensitive());
        assert_eq!(plain.user_agent("weir-dns").user_agent, "weir-dns");
        let prefixed = Endpoint::new("http://cp.internal/weir", None, "t").unwrap();
        assert_eq!(
            prefixed.show("/v1/stream"),
            "http://cp.internal:80/weir/v1/stream"
        );
        let v6 = Endpoint::new("http://[::1]:7700", None, "t").unwrap();
        assert_eq!(v6.authority, "[::1]:7700");
        assert!(Endpoint::new("ftp://x", None, "t").is_err());
        assert!(Endpoint::new("http://x", None, "a\nb").is_err());
    }
}
