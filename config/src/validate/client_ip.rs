//! Rules for `[client_ip]`: trusted proxies as addresses or CIDRs, and the forwarding header.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

use super::checks::one_of;
use crate::document::join_index;
use crate::model::{ClientIpSettings, ForwardedHeader};
use crate::raw::RawClientIp;
use crate::report::Reporter;

pub(super) fn validate_client_ip(raw: &RawClientIp, report: &mut Reporter<'_>) -> ClientIpSettings {
    let trusted_proxies = raw
        .trusted_proxies
        .as_ref()
        .map(|proxies| {
            proxies
                .value
                .iter()
                .enumerate()
                .filter_map(|(index, proxy)| {
                    let proxy = proxy.as_ref()?; // not a string; already reported
                    match parse_proxy(&proxy.value) {
                        Ok(network) => Some(network),
                        Err(message) => {
                            let path = join_index("client_ip.trusted_proxies", index);
                            report.error(path, Some(&proxy.span), message);
                            None
                        }
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    ClientIpSettings {
        trusted_proxies,
        header: one_of(
            raw.header.as_ref(),
            &[
                ("x-forwarded-for", ForwardedHeader::XForwardedFor),
                ("forwarded", ForwardedHeader::Forwarded),
            ],
            ForwardedHeader::default(),
            "client_ip.header",
            report,
        ),
    }
}

/// `10.0.0.0/8` (stored as its network) or a single address (stored as a /32 or /128).
fn parse_proxy(text: &str) -> Result<IpNet, String> {
    let Some((address, length)) = text.split_once('/') else {
        if let Ok(address) = text.parse::<IpAddr>() {
            return Ok(IpNet::from(address));
        }
        if text.parse::<SocketAddr>().is_ok() {
            return Err(format!("must be an address without a port, got {text:?}"));
        }
        return Err(expected(text));
    };
    let address: IpAddr = address.parse().map_err(|_| expected(text))?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    length
        .parse::<u8>()
        .ok()
        .and_then(|length| IpNet::new(address, length).ok())
        .map(|network| network.trunc())
        .ok_or_else(|| format!("prefix length must be between 0 and {max}, got {text:?}"))
}

fn expected(text: &str) -> String {
    format!("must be an IP address or a CIDR, like \"10.0.0.0/8\" or \"::1\", got {text:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_networks() {
        let net = |text: &str| parse_proxy(text).map(|network| network.to_string());
        assert_eq!(net("10.0.0.0/8"), Ok("10.0.0.0/8".to_owned()));
        assert_eq!(net("10.1.2.3/8"), Ok("10.0.0.0/8".to_owned()));
        assert_eq!(net("127.0.0.1"), Ok("127.0.0.1/32".to_owned()));
        assert_eq!(net("::1"), Ok("::1/128".to_owned()));
        assert_eq!(net("fd00::/8"), Ok("fd00::/8".to_owned()));
        assert_eq!(net("0.0.0.0/0"), Ok("0.0.0.0/0".to_owned()));
    }

    #[test]
    fn bad_proxies_are_explained() {
        for (text, message) in [
            ("10.0.0.0/33", "prefix length must be between 0 and 32"),
            ("::/129", "prefix length must be between 0 and 128"),
            ("10.0.0.0/", "prefix length"),
            ("10.0.0.0/-1", "prefix length"),
            ("127.0.0.1:8080", "without a port"),
            ("[::1]:8080", "without a port"),
            ("localhost", "must be an IP address or a CIDR"),
            ("10.0.0/8", "must be an IP address or a CIDR"),
            ("", "must be an IP address or a CIDR"),
        ] {
            let error = parse_proxy(text).unwrap_err();
            assert!(error.contains(message), "{text:?}: {error}");
        }
    }
}
