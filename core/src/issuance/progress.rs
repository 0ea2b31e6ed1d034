//! Progress of collecting, per holder: what an app shows while a collect runs and what the CLI
//! prints. The core reports; the listener only watches (it cannot change the outcome).

use super::PendingSummary;
use crate::credentials::CredentialSummary;
use crate::Error;

/// One step of collecting from a holder.
#[derive(Debug, Clone)]
pub enum CollectEvent {
    /// Asking `issuer` for its offered credentials (or a deferred one, when polling).
    Started { issuer: String },
    /// `issuer` is still preparing a credential of type `vct` (deferred issuance): the wallet
    /// waits a little, then leaves it pending.
    WaitingForDeferred { issuer: String, vct: String },
    /// What `issuer` delivered was verified and stored; `pending` it will deliver later.
    Stored {
        issuer: String,
        stored: Vec<CredentialSummary>,
        pending: Vec<PendingSummary>,
    },
    /// Collecting from `issuer` failed; nothing of it was stored.
    Failed { issuer: String, error: Error },
}

/// Receives [`CollectEvent`]s, on the collecting thread, in order. Keep it quick.
pub trait CollectProgress: Send + Sync {
    fn event(&self, event: &CollectEvent);
}

/// Reports to no one.
pub struct NoProgress;

impl CollectProgress for NoProgress {
    fn event(&self, _: &CollectEvent) {}
}
