//! Picks the certificate for a TLS handshake from the current certificate set: the exact SNI
//! name (a file certificate, then an ACME-issued one), then a wildcard one label up, then the
//! default (or none, failing the handshake, for an unknown SNI with `unknown_sni = "reject"`).
//! No I/O and no lock: two `ArcSwap` loads (the file set and the issued set, swapped apart so an
//! ACME renewal never touches the all-or-nothing file set), so a new set serves the next
//! handshake and open connections keep theirs.

use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use weir_config::UnknownSni;

use super::acme::IssuedSet;
use super::load::CertificateSet;

/// The certificate set being served, swapped whole by a reload.
#[derive(Debug)]
pub struct CertStore {
    current: ArcSwap<CertificateSet>,
    /// The ACME certificates, swapped by the ACME task alone.
    issued: ArcSwap<IssuedSet>,
}

impl CertStore {
    pub fn new(set: CertificateSet) -> Self {
        Self {
            current: ArcSwap::from_pointee(set),
            issued: ArcSwap::from_pointee(IssuedSet::default()),
        }
    }

    pub fn load(&self) -> Arc<CertificateSet> {
        self.current.load_full()
    }

    /// Serve `set` from the next handshake on.
    pub fn publish(&self, set: CertificateSet) {
        self.current.store(Arc::new(set));
    }

    pub fn issued(&self) -> Arc<IssuedSet> {
        self.issued.load_full()
    }

    /// Serve the ACME certificates `set` from the next handshake on.
    pub fn publish_issued(&self, set: IssuedSet) {
        self.issued.store(Arc::new(set));
    }
}

/// The rustls hook over a [`CertStore`].
#[derive(Debug)]
pub struct Resolver {
    pub store: Arc<CertStore>,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let set = self.store.current.load();
        let issued = self.store.issued.load();
        pick_with(&set, &issued, client_hello.server_name())
    }
}

/// The certificate for `sni` in `set` alone, or `None` to fail the handshake.
#[cfg(test)]
pub(super) fn pick(set: &CertificateSet, sni: Option<&str>) -> Option<Arc<CertifiedKey>> {
    pick_with(set, &IssuedSet::default(), sni)
}

/// The certificate for `sni` in `set` and `issued`, or `None` to fail the handshake.
pub(super) fn pick_with(
    set: &CertificateSet,
    issued: &IssuedSet,
    sni: Option<&str>,
) -> Option<Arc<CertifiedKey>> {
    let Some(sni) = sni else {
        return set.default.clone();
    };
    // rustls hands over SNI lower-cased; a name with capitals (another TLS stack) is rare.
    let lower;
    let sni = if sni.bytes().any(|b| b.is_ascii_uppercase()) {
        lower = sni.to_ascii_lowercase();
        lower.as_str()
    } else {
        sni
    };
    let sni = sni.strip_suffix('.').unwrap_or(sni);
    if let Some(found) = set.exact.get(sni).or_else(|| issued.exact.get(sni)) {
        return Some(Arc::clone(found));
    }
    if let Some((_, parent)) = sni.split_once('.')
        && let Some(found) = set.wildcard.get(parent)
    {
        return Some(Arc::clone(found));
    }
    match set.unknown_sni {
        UnknownSni::Default => set.default.clone(),
        UnknownSni::Reject => None,
    }
}
