//! The edge-TLS part of a diff: `[tls]` key by key (certificates and ACME orders by position) and
//! `[listen.http2]`, each struct destructured without `..` so a new field does not compile until
//! it is compared.

use super::Changes;
use crate::model::{AcmeSettings, CertificateSettings, Http2Settings, TlsSettings};

impl Changes {
    pub(super) fn tls(&mut self, path: &str, old: &TlsSettings, new: &TlsSettings) {
        let TlsSettings {
            min_version,
            alpn,
            unknown_sni,
            handshake_timeout,
            certificates,
            acme,
            acme_state_dir,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("min_version"), min_version, &new.min_version);
        self.list(&at("alpn"), alpn, &new.alpn);
        self.value(&at("unknown_sni"), unknown_sni, &new.unknown_sni);
        self.duration(
            &at("handshake_timeout"),
            *handshake_timeout,
            new.handshake_timeout,
        );
        let count = certificates.len().max(new.certificates.len());
        for index in 0..count {
            let line = format!("{path}.certificates[{index}]");
            match (certificates.get(index), new.certificates.get(index)) {
                (Some(before), Some(after)) => self.certificate(&line, before, after),
                (Some(_), None) => self.push(format!("{line}: removed")),
                (None, Some(_)) => self.push(format!("{line}: added")),
                (None, None) => {}
            }
        }
        let count = acme.len().max(new.acme.len());
        for index in 0..count {
            let line = format!("{path}.acme[{index}]");
            match (acme.get(index), new.acme.get(index)) {
                (Some(before), Some(after)) => self.acme(&line, before, after),
                (Some(_), None) => self.push(format!("{line}: removed")),
                (None, Some(_)) => self.push(format!("{line}: added")),
                (None, None) => {}
            }
        }
        self.value(
            &at("acme_state_dir"),
            acme_state_dir.display().to_string(),
            new.acme_state_dir.display().to_string(),
        );
    }

    fn acme(&mut self, path: &str, old: &AcmeSettings, new: &AcmeSettings) {
        let AcmeSettings {
            names,
            directory,
            contact,
            ca_file,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.list(&at("names"), names, &new.names);
        self.value(&at("directory"), directory, &new.directory);
        self.list(&at("contact"), contact, &new.contact);
        let show = |file: &Option<std::path::PathBuf>| {
            file.as_ref()
                .map_or_else(|| "none".to_owned(), |file| file.display().to_string())
        };
        self.value(&at("ca_file"), show(ca_file), show(&new.ca_file));
    }

    fn certificate(&mut self, path: &str, old: &CertificateSettings, new: &CertificateSettings) {
        let CertificateSettings {
            cert,
            key,
            default,
            names,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(
            &at("cert"),
            cert.display().to_string(),
            new.cert.display().to_string(),
        );
        self.value(
            &at("key"),
            key.display().to_string(),
            new.key.display().to_string(),
        );
        self.value(&at("default"), default, &new.default);
        self.list(&at("names"), names, &new.names);
    }

    pub(super) fn http2(&mut self, old: &Http2Settings, new: &Http2Settings) {
        let Http2Settings {
            max_concurrent_streams,
            max_header_list_size,
            idle_timeout,
            max_reset_streams,
        } = old;
        self.value(
            "listen.http2.max_concurrent_streams",
            max_concurrent_streams,
            &new.max_concurrent_streams,
        );
        self.value(
            "listen.http2.max_header_list_size",
            max_header_list_size,
            &new.max_header_list_size,
        );
        self.duration("listen.http2.idle_timeout", *idle_timeout, new.idle_timeout);
        self.value(
            "listen.http2.max_reset_streams",
            max_reset_streams,
            &new.max_reset_streams,
        );
    }
}
