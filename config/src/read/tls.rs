//! Reads `[tls]` into `RawTls`: keys and value types only, every unknown key, wrong type and
//! missing required key reported at its path (`tls.certificates[1].key`).

use super::read_array_of_tables;
use crate::document::Table;
use crate::raw::{RawCertificate, RawTls};
use crate::report::Reporter;

const TLS_KEYS: &[&str] = &[
    "min_version",
    "alpn",
    "unknown_sni",
    "handshake_timeout",
    "certificates",
];
const CERTIFICATE_KEYS: &[&str] = &["cert", "key", "default", "names"];

/// Reads `[tls]` when `root` has it.
pub(super) fn read_tls(root: &Table<'_>, report: &mut Reporter<'_>) -> Option<RawTls> {
    let tls = root.table("tls", TLS_KEYS, report)?;
    tls.require(
        "certificates",
        "at least one [[tls.certificates]] with cert and key",
        report,
    );
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
    })
}
