//! Path normalisation before routing, so routes, rate limits and the origin all see one path:
//! percent-escapes of unreserved characters decoded and the rest upper-cased (RFC 3986 §6.2.2),
//! repeated slashes merged, dot-segments removed (§5.2.4). `%2F` stays encoded (it is data, not a
//! separator). Fails, rather than guesses, on a `..` above the root and on a bad escape.

use std::borrow::Cow;

/// Why a path cannot be normalised (the request is answered 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// An origin-form target that does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A `..` segment that would climb above the root.
    AboveRoot,
}

impl PathError {
    /// The problem detail for the client.
    pub fn detail(self) -> &'static str {
        match self {
            Self::NotAbsolute => "the request target must be an absolute path starting with '/'",
            Self::BadEscape => {
                "the path has an invalid percent-encoding ('%' not followed by two hex digits)"
            }
            Self::AboveRoot => "the path climbs above the root with '..'",
        }
    }

    /// The short reason, for logs and the access log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAbsolute => "path_not_absolute",
            Self::BadEscape => "path_bad_escape",
            Self::AboveRoot => "path_above_root",
        }
    }
}

/// The normal form of `path` (the path of the request target, without the query). Borrowed when
/// `path` is already normal, so the common case costs one scan and no allocation.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if is_normal(bytes) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(bytes)?;
    let out = remove_dot_segments(&decoded)?;
    // Only ASCII was rewritten; other bytes were copied whole, so this is still UTF-8.
    let out = String::from_utf8(out).map_err(|_| PathError::BadEscape)?;
    Ok(if out == path {
        Cow::Borrowed(path)
    } else {
        Cow::Owned(out)
    })
}

/// Whether `path` (starting with `/`) needs no work: no `%`, no empty segment inside, and no
/// segment starting with `.` (a conservative test for `.` and `..`).
fn is_normal(bytes: &[u8]) -> bool {
    let mut previous = 0u8;
    for &b in bytes {
        if b == b'%' || (previous == b'/' && (b == b'/' || b == b'.')) {
            return false;
        }
        previous = b;
    }
    true
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode escapes of unreserved characters; keep every other escape with upper-case hex.
fn decode_unreserved(bytes: &[u8]) -> Result<Vec<u8>, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (
            bytes.get(i + 1).copied().and_then(hex_value),
            bytes.get(i + 2).copied().and_then(hex_value),
        ) else {
            return Err(PathError::BadEscape);
        };
        let value = hi << 4 | lo;
        if is_unreserved(value) {
            out.push(value);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(hi)], HEX[usize::from(lo)]]);
        }
        i += 3;
    }
    Ok(out)
}

/// Merge repeated slashes and resolve `.` and `..` segments; `path` starts with `/`.
fn remove_dot_segments(path: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    // Segments after the leading '/'; an empty one (from "//") is dropped.
    let segments = path[1..].split(|&b| b == b'/');
    let count = path[1..].split(|&b| b == b'/').count();
    for (index, segment) in segments.enumerate() {
        let last = index + 1 == count;
        match segment {
            b"" | b"." => {
                // "/a/." and "/a/" both name the directory: keep a trailing slash.
                if last {
                    out.push(b'/');
                }
            }
            b".." => {
                let Some(cut) = out.iter().rposition(|&b| b == b'/') else {
                    return Err(PathError::AboveRoot);
                };
                out.truncate(cut);
                if last {
                    out.push(b'/');
                }
            }
            segment => {
                out.push(b'/');
                out.extend_from_slice(segment);
            }
        }
    }
    if out.is_empty() {
        out.push(b'/');
    }
    // A trailing-slash push after an empty output leaves "/", and never "//".
    if out.len() > 1 && out.ends_with(b"//") {
        out.pop();
    }
    Ok(out)
}

/// Whether the raw request target has a path to normalise: origin-form (`/x`) and absolute-form
/// (`http://a/x`) do; asterisk-form (`*`) and CONNECT's authority-form do not. Any other target
/// is not a valid request target.
pub fn has_path(raw: &[u8], connect: bool) -> Result<bool, PathError> {
    if connect || raw == b"*" {
        return Ok(false);
    }
    if raw.first() == Some(&b'/') || scheme_end(raw).is_some() {
        return Ok(true);
    }
    Err(PathError::NotAbsolute)
}

/// The index just past `scheme://` of an absolute-form target.
fn scheme_end(raw: &[u8]) -> Option<usize> {
    let colon = raw.iter().position(|&b| b == b':')?;
    let scheme = &raw[..colon];
    (!scheme.is_empty()
        && scheme[0].is_ascii_alphabetic()
        && scheme
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && raw[colon..].starts_with(b"://"))
    .then_some(colon + 3)
}

/// The raw target `raw` with its path replaced by `path`: scheme and authority (absolute-form)
/// and the query are kept byte for byte.
pub fn with_path(raw: &[u8], path: &str) -> Vec<u8> {
    let path_start = match scheme_end(raw) {
        Some(after) => raw[after..]
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .map_or(raw.len(), |i| after + i),
        None => 0,
    };
    let query_start = raw[path_start..]
        .iter()
        .position(|&b| b == b'?')
        .map_or(raw.len(), |i| path_start + i);
    let mut out = Vec::with_capacity(raw.len() + path.len());
    out.extend_from_slice(&raw[..path_start]);
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(&raw[query_start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_of_paths() {
        let cases: &[(&str, Result<&str, PathError>)] = &[
            ("/", Ok("/")),
            ("/api/x", Ok("/api/x")),
            ("/api/x/", Ok("/api/x/")),
            ("//api/x", Ok("/api/x")),
            ("/api//x///y", Ok("/api/x/y")),
            ("/%61pi/x", Ok("/api/x")),
            ("/%7euser/%2D%5F", Ok("/~user/-_")),
            ("/./api/x", Ok("/api/x")),
            ("/x/../api/x", Ok("/api/x")),
            ("/only-this/../secret", Ok("/secret")),
            ("/a/b/..", Ok("/a/")),
            ("/a/b/.", Ok("/a/b/")),
            ("/a/./b/../../c", Ok("/c")),
            ("/.well-known/x", Ok("/.well-known/x")),
            ("/a/...", Ok("/a/...")),
            ("/a/..b/c", Ok("/a/..b/c")),
            ("/%2e%2E/secret", Err(PathError::AboveRoot)),
            ("/api/%2e%2e/x", Ok("/x")),
            ("/..", Err(PathError::AboveRoot)),
            ("/../x", Err(PathError::AboveRoot)),
            ("/a/../../x", Err(PathError::AboveRoot)),
            ("/a%2Fb", Ok("/a%2Fb")),
            ("/a%2fb", Ok("/a%2Fb")),
            ("/a%2f..%2fb", Ok("/a%2F..%2Fb")),
            ("/q%3fx%20y", Ok("/q%3Fx%20y")),
            ("/bad%zz", Err(PathError::BadEscape)),
            ("/bad%4", Err(PathError::BadEscape)),
            ("/bad%", Err(PathError::BadEscape)),
            ("api/x", Err(PathError::NotAbsolute)),
            ("", Err(PathError::NotAbsolute)),
            ("//", Ok("/")),
            ("/.", Ok("/")),
            ("/é/./x", Ok("/é/x")),
        ];
        for (input, want) in cases {
            let got = normalize(input);
            assert_eq!(got.as_deref().map_err(|e| *e), *want, "{input:?}");
        }
    }

    #[test]
    fn targets_with_and_without_paths() {
        assert_eq!(has_path(b"/x?y", false), Ok(true));
        assert_eq!(has_path(b"http://a:1/x", false), Ok(true));
        assert_eq!(has_path(b"*", false), Ok(false));
        assert_eq!(has_path(b"a:443", true), Ok(false));
        assert_eq!(has_path(b"api/x", false), Err(PathError::NotAbsolute));
        assert_eq!(has_path(b"a:b", false), Err(PathError::NotAbsolute));
    }

    #[test]
    fn the_path_is_replaced_and_the_rest_kept() {
        let cases: &[(&str, &str, &str)] = &[
            ("//api/x?a=%2e%2e&b", "/api/x", "/api/x?a=%2e%2e&b"),
            ("/x/../y", "/y", "/y"),
            ("http://h:8/a//b?q", "/a/b", "http://h:8/a/b?q"),
            ("http://h?q", "/", "http://h/?q"),
        ];
        for (raw, path, want) in cases {
            let got = with_path(raw.as_bytes(), path);
            assert_eq!(String::from_utf8(got).unwrap(), *want, "{raw}");
        }
    }

    #[test]
    fn a_normal_path_is_borrowed() {
        for path in ["/", "/api/x", "/a/...", "/a/..b", "/x.y/z."] {
            assert!(
                matches!(normalize(path), Ok(Cow::Borrowed(_))),
                "{path} should be borrowed"
            );
        }
        assert!(matches!(normalize("//x"), Ok(Cow::Owned(_))));
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        for path in ["//a/./b/../%63", "/%2f/%41/..", "/a/b/c/../../d//"] {
            let once = normalize(path).unwrap().into_owned();
            assert_eq!(normalize(&once).unwrap(), once, "{path}");
        }
    }
}
