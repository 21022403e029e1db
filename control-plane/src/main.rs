//! `weir-control-plane`: serve the API and the push stream from a durable store, or make a token.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use weir_control_plane::auth::{IdPattern, Role, new_token, token_hash};
use weir_control_plane::server::{ServeOptions, serve};

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
        /// Directory of the store (created if missing).
        #[arg(long)]
        data_dir: PathBuf,
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
        Command::Serve {
            listen,
            data_dir,
            tokens,
            seed,
            heartbeat,
            tls_cert,
            tls_key,
            max_gateways,
            max_gateways_per_token,
        } => {
            init_logging();
            let options = ServeOptions {
                listen,
                data_dir,
                tokens,
                seed,
                heartbeat,
                tls: tls_cert.zip(tls_key),
                limits: weir_control_plane::fleet::Limits {
                    max_gateways,
                    max_per_token: max_gateways_per_token,
                },
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
