//! The certificates ACME issued, parsed from the PEM the state directory keeps (the private key
//! and the chain in one file) and gathered into the set the resolver reads beside the file
//! certificates. Fails on a PEM without a key or certificate, a key that does not match, or a
//! certificate without DNS names; never on an expired one (it is still the best there is).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::sign::CertifiedKey;

use super::schedule::Validity;
use crate::tls::load::leaf_facts;

/// One issued certificate, ready to serve.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// Its DNS names (lower-case), as in its SAN.
    pub names: Vec<String>,
    /// The leaf's serial number, hex.
    pub serial: String,
    pub validity: Validity,
    pub key: Arc<CertifiedKey>,
}

impl IssuedCertificate {
    /// The certificate in `pem` (a private key and the chain, leaf first).
    pub fn parse(pem: &[u8], provider: &CryptoProvider) -> Result<Self, String> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("is not valid PEM: {e}"))?;
        let Some(leaf) = chain.first() else {
            return Err("holds no certificate".into());
        };
        let facts = leaf_facts(leaf)?;
        if facts.san.is_empty() {
            return Err("has no DNS name in its subject alternative names".into());
        }
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("holds no key: {e}"))?;
        let signing = provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| format!("has a key that cannot be used: {e}"))?;
        let certified = CertifiedKey::new(chain, signing);
        certified
            .keys_match()
            .map_err(|e| format!("has a key that does not match its certificate: {e}"))?;
        let time = |unix: i64| SystemTime::UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
        Ok(Self {
            names: facts.san,
            serial: facts.serial,
            validity: Validity {
                not_before: time(facts.not_before),
                not_after: time(facts.not_after),
            },
            key: Arc::new(certified),
        })
    }

    /// Whether it covers every one of `names` (so it can serve the order for them).
    pub fn covers(&self, names: &[String]) -> bool {
        names.iter().all(|name| self.names.contains(name))
    }
}

/// The issued certificates by exact name, as the resolver reads them.
#[derive(Debug, Default)]
pub struct IssuedSet {
    pub(in crate::tls) exact: HashMap<String, Arc<CertifiedKey>>,
    /// Each certificate's first name and expiry (Unix seconds), for the expiry gauge.
    pub expiry: Vec<(String, i64)>,
}

impl IssuedSet {
    /// The set serving `certificates`, each for the names it was ordered for.
    pub fn new<'a>(
        certificates: impl IntoIterator<Item = (&'a [String], &'a IssuedCertificate)>,
    ) -> Self {
        let mut set = Self::default();
        for (names, certificate) in certificates {
            for name in names {
                set.exact
                    .entry(name.clone())
                    .or_insert_with(|| Arc::clone(&certificate.key));
            }
            if let Some(first) = names.first() {
                let not_after = certificate
                    .validity
                    .not_after
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                set.expiry.push((first.clone(), not_after));
            }
        }
        set
    }
}
