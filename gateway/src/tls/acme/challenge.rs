//! The HTTP-01 challenge tokens being validated now (token → key authorization), answered on the
//! plain listener at `/.well-known/acme-challenge/{token}` before routing. Bounded: an order adds
//! one token per name and removes them when it ends, and a full map refuses new tokens (the
//! order fails and is retried) rather than grow.

use std::collections::HashMap;
use std::sync::Mutex;

/// The path prefix an ACME CA fetches an HTTP-01 token under (RFC 8555 §8.3).
pub const CHALLENGE_PREFIX: &str = "/.well-known/acme-challenge/";

/// At most this many tokens at once (orders run one at a time, one token per name).
pub const MAX_TOKENS: usize = 256;

/// The tokens of the orders in progress.
#[derive(Debug, Default)]
pub struct Challenges {
    tokens: Mutex<HashMap<String, String>>,
}

/// What a request under [`CHALLENGE_PREFIX`] gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChallengeReply {
    /// `200` with the key authorization as the body.
    Found(String),
    /// `404`: no order is waiting for this token.
    Unknown,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("too many ACME challenge tokens at once ({MAX_TOKENS})")]
pub struct TooManyTokens;

impl Challenges {
    /// Answer `token` with `key_authorization` until [`Challenges::remove`].
    pub fn insert(&self, token: String, key_authorization: String) -> Result<(), TooManyTokens> {
        let mut tokens = self.lock();
        if tokens.len() >= MAX_TOKENS && !tokens.contains_key(&token) {
            return Err(TooManyTokens);
        }
        tokens.insert(token, key_authorization);
        Ok(())
    }

    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The reply for a request to `path`, or `None` when the path is not a challenge's (the
    /// request is routed as usual).
    pub fn answer(&self, path: &str) -> Option<ChallengeReply> {
        let token = path.strip_prefix(CHALLENGE_PREFIX)?;
        Some(match self.lock().get(token) {
            Some(key_authorization) => ChallengeReply::Found(key_authorization.clone()),
            None => ChallengeReply::Unknown,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic while holding the lock leaves a plain map behind: keep using it.
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_answered_until_removed() {
        let challenges = Challenges::default();
        assert_eq!(challenges.answer("/api/users"), None);
        assert_eq!(
            challenges.answer("/.well-known/acme-challenge/abc"),
            Some(ChallengeReply::Unknown)
        );
        challenges.insert("abc".into(), "abc.thumb".into()).unwrap();
        assert_eq!(
            challenges.answer("/.well-known/acme-challenge/abc"),
            Some(ChallengeReply::Found("abc.thumb".into()))
        );
        assert_eq!(
            challenges.answer("/.well-known/acme-challenge/abcd"),
            Some(ChallengeReply::Unknown)
        );
        challenges.remove("abc");
        assert_eq!(
            challenges.answer("/.well-known/acme-challenge/abc"),
            Some(ChallengeReply::Unknown)
        );
    }

    #[test]
    fn the_map_is_bounded() {
        let challenges = Challenges::default();
        for n in 0..MAX_TOKENS {
            challenges.insert(format!("t{n}"), "k".into()).unwrap();
        }
        assert_eq!(
            challenges.insert("one more".into(), "k".into()),
            Err(TooManyTokens)
        );
        // The same token again replaces, it does not grow the map.
        challenges.insert("t0".into(), "k2".into()).unwrap();
        assert_eq!(challenges.len(), MAX_TOKENS);
    }
}
