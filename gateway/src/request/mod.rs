//! The request path's plain rules, kept apart from the Pingora adapter (`proxy.rs`) so each is
//! unit-tested without a server: who a failure is blamed on, the normal form of a path, what
//! the gateway checks and rewrites in a request's headers, and the request-body cap.

pub mod body;
pub mod failure;
pub mod headers;
pub mod path;
pub mod response;
