//! Shared set-up for the collecting tests (`collect_flow`, `collect_faults`): a fresh wallet with
//! the cheap test KDF and nothing trusted by hand, and the six simulated holders plus the scheme
//! running on 127.0.0.1 inside the test process. Included with `#[path]`; on its own it is an
//! empty test crate.
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::Arc;
use std::time::Duration;

use kluis_core::audit::AuditEvent;
use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::{Pin, SoftwareDeviceSecretStore, Wallet};
use kluis_fixtures::servers::{HolderOptions, Network};

pub const CITIZEN: &str = "daan";

pub fn new_wallet() -> (tempfile::TempDir, Wallet) {
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::create(
        dir.path(),
        &Pin::new(kluis_tests::PIN),
        kluis_tests::test_options(),
        Arc::new(SoftwareDeviceSecretStore::new(dir.path())),
    )
    .unwrap();
    (dir, wallet)
}

/// Short timeouts and back-off so fault tests finish quickly.
pub fn quick_http() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_millis(800),
        connect_timeout: Duration::from_millis(300),
        retries: 2,
        backoff: Duration::from_millis(20),
        max_body_bytes: 1024 * 1024,
        allow_loopback_http: true,
    }
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
    let key = net.scheme.public_jwk().unwrap().to_value().to_string();
    wallet
        .set_scheme(&net.scheme.list_uri(), &key, quick_http())
        .await
        .unwrap();
    (dir, wallet)
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
