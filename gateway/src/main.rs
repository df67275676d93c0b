//! The `signpost` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use signpost_gateway::config::{Config, sandbox};
use signpost_gateway::server::Gateway;

#[derive(Parser)]
#[command(
    name = "signpost",
    version,
    about = "FHIR R4 gateway for social prescribing referrals"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway; with no config, the sandbox.
    Serve {
        /// TOML config file.
        #[arg(long, env = "SIGNPOST_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Load and check a config file, printing every problem with its path.
    CheckConfig {
        /// TOML config file.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => match Config::load(&file) {
            Ok(config) => {
                println!(
                    "{}: OK ({} organisations, {} clients, {} routes)",
                    file.display(),
                    config.organisations.len(),
                    config.clients.len(),
                    config.routes.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{}: configuration errors:\n{errors}", file.display());
                ExitCode::FAILURE
            }
        },
        Command::Serve { config } => serve(config),
    }
}

fn serve(config_file: Option<PathBuf>) -> ExitCode {
    let sandbox = config_file.is_none();
    let config = match &config_file {
        Some(file) => Config::load(file)
            .map_err(|e| format!("{}: configuration errors:\n{e}", file.display())),
        None => sandbox::config().map_err(|e| format!("sandbox configuration errors:\n{e}")),
    };
    let config = match config {
        Ok(c) => c,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        if sandbox {
            sandbox::prepare_files()?;
        }
        let guide = sandbox.then(|| sandbox::guide(&config));
        let gateway = Gateway::start(config).await?;
        tracing::info!(listen = %gateway.local_addr()?, "signpost listening");
        if let Some(guide) = guide {
            println!("{guide}");
        } else {
            tracing::warn!("token security is not implemented yet: every FHIR endpoint is open");
        }
        gateway.run().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signpost: {e:#}");
            ExitCode::FAILURE
        }
    }
}
