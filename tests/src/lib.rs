//! Shared helpers for kluis's end-to-end tests (see `tests/`): wallets in temp dirs with the
//! cheap test KDF, the simulated holders trusted, and their credentials collected.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kluis_core::{
    KdfParams, OnLimit, Pin, SoftwareDeviceSecretStore, VaultOptions, VaultPolicy, Wallet,
};

/// The PIN every test wallet uses.
pub const PIN: &str = "314159";

/// Test-only vault options: cheap Argon2id, one-second back-off.
pub fn test_options() -> VaultOptions {
    VaultOptions {
        kdf: KdfParams::dangerous_test_profile(),
        policy: VaultPolicy {
            max_attempts: Some(5),
            free_attempts: 2,
            backoff_base_secs: 1,
            backoff_max_secs: 1,
            on_limit: OnLimit::Wipe,
        },
    }
}

/// A wallet in its own temp dir, with every simulated holder trusted.
pub struct TestWallet {
    pub dir: tempfile::TempDir,
    pub wallet: Wallet,
}

impl TestWallet {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let wallet = Wallet::create(
            dir.path(),
            &Pin::new(PIN),
            test_options(),
            Arc::new(SoftwareDeviceSecretStore::new(dir.path())),
        )
        .unwrap();
        for h in kluis_fixtures::holders().unwrap() {
            wallet
                .add_trusted_issuer(&h.iss, &h.public_jwk().unwrap().to_value().to_string())
                .unwrap();
        }
        TestWallet { dir, wallet }
    }

    /// Collects every credential the simulated holders have for `citizen`.
    pub fn collect(&self, citizen: &str) -> Vec<kluis_core::CredentialSummary> {
        let jwk =
            kluis_core::sdjwt::PublicJwk::from_json(&self.wallet.holder_public_jwk().unwrap())
                .unwrap();
        kluis_fixtures::issue_all_for(citizen, &jwk, kluis_core::now_unix())
            .unwrap()
            .iter()
            .map(|s| self.wallet.import_credential(&s.compact).unwrap())
            .collect()
    }

    /// Reopens the same vault as a new process would (locked).
    pub fn reopen(&self) -> Wallet {
        Wallet::open(
            self.dir.path(),
            Arc::new(SoftwareDeviceSecretStore::new(self.dir.path())),
        )
        .unwrap()
    }

    /// The trust list a requesting party would hold: the holders' keys.
    pub fn verifier_trust() -> kluis_core::trust::TrustList {
        let mut t = kluis_core::trust::TrustList::new();
        for h in kluis_fixtures::holders().unwrap() {
            t.add(&h.iss, h.public_jwk().unwrap());
        }
        t
    }
}

impl Default for TestWallet {
    fn default() -> Self {
        Self::new()
    }
}
