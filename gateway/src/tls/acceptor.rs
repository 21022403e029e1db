//! The TLS side of an HTTPS listener: a rustls server config (the TLS versions from
//! `tls.min_version`, ALPN from `tls.alpn`, certificates from the [`Resolver`]) wrapped in
//! Pingora's acceptor, and a handshake bounded by `tls.handshake_timeout` whose outcome is one
//! of a few labels (`ok`, `bad_sni`, `timeout`, `protocol_error`).

use std::sync::Arc;
use std::time::Duration;

use pingora::listeners::tls::Acceptor;
use pingora::protocols::Stream;
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
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver { store }));
        config.alpn_protocols = settings
            .alpn
            .iter()
            .map(|alpn| alpn.wire().to_vec())
            .collect();
        Ok(Self {
            acceptor: Acceptor::from_server_config(Arc::new(config)),
        })
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

#[cfg(test)]
mod tests {
    use super::HandshakeOutcome;

    #[test]
    fn every_outcome_is_exported_from_the_start() {
        let labels = HandshakeOutcome::ALL.map(HandshakeOutcome::label);
        assert_eq!(labels, crate::metrics::TLS_HANDSHAKE_RESULTS);
    }
}
