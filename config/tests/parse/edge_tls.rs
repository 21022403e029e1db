//! `listen.https`, `listen.h2c`, `[listen.http2]` and `[tls]`: defaults, every problem at its
//! path, and which changes need a restart.

use std::path::PathBuf;

use weir_config::{Alpn, TlsVersion, UnknownSni, restart_required};

use crate::support::{errors, parse_ok};

const TLS: &str = r#"
[listen]
http = "127.0.0.1:8080"
https = ["127.0.0.1:8443", "127.0.0.1:9443"]
h2c = true

[listen.http2]
max_concurrent_streams = 50
max_reset_streams = 10

[tls]
min_version = "1.3"
unknown_sni = "reject"
handshake_timeout = "2s"

[[tls.certificates]]
cert = "/etc/weir/a.pem"
key = "/etc/weir/a.key"
default = true

[[tls.certificates]]
cert = "/etc/weir/b.pem"
key = "/etc/weir/b.key"
names = ["B.example.com", "*.b.example.com"]
"#;

#[test]
fn https_listeners_and_tls_are_read_with_defaults() {
    let config = parse_ok(TLS);
    let listen = &config.node.listen;
    assert_eq!(listen.https.len(), 2);
    assert!(listen.h2c);
    assert_eq!(listen.http2.max_concurrent_streams, 50);
    assert_eq!(listen.http2.max_reset_streams, 10);
    assert_eq!(listen.http2.max_header_list_size, 64 * 1024);
    let tls = config.node.tls.as_ref().expect("tls");
    assert_eq!(tls.min_version, TlsVersion::V1_3);
    assert_eq!(tls.alpn, vec![Alpn::H2, Alpn::Http11]);
    assert_eq!(tls.unknown_sni, UnknownSni::Reject);
    assert_eq!(tls.handshake_timeout, std::time::Duration::from_secs(2));
    assert_eq!(tls.certificates[1].key, PathBuf::from("/etc/weir/b.key"));
    assert!(tls.certificates[0].default && !tls.certificates[1].default);
    assert_eq!(
        tls.certificates[1].names,
        vec!["b.example.com", "*.b.example.com"]
    );

    let one = parse_ok(
        "[listen]\nhttps = \"127.0.0.1:8443\"\n[[tls.certificates]]\ncert = \"c\"\nkey = \"k\"\n",
    );
    assert!(one.node.tls.expect("tls").certificates[0].default);
    assert!(parse_ok("").node.listen.https.is_empty());
}

#[test]
fn every_tls_problem_is_reported_at_its_path() {
    let text = r#"
[listen]
http = "127.0.0.1:8443"
https = ["127.0.0.1:8443", "nowhere"]

[listen.http2]
max_concurrent_streams = 0

[tls]
min_version = "1.1"
alpn = ["h3"]

[[tls.certificates]]
cert = "a.pem"
key = "a.key"

[[tls.certificates]]
key = "b.key"
names = ["*.com"]
"#;
    let found: Vec<String> = errors(text).into_iter().map(|e| e.path).collect();
    assert_eq!(
        found,
        vec![
            "listen.https[0]",
            "listen.https[1]",
            "listen.http2.max_concurrent_streams",
            "tls.min_version",
            "tls.alpn[0]",
            "tls.certificates",
            "tls.certificates[1].cert",
            "tls.certificates[1].names[0]",
        ],
    );
    let no_tls = errors("[listen]\nhttps = \"127.0.0.1:8443\"\n");
    assert_eq!(no_tls[0].path, "listen.https");
    assert!(no_tls[0].message.contains("[tls]"), "{}", no_tls[0].message);
    let two_defaults = errors(
        "[[tls.certificates]]\ncert = \"a\"\nkey = \"a\"\ndefault = true\n\
         [[tls.certificates]]\ncert = \"b\"\nkey = \"b\"\ndefault = true\n",
    );
    assert_eq!(two_defaults[0].path, "tls.certificates[1].default");
    let empty = errors("[tls]\n");
    assert_eq!(empty[0].path, "tls.certificates");
}

#[test]
fn listeners_need_a_restart_and_certificates_do_not() {
    let old = parse_ok(TLS);
    let certificates = parse_ok(&TLS.replace("/etc/weir/a.pem", "/etc/weir/c.pem"));
    assert!(restart_required(&old, &certificates).is_empty());
    let sni = parse_ok(&TLS.replace("\"reject\"", "\"default\""));
    assert!(restart_required(&old, &sni).is_empty());
    let fewer = parse_ok(&TLS.replace(", \"127.0.0.1:9443\"", ""));
    assert_eq!(restart_required(&old, &fewer), vec!["listen.https"]);
    let version = parse_ok(&TLS.replace("\"1.3\"", "\"1.2\""));
    assert_eq!(restart_required(&old, &version), vec!["tls"]);
    let h2c = parse_ok(&TLS.replace("h2c = true", "h2c = false"));
    assert_eq!(restart_required(&old, &h2c), vec!["listen.h2c"]);
    assert_eq!(
        weir_config::diff(&old, &certificates),
        vec!["tls.certificates[0].cert: /etc/weir/a.pem -> /etc/weir/c.pem"]
    );
}

const ACME: &str = r#"
[listen]
https = "127.0.0.1:8443"

[tls]
acme_state_dir = "/var/lib/weir/acme"

[[tls.acme]]
names = ["Shop.example.org", "www.shop.example.org"]
directory = " https://127.0.0.1:14000/dir "
contact = ["mailto:ops@example.org"]
ca_file = "/etc/weir/pebble-ca.pem"
"#;

#[test]
fn acme_alone_is_enough_for_https() {
    let config = parse_ok(ACME);
    let tls = config.node.tls.expect("tls");
    assert!(tls.certificates.is_empty());
    assert_eq!(tls.acme_state_dir, PathBuf::from("/var/lib/weir/acme"));
    let order = &tls.acme[0];
    assert_eq!(order.names, ["shop.example.org", "www.shop.example.org"]);
    assert_eq!(order.directory, "https://127.0.0.1:14000/dir");
    assert_eq!(order.contact, ["mailto:ops@example.org"]);
    assert_eq!(
        order.ca_file,
        Some(PathBuf::from("/etc/weir/pebble-ca.pem"))
    );
}

#[test]
fn acme_problems_are_reported_at_their_keys() {
    let found = errors(
        "[tls]\n\
         [[tls.acme]]\nnames = [\"*.example.org\", \"a.example.org\"]\n\
         directory = \"http://acme.example.org/dir\"\ncontact = [\"ops@example.org\"]\n\
         [[tls.acme]]\nnames = [\"A.example.org\", \"bad name\"]\ndirectory = \"https://\"\n\
         ca_file = \"\"\n\
         [[tls.acme]]\nnames = []\n",
    );
    let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "tls.acme[0].names[0]",
            "tls.acme[0].directory",
            "tls.acme[0].contact[0]",
            "tls.acme[1].names[0]",
            "tls.acme[1].names[1]",
            "tls.acme[1].directory",
            "tls.acme[1].ca_file",
            "tls.acme[2].directory",
            "tls.acme[2].names",
            "tls.acme_state_dir",
        ],
        "{found:#?}"
    );
    assert!(found[0].message.contains("wildcard"), "{}", found[0]);
    assert!(found[1].message.contains("https://"), "{}", found[1]);
    assert!(
        found[3]
            .message
            .contains("already ordered at tls.acme[0].names"),
        "{}",
        found[3]
    );
}

#[test]
fn the_acme_state_dir_defaults_beside_the_control_plane_cache() {
    let without = ACME.replace("acme_state_dir = \"/var/lib/weir/acme\"\n", "");
    let with_cache = format!(
        "{without}\n[control_plane]\nurl = \"http://127.0.0.1:7700\"\n\
         token_file = \"/etc/weir/token\"\ncache_path = \"/var/cache/weir/fleet.json\"\n"
    );
    let config = parse_ok(&with_cache);
    assert_eq!(
        config.node.tls.expect("tls").acme_state_dir,
        PathBuf::from("/var/cache/weir/acme")
    );
    let found = errors(&without);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "tls.acme_state_dir");
}

#[test]
fn an_acme_order_change_needs_a_restart() {
    let old = parse_ok(ACME);
    let new = parse_ok(&ACME.replace("www.shop", "api.shop"));
    assert_eq!(restart_required(&old, &new), ["tls"]);
}
