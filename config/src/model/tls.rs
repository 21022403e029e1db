//! The validated edge-TLS settings: `[tls]` (versions, ALPN, what an unknown SNI gets, the
//! handshake deadline and the certificate files) and `[listen.http2]` (HTTP/2 limits). Only paths
//! here: the gateway reads and checks the files (config does no I/O).

use std::path::PathBuf;
use std::time::Duration;

/// `[tls]`: how HTTPS listeners (`listen.https`) terminate TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// `min_version`, default `"1.2"`: the oldest TLS version accepted (TLS 1.0 and 1.1 never).
    pub min_version: TlsVersion,
    /// `alpn`, default `["h2", "http/1.1"]`: the protocols offered by ALPN, in preference order.
    pub alpn: Vec<Alpn>,
    /// `unknown_sni`, default `"default"`: what a handshake whose SNI matches no certificate gets.
    pub unknown_sni: UnknownSni,
    /// `handshake_timeout`, default `10s`, 100ms..=60s: the most a client may take from the
    /// connection's start to the end of the TLS handshake.
    pub handshake_timeout: Duration,
    /// `certificates`: the certificate set served by SNI. At least one, unless `acme` orders
    /// every certificate (then a handshake without SNI, or with an unknown one, fails).
    pub certificates: Vec<CertificateSettings>,
    /// `acme`: certificates ordered and renewed from an ACME CA (RFC 8555), HTTP-01 answered on
    /// `listen.http`. Read at start (a change needs a restart).
    pub acme: Vec<AcmeSettings>,
    /// `acme_state_dir`: where the ACME account key and the issued certificates are kept
    /// (mode 0600). Required with `acme`, unless `control_plane.cache_path` is set: then
    /// `acme/` beside the cache file.
    pub acme_state_dir: PathBuf,
}

impl TlsSettings {
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
    pub const HANDSHAKE_TIMEOUT_RANGE: (Duration, Duration) =
        (Duration::from_millis(100), Duration::from_secs(60));
}

/// A TLS protocol version Weir accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

impl std::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V1_2 => "1.2",
            Self::V1_3 => "1.3",
        })
    }
}

/// A protocol offered by ALPN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alpn {
    /// `"h2"`: HTTP/2.
    H2,
    /// `"http/1.1"`.
    Http11,
}

impl Alpn {
    /// The protocol's ALPN identifier, as sent on the wire.
    pub fn wire(self) -> &'static [u8] {
        match self {
            Self::H2 => b"h2",
            Self::Http11 => b"http/1.1",
        }
    }
}

impl std::fmt::Display for Alpn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::H2 => "h2",
            Self::Http11 => "http/1.1",
        })
    }
}

/// What a handshake gets when its SNI names no configured certificate (or it sends none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownSni {
    /// `"default"`: the default certificate.
    #[default]
    Default,
    /// `"reject"`: the handshake fails (`unrecognized_name`). A client without SNI still gets the
    /// default certificate.
    Reject,
}

impl std::fmt::Display for UnknownSni {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Default => "default",
            Self::Reject => "reject",
        })
    }
}

/// `[[tls.certificates]]`: one certificate and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateSettings {
    /// `cert`, required: the PEM full chain (leaf first).
    pub cert: PathBuf,
    /// `key`, required: the PEM private key (PKCS#8, RSA or SEC1 ECDSA).
    pub key: PathBuf,
    /// `default`: the certificate served without SNI (and for an unknown SNI with
    /// `unknown_sni = "default"`). Required on exactly one when there are several; a single
    /// certificate is the default.
    pub default: bool,
    /// `names`: when not empty, only these of the certificate's names (lower-case; `*.` wildcards
    /// allowed) select it. Empty (the default): every DNS name in its SAN.
    pub names: Vec<String>,
}

/// `[[tls.acme]]`: one certificate ordered from an ACME directory for `names`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// `names`, required, at least one: the DNS names of the certificate (lower-case, no
    /// wildcard: HTTP-01 cannot prove one). The first names the certificate's files.
    pub names: Vec<String>,
    /// `directory`, required: the ACME directory URL (`https://`).
    pub directory: String,
    /// `contact`: the account's contact URLs (`mailto:`), may be empty.
    pub contact: Vec<String>,
    /// `ca_file`: a PEM CA that the directory's own HTTPS certificate is checked against
    /// instead of the system roots (a private or test CA such as Pebble's).
    pub ca_file: Option<PathBuf>,
}

/// `[listen.http2]`: limits for HTTP/2 client connections (over TLS by ALPN, or h2c).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Http2Settings {
    /// `max_concurrent_streams`, default 100, 1..=10000: streams open at once per connection.
    pub max_concurrent_streams: u32,
    /// `max_header_list_size`, default 64 KiB, 1 KiB..=1 MiB: the decoded header list of a request.
    pub max_header_list_size: u32,
    /// `idle_timeout`, default `60s`, 1s..=1h: a connection with no open stream this long is
    /// closed.
    pub idle_timeout: Duration,
    /// `max_reset_streams`, default 20, 1..=10000: the reset-flood guard (CVE-2023-44487). A
    /// client with more streams reset before the gateway took them up is sent GOAWAY
    /// (`ENHANCE_YOUR_CALM`) and its connection closed.
    pub max_reset_streams: u32,
}

impl Http2Settings {
    pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
    pub const MAX_CONCURRENT_STREAMS_RANGE: (u32, u32) = (1, 10_000);
    pub const DEFAULT_MAX_HEADER_LIST_SIZE: u32 = 64 * 1024;
    pub const MAX_HEADER_LIST_SIZE_RANGE: (u32, u32) = (1024, 1024 * 1024);
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const IDLE_TIMEOUT_RANGE: (Duration, Duration) =
        (Duration::from_secs(1), Duration::from_secs(3600));
    pub const DEFAULT_MAX_RESET_STREAMS: u32 = 20;
    pub const MAX_RESET_STREAMS_RANGE: (u32, u32) = (1, 10_000);
}

impl Default for Http2Settings {
    fn default() -> Self {
        Self {
            max_concurrent_streams: Self::DEFAULT_MAX_CONCURRENT_STREAMS,
            max_header_list_size: Self::DEFAULT_MAX_HEADER_LIST_SIZE,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_reset_streams: Self::DEFAULT_MAX_RESET_STREAMS,
        }
    }
}
