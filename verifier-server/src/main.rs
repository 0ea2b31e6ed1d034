//! `kluis-verifier serve [--config FILE] [--listen ADDR] [--public-url URL]`: runs the party's
//! verifier until interrupted. Prints one JSON line on stdout once listening
//! (`{"listening": "127.0.0.1:7300", "public_url": ..., "client_id": ..., "state": "memory"}`).
//! Exit codes: 0 stopped, 1 cannot start (configuration, port, state store), 2 usage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use kluis_verifier_server::{open_state, routes, spawn_sweeper, Backend, Config, Verifier};

#[derive(Parser)]
#[command(
    name = "kluis-verifier",
    about = "A requesting party's OpenID4VP verifier service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the party's API and the wallet endpoints.
    Serve {
        /// The configuration file (TOML); without it, the embedded default.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen here instead (`127.0.0.1:0`: any free port).
        #[arg(long)]
        listen: Option<String>,
        /// The URL wallets reach, instead of the file's.
        #[arg(long)]
        public_url: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Serve {
        config,
        listen,
        public_url,
    } = cli.command;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kluis-verifier: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(config, listen, public_url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kluis-verifier: {e}");
            ExitCode::from(1)
        }
    }
}

async fn serve(
    config: Option<PathBuf>,
    listen: Option<String>,
    public_url: Option<String>,
) -> Result<(), String> {
    let config = match &config {
        Some(p) => Config::load(p),
        None => Config::embedded(),
    }
    .map_err(|e| e.to_string())?;
    let listen = listen.unwrap_or_else(|| config.file.listen.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let public_url = public_url.or_else(|| {
        // A port chosen at start (":0") is only known now.
        (config.file.public_url.is_none() || listen.ends_with(":0"))
            .then(|| format!("http://{addr}"))
    });
    let settings = config
        .settings(public_url.as_deref())
        .map_err(|e| e.to_string())?;
    let backend = config.backend().map_err(|e| e.to_string())?;
    let state = open_state(&backend).await.map_err(|e| e.to_string())?;
    let verifier = Arc::new(Verifier::new(settings, state).map_err(|e| e.to_string())?);
    verifier.start().await.map_err(|e| e.to_string())?;
    let _sweeper = spawn_sweeper(
        Arc::clone(&verifier),
        Duration::from_secs(config.file.sweep_interval_secs.max(1)),
    );
    let backend_name = match backend {
        Backend::Memory => "memory",
        Backend::Redis { .. } => "redis",
    };
    println!(
        "{}",
        serde_json::json!({
            "listening": addr.to_string(),
            "public_url": verifier.public_url(),
            "client_id": verifier.client_id(),
            "state": backend_name,
        })
    );
    axum::serve(listener, routes::router(verifier))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
}
