//! `weirctl` against a real control plane: every command, human and `--json` output, and exit
//! codes scripts can trust.

mod support;

use std::process::{Command, Output};

use support::{ADMIN, ControlPlane, READ};

const FLEET: &str = r#"[upstreams.app]
[[upstreams.app.pools]]
region = "us-east"
weight = 100
endpoints = ["127.0.0.1:9001"]

[[upstreams.app.pools]]
region = "eu-west"
weight = 100
endpoints = ["127.0.0.1:9101"]

[[routes]]
name = "all"
path_prefix = "/"
upstream = "app"
"#;

struct Ctl<'a> {
    cp: &'a ControlPlane,
    token: &'a str,
    dir: tempfile::TempDir,
}

impl Ctl<'_> {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_weirctl"))
            .args(args)
            .env("WEIR_URL", self.cp.url())
            .env("WEIR_TOKEN", self.token)
            .current_dir(self.dir.path())
            .output()
            .expect("run weirctl")
    }

    /// Runs and returns (exit code, stdout, stderr).
    fn ok(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.run(args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }
}

fn ctl<'a>(cp: &'a ControlPlane, token: &'a str) -> Ctl<'a> {
    Ctl {
        cp,
        token,
        dir: tempfile::tempdir().unwrap(),
    }
}

#[test]
fn apply_history_weight_drain_restore_rollback() {
    let cp = ControlPlane::start();
    let admin = ctl(&cp, ADMIN);
    let file = admin.file("fleet.toml", FLEET);

    let (code, _, err) = admin.ok(&["status"]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = admin.ok(&["config", "apply", "-f", &file, "-m", "first"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cp.current_version(), 1);

    let changed = admin.file(
        "changed.toml",
        &FLEET.replacen("weight = 100", "weight = 20", 1),
    );
    let (code, out, err) = admin.ok(&["config", "apply", "-f", &changed, "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("100 -> 20"),
        "the dry run shows the change: {out}"
    );
    assert_eq!(cp.current_version(), 1, "a dry run stores nothing");

    let (code, out, _) = admin.ok(&["config", "get"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), FLEET.trim());

    let (code, out, err) = admin.ok(&["weight", "app", "eu-west", "40", "-m", "less west"]);
    assert_eq!(code, 0, "{out}{err}");
    // `app` is `nearest` (the default): the weight is stored, and weirctl says it shows nowhere.
    assert!(
        out.contains("warning: upstream \"app\" has region_policy = \"nearest\""),
        "{out}"
    );
    let (code, out, err) = admin.ok(&["drain", "us-east"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = admin.ok(&["drain", "us-east"]);
    assert_eq!(code, 1, "draining twice is refused: {err}");
    let (code, out, err) = admin.ok(&["restore", "us-east"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cp.current_version(), 4);

    let (code, out, _) = admin.ok(&["config", "history"]);
    assert_eq!(code, 0);
    for action in ["restore", "drain", "weight", "replace"] {
        assert!(
            out.contains(action),
            "{action} missing from history:\n{out}"
        );
    }
    let (code, out, _) = admin.ok(&["--json", "config", "history"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).expect("--json is JSON");
    assert_eq!(json["versions"][0]["version"], 4);

    let (code, out, err) = admin.ok(&["config", "rollback", "1", "-m", "undo"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cp.current_version(), 5);
    let current = cp.get("/v1/config?format=toml", READ).body;
    assert_eq!(current, FLEET, "rolled back to version 1's text");

    let (code, out, _) = admin.ok(&["audit"]);
    assert_eq!(code, 0);
    assert!(out.contains("rollback") && out.contains("alice"), "{out}");
    let (code, _, _) = admin.ok(&["gateways"]);
    assert_eq!(code, 0);

    // A file that means the same (a comment added) makes no version, unless forced.
    let commented = admin.file("commented.toml", &format!("# reviewed\n{FLEET}"));
    let (code, out, err) = admin.ok(&["config", "apply", "-f", &commented]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("no changes: version 5"), "{out}");
    let (code, out, err) = admin.ok(&["config", "apply", "-f", &commented, "--force"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(cp.current_version(), 6);
}

#[test]
fn status_shows_which_gateway_runs_which_version() {
    let cp = ControlPlane::start();
    assert_eq!(cp.put_config(FLEET).status, 201);
    for (id, version) in [("gw-1", 1), ("gw-0", 0)] {
        let body = format!(r#"{{"version":1,"outcome":"ack","applied_version":{version}}}"#);
        let resp = cp.call(
            "POST",
            &format!("/v1/gateways/{id}/report"),
            Some(support::GATEWAY),
            Some(("application/json", &body)),
            &[],
        );
        assert_eq!(resp.status, 204, "{}", resp.body);
    }
    let (code, out, err) = ctl(&cp, READ).ok(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("RUNS VERSION"), "{out}");
    let row = |id: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(id))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row("gw-1").contains("1 (current)"), "{out}");
    assert!(row("gw-0").contains("- (none yet)"), "{out}");
}

#[test]
fn exit_codes_name_what_went_wrong() {
    let cp = ControlPlane::start();
    let admin = ctl(&cp, ADMIN);
    let bad = admin.file("bad.toml", "[upstreams.app]\nregion_policy = \"closest\"\n");
    let (code, _, err) = admin.ok(&["config", "apply", "-f", &bad]);
    assert_eq!(code, 1, "an invalid config is refused");
    assert!(err.contains("upstreams.app.region_policy"), "{err}");
    assert!(err.contains("line"), "errors carry their position: {err}");

    let (code, _, err) = ctl(&cp, "wrong").ok(&["config", "history"]);
    assert_eq!(code, 3, "{err}");
    let file = admin.file("fleet.toml", FLEET);
    let (code, _, err) = ctl(&cp, READ).ok(&["config", "apply", "-f", &file]);
    assert_eq!(code, 3, "a read token cannot write: {err}");
    assert!(err.contains("admin"), "{err}");

    let (code, _, _) = admin.ok(&["weight", "app", "eu-west", "101"]);
    assert_eq!(code, 2, "out of range is a usage error");
    let (code, _, _) = admin.ok(&["frobnicate"]);
    assert_eq!(code, 2);

    let (code, _, err) = admin.ok(&["config", "rollback", "42"]);
    assert_eq!(code, 1, "{err}");

    let unreachable = Command::new(env!("CARGO_BIN_EXE_weirctl"))
        .args(["status"])
        .env("WEIR_URL", format!("http://{}", support::free_addr()))
        .env("WEIR_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert_eq!(unreachable.status.code(), Some(4));
    assert!(
        !String::from_utf8_lossy(&unreachable.stderr).contains(ADMIN),
        "token never printed"
    );
}
