//! Faults while collecting, over real HTTP: each one a clear, typed error, and the vault left
//! exactly as it was (no credential, no pending transaction, no log entry).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::{Error, ErrorCode, IssuanceFailure, NetworkFailure, Wallet};
use kluis_fixtures::servers::{percent_encode, Fault, Network};
use kluis_tests::collecting::*;

/// Collects `holder`'s offer with `fault` set and returns the error; checks nothing was stored.
async fn collect_with_fault(net: &Network, wallet: &Wallet, holder: &str, fault: Fault) -> Error {
    let h = net.holder(holder).unwrap();
    let before = wallet.audit_log().unwrap().len();
    let offer = h.offer(CITIZEN).unwrap();
    h.set_fault(fault);
    let err = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap_err();
    h.set_fault(Fault::None);
    assert_unchanged(wallet, before);
    err
}

fn vault_record_count(wallet: &Wallet) -> u64 {
    wallet.status().unwrap().credentials
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_transaction_code() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let before = wallet.audit_log().unwrap().len();
    let offer = net.holder("duo").unwrap().offer(CITIZEN).unwrap();
    let wrong = if offer.tx_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    let err = wallet
        .collect(&offer.offer_uri, Some(wrong), options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Issuance { kind: IssuanceFailure::Refused { status: 400, error: Some(e) }, reason } if e == "invalid_grant" && reason.contains("wrong transaction code")),
        "{err}"
    );
    assert_unchanged(&wallet, before);
    let err = wallet
        .collect(&offer.offer_uri, None, options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { reason } if reason.contains("transaction code")),
        "{err}"
    );
    assert_unchanged(&wallet, before);
    // The right code still works after one mistake.
    let out = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap();
    assert_eq!(out.stored.len(), 1);
    // And the pre-authorized code is single use.
    let err = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Issuance { kind: IssuanceFailure::Refused { status: 400, error: Some(e) }, reason } if e == "invalid_grant" && reason.contains("unknown or used")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_offer() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let before = wallet.audit_log().unwrap().len();
    let offer = net
        .holder("uwv")
        .unwrap()
        .offer_with(CITIZEN, false, -1)
        .unwrap();
    let err = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Issuance { kind: IssuanceFailure::Refused { status: 400, error: Some(e) }, reason } if e == "invalid_grant" && reason.contains("expired")),
        "{err}"
    );
    assert_unchanged(&wallet, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_down() {
    let (mut net, _dir, wallet) = network_and_wallet().await;
    let before = wallet.audit_log().unwrap().len();
    let i = net
        .holders
        .iter()
        .position(|h| h.holder().id == "cak")
        .unwrap();
    let offer = net.holders[i].offer(CITIZEN).unwrap();
    drop(net.holders.remove(i)); // the CAK goes down: its port is closed
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let err = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Network { kind: NetworkFailure::Unreachable, reason } if reason.contains("after 3 attempts")),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::Other);
    // Bounded: 3 attempts with 20 + 40 ms back-off, not a hang.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_unchanged(&wallet, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_too_slow() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let err = collect_with_fault(&net, &wallet, "rdw", Fault::Slow { delay_ms: 3000 }).await;
    assert!(
        matches!(&err, Error::Network { kind: NetworkFailure::Timeout, reason } if reason.contains("timed out")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_briefly_unavailable_holder_is_retried_with_back_off() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let h = net.holder("gemeente-utrecht").unwrap();
    let offer = h.offer(CITIZEN).unwrap();
    h.set_fault(Fault::Unavailable { remaining: 2 });
    let out = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap();
    assert_eq!(out.stored.len(), 2);
    // Two metadata, token, 2 × (nonce, credential), 2 notifications = 9, plus 2 retried 503s.
    assert_eq!(out.requests, 11);
    assert_eq!(h.request_count(), 11);
    // More failures than retries: a clear network error, nothing stored.
    let (_dir2, fresh) = wallet_with_scheme(&net).await;
    let err = collect_with_fault(
        &net,
        &fresh,
        "gemeente-utrecht",
        Fault::Unavailable { remaining: 10 },
    )
    .await;
    assert!(
        matches!(&err, Error::Network { kind: NetworkFailure::Unavailable { status: 503 }, reason } if reason.contains("HTTP 503")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_bound_to_another_holder_key() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let err = collect_with_fault(&net, &wallet, "duo", Fault::ForeignHolderKey).await;
    assert!(
        matches!(&err, Error::InvalidCredential { reason } if reason.contains("another holder key")),
        "{err}"
    );
    assert_eq!(vault_record_count(&wallet), 0);
    // The holder hears that nothing it sent was kept.
    let events: Vec<_> = net.holder("duo").unwrap().notifications();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1, "credential_failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_signed_with_a_key_the_scheme_does_not_list() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let err = collect_with_fault(&net, &wallet, "uwv", Fault::UnlistedKey).await;
    assert_eq!(err.code(), ErrorCode::InvalidCredential, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_of_a_type_other_than_offered() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let err = collect_with_fault(&net, &wallet, "cak", Fault::WrongVct).await;
    assert!(
        matches!(&err, Error::InvalidCredential { reason } if reason.contains("where urn:nl:cak:care-arrears:1 was offered")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credential_with_a_bad_signature() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let err = collect_with_fault(&net, &wallet, "belastingdienst", Fault::BadSignature).await;
    assert!(matches!(&err, Error::InvalidCredential { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_malformed_responses() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let err = collect_with_fault(&net, &wallet, "rdw", Fault::Oversized).await;
    assert!(
        matches!(&err, Error::Issuance { kind: IssuanceFailure::Malformed, reason } if reason.contains("larger than 1048576 bytes")),
        "{err}"
    );
    let err = collect_with_fault(&net, &wallet, "rdw", Fault::Malformed).await;
    assert!(
        matches!(&err, Error::Issuance { kind: IssuanceFailure::Malformed, reason } if reason.contains("not valid JSON")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_outside_loopback_is_refused() {
    let (_dir, wallet) = new_wallet();
    let before = wallet.audit_log().unwrap().len();
    let offer = serde_json::json!({
        "credential_issuer": "http://duo.example.nl",
        "credential_configuration_ids": ["student-debt"],
        "grants": { "urn:ietf:params:oauth:grant-type:pre-authorized_code": { "pre-authorized_code": "x" } }
    });
    let by_value = format!(
        "openid-credential-offer://?credential_offer={}",
        percent_encode(&offer.to_string())
    );
    let by_ref = format!(
        "openid-credential-offer://?credential_offer_uri={}",
        percent_encode("http://duo.example.nl/offer/1")
    );
    for uri in [by_value, by_ref] {
        let err = wallet.collect(&uri, None, options()).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { reason } if reason.contains("only https")),
            "{err}"
        );
    }
    let key = kluis_fixtures::servers::scheme_key()
        .unwrap()
        .public_jwk()
        .to_value()
        .to_string();
    let err = wallet
        .set_scheme(
            "http://scheme.example.nl/participants",
            &key,
            HttpPolicy::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { reason } if reason.contains("only https")),
        "{err}"
    );
    assert_unchanged(&wallet, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_offers_are_refused_before_any_request() {
    let (_dir, wallet) = new_wallet();
    for uri in [
        "",
        "openid-credential-offer://",
        "openid-credential-offer://?credential_offer=%7B%22credential_issuer%22%3A1%7D",
        "openid-credential-offer://?credential_offer=not-json",
        "https://example.nl/?x=1",
    ] {
        let err = wallet
            .collect(uri, None, CollectOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{uri}: {err}");
    }
    let long = format!(
        "openid-credential-offer://?credential_offer={}",
        "a".repeat(20_000)
    );
    assert!(wallet
        .collect(&long, None, CollectOptions::default())
        .await
        .is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_can_refuse_even_loopback_http() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let before = wallet.audit_log().unwrap().len();
    let offer = net.holder("duo").unwrap().offer(CITIZEN).unwrap();
    let strict = CollectOptions {
        http: HttpPolicy {
            allow_loopback_http: false,
            ..quick_http()
        },
        ..options()
    };
    let err = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), strict)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { reason } if reason.contains("only https")),
        "{err}"
    );
    assert_unchanged(&wallet, before);
    assert!(net.holder("duo").unwrap().archive().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_wrong_transaction_codes_burn_the_offer() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let before = wallet.audit_log().unwrap().len();
    let offer = net.holder("cak").unwrap().offer(CITIZEN).unwrap();
    let wrong = if offer.tx_code == "999999" {
        "888888"
    } else {
        "999999"
    };
    for _ in 0..5 {
        let err = wallet
            .collect(&offer.offer_uri, Some(wrong), options())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Issuance { .. }), "{err}");
    }
    // The short code cannot be guessed: after five misses the right one no longer works either.
    let err = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Issuance { kind: IssuanceFailure::Refused { status: 400, error: Some(e) }, reason } if e == "invalid_grant" && reason.contains("unknown or used")),
        "{err}"
    );
    assert_unchanged(&wallet, before);
}
