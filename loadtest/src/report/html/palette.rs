//! The charts' colors: one per series, per status class and per `--group-by-header` value.

use crate::report::model::{GroupKind, GroupReport};

/// Series colors, also used by the status layers below.
pub(super) const BLUE: &str = "#2563eb";
pub(super) const GREEN: &str = "#16a34a";
pub(super) const AMBER: &str = "#d97706";
pub(super) const RED: &str = "#dc2626";
pub(super) const PURPLE: &str = "#9333ea";
pub(super) const SLATE: &str = "#64748b";
pub(super) const INK: &str = "#1f2937";
/// Colors of the `--group-by-header` values, in order (the last two: other, no header).
pub(super) const GROUP_COLORS: [&str; 18] = [
    "#2563eb", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#65a30d", "#ea580c",
    "#4f46e5", "#0d9488", "#c026d3", "#ca8a04", "#1d4ed8", "#15803d", "#b45309", "#7e22ce",
    "#94a3b8", "#475569",
];

/// A group's color: by position among the values; `other` and `no header` keep theirs.
pub(super) fn group_color(groups: &GroupReport, index: usize) -> &'static str {
    match groups.values.get(index).map(|v| v.kind) {
        Some(GroupKind::Other) => GROUP_COLORS[16],
        Some(GroupKind::Missing) => GROUP_COLORS[17],
        _ => GROUP_COLORS[index % 16],
    }
}

/// Layers of the status chart, bottom to top: name and color; the values are in `buckets`'
/// `Bucket::stack`.
pub(super) const STATUS_SERIES: [(&str, &str); 6] = [
    ("2xx", GREEN),
    ("1xx/3xx", SLATE),
    ("429", AMBER),
    ("4xx", PURPLE),
    ("5xx", RED),
    ("transport errors", INK),
];
