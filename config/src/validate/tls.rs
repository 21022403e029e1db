//! Rules for edge TLS: `[tls]` (a known version and ALPN list, a certificate list with `cert` and
//! `key`, exactly one default among several, well-formed `names`), `listen.https` (addresses that
//! collide with no other listener, and only with `[tls]`) and `[listen.http2]` limits in bounds.
//! Every problem is reported at its path, e.g. `tls.certificates[1].names[0]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::addresses_collide;
use super::checks::{address, duration_in, integer_in, one_of};
use crate::document::{OneOrMany, join_index};
use crate::model::{Alpn, CertificateSettings, Http2Settings, TlsSettings, TlsVersion, UnknownSni};
use crate::raw::{RawCertificate, RawHttp2, RawTls};
use crate::report::Reporter;

/// `[tls]`; `cache_path` is `control_plane.cache_path`, beside which `acme_state_dir` defaults.
pub(super) fn validate_tls(
    raw: &RawTls,
    cache_path: Option<&Path>,
    report: &mut Reporter<'_>,
) -> TlsSettings {
    let min_version = one_of(
        raw.min_version.as_ref(),
        &[("1.2", TlsVersion::V1_2), ("1.3", TlsVersion::V1_3)],
        TlsVersion::V1_2,
        "tls.min_version",
        report,
    );
    let alpn = match &raw.alpn {
        None => vec![Alpn::H2, Alpn::Http11],
        Some(list) => {
            let mut alpn = Vec::new();
            for (index, item) in list.value.iter().enumerate() {
                let Some(item) = item else { continue };
                let path = join_index("tls.alpn", index);
                let protocol = one_of(
                    Some(item),
                    &[("h2", Some(Alpn::H2)), ("http/1.1", Some(Alpn::Http11))],
                    None,
                    &path,
                    report,
                );
                match protocol {
                    Some(protocol) if alpn.contains(&protocol) => report.error(
                        path,
                        Some(&item.span),
                        format!("{protocol} is listed twice"),
                    ),
                    Some(protocol) => alpn.push(protocol),
                    None => {}
                }
            }
            if list.value.is_empty() {
                report.error(
                    "tls.alpn",
                    Some(&list.span),
                    "must list at least one protocol (\"h2\", \"http/1.1\")",
                );
            }
            alpn
        }
    };
    let unknown_sni = one_of(
        raw.unknown_sni.as_ref(),
        &[
            ("default", UnknownSni::Default),
            ("reject", UnknownSni::Reject),
        ],
        UnknownSni::Default,
        "tls.unknown_sni",
        report,
    );
    let handshake_timeout = duration_in(
        raw.handshake_timeout.as_ref(),
        TlsSettings::HANDSHAKE_TIMEOUT_RANGE,
        TlsSettings::DEFAULT_HANDSHAKE_TIMEOUT,
        "tls.handshake_timeout",
        report,
    );
    let certificates = validate_certificates(raw, report);
    let acme = super::tls_acme::validate_acme(raw.acme.as_ref(), report);
    let acme_state_dir = super::tls_acme::validate_state_dir(raw, cache_path, report);
    TlsSettings {
        min_version,
        alpn,
        unknown_sni,
        handshake_timeout,
        certificates,
        acme,
        acme_state_dir,
    }
}

fn validate_certificates(raw: &RawTls, report: &mut Reporter<'_>) -> Vec<CertificateSettings> {
    let Some(list) = &raw.certificates else {
        return Vec::new();
    };
    if list.value.is_empty() {
        report.error(
            "tls.certificates",
            Some(&list.span),
            "must hold at least one certificate",
        );
    }
    let certificates: Vec<CertificateSettings> = list
        .value
        .iter()
        .enumerate()
        .filter_map(|(index, raw)| {
            let raw = raw.as_ref()?;
            Some(validate_certificate(
                raw,
                &join_index("tls.certificates", index),
                report,
            ))
        })
        .collect();
    let defaults: Vec<usize> = list
        .value
        .iter()
        .enumerate()
        .filter(|(_, raw)| {
            raw.as_ref()
                .and_then(|raw| raw.default.as_ref())
                .is_some_and(|default| default.value)
        })
        .map(|(index, _)| index)
        .collect();
    if list.value.len() > 1 && defaults.is_empty() {
        report.error(
            "tls.certificates",
            Some(&list.span),
            "with several certificates, exactly one must have default = true \
             (served without SNI)",
        );
    }
    if defaults.len() > 1 {
        let paths: Vec<String> = defaults
            .iter()
            .map(|index| join_index("tls.certificates", *index))
            .collect();
        report.error(
            format!("{}.default", paths[1]),
            None,
            format!(
                "only one certificate may be the default ({})",
                paths.join(", ")
            ),
        );
    }
    let single = certificates.len() == 1;
    certificates
        .into_iter()
        .map(|mut certificate| {
            certificate.default |= single;
            certificate
        })
        .collect()
}

fn validate_certificate(
    raw: &RawCertificate,
    path: &str,
    report: &mut Reporter<'_>,
) -> CertificateSettings {
    let mut file = |value: &Option<crate::document::At<String>>, key: &str| {
        let value = value.as_ref()?;
        if value.value.is_empty() {
            report.error(
                format!("{path}.{key}"),
                Some(&value.span),
                "must not be empty",
            );
            return None;
        }
        Some(PathBuf::from(&value.value))
    };
    let cert = file(&raw.cert, "cert").unwrap_or_default();
    let key = file(&raw.key, "key").unwrap_or_default();
    let mut names = Vec::new();
    if let Some(list) = &raw.names {
        if list.value.is_empty() {
            report.error(
                format!("{path}.names"),
                Some(&list.span),
                "must list at least one name (leave it out to use every name of the certificate)",
            );
        }
        for (index, name) in list.value.iter().enumerate() {
            let Some(name) = name else { continue };
            let lower = name.value.to_ascii_lowercase();
            match check_server_name(&lower) {
                Ok(()) if names.contains(&lower) => report.error(
                    join_index(&format!("{path}.names"), index),
                    Some(&name.span),
                    format!("{lower:?} is listed twice"),
                ),
                Ok(()) => names.push(lower),
                Err(message) => report.error(
                    join_index(&format!("{path}.names"), index),
                    Some(&name.span),
                    message,
                ),
            }
        }
    }
    CertificateSettings {
        cert,
        key,
        default: raw.default.as_ref().is_some_and(|default| default.value),
        names,
    }
}

/// A DNS name a certificate may be selected by: labels of letters, digits and `-`, or a leading
/// `*.` wildcard over at least two labels.
pub(super) fn check_server_name(name: &str) -> Result<(), String> {
    let rest = name.strip_prefix("*.").unwrap_or(name);
    let labels: Vec<&str> = rest.split('.').collect();
    let label_ok = |label: &&str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() > 253 || !labels.iter().all(label_ok) {
        return Err(format!(
            "must be a DNS name like \"example.com\" or \"*.example.com\", got {name:?}"
        ));
    }
    if name.starts_with("*.") && labels.len() < 2 {
        return Err(format!(
            "a wildcard must cover at least two labels (\"*.example.com\"), got {name:?}"
        ));
    }
    Ok(())
}

/// `listen.https`: each address valid, none twice, none colliding with `others` (the plain and
/// admin listeners, by key); and only with `[tls]`.
pub(super) fn validate_https(
    raw: Option<&OneOrMany>,
    has_tls: bool,
    others: &[(&str, Option<SocketAddr>)],
    report: &mut Reporter<'_>,
) -> Vec<SocketAddr> {
    let written: Vec<(String, &crate::document::At<String>)> = match raw {
        None => return Vec::new(),
        Some(OneOrMany::One(one)) => vec![("listen.https".to_owned(), one)],
        Some(OneOrMany::Many(many)) => many
            .value
            .iter()
            .enumerate()
            .filter_map(|(index, item)| Some((join_index("listen.https", index), item.as_ref()?)))
            .collect(),
    };
    if let Some(OneOrMany::Many(many)) = raw
        && many.value.is_empty()
    {
        report.error(
            "listen.https",
            Some(&many.span),
            "must list at least one address (leave it out for no HTTPS listener)",
        );
    }
    let mut addresses: Vec<SocketAddr> = Vec::new();
    for (path, value) in written {
        let Some(addr) = address(value, &path, report) else {
            continue;
        };
        let taken = others
            .iter()
            .filter_map(|(key, other)| Some((*key, (*other)?)))
            .chain(addresses.iter().map(|a| ("another listen.https", *a)))
            .find(|(_, other)| addresses_collide(addr, *other));
        match taken {
            Some((key, other)) => report.error(
                path,
                Some(&value.span),
                format!("must not use the same address and port as {key} ({other})"),
            ),
            None => addresses.push(addr),
        }
    }
    if !has_tls && !addresses.is_empty() {
        let span = match raw {
            Some(OneOrMany::One(one)) => Some(one.span.clone()),
            Some(OneOrMany::Many(many)) => Some(many.span.clone()),
            None => None,
        };
        report.error(
            "listen.https",
            span.as_ref(),
            "needs a [tls] section with at least one [[tls.certificates]]",
        );
    }
    addresses
}

/// `[listen.http2]`, each limit in its range.
pub(super) fn validate_http2(raw: &RawHttp2, report: &mut Reporter<'_>) -> Http2Settings {
    let range = |(min, max): (u32, u32)| min..=max;
    Http2Settings {
        max_concurrent_streams: integer_in(
            raw.max_concurrent_streams.as_ref(),
            range(Http2Settings::MAX_CONCURRENT_STREAMS_RANGE),
            Http2Settings::DEFAULT_MAX_CONCURRENT_STREAMS,
            "listen.http2.max_concurrent_streams",
            report,
        ),
        max_header_list_size: integer_in(
            raw.max_header_list_size.as_ref(),
            range(Http2Settings::MAX_HEADER_LIST_SIZE_RANGE),
            Http2Settings::DEFAULT_MAX_HEADER_LIST_SIZE,
            "listen.http2.max_header_list_size",
            report,
        ),
        idle_timeout: duration_in(
            raw.idle_timeout.as_ref(),
            Http2Settings::IDLE_TIMEOUT_RANGE,
            Http2Settings::DEFAULT_IDLE_TIMEOUT,
            "listen.http2.idle_timeout",
            report,
        ),
        max_reset_streams: integer_in(
            raw.max_reset_streams.as_ref(),
            range(Http2Settings::MAX_RESET_STREAMS_RANGE),
            Http2Settings::DEFAULT_MAX_RESET_STREAMS,
            "listen.http2.max_reset_streams",
            report,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::check_server_name;

    #[test]
    fn server_names_and_wildcards() {
        assert!(check_server_name("example.com").is_ok());
        assert!(check_server_name("*.example.com").is_ok());
        assert!(check_server_name("*.com").is_err());
        assert!(check_server_name("a.*.example.com").is_err());
        assert!(check_server_name("exa mple.com").is_err());
        assert!(check_server_name("").is_err());
    }
}
