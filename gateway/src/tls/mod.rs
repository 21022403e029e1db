//! Edge TLS: the certificate set loaded from `[tls]` (`load.rs`), the certificates ordered by
//! ACME (`acme/`), the SNI certificate resolver over both (`resolver.rs`), and the per-listener
//! acceptor with its handshake deadline (`acceptor.rs`). Reloads swap the file set whole; the
//! rustls config (versions, ALPN) is built once.

mod acceptor;
pub mod acme;
mod load;
mod plain;
mod resolver;

pub use acceptor::{EdgeAcceptor, HandshakeOutcome, Sni, provider};
pub use load::{CertificateInfo, CertificateSet, EXPIRY_WARNING, TlsProblem, TlsProblems, load};
pub use resolver::{CertStore, Resolver};

/// Now, in Unix seconds (for expiry checks and the expiry metric).
pub fn unix_now() -> i64 {
    load::unix_seconds(std::time::SystemTime::now())
}

#[cfg(test)]
mod tests;
