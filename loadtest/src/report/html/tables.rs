//! How a table is drawn: a captioned two-column table of keys and values, and a titled table
//! whose numeric columns are right-aligned.

use std::fmt::Write;

use super::escape::escape;

/// A small two-column table with a caption.
pub(super) fn key_values(out: &mut String, caption: &str, rows: &[(&str, String)]) {
    let _ = write!(
        out,
        "<table class=\"kv\"><caption>{}</caption><tbody>",
        escape(caption)
    );
    for (key, value) in rows {
        let _ = write!(
            out,
            "<tr><th>{}</th><td class=\"num\">{}</td></tr>",
            escape(key),
            escape(value)
        );
    }
    out.push_str("</tbody></table>");
}

/// A table: headers (a trailing `#` marks a numeric column), then rows of (class, cells).
pub(super) fn table(out: &mut String, title: &str, headers: &[&str], rows: &[(&str, Vec<String>)]) {
    let _ = write!(
        out,
        "<section><h2>{}</h2><div class=\"scroll\"><table><thead><tr>",
        escape(title)
    );
    for h in headers {
        let (name, class) = header_class(h);
        let _ = write!(out, "<th{class}>{}</th>", escape(name));
    }
    out.push_str("</tr></thead><tbody>");
    for (row_class, cells) in rows {
        let _ = write!(out, "<tr class=\"{row_class}\">");
        for (i, cell) in cells.iter().enumerate() {
            let class = headers.get(i).map_or("", |h| header_class(h).1);
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></section>");
}

fn header_class(h: &str) -> (&str, &'static str) {
    match h.strip_suffix('#') {
        Some(name) => (name, " class=\"num\""),
        None => (h, ""),
    }
}
