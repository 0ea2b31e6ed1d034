//! `kluis-verifier` as a party runs it: the real wallet core answers requests the service made,
//! over loopback HTTP; in-process with memory state, and as two `kluis-verifier` processes
//! sharing one real Redis (a request made on A answered through B, an offline QR accepted on A
//! refused on B, A killed mid-flow, Redis restarted mid-run); retention and the citizen's
//! deletion request; hostile bodies at every endpoint; the OpenAPI description against the
//! routes.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::{Pin, SoftwareDeviceSecretStore, Wallet};
use kluis_fixtures::servers::{HolderOptions, Network, BANK, LANDLORD};
use kluis_verifier_server::service::{NamedQuery, Party, Purpose, Trust};
use kluis_verifier_server::{MemoryState, Settings, Verifier, VerifierState};
use serde_json::{json, Value};
use zeroize::Zeroizing;

const CITIZEN: &str = "daan";

fn quick_http() -> HttpPolicy {
    HttpPolicy {
        timeout: Duration::from_millis(3000),
        connect_timeout: Duration::from_millis(300),
        retries: 0,
        backoff: Duration::from_millis(20),
        max_body_bytes: 1024 * 1024,
        allow_loopback_http: true,
    }
}

/// A wallet that pinned the scheme and collected everything the holders have for the citizen.
async fn collected_wallet(net: &Network) -> (tempfile::TempDir, Wallet) {
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::create(
        dir.path(),
        &Pin::new(kluis_tests::PIN),
        kluis_tests::test_options(),
        Arc::new(SoftwareDeviceSecretStore::new(dir.path())),
    )
    .unwrap();
    let key = net.scheme.public_jwk().unwrap().to_value().to_string();
    wallet
        .set_scheme(&net.scheme.list_uri(), &key, quick_http())
        .await
        .unwrap();
    for offer in net.offers_for(CITIZEN) {
        let opts = CollectOptions {
            http: quick_http(),
            ..CollectOptions::default()
        };
        wallet
            .collect(&offer.offer_uri, Some(&offer.tx_code), opts)
            .await
            .unwrap();
    }
    (dir, wallet)
}

fn landlord_key() -> kluis_core::sdjwt::SigningKey {
    kluis_fixtures::servers::requesting_party_key(LANDLORD).unwrap()
}

fn landlord_settings(net: &Network, public_url: &str) -> Settings {
    let mut queries = std::collections::BTreeMap::new();
    queries.insert(
        "rental".to_string(),
        NamedQuery {
            dcql: kluis_core::openid4vp::rental_dcql(),
            purpose: "rental".into(),
        },
    );
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&[42u8; 32]);
    Settings {
        party: Party {
            client_id: LANDLORD.into(),
            signing_key: landlord_key(),
            attestation: None,
            response_mode: kluis_core::openid4vp::request::ResponseMode::DirectPostJwt,
            purposes: vec![Purpose {
                id: "rental".into(),
                retention_days: 30,
            }],
            queries,
            session_query: None,
        },
        public_url: public_url.into(),
        trust: Trust::Scheme {
            list_uri: net.scheme.list_uri(),
            key: net.scheme.public_jwk().unwrap(),
            refresh_secs: 60,
        },
        state_key: key,
        request_lifetime_secs: 300,
        http: quick_http(),
        webhook: None,
        relays: vec![],
    }
}

/// A service in this process on a free port, listed in the scheme as the landlord's origin.
async fn in_process(net: &Network, state: Arc<dyn VerifierState>) -> (Arc<Verifier>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let v = Arc::new(Verifier::new(landlord_settings(net, &base), state).unwrap());
    v.start().await.unwrap();
    kluis_verifier_server::spawn_server(listener, Arc::clone(&v));
    list_landlord_at(net, &base);
    (v, base)
}

fn list_landlord_at(net: &Network, origin: &str) {
    let bank = net.verifier(BANK).unwrap().origin();
    net.scheme
        .list_verifiers(&[(LANDLORD.into(), origin.into()), (BANK.into(), bank)])
        .unwrap();
}

async fn network() -> Network {
    Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap()
}

async fn create(http: &reqwest::Client, base: &str) -> Value {
    let r = http
        .post(format!("{base}/v1/requests"))
        .json(&json!({ "query": "rental" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

async fn result(http: &reqwest::Client, base: &str, state: &str) -> (u16, Value) {
    let r = http
        .get(format!("{base}/v1/requests/{state}"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn answer(wallet: &Wallet, link: &str) -> Result<(), kluis_core::Error> {
    let req = wallet
        .start_presentation_with(link, "en", quick_http())
        .await?;
    wallet
        .accept_presentation_with(&req, &req.default_choice(), quick_http())
        .await
        .map(|_| ())
}

fn assert_rental_claims(view: &Value) {
    assert_eq!(view["status"], "verified", "{view}");
    let claims = &view["claims"];
    assert_eq!(
        claims["person"][0]["claims"]["given_name"], "Daan",
        "{view}"
    );
    assert!(claims["income"][0]["claims"]["monthly_gross_income_eur"].is_number());
    assert_eq!(
        claims["arrears"][0]["claims"]["registered_payment_arrears"],
        false
    );
    assert!(claims["person"][0]["claims"].get("bsn").is_none(), "no BSN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rental_request_is_answered_by_a_real_wallet() {
    let net = network().await;
    let (_v, base) = in_process(&net, Arc::new(MemoryState::default())).await;
    let (_dir, wallet) = collected_wallet(&net).await;
    let http = reqwest::Client::new();
    let created = create(&http, &base).await;
    assert!(created["link"]
        .as_str()
        .unwrap()
        .starts_with("openid4vp://?client_id=woningcorporatie-eemland&request_uri="));
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        created["qr_png"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        kluis_core::qr::render::read_png(&png).unwrap(),
        created["link"].as_str().unwrap()
    );
    let state = created["state"].as_str().unwrap();
    assert_eq!(result(&http, &base, state).await.1["status"], "pending");
    answer(&wallet, created["link"].as_str().unwrap())
        .await
        .unwrap();
    let (code, view) = result(&http, &base, state).await;
    assert_eq!(code, 200);
    assert_rental_claims(&view);
    assert_eq!(view["purpose"], "rental");
    let retention = view["delete_at"].as_i64().unwrap() - view["received_at"].as_i64().unwrap();
    assert_eq!(retention, 30 * 86_400, "the registered retention");
    // The answered request is gone from the request_uri, and a second answer is refused.
    let again = http
        .get(format!("{base}/request/{state}"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    let replay = http
        .post(format!("{base}/response"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("state={state}&vp_token=%7B%7D"))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 400);
    let body: Value = replay.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already answered"),
        "{body}"
    );
    assert_rental_claims(&result(&http, &base, state).await.1);
}
