//! A pool's TLS to its endpoints, loaded once per config version from the files its `tls` table
//! names into what Pingora's connector takes (the CA list, the client certificate), plus a rustls
//! client config for the active health checks. A file that cannot be read, holds no certificate
//! or key, or a key that does not match its certificate is a config error at its key; the config
//! version is then rejected whole.

use std::sync::Arc;

use pingora::utils::tls::{CertKey, WrappedX509};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls;
use weir_config::{ConfigError, UpstreamTls};

/// A pool's TLS, ready to be set on each attempt's peer without a look-up or a file read.
pub struct PoolTls {
    /// The name sent (SNI) and verified; `None`: the endpoint's IP address is verified and no
    /// SNI is sent.
    pub sni: Option<String>,
    /// Verify the chain and the name.
    pub verify: bool,
    /// The CAs of `ca_file`; `None`: the system's roots (Pingora's connector loads them).
    pub ca: Option<Arc<[WrappedX509]>>,
    /// The client certificate and key for mutual TLS.
    pub client_cert: Option<Arc<CertKey>>,
    /// The same settings as a rustls client config, for the health checks.
    pub health_client: Arc<rustls::ClientConfig>,
    /// Set as the peer's `group_key`: Pingora reuses a pooled connection only for a peer with
    /// the same key, and its own key covers the address, SNI, client certificate and `verify`
    /// but not the CAs, so a connection verified under CAs a new version no longer trusts is
    /// not reused. Same CAs, same key: connections outlive a reload that does not touch them.
    pub reuse_key: u64,
}

impl std::fmt::Debug for PoolTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolTls")
            .field("sni", &self.sni)
            .field("verify", &self.verify)
            .field("ca", &self.ca.as_ref().map(|ca| ca.len()))
            .field("client_cert", &self.client_cert.is_some())
            .finish()
    }
}

/// Load a pool's `tls` (`path` is the key path of that table, for the errors): every problem
/// is reported, each at its key.
pub fn load(tls: &UpstreamTls, path: &str) -> Result<PoolTls, Vec<ConfigError>> {
    let UpstreamTls {
        sni,
        ca_file,
        verify,
        client_cert,
    } = tls;
    let mut errors = Vec::new();
    let at = |key: &str| format!("{path}.{key}");
    let ca = ca_file.as_deref().and_then(|file| {
        read_certificates(file)
            .map_err(|message| errors.push(error(at("ca_file"), message)))
            .ok()
    });
    let client = client_cert.as_ref().and_then(|pair| {
        let chain = read_certificates(&pair.cert)
            .map_err(|message| errors.push(error(at("cert"), message)))
            .ok();
        let key = read_key(&pair.key)
            .map_err(|message| errors.push(error(at("key"), message)))
            .ok();
        chain.zip(key)
    });
    let roots = match &ca {
        Some(certs) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs {
                if let Err(e) = roots.add(cert.clone()) {
                    errors.push(error(at("ca_file"), format!("not a CA certificate: {e}")));
                }
            }
            roots
        }
        None => system_roots(),
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| vec![error(path.to_owned(), e.to_string())])?
    .with_root_certificates(roots);
    let mut health_client = match &client {
        Some((chain, key)) => match builder.with_client_auth_cert(chain.clone(), key.clone_key()) {
            Ok(config) => config,
            Err(e) => {
                errors.push(error(
                    at("key"),
                    format!("does not go with the certificate in cert: {e}"),
                ));
                return Err(errors);
            }
        },
        None => builder.with_no_client_auth(),
    };
    if !verify {
        let provider = Arc::clone(health_client.crypto_provider());
        health_client
            .dangerous()
            .set_certificate_verifier(Arc::new(AcceptAny(provider)));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let reuse_key = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        ca.is_some().hash(&mut hasher);
        for cert in ca.iter().flatten() {
            cert.as_ref().hash(&mut hasher);
        }
        hasher.finish()
    };
    Ok(PoolTls {
        reuse_key,
        sni: sni.clone(),
        verify: *verify,
        ca: ca.map(|certs| {
            // Parsed already (read_certificates), so Pingora's parse cannot panic here.
            certs
                .into_iter()
                .map(|der| WrappedX509::new(der.to_vec(), pingora::utils::tls::parse_x509))
                .collect()
        }),
        client_cert: client.map(|(chain, key)| {
            let chain = chain.into_iter().map(|der| der.to_vec()).collect();
            Arc::new(CertKey::new(chain, key.secret_der().to_vec()))
        }),
        health_client: Arc::new(health_client),
    })
}

impl PoolTls {
    /// The name a health check's handshake sends and verifies: `sni`, else the DNS name the
    /// endpoint was resolved from (`name`), else the endpoint's address.
    pub fn server_name(
        &self,
        addr: std::net::SocketAddr,
        name: Option<&str>,
    ) -> ServerName<'static> {
        self.sni
            .as_deref()
            .or(name)
            .and_then(|sni| ServerName::try_from(sni.to_owned()).ok())
            .unwrap_or_else(|| ServerName::IpAddress(addr.ip().into()))
    }
}

fn error(path: String, message: String) -> ConfigError {
    ConfigError {
        path,
        message,
        line: None,
        column: None,
    }
}

/// Every certificate of a PEM file, each checked to parse as X.509 (Pingora's wrapper would
/// panic on one that does not).
fn read_certificates(file: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let text = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{file} is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{file} holds no certificate (PEM \"CERTIFICATE\")"));
    }
    for (n, cert) in certs.iter().enumerate() {
        if let Err(e) = x509_parser::parse_x509_certificate(cert) {
            return Err(format!("{file}: certificate {n} does not parse: {e}"));
        }
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn read_key(file: &str) -> Result<PrivateKeyDer<'static>, String> {
    let text = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let key = PrivateKeyDer::from_pem_slice(&text)
        .map_err(|e| format!("{file} holds no private key: {e}"))?;
    // Pingora reads the key back from its bytes on each handshake; make sure it can.
    PrivateKeyDer::try_from(key.secret_der())
        .map_err(|e| format!("{file}: the key is not PKCS#8, PKCS#1 or SEC1: {e}"))?;
    Ok(key)
}

/// The system's roots, for health checks of a pool without `ca_file` (Pingora's connector loads
/// the same for the proxied requests). Unreadable ones are skipped.
fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    if let Ok(certs) = found {
        roots.add_parsable_certificates(certs);
    }
    roots
}

/// `verify = false`: any certificate is accepted (signatures still checked).
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_config::ClientCert;

    /// A self-signed certificate for `name` and its key, as PEM files in `dir`.
    fn self_signed(dir: &std::path::Path, stem: &str, name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec![name.to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let (cert_path, key_path) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).expect("write");
        std::fs::write(&key_path, key.serialize_pem()).expect("write");
        (
            cert_path.display().to_string(),
            key_path.display().to_string(),
        )
    }

    fn tls(ca_file: Option<&str>, client: Option<(&str, &str)>) -> UpstreamTls {
        UpstreamTls {
            sni: Some("api.internal".into()),
            ca_file: ca_file.map(String::from),
            verify: true,
            client_cert: client.map(|(cert, key)| ClientCert {
                cert: cert.into(),
                key: key.into(),
            }),
        }
    }

    #[test]
    fn every_unusable_file_is_an_error_at_its_key() {
        let dir = tempfile::tempdir().expect("dir");
        let (cert_a, key_a) = self_signed(dir.path(), "a", "a.internal");
        let (_, key_b) = self_signed(dir.path(), "b", "b.internal");
        let missing = dir.path().join("missing.pem").display().to_string();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no PEM here\n").expect("write");
        let empty = empty.display().to_string();

        let errors = load(&tls(Some(&missing), Some((&empty, &missing))), "p.tls")
            .expect_err("unusable files");
        let at: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            at,
            ["p.tls.ca_file", "p.tls.cert", "p.tls.key"],
            "{errors:?}"
        );
        assert!(errors[0].message.contains("cannot read"), "{errors:?}");
        assert!(
            errors[1].message.contains("holds no certificate"),
            "{errors:?}"
        );

        let errors = load(&tls(Some(&cert_a), Some((&cert_a, &key_b))), "p.tls")
            .expect_err("a key that is not the certificate's");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "p.tls.key");
        assert!(errors[0].message.contains("does not go with"), "{errors:?}");

        let loaded = load(&tls(Some(&cert_a), Some((&cert_a, &key_a))), "p.tls").expect("usable");
        assert_eq!(loaded.ca.as_ref().map(|ca| ca.len()), Some(1));
        assert!(loaded.client_cert.is_some());
    }

    #[test]
    fn the_reuse_key_follows_the_cas() {
        let dir = tempfile::tempdir().expect("dir");
        let (ca_a, _) = self_signed(dir.path(), "a", "a.internal");
        let (ca_b, _) = self_signed(dir.path(), "b", "b.internal");
        let key = |ca: Option<&str>| load(&tls(ca, None), "p.tls").expect("usable").reuse_key;
        assert_eq!(key(Some(&ca_a)), key(Some(&ca_a)), "same CAs, same key");
        assert_ne!(key(Some(&ca_a)), key(Some(&ca_b)));
        assert_ne!(key(Some(&ca_a)), key(None));
    }

    #[test]
    fn without_sni_the_endpoint_address_is_verified() {
        let dir = tempfile::tempdir().expect("dir");
        let (ca, _) = self_signed(dir.path(), "a", "a.internal");
        let mut settings = tls(Some(&ca), None);
        settings.sni = None;
        let loaded = load(&settings, "p.tls").expect("usable");
        let addr: std::net::SocketAddr = "10.0.0.7:443".parse().expect("address");
        assert_eq!(
            loaded.server_name(addr, None),
            ServerName::IpAddress(addr.ip().into())
        );
        // An endpoint resolved from a DNS name is checked against that name.
        assert_eq!(
            loaded.server_name(addr, Some("a.internal")),
            ServerName::try_from("a.internal").expect("name")
        );
        settings.sni = Some("api.internal".into());
        let loaded = load(&settings, "p.tls").expect("usable");
        assert_eq!(
            loaded.server_name(addr, None),
            ServerName::try_from("api.internal").expect("name")
        );
        assert_eq!(
            loaded.server_name(addr, Some("a.internal")),
            ServerName::try_from("api.internal").expect("name"),
            "the pool's sni wins"
        );
    }
}
