//! Reports of a run: the data model (`model`), and its text, JSON and HTML renderings.
#![allow(dead_code)] // wip: removed once the run engine uses the model

pub mod build;
pub mod html;
pub mod model;
pub mod text;
