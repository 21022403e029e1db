//! DNS names among the pools' endpoints, as plain data and policy (no I/O, no Pingora): the
//! resolved view the compiler reads (`view`) and when each name is asked again and what of an
//! answer is kept (`schedule`). The lookups themselves run in `resolver.rs`.

pub mod schedule;
pub mod view;

pub use schedule::{Lookup, NameState};
pub use view::ResolvedNames;
