// Copyright 2026 Cloudflare, Inc.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
// http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

use crate::*;
use bytes::Bytes;
use http::header;

#[derive(Debug, Clone)]
pub struct CaseHeaderName(Bytes);

impl CaseHeaderName {
    pub fn new(name: String) -> Self {
        CaseHeaderName(name.into())
    }
}

impl CaseHeaderName {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn from_slice(buf: &[u8]) -> Self {
        CaseHeaderName(Bytes::copy_from_slice(buf))
    }
}

/// A trait that converts into case-sensitive header names.
pub trait IntoCaseHeaderName {
    fn into_case_header_name(self) -> CaseHeaderName;

    /// The header name and its case-preserving form, as an insert stores them. The default
    /// parses the name from the case-preserving bytes, which allocates for a name `http` has no
    /// constant for; a lowercase `&'static str` and a [HeaderName] skip that.
    fn into_header_names(self) -> Result<(HeaderName, CaseHeaderName)>
    where
        Self: Sized,
    {
        parse_header_names(self.into_case_header_name())
    }
}

/// The header name of a case-preserving name, parsed from its bytes.
fn parse_header_names(case_header_name: CaseHeaderName) -> Result<(HeaderName, CaseHeaderName)> {
    let header_name = HeaderName::from_bytes(case_header_name.as_slice())
        .or_err(InvalidHTTPHeader, "invalid header name")?;
    Ok((header_name, case_header_name))
}

/// Whether `name` is a valid header name already in lower case: `HeaderName::from_static` takes
/// it without panicking and makes the same name `HeaderName::from_bytes` would.
fn is_lowercase_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 1 << 16
        && name.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

impl IntoCaseHeaderName for CaseHeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        self
    }
}

impl IntoCaseHeaderName for String {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(self.into())
    }
}

impl IntoCaseHeaderName for &'static str {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(self.into())
    }

    fn into_header_names(self) -> Result<(HeaderName, CaseHeaderName)> {
        if is_lowercase_token(self) {
            // Both refer to the static bytes: nothing is parsed, copied or allocated, and
            // cloning either (the case map keeps a copy of the name) is free.
            Ok((HeaderName::from_static(self), self.into_case_header_name()))
        } else {
            parse_header_names(self.into_case_header_name())
        }
    }
}

impl IntoCaseHeaderName for HeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(titled_header_name(&self))
    }

    fn into_header_names(self) -> Result<(HeaderName, CaseHeaderName)> {
        // The name is already parsed: parsing its titled form again gives the same name.
        let case_header_name = CaseHeaderName(titled_header_name(&self));
        Ok((self, case_header_name))
    }
}

impl IntoCaseHeaderName for &HeaderName {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(titled_header_name(self))
    }

    fn into_header_names(self) -> Result<(HeaderName, CaseHeaderName)> {
        Ok((self.clone(), CaseHeaderName(titled_header_name(self))))
    }
}

impl IntoCaseHeaderName for Bytes {
    fn into_case_header_name(self) -> CaseHeaderName {
        CaseHeaderName(self)
    }
}

fn titled_header_name(header_name: &HeaderName) -> Bytes {
    titled_header_name_str(header_name).map_or_else(
        || Bytes::copy_from_slice(header_name.as_str().as_bytes()),
        |s| Bytes::from_static(s.as_bytes()),
    )
}

pub(crate) fn titled_header_name_str(header_name: &HeaderName) -> Option<&'static str> {
    Some(match *header_name {
        header::ACCEPT_RANGES => "Accept-Ranges",
        header::AGE => "Age",
        header::CACHE_CONTROL => "Cache-Control",
        header::CONNECTION => "Connection",
        header::CONTENT_TYPE => "Content-Type",
        header::CONTENT_ENCODING => "Content-Encoding",
        header::CONTENT_LENGTH => "Content-Length",
        header::DATE => "Date",
        header::TRANSFER_ENCODING => "Transfer-Encoding",
        header::HOST => "Host",
        header::SERVER => "Server",
        header::SET_COOKIE => "Set-Cookie",
        // TODO: add more const header here to map to their titled case
        // TODO: automatically upper case the first letter?
        _ => {
            return None;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_header_names_match_parsing() {
        let names: [&'static str; 7] = [
            "x-request-id",
            "host",
            "content-length",
            "X-Custom",
            "a!#$%&'*+-.^_`|~0",
            "sp ace",
            "",
        ];
        for name in names {
            let parsed = parse_header_names(name.into_case_header_name());
            let fast = name.into_header_names();
            match (parsed, fast) {
                (Ok((p, pc)), Ok((f, fc))) => {
                    assert_eq!(p, f, "{name}");
                    assert_eq!(pc.as_slice(), fc.as_slice(), "{name}");
                }
                (Err(_), Err(_)) => {}
                (p, f) => panic!("{name}: {:?} vs {:?}", p.is_ok(), f.is_ok()),
            }
        }
        for name in [header::HOST, HeaderName::from_static("x-request-id")] {
            let parsed = parse_header_names((&name).into_case_header_name()).unwrap();
            let (fast, case) = (&name).into_header_names().unwrap();
            assert_eq!((parsed.0, parsed.1.as_slice()), (fast, case.as_slice()));
            let (owned, case) = name.clone().into_header_names().unwrap();
            assert_eq!(
                (owned, case.as_slice()),
                (name.clone(), parsed.1.as_slice())
            );
        }
    }

    #[test]
    fn test_case_header_name() {
        assert_eq!("FoO".into_case_header_name().as_slice(), b"FoO");
        assert_eq!("FoO".to_string().into_case_header_name().as_slice(), b"FoO");
        assert_eq!(header::SERVER.into_case_header_name().as_slice(), b"Server");
    }
}
