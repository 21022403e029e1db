//! Loads a certificate set from its PEM files, all or nothing: every certificate's chain, key,
//! names (its SAN, narrowed by `names`), serial and expiry. Fails with every problem at its path
//! (unreadable file, a PEM without a certificate or key, a key that does not match its
//! certificate, an expired certificate, a `names` entry the certificate does not cover);
//! certificates that expire within [`EXPIRY_WARNING`] are warnings.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::sign::CertifiedKey;
use weir_config::{TlsSettings, UnknownSni};

/// A certificate expiring sooner than this is a warning (log and `/status`).
pub const EXPIRY_WARNING: Duration = Duration::from_secs(14 * 24 * 3600);

/// One problem with a certificate set, at its config path and file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsProblem {
    /// The config key, e.g. `tls.certificates[1].key`.
    pub path: String,
    pub file: PathBuf,
    pub message: String,
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.path,
            self.file.display(),
            self.message
        )
    }
}

/// Every problem of a rejected certificate set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsProblems(pub Vec<TlsProblem>);

impl fmt::Display for TlsProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for TlsProblems {}

/// What is known of one loaded certificate, for logs, metrics and `/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// `tls.certificates[i]`.
    pub path: String,
    pub cert_file: PathBuf,
    /// The names that select it (lower-case; `*.` wildcards).
    pub names: Vec<String>,
    /// The leaf's serial number, hex.
    pub serial: String,
    /// The leaf's `notAfter`, Unix seconds.
    pub not_after: i64,
    pub default: bool,
}

/// A compiled certificate set: what the resolver serves. Built only by [`load`], never
/// half-built.
#[derive(Debug)]
pub struct CertificateSet {
    pub(super) exact: HashMap<String, Arc<CertifiedKey>>,
    /// By the part after `*.` (`*.example.com` is stored as `example.com`).
    pub(super) wildcard: HashMap<String, Arc<CertifiedKey>>,
    pub(super) default: Option<Arc<CertifiedKey>>,
    pub(super) unknown_sni: UnknownSni,
    pub certificates: Vec<CertificateInfo>,
    /// SHA-256 over every file's bytes: whether a reload changed anything.
    pub fingerprint: [u8; 32],
}

impl CertificateSet {
    /// The set of a gateway without `[tls]`: no certificate at all.
    pub fn empty() -> Self {
        Self {
            exact: HashMap::new(),
            wildcard: HashMap::new(),
            default: None,
            unknown_sni: UnknownSni::Default,
            certificates: Vec::new(),
            fingerprint: [0; 32],
        }
    }

    /// The certificates that expire within [`EXPIRY_WARNING`] of `now` (Unix seconds).
    pub fn expiring(&self, now: i64) -> impl Iterator<Item = &CertificateInfo> {
        let horizon = now.saturating_add(EXPIRY_WARNING.as_secs() as i64);
        self.certificates
            .iter()
            .filter(move |info| info.not_after < horizon)
    }
}

/// Loads every certificate of `settings` (`None`: the empty set), checking it against `now`.
pub fn load(
    settings: Option<&TlsSettings>,
    provider: &CryptoProvider,
    now: SystemTime,
) -> Result<CertificateSet, TlsProblems> {
    let Some(settings) = settings else {
        return Ok(CertificateSet::empty());
    };
    let now = unix_seconds(now);
    let mut problems = Vec::new();
    let mut set = CertificateSet::empty();
    set.unknown_sni = settings.unknown_sni;
    let mut fingerprint = Sha256::new();
    for (index, certificate) in settings.certificates.iter().enumerate() {
        let path = format!("tls.certificates[{index}]");
        let mut problem = |key: &str, file: &Path, message: String| {
            problems.push(TlsProblem {
                path: format!("{path}.{key}"),
                file: file.to_path_buf(),
                message,
            });
        };
        let cert_bytes = read(&certificate.cert, "cert", &mut problem);
        let key_bytes = read(&certificate.key, "key", &mut problem);
        fingerprint.update(cert_bytes.as_deref().unwrap_or_default());
        fingerprint.update(key_bytes.as_deref().unwrap_or_default());
        let chain = cert_bytes.and_then(|bytes| {
            let chain: Result<Vec<CertificateDer<'static>>, _> =
                CertificateDer::pem_slice_iter(&bytes).collect();
            match chain {
                Ok(chain) if !chain.is_empty() => Some(chain),
                Ok(_) => {
                    problem("cert", &certificate.cert, "holds no PEM certificate".into());
                    None
                }
                Err(e) => {
                    problem("cert", &certificate.cert, format!("is not valid PEM: {e}"));
                    None
                }
            }
        });
        let key = key_bytes.and_then(|bytes| match PrivateKeyDer::from_pem_slice(&bytes) {
            Ok(key) => Some(key),
            Err(e) => {
                problem(
                    "key",
                    &certificate.key,
                    format!("holds no PKCS#8, RSA or EC private key: {e}"),
                );
                None
            }
        });
        let leaf = chain
            .as_ref()
            .and_then(|chain| match leaf_facts(&chain[0]) {
                Ok(facts) => Some(facts),
                Err(message) => {
                    problem("cert", &certificate.cert, message);
                    None
                }
            });
        if let Some(leaf) = &leaf
            && leaf.not_after <= now
        {
            problem(
                "cert",
                &certificate.cert,
                format!(
                    "expired at {} (serial {})",
                    show_time(leaf.not_after),
                    leaf.serial
                ),
            );
        }
        let names = leaf.as_ref().map(|leaf| {
            if certificate.names.is_empty() {
                return leaf.san.clone();
            }
            for name in &certificate.names {
                if !leaf.san.iter().any(|san| covers(san, name)) {
                    problem(
                        "names",
                        &certificate.cert,
                        format!(
                            "{name:?} is not among the certificate's names {:?}",
                            leaf.san
                        ),
                    );
                }
            }
            certificate.names.clone()
        });
        if let Some(names) = &names
            && names.is_empty()
        {
            problem(
                "cert",
                &certificate.cert,
                "has no DNS name in its subject alternative names".into(),
            );
        }
        let (Some(chain), Some(key), Some(leaf), Some(names)) = (chain, key, leaf, names) else {
            continue;
        };
        let certified = match provider.key_provider.load_private_key(key) {
            Ok(signing) => CertifiedKey::new(chain, signing),
            Err(e) => {
                problem("key", &certificate.key, format!("cannot be used: {e}"));
                continue;
            }
        };
        if let Err(e) = certified.keys_match() {
            problem(
                "key",
                &certificate.key,
                format!(
                    "does not match the certificate {}: {e}",
                    certificate.cert.display()
                ),
            );
            continue;
        }
        let certified = Arc::new(certified);
        for name in &names {
            match name.strip_prefix("*.") {
                Some(parent) => set.wildcard.entry(parent.to_owned()),
                None => set.exact.entry(name.clone()),
            }
            .or_insert_with(|| Arc::clone(&certified));
        }
        if certificate.default {
            set.default = Some(Arc::clone(&certified));
        }
        set.certificates.push(CertificateInfo {
            path,
            cert_file: certificate.cert.clone(),
            names,
            serial: leaf.serial,
            not_after: leaf.not_after,
            default: certificate.default,
        });
    }
    if !problems.is_empty() {
        return Err(TlsProblems(problems));
    }
    set.fingerprint = fingerprint.finalize().into();
    Ok(set)
}

fn read(file: &Path, key: &str, problem: &mut impl FnMut(&str, &Path, String)) -> Option<Vec<u8>> {
    std::fs::read(file)
        .map_err(|e| problem(key, file, format!("cannot be read: {e}")))
        .ok()
}

/// What the loader (and the ACME store) needs from a leaf certificate.
pub(super) struct LeafFacts {
    /// DNS names of the SAN, lower-case.
    pub(super) san: Vec<String>,
    pub(super) serial: String,
    pub(super) not_before: i64,
    pub(super) not_after: i64,
}

pub(super) fn leaf_facts(der: &CertificateDer<'_>) -> Result<LeafFacts, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|e| format!("holds a certificate that cannot be parsed: {e}"))?;
    let mut san = Vec::new();
    if let Ok(Some(extension)) = cert.subject_alternative_name() {
        for name in &extension.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                let dns = dns.to_ascii_lowercase();
                if !san.contains(&dns) {
                    san.push(dns);
                }
            }
        }
    }
    Ok(LeafFacts {
        san,
        serial: format!("{:x}", cert.tbs_certificate.serial),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    })
}

/// Whether the certificate name `san` (maybe `*.`) covers the configured `name` (maybe `*.`).
fn covers(san: &str, name: &str) -> bool {
    if san == name {
        return true;
    }
    match (san.strip_prefix("*."), name.strip_prefix("*.")) {
        (Some(parent), None) => name.split_once('.').is_some_and(|(_, rest)| rest == parent),
        _ => false,
    }
}

pub(super) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(since) => since.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

fn show_time(unix: i64) -> String {
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(unix.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn a_wildcard_covers_one_label() {
        assert!(covers("*.example.com", "a.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "a.b.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("a.example.com", "*.example.com"));
    }
}
