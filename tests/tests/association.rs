//! One answer, one wallet (issue 12 item 7; docs/PRESENTING.md "One answer, one wallet"): an
//! answer whose presentations come from two people is refused, in every channel, while honest
//! multi-credential answers verify. The attacks: Alice's BRP name and Bob's CAK "no arrears",
//! each key-bound for the same nonce and party, put in one offline QR; two honest wallets'
//! answers to the same remote request spliced into one `vp_token`; an in-person answer with one
//! presentation swapped for another person's. And crafted KB-JWTs: the claim missing in one of
//! two, or naming a key the answer does not hold.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::association::{self, AssociationError, CLAIM};
use kluis_core::openid4vp::offline::{verify_offline, MemoryReplayCache, OfflineExpectations};
use kluis_core::openid4vp::proximity::{SessionChannel, WalletEngagement};
use kluis_core::openid4vp::request::{ResponseMode, StatedPurpose};
use kluis_core::openid4vp::response::{response_form, Form};
use kluis_core::openid4vp::verifier::VerifierConfig;
use kluis_core::openid4vp::{rental_dcql, BuiltResponse, PresentationRequest};
use kluis_core::sdjwt::{ClaimPath, Credential, SigningKey, VerifyOptions};
use kluis_core::Wallet;
use kluis_fixtures::servers::{
    requesting_party_key, trust_from_holders, HolderOptions, Network, LANDLORD,
};
use kluis_tests::fixtures_cli::KluisVault;
use kluis_tests::{collected_wallet, TestWallet};
use serde_json::{json, Map, Value};

const ALICE: &str = "mohamed";
const BOB: &str = "daan";
const BRP: &str = "urn:nl:gemeente:brp-address:1";
const CAK: &str = "urn:nl:cak:care-arrears:1";

fn quick_http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(2000), 1)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn kb_payload(presentation: &str) -> Value {
    use base64::Engine;
    let kb = presentation.rsplit('~').next().unwrap();
    let p = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(kb.split('.').nth(1).unwrap())
        .unwrap();
    serde_json::from_slice(&p).unwrap()
}

fn id_of(t: &TestWallet, vct: &str) -> String {
    t.wallet
        .credentials("en")
        .unwrap()
        .into_iter()
        .find(|c| c.vct == vct)
        .unwrap()
        .id
}

/// The issue's reproduction: Alice's name and Bob's "no arrears", each presented for the same
/// nonce and party (`kluis present --nonce N --aud A` makes exactly such presentations), in one
/// `KL2:` payload. Refused by the verifier library and by `kluis verify-qr` (exit 5).
#[test]
fn an_offline_qr_with_two_peoples_credentials_is_refused() {
    let (alice, bob) = (TestWallet::new(), TestWallet::new());
    alice.collect(ALICE);
    bob.collect(BOB);
    let nonce = "spliced-offline-nonce-0001";
    let name = alice
        .wallet
        .present(
            &id_of(&alice, BRP),
            &strings(&["/given_name", "/family_name"]),
            nonce,
            LANDLORD,
        )
        .unwrap();
    let arrears = bob
        .wallet
        .present(
            &id_of(&bob, CAK),
            &strings(&["/registered_payment_arrears"]),
            nonce,
            LANDLORD,
        )
        .unwrap();
    let payload = kluis_qr::offline::encode_set(&[&name, &arrears]).unwrap();
    let trust = TestWallet::verifier_trust();
    let e = verify_offline(
        &payload,
        &trust,
        &OfflineExpectations::new(LANDLORD),
        &MemoryReplayCache::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains(CLAIM), "{e}");
    // Each presentation alone is Alice's or Bob's own and verifies: only the pair is refused.
    for p in [&name, &arrears] {
        let one = kluis_qr::offline::encode_set(&[p]).unwrap();
        verify_offline(
            &one,
            &trust,
            &OfflineExpectations::new(LANDLORD),
            &MemoryReplayCache::default(),
        )
        .unwrap();
    }

    // The desk's command: exit 5 with the reason.
    let desk = KluisVault::new();
    let mut args = strings(&["verify-qr", &payload, "--aud", LANDLORD]);
    for (i, h) in kluis_fixtures::holders().unwrap().iter().enumerate() {
        let file = desk.path(&format!("holder{i}.jwk"));
        std::fs::write(&file, h.public_jwk().unwrap().to_value().to_string()).unwrap();
        args.push("--trust".into());
        args.push(format!("{}={}", h.iss, file.display()));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = desk.run(&refs);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains(CLAIM), "{stderr}");
}

/// An honest offline QR carries the claim in every KB-JWT (restored by the decoder, not carried in
/// the payload) and verifies.
#[test]
fn an_honest_offline_qr_names_its_keys_and_verifies() {
    let bob = TestWallet::new();
    bob.collect(BOB);
    let items = bob
        .wallet
        .offline_items_for(&kluis_core::openid4vp::offline::rental_query())
        .unwrap();
    let qr = bob
        .wallet
        .offline_presentation(&items, LANDLORD, None)
        .unwrap();
    let ps = kluis_qr::offline::decode_set_deriving(&qr.payload, Some(&association::qr_claim()))
        .unwrap();
    assert_eq!(ps.len(), 3);
    let named: Vec<Value> = ps.iter().map(|p| kb_payload(p)[CLAIM].clone()).collect();
    assert!(
        named[0].is_string() && named.iter().all(|n| *n == named[0]),
        "{named:?}"
    );
    // Not in the payload itself: a decoder without the association hook refuses it.
    assert!(kluis_qr::offline::decode_set(&qr.payload).is_err());
    let v = verify_offline(
        &qr.payload,
        &TestWallet::verifier_trust(),
        &OfflineExpectations::new(LANDLORD),
        &MemoryReplayCache::default(),
    )
    .unwrap();
    assert_eq!(v.len(), 3);
}

/// Credentials bound to keys this test holds, so that it can write any KB-JWT claims.
struct Crafted {
    keys: Vec<SigningKey>,
    credentials: Vec<Credential>,
}

fn crafted(n: usize) -> Crafted {
    let trust = TestWallet::verifier_trust();
    let now = kluis_core::now_unix();
    let citizen = kluis_fixtures::citizen(BOB).unwrap();
    let mut keys = Vec::new();
    let mut credentials = Vec::new();
    for t in kluis_fixtures::purpose::RENTAL_TYPES.iter().take(n) {
        let key = SigningKey::make_random().unwrap();
        let holder = kluis_fixtures::holders()
            .unwrap()
            .into_iter()
            .find(|h| h.credential_types.iter().any(|v| v == t.vct))
            .unwrap();
        let compact =
            kluis_fixtures::purpose::issue_purpose(&holder, t, &citizen, &key.public_jwk(), now)
                .unwrap();
        credentials.push(
            Credential::verify_issued(&compact, &trust, now, &VerifyOptions::default()).unwrap(),
        );
        keys.push(key);
    }
    Crafted { keys, credentials }
}

impl Crafted {
    /// Presentation `i` (its first claim) with `extra` in its KB-JWT.
    fn present(&self, i: usize, nonce: &str, extra: &Map<String, Value>) -> String {
        let t = &kluis_fixtures::purpose::RENTAL_TYPES[i];
        let path = ClaimPath::parse(&format!("/{}", t.claims[0])).unwrap();
        self.credentials[i]
            .prepare_presentation_with(&[path], nonce, LANDLORD, kluis_core::now_unix(), extra)
            .unwrap()
            .sign(&self.keys[i])
            .unwrap()
    }

    fn naming(&self, keys: &[usize]) -> Map<String, Value> {
        let jwks: Vec<_> = keys.iter().map(|&i| self.keys[i].public_jwk()).collect();
        let mut m = Map::new();
        m.insert(CLAIM.into(), json!(association::value(&jwks)));
        m
    }

    fn verify(&self, presentations: &[String]) -> Result<usize, kluis_core::VerifierError> {
        let refs: Vec<&str> = presentations.iter().map(String::as_str).collect();
        verify_offline(
            &kluis_qr::offline::encode_set(&refs).unwrap(),
            &TestWallet::verifier_trust(),
            &OfflineExpectations::new(LANDLORD),
            &MemoryReplayCache::default(),
        )
        .map(|v| v.len())
    }
}

#[test]
fn a_missing_or_wrong_association_is_refused() {
    let c = crafted(3);
    let n = "crafted-association-nonce";
    let both = c.naming(&[0, 1]);
    assert_eq!(
        c.verify(&[c.present(0, n, &both), c.present(1, n, &both)])
            .unwrap(),
        2,
        "both keys named by both: one wallet's answer"
    );
    let refused = |ps: &[String], want: AssociationError| {
        let e = c.verify(ps).unwrap_err().to_string();
        assert!(e.contains(&want.to_string()), "{e}");
    };
    // The claim missing in one of two.
    refused(
        &[c.present(0, n, &both), c.present(1, n, &Map::new())],
        AssociationError::Missing { index: 2, count: 2 },
    );
    // Naming a key the answer does not hold (a third credential left out of the QR).
    let three = c.naming(&[0, 1, 2]);
    refused(
        &[c.present(0, n, &three), c.present(1, n, &three)],
        AssociationError::Mismatch { index: 1, count: 2 },
    );
    // Each naming only its own key: two single answers spliced.
    refused(
        &[
            c.present(0, n, &c.naming(&[0])),
            c.present(1, n, &c.naming(&[1])),
        ],
        AssociationError::Mismatch { index: 1, count: 2 },
    );
    // One presentation needs nothing; one that names its key anyway is fine too.
    assert_eq!(c.verify(&[c.present(2, n, &Map::new())]).unwrap(), 1);
    assert_eq!(c.verify(&[c.present(2, n, &c.naming(&[2]))]).unwrap(), 1);
}

/// The request asks for the person (BRP) and the arrears (CAK): both citizens can answer it.
fn person_and_arrears() -> Value {
    json!({ "credentials": [
        { "id": "person", "format": "dc+sd-jwt", "meta": { "vct_values": [BRP] },
          "claims": [ { "path": ["given_name"] }, { "path": ["family_name"] } ] },
        { "id": "arrears", "format": "dc+sd-jwt", "meta": { "vct_values": [CAK] },
          "claims": [ { "path": ["registered_payment_arrears"] } ] }
    ]})
}

fn form_body(form: &Form) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    form.iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Two honest wallets answer the same remote request (same nonce, same party); a third party
/// takes Alice's person and Bob's arrears into one `vp_token`, encrypts it to the landlord's
/// published key and posts it: the landlord refuses it and records why. Each wallet's own
/// answer verifies.
#[tokio::test]
async fn a_remote_answer_spliced_from_two_wallets_is_refused() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_a, alice) = collected_wallet(&net, ALICE, quick_http()).await;
    let (_b, bob) = collected_wallet(&net, BOB, quick_http()).await;
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    landlord.set_dcql(Some(person_and_arrears()));

    let session = landlord.new_session().await.unwrap();
    let (req_a, built_a) = build(&alice, &session.request_uri).await;
    let (req_b, built_b) = build(&bob, &session.request_uri).await;
    assert_eq!(req_a.request.nonce, req_b.request.nonce, "one request");
    // Each honest answer names its own two keys in both KB-JWTs.
    for built in [&built_a, &built_b] {
        let named: Vec<Value> = ["person", "arrears"]
            .iter()
            .map(|q| kb_payload(built.vp_token[q][0].as_str().unwrap())[CLAIM].clone())
            .collect();
        assert!(named[0].is_string() && named[0] == named[1], "{named:?}");
    }
    let spliced = json!({
        "person": built_a.vp_token["person"].clone(),
        "arrears": built_b.vp_token["arrears"].clone(),
    });
    let form = response_form(&req_a.request, &spliced).unwrap();
    let reply = reqwest::Client::new()
        .post(&req_a.request.response_uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&form))
        .send()
        .await
        .unwrap();
    assert!(!reply.status().is_success(), "{}", reply.status());
    let result = landlord.result(&session.state).await.unwrap();
    assert_eq!(result.status, "rejected");
    let reason = result.reason.unwrap();
    assert!(reason.contains(CLAIM), "{reason}");
    assert!(result.claims.is_none());

    // Bob's own answer to a request of his own verifies.
    let s2 = landlord.new_session().await.unwrap();
    let r2 = bob
        .start_presentation_with(&s2.request_uri, "en", quick_http())
        .await
        .unwrap();
    bob.accept_presentation_with(&r2, &r2.default_choice(), quick_http())
        .await
        .unwrap();
    let ok = landlord.result(&s2.state).await.unwrap();
    assert_eq!(ok.status, "verified", "{:?}", ok.reason);
}

/// The wallet's answer to the request at `uri`, built and not sent.
async fn build(w: &Wallet, uri: &str) -> (PresentationRequest, BuiltResponse) {
    let req = w
        .start_presentation_with(uri, "en", quick_http())
        .await
        .unwrap();
    let built = w
        .build_presentation_response(&req, &req.default_choice())
        .unwrap();
    (req, built)
}

fn landlord_config(net: &Network) -> VerifierConfig {
    VerifierConfig {
        client_id: LANDLORD.into(),
        signing_key: requesting_party_key(LANDLORD).unwrap(),
        attestation: None,
        x5c: Vec::new(),
        response_uri: format!("{}/response", net.verifier(LANDLORD).unwrap().origin()),
        response_mode: ResponseMode::DirectPostJwt,
        purpose: Some(StatedPurpose {
            id: "rental".into(),
            retention_days: Some(30),
        }),
        lifetime_secs: 300,
    }
}

/// In person over the relay: Bob's wallet answers the landlord's session request; his person
/// presentation is swapped for Alice's, made for the same nonce and party. The landlord's side
/// refuses the answer.
#[tokio::test]
async fn an_in_person_answer_with_another_persons_credential_is_refused() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_a, alice) = collected_wallet(&net, ALICE, quick_http()).await;
    let (_b, bob) = collected_wallet(&net, BOB, quick_http()).await;
    let session = WalletEngagement::new(net.relay.base_url()).unwrap();
    let verifier = kluis_tests::spawn_desk(
        session.qr_text(),
        &landlord_config(&net),
        &rental_dcql(),
        trust_from_holders(&net.holders),
        Duration::from_secs(15),
    );
    let channel = session.relay().unwrap();
    let req = bob
        .receive_session_request(&session, &channel, Duration::from_secs(15), "en")
        .await
        .unwrap();
    let built = bob
        .build_presentation_response(&req, &req.default_choice())
        .unwrap();
    let alice_brp = alice
        .credentials("en")
        .unwrap()
        .into_iter()
        .find(|c| c.vct == BRP)
        .unwrap();
    let alices = alice
        .present(
            &alice_brp.id,
            &strings(&["/given_name", "/family_name", "/address"]),
            &req.request.nonce,
            LANDLORD,
        )
        .unwrap();
    let mut spliced = built.vp_token.clone();
    spliced["person"] = json!([alices]);
    let form = response_form(&req.request, &spliced).unwrap();
    channel
        .send_response(form_body(&form).into_bytes())
        .await
        .unwrap();
    let e = verifier.await.unwrap().unwrap_err();
    assert!(e.to_string().contains(CLAIM), "{e}");
}

/// A helper answers a two-credential request on the citizen's behalf: both KB-JWTs are signed
/// by the helper's key and name it, and the landlord verifies the answer (a two-presentation
/// answer without the claim, or naming the citizen's keys, would be refused).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helpers_two_credential_answer_names_the_helpers_key_and_verifies() {
    use kluis_core::delegation::{Action, DelegateRequest};
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_c, citizen) = collected_wallet(&net, BOB, quick_http()).await;
    let (_h, helper) = kluis_tests::new_wallet();
    kluis_tests::pin_scheme(&helper, &net.scheme, quick_http()).await;
    let income = "urn:nl:uwv:income-statement:1";
    let outcome = citizen
        .delegate(
            &DelegateRequest {
                helper_jwk: helper.holder_public_jwk().unwrap(),
                types: vec![income.into(), CAK.into()],
                claims: Some(strings(&[
                    "/monthly_gross_income_eur",
                    "/registered_payment_arrears",
                ])),
                actions: vec![Action::Present],
                not_before: None,
                until: kluis_core::now_unix() + 3600,
                parties: Some(vec![LANDLORD.into()]),
                purposes: None,
                label: "budget coach".into(),
                registry: net.mandate_registry.base_url().to_string(),
            },
            quick_http(),
        )
        .await
        .unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    landlord.set_dcql(Some(json!({ "credentials": [
        { "id": "income", "format": "dc+sd-jwt", "meta": { "vct_values": [income] },
          "claims": [ { "path": ["monthly_gross_income_eur"] } ] },
        { "id": "arrears", "format": "dc+sd-jwt", "meta": { "vct_values": [CAK] },
          "claims": [ { "path": ["registered_payment_arrears"] } ] }
    ]})));
    let s = landlord.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    let sent = helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap();
    assert_eq!(sent.disclosed.len(), 2);
    let r = landlord.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
    let claims = r.claims.unwrap();
    assert_eq!(claims["income"][0]["on_behalf"]["mandate_id"], json!(m.id));
    assert_eq!(claims["arrears"][0]["on_behalf"]["mandate_id"], json!(m.id));
}
