//! Shared set-up for kluis's end-to-end tests (see `tests/`): wallets in temp dirs with the
//! cheap test KDF, either trusting the simulated holders by hand ([`TestWallet`]) or pinned to
//! the simulated scheme on loopback with the citizen's offers collected ([`collected_wallet`]);
//! the collecting tests' policy and checks ([`collecting`]); the binaries as child processes
//! ([`fixtures_cli`]); the landlord as a `kluis-verifier` process ([`service`]).
#![allow(clippy::unwrap_used)]

pub mod collecting;
pub mod fixtures_cli;
pub mod service;

use std::sync::Arc;
use std::time::Duration;

use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::openid4vp::proximity::{run_verifier_session, start_verifier_session, HttpRelay};
use kluis_core::openid4vp::verifier::{ResponseOutcome, VerifierConfig, VerifierTrust};
use kluis_core::{
    KdfParams, OnLimit, Pin, SoftwareDeviceSecretStore, VaultOptions, VaultPolicy, Wallet,
};
use kluis_fixtures::servers::{Network, SchemeServer};
use serde_json::Value;

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
        let (dir, wallet) = new_wallet();
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

/// A fresh wallet in its own temp dir, nothing trusted by hand (trust comes from the scheme).
pub fn new_wallet() -> (tempfile::TempDir, Wallet) {
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::create(
        dir.path(),
        &Pin::new(PIN),
        test_options(),
        Arc::new(SoftwareDeviceSecretStore::new(dir.path())),
    )
    .unwrap();
    (dir, wallet)
}

/// Loopback HTTP with a short connect timeout and back-off, so tests of failures end quickly;
/// the whole-request `timeout` and the `retries` as the test needs them.
pub fn loopback_http(timeout: Duration, retries: u32) -> HttpPolicy {
    HttpPolicy {
        timeout,
        connect_timeout: Duration::from_millis(300),
        retries,
        backoff: Duration::from_millis(20),
        max_body_bytes: 1024 * 1024,
        allow_loopback_http: true,
        ..HttpPolicy::default()
    }
}

/// Pins `scheme` (its list URI and its key) in `wallet`.
pub async fn pin_scheme(wallet: &Wallet, scheme: &SchemeServer, http: HttpPolicy) {
    let key = scheme.public_jwk().unwrap().to_value().to_string();
    wallet
        .set_scheme(&scheme.list_uri(), &key, http)
        .await
        .unwrap();
}

/// Collects every offer the holders of `net` have for `citizen`.
pub async fn collect_every_offer(wallet: &Wallet, net: &Network, citizen: &str, http: HttpPolicy) {
    for offer in net.offers_for(citizen) {
        let options = CollectOptions {
            http: http.clone(),
            ..CollectOptions::default()
        };
        wallet
            .collect(&offer.offer_uri, Some(&offer.tx_code), options)
            .await
            .unwrap();
    }
}

/// A fresh wallet that pinned the scheme of `net` and collected everything its holders have
/// for `citizen`.
pub async fn collected_wallet(
    net: &Network,
    citizen: &str,
    http: HttpPolicy,
) -> (tempfile::TempDir, Wallet) {
    let (dir, wallet) = new_wallet();
    pin_scheme(&wallet, &net.scheme, http.clone()).await;
    collect_every_offer(&wallet, net, citizen, http).await;
    (dir, wallet)
}

/// The reason code of the wallet's last refused presentation request, from its audit log.
pub fn last_refusal(wallet: &Wallet) -> Option<String> {
    wallet
        .audit_log()
        .unwrap()
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            kluis_core::audit::AuditEvent::PresentationRefused { reason, .. } => {
                Some(reason.clone())
            }
            _ => None,
        })
}

/// The party's desk in an in-person session: starts the session for the citizen's session QR
/// and runs it, in a task, over the relay the QR names (it waits up to `wait` for the answer).
pub fn spawn_desk(
    qr_text: &str,
    config: &VerifierConfig,
    dcql: &Value,
    trust: VerifierTrust,
    wait: Duration,
) -> tokio::task::JoinHandle<Result<ResponseOutcome, kluis_core::VerifierError>> {
    let session = start_verifier_session(qr_text, config, dcql, kluis_core::now_unix()).unwrap();
    tokio::spawn(async move {
        let relay = HttpRelay::for_engagement(&session.engagement).unwrap();
        run_verifier_session(&session, &relay, &trust, wait).await
    })
}

/// The bank as a `verifier_attestation:` party on a port of its own (the fixture bank is an
/// `x509_hash:` party): for the tests of attested parties, listed (by its id) or not.
pub async fn attested_bank(
    net: &kluis_fixtures::servers::Network,
) -> kluis_fixtures::servers::VerifierServer {
    use kluis_fixtures::servers::{
        bank, trust_from_holders, Identity, PartyConfig, VerifierServer,
    };
    VerifierServer::start(
        PartyConfig {
            identity: Identity::Attested,
            ..bank()
        },
        0,
        trust_from_holders(&net.holders),
        net.scheme.base_url(),
        None,
    )
    .await
    .unwrap()
}
