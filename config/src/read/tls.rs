//! Reads `[tls]` into `RawTls`: keys and value types only, every unknown key, wrong type and
//! missing required key reported at its path (`tls.certificates[1].key`).

use super::read_array_of_tables;
use crate::document::Table;
use crate::raw::{RawAcme, RawCertificate, RawTls};
use crate::report::Reporter;

const TLS_KEYS: &[&str] = &[
    "min_version",
    "alpn",
    "unknown_sni",
    "handshake_timeout",
    "certificates",
    "acme",
    "acme_state_dir",
];
const CERTIFICATE_KEYS: &[&str] = &["cert", "key", "default", "names"];
const ACME_KEYS: &[&str] = &["names", "directory", "contact", "ca_file"];

/// Reads `[tls]` when `root` has it.
pub(super) fn read_tls(root: &Table<'_>, report: &mut Reporter<'_>) -> Option<RawTls> {
    let tls = root.table("tls", TLS_KEYS, report)?;
    let acme = read_array_of_tables(&tls, "acme", ACME_KEYS, report, |table, report| {
        table.require("names", "the DNS names to order a certificate for", report);
        table.require("directory", "the ACME directory URL", report);
        RawAcme {
            names: table.strings("names", report),
            directory: table.string("directory", report),
            contact: table.strings("contact", report),
            ca_file: table.string("ca_file", report),
        }
    });
    // ACME alone may serve every certificate.
    if acme.is_none() {
        tls.require(
            "certificates",
            "at least one [[tls.certificates]] with cert and key (or [[tls.acme]])",
            report,
        );
    }
    Some(RawTls {
        min_version: tls.string("min_version", report),
        alpn: tls.strings("alpn", report),
        unknown_sni: tls.string("unknown_sni", report),
        handshake_timeout: tls.duration("handshake_timeout", report),
        certificates: read_array_of_tables(
            &tls,
            "certificates",
            CERTIFICATE_KEYS,
            report,
            |table, report| {
                table.require("cert", "the certificate chain's PEM file", report);
                table.require("key", "the private key's PEM file", report);
                RawCertificate {
                    cert: table.string("cert", report),
                    key: table.string("key", report),
                    default: table.boolean("default", report),
                    names: table.strings("names", report),
                }
            },
        ),
        acme,
        acme_state_dir: tls.string("acme_state_dir", report),
    })
}
