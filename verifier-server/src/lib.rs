//! `kluis-verifier`: a requesting party's OpenID4VP 1.0 verifier as an HTTP service (docs/VERIFIER.md).
//!
//! Layers, top down: [`routes`] (HTTP, the one error mapping) → [`service`] (the party's use
//! cases over the kluis-verifier library) → [`state`] (the shared state trait, in memory or
//! Redis). [`config`] reads the TOML file. Any number of instances with the same configuration
//! and one Redis serve one party: nothing that a later step needs stays in a process.

pub mod config;
pub mod routes;
pub mod service;
pub mod state;

use std::sync::Arc;

pub use config::{Backend, Config, ConfigError};
pub use service::{Clock, ServiceError, Settings, Verifier};
pub use state::{MemoryState, RedisState, VerifierState};

/// Opens the configured state backend.
pub async fn open_state(backend: &Backend) -> Result<Arc<dyn VerifierState>, state::StateError> {
    Ok(match backend {
        Backend::Memory => Arc::new(MemoryState::default()),
        Backend::Redis { url, prefix } => {
            Arc::new(RedisState::connect(url, prefix, std::time::Duration::from_secs(2)).await?)
        }
    })
}

/// Deletes results past their retention every `every` until the verifier is dropped elsewhere.
pub fn spawn_sweeper(
    verifier: Arc<Verifier>,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match verifier.sweep().await {
                Ok(0) => {}
                Ok(n) => eprintln!("kluis-verifier: deleted {n} result(s) past their retention"),
                Err(e) => eprintln!("kluis-verifier: retention sweep failed: {e}"),
            }
        }
    })
}

/// Serves `verifier` on `listener` in the background (tests, embedding in another process).
pub fn spawn_server(
    listener: tokio::net::TcpListener,
    verifier: Arc<Verifier>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, routes::router(verifier)).await;
    })
}
