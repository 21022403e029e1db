//! weirctl's command line (clap; its usage errors exit 2): the commands and their flags, as
//! given. What the global flags resolve to is the `connection` module's business.

use std::path::PathBuf;

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, Parser, Subcommand};

const AFTER_HELP: &str = "\
Environment:
  WEIR_URL      the control plane's URL (default http://127.0.0.1:7700); --url overrides it
  WEIR_TOKEN    the API token; --token overrides it
  WEIR_CA_FILE  the CA (PEM) of an https:// control plane with its own; --ca-file overrides it

Exit codes:
  0  done
  1  the control plane refused (invalid config, conflict, not found)
  2  usage error
  3  not authorised (401: the token was refused; 403: it lacks the role)
  4  cannot reach or trust the control plane, or it failed (5xx, timeout)

Examples:
  weirctl status
  weirctl config apply -f fleet.toml --dry-run
  weirctl config apply -f fleet.toml -m 'add the search route' --if-version 7
  weirctl weight api eu-west 0 -m 'eu-west api pool: bad deploy'
  weirctl drain eu-west -m 'maintenance'";

/// Operate Weir's control plane: the fleet config's versions, traffic shifting, and the gateways
/// that run it.
#[derive(Debug, Parser)]
#[command(name = "weirctl", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The control plane's URL [env: WEIR_URL] [default: http://127.0.0.1:7700]
    #[arg(
        long,
        global = true,
        value_name = "URL",
        help_heading = "Global options"
    )]
    pub url: Option<String>,

    /// The API token [env: WEIR_TOKEN]. Prefer WEIR_TOKEN: other users can see flags in the
    /// process list
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        help_heading = "Global options"
    )]
    pub token: Option<String>,

    /// PEM file of the CA that signed an https:// control plane's certificate, trusted instead of
    /// the public roots [env: WEIR_CA_FILE]
    #[arg(
        long,
        global = true,
        value_name = "PEM",
        help_heading = "Global options"
    )]
    pub ca_file: Option<PathBuf>,

    /// Print the control plane's JSON answers (pretty) instead of text, for scripts
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Show the current version and the gateways: how many are connected, how many run the
    /// current version, and any that refused (NACK) a version, with why
    Status,

    /// Read, replace, list or roll back the fleet config
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Set one pool's weight (0 to 100), or with --dns the weight of a GSLB name's members in a
    /// region, making a new version
    #[command(after_help = "\
Examples:
  weirctl weight api eu-west 0 -m 'eu-west api pool: bad deploy'
  weirctl weight --dns api.gslb.example.com eu-west 25 -m 'send a quarter to eu-west'")]
    Weight {
        // In `help`, not a doc comment: rustdoc would read `[upstreams]` as a link.
        #[arg(
            help = "The upstream, as named under [upstreams] in the config (with --dns: the name under [dns.names])",
            value_parser = NonEmptyStringValueParser::new()
        )]
        upstream: String,
        /// The region of the upstream's pool (with --dns: of the name's members)
        #[arg(value_parser = NonEmptyStringValueParser::new())]
        region: String,
        /// The new weight, 0 to 100 (0 sends the pool no traffic)
        #[arg(value_parser = clap::value_parser!(u8).range(0..=100))]
        weight: u8,
        /// Set the weight of weir-dns members: the first argument is a GSLB name
        #[arg(long)]
        dns: bool,
        #[command(flatten)]
        write: WriteArgs,
    },

    /// Set every pool (and DNS member) in a region to weight 0, remembering each weight for
    /// `restore`; or, with --endpoint, stop sending new requests to one endpoint (requests in
    /// flight finish, health checks go on), like HAProxy's `set server ... state drain`
    #[command(after_help = "\
Examples:
  weirctl drain eu-west -m 'maintenance'
  weirctl drain --endpoint 10.0.1.11:9000 -m 'reboot'
  weirctl drain --endpoint 10.0.1.11:9000 --upstream api")]
    Drain {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        write: WriteArgs,
    },

    /// Put back the weights a region had before `drain`, or send new requests to a drained
    /// endpoint again (--endpoint); either ramps up through the upstream's slow start
    Restore {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        write: WriteArgs,
    },

    /// List the gateways: region, connection, the version each runs, and its last report
    Gateways,

    /// Show each GSLB member as each weir-dns instance sees it: health (its own probes), its
    /// region's gateways (ready of known, as the control plane told it), weight and whether it is
    /// answered
    Dns,

    /// Show each gateway's latest health summary, one row per upstream and region pool: healthy
    /// endpoints, request rate, error ratio (5xx and transport errors), p50/p99 latency, breaker;
    /// a gateway silent for 3 of its intervals is marked stale
    Telemetry,

    /// Show, promote or abort the staged config rollout (`config apply --canary`)
    #[command(subcommand)]
    Rollout(RolloutCommand),

    /// Show or pause the failover policy: per upstream and region its state, counts, last
    /// evaluations and next action; pause or resume its actions for one upstream or all
    #[command(subcommand)]
    Failover(FailoverCommand),

    /// Show the audit log (who changed what, when), newest first
    Audit {
        /// How many entries, 1 to 1000 [server default: 100]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: Option<u16>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum FailoverCommand {
    /// Per upstream with a policy: each region's state (healthy, drained, ramping, operator),
    /// weight, bad/good evaluations in a row, the last verdicts and the next action with when
    Status,
    /// Stop the policy's actions (evaluations go on) for UPSTREAM, or for every upstream
    Pause {
        /// An upstream with a failover policy; every upstream when left out
        upstream: Option<String>,
    },
    /// Let the policy act again for UPSTREAM, or for every upstream (clearing every pause)
    Resume {
        /// An upstream with a failover policy; every upstream when left out
        upstream: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum RolloutCommand {
    /// The last rollout: state, stable and canary versions, canaries, bake deadline, the last
    /// evaluations with their evidence, and how it ended
    Status,
    /// Promote the rollout under bake now: its version goes to every gateway
    Promote {
        /// Why: kept in the audit log
        #[arg(short = 'm', long, value_name = "MESSAGE")]
        message: Option<String>,
    },
    /// Roll the rollout under bake back now: a new version with the stable config, for every
    /// gateway
    Abort {
        /// Why: kept with the rollback version and in the audit log
        #[arg(short = 'm', long, value_name = "MESSAGE")]
        message: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum ConfigCommand {
    /// Print the fleet config as TOML: the current version, or the one given
    Get {
        /// Print this version instead of the current one
        #[arg(long, value_name = "N")]
        version: Option<u64>,
    },

    /// Replace the fleet config with a file (TOML, or JSON when it ends in .json), printing what
    /// changed; an invalid config is refused with every error and its position
    #[command(after_help = "\
Examples:
  weirctl config apply -f fleet.toml --dry-run
  weirctl config apply -f fleet.toml -m 'add the search route' --if-version 7
  weirctl config apply -f fleet.toml --canary region=eu-west --bake 60s
  render-config | weirctl config apply -f -")]
    Apply {
        /// The config file; `-` reads standard input (TOML, or JSON when it starts with `{`)
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: PathBuf,
        /// Check the config and show what would change, storing nothing
        #[arg(long)]
        dry_run: bool,
        /// Store a new version even when the config means the same as the current one (only
        /// comments, layout or explicit defaults differ); while a rollout bakes, apply on top of
        /// its stable config and supersede it
        #[arg(long, conflicts_with = "dry_run")]
        force: bool,
        /// Stage it: push the new version only to these gateways first (`10%`, `gw-a,gw-b` or
        /// `region=eu-west`), compare them with the rest, promote after the bake or roll back
        #[arg(long, value_name = "WHICH", conflicts_with = "force")]
        canary: Option<String>,
        /// With --canary: how long the canaries run it before promotion, e.g. `60s` [default:
        /// the current config's rollout.bake]
        #[arg(long, value_name = "DURATION", requires = "canary")]
        bake: Option<String>,
        #[command(flatten)]
        write: WriteArgs,
    },

    /// List versions, newest first: number, time, author, action, message
    History {
        /// How many versions, 1 to 1000 [server default: 50]
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
        limit: Option<u16>,
        /// Only versions below this one (to page back)
        #[arg(long, value_name = "N")]
        before: Option<u64>,
    },

    /// Make a new version whose config (and drain memory) equals version N
    Rollback {
        /// The version to go back to (see `config history`)
        #[arg(value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        version: u64,
        #[command(flatten)]
        write: WriteArgs,
    },
}

/// What `drain` and `restore` act on: a region, or one endpoint (in every pool that lists it, or
/// only in `--upstream`'s).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
#[group(required = true, multiple = true)]
pub struct Target {
    /// The region (every pool and DNS member in it)
    #[arg(value_parser = NonEmptyStringValueParser::new(), conflicts_with = "endpoint")]
    pub region: Option<String>,
    /// One endpoint, ip:port as listed in the config
    #[arg(long, value_name = "ADDR", value_parser = NonEmptyStringValueParser::new())]
    pub endpoint: Option<String>,
    /// With --endpoint: only in this upstream's pools
    #[arg(long, value_name = "UPSTREAM", requires = "endpoint")]
    pub upstream: Option<String>,
}

/// Flags every change takes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct WriteArgs {
    /// Why: kept with the version and in the audit log
    #[arg(short = 'm', long, value_name = "MESSAGE")]
    pub message: Option<String>,
    /// Refuse (exit 1, nothing written) unless the current version is still N
    #[arg(long, value_name = "N")]
    pub if_version: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("weirctl").chain(args.iter().copied()))
    }

    fn command(args: &[&str]) -> Command {
        parse(args)
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
            .command
    }

    fn usage_error(args: &[&str]) -> clap::Error {
        let error = parse(args).expect_err("should be a usage error");
        assert_eq!(
            error.exit_code(),
            i32::from(exit::USAGE),
            "{args:?}: {error}"
        );
        error
    }

    #[test]
    fn the_command_tree_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn every_command_parses() {
        assert_eq!(command(&["status"]), Command::Status);
        assert_eq!(command(&["gateways"]), Command::Gateways);
        assert_eq!(command(&["dns"]), Command::Dns);
        assert_eq!(command(&["telemetry"]), Command::Telemetry);
        assert_eq!(
            command(&["failover", "status"]),
            Command::Failover(FailoverCommand::Status)
        );
        assert_eq!(
            command(&["failover", "pause", "api"]),
            Command::Failover(FailoverCommand::Pause {
                upstream: Some("api".into())
            })
        );
        assert_eq!(
            command(&["failover", "resume"]),
            Command::Failover(FailoverCommand::Resume { upstream: None })
        );
        assert_eq!(
            command(&["audit", "--limit", "5"]),
            Command::Audit { limit: Some(5) }
        );
        assert_eq!(
            command(&["config", "get"]),
            Command::Config(ConfigCommand::Get { version: None })
        );
        assert_eq!(
            command(&["config", "get", "--version", "3"]),
            Command::Config(ConfigCommand::Get { version: Some(3) })
        );
        assert_eq!(
            command(&["config", "history", "--limit", "10", "--before", "40"]),
            Command::Config(ConfigCommand::History {
                limit: Some(10),
                before: Some(40)
            })
        );
        assert_eq!(
            command(&["config", "rollback", "5", "-m", "back to 5"]),
            Command::Config(ConfigCommand::Rollback {
                version: 5,
                write: WriteArgs {
                    message: Some("back to 5".into()),
                    if_version: None
                }
            })
        );
        assert_eq!(
            command(&["weight", "api", "eu-west", "0", "--message", "bad deploy"]),
            Command::Weight {
                upstream: "api".into(),
                region: "eu-west".into(),
                weight: 0,
                dns: false,
                write: WriteArgs {
                    message: Some("bad deploy".into()),
                    if_version: None
                }
            }
        );
        assert_eq!(
            command(&["drain", "eu-west", "--if-version", "7"]),
            Command::Drain {
                target: Target {
                    region: Some("eu-west".into()),
                    ..Target::default()
                },
                write: WriteArgs {
                    message: None,
                    if_version: Some(7)
                }
            }
        );
        assert_eq!(
            command(&["restore", "eu-west"]),
            Command::Restore {
                target: Target {
                    region: Some("eu-west".into()),
                    ..Target::default()
                },
                write: WriteArgs::default()
            }
        );
        assert_eq!(
            command(&["drain", "--endpoint", "10.0.0.1:80", "--upstream", "api"]),
            Command::Drain {
                target: Target {
                    region: None,
                    endpoint: Some("10.0.0.1:80".into()),
                    upstream: Some("api".into()),
                },
                write: WriteArgs::default()
            }
        );
    }

    #[test]
    fn apply_takes_file_message_dry_run_and_if_version() {
        assert_eq!(
            command(&[
                "config",
                "apply",
                "-f",
                "fleet.toml",
                "-m",
                "why",
                "--dry-run",
                "--if-version",
                "7"
            ]),
            Command::Config(ConfigCommand::Apply {
                file: "fleet.toml".into(),
                dry_run: true,
                force: false,
                canary: None,
                bake: None,
                write: WriteArgs {
                    message: Some("why".into()),
                    if_version: Some(7)
                }
            })
        );
        assert_eq!(
            command(&["config", "apply", "--file", "-"]),
            Command::Config(ConfigCommand::Apply {
                file: "-".into(),
                dry_run: false,
                force: false,
                canary: None,
                bake: None,
                write: WriteArgs::default()
            })
        );
        usage_error(&["config", "apply", "-f", "x", "--force", "--dry-run"]);
        usage_error(&["config", "apply", "-f", "x", "--bake", "60s"]);
        usage_error(&["config", "apply", "-f", "x", "--canary", "10%", "--force"]);
        assert_eq!(
            command(&[
                "config", "apply", "-f", "x", "--canary", "10%", "--bake", "2s"
            ]),
            Command::Config(ConfigCommand::Apply {
                file: "x".into(),
                dry_run: false,
                force: false,
                canary: Some("10%".into()),
                bake: Some("2s".into()),
                write: WriteArgs::default()
            })
        );
        assert_eq!(
            command(&["rollout", "abort", "-m", "why"]),
            Command::Rollout(RolloutCommand::Abort {
                message: Some("why".into())
            })
        );
        usage_error(&["config", "apply"]);
        usage_error(&["config", "apply", "-f", "x", "--if-version", "seven"]);
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&[
            "--url",
            "http://cp:7700",
            "config",
            "history",
            "--json",
            "--token",
            "t",
        ])
        .unwrap();
        assert_eq!(cli.url.as_deref(), Some("http://cp:7700"));
        assert_eq!(cli.token.as_deref(), Some("t"));
        assert!(cli.json);
        assert!(!parse(&["status"]).unwrap().json);
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        usage_error(&[]);
        usage_error(&["frobnicate"]);
        usage_error(&["config"]);
        usage_error(&["weight", "api", "eu-west", "101"]);
        usage_error(&["weight", "api", "eu-west", "-1"]);
        usage_error(&["weight", "api", "eu-west", "half"]);
        usage_error(&["weight", "api", "eu-west"]);
        usage_error(&["weight", "", "eu-west", "5"]);
        usage_error(&["drain"]);
        usage_error(&["drain", ""]);
        usage_error(&["drain", "eu-west", "--endpoint", "10.0.0.1:80"]);
        usage_error(&["restore", "--upstream", "api"]);
        usage_error(&["config", "rollback", "0"]);
        usage_error(&["config", "rollback", "x"]);
        usage_error(&["config", "history", "--limit", "0"]);
        usage_error(&["config", "history", "--limit", "1001"]);
        usage_error(&["audit", "--limit", "many"]);
        assert!(
            usage_error(&["weight", "api", "eu-west", "150"])
                .to_string()
                .contains("0..=100")
        );
        assert!(matches!(
            command(&["weight", "api", "eu-west", "100"]),
            Command::Weight { weight: 100, .. }
        ));
    }

    #[test]
    fn help_is_not_an_error() {
        for args in [
            &["--help"][..],
            &["config", "apply", "--help"],
            &["weight", "--help"],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), 0, "{args:?}");
        }
        let help = parse(&["--help"]).unwrap_err().to_string();
        assert!(help.contains("WEIR_TOKEN"));
        assert!(help.contains("Exit codes"));
    }

    #[test]
    fn a_mistyped_flag_does_not_echo_the_token() {
        let error = usage_error(&["--tokn=weir_s3cret", "status"]);
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
}
