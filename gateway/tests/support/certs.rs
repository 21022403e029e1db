//! Test certificates made at test time with rcgen (never checked in): a private CA and leaves
//! signed by it, written as PEM files into a test's temp dir.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{CertificateParams, Issuer, KeyPair};

/// A private CA; its certificate is written to `{dir}/{name}-ca.pem`.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub cert_path: PathBuf,
}

/// A leaf certificate (PEM, leaf then nothing: the CA is the trust anchor) and its key.
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("self-signed CA");
        let cert_path = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&cert_path, cert.pem()).expect("write CA");
        Ca {
            issuer: Issuer::new(params, key),
            cert_path,
        }
    }

    /// A leaf for `names` (DNS names or IP addresses), written as `{dir}/{stem}.pem` and `.key`.
    pub fn leaf(&self, dir: &Path, stem: &str, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let leaf = Leaf {
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
        };
        std::fs::write(&leaf.cert, cert.pem()).expect("write leaf");
        std::fs::write(&leaf.key, key.serialize_pem()).expect("write leaf key");
        leaf
    }
}
