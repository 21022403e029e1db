//! Reads what a Rust source file imports, without a compiler: a small lexer (comments, strings,
//! chars and lifetimes skipped, lines counted) and a parser for `use` trees (grouped, nested,
//! `self`, `as`, globs) and for `crate::`/`super::` paths written inline, resolved against the
//! file's place in the module tree. A path it cannot place is reported as external.

use std::cell::RefCell;
use std::collections::BTreeSet;

/// One path a file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub line: usize,
    /// Crate-internal: the absolute module path (`["resilience", "breaker", "Admission"]`).
    /// External: the path as written, its crate first (`["pingora", "proxy", "Session"]`).
    pub path: Vec<String>,
    pub external: bool,
    /// Inside `#[cfg(test)]` code.
    pub in_test: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(String),
    /// A string, char or number literal, or a lifetime: never part of a path.
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Skips a string body from just after its opening quote; returns the index after the closing one.
fn skip_string(b: &[char], mut i: usize, line: &mut usize) -> usize {
    while i < b.len() {
        match b[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            c => {
                if c == '\n' {
                    *line += 1;
                }
                i += 1;
            }
        }
    }
    i
}

/// Skips a raw string body (after `r##"`) closed by `"` and `hashes` `#`s.
fn skip_raw_string(b: &[char], mut i: usize, hashes: usize, line: &mut usize) -> usize {
    while i < b.len() {
        if b[i] == '"'
            && b[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return i + 1 + hashes;
        }
        if b[i] == '\n' {
            *line += 1;
        }
        i += 1;
    }
    i
}

/// Skips a char literal from its opening quote; returns the index after the closing one.
fn skip_char(b: &[char], i: usize) -> usize {
    // `'\n'`, `'\''`, `'\u{1F600}'`: skip the quote, the backslash and the escaped char first.
    let mut j = if b.get(i + 1) == Some(&'\\') {
        i + 3
    } else {
        i + 2
    };
    while j < b.len() && b[j] != '\'' {
        j += 1;
    }
    j + 1
}

fn lex(src: &str) -> Vec<Token> {
    let b: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    let next = |i: usize| b.get(i + 1).copied().unwrap_or('\0');
    while i < b.len() {
        let c = b[i];
        let start_line = line;
        let mut push = |tok| {
            out.push(Token {
                tok,
                line: start_line,
            })
        };
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next(i) == '/' {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next(i) == '*' {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && next(i) == '*' {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && next(i) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&b, i + 1, &mut line);
            push(Tok::Other);
        } else if c == '\'' {
            if next(i) == '\\' || b.get(i + 2) == Some(&'\'') {
                i = skip_char(&b, i);
            } else {
                // A lifetime or a loop label.
                i += 1;
                while i < b.len() && is_ident_char(b[i]) {
                    i += 1;
                }
            }
            push(Tok::Other);
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && is_ident_char(b[i]) {
                i += 1;
            }
            let word: String = b[start..i].iter().collect();
            let at = b.get(i).copied().unwrap_or('\0');
            if matches!(word.as_str(), "r" | "br" | "cr") && (at == '"' || at == '#') {
                let mut hashes = 0;
                while b.get(i + hashes) == Some(&'#') {
                    hashes += 1;
                }
                if b.get(i + hashes) == Some(&'"') {
                    i = skip_raw_string(&b, i + hashes + 1, hashes, &mut line);
                    push(Tok::Other);
                    continue;
                }
                if word == "r" && hashes == 1 {
                    // A raw identifier, `r#type`.
                    let start = i + 1;
                    i = start;
                    while i < b.len() && is_ident_char(b[i]) {
                        i += 1;
                    }
                    push(Tok::Ident(b[start..i].iter().collect()));
                    continue;
                }
            }
            if matches!(word.as_str(), "b" | "c") && at == '"' {
                i = skip_string(&b, i + 1, &mut line);
                push(Tok::Other);
            } else if word == "b" && at == '\'' {
                i = skip_char(&b, i);
                push(Tok::Other);
            } else {
                push(Tok::Ident(word));
            }
        } else if c.is_ascii_digit() {
            while i < b.len() && (is_ident_char(b[i]) || (b[i] == '.' && next(i).is_ascii_digit()))
            {
                i += 1;
            }
            push(Tok::Other);
        } else if c == ':' && next(i) == ':' {
            push(Tok::Punct("::".into()));
            i += 2;
        } else {
            push(Tok::Punct(c.to_string()));
            i += 1;
        }
    }
    out
}

/// Where a file sits: its module path and the crate's modules, to resolve relative paths.
pub struct Place<'a> {
    /// `["resilience", "breaker"]` for `src/resilience/breaker.rs`, `[]` for `lib.rs`.
    pub module: Vec<String>,
    /// Every module path of the crate, e.g. `"resilience::breaker"`.
    pub modules: &'a BTreeSet<String>,
    /// Paths starting with this name are crate-internal too (`weir_gateway` in `main.rs`).
    pub crate_name: &'a str,
    /// Filled in: the file modules declared `#[cfg(test)] mod name;` here, e.g.
    /// `"request::fixture"`.
    pub test_modules: &'a RefCell<BTreeSet<String>>,
}

struct Frame {
    module: Vec<String>,
    /// The brace depth the frame's block opened at.
    depth: usize,
    test: bool,
}

fn is(t: Option<&Token>, s: &str) -> bool {
    match t.map(|t| &t.tok) {
        Some(Tok::Ident(w)) | Some(Tok::Punct(w)) => w == s,
        _ => false,
    }
}

fn ident(t: Option<&Token>) -> Option<&str> {
    match t.map(|t| &t.tok) {
        Some(Tok::Ident(w)) => Some(w),
        _ => None,
    }
}

/// Parses one use tree at `*i`, appending each full path (as written) to `out`.
fn use_tree(toks: &[Token], i: &mut usize, mut prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    loop {
        let t = toks.get(*i);
        if is(t, "{") {
            *i += 1;
            while *i < toks.len() && !is(toks.get(*i), "}") {
                use_tree(toks, i, prefix.clone(), out);
                if is(toks.get(*i), ",") {
                    *i += 1;
                }
            }
            *i += 1;
            return;
        } else if is(t, "*") {
            *i += 1;
            prefix.push("*".into());
            out.push(prefix);
            return;
        } else if is(t, "::") {
            *i += 1;
        } else if let Some(name) = ident(t) {
            prefix.push(name.to_string());
            *i += 1;
            if is(toks.get(*i), "::") {
                *i += 1;
                continue;
            }
            if is(toks.get(*i), "as") {
                *i += 2;
            }
            out.push(prefix);
            return;
        } else {
            // Not a path (malformed or unexpected): stop this branch.
            *i += 1;
            return;
        }
    }
}

impl Place<'_> {
    fn is_module(&self, path: &[String]) -> bool {
        self.modules.contains(&path.join("::"))
    }

    /// Resolves a path as written in module `here`: `Some(absolute)` inside the crate, `None`
    /// for an external one. `relative` allows a first segment naming a child module (as `use`
    /// paths may since the 2018 edition).
    fn resolve(&self, here: &[String], path: &[String], relative: bool) -> Option<Vec<String>> {
        let first = path.first()?.as_str();
        let mut abs: Vec<String>;
        let rest: &[String];
        if first == "crate" || first == self.crate_name {
            abs = Vec::new();
            rest = &path[1..];
        } else if first == "self" {
            abs = here.to_vec();
            rest = &path[1..];
        } else if first == "super" {
            abs = here.to_vec();
            let supers = path.iter().take_while(|s| *s == "super").count();
            for _ in 0..supers {
                abs.pop();
            }
            rest = &path[supers..];
        } else if relative && self.is_module(&[here, &path[..1]].concat()) {
            abs = here.to_vec();
            rest = path;
        } else {
            return None;
        }
        // `use a::b::{self}` names `a::b` itself.
        abs.extend(rest.iter().filter(|s| *s != "self").cloned());
        Some(abs)
    }

    /// Every path the source names, in order.
    pub fn imports(&self, src: &str) -> Vec<Import> {
        let toks = lex(src);
        let mut frames = vec![Frame {
            module: self.module.clone(),
            depth: 0,
            test: false,
        }];
        let (mut depth, mut i, mut cfg_test, mut out) = (0, 0, false, Vec::new());
        while i < toks.len() {
            let frame = frames.last().expect("the file's own frame is never popped");
            let (here, in_frame_test) = (frame.module.clone(), frame.test);
            let prev = i.checked_sub(1).and_then(|p| toks.get(p));
            let t = &toks[i];
            match &t.tok {
                Tok::Punct(p) if p == "#" => {
                    let attr: Vec<_> = toks[i..].iter().take(7).map(|t| t.tok.clone()).collect();
                    let words = ["#", "[", "cfg", "(", "test", ")", "]"];
                    if attr.len() == 7
                        && attr
                            .iter()
                            .zip(words)
                            .all(|(t, w)| matches!(t, Tok::Ident(s) | Tok::Punct(s) if s == w))
                    {
                        cfg_test = true;
                        i += 7;
                        continue;
                    }
                }
                Tok::Punct(p) if p == "{" => {
                    depth += 1;
                    if cfg_test {
                        // A test-only item's body: same module, test code.
                        frames.push(Frame {
                            module: here.clone(),
                            depth,
                            test: true,
                        });
                        cfg_test = false;
                    }
                }
                Tok::Punct(p) if p == "}" => {
                    if frames.len() > 1 && frames.last().is_some_and(|f| f.depth == depth) {
                        frames.pop();
                    }
                    depth = depth.saturating_sub(1);
                }
                Tok::Punct(p) if p == ";" => cfg_test = false,
                Tok::Ident(w) if w == "mod" => {
                    if let Some(name) = ident(toks.get(i + 1))
                        && is(toks.get(i + 2), ";")
                        && (in_frame_test || cfg_test)
                    {
                        // `#[cfg(test)] mod fixture;`: the whole file is test code.
                        let mut module = here.clone();
                        module.push(name.to_string());
                        self.test_modules.borrow_mut().insert(module.join("::"));
                    }
                    if let Some(name) = ident(toks.get(i + 1))
                        && is(toks.get(i + 2), "{")
                    {
                        depth += 1;
                        let mut module = here.clone();
                        module.push(name.to_string());
                        frames.push(Frame {
                            module,
                            depth,
                            test: in_frame_test || cfg_test,
                        });
                        cfg_test = false;
                        i += 3;
                        continue;
                    }
                }
                Tok::Ident(w) if w == "use" && !is(toks.get(i + 1), "<") => {
                    let line = t.line;
                    let test = in_frame_test || cfg_test;
                    let mut paths = Vec::new();
                    i += 1;
                    use_tree(&toks, &mut i, Vec::new(), &mut paths);
                    for path in paths {
                        out.push(self.import(&here, path, line, test, true));
                    }
                    continue;
                }
                Tok::Ident(w)
                    if !is(prev, "::")
                        && is(toks.get(i + 1), "::")
                        && (w == "crate"
                            || w == "super"
                            || w == self.crate_name
                            || w.starts_with("pingora")) =>
                {
                    let line = t.line;
                    let mut path = vec![w.clone()];
                    i += 1;
                    while is(toks.get(i), "::") {
                        match ident(toks.get(i + 1)) {
                            Some(seg) => path.push(seg.to_string()),
                            None => break,
                        }
                        i += 2;
                    }
                    let test = in_frame_test || cfg_test;
                    out.push(self.import(&here, path, line, test, false));
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        out
    }

    fn import(
        &self,
        here: &[String],
        path: Vec<String>,
        line: usize,
        in_test: bool,
        relative: bool,
    ) -> Import {
        match self.resolve(here, &path, relative) {
            Some(abs) => Import {
                line,
                path: abs,
                external: false,
                in_test,
            },
            None => Import {
                line,
                path,
                external: true,
                in_test,
            },
        }
    }
}
