//! The HTML page of each fixture report against its checked-in copy in `loadtest/tests/golden/`,
//! byte for byte, so a change to the page is seen in review and a refactor provably changes
//! nothing. After an intended change, rewrite the copies with
//! `WEIR_UPDATE_GOLDEN=1 cargo test -p weir-loadtest golden` and review the diff.

use std::path::PathBuf;

use super::fixture;
use super::html::render_html;
use super::model::Report;

/// Where the expected pages live.
fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// Where `actual` and `expected` first differ: the line number and both lines, shortened.
fn first_difference(actual: &str, expected: &str) -> String {
    let mut lines = actual.lines().zip(expected.lines()).enumerate();
    match lines.find(|(_, (a, e))| a != e) {
        Some((i, (a, e))) => {
            let at = a.bytes().zip(e.bytes()).take_while(|(x, y)| x == y).count();
            let from = at.saturating_sub(80);
            let around = |s: &str| s[boundary(s, from)..boundary(s, at + 80)].to_owned();
            format!(
                "line {}, byte {at}:\n  actual:   …{}…\n  expected: …{}…",
                i + 1,
                around(a),
                around(e)
            )
        }
        None => format!(
            "one is a prefix of the other ({} vs {} bytes)",
            actual.len(),
            expected.len()
        ),
    }
}

/// The char boundary at or before `i` (at most the length).
fn boundary(s: &str, i: usize) -> usize {
    (0..=i.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

fn check(name: &str, report: &Report) {
    let path = golden_dir().join(format!("{name}.html"));
    let actual = render_html(report);
    if std::env::var_os("WEIR_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &actual).expect("write the golden page");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    assert!(
        actual == expected,
        "the page for the {name} fixture differs from {}: {}\n(after an intended change: \
         WEIR_UPDATE_GOLDEN=1 cargo test -p weir-loadtest golden)",
        path.display(),
        first_difference(&actual, &expected)
    );
}

#[test]
fn golden_pages_are_unchanged() {
    check("open", &fixture::open());
    check("closed", &fixture::closed());
    check("empty", &fixture::empty());
}
