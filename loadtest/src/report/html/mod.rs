//! The report as one self-contained HTML page (inline CSS and SVG charts, no script, nothing
//! fetched); all text from the report is escaped, and any report renders.
//!
//! `page` lays out the sections in order: the key figures (`cards`), the charts (`charts`, with
//! `spectrum` and `timeline` drawn by `svg` over `buckets` of the timeline in `palette`'s
//! colors), then the tables (`totals`, `breakdown`, `events`, drawn by `tables`). Every piece of
//! text goes through `escape`; the style sheet is `report.css`.

mod breakdown;
mod buckets;
mod cards;
mod charts;
mod escape;
mod events;
mod page;
mod palette;
mod spectrum;
mod svg;
mod tables;
mod timeline;
mod totals;

#[cfg(test)]
mod tests;

pub use page::render_html;
