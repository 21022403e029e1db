//! Reports of a run: the data model (`model`), built from a recording (`build`), and its text
//! and HTML renderings (`text`, `html` with its SVG charts, and `units` formatting).

pub mod build;
pub mod html;
pub mod model;
pub mod text;
mod units;

#[cfg(test)]
pub mod fixture;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod tests;
