//! What kluis sends a holder that requires a Wallet Attestation and key attestations, for the
//! independent verifier test (tests/attestation_interop, @openid4vc/oauth2 and
//! @openid4vc/openid4vci): starts the wallet provider, DUO (authorization code flow, requiring
//! `attest_jwt_client_auth` and `key_attestations_required`) and the scheme on loopback, lets a
//! fresh wallet collect (the citizen's login played in process), and prints one JSON line: the
//! authorization server / credential issuer identifier, the provider's certificate, and every
//! (attestation, PoP) pair and key proof the holder accepted.
//!
//! `cargo run -p kluis-tests --example attestation_artifacts`
#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use kluis_fixtures::servers::{
    HolderOptions, HolderServer, SchemeServer, WalletProviderOptions, WalletProviderServer,
    TEST_PASSWORD,
};
use kluis_tests::collecting::{options, quick_http, CITIZEN};
use serde_json::json;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let provider = WalletProviderServer::start(0, WalletProviderOptions::default())
        .await
        .unwrap();
    let holder = HolderServer::start(
        kluis_fixtures::holder("duo").unwrap(),
        0,
        HolderOptions {
            authorization_code: true,
            trusted_wallet_providers: vec![provider.certificate_der()],
            key_attestations_required: Some(Vec::new()),
            ..HolderOptions::default()
        },
    )
    .await
    .unwrap();
    let scheme = SchemeServer::start(0, std::slice::from_ref(&holder))
        .await
        .unwrap();
    scheme
        .list_wallet_provider(provider.base_url(), &provider.certificate_der())
        .unwrap();
    let (_dir, wallet) = kluis_tests::new_wallet();
    kluis_tests::pin_scheme(&wallet, &scheme, quick_http()).await;
    let offer = holder.offer(CITIZEN).unwrap();
    let session = wallet
        .preview_offer(&offer.offer_uri, options())
        .await
        .unwrap();
    let pending = wallet
        .start_authorization(session, "http://127.0.0.1:1/cb")
        .await
        .unwrap();
    let back = holder
        .log_in(pending.authorization_url(), CITIZEN, TEST_PASSWORD)
        .unwrap();
    let out = wallet.finish_authorization(pending, &back).await.unwrap();
    assert_eq!(out.stored.len(), 1);
    let client_auth: Vec<_> = holder
        .received_client_auth()
        .into_iter()
        .map(|(a, p)| json!({ "attestation": a, "pop": p }))
        .collect();
    println!(
        "{}",
        json!({
            "authorization_server": holder.base_url(),
            "credential_issuer": holder.base_url(),
            "wallet_provider_certificate":
                base64::engine::general_purpose::STANDARD.encode(provider.certificate_der()),
            "copies": out.stored[0].copies,
            "client_auth": client_auth,
            "proofs": holder.received_proofs(),
        })
    );
}
