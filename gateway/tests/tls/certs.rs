//! Test certificates made at test time with rcgen: a private CA and leaves written as PEM files
//! (atomically, as a renewal would), each with a serial the tests look for.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, date_time_ymd};

pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

/// A leaf's files.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Ca {
    pub fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "weir test CA");
        let key = KeyPair::generate().expect("CA key");
        let pem = params.self_signed(&key).expect("CA cert").pem();
        Ca {
            issuer: Issuer::new(params, key),
            pem,
        }
    }

    /// Writes the CA certificate to `dir/ca.pem`.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, &self.pem).expect("write CA");
        path
    }

    /// A leaf for `names` with `serial`, valid from 2020; `expired` ends it in 2021.
    pub fn leaf_pem(&self, names: &[&str], serial: u64, expired: bool) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = if expired {
            date_time_ymd(2021, 1, 1)
        } else {
            date_time_ymd(2099, 1, 1)
        };
        params.serial_number = Some(serial.into());
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        (cert.pem(), key.serialize_pem())
    }

    /// Writes a leaf as `dir/{stem}.pem` and `dir/{stem}.key`.
    pub fn leaf(&self, dir: &Path, stem: &str, names: &[&str], serial: u64) -> Leaf {
        let (cert, key) = self.leaf_pem(names, serial, false);
        let leaf = Leaf {
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
        };
        leaf.replace(&cert, &key);
        leaf
    }
}

impl Leaf {
    /// Replaces both files, each atomically (temp file, then rename), key first.
    pub fn replace(&self, cert: &str, key: &str) {
        write_atomically(&self.key, key);
        write_atomically(&self.cert, cert);
    }

    /// The `[[tls.certificates]]` entry for this leaf.
    pub fn toml(&self, default: bool) -> String {
        format!(
            "[[tls.certificates]]\ncert = {:?}\nkey = {:?}\ndefault = {default}\n",
            self.cert.display().to_string(),
            self.key.display().to_string()
        )
    }
}

pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write temp");
    std::fs::rename(&tmp, path).expect("rename");
}
