//! `weir-control-plane`: serve the API and the push stream from a durable store (files or etcd),
//! copy a file store into etcd, or make a token.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use weir_control_plane::auth::{IdPattern, Role, new_token, token_hash};
use weir_control_plane::server::{ServeOptions, serve};
use weir_control_plane::store::EtcdOptions;

#[derive(Parser)]
#[command(
    name = "weir-control-plane",
    version,
    about = "Weir's control plane: durable versioned fleet config, an authenticated API, push to gateways",
    after_help = "The API is described in docs/control-plane.md and at GET /v1/openapi.json."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and the gateways' push stream.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:7700")]
        listen: SocketAddr,
        /// Where the store is: `files` (in --data-dir) or `etcd` (--etcd-endpoints).
        #[arg(long, value_enum, default_value_t = StoreKind::Files)]
        store: StoreKind,
        /// Directory of the file store (created if missing). Required with --store files.
        #[arg(long, required_if_eq("store", "files"))]
        data_dir: Option<PathBuf>,
        #[command(flatten)]
        etcd: EtcdArgs,
        /// Token file: [[tokens]] entries with name, role and sha256 of the token.
        #[arg(long)]
        tokens: PathBuf,
        /// A fleet config to store as version 1 when the store is empty.
        #[arg(long)]
        seed: Option<PathBuf>,
        /// How often an idle push stream carries a heartbeat.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        heartbeat: Duration,
        /// PEM certificate chain: serve HTTPS (needs --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Most gateways remembered; a new id past it is refused (429).
        #[arg(long, default_value_t = weir_control_plane::fleet::MAX_GATEWAYS, value_parser = clap::value_parser!(usize))]
        max_gateways: usize,
        /// Most gateways one token may register; a new id past it is refused (429).
        #[arg(long, default_value_t = weir_control_plane::fleet::MAX_GATEWAYS_PER_TOKEN)]
        max_gateways_per_token: usize,
        /// This replica's identity in the leader election and `weirctl status` (default: the
        /// host name and the listen address).
        #[arg(long)]
        replica_id: Option<String>,
        /// The leader's etcd lease (--store etcd): when the leader dies another replica takes
        /// over within it.
        #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
        leader_ttl: Duration,
    },
    /// Copy a file store's whole history (versions, audit log, failover and rollout records)
    /// into an empty etcd store. Stop the control plane that uses the directory first.
    Migrate {
        /// The file store's directory (its --data-dir).
        #[arg(long)]
        from_dir: PathBuf,
        /// etcd client URLs, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        to_etcd: Vec<String>,
        #[command(flatten)]
        etcd: EtcdArgs,
    },
    /// Make a new random token: prints it once, and the entry to add to the token file.
    Token {
        /// The token's name (recorded as the author of the changes it makes).
        #[arg(long)]
        name: String,
        /// read, operate, admin or gateway.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Gateway tokens: the gateway id the token speaks for, or a prefix pattern such as
        /// `us-east-*` (`*` allows any id). Required with `--role gateway`.
        #[arg(long, value_name = "ID_OR_PATTERN")]
        gateway_id: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    Files,
    Etcd,
}

/// How to reach etcd (`--store etcd`, `migrate`).
#[derive(Debug, Args)]
struct EtcdArgs {
    /// etcd client URLs, comma-separated (`http://127.0.0.1:2379,...`; `https://` with
    /// --etcd-ca-file). Required with --store etcd.
    #[arg(long, value_delimiter = ',')]
    etcd_endpoints: Vec<String>,
    /// Every key of this fleet's store starts with it.
    #[arg(long, default_value = "/weir/")]
    etcd_prefix: String,
    /// etcd user (etcd's authentication); the password is read from --etcd-password-file or
    /// the environment variable WEIR_ETCD_PASSWORD.
    #[arg(long)]
    etcd_user: Option<String>,
    /// A file holding the etcd user's password (one line).
    #[arg(long, requires = "etcd_user")]
    etcd_password_file: Option<PathBuf>,
    /// PEM CA that signed etcd's server certificates.
    #[arg(long)]
    etcd_ca_file: Option<PathBuf>,
    /// Longest wait for one etcd operation; past it a write answers 503.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    etcd_timeout: Duration,
}

impl EtcdArgs {
    fn options(&self, endpoints: Vec<String>) -> Result<EtcdOptions, String> {
        if endpoints.is_empty() {
            return Err("--store etcd needs --etcd-endpoints URL[,URL...]".into());
        }
        let mut options = EtcdOptions::new(endpoints);
        options.prefix = self.etcd_prefix.clone();
        options.ca_file = self.etcd_ca_file.clone();
        options.timeout = self.etcd_timeout;
        if let Some(user) = &self.etcd_user {
            let password = match &self.etcd_password_file {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|e| format!("--etcd-password-file {}: {e}", path.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
                None => std::env::var("WEIR_ETCD_PASSWORD").map_err(|_| {
                    "--etcd-user needs --etcd-password-file or WEIR_ETCD_PASSWORD".to_string()
                })?,
            };
            options.user = Some((user.clone(), password));
        }
        Ok(options)
    }
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| "must be read, operate, admin or gateway".to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Token {
            name,
            role,
            gateway_id,
        } => {
            match (role, &gateway_id) {
                (Role::Gateway, None) => {
                    eprintln!(
                        "weir-control-plane: a gateway token needs --gateway-id ID (or a pattern \
                         such as 'us-east-*'): it may speak only for those gateways"
                    );
                    return ExitCode::from(2);
                }
                (Role::Gateway, Some(id)) => {
                    if let Err(e) = IdPattern::parse(id) {
                        eprintln!("weir-control-plane: --gateway-id {e}");
                        return ExitCode::from(2);
                    }
                }
                (_, Some(_)) => {
                    eprintln!("weir-control-plane: --gateway-id is only for --role gateway");
                    return ExitCode::from(2);
                }
                (_, None) => {}
            }
            let token = new_token();
            println!("token (shown once; give it to its holder): {token}");
            println!();
            println!("[[tokens]]");
            println!("name = {name:?}");
            println!("role = \"{role}\"");
            println!("sha256 = \"{}\"", token_hash(&token));
            if let Some(id) = gateway_id {
                println!("gateway_id = {id:?}");
            }
            ExitCode::SUCCESS
        }
        Command::Migrate {
            from_dir,
            to_etcd,
            etcd,
        } => {
            init_logging();
            let options = match etcd.options(to_etcd) {
                Ok(options) => options,
                Err(e) => {
                    eprintln!("weir-control-plane: {e}");
                    return ExitCode::from(2);
                }
            };
            match weir_control_plane::store::migrate::migrate(&from_dir, &options) {
                Ok(copied) => {
                    println!(
                        "copied {} versions (current {}), {} audit lines and {} state records from {} to etcd {} {}",
                        copied.versions,
                        copied.current,
                        copied.audit_lines,
                        copied.state_records,
                        from_dir.display(),
                        options.endpoints.join(","),
                        options.prefix
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("weir-control-plane: migrate: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve {
            listen,
            store,
            data_dir,
            etcd,
            tokens,
            seed,
            heartbeat,
            tls_cert,
            tls_key,
            max_gateways,
            max_gateways_per_token,
            replica_id,
            leader_ttl,
        } => {
            init_logging();
            let etcd = match store {
                StoreKind::Files => None,
                StoreKind::Etcd => match etcd.options(etcd.etcd_endpoints.clone()) {
                    Ok(options) => Some(options),
                    Err(e) => {
                        eprintln!("weir-control-plane: {e}");
                        return ExitCode::from(2);
                    }
                },
            };
            let options = ServeOptions {
                listen,
                data_dir: data_dir.unwrap_or_default(),
                etcd,
                tokens,
                seed,
                heartbeat,
                tls: tls_cert.zip(tls_key),
                limits: weir_control_plane::fleet::Limits {
                    max_gateways,
                    max_per_token: max_gateways_per_token,
                },
                replica_id,
                leader_ttl,
            };
            match serve(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the control plane");
                    eprintln!("weir-control-plane: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// JSON log lines on stderr; `RUST_LOG` filters (default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
