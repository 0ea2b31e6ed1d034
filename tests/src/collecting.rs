//! Set-up for the collecting tests (`collect_flow`, `collect_faults`, and those that collect the
//! same way: `delegation`, `holder_keys`): short timeouts with retries, the six simulated
//! holders plus the scheme running on 127.0.0.1 inside the test process, a wallet that pinned
//! the scheme, and what a failed collect must leave behind.

use std::time::Duration;

use kluis_core::audit::AuditEvent;
use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::Wallet;
use kluis_fixtures::servers::{HolderOptions, HolderServer, Network, SchemeServer};
use kluis_fixtures::Holder;

pub use crate::new_wallet;

pub const CITIZEN: &str = "daan";

/// Short timeouts and back-off so fault tests finish quickly. The timeout leaves room for a
/// party that verifies an answer (status lists, registry lists) on a loaded CI machine, where
/// 800 ms was seen to run out; `Fault::Slow` tests stay above it.
pub fn quick_http() -> HttpPolicy {
    crate::loopback_http(Duration::from_millis(2000), 2)
}

pub fn options() -> CollectOptions {
    CollectOptions {
        http: quick_http(),
        ..CollectOptions::default()
    }
}

pub async fn network() -> Network {
    Network::start(None, HolderOptions::for_holder)
        .await
        .unwrap()
}

/// A wallet that pinned the scheme of `net`.
pub async fn wallet_with_scheme(net: &Network) -> (tempfile::TempDir, Wallet) {
    let (dir, wallet) = new_wallet();
    crate::pin_scheme(&wallet, &net.scheme, quick_http()).await;
    (dir, wallet)
}

/// The simulated network and a wallet that pinned its scheme: the start of most collecting tests.
pub async fn network_and_wallet() -> (Network, tempfile::TempDir, Wallet) {
    let net = network().await;
    let (dir, wallet) = wallet_with_scheme(&net).await;
    (net, dir, wallet)
}

/// `holder` served alone with `options`, a scheme listing only it, and a wallet that pinned
/// that scheme.
pub async fn one_holder(
    holder: Holder,
    options: HolderOptions,
) -> (HolderServer, SchemeServer, tempfile::TempDir, Wallet) {
    let server = HolderServer::start(holder, 0, options).await.unwrap();
    let scheme = SchemeServer::start(0, std::slice::from_ref(&server))
        .await
        .unwrap();
    let (dir, wallet) = new_wallet();
    crate::pin_scheme(&wallet, &scheme, quick_http()).await;
    (server, scheme, dir, wallet)
}

/// What a failed collect must leave behind: no credential, nothing pending, no new log entry.
pub fn assert_unchanged(wallet: &Wallet, audit_entries_before: usize) {
    assert!(
        wallet.credentials("nl").unwrap().is_empty(),
        "a credential was stored"
    );
    assert!(
        wallet.pending_issuances().unwrap().is_empty(),
        "a transaction was kept"
    );
    let log = wallet.audit_log().unwrap();
    assert_eq!(log.len(), audit_entries_before, "the audit log changed");
    assert!(!log
        .iter()
        .any(|e| matches!(e.event, AuditEvent::CredentialCollected { .. })));
}
