//! How weirctl reaches the control plane: the URL, the token and the CA file, resolved from flags
//! over `WEIR_URL`/`WEIR_TOKEN`/`WEIR_CA_FILE` over defaults (each remembering where it came
//! from, so a message can say which to fix), and the timeouts of every call. A bad URL, token or
//! CA setting is a usage error, a missing token its own error; nothing here touches the network.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The control plane weirctl talks to when neither `--url` nor `WEIR_URL` says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:7700";

/// How long to wait for a TCP connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a whole call may take, answer included.
pub const OVERALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a setting came from, so a message can say which one to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(name) | Source::Env(name) => f.write_str(name),
            Source::Default => f.write_str("the default"),
        }
    }
}

/// Why the settings do not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A setting that cannot be used as given.
    #[error("{0}")]
    Usage(String),
    /// No token at all.
    #[error("no API token: set WEIR_TOKEN (or pass --token); `weir-control-plane token` makes one")]
    NoToken,
}

/// An API token. Never printed: `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: String) -> Token {
        Token(token)
    }

    /// The token itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

/// Where the control plane is and where the settings came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://host:port` (or with a path prefix), no trailing `/`.
    pub url: String,
    pub url_from: Source,
    pub token_from: Source,
}

/// What the flags and environment resolve to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub endpoint: Endpoint,
    pub token: Token,
}

impl Settings {
    /// `--url` over `WEIR_URL` over the default; `--token` over `WEIR_TOKEN`. Empty values
    /// count as unset. `env` reads a variable (injected for tests).
    pub fn resolve(
        url: Option<String>,
        token: Option<String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsError> {
        let set = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        let (url, url_from) = match (set(url), set(env("WEIR_URL"))) {
            (Some(url), _) => (url, Source::Flag("--url")),
            (None, Some(url)) => (url, Source::Env("WEIR_URL")),
            (None, None) => (DEFAULT_URL.to_string(), Source::Default),
        };
        let url = check_url(&url, url_from)?;
        let (token, token_from) = match (set(token), set(env("WEIR_TOKEN"))) {
            (Some(token), _) => (token, Source::Flag("--token")),
            (None, Some(token)) => (token, Source::Env("WEIR_TOKEN")),
            (None, None) => return Err(SettingsError::NoToken),
        };
        let token = token.trim();
        // A header value: visible ASCII only. The token itself is never put in the message.
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SettingsError::Usage(format!(
                "the token from {token_from} has spaces or characters that cannot be sent in a \
                 header; copy it again"
            )));
        }
        Ok(Settings {
            endpoint: Endpoint {
                url,
                url_from,
                token_from,
            },
            token: Token::new(token.to_string()),
        })
    }
}

/// The CA file to trust for an https:// control plane, and where it was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFile {
    pub path: PathBuf,
    pub from: Source,
}

impl CaFile {
    /// `--ca-file` over `WEIR_CA_FILE`; none when neither is set. Naming one for an http://
    /// control plane is a usage error: it would silently do nothing.
    pub fn resolve(
        flag: Option<PathBuf>,
        endpoint: &Endpoint,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<CaFile>, SettingsError> {
        let from_env = env("WEIR_CA_FILE").filter(|v| !v.trim().is_empty());
        let ca_file = match (flag, from_env) {
            (Some(path), _) => CaFile {
                path,
                from: Source::Flag("--ca-file"),
            },
            (None, Some(path)) => CaFile {
                path: PathBuf::from(path.trim()),
                from: Source::Env("WEIR_CA_FILE"),
            },
            (None, None) => return Ok(None),
        };
        if !endpoint.url.starts_with("https://") {
            return Err(SettingsError::Usage(format!(
                "a CA file ({}, from {}) is only for an https:// control plane, and the URL {} \
                 (from {}) is http://; drop the CA file or use the https:// URL",
                ca_file.path.display(),
                ca_file.from,
                endpoint.url,
                endpoint.url_from
            )));
        }
        Ok(Some(ca_file))
    }
}

/// `http(s)://host[:port][/prefix]` without a trailing `/`, query or fragment.
fn check_url(url: &str, from: Source) -> Result<String, SettingsError> {
    let url = url.trim();
    let bad = |why: &str| {
        SettingsError::Usage(format!(
            "the control plane URL {url:?} (from {from}) {why}; use e.g. {DEFAULT_URL}"
        ))
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if url.contains(['?', '#']) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not have a query, a fragment or spaces"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn flags_override_the_environment() {
        let vars = env(&[("WEIR_URL", "http://env:7700/"), ("WEIR_TOKEN", "envtoken")]);
        let settings = Settings::resolve(None, None, &vars).unwrap();
        assert_eq!(settings.endpoint.url, "http://env:7700");
        assert_eq!(settings.endpoint.url_from, Source::Env("WEIR_URL"));
        assert_eq!(settings.token, Token::new("envtoken".into()));
        assert_eq!(settings.endpoint.token_from, Source::Env("WEIR_TOKEN"));

        let settings = Settings::resolve(
            Some("https://flag:8443/weir".into()),
            Some("flagtoken".into()),
            &vars,
        )
        .unwrap();
        assert_eq!(settings.endpoint.url, "https://flag:8443/weir");
        assert_eq!(settings.endpoint.url_from, Source::Flag("--url"));
        assert_eq!(settings.token, Token::new("flagtoken".into()));
        assert_eq!(settings.endpoint.token_from, Source::Flag("--token"));
    }

    #[test]
    fn defaults_and_missing_token() {
        let settings = Settings::resolve(None, Some("t".into()), env(&[])).unwrap();
        assert_eq!(settings.endpoint.url, DEFAULT_URL);
        assert_eq!(settings.endpoint.url_from, Source::Default);
        // Empty values count as unset.
        let empty = env(&[("WEIR_URL", ""), ("WEIR_TOKEN", " ")]);
        let error = Settings::resolve(None, None, &empty).unwrap_err();
        assert_eq!(error, SettingsError::NoToken);
        assert!(error.to_string().contains("WEIR_TOKEN"));
        assert_eq!(
            Settings::resolve(None, Some("t".into()), &empty)
                .unwrap()
                .endpoint
                .url,
            DEFAULT_URL
        );
    }

    #[test]
    fn bad_urls_and_tokens_are_usage_errors() {
        for url in [
            "127.0.0.1:7700",
            "ftp://cp",
            "http://",
            "http:///v1",
            "http://cp:7700/?x=1",
            "http://c p",
        ] {
            let error =
                Settings::resolve(Some(url.into()), Some("t".into()), env(&[])).expect_err(url);
            assert!(matches!(error, SettingsError::Usage(_)), "{url}");
            assert!(error.to_string().contains("--url"), "{error}");
        }
        let error = Settings::resolve(None, Some("weir_ab cd".into()), env(&[])).unwrap_err();
        assert!(matches!(error, SettingsError::Usage(_)));
        let message = error.to_string();
        assert!(
            message.contains("--token") && !message.contains("weir_ab"),
            "{message}"
        );
        // Surrounding whitespace (a pasted newline) is forgiven.
        let settings = Settings::resolve(None, Some("weir_abc\n".into()), env(&[])).unwrap();
        assert_eq!(settings.token, Token::new("weir_abc".into()));
    }

    #[test]
    fn ca_file_from_flag_over_env_and_only_for_https() {
        let endpoint = |url: &str| Endpoint {
            url: url.into(),
            url_from: Source::Env("WEIR_URL"),
            token_from: Source::Env("WEIR_TOKEN"),
        };
        let https = endpoint("https://cp:7700");
        let vars = env(&[("WEIR_CA_FILE", "/etc/weir/ca.pem")]);
        let from_env = CaFile::resolve(None, &https, &vars).unwrap().unwrap();
        assert_eq!(from_env.path, PathBuf::from("/etc/weir/ca.pem"));
        assert_eq!(from_env.from, Source::Env("WEIR_CA_FILE"));
        let from_flag = CaFile::resolve(Some("ca.pem".into()), &https, &vars)
            .unwrap()
            .unwrap();
        assert_eq!(from_flag.path, PathBuf::from("ca.pem"));
        assert_eq!(from_flag.from, Source::Flag("--ca-file"));
        assert_eq!(CaFile::resolve(None, &https, env(&[])).unwrap(), None);
        assert_eq!(
            CaFile::resolve(None, &https, env(&[("WEIR_CA_FILE", " ")])).unwrap(),
            None,
            "empty counts as unset"
        );

        let error = CaFile::resolve(None, &endpoint("http://cp:7700"), &vars).unwrap_err();
        assert!(matches!(error, SettingsError::Usage(_)));
        let message = error.to_string();
        assert!(
            message.contains("WEIR_CA_FILE") && message.contains("http://cp:7700"),
            "{message}"
        );
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let settings = Settings::resolve(None, Some("weir_s3cret".into()), env(&[])).unwrap();
        assert!(!format!("{settings:?}").contains("s3cret"));
        assert_eq!(settings.token.expose(), "weir_s3cret");
    }
}
