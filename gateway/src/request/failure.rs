//! Who caused a failed exchange: the upstream, the client, or the gateway itself. The one place
//! that decides which failures may count against an endpoint, a breaker or the adaptive limit
//! (only the upstream's); anything it cannot place is not blamed on the upstream.

use pingora::{Error, ErrorSource, ErrorType};

/// The side a failure is blamed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The upstream failed: it refused or timed out the connection, broke it, sent garbage or
    /// did not answer in time. Counts against the endpoint and the upstream's breakers.
    Upstream,
    /// The client failed: a malformed request or body, a hang-up, a read or write that timed
    /// out on its side. Never counts against the upstream.
    Client,
    /// The gateway decided (a deadline, a filter's answer, a retry) or failed internally.
    Gateway,
}

impl Side {
    /// The log and access-log spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upstream => "upstream",
            Self::Client => "client",
            Self::Gateway => "gateway",
        }
    }

    /// Whether the failure may feed outlier ejection, breakers and the adaptive limit.
    pub fn counts_against_upstream(self) -> bool {
        self == Self::Upstream
    }
}

/// The side of a failure, from Pingora's error type and source.
pub fn side(e: &Error) -> Side {
    classify(e.etype(), e.esource())
}

/// [`side`] on the parts: connection set-up is always the upstream's (only the upstream is
/// connected to); the gateway's own error types are its decisions; otherwise the source Pingora
/// recorded decides, and an unknown source is not the upstream's.
pub fn classify(etype: &ErrorType, source: &ErrorSource) -> Side {
    match etype {
        ErrorType::ConnectTimedout
        | ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::ConnectProxyFailure
        | ErrorType::TLSHandshakeFailure
        | ErrorType::TLSHandshakeTimedout
        | ErrorType::TLSWantX509Lookup
        | ErrorType::InvalidCert
        | ErrorType::HandshakeError => Side::Upstream,
        ErrorType::Custom(_) | ErrorType::CustomCode(..) | ErrorType::HTTPStatus(_) => {
            Side::Gateway
        }
        _ => match source {
            ErrorSource::Upstream => Side::Upstream,
            ErrorSource::Downstream => Side::Client,
            ErrorSource::Internal | ErrorSource::Unset => Side::Gateway,
        },
    }
}

/// The reasons of `weir_upstream_tls_failures_total`.
pub const TLS_FAILURE_REASONS: [&str; 2] = ["certificate", "handshake"];

/// Why a TLS connection to an endpoint failed, if it did: `certificate` when the endpoint's
/// certificate failed verification (unknown issuer, wrong name, expired), `handshake` for any
/// other handshake failure. Read from Pingora's error type and rustls's message in its context.
pub fn tls_failure(e: &Error) -> Option<&'static str> {
    match e.etype() {
        ErrorType::InvalidCert => Some("certificate"),
        ErrorType::TLSHandshakeFailure
        | ErrorType::TLSHandshakeTimedout
        | ErrorType::HandshakeError => {
            // The whole chain, since rustls's reason is often in the cause: an invalid peer
            // certificate, or an alert about ours (`BadCertificate`, `CertificateRequired`).
            let certificate = e.to_string().to_ascii_lowercase().contains("certificate");
            Some(if certificate {
                "certificate"
            } else {
                "handshake"
            })
        }
        _ => None,
    }
}

/// A TLS alert the endpoint sent once the handshake looked done, read as an exchange failure:
/// in TLS 1.3 the server checks the client's certificate after the client has finished its
/// handshake, so a refused (or missing) client certificate arrives on the first read.
pub fn tls_alert(e: &Error) -> Option<&'static str> {
    let text = e.to_string().to_ascii_lowercase();
    if !text.contains("alert") {
        return None;
    }
    Some(if text.contains("certificate") {
        "certificate"
    } else {
        "handshake"
    })
}

/// Whether an upstream-side failure is a timeout (counted in `weir_timeouts_total`).
pub fn is_timeout(etype: &ErrorType) -> bool {
    matches!(etype, ErrorType::ReadTimedout | ErrorType::WriteTimedout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(etype: ErrorType, source: ErrorSource) -> Box<Error> {
        let mut e = Error::new(etype);
        e.esource = source;
        e
    }

    #[test]
    fn only_upstream_failures_count_against_the_upstream() {
        use ErrorSource::*;
        use ErrorType::*;
        let cases = [
            // The upstream broke, timed out or sent garbage.
            (ReadError, Upstream, Side::Upstream),
            (WriteError, Upstream, Side::Upstream),
            (ReadTimedout, Upstream, Side::Upstream),
            (ConnectionClosed, Upstream, Side::Upstream),
            (InvalidHTTPHeader, Upstream, Side::Upstream),
            (H1Error, Upstream, Side::Upstream),
            // Connecting is only ever to the upstream, whatever source was recorded.
            (ConnectRefused, Unset, Side::Upstream),
            (ConnectTimedout, Downstream, Side::Upstream),
            // `Connection: host`, a bad chunk size, a hang-up, a client that does not read.
            (InvalidHTTPHeader, Downstream, Side::Client),
            (H1Error, Downstream, Side::Client),
            (ConnectionClosed, Downstream, Side::Client),
            (ReadError, Downstream, Side::Client),
            (WriteTimedout, Downstream, Side::Client),
            // The gateway's own decisions and failures.
            (Custom("RetryableStatus"), Upstream, Side::Gateway),
            (CustomCode("DeadlineExceeded", 504), Unset, Side::Gateway),
            (HTTPStatus(413), Downstream, Side::Gateway),
            (InternalError, Internal, Side::Gateway),
            (InvalidHTTPHeader, Internal, Side::Gateway),
            (ReadError, Unset, Side::Gateway),
        ];
        for (etype, source, want) in cases {
            let e = error(etype.clone(), source.clone());
            assert_eq!(side(&e), want, "{etype:?} from {source:?}");
            assert_eq!(
                side(&e).counts_against_upstream(),
                want == Side::Upstream,
                "{etype:?}"
            );
        }
    }

    #[test]
    fn tls_failures_are_told_apart() {
        let failed = |etype: ErrorType, context: &str| Error::explain(etype, context.to_string());
        let unknown_ca = failed(
            ErrorType::TLSHandshakeFailure,
            "TLS connect() failed: invalid peer certificate: UnknownIssuer, SNI: api.internal",
        );
        assert_eq!(tls_failure(&unknown_ca), Some("certificate"));
        let alert = failed(
            ErrorType::TLSHandshakeFailure,
            "TLS connect() failed: received fatal alert: HandshakeFailure, SNI: api.internal",
        );
        assert_eq!(tls_failure(&alert), Some("handshake"));
        assert_eq!(
            tls_failure(&failed(ErrorType::InvalidCert, "")),
            Some("certificate")
        );
        let refused = failed(
            ErrorType::ReadError,
            "while reading response headers: received fatal alert: CertificateRequired",
        );
        assert_eq!(tls_failure(&refused), None, "not a handshake error type");
        assert_eq!(tls_alert(&refused), Some("certificate"));
        assert_eq!(
            tls_alert(&failed(ErrorType::ReadError, "connection reset")),
            None
        );
        assert_eq!(
            tls_failure(&failed(ErrorType::ConnectRefused, "certificate")),
            None
        );
        for reason in [tls_failure(&unknown_ca), tls_failure(&alert)] {
            assert!(TLS_FAILURE_REASONS.contains(&reason.unwrap()));
        }
    }

    #[test]
    fn timeouts_are_read_and_write_timeouts() {
        assert!(is_timeout(&ErrorType::ReadTimedout));
        assert!(is_timeout(&ErrorType::WriteTimedout));
        assert!(!is_timeout(&ErrorType::ConnectTimedout));
        assert_eq!(Side::Client.as_str(), "client");
    }
}
