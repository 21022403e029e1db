//! One function per weirctl command: the API calls it makes (docs/control-plane.md#api) and the
//! text it prints. Each returns its standard output, or the failure that sets the exit code; a
//! config file that cannot be read is a usage error.

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::json;
use weir_protocol::api::{
    ConfigVersion, EndpointSet, GatewayList, RegionRestored, RolledBack, Route, WeightBody,
    WeightSet, Written,
};

use crate::cli::{Command, ConfigCommand, Target, WriteArgs};
use crate::client::{Request, Transport};
use crate::error::Failure;
use crate::output;

/// Runs `command`; `json` prints the server's answers instead of text. `stdin` feeds
/// `config apply -f -`.
pub fn run(
    command: &Command,
    api: &dyn Transport,
    json: bool,
    stdin: &mut dyn Read,
) -> Result<String, Failure> {
    match command {
        Command::Status => status(api, json),
        Command::Config(ConfigCommand::Get { version }) => config_get(api, json, *version),
        Command::Config(ConfigCommand::Apply {
            file,
            dry_run,
            force,
            canary,
            bake,
            write,
        }) => {
            let file = read_config(file, stdin)?;
            let staged = (canary.as_deref(), bake.as_deref());
            config_apply(api, json, file, (*dry_run, *force), staged, write)
        }
        Command::Config(ConfigCommand::History { limit, before }) => {
            let request = Request::to(Route::ListVersions, &[])
                .query_opt("limit", *limit)
                .query_opt("before", *before);
            show(api, json, &request, output::history)
        }
        Command::Config(ConfigCommand::Rollback { version, write }) => {
            let request = writing(Request::to(Route::Rollback, &[&version.to_string()]), write);
            show(api, json, &request, |answer: &Written<RolledBack>| {
                output::written(
                    answer,
                    &format!("rolled back to version {version}"),
                    &format!("the current config already equals version {version}"),
                )
            })
        }
        Command::Weight {
            upstream,
            region,
            weight,
            dns,
            write,
        } => set_weight(api, json, (upstream, *dns), region, *weight, write),
        Command::Drain { target, write } => match target_of(target)? {
            On::Region(region) => {
                let request = writing(Request::to(Route::DrainRegion, &[region]), write);
                show(api, json, &request, |answer: &Written<()>| {
                    output::written(
                        answer,
                        &format!(
                            "drained region {region} (every pool and DNS member at weight 0; \
                             `weirctl restore {region}` puts the weights back)"
                        ),
                        &format!("region {region} is already drained"),
                    )
                })
            }
            On::Endpoint(addr, upstream) => {
                endpoint_state(api, json, Route::DrainEndpoint, addr, upstream, write)
            }
        },
        Command::Restore { target, write } => match target_of(target)? {
            On::Region(region) => {
                let request = writing(Request::to(Route::RestoreRegion, &[region]), write);
                show(api, json, &request, |answer: &Written<RegionRestored>| {
                    let mut out = output::written(
                        answer,
                        &format!("restored region {region} (it ramps up through slow start)"),
                        &format!("region {region} already has its weights"),
                    );
                    let skipped = &answer.detail.skipped;
                    if !skipped.is_empty() {
                        let skipped: Vec<String> =
                            skipped.iter().map(|pool| output::cell(pool)).collect();
                        out.push_str(&format!(
                            "not restored (gone since the drain): {}\n",
                            skipped.join(", ")
                        ));
                    }
                    out
                })
            }
            On::Endpoint(addr, upstream) => {
                endpoint_state(api, json, Route::RestoreEndpoint, addr, upstream, write)
            }
        },
        Command::Gateways => show(
            api,
            json,
            &Request::to(Route::Gateways, &[]),
            output::gateways,
        ),
        Command::Dns => show(api, json, &Request::to(Route::Gateways, &[]), output::dns),
        Command::Telemetry => show(
            api,
            json,
            &Request::to(Route::TelemetryList, &[]),
            output::telemetry,
        ),
        Command::Failover(command) => crate::failover::run(command, api, json),
        Command::Rollout(command) => crate::rollout::run(command, api, json),
        Command::Audit { limit } => show(
            api,
            json,
            &Request::to(Route::Audit, &[]).query_opt("limit", *limit),
            output::audit,
        ),
    }
}

/// A call whose answer is printed pretty as the server wrote it (`--json`), or read as the
/// API's type `T` and put into words by `format`.
fn show<T: DeserializeOwned>(
    api: &dyn Transport,
    json: bool,
    request: &Request,
    format: impl FnOnce(&T) -> String,
) -> Result<String, Failure> {
    let reply = api.call(request)?;
    Ok(if json {
        output::pretty(&reply.json()?)
    } else {
        format(&reply.parse()?)
    })
}

/// What a `drain` or `restore` acts on.
enum On<'a> {
    Region(&'a str),
    Endpoint(&'a str, Option<&'a str>),
}

fn target_of(target: &Target) -> Result<On<'_>, Failure> {
    match (&target.region, &target.endpoint) {
        (Some(region), None) => Ok(On::Region(region)),
        (None, Some(endpoint)) => Ok(On::Endpoint(endpoint, target.upstream.as_deref())),
        _ => Err(Failure::Usage(
            "give a REGION or --endpoint ADDR".to_string(),
        )),
    }
}

/// `POST /v1/endpoints/{addr}/drain` or `/restore` (`?upstream=` to narrow it to one upstream).
fn endpoint_state(
    api: &dyn Transport,
    json: bool,
    route: Route,
    addr: &str,
    upstream: Option<&str>,
    write: &WriteArgs,
) -> Result<String, Failure> {
    let request = writing(Request::to(route, &[addr]), write).query_opt("upstream", upstream);
    show(api, json, &request, |answer: &Written<EndpointSet>| {
        let pools: Vec<String> = answer
            .detail
            .pools
            .iter()
            .map(|pool| output::cell(pool))
            .collect();
        let (done, unchanged) = if route == Route::DrainEndpoint {
            (
                format!(
                    "drained endpoint {addr} in {} (no new requests; those in flight finish; \
                     `weirctl restore --endpoint {addr}` sends it traffic again)",
                    pools.join(", ")
                ),
                format!("endpoint {addr} is already drained"),
            )
        } else {
            (
                format!(
                    "restored endpoint {addr} in {} (it ramps up through slow start)",
                    pools.join(", ")
                ),
                format!("endpoint {addr} is not drained"),
            )
        };
        output::written(answer, &done, &unchanged)
    })
}

/// `?message=` and `If-Match` of a change.
fn writing(request: Request, write: &WriteArgs) -> Request {
    request
        .query_opt("message", write.message.as_deref())
        .if_match(write.if_version)
}

/// `GET /v1/config` (404: no version yet) and `GET /v1/gateways`. With `--json`:
/// `{"config": <the version or null>, "gateways": <the gateways answer>}`.
fn status(api: &dyn Transport, json: bool) -> Result<String, Failure> {
    let config = match api.call(&Request::to(Route::GetConfig, &[])) {
        Ok(reply) => Some(reply),
        Err(failure) if failure.status() == Some(404) => None,
        Err(failure) => return Err(failure),
    };
    let gateways = Request::to(Route::Gateways, &[]);
    if json {
        let config = config.map(|reply| reply.json()).transpose()?;
        let gateways = api.call(&gateways)?.json()?;
        return Ok(output::pretty(
            &json!({ "config": config, "gateways": gateways }),
        ));
    }
    let config: Option<ConfigVersion> = config.map(|reply| reply.parse()).transpose()?;
    let gateways: GatewayList = api.call(&gateways)?.parse()?;
    Ok(output::status(config.as_ref(), &gateways))
}

/// The TOML of the current version (`?format=toml`) or of version N (its `config` field).
fn config_get(api: &dyn Transport, json: bool, version: Option<u64>) -> Result<String, Failure> {
    let request = match version {
        Some(version) => Request::to(Route::GetVersion, &[&version.to_string()]),
        None => Request::to(Route::GetConfig, &[]),
    };
    if json {
        return Ok(output::pretty(&api.call(&request)?.json()?));
    }
    let mut text = match version {
        None => api.call(&request.query("format", "toml"))?.body,
        Some(_) => api.call(&request)?.parse::<ConfigVersion>()?.config,
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// A config to send: its bytes and how they are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFile {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

const TOML: &str = "application/toml";
const JSON: &str = "application/json";

/// Reads `path` (`-`: standard input). JSON when the file ends in `.json`, or for standard
/// input when it starts with `{` (a TOML document cannot); TOML otherwise.
pub fn read_config(path: &Path, stdin: &mut dyn Read) -> Result<ConfigFile, Failure> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        stdin.read_to_end(&mut bytes).map_err(|e| {
            Failure::Usage(format!("cannot read the config from standard input: {e}"))
        })?;
        let starts_like_json = bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        let content_type = if starts_like_json { JSON } else { TOML };
        return Ok(ConfigFile {
            content_type,
            bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(|e| {
        Failure::Usage(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
    })?;
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    Ok(ConfigFile {
        content_type: if is_json { JSON } else { TOML },
        bytes,
    })
}

/// `PUT /v1/config`: stores (or with `dry_run` only checks) the file, printing the changes.
fn config_apply(
    api: &dyn Transport,
    json: bool,
    file: ConfigFile,
    (dry_run, force): (bool, bool),
    (canary, bake): (Option<&str>, Option<&str>),
    write: &WriteArgs,
) -> Result<String, Failure> {
    let request = writing(
        Request::to(Route::PutConfig, &[]).body(file.content_type, file.bytes),
        write,
    )
    .query_opt("dry_run", dry_run.then_some(true))
    .query_opt("force", force.then_some(true))
    .query_opt("canary", canary)
    .query_opt("bake", bake);
    show(api, json, &request, output::applied)
}

/// `PUT /v1/upstreams/{upstream}/pools/{region}/weight` with `{"weight": N}`, or with `dns`
/// `PUT /v1/dns/names/{name}/members/{region}/weight`.
fn set_weight(
    api: &dyn Transport,
    json: bool,
    (upstream, dns): (&str, bool),
    region: &str,
    weight: u8,
    write: &WriteArgs,
) -> Result<String, Failure> {
    let body = WeightBody {
        weight: u32::from(weight),
    };
    let body = serde_json::to_vec(&body).expect("a weight body always serializes");
    let route = if dns {
        Route::SetMemberWeight
    } else {
        Route::SetWeight
    };
    let request = writing(
        Request::to(route, &[upstream, region]).body(JSON, body),
        write,
    );
    show(api, json, &request, |answer: &Written<WeightSet>| {
        let change = match answer.detail.previous_weight {
            Some(previous) => format!("{previous} -> {weight}"),
            None => format!("-> {weight}"),
        };
        let mut out = output::written(
            answer,
            &format!("{upstream}/{region} weight {change}"),
            &format!("{upstream}/{region} already has weight {weight}"),
        );
        out.push_str(&output::warnings(&answer.detail.warnings));
        out
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;

    use serde_json::Value;

    use super::*;
    use crate::client::Reply;
    use crate::connection::{Endpoint, Source};
    use crate::error::exit;

    /// Answers from a script, remembering what was sent.
    struct Script {
        endpoint: Endpoint,
        answers: RefCell<VecDeque<(u16, String)>>,
        sent: RefCell<Vec<Request>>,
    }

    impl Script {
        fn new(answers: Vec<(u16, &str)>) -> Script {
            Script {
                endpoint: Endpoint {
                    url: "http://cp:7700".into(),
                    url_from: Source::Env("WEIR_URL"),
                    token_from: Source::Env("WEIR_TOKEN"),
                },
                answers: RefCell::new(
                    answers
                        .into_iter()
                        .map(|(status, body)| (status, body.to_string()))
                        .collect(),
                ),
                sent: RefCell::new(Vec::new()),
            }
        }

        fn sent(&self) -> Vec<Request> {
            self.sent.borrow().clone()
        }

        fn run(&self, args: &[&str]) -> Result<String, Failure> {
            self.run_with_stdin(args, b"")
        }

        fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Result<String, Failure> {
            use clap::Parser;
            let cli = crate::cli::Cli::try_parse_from(
                std::iter::once("weirctl").chain(args.iter().copied()),
            )
            .unwrap();
            run(&cli.command, self, cli.json, &mut &stdin[..])
        }
    }

    impl Transport for Script {
        fn endpoint(&self) -> &Endpoint {
            &self.endpoint
        }

        fn send(&self, request: &Request) -> Result<Reply, Failure> {
            self.sent.borrow_mut().push(request.clone());
            let (status, body) = self
                .answers
                .borrow_mut()
                .pop_front()
                .expect("an answer for every request");
            Ok(Reply {
                method: request.method,
                url: format!("{}{}", self.endpoint.url, request.target()),
                status,
                body,
            })
        }
    }

    const META: &str = r#"{"version": 7, "author": "alice", "message": "add search",
        "time": "2025-06-01T10:00:00Z", "action": "replace", "checksum": "9f86",
        "drained": {}, "config": "[load_shedding]\nmax_in_flight = 100\n"}"#;
    const GATEWAYS: &str = r#"{"gateways": [
        {"id": "gw-1", "region": "eu-west", "connected": true, "applied_version": 7,
         "last_report": {"version": 7, "outcome": "ack", "errors": [], "at": "T1"},
         "last_seen": "T2"}]}"#;

    #[test]
    fn status_reads_config_then_gateways() {
        let api = Script::new(vec![(200, META), (200, GATEWAYS)]);
        let out = api.run(&["status"]).unwrap();
        assert!(out.starts_with("current version 7 (replace)"), "{out}");
        assert!(
            out.contains("gateways: 1 known, 1 connected, 1 on version 7"),
            "{out}"
        );
        let targets: Vec<String> = api.sent().iter().map(Request::target).collect();
        assert_eq!(targets, ["/v1/config", "/v1/gateways"]);
    }

    #[test]
    fn status_without_a_version_says_so() {
        let api = Script::new(vec![
            (
                404,
                r#"{"title":"Not Found","status":404,"detail":"there is no config version yet"}"#,
            ),
            (200, r#"{"gateways": []}"#),
        ]);
        let out = api.run(&["status"]).unwrap();
        assert!(out.starts_with("no config version yet"), "{out}");
        let api = Script::new(vec![(404, "{}"), (200, r#"{"gateways": []}"#)]);
        let out = api.run(&["status", "--json"]).unwrap();
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value, json!({"config": null, "gateways": {"gateways": []}}));
    }

    #[test]
    fn status_passes_other_failures_on() {
        let api = Script::new(vec![(401, r#"{"detail":"the bearer token is not valid"}"#)]);
        let failure = api.run(&["status"]).unwrap_err();
        assert_eq!(failure.exit_code(), exit::UNAUTHORISED);
        assert_eq!(api.sent().len(), 1);
    }

    #[test]
    fn config_get_prints_toml() {
        let api = Script::new(vec![(200, "[load_shedding]\nmax_in_flight = 100")]);
        assert_eq!(
            api.run(&["config", "get"]).unwrap(),
            "[load_shedding]\nmax_in_flight = 100\n"
        );
        assert_eq!(api.sent()[0].target(), "/v1/config?format=toml");

        let api = Script::new(vec![(200, META)]);
        assert_eq!(
            api.run(&["config", "get", "--version", "7"]).unwrap(),
            "[load_shedding]\nmax_in_flight = 100\n"
        );
        assert_eq!(api.sent()[0].target(), "/v1/versions/7");

        let api = Script::new(vec![(200, META)]);
        let out = api.run(&["--json", "config", "get"]).unwrap();
        assert_eq!(api.sent()[0].target(), "/v1/config");
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["version"], 7);
    }

    #[test]
    fn config_get_of_a_missing_version_is_refused() {
        let api = Script::new(vec![(
            404,
            r#"{"title":"Not Found","detail":"there is no version 9"}"#,
        )]);
        let failure = api.run(&["config", "get", "--version", "9"]).unwrap_err();
        assert_eq!(failure.exit_code(), exit::REFUSED);
        assert!(failure.to_string().contains("there is no version 9"));
    }

    #[test]
    fn apply_sends_toml_with_message_dry_run_and_if_match() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleet.toml");
        std::fs::write(&file, "[load_shedding]\nmax_in_flight = 200\n").unwrap();
        let api = Script::new(vec![(
            200,
            r#"{"dry_run": true, "base_version": 7,
                "changes": ["load_shedding.max_in_flight: 100 -> 200"]}"#,
        )]);
        let out = api
            .run(&[
                "config",
                "apply",
                "-f",
                file.to_str().unwrap(),
                "--dry-run",
                "-m",
                "more room & less shedding",
                "--if-version",
                "7",
            ])
            .unwrap();
        assert_eq!(
            out,
            "dry run (against version 7; nothing stored):\n~ load_shedding.max_in_flight: 100 -> 200\n"
        );
        let sent = &api.sent()[0];
        assert_eq!(sent.method, "PUT");
        assert_eq!(
            sent.target(),
            "/v1/config?message=more%20room%20%26%20less%20shedding&dry_run=true"
        );
        assert_eq!(sent.if_match_header().as_deref(), Some("\"7\""));
        assert_eq!(
            sent.body,
            Some((
                "application/toml",
                b"[load_shedding]\nmax_in_flight = 200\n".to_vec()
            ))
        );
    }

    #[test]
    fn apply_sends_json_files_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleet.JSON");
        std::fs::write(&file, r#"{"load_shedding": {"max_in_flight": 5}}"#).unwrap();
        let api = Script::new(vec![(201, r#"{"version": 8, "changes": ["x: 1 -> 5"]}"#)]);
        let out = api
            .run(&["config", "apply", "-f", file.to_str().unwrap()])
            .unwrap();
        assert_eq!(out, "stored version 8:\n~ x: 1 -> 5\n");
        let sent = &api.sent()[0];
        assert_eq!(sent.target(), "/v1/config");
        assert_eq!(sent.if_match, None);
        assert_eq!(sent.body.as_ref().unwrap().0, "application/json");
    }

    #[test]
    fn apply_reads_stdin() {
        let api = Script::new(vec![(200, r#"{"version": 7, "changed": false}"#)]);
        let out = api
            .run_with_stdin(&["config", "apply", "-f", "-"], b"[redis]\nurl = 'x'\n")
            .unwrap();
        assert_eq!(out, "no changes: version 7 already is this config\n");
        assert_eq!(
            api.sent()[0].body,
            Some(("application/toml", b"[redis]\nurl = 'x'\n".to_vec()))
        );
        let api = Script::new(vec![(200, r#"{"version": 7, "changed": false}"#)]);
        api.run_with_stdin(&["config", "apply", "-f", "-"], b"\n  {\"redis\": {}}")
            .unwrap();
        assert_eq!(api.sent()[0].body.as_ref().unwrap().0, "application/json");
    }

    #[test]
    fn apply_of_an_invalid_config_lists_every_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleet.toml");
        std::fs::write(&file, "x").unwrap();
        let api = Script::new(vec![(
            422,
            r#"{"type":"about:blank","title":"Invalid Config","status":422,
                "detail":"the config has 2 problems; nothing was stored",
                "errors":[{"path":"upstreams.api.pools[0].weight","message":"must be 0..=100","line":4,"column":10},
                          {"path":"routes[0].upstream","message":"unknown upstream 'apx'","line":9,"column":12}]}"#,
        )]);
        let failure = api
            .run(&["config", "apply", "-f", file.to_str().unwrap()])
            .unwrap_err();
        assert_eq!(failure.exit_code(), exit::REFUSED);
        let message = failure.to_string();
        let lines: Vec<&str> = message.lines().collect();
        assert_eq!(
            lines[1..],
            [
                "upstreams.api.pools[0].weight: must be 0..=100 (line 4, column 10)",
                "routes[0].upstream: unknown upstream 'apx' (line 9, column 12)"
            ]
        );
        assert_eq!(
            failure.body().unwrap()["errors"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn apply_of_a_missing_file_is_a_usage_error_and_sends_nothing() {
        let api = Script::new(vec![]);
        let failure = api
            .run(&["config", "apply", "-f", "/nonexistent/fleet.toml"])
            .unwrap_err();
        assert_eq!(failure.exit_code(), exit::USAGE);
        assert!(failure.to_string().contains("/nonexistent/fleet.toml"));
        assert!(api.sent().is_empty());
    }

    #[test]
    fn history_and_audit_pass_their_limits() {
        let api = Script::new(vec![(200, r#"{"versions": []}"#)]);
        api.run(&["config", "history", "--limit", "5", "--before", "40"])
            .unwrap();
        assert_eq!(api.sent()[0].target(), "/v1/versions?limit=5&before=40");
        let api = Script::new(vec![(200, r#"{"versions": []}"#)]);
        api.run(&["config", "history"]).unwrap();
        assert_eq!(api.sent()[0].target(), "/v1/versions");
        let api = Script::new(vec![(200, r#"{"entries": []}"#)]);
        assert_eq!(
            api.run(&["audit", "--limit", "3"]).unwrap(),
            "the audit log is empty\n"
        );
        assert_eq!(api.sent()[0].target(), "/v1/audit?limit=3");
    }

    #[test]
    fn rollback_posts_with_message_and_if_match() {
        let api = Script::new(vec![(201, r#"{"version": 9, "rolled_back_to": 5}"#)]);
        let out = api
            .run(&[
                "config",
                "rollback",
                "5",
                "-m",
                "undo 6-8",
                "--if-version",
                "8",
            ])
            .unwrap();
        assert_eq!(out, "stored version 9: rolled back to version 5\n");
        let sent = &api.sent()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.target(), "/v1/versions/5/rollback?message=undo%206-8");
        assert_eq!(sent.if_match, Some(8));
        let api = Script::new(vec![(
            200,
            r#"{"version": 7, "changed": false, "rolled_back_to": 5}"#,
        )]);
        assert_eq!(
            api.run(&["config", "rollback", "5"]).unwrap(),
            "no changes: the current config already equals version 5 (version 7)\n"
        );
        let api = Script::new(vec![(
            409,
            r#"{"title":"Conflict","detail":"the change was based on version 8 but the current version is 9; read it again and retry","current_version":9}"#,
        )]);
        let failure = api
            .run(&["config", "rollback", "5", "--if-version", "8"])
            .unwrap_err();
        assert_eq!(failure.exit_code(), exit::REFUSED);
    }

    #[test]
    fn weight_puts_json_and_shows_the_change() {
        let api = Script::new(vec![(201, r#"{"version": 10, "previous_weight": 100}"#)]);
        let out = api
            .run(&["weight", "api", "eu-west", "0", "-m", "bad deploy"])
            .unwrap();
        assert_eq!(out, "stored version 10: api/eu-west weight 100 -> 0\n");
        let sent = &api.sent()[0];
        assert_eq!(sent.method, "PUT");
        assert_eq!(
            sent.target(),
            "/v1/upstreams/api/pools/eu-west/weight?message=bad%20deploy"
        );
        assert_eq!(
            sent.body,
            Some(("application/json", br#"{"weight":0}"#.to_vec()))
        );
        let api = Script::new(vec![(
            200,
            r#"{"version": 10, "changed": false, "previous_weight": 0}"#,
        )]);
        assert_eq!(
            api.run(&["weight", "api", "eu-west", "0"]).unwrap(),
            "no changes: api/eu-west already has weight 0 (version 10)\n"
        );
        let api = Script::new(vec![(
            404,
            r#"{"title":"Not Found","detail":"upstream 'apx' has no pool in region 'eu-west'"}"#,
        )]);
        let failure = api.run(&["weight", "apx", "eu-west", "5"]).unwrap_err();
        assert_eq!(failure.exit_code(), exit::REFUSED);
        assert!(failure.to_string().contains("upstream 'apx'"));
    }

    #[test]
    fn weight_with_dns_sets_a_gslb_names_members() {
        let api = Script::new(vec![(201, r#"{"version": 11, "previous_weight": 100}"#)]);
        let out = api
            .run(&["weight", "--dns", "api.gslb.example.com", "eu-west", "25"])
            .unwrap();
        assert_eq!(
            out,
            "stored version 11: api.gslb.example.com/eu-west weight 100 -> 25\n"
        );
        let sent = &api.sent()[0];
        assert_eq!(sent.method, "PUT");
        assert_eq!(
            sent.target(),
            "/v1/dns/names/api.gslb.example.com/members/eu-west/weight"
        );
        assert_eq!(
            sent.body,
            Some(("application/json", br#"{"weight":25}"#.to_vec()))
        );
    }

    #[test]
    fn names_are_encoded_in_paths() {
        let api = Script::new(vec![(201, r#"{"version": 3}"#)]);
        api.run(&["drain", "eu west/1"]).unwrap();
        assert_eq!(api.sent()[0].target(), "/v1/regions/eu%20west%2F1/drain");
    }

    #[test]
    fn drain_and_restore() {
        let api = Script::new(vec![(201, r#"{"version": 11}"#)]);
        let out = api.run(&["drain", "eu-west", "-m", "maintenance"]).unwrap();
        assert!(
            out.starts_with("stored version 11: drained region eu-west"),
            "{out}"
        );
        let sent = &api.sent()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(
            sent.target(),
            "/v1/regions/eu-west/drain?message=maintenance"
        );
        assert_eq!(sent.body, None);

        let api = Script::new(vec![(201, r#"{"version": 12, "skipped": ["search"]}"#)]);
        let out = api.run(&["restore", "eu-west"]).unwrap();
        assert_eq!(
            out,
            "stored version 12: restored region eu-west (it ramps up through slow start)\n\
             not restored (gone since the drain): search\n"
        );
        assert_eq!(api.sent()[0].target(), "/v1/regions/eu-west/restore");

        let api = Script::new(vec![(
            409,
            r#"{"title":"Conflict","detail":"region 'eu-west' is not drained"}"#,
        )]);
        let failure = api.run(&["restore", "eu-west"]).unwrap_err();
        assert_eq!(failure.exit_code(), exit::REFUSED);
        assert_eq!(
            failure.to_string(),
            "the control plane refused (409 Conflict): region 'eu-west' is not drained"
        );
    }

    #[test]
    fn drain_and_restore_an_endpoint() {
        let api = Script::new(vec![(
            201,
            r#"{"version": 13, "endpoint": "10.0.0.1:80", "pools": ["api/us-east"]}"#,
        )]);
        let out = api
            .run(&[
                "drain",
                "--endpoint",
                "10.0.0.1:80",
                "--upstream",
                "api",
                "-m",
                "reboot",
            ])
            .unwrap();
        assert!(
            out.starts_with("stored version 13: drained endpoint 10.0.0.1:80 in api/us-east"),
            "{out}"
        );
        let sent = &api.sent()[0];
        assert_eq!(sent.method, "POST");
        assert_eq!(
            sent.target(),
            "/v1/endpoints/10.0.0.1%3A80/drain?message=reboot&upstream=api"
        );
        let api = Script::new(vec![(
            201,
            r#"{"version": 14, "endpoint": "10.0.0.1:80", "pools": ["api/us-east"]}"#,
        )]);
        let out = api.run(&["restore", "--endpoint", "10.0.0.1:80"]).unwrap();
        assert_eq!(
            out,
            "stored version 14: restored endpoint 10.0.0.1:80 in api/us-east (it ramps up \
             through slow start)\n"
        );
        assert_eq!(
            api.sent()[0].target(),
            "/v1/endpoints/10.0.0.1%3A80/restore"
        );
    }

    #[test]
    fn weight_prints_the_warnings() {
        let api = Script::new(vec![(
            201,
            r#"{"version": 10, "previous_weight": 100, "warnings": ["nearest: weights are not a split"]}"#,
        )]);
        let out = api.run(&["weight", "api", "us-east", "50"]).unwrap();
        assert_eq!(
            out,
            "stored version 10: api/us-east weight 100 -> 50\nwarning: nearest: weights are not a split\n"
        );
    }

    #[test]
    fn apply_force_asks_for_a_version_anyway() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fleet.toml");
        std::fs::write(&file, "[upstreams]\n").unwrap();
        let api = Script::new(vec![(201, r#"{"version": 4, "changes": []}"#)]);
        api.run(&["config", "apply", "-f", file.to_str().unwrap(), "--force"])
            .unwrap();
        assert_eq!(api.sent()[0].target(), "/v1/config?force=true");
    }

    #[test]
    fn json_prints_the_answer_pretty() {
        let api = Script::new(vec![(200, GATEWAYS)]);
        let out = api.run(&["gateways", "--json"]).unwrap();
        assert!(out.starts_with("{\n  \"gateways\": ["), "{out}");
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            serde_json::from_str::<Value>(GATEWAYS).unwrap()
        );
    }

    #[test]
    fn server_failures_and_garbage_are_unavailable() {
        let api = Script::new(vec![(503, "")]);
        let failure = api.run(&["gateways"]).unwrap_err();
        assert_eq!(failure.exit_code(), exit::UNAVAILABLE);
        assert!(failure.to_string().contains("http://cp:7700/v1/gateways"));
        let api = Script::new(vec![(200, "<html>")]);
        let failure = api.run(&["gateways"]).unwrap_err();
        assert_eq!(failure.exit_code(), exit::UNAVAILABLE);
    }

    #[test]
    fn forbidden_names_the_role() {
        let api = Script::new(vec![(
            403,
            r#"{"title":"Forbidden","status":403,"detail":"token 'bob' has role 'read', this needs 'operate'"}"#,
        )]);
        let failure = api.run(&["drain", "eu-west"]).unwrap_err();
        assert_eq!(failure.exit_code(), exit::UNAUTHORISED);
        assert_eq!(
            failure.to_string(),
            "token 'bob' has role 'read', this needs 'operate' (403): use a token with that role"
        );
    }
}
