//! The request path's plain rules and lifecycle, kept apart from the Pingora adapter
//! (`proxy.rs`) so each is unit-tested without a server: admission, the attempts at the
//! upstream (outcomes, probe slots, timeouts, retries), the answers the gateway makes itself,
//! who a failure is blamed on, the request target (host, normal path) and the normal form of a
//! path, what the gateway checks and rewrites in a request's headers, the request-body cap, and the
//! redirect of plain HTTP to HTTPS.

pub mod admission;
pub mod answer;
pub mod attempt;
pub mod body;
pub mod failure;
#[cfg(test)]
pub(crate) mod fixture;
pub mod headers;
pub mod path;
pub mod redirect;
pub mod response;
pub mod target;
