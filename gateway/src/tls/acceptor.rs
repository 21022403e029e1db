//! The TLS side of an HTTPS listener: a rustls server config (the TLS versions from
//! `tls.min_version`, ALPN from `tls.alpn`, certificates from the [`Resolver`]) wrapped in
//! Pingora's acceptor, and a handshake bounded by `tls.handshake_timeout` whose outcome is one
//! of a few labels (`ok`, `bad_sni`, `timeout`, `protocol_error`). The SNI name the client sent
//! is kept in the connection's TLS digest ([`Sni`]) for the access log.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::listeners::TlsAccept;
use pingora::listeners::tls::{self as pingora_tls, Acceptor};
use pingora::protocols::Stream;
use pingora::protocols::tls::TlsRef;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::{self, ServerConfig, version};
use weir_config::{TlsSettings, TlsVersion};

use super::plain::Plain;
use super::resolver::{CertStore, Resolver};

/// The crypto provider for every certificate and handshake (ring, as Pingora's rustls build).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a handshake ended: the `result` label of `weir_tls_handshakes_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeOutcome {
    Ok,
    /// The SNI names no certificate and `unknown_sni = "reject"`.
    BadSni,
    /// `tls.handshake_timeout` passed first.
    Timeout,
    /// Anything else: not TLS, an old version, no shared cipher or ALPN, the client gave up.
    ProtocolError,
}

impl HandshakeOutcome {
    pub const ALL: [Self; 4] = [Self::Ok, Self::BadSni, Self::Timeout, Self::ProtocolError];

    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::BadSni => "bad_sni",
            Self::Timeout => "timeout",
            Self::ProtocolError => "protocol_error",
        }
    }
}

/// One HTTPS listener's acceptor (all HTTPS listeners share one).
pub struct EdgeAcceptor {
    acceptor: Acceptor,
}

impl EdgeAcceptor {
    /// The acceptor for `settings`, serving certificates from `store`.
    pub fn new(settings: &TlsSettings, store: Arc<CertStore>) -> Result<Self, rustls::Error> {
        let versions: &[&'static rustls::SupportedProtocolVersion] = match settings.min_version {
            TlsVersion::V1_2 => &[&version::TLS13, &version::TLS12],
            TlsVersion::V1_3 => &[&version::TLS13],
        };
        let resolver = Arc::new(Resolver { store });
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as _);
        config.alpn_protocols = settings
            .alpn
            .iter()
            .map(|alpn| alpn.wire().to_vec())
            .collect();
        // Pingora runs the handshake-complete callback (which keeps the SNI name) only for an
        // acceptor built from its `TlsSettings`, whose own rustls config always allows TLS 1.2;
        // `Acceptor::acceptor` is public, so ours replaces it and the callback stays.
        let mut callbacks = pingora_tls::TlsSettings::with_callbacks(Box::new(KeepSni))
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        callbacks.set_cert_resolver(resolver);
        let mut acceptor = callbacks.build();
        acceptor.acceptor = TlsAcceptor::from(Arc::new(config));
        Ok(Self { acceptor })
    }

    /// The TLS handshake on `stream`, given at most `deadline`.
    pub async fn handshake(
        &self,
        stream: Stream,
        deadline: Duration,
    ) -> Result<Stream, (HandshakeOutcome, String)> {
        match tokio::time::timeout(deadline, self.acceptor.tls_handshake(Plain(stream))).await {
            Ok(Ok(tls)) => Ok(Box::new(tls)),
            Ok(Err(e)) => {
                let message = e.to_string();
                // What rustls says when the resolver returned no certificate.
                let outcome = if message.contains("no server certificate chain resolved") {
                    HandshakeOutcome::BadSni
                } else {
                    HandshakeOutcome::ProtocolError
                };
                Err((outcome, message))
            }
            Err(_) => Err((
                HandshakeOutcome::Timeout,
                format!("no handshake within {deadline:?}"),
            )),
        }
    }
}

/// The SNI name a client sent, kept for the connection's lifetime in its TLS digest
/// (`SslDigest::extension`), where every request of the connection, HTTP/1 or HTTP/2, finds it.
#[derive(Debug)]
pub struct Sni(Box<str>);

impl Sni {
    /// The longest name kept: a DNS name is at most 253 bytes (rustls refuses a handshake whose
    /// SNI is not one), so this only bounds what a future TLS stack might let through.
    pub const MAX_LEN: usize = 255;

    pub fn new(name: &str) -> Self {
        let mut end = name.len().min(Self::MAX_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Self(name[..end].into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Pingora's handshake-complete callback: keeps the SNI name ([`Sni`]), once per connection.
struct KeepSni;

#[async_trait]
impl TlsAccept for KeepSni {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let sni: Arc<dyn Any + Send + Sync> = Arc::new(Sni::new(tls.server_name()?));
        Some(sni)
    }
}

#[cfg(test)]
mod tests {
    use super::{HandshakeOutcome, Sni};

    #[test]
    fn an_sni_name_is_kept_whole_up_to_255_bytes() {
        assert_eq!(Sni::new("a.test").as_str(), "a.test");
        let long = "a".repeat(300);
        assert_eq!(Sni::new(&long).as_str().len(), Sni::MAX_LEN);
        // Never cut inside a character.
        let wide = "é".repeat(200);
        let kept = Sni::new(&wide);
        assert_eq!(kept.as_str().len(), 254);
        assert!(wide.starts_with(kept.as_str()));
    }

    #[test]
    fn every_outcome_is_exported_from_the_start() {
        let labels = HandshakeOutcome::ALL.map(HandshakeOutcome::label);
        assert_eq!(labels, crate::metrics::TLS_HANDSHAKE_RESULTS);
    }
}
