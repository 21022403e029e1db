//! Bearer-token authentication and roles. The token file lists each token's name, role and
//! SHA-256 (never the token); a presented token is hashed and compared with every entry in
//! constant time. A file with any bad entry is refused as a whole, listing every problem.

use std::fmt;
use std::path::Path;

use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do. `read` ⊂ `operate` ⊂ `admin`; `gateway` is separate (stream and report
/// only), so a gateway's token leaking does not let anyone change the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Read,
    Operate,
    Admin,
    Gateway,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
            Role::Gateway => "gateway",
        }
    }

    /// Whether a token with this role may do what `needed` allows.
    pub fn grants(self, needed: Role) -> bool {
        match (self, needed) {
            (Role::Gateway, needed) => needed == Role::Gateway,
            (_, Role::Gateway) => false,
            (held, needed) => held.rank() >= needed.rank(),
        }
    }

    fn rank(self) -> u8 {
        match self {
            Role::Read => 0,
            Role::Operate => 1,
            Role::Admin => 2,
            Role::Gateway => 0,
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "read" => Some(Role::Read),
            "operate" => Some(Role::Operate),
            "admin" => Some(Role::Admin),
            "gateway" => Some(Role::Gateway),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a request: the token's name and role, and for a gateway token the gateway ids it
/// may speak for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub role: Role,
    /// `gateway_id` of a gateway token; `None` for the other roles.
    pub gateway_ids: Option<IdPattern>,
}

impl Identity {
    /// Whether this token may hold the stream of, and report for, gateway `id`.
    pub fn speaks_for(&self, id: &str) -> bool {
        self.gateway_ids
            .as_ref()
            .is_some_and(|pattern| pattern.matches(id))
    }
}

/// The gateway ids a gateway token is bound to: one id (`gw-a`), a prefix pattern (`us-east-*`),
/// or `*` (any id: the behaviour of tokens before binding existed, chosen explicitly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdPattern {
    Exact(String),
    Prefix(String),
}

impl IdPattern {
    /// Parses `gateway_id`: id characters (letters, digits, `-`, `_`, `.`), optionally ending in
    /// one `*`.
    pub fn parse(text: &str) -> Result<IdPattern, String> {
        let (body, prefix) = match text.strip_suffix('*') {
            Some(body) => (body, true),
            None => (text, false),
        };
        let valid = body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid || (body.is_empty() && !prefix) || body.len() > 128 {
            return Err(format!(
                "must be a gateway id (letters, digits, '-', '_', '.'), or a prefix ending in \
                 '*' such as \"us-east-*\", got {text:?}"
            ));
        }
        Ok(if prefix {
            IdPattern::Prefix(body.to_owned())
        } else {
            IdPattern::Exact(body.to_owned())
        })
    }

    pub fn matches(&self, id: &str) -> bool {
        match self {
            IdPattern::Exact(exact) => id == exact,
            IdPattern::Prefix(prefix) => id.starts_with(prefix.as_str()),
        }
    }
}

impl fmt::Display for IdPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdPattern::Exact(id) => f.write_str(id),
            IdPattern::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

/// Why a request was not authorised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("missing bearer token: send 'Authorization: Bearer <token>'")]
    Missing,
    #[error("the bearer token is not valid")]
    Invalid,
    #[error("token '{name}' has role '{held}', this needs '{needed}'")]
    Forbidden {
        name: String,
        held: Role,
        needed: Role,
    },
    #[error("token '{name}' may speak for gateway ids '{pattern}', not '{id}'")]
    OtherGateway {
        name: String,
        pattern: String,
        id: String,
    },
}

impl Denied {
    /// The `reason` label of `weir_cp_auth_failures_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::Missing => "missing",
            Denied::Invalid => "invalid",
            Denied::Forbidden { .. } => "forbidden",
            Denied::OtherGateway { .. } => "other_gateway",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Denied::Missing | Denied::Invalid => 401,
            Denied::Forbidden { .. } | Denied::OtherGateway { .. } => 403,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    identity: Identity,
    sha256: [u8; 32],
}

/// The known tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    tokens: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    name: String,
    role: String,
    sha256: String,
    /// Gateway tokens only: the gateway id (or `prefix*` pattern) the token speaks for.
    #[serde(default)]
    gateway_id: Option<String>,
}

/// A token file that cannot be used; each line names the entry and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("token file {path}:\n{}", .problems.join("\n"))]
pub struct TokenFileError {
    pub path: String,
    pub problems: Vec<String>,
}

impl Tokens {
    /// Reads and checks the token file at `path`.
    pub fn load(path: &Path) -> Result<Tokens, TokenFileError> {
        let fail = |problem: String| TokenFileError {
            path: path.display().to_string(),
            problems: vec![problem],
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        Tokens::parse(&text).map_err(|problems| TokenFileError {
            path: path.display().to_string(),
            problems,
        })
    }

    /// Parses a token file's text, reporting every bad entry.
    pub fn parse(text: &str) -> Result<Tokens, Vec<String>> {
        let raw: RawFile = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut problems = Vec::new();
        let mut entries = Vec::new();
        for (index, raw) in raw.tokens.iter().enumerate() {
            let at = format!("tokens[{index}]");
            if raw.name.is_empty() {
                problems.push(format!("{at}.name: must not be empty"));
            }
            if entries.iter().any(|e: &Entry| e.identity.name == raw.name) {
                problems.push(format!("{at}.name: '{}' is listed twice", raw.name));
            }
            let role = Role::parse(&raw.role);
            if role.is_none() {
                problems.push(format!(
                    "{at}.role: must be read, operate, admin or gateway, got '{}'",
                    raw.role
                ));
            }
            let sha256 = parse_hex32(&raw.sha256);
            if sha256.is_none() {
                problems.push(format!(
                    "{at}.sha256: must be 64 hex digits (the SHA-256 of the token)"
                ));
            }
            let gateway_ids = match (role, raw.gateway_id.as_deref()) {
                (Some(Role::Gateway), Some(text)) => match IdPattern::parse(text) {
                    Ok(pattern) => Some(pattern),
                    Err(e) => {
                        problems.push(format!("{at}.gateway_id: {e}"));
                        None
                    }
                },
                (Some(Role::Gateway), None) => {
                    problems.push(format!(
                        "{at}.gateway_id: a gateway token must name the gateway id it speaks for \
                         (e.g. gateway_id = \"{}\", or a pattern such as \"us-east-*\"; \"*\" \
                         allows any id)",
                        raw.name
                    ));
                    None
                }
                (Some(_), Some(_)) => {
                    problems.push(format!(
                        "{at}.gateway_id: only tokens with role 'gateway' are bound to gateway ids"
                    ));
                    None
                }
                _ => None,
            };
            if let (Some(role), Some(sha256)) = (role, sha256) {
                entries.push(Entry {
                    identity: Identity {
                        name: raw.name.clone(),
                        role,
                        gateway_ids,
                    },
                    sha256,
                });
            }
        }
        if problems.is_empty() {
            Ok(Tokens { entries })
        } else {
            Err(problems)
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Checks an `Authorization` header value against the tokens and the role needed.
    pub fn authorize(&self, header: Option<&str>, needed: Role) -> Result<Identity, Denied> {
        let identity = self.identify(header)?;
        if identity.role.grants(needed) {
            Ok(identity)
        } else {
            Err(Denied::Forbidden {
                name: identity.name,
                held: identity.role,
                needed,
            })
        }
    }

    /// As [`Tokens::authorize`] for role `gateway`, and the token must speak for gateway `id`.
    pub fn authorize_gateway(&self, header: Option<&str>, id: &str) -> Result<Identity, Denied> {
        let identity = self.authorize(header, Role::Gateway)?;
        if identity.speaks_for(id) {
            Ok(identity)
        } else {
            Err(Denied::OtherGateway {
                pattern: identity
                    .gateway_ids
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                name: identity.name,
                id: id.to_owned(),
            })
        }
    }

    /// Whether the request carries a known token (any role).
    pub fn knows(&self, header: Option<&str>) -> bool {
        self.identify(header).is_ok()
    }

    fn identify(&self, header: Option<&str>) -> Result<Identity, Denied> {
        let header = header.ok_or(Denied::Missing)?;
        let token = bearer(header).ok_or(Denied::Missing)?;
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Look at every entry whatever matches, so timing says nothing about which one did.
        let mut found = None;
        for entry in &self.entries {
            if bool::from(entry.sha256.ct_eq(&presented)) {
                found = Some(entry);
            }
        }
        found.map(|e| e.identity.clone()).ok_or(Denied::Invalid)
    }
}

/// The token of a `Bearer` authorization value (scheme case-insensitive, RFC 7235).
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// SHA-256 of a token, hex: what the token file stores.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random token (256 bits, hex, prefixed `weir_` so it is recognisable in a leak scan).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("weir_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(entries: &[(&str, &str, &str)]) -> String {
        entries
            .iter()
            .map(|(name, role, token)| {
                format!(
                    "[[tokens]]\nname = \"{name}\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
                    token_hash(token)
                )
            })
            .collect()
    }

    #[test]
    fn roles_nest_except_gateway() {
        use Role::*;
        assert!(Admin.grants(Operate) && Admin.grants(Read) && Operate.grants(Read));
        assert!(!Read.grants(Operate) && !Operate.grants(Admin));
        assert!(Gateway.grants(Gateway) && !Gateway.grants(Read));
        assert!(!Admin.grants(Gateway));
    }

    #[test]
    fn authorizes_by_hash_and_role() {
        let tokens =
            Tokens::parse(&file(&[("alice", "admin", "t1"), ("bob", "read", "t2")])).unwrap();
        let alice = tokens.authorize(Some("Bearer t1"), Role::Admin).unwrap();
        assert_eq!(alice.name, "alice");
        assert_eq!(
            tokens.authorize(Some("bearer t2"), Role::Operate),
            Err(Denied::Forbidden {
                name: "bob".into(),
                held: Role::Read,
                needed: Role::Operate
            })
        );
        assert_eq!(
            tokens.authorize(Some("Bearer nope"), Role::Read),
            Err(Denied::Invalid)
        );
        assert_eq!(tokens.authorize(None, Role::Read), Err(Denied::Missing));
        assert_eq!(
            tokens.authorize(Some("Basic dDE="), Role::Read),
            Err(Denied::Missing)
        );
        assert_eq!(
            tokens.authorize(Some("Bearer "), Role::Read),
            Err(Denied::Missing)
        );
    }

    #[test]
    fn bad_file_lists_every_problem() {
        let text = "[[tokens]]\nname = \"\"\nrole = \"root\"\nsha256 = \"xyz\"\n\
                    [[tokens]]\nname = \"a\"\nrole = \"read\"\nsha256 = \"00\"\n";
        let problems = Tokens::parse(text).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("tokens[0].name"));
        assert!(problems[3].starts_with("tokens[1].sha256"));
        assert!(Tokens::parse("[[tokens]]\nname = \"a\"\nrole = \"read\"\n").is_err());
    }

    #[test]
    fn new_tokens_are_distinct_and_hash_to_64_hex() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with("weir_") && a.len() == 69);
        assert_eq!(token_hash(&a).len(), 64);
        assert!(parse_hex32(&token_hash(&a)).is_some());
    }
}
