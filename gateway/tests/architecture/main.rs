//! The gateway's dependency rules (docs/ARCHITECTURE.md, *Invariants*), checked on the source:
//! every file under `gateway/src` is read for the paths it imports, and each rule names the
//! offending file:line. A new module must be placed in a layer before it builds green.

mod imports;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use imports::{Import, Place};

/// The layers, lowest first. A unit (a top-level module, or a folder with everything in it)
/// imports only from its own layer or those below, and test code is exempt (a test may compile
/// a snapshot to get its fixtures). `pingora`: whether the layer may use Pingora at all.
const LAYERS: &[Layer] = &[
    Layer {
        name: "base",
        units: &[
            "ewma",
            "metrics",
            "router",
            "client_ip",
            "trace_ctx",
            "header_values",
        ],
        pingora: false,
    },
    Layer {
        name: "policy",
        units: &["resilience/", "ratelimit/", "names/"],
        pingora: false,
    },
    // The places below the request lifecycle that hold Pingora types: a pool's upstream TLS,
    // loaded into the form Pingora's connector takes, which the runtime model carries; and the
    // edge TLS (`tls/`: certificate set, SNI resolver, the HTTPS listeners' acceptor, and
    // `tls/acme/`: the ACME task and its HTTP-01 tokens, a background service).
    Layer {
        name: "transport",
        units: &["upstream_tls", "tls/"],
        pingora: true,
    },
    Layer {
        name: "runtime model",
        units: &["endpoint", "runtime", "balance", "outlier"],
        pingora: false,
    },
    Layer {
        name: "request lifecycle",
        units: &["request/", "problem", "access_log"],
        pingora: true,
    },
    Layer {
        name: "compiler",
        units: &["snapshot", "ramp", "series"],
        pingora: false,
    },
    Layer {
        name: "process",
        units: &[
            "state",
            "reload",
            "watcher",
            "control_plane/",
            "health",
            "janitor",
            "reopen",
            "resolver",
            "drain",
            "sd_notify",
            "upgrade",
            "listener",
            "header_guard",
            "h2_watch",
            "stream_wrap",
            "supervise",
            "status",
            "admin",
        ],
        pingora: true,
    },
    Layer {
        name: "adapter",
        units: &["proxy", "server", "main", "lib"],
        pingora: true,
    },
];

/// The only files that may see a Pingora `Session` (or anything of `pingora::proxy`).
const SESSION_FILES: &[&str] = &["proxy.rs", "server.rs"];

struct Layer {
    name: &'static str,
    units: &'static [&'static str],
    pingora: bool,
}

/// One source file and what it imports.
struct File {
    /// Relative to `gateway/src`, e.g. `resilience/breaker.rs`.
    rel: String,
    unit: String,
    imports: Vec<Import>,
}

/// The unit of a module path: `resilience/` for anything in that folder, else the module.
fn unit_of(path: &[String], folders: &BTreeSet<String>) -> String {
    match path.first() {
        Some(first) if folders.contains(first) => format!("{first}/"),
        Some(first) => first.clone(),
        None => "lib".into(),
    }
}

fn layer_of(unit: &str) -> Option<(usize, &'static Layer)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, layer)| layer.units.contains(&unit))
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `resilience/breaker.rs` → `["resilience", "breaker"]`; `mod.rs` names its folder.
fn module_of(rel: &str) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Reads a crate's sources, given as (path relative to `src`, text).
fn read(sources: &[(String, String)]) -> Vec<File> {
    let modules: BTreeSet<String> = sources
        .iter()
        .map(|(rel, _)| module_of(rel).join("::"))
        .collect();
    let folders = folders(sources);
    let test_modules = RefCell::new(BTreeSet::new());
    let mut files: Vec<File> = sources
        .iter()
        .map(|(rel, text)| {
            let module = module_of(rel);
            let unit = if rel == "main.rs" {
                "main".to_string()
            } else {
                unit_of(&module, &folders)
            };
            let place = Place {
                module,
                modules: &modules,
                crate_name: if rel == "main.rs" {
                    "weir_gateway"
                } else {
                    "crate"
                },
                test_modules: &test_modules,
            };
            File {
                rel: rel.clone(),
                unit,
                imports: place.imports(text),
            }
        })
        .collect();
    // A file its parent declares `#[cfg(test)]` (and anything under it) is test code.
    let test_modules = test_modules.into_inner();
    for file in &mut files {
        let module = module_of(&file.rel);
        let is_test = (1..=module.len()).any(|n| test_modules.contains(&module[..n].join("::")));
        if is_test {
            file.imports.iter_mut().for_each(|i| i.in_test = true);
        }
    }
    files
}

fn folders(sources: &[(String, String)]) -> BTreeSet<String> {
    sources
        .iter()
        .filter_map(|(rel, _)| rel.split_once('/').map(|(dir, _)| dir.to_string()))
        .collect()
}

fn is_pingora(import: &Import) -> bool {
    import.external && import.path[0].starts_with("pingora")
}

fn sees_session(import: &Import) -> bool {
    is_pingora(import)
        && (import.path[0] == "pingora_proxy"
            || import.path.get(1).is_some_and(|s| s == "proxy")
            || import.path.iter().any(|s| s.ends_with("Session")))
}

/// Every broken rule, as `file:line: message`.
fn violations(files: &[File], folders: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for file in files {
        let Some((level, layer)) = layer_of(&file.unit) else {
            out.push(format!(
                "{}:1: unit `{}` is in no layer; place it in LAYERS (tests/architecture/main.rs) \
                 and in docs/ARCHITECTURE.md",
                file.rel, file.unit
            ));
            continue;
        };
        for import in &file.imports {
            let at = format!("{}:{}", file.rel, import.line);
            let shown = import.path.join("::");
            if import.external {
                if is_pingora(import) && !layer.pingora {
                    out.push(format!(
                        "{at}: the {} layer uses no Pingora, but `{}` imports `{shown}`",
                        layer.name, file.unit
                    ));
                }
                if sees_session(import) && !SESSION_FILES.contains(&file.rel.as_str()) {
                    out.push(format!(
                        "{at}: only {SESSION_FILES:?} see a Pingora session, not `{shown}`"
                    ));
                }
                continue;
            }
            if import.in_test {
                continue;
            }
            let target = unit_of(&import.path, folders);
            if target == file.unit {
                continue;
            }
            match layer_of(&target) {
                Some((target_level, target_layer)) if target_level > level => {
                    out.push(format!(
                        "{at}: `{}` ({}) imports `{shown}` from the {} layer above it",
                        file.unit, layer.name, target_layer.name
                    ));
                }
                Some(_) => {}
                None => out.push(format!("{at}: `{shown}` is in no layer")),
            }
        }
    }
    out.extend(loops(files, folders));
    out
}

/// Loops between units: a unit importing one that (through others) imports it back. Test code
/// counts too. Each loop is reported once, with the line of one edge in it.
fn loops(files: &[File], folders: &BTreeSet<String>) -> Vec<String> {
    // unit → (imported unit → first place it is imported at)
    let mut edges: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        for import in file.imports.iter().filter(|i| !i.external) {
            let target = unit_of(&import.path, folders);
            if target != file.unit {
                edges
                    .entry(file.unit.clone())
                    .or_default()
                    .entry(target)
                    .or_insert_with(|| format!("{}:{}", file.rel, import.line));
            }
        }
    }
    // The units on a shortest way from `from` to `to`, both included.
    let way = |from: &str, to: &str| -> Option<Vec<String>> {
        let mut came_from: BTreeMap<String, String> = BTreeMap::new();
        let mut todo = std::collections::VecDeque::from([from.to_string()]);
        while let Some(unit) = todo.pop_front() {
            if unit == to {
                let mut way = vec![unit];
                while let Some(prev) = came_from.get(way.last().expect("not empty")) {
                    way.push(prev.clone());
                }
                way.reverse();
                return Some(way);
            }
            for next in edges.get(&unit).into_iter().flat_map(|e| e.keys()) {
                if next != from && !came_from.contains_key(next) {
                    came_from.insert(next.clone(), unit.clone());
                    todo.push_back(next.clone());
                }
            }
        }
        None
    };
    let mut out = Vec::new();
    let mut reported = BTreeSet::new();
    for (from, targets) in &edges {
        for (to, at) in targets {
            let pair = if from < to { (from, to) } else { (to, from) };
            if let Some(back) = way(to, from)
                && reported.insert(pair)
            {
                out.push(format!(
                    "{at}: loop: `{from}` imports `{to}`, and {}",
                    back.join(" → ")
                ));
            }
        }
    }
    out
}

fn gateway_sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rs_files(&src, &mut paths);
    paths
        .iter()
        .map(|path| {
            let rel = path
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy();
            let text = std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (rel.replace('\\', "/"), text)
        })
        .collect()
}

#[test]
fn the_gateway_keeps_its_dependency_rules() {
    let sources = gateway_sources();
    assert!(sources.len() > 40, "found only {} files", sources.len());
    let files = read(&sources);
    let problems = violations(&files, &folders(&sources));
    assert!(
        problems.is_empty(),
        "dependency rules broken:\n{}",
        problems.join("\n")
    );
}

/// A small crate to check the checker on: it must see what the real one must never do.
fn toy(extra: &[(&str, &str)]) -> Vec<String> {
    // A file in `extra` replaces the toy's own of that name.
    let sources: BTreeMap<String, String> = [
        ("lib.rs", "pub mod ewma; pub mod resilience; pub mod state;"),
        ("ewma.rs", "pub struct PeakEwma;"),
        (
            "state.rs",
            "use crate::resilience::breaker::Breaker;\npub struct Gateway;",
        ),
        ("resilience/mod.rs", "pub mod breaker;\npub mod window;"),
        ("resilience/window.rs", "pub struct Window;"),
    ]
    .into_iter()
    .chain(extra.iter().copied())
    .map(|(rel, text)| (rel.to_string(), text.to_string()))
    .collect();
    let sources: Vec<(String, String)> = sources.into_iter().collect();
    let files = read(&sources);
    violations(&files, &folders(&sources))
}

#[test]
fn a_clean_crate_passes() {
    let breaker = "use super::window::Window;\nuse crate::ewma::PeakEwma;\npub struct Breaker;";
    assert_eq!(
        toy(&[("resilience/breaker.rs", breaker)]),
        Vec::<String>::new()
    );
}

#[test]
fn a_policy_folder_reaching_up_is_named_with_its_file_and_line() {
    let breaker = "//! Breakers.\n\nuse super::window::Window;\nuse crate::{ewma::PeakEwma, \
                   state::{self, Gateway}};\npub struct Breaker;";
    let problems = toy(&[("resilience/breaker.rs", breaker)]);
    assert!(
        problems.iter().any(|p| p.starts_with(
            "resilience/breaker.rs:4: `resilience/` (policy) \
                                               imports `state::Gateway` from the process layer"
        )),
        "{problems:#?}"
    );
    // `state` imports `resilience/` and now `resilience/` imports `state`: a loop.
    assert!(
        problems
            .iter()
            .any(|p| p.contains("loop: `resilience/` imports `state`, and state → resilience/")),
        "{problems:#?}"
    );
}

#[test]
fn super_paths_resolve_against_the_files_folder() {
    // From `resilience/window.rs`, `super::super::state` is the crate's `state`; from a test
    // module inside it, `super::` is the file itself (no violation) and test code may reach up.
    let window = "pub struct Window;\nfn f() { let _ = super::super::state::Gateway; }\n\
                  #[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::state::Gateway;\n}";
    let problems = toy(&[
        ("resilience/breaker.rs", "pub struct Breaker;"),
        ("resilience/window.rs", window),
    ]);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("resilience/window.rs:2: ")),
        "{problems:#?}"
    );
    assert!(
        !problems
            .iter()
            .any(|p| p.starts_with("resilience/window.rs:6: ")),
        "{problems:#?}"
    );
}

#[test]
fn pingora_outside_its_layers_and_sessions_outside_the_adapter_are_named() {
    let breaker = "use pingora::http::RequestHeader;\npub struct Breaker;";
    let state = "use crate::resilience::breaker::Breaker;\n\
                 fn f(s: &mut pingora::proxy::Session) {}\npub struct Gateway;";
    let problems = toy(&[("resilience/breaker.rs", breaker), ("state.rs", state)]);
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("resilience/breaker.rs:1: the policy layer uses no Pingora")),
        "{problems:#?}"
    );
    assert!(
        problems.iter().any(|p| p.starts_with("state.rs:2: only")),
        "{problems:#?}"
    );
}

#[test]
fn strings_comments_and_lifetimes_are_not_paths() {
    let breaker = "// use crate::state::Gateway;\n/* crate::state /* nested */ */\n\
                   const S: &str = \"crate::state::Gateway\";\nconst R: &str = r#\"use crate::state;\"#;\n\
                   const C: char = '\\'';\nfn f<'a>(x: &'a str) -> &'a str { x }\npub struct Breaker;";
    assert_eq!(
        toy(&[("resilience/breaker.rs", breaker)]),
        Vec::<String>::new()
    );
}

#[test]
fn a_file_declared_cfg_test_is_test_code() {
    let mod_rs = "pub mod breaker;\npub mod fixture;\npub mod window;\n\
                  #[cfg(test)]\npub(crate) mod fixture;";
    let problems = toy(&[
        ("resilience/breaker.rs", "pub struct Breaker;"),
        ("resilience/mod.rs", mod_rs),
        ("resilience/fixture.rs", "use crate::state::Gateway;"),
    ]);
    // Test code may reach up; it still may not close a loop (`state` imports `resilience/`).
    assert!(
        !problems
            .iter()
            .any(|p| p.contains("from the process layer")),
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("resilience/fixture.rs:1: loop")),
        "{problems:#?}"
    );
}
