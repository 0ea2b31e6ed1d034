//! Transaction data end to end (issue 16 item 7; OpenID4VP 1.0 §5.1, §8.4, B.3.3): the bank asks
//! the citizen to confirm one mortgage offer (its document's SHA-256 and the amount) with the
//! answer. The real wallet (fixture holders' credentials, pinned scheme) shows it on the consent
//! screen and binds it in the key-binding JWT (`transaction_data_hashes`); the verifier library
//! checks the binding against the request it keeps. Attacks: an answer to a request with a
//! swapped amount, one that dropped the transaction, one that confirms another request's offer,
//! an unknown type (refused by both sides), an answer that leaves out the confirming credential.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kluis_core::audit::{AuditEvent, Channel};
use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::request::{ResponseMode, StatedPurpose};
use kluis_core::openid4vp::transaction_data::{self, Transaction, MORTGAGE_OFFER};
use kluis_core::openid4vp::verifier::{
    new_request, new_request_confirming, verify_response_with, PendingRequest, ResponseOutcome,
    VerifierConfig, VerifierTrust,
};
use kluis_core::openid4vp::PresentationRequest;
use kluis_core::{Error, VerifierError, Wallet};
use kluis_fixtures::servers::{
    requesting_party_key, trust_from_holders, HolderOptions, Network, BANK,
};
use serde_json::{json, Value};

const CITIZEN: &str = "daan";

fn quick_http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(2000), 1)
}

struct World {
    net: Network,
    _dir: tempfile::TempDir,
    wallet: Wallet,
    trust: VerifierTrust,
    ctx: kluis_core::delegation::DelegationContext,
}

async fn world() -> World {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (dir, wallet) = kluis_tests::collected_wallet(&net, CITIZEN, quick_http()).await;
    let trust = trust_from_holders(&net.holders);
    // The holders' status lists, fetched beforehand: the bank checks each credential's status.
    let lists = kluis_core::status::StatusLists::new();
    let uris: Vec<String> = net
        .holders
        .iter()
        .map(|h| format!("{}/status", h.base_url()))
        .collect();
    lists.fetch(&uris, quick_http()).await.unwrap();
    let ctx = kluis_core::delegation::DelegationContext::default().with_credential_status(lists);
    World {
        net,
        _dir: dir,
        wallet,
        trust,
        ctx,
    }
}

fn bank(net: &Network) -> VerifierConfig {
    VerifierConfig {
        client_id: BANK.into(),
        signing_key: requesting_party_key(BANK).unwrap(),
        attestation: None,
        x5c: Vec::new(),
        response_uri: format!("{}/response", net.verifier(BANK).unwrap().origin()),
        response_mode: ResponseMode::DirectPostJwt,
        purpose: Some(StatedPurpose {
            id: "mortgage".into(),
            retention_days: Some(365),
        }),
        lifetime_secs: 300,
    }
}

/// The bank's identity query: the citizen's names from the municipality.
fn dcql() -> Value {
    json!({ "credentials": [ { "id": "person", "format": "dc+sd-jwt",
        "meta": { "vct_values": ["urn:nl:gemeente:brp-address:1"] },
        "claims": [ { "path": ["given_name"] }, { "path": ["family_name"] } ] } ] })
}

fn offer(id: &str, amount_eur_cents: u64) -> Transaction {
    Transaction::MortgageOffer {
        offer_id: id.into(),
        document_label: format!("Hypotheekofferte {id}"),
        // SHA-256 of a stand-in for the offer document.
        document_sha256: transaction_data::hash(&format!("offer document {id}")),
        amount_eur_cents,
    }
}

fn mortgage(o: Transaction) -> Value {
    transaction_data::encode(&[(o, vec!["person".into()])], true)
}

/// The request object `pending` would be with other claims, signed by the bank: what a wallet
/// would be shown if the request were not the one the bank keeps.
fn signed_variant(
    net: &Network,
    pending: &PendingRequest,
    change: impl FnOnce(&mut Value),
) -> String {
    let mut claims = pending.claims.clone();
    change(&mut claims);
    let mut other = pending.clone();
    let config = bank(net);
    other.resign(&config.signing_key, None, claims).unwrap();
    other.request_object
}

fn shown(w: &World, jwt: &str) -> Result<PresentationRequest, Error> {
    w.wallet
        .presentation_from_request_object(jwt, Some(BANK), Channel::Remote, "nl")
}

/// The wallet's answer (built, not sent) to the request object `jwt`, with the default choice.
fn answer(w: &World, jwt: &str) -> Vec<(String, String)> {
    let req = shown(w, jwt).unwrap();
    w.wallet
        .build_presentation_response(&req, &req.default_choice())
        .unwrap()
        .form
}

fn verify(
    w: &World,
    form: &[(String, String)],
    pending: &PendingRequest,
) -> Result<ResponseOutcome, VerifierError> {
    verify_response_with(form, pending, &w.trust, kluis_core::now_unix(), &w.ctx)
}

fn refused(r: Result<ResponseOutcome, VerifierError>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(o) => panic!("accepted: {o:?}"),
    }
}

/// The KB-JWT payload of the only presentation in a `direct_post.jwt` answer, decrypted with
/// the request's key by the verifier library's own verification (here: read from the vp_token
/// the wallet built).
fn kb_payload(w: &World, jwt: &str) -> Value {
    let req = shown(w, jwt).unwrap();
    let built = w
        .wallet
        .build_presentation_response(&req, &req.default_choice())
        .unwrap();
    let p = built.vp_token["person"][0].as_str().unwrap().to_string();
    let kb = p.rsplit('~').next().unwrap();
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(kb.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_citizen_sees_the_offer_and_the_bank_verifies_what_was_confirmed() {
    let w = world().await;
    let now = kluis_core::now_unix();
    let the_offer = offer("HYP-2026-0042", 35_000_000);
    let pending =
        new_request_confirming(&bank(&w.net), &dcql(), mortgage(the_offer.clone()), now).unwrap();

    // The consent screen shows what is confirmed.
    let req = shown(&w, &pending.request_object).unwrap();
    assert_eq!(req.transactions.len(), 1);
    assert_eq!(req.transactions[0].kind, MORTGAGE_OFFER);
    assert_eq!(req.transactions[0].transaction, the_offer);
    assert_eq!(
        req.transactions[0].confirmed_with,
        vec!["person".to_string()]
    );

    // Bound in the KB-JWT: the hash of the entry exactly as sent, and the algorithm asked.
    let kb = kb_payload(&w, &pending.request_object);
    let sent = pending.claims["transaction_data"][0].as_str().unwrap();
    assert_eq!(
        kb["transaction_data_hashes"],
        json!([transaction_data::hash(sent)])
    );
    assert_eq!(kb["transaction_data_hashes_alg"], "sha-256");

    let form = answer(&w, &pending.request_object);
    match verify(&w, &form, &pending).unwrap() {
        ResponseOutcome::Verified { credentials } => {
            assert!(credentials["person"][0].claims.get("family_name").is_some());
        }
        other => panic!("not verified: {other:?}"),
    }
}

#[tokio::test]
async fn a_swapped_amount_a_dropped_hash_or_another_requests_offer_is_refused() {
    let w = world().await;
    let now = kluis_core::now_unix();
    let pending = new_request_confirming(
        &bank(&w.net),
        &dcql(),
        mortgage(offer("HYP-2026-0042", 35_000_000)),
        now,
    )
    .unwrap();

    // The citizen was shown a lower amount than the bank records (same nonce, same offer id).
    let swapped = signed_variant(&w.net, &pending, |c| {
        c["transaction_data"] = mortgage(offer("HYP-2026-0042", 30_000_000));
    });
    let e = refused(verify(&w, &answer(&w, &swapped), &pending));
    assert!(e.contains("did not ask"), "{e}");
    assert!(
        !e.contains("300000") && !e.contains("30000000"),
        "no amount in the error: {e}"
    );

    // The answer confirms nothing: the citizen never saw the offer.
    let dropped = signed_variant(&w.net, &pending, |c| {
        c.as_object_mut().unwrap().remove("transaction_data");
    });
    let e = refused(verify(&w, &answer(&w, &dropped), &pending));
    assert!(e.contains("not confirmed by any presentation"), "{e}");

    // Another request's offer, bound with this request's nonce.
    let other = signed_variant(&w.net, &pending, |c| {
        c["transaction_data"] = mortgage(offer("HYP-2026-0099", 35_000_000));
    });
    let e = refused(verify(&w, &answer(&w, &other), &pending));
    assert!(e.contains("did not ask"), "{e}");

    // A request without transaction data gets no hashes, and an answer that carries one for a
    // request that asked nothing is refused.
    let plain = new_request(&bank(&w.net), &dcql(), now).unwrap();
    assert!(kb_payload(&w, &plain.request_object)
        .get("transaction_data_hashes")
        .is_none());
    let smuggled = signed_variant(&w.net, &plain, |c| {
        c["transaction_data"] = mortgage(offer("HYP-2026-0042", 35_000_000));
    });
    let e = refused(verify(&w, &answer(&w, &smuggled), &plain));
    assert!(e.contains("did not ask"), "{e}");

    // The honest answer to the kept request still verifies: nothing above used it up.
    assert!(matches!(
        verify(&w, &answer(&w, &pending.request_object), &pending),
        Ok(ResponseOutcome::Verified { .. })
    ));
}

#[tokio::test]
async fn an_unknown_type_is_refused_by_the_wallet_and_the_bank() {
    let w = world().await;
    let now = kluis_core::now_unix();
    let unknown = json!([URL_SAFE_NO_PAD.encode(
        json!({ "type": "urn:example:payment:1", "credential_ids": ["person"], "amount": "1" })
            .to_string()
    )]);
    // The bank's library does not build it.
    assert!(matches!(
        new_request_confirming(&bank(&w.net), &dcql(), unknown.clone(), now),
        Err(VerifierError::InvalidInput { .. })
    ));
    // A request that carries it is refused whole by the wallet, logged, nothing sent.
    let pending =
        new_request_confirming(&bank(&w.net), &dcql(), mortgage(offer("HYP-1", 100)), now).unwrap();
    let with_unknown = signed_variant(&w.net, &pending, |c| {
        let mut both = c["transaction_data"].as_array().unwrap().clone();
        both.extend(unknown.as_array().unwrap().iter().cloned());
        c["transaction_data"] = Value::Array(both);
    });
    let before = w.wallet.audit_log().unwrap().len();
    let e = shown(&w, &with_unknown).unwrap_err();
    assert!(matches!(e, Error::InvalidRequest { .. }), "{e:?}");
    assert!(e.to_string().contains("does not know"), "{e}");
    assert_eq!(
        kluis_tests::last_refusal(&w.wallet).as_deref(),
        Some("invalid_transaction_data")
    );
    assert_eq!(w.wallet.audit_log().unwrap().len(), before + 1);
    assert!(!w
        .wallet
        .audit_log()
        .unwrap()
        .iter()
        .any(|e| matches!(e.event, AuditEvent::Disclosed { .. })));

    // A bank whose kept request names an unknown type verifies no answer against it.
    let mut kept = pending.clone();
    let mut claims = kept.claims.clone();
    claims["transaction_data"] = unknown;
    kept.resign(&bank(&w.net).signing_key, None, claims)
        .unwrap();
    let e = refused(verify(&w, &answer(&w, &pending.request_object), &kept));
    assert!(e.contains("does not know"), "{e}");
}

#[tokio::test]
async fn an_answer_without_the_confirming_credential_is_not_built() {
    let w = world().await;
    let now = kluis_core::now_unix();
    // Two queries; the offer is confirmed with the income statement, which is optional.
    let dcql = json!({
        "credentials": [
            { "id": "person", "format": "dc+sd-jwt", "meta": { "vct_values": ["urn:nl:gemeente:brp-address:1"] },
              "claims": [ { "path": ["family_name"] } ] },
            { "id": "income", "format": "dc+sd-jwt", "meta": { "vct_values": ["urn:nl:uwv:income-statement:1"] },
              "claims": [ { "path": ["year"] } ] } ],
        "credential_sets": [ { "options": [["person"]] }, { "options": [["income"]], "required": false } ] });
    let td = transaction_data::encode(&[(offer("HYP-7", 100), vec!["income".into()])], false);
    let pending = new_request_confirming(&bank(&w.net), &dcql, td, now).unwrap();
    let req = shown(&w, &pending.request_object).unwrap();
    let mut choice = req.default_choice();
    choice.queries.remove("income");
    let e = w
        .wallet
        .build_presentation_response(&req, &choice)
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    assert!(e.to_string().contains("'income'"), "{e}");

    // With it, the income statement's KB-JWT carries the hash (no algorithm: none was named)
    // and the person's does not.
    let mut choice = req.default_choice();
    if !choice.queries.contains_key("income") {
        let q = req.queries.iter().find(|q| q.query_id == "income").unwrap();
        choice.queries.insert(
            "income".into(),
            kluis_core::openid4vp::QueryChoice {
                credential_ids: vec![q.candidates[0].credential_id.clone()],
                claims: q.claims.iter().map(|c| c.path.clone()).collect(),
            },
        );
    }
    let built = w.wallet.build_presentation_response(&req, &choice).unwrap();
    let kb = |qid: &str| -> Value {
        let p = built.vp_token[qid][0].as_str().unwrap().to_string();
        let kb = p.rsplit('~').next().unwrap().to_string();
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(kb.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(
        kb("income")["transaction_data_hashes"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(kb("income").get("transaction_data_hashes_alg").is_none());
    assert!(kb("person").get("transaction_data_hashes").is_none());
    assert!(matches!(
        verify(&w, &built.form, &pending),
        Ok(ResponseOutcome::Verified { .. })
    ));
}
