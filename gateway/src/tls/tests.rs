//! The loader and the resolver over certificates made at test time by rcgen (a private CA,
//! leaves, a wildcard, an expired one, a key that is not the certificate's), with a fixed clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, Issuer, KeyPair, date_time_ymd};
use weir_config::{Alpn, CertificateSettings, TlsSettings, TlsVersion, UnknownSni};

use super::acme::{IssuedCertificate, IssuedSet};
use super::resolver::{pick, pick_with};
use super::{CertificateSet, load, provider};

/// 2030-01-01T00:00:00Z, the tests' "now".
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000)
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        Self {
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes `{stem}.pem` and `{stem}.key` under `dir`: a leaf for `names` valid until
    /// `not_after` (y, m, d) with `serial`.
    fn leaf(
        &self,
        dir: &Path,
        stem: &str,
        names: &[&str],
        not_after: (i32, u8, u8),
        serial: u64,
    ) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(not_after.0, not_after.1, not_after.2);
        params.serial_number = Some(serial.into());
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        let (cert_path, key_path) = (
            dir.join(format!("{stem}.pem")),
            dir.join(format!("{stem}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (cert_path, key_path)
    }
}

fn settings(certificates: Vec<CertificateSettings>, unknown_sni: UnknownSni) -> TlsSettings {
    TlsSettings {
        min_version: TlsVersion::V1_2,
        alpn: vec![Alpn::H2, Alpn::Http11],
        unknown_sni,
        handshake_timeout: TlsSettings::DEFAULT_HANDSHAKE_TIMEOUT,
        certificates,
        acme: Vec::new(),
        acme_state_dir: PathBuf::new(),
    }
}

fn certificate((cert, key): (PathBuf, PathBuf), default: bool) -> CertificateSettings {
    CertificateSettings {
        cert,
        key,
        default,
        names: Vec::new(),
    }
}

fn serial_for(set: &CertificateSet, sni: Option<&str>) -> Option<String> {
    let chosen = pick(set, sni)?;
    set.certificates
        .iter()
        .find(|info| {
            let (_, cert) =
                x509_parser::parse_x509_certificate(chosen.cert[0].as_ref()).expect("parse");
            format!("{:x}", cert.tbs_certificate.serial) == info.serial
        })
        .map(|info| info.serial.clone())
}

fn three_certificates(dir: &Path, unknown_sni: UnknownSni) -> CertificateSet {
    let ca = Ca::new();
    let a = ca.leaf(dir, "a", &["a.example.com"], (2040, 1, 1), 0xa1);
    let wild = ca.leaf(dir, "wild", &["*.example.com"], (2040, 1, 1), 0xb2);
    let fallback = ca.leaf(dir, "fallback", &["fallback.test"], (2040, 1, 1), 0xc3);
    let tls = settings(
        vec![
            certificate(a, false),
            certificate(wild, false),
            certificate(fallback, true),
        ],
        unknown_sni,
    );
    load(Some(&tls), &provider(), now()).expect("a valid set")
}

#[test]
fn exact_then_wildcard_then_default() {
    let dir = tempfile::tempdir().expect("dir");
    let set = three_certificates(dir.path(), UnknownSni::Default);
    assert_eq!(
        serial_for(&set, Some("a.example.com")).as_deref(),
        Some("a1")
    );
    assert_eq!(
        serial_for(&set, Some("A.Example.COM")).as_deref(),
        Some("a1")
    );
    assert_eq!(
        serial_for(&set, Some("b.example.com")).as_deref(),
        Some("b2")
    );
    // A wildcard covers one label only.
    assert_eq!(
        serial_for(&set, Some("x.b.example.com")).as_deref(),
        Some("c3")
    );
    assert_eq!(serial_for(&set, Some("other.test")).as_deref(), Some("c3"));
    assert_eq!(serial_for(&set, None).as_deref(), Some("c3"));
    assert_eq!(set.certificates[1].names, vec!["*.example.com"]);
}

#[test]
fn an_unknown_name_is_refused_when_told_to_reject() {
    let dir = tempfile::tempdir().expect("dir");
    let set = three_certificates(dir.path(), UnknownSni::Reject);
    assert!(pick(&set, Some("other.test")).is_none());
    assert_eq!(
        serial_for(&set, Some("b.example.com")).as_deref(),
        Some("b2")
    );
    assert_eq!(
        serial_for(&set, None).as_deref(),
        Some("c3"),
        "no SNI gets the default"
    );
}

#[test]
fn names_narrow_the_san() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let both = ca.leaf(dir.path(), "both", &["a.test", "b.test"], (2040, 1, 1), 1);
    let mut only_a = certificate(both, true);
    only_a.names = vec!["a.test".into()];
    let set = load(
        Some(&settings(vec![only_a.clone()], UnknownSni::Reject)),
        &provider(),
        now(),
    )
    .expect("valid");
    assert!(pick(&set, Some("a.test")).is_some());
    assert!(pick(&set, Some("b.test")).is_none());

    only_a.names = vec!["c.test".into()];
    let problems = load(
        Some(&settings(vec![only_a], UnknownSni::Reject)),
        &provider(),
        now(),
    )
    .expect_err("c.test is not in the SAN");
    assert_eq!(problems.0[0].path, "tls.certificates[0].names");
}

#[test]
fn a_broken_set_is_rejected_whole_with_every_problem() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let good = ca.leaf(dir.path(), "good", &["good.test"], (2040, 1, 1), 1);
    let expired = ca.leaf(dir.path(), "expired", &["old.test"], (2025, 1, 1), 2);
    let other = ca.leaf(dir.path(), "other", &["other.test"], (2040, 1, 1), 3);
    // The mismatched one: good's certificate with other's key.
    let mismatched = (good.0.clone(), other.1.clone());
    let no_cert = dir.path().join("empty.pem");
    std::fs::write(&no_cert, "not a certificate\n").expect("write");
    let missing = dir.path().join("missing.key");
    let tls = settings(
        vec![
            certificate(good.clone(), true),
            certificate(expired, false),
            certificate(mismatched, false),
            certificate((no_cert.clone(), other.1.clone()), false),
            certificate((good.0.clone(), missing.clone()), false),
        ],
        UnknownSni::Default,
    );
    let problems = load(Some(&tls), &provider(), now()).expect_err("broken");
    let paths: Vec<(&str, &Path)> = problems
        .0
        .iter()
        .map(|p| (p.path.as_str(), p.file.as_path()))
        .collect();
    assert_eq!(
        paths,
        vec![
            (
                "tls.certificates[1].cert",
                dir.path().join("expired.pem").as_path()
            ),
            ("tls.certificates[2].key", other.1.as_path()),
            ("tls.certificates[3].cert", no_cert.as_path()),
            ("tls.certificates[4].key", missing.as_path()),
        ],
        "{problems}"
    );
    assert!(problems.0[0].message.contains("expired"), "{problems}");
    assert!(
        problems.0[1].message.contains("does not match"),
        "{problems}"
    );
}

#[test]
fn a_certificate_expiring_within_two_weeks_is_a_warning() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let soon = ca.leaf(dir.path(), "soon", &["soon.test"], (2030, 1, 10), 1);
    let later = ca.leaf(dir.path(), "later", &["later.test"], (2030, 2, 1), 2);
    let tls = settings(
        vec![certificate(soon, true), certificate(later, false)],
        UnknownSni::Default,
    );
    let set = load(Some(&tls), &provider(), now()).expect("soon is not expired yet");
    let expiring: Vec<&str> = set
        .expiring(super::load::unix_seconds(now()))
        .map(|info| info.names[0].as_str())
        .collect();
    assert_eq!(expiring, vec!["soon.test"]);
}

#[test]
fn a_reload_swaps_the_set_for_the_next_handshake() {
    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(super::CertStore::new(three_certificates(
        dir.path(),
        UnknownSni::Default,
    )));
    let before = store.load();
    let ca = Ca::new();
    let renewed = ca.leaf(
        dir.path(),
        "renewed",
        &["a.example.com"],
        (2041, 1, 1),
        0xd4,
    );
    let tls = settings(vec![certificate(renewed, true)], UnknownSni::Default);
    store.publish(load(Some(&tls), &provider(), now()).expect("valid"));
    assert_eq!(
        serial_for(&store.load(), Some("a.example.com")).as_deref(),
        Some("d4")
    );
    // Whoever held the old set (a handshake under way) still has it.
    assert_eq!(
        serial_for(&before, Some("a.example.com")).as_deref(),
        Some("a1")
    );
}

/// The key and chain of a leaf in one PEM, as the ACME state directory keeps them.
fn issued_pem((cert, key): (PathBuf, PathBuf)) -> Vec<u8> {
    let mut pem = std::fs::read(key).expect("key");
    pem.extend(std::fs::read(cert).expect("cert"));
    pem
}

#[test]
fn an_issued_certificate_comes_after_an_exact_file_name_and_before_wildcards() {
    let dir = tempfile::tempdir().expect("dir");
    let set = three_certificates(dir.path(), UnknownSni::Default);
    let ca = Ca::new();
    let names = ["a.example.com", "b.example.com", "acme.test"];
    let leaf = ca.leaf(dir.path(), "issued", &names, (2040, 1, 1), 0xd4);
    let issued = IssuedCertificate::parse(&issued_pem(leaf), &provider()).expect("issued");
    assert_eq!(issued.serial, "d4");
    assert_eq!(issued.names, names);
    let ordered: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let issued_set = IssuedSet::new([(ordered.as_slice(), &issued)]);
    let serial = |sni: &str| {
        let chosen = pick_with(&set, &issued_set, Some(sni)).expect("a certificate");
        let (_, cert) = x509_parser::parse_x509_certificate(chosen.cert[0].as_ref()).expect("x509");
        format!("{:x}", cert.tbs_certificate.serial)
    };
    assert_eq!(serial("a.example.com"), "a1", "an exact file name wins");
    assert_eq!(
        serial("b.example.com"),
        "d4",
        "issued before the file wildcard"
    );
    assert_eq!(serial("acme.test"), "d4", "issued before the default");
    assert_eq!(serial("c.example.com"), "b2");
    assert_eq!(serial("other.test"), "c3");
    assert_eq!(
        issued_set.expiry,
        [("a.example.com".to_owned(), 2_208_988_800)]
    );
}

#[test]
fn an_issued_pem_with_a_foreign_key_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = Ca::new();
    let (cert, _) = ca.leaf(dir.path(), "one", &["one.test"], (2040, 1, 1), 1);
    let (_, other_key) = ca.leaf(dir.path(), "two", &["two.test"], (2040, 1, 1), 2);
    let error = IssuedCertificate::parse(&issued_pem((cert, other_key)), &provider())
        .expect_err("a foreign key");
    assert!(error.contains("does not match"), "{error}");
    let error = IssuedCertificate::parse(b"", &provider()).expect_err("empty");
    assert!(error.contains("no certificate"), "{error}");
}
