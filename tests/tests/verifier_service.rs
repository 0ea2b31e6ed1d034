//! `kluis-verifier` as a party runs it: the real wallet core answers requests the service made,
//! over loopback HTTP; in-process with memory state, and as two `kluis-verifier` processes
//! sharing one real Redis (a request made on A answered through B, an offline QR accepted on A
//! refused on B, A killed mid-flow, Redis restarted mid-run); retention and the citizen's
//! deletion request; hostile bodies at every endpoint; the OpenAPI description against the
//! routes.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::offline::rental_query;
use kluis_core::Wallet;
use kluis_fixtures::servers::{HolderOptions, Network, BANK, LANDLORD};
use kluis_tests::collected_wallet;
use kluis_tests::service::{free_port, Instance};
use kluis_verifier_server::service::{NamedQuery, Party, Purpose, Trust};
use kluis_verifier_server::state::testing::TestRedis;
use kluis_verifier_server::{MemoryState, Settings, Verifier, VerifierState};
use serde_json::{json, Value};
use zeroize::Zeroizing;

const CITIZEN: &str = "daan";
const BRP: &str = "urn:nl:gemeente:brp-address:1";

fn quick_http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(3000), 0)
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
            x5c: Vec::new(),
            response_mode: kluis_core::openid4vp::request::ResponseMode::DirectPostJwt,
            purposes: vec![Purpose {
                id: "rental".into(),
                retention_days: 30,
                registration: None,
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
    let (_dir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
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

/// A decline anyone who fetched the request object can send, encrypted to the request's own
/// key (issue 12 item 11; the fixture parties: forged_declines.rs).
fn forged_decline(request_object: &str, encrypted: bool) -> String {
    use base64::Engine as _;
    let payload = request_object.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let state = claims["state"].as_str().unwrap();
    if !encrypted {
        return format!("error=access_denied&state={state}");
    }
    let key = &claims["client_metadata"]["jwks"]["keys"][0];
    let enc = kluis_core::openid4vp::request::ResponseEncryption {
        jwk: key.clone(),
        kid: key["kid"].as_str().map(str::to_string),
        enc: "A128GCM".into(),
    };
    let jwe = kluis_core::openid4vp::response::encrypt_payload(
        &json!({ "error": "access_denied", "state": state }),
        &enc,
    )
    .unwrap();
    format!("response={jwe}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_decline_neither_ends_the_request_nor_overrides_the_answer() {
    let net = network().await;
    let (_v, base) = in_process(&net, Arc::new(MemoryState::default())).await;
    let (_dir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let http = reqwest::Client::new();
    let created = create(&http, &base).await;
    let state = created["state"].as_str().unwrap();
    let object = http
        .get(format!("{base}/request/{state}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = "application/x-www-form-urlencoded";
    let response = format!("{base}/response");
    // direct_post.jwt: a plain decline is refused.
    let (code, body) = post(&http, &response, form, forged_decline(&object, false)).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(result(&http, &base, state).await.1["status"], "pending");
    // Encrypted to the key in the request object: a decline arrived, the request stays open.
    let (code, body) = post(&http, &response, form, forged_decline(&object, true)).await;
    assert_eq!(code, 200, "{body}");
    let (_, view) = result(&http, &base, state).await;
    assert_eq!(view["status"], "declined", "{view}");
    assert_eq!(view["open_until"], created["expires_at"], "{view}");
    // The citizen answers through the request_uri, still served: the answer wins.
    answer(&wallet, created["link"].as_str().unwrap())
        .await
        .unwrap();
    let (_, view) = result(&http, &base, state).await;
    assert_rental_claims(&view);
    assert_eq!(view["open_until"], Value::Null);
    // A decline after the answer is refused and changes nothing.
    let (code, body) = post(&http, &response, form, forged_decline(&object, true)).await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(result(&http, &base, state).await.1, view);
}

/// An instance keeps the scheme's list it verified only while the shared cache holds exactly
/// those bytes: once another instance has put a newer list there, this one uses it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_uses_the_list_the_shared_cache_holds_now() {
    let net = network().await;
    let state: Arc<dyn VerifierState> = Arc::new(MemoryState::default());
    let settings = || landlord_settings(&net, "http://127.0.0.1:9");
    let a = Verifier::new(settings(), Arc::clone(&state)).unwrap();
    let b = Verifier::new(settings(), Arc::clone(&state)).unwrap();
    list_landlord_at(&net, "http://127.0.0.1:1");
    let first = a.participant_list().await.unwrap();
    // The scheme publishes a new list; within the refresh time both use the cached one.
    list_landlord_at(&net, "http://127.0.0.1:2");
    assert_eq!(b.participant_list().await.unwrap(), first);
    assert_eq!(a.participant_list().await.unwrap(), first);
    // Past it, B fetches the new list into the shared cache; A takes it over, not its own copy.
    a.clock.advance(61);
    b.clock.advance(61);
    let second = b.participant_list().await.unwrap();
    assert_ne!(second.requesting_parties, first.requesting_parties);
    assert_eq!(a.participant_list().await.unwrap(), second);
}

/// Two instances in this process over one state store, both listed as the landlord's origins;
/// `trust` replaces the scheme's list as whom they trust for credentials.
async fn two_in_process(
    net: &Network,
    state: Arc<dyn VerifierState>,
    trust: Option<&dyn Fn() -> Trust>,
) -> Vec<(Arc<Verifier>, String)> {
    let mut out = Vec::new();
    for _ in 0..2 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = landlord_settings(net, &base);
        if let Some(t) = trust {
            settings.trust = t();
        }
        let v = Arc::new(Verifier::new(settings, Arc::clone(&state)).unwrap());
        v.start().await.unwrap();
        kluis_verifier_server::spawn_server(listener, Arc::clone(&v));
        out.push((v, base));
    }
    let bank = net.verifier(BANK).unwrap().origin();
    net.scheme
        .list_verifiers(&[
            (LANDLORD.into(), out[0].1.clone()),
            (LANDLORD.into(), out[1].1.clone()),
            (BANK.into(), bank),
        ])
        .unwrap();
    out
}

/// Status list tokens the holders served so far.
fn status_fetches(net: &Network) -> u64 {
    net.holders.iter().map(|h| h.status_fetches()).sum()
}

/// A rental request made on `base` and answered by `wallet`: the wallet's outcome and the
/// result the service then reports.
async fn ask(
    http: &reqwest::Client,
    wallet: &Wallet,
    base: &str,
) -> (Result<(), kluis_core::Error>, Value) {
    let created = create(http, base).await;
    let answered = answer(wallet, created["link"].as_str().unwrap()).await;
    let (_, view) = result(http, base, created["state"].as_str().unwrap()).await;
    (answered, view)
}

/// Issue 17 item 3: the credentials' status lists go through the shared state. Instance A
/// fetches each list once; B verifies with those (no fetch of its own); within the list's
/// `ttl` (60 s at the fixture holders) a revocation is not seen yet, as the Token Status List
/// draft lets a consumer cache it; once the `ttl` ran out B fetches again and refuses the
/// revoked credential, and A refuses it with the list B fetched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_fetch_of_each_status_list() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let net = network().await;
    let state: Arc<dyn VerifierState> = Arc::new(
        kluis_verifier_server::RedisState::connect(&redis.url, "lists:", Duration::from_secs(2))
            .await
            .unwrap(),
    );
    let both = two_in_process(&net, state, None).await;
    let ((a, base_a), (b, base_b)) = (&both[0], &both[1]);
    let (_wdir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let http = reqwest::Client::new();

    let before = status_fetches(&net);
    let (answered, view) = ask(&http, &wallet, base_a).await;
    answered.unwrap();
    assert_rental_claims(&view);
    let lists = status_fetches(&net) - before;
    assert!(lists >= 1, "A fetched the credentials' status lists");

    let before = status_fetches(&net);
    let (answered, view) = ask(&http, &wallet, base_b).await;
    answered.unwrap();
    assert_rental_claims(&view);
    assert_eq!(status_fetches(&net), before, "B used the lists A fetched");
    // The desk at B scans an offline QR: checked with the same lists, no fetch either.
    let items = wallet.offline_items_for(&rental_query()).unwrap();
    let qr = wallet
        .offline_presentation(&items, LANDLORD, Some("rental"))
        .unwrap()
        .payload;
    let (code, view) = post_qr(&http, base_b, &qr).await;
    assert_eq!(code, 200, "{view}");
    assert_eq!(view["status"], "verified", "{view}");
    for c in view["claims"]["offline"].as_array().unwrap() {
        assert_eq!(c["status_check"]["status"], "valid", "{c}");
    }
    assert_eq!(status_fetches(&net), before, "the offline QR too");

    // The BRP holder revokes the citizen's address credential: within the ttl both instances
    // still use the shared list (and fetch nothing).
    let brp = net
        .holders
        .iter()
        .find(|h| h.archive().iter().any(|c| c.vct == BRP))
        .unwrap();
    for c in brp.archive().iter().filter(|c| c.vct == BRP) {
        brp.set_status_at(c.idx, kluis_fixtures::servers::StatusValue::Revoked);
    }
    let before = status_fetches(&net);
    let (answered, view) = ask(&http, &wallet, base_a).await;
    answered.unwrap();
    assert_rental_claims(&view);
    assert_eq!(status_fetches(&net), before);

    // Past the ttl: B fetches the lists again and refuses; A refuses with B's lists. (The
    // wallet reads both requests first: their iat is from before the clocks moved on.)
    let mut opened = Vec::new();
    for base in [base_b, base_a] {
        let created = create(&http, base).await;
        let link = created["link"].as_str().unwrap();
        let req = wallet
            .start_presentation_with(link, "en", quick_http())
            .await
            .unwrap();
        opened.push((base, created["state"].as_str().unwrap().to_string(), req));
    }
    a.clock.advance(61);
    b.clock.advance(61);
    let before = status_fetches(&net);
    for (base, state, req) in opened {
        let e = wallet
            .accept_presentation_with(&req, &req.default_choice(), quick_http())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
        let (_, view) = result(&http, base, &state).await;
        assert_eq!(view["status"], "pending", "nothing recorded: {view}");
        assert_eq!(
            status_fetches(&net) - before,
            lists,
            "B's fetches only ({base})"
        );
    }
}

/// Runs `redis-cli -u URL ARGS…` (arguments as raw bytes) and returns its stdout.
fn redis_cli(url: &str, args: &[&[u8]]) -> String {
    use std::os::unix::ffi::OsStrExt;
    let out = Command::new("redis-cli")
        .args(["-u", url])
        .args(args.iter().map(|a| std::ffi::OsStr::from_bytes(a)))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Someone who can write to Redis but has no state key cannot make the instances use a status
/// list past its `ttl` (its fetch time and freshness are sealed with it: the store's own expiry
/// is only a backstop) nor slip altered bytes in: a stretched entry and a corrupted one are
/// both fetched afresh, and the revoked credential is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_writer_cannot_stretch_a_status_lists_life() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let net = network().await;
    let state: Arc<dyn VerifierState> = Arc::new(
        kluis_verifier_server::RedisState::connect(&redis.url, "lists:", Duration::from_secs(2))
            .await
            .unwrap(),
    );
    let both = two_in_process(&net, state, None).await;
    let ((a, base_a), (b, base_b)) = (&both[0], &both[1]);
    let (_wdir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let http = reqwest::Client::new();
    let before = status_fetches(&net);
    let (answered, _) = ask(&http, &wallet, base_a).await;
    answered.unwrap();
    let lists = status_fetches(&net) - before;
    // The cached documents (status lists and the scheme's list): each value's clear expiry
    // prefix pushed to the far future, Redis' own expiry dropped.
    let keys = redis_cli(&redis.url, &[b"--scan", b"--pattern", b"lists:c:*"]);
    let keys: Vec<&str> = keys.lines().collect();
    assert!(keys.len() as u64 > lists, "{keys:?}");
    for k in &keys {
        redis_cli(
            &redis.url,
            &[
                b"SETRANGE",
                k.as_bytes(),
                b"0",
                &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            ],
        );
        redis_cli(&redis.url, &[b"PERSIST", k.as_bytes()]);
    }
    let brp = net
        .holders
        .iter()
        .find(|h| h.archive().iter().any(|c| c.vct == BRP))
        .unwrap();
    for c in brp.archive().iter().filter(|c| c.vct == BRP) {
        brp.set_status_at(c.idx, kluis_fixtures::servers::StatusValue::Revoked);
    }
    let mut opened = Vec::new();
    for base in [base_b, base_a] {
        let created = create(&http, base).await;
        let req = wallet
            .start_presentation_with(created["link"].as_str().unwrap(), "en", quick_http())
            .await
            .unwrap();
        opened.push((base, req));
    }
    a.clock.advance(61);
    b.clock.advance(61);
    let refused = |e: kluis_core::Error| assert!(e.to_string().contains("revoked"), "{e}");
    // B: the stretched entries are past their sealed freshness, so B fetches.
    let (base, req) = &opened[0];
    let before = status_fetches(&net);
    refused(
        wallet
            .accept_presentation_with(req, &req.default_choice(), quick_http())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        status_fetches(&net) - before,
        lists,
        "B fetched afresh ({base})"
    );
    // A (its own copies are stale): the entries B put there, corrupted, are not used either.
    let keys = redis_cli(&redis.url, &[b"--scan", b"--pattern", b"lists:c:*"]);
    for k in keys.lines() {
        redis_cli(&redis.url, &[b"SETRANGE", k.as_bytes(), b"40", b"tampered"]);
    }
    let (base, req) = &opened[1];
    let before = status_fetches(&net);
    refused(
        wallet
            .accept_presentation_with(req, &req.default_choice(), quick_http())
            .await
            .unwrap_err(),
    );
    assert_eq!(
        status_fetches(&net) - before,
        lists,
        "A fetched afresh ({base})"
    );
}

/// A long-running instance does not keep one network fault for good: a status list that could
/// not be fetched is the reason answers are refused for 30 s (no fetch per answer meanwhile),
/// then it is fetched again and the citizen's answer verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_list_that_could_not_be_fetched_is_fetched_again_later() {
    let net = network().await;
    let (v, base) = in_process(&net, Arc::new(MemoryState::default())).await;
    let (_wdir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let http = reqwest::Client::new();
    let brp = net
        .holders
        .iter()
        .find(|h| h.archive().iter().any(|c| c.vct == BRP))
        .unwrap();
    // The BRP holder answers its next request (the landlord's status list fetch) with 503.
    brp.set_fault(kluis_fixtures::servers::Fault::Unavailable { remaining: 1 });
    let asked = brp.request_count();
    for tries in 1..=2 {
        let (answered, view) = ask(&http, &wallet, &base).await;
        let e = answered.unwrap_err();
        assert!(e.to_string().contains("status"), "{e}");
        assert_eq!(view["status"], "pending", "{view}");
        assert_eq!(
            brp.request_count() - asked,
            1,
            "one try at the list in {tries} answers"
        );
    }
    let created = create(&http, &base).await;
    let req = wallet
        .start_presentation_with(created["link"].as_str().unwrap(), "en", quick_http())
        .await
        .unwrap();
    v.clock.advance(31);
    wallet
        .accept_presentation_with(&req, &req.default_choice(), quick_http())
        .await
        .unwrap();
    assert_rental_claims(
        &result(&http, &base, created["state"].as_str().unwrap())
            .await
            .1,
    );
    assert_eq!(brp.request_count() - asked, 2, "fetched again after 30 s");
}

/// The desk at `base` (instance `v`) scans the wallet's session QR and the citizen answers over
/// the relay; `later` moves the instance's clock on once the wallet has the request (whose iat
/// is from before). The result the service recorded.
async fn in_person(
    http: &reqwest::Client,
    wallet: &Wallet,
    relay: &str,
    base: &str,
    v: &Verifier,
    later: i64,
) -> Value {
    use kluis_core::openid4vp::proximity::WalletEngagement;
    let wait = Duration::from_secs(20);
    let session = WalletEngagement::new(relay).unwrap();
    let (code, started) = post_qr(http, base, session.qr_text()).await;
    assert_eq!(code, 202, "{started}");
    let channel = session.relay().unwrap();
    let req = wallet
        .receive_session_request(&session, &channel, wait, "en")
        .await
        .unwrap();
    v.clock.advance(later);
    wallet
        .accept_session_presentation(&req, &req.default_choice(), &channel)
        .await
        .unwrap();
    let state = started["state"].as_str().unwrap();
    // The service verifies in the background: poll (bounded) until it recorded the outcome.
    for _ in 0..200 {
        let (_, view) = result(http, base, state).await;
        if view["status"] != "pending" {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the session's result was not recorded");
}

/// The service's in-person session (a `KS1:` QR the desk scanned, the answer over the relay)
/// checks the credentials' status with the same shared lists, policy and clock as a remote
/// answer: after A verified a remote answer, B's session verifies without a fetch; once the
/// ttl ran out and the holder revoked the address credential, B's next session is rejected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desks_session_qr_uses_the_shared_status_lists() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let net = network().await;
    let state: Arc<dyn VerifierState> = Arc::new(
        kluis_verifier_server::RedisState::connect(&redis.url, "desk:", Duration::from_secs(2))
            .await
            .unwrap(),
    );
    let both = two_in_process(&net, state, None).await;
    let ((_, base_a), (b, base_b)) = (&both[0], &both[1]);
    let (_wdir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let http = reqwest::Client::new();
    let (answered, _) = ask(&http, &wallet, base_a).await;
    answered.unwrap();
    let relay = net.relay.base_url().to_string();
    let before = status_fetches(&net);
    let view = in_person(&http, &wallet, &relay, base_b, b, 0).await;
    assert_rental_claims(&view);
    assert_eq!(status_fetches(&net), before, "B used the lists A fetched");

    let brp = net
        .holders
        .iter()
        .find(|h| h.archive().iter().any(|c| c.vct == BRP))
        .unwrap();
    for c in brp.archive().iter().filter(|c| c.vct == BRP) {
        brp.set_status_at(c.idx, kluis_fixtures::servers::StatusValue::Revoked);
    }
    let view = in_person(&http, &wallet, &relay, base_b, b, 61).await;
    assert_eq!(view["status"], "rejected", "{view}");
    assert!(
        view["reason"].as_str().unwrap().contains("revoked"),
        "{view}"
    );
    assert!(status_fetches(&net) > before, "B fetched the lists again");
}

/// The shared state failing at the status list step (a Redis user that may not touch the
/// list cache's keys, so everything else works) refuses the answer with 503: it is never taken
/// as "no list", and nothing is recorded; the request stays answerable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_list_cache_that_fails_refuses_the_answer() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let acl = Command::new("redis-cli")
        .args([
            "-u", &redis.url, "ACL", "SETUSER", "party", "on", ">pw", "+@all",
        ])
        .args([
            "~acl:p:*", "~acl:a:*", "~acl:r:*", "~acl:i:*", "~acl:z", "~acl:q*",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&acl.stdout).trim(), "OK");
    let url = redis.url.replace("redis://", "redis://party:pw@");
    let net = network().await;
    let state: Arc<dyn VerifierState> = Arc::new(
        kluis_verifier_server::RedisState::connect(&url, "acl:", Duration::from_secs(2))
            .await
            .unwrap(),
    );
    let fixed = || Trust::Fixed(kluis_fixtures::servers::trust_from_holders(&net.holders));
    let both = two_in_process(&net, state, Some(&fixed)).await;
    let base = &both[0].1;
    let (_wdir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let http = reqwest::Client::new();
    let before = status_fetches(&net);
    let (answered, view) = ask(&http, &wallet, base).await;
    let e = answered.unwrap_err().to_string();
    assert!(e.contains("503") || e.contains("unavailable"), "{e}");
    assert_eq!(view["status"], "pending", "nothing recorded: {view}");
    assert_eq!(status_fetches(&net), before, "no fetch around the store");
    assert_eq!(redis_results(&redis.url, "acl:"), 0);
}

/// What a webhook receiver got: each POST's `x-kluis-signature` and body.
type Deliveries = tokio::sync::mpsc::UnboundedReceiver<(String, Vec<u8>)>;

/// A party's back end on loopback (a real HTTP server) that answers the first `fail` POSTs
/// with 503 and the rest with 200, and hands every delivery to the test.
async fn webhook_receiver(fail: usize) -> (String, Deliveries) {
    use axum::http::{HeaderMap, StatusCode};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (tx, seen) = (tx.clone(), Arc::clone(&seen));
            async move {
                let signature = headers
                    .get("x-kluis-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send((signature, body.to_vec()));
                if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < fail {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

/// The next delivery (bounded, so a missing one fails the test instead of hanging it).
async fn delivery(rx: &mut Deliveries) -> (String, Vec<u8>) {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the webhook was not called")
        .unwrap()
}

/// The result webhook end to end: the party's back end gets the verified result, signed with
/// HMAC-SHA256 under the shared secret (checked here with the `hmac` crate, not the service's
/// code); a back end that fails is tried again with the same body; one that keeps failing
/// loses nothing: the result was recorded before any push and stays pollable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_gets_the_signed_result_and_a_failing_one_loses_nothing() {
    use hmac::{Hmac, Mac};
    let net = network().await;
    let secret = b"the landlord's webhook secret".to_vec();
    // One instance whose back end fails twice, one whose back end keeps failing; both listed
    // before the wallet reads the scheme's list.
    let mut parties = Vec::new();
    for fail in [2, usize::MAX] {
        let (hook, rx) = webhook_receiver(fail).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut settings = landlord_settings(&net, &base);
        settings.webhook = Some((hook, Zeroizing::new(secret.clone())));
        let v = Arc::new(Verifier::new(settings, Arc::new(MemoryState::default())).unwrap());
        v.start().await.unwrap();
        kluis_verifier_server::spawn_server(listener, Arc::clone(&v));
        parties.push((base, rx));
    }
    let bank = net.verifier(BANK).unwrap().origin();
    net.scheme
        .list_verifiers(&[
            (LANDLORD.into(), parties[0].0.clone()),
            (LANDLORD.into(), parties[1].0.clone()),
            (BANK.into(), bank),
        ])
        .unwrap();
    let (_wdir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let http = reqwest::Client::new();
    for (base, mut rx) in parties {
        let (answered, polled) = ask(&http, &wallet, &base).await;
        answered.unwrap();
        assert_rental_claims(&polled);
        // Three attempts when it keeps failing (200/400/800 ms apart); the third succeeds here
        // when the first two fail.
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(delivery(&mut rx).await);
        }
        for (signature, body) in &got {
            assert_eq!(body, &got[0].1, "every attempt carries the same body");
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
            mac.update(body);
            let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
            assert_eq!(signature, &expected);
            let mut other = Hmac::<sha2::Sha256>::new_from_slice(b"another secret").unwrap();
            other.update(body);
            assert_ne!(
                signature,
                &format!("sha256={}", hex::encode(other.finalize().into_bytes()))
            );
        }
        let pushed: Value = serde_json::from_slice(&got[0].1).unwrap();
        assert_eq!(pushed, polled, "the pushed result is the polled one");
        // As the OpenAPI file's webhook says: its header, and the Result schema's fields.
        let doc: Value = http
            .get(format!("{base}/openapi.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let hook = &doc["webhooks"]["result"]["post"];
        assert_eq!(hook["parameters"][0]["name"], "x-kluis-signature");
        let schema = hook["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap();
        for field in doc["components"]["schemas"][schema]["required"]
            .as_array()
            .unwrap()
        {
            assert!(pushed.get(field.as_str().unwrap()).is_some(), "{field}");
        }
        // Whatever the back end did, the result is still there to poll.
        let (code, again) = result(&http, &base, polled["state"].as_str().unwrap()).await;
        assert_eq!(code, 200);
        assert_eq!(again, polled);
    }
}

/// The `kluis-verifier` binary next to this test.
fn verifier_bin() -> PathBuf {
    kluis_tests::fixtures_cli::bin("kluis-verifier")
}

/// A `kluis-verifier` process on Redis (see [`Instance::start`]).
fn redis_instance(config: &Path, port: u16, public_url: &str, log: &Path) -> Instance {
    let i = Instance::start(&verifier_bin(), config, port, public_url, log, None);
    assert_eq!(i.start_line["state"], "redis");
    i
}

async fn post_qr(http: &reqwest::Client, base: &str, text: &str) -> (u16, Value) {
    let r = http
        .post(format!("{base}/v1/qr"))
        .header("content-type", "text/plain")
        .body(text.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_one_redis() {
    let Some(mut redis) = TestRedis::start() else {
        return;
    };
    let net = network().await;
    let dir = tempfile::tempdir().unwrap();
    let config = kluis_tests::service::write_landlord_config(
        dir.path(),
        &net,
        "landlord",
        Some(&redis.url),
        "",
        3000,
    );
    let (pa, pb) = (free_port(), free_port());
    let (url_a, url_b) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    let bank = net.verifier(BANK).unwrap().origin();
    net.scheme
        .list_verifiers(&[
            (LANDLORD.into(), url_a.clone()),
            (LANDLORD.into(), url_b.clone()),
            (BANK.into(), bank),
        ])
        .unwrap();
    let (_wdir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let log = |n: &str| dir.path().join(format!("{n}.log"));
    let b = redis_instance(&config, pb, &url_b, &log("b"));
    // A hands out links that point at B (as a load balancer in front of both would).
    let mut a = redis_instance(&config, pa, &url_b, &log("a"));
    let http = reqwest::Client::new();

    // 1. Made on A, answered through B, read on A.
    let created = create(&http, &a.base).await;
    assert!(created["request_uri"].as_str().unwrap().starts_with(&url_b));
    answer(&wallet, created["link"].as_str().unwrap())
        .await
        .unwrap();
    let state = created["state"].as_str().unwrap();
    assert_rental_claims(&result(&http, &a.base, state).await.1);
    assert_rental_claims(&result(&http, &b.base, state).await.1);

    // 2. An offline QR accepted on A is refused as a replay on B (and on A).
    let items = wallet.offline_items_for(&rental_query()).unwrap();
    let qr = wallet
        .offline_presentation(&items, LANDLORD, Some("rental"))
        .unwrap()
        .payload;
    let (code, first) = post_qr(&http, &a.base, &qr).await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(first["status"], "verified");
    assert_eq!(
        first["claims"]["offline"][0]["claims"]["given_name"], "Daan",
        "{first}"
    );
    for base in [&b.base, &a.base] {
        let (code, again) = post_qr(&http, base, &qr).await;
        assert_eq!(code, 400, "{again}");
        assert!(
            again["error_description"]
                .as_str()
                .unwrap()
                .contains("replay"),
            "{again}"
        );
    }

    // 3. A killed mid-flow: the request it made is answered through B and read on B.
    let created = create(&http, &a.base).await;
    let req = wallet
        .start_presentation_with(created["link"].as_str().unwrap(), "en", quick_http())
        .await
        .unwrap();
    a.kill();
    wallet
        .accept_presentation_with(&req, &req.default_choice(), quick_http())
        .await
        .unwrap();
    assert_rental_claims(
        &result(&http, &b.base, created["state"].as_str().unwrap())
            .await
            .1,
    );

    // 4. A acknowledged a response and was killed at once: the result is not lost.
    let mut a = redis_instance(&config, pa, &url_a, &log("a2"));
    let created = create(&http, &a.base).await;
    assert!(created["request_uri"].as_str().unwrap().starts_with(&url_a));
    answer(&wallet, created["link"].as_str().unwrap())
        .await
        .unwrap();
    a.kill();
    assert_rental_claims(
        &result(&http, &b.base, created["state"].as_str().unwrap())
            .await
            .1,
    );

    // 5. Redis restarts empty mid-run: clear errors, and no replay accepted.
    let open = create(&http, &b.base).await;
    let fresh_items = wallet.offline_items_for(&rental_query()).unwrap();
    let fresh = wallet
        .offline_presentation(&fresh_items, LANDLORD, Some("rental"))
        .unwrap()
        .payload;
    redis.restart();
    let mut refused = 0;
    for text in [&qr, &fresh, &qr] {
        let (code, body) = post_qr(&http, &b.base, text).await;
        assert_ne!(
            code, 200,
            "nothing accepted while the replay cache is incomplete: {body}"
        );
        assert!(code == 503 || code == 400, "{code} {body}");
        let why = body["error_description"].as_str().unwrap_or_default();
        assert!(
            why.contains("replay") || why.contains("unavailable"),
            "{why}"
        );
        refused += 1;
    }
    assert_eq!(refused, 3);
    // The request made before the restart is gone with it: the wallet is told, nothing crashes.
    let e = answer(&wallet, open["link"].as_str().unwrap())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("404") || e.to_string().to_lowercase().contains("request"),
        "{e}"
    );
    // New requests work again.
    let created = create(&http, &b.base).await;
    answer(&wallet, created["link"].as_str().unwrap())
        .await
        .unwrap();
    assert_rental_claims(
        &result(&http, &b.base, created["state"].as_str().unwrap())
            .await
            .1,
    );
    // Stopping Redis: a clear 503, not a crash or a "pending".
    redis.stop();
    let r = http
        .get(format!(
            "{}/v1/requests/{}",
            b.base,
            created["state"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{body}"
    );
    let h = http
        .get(format!("{}/v1/health", b.base))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 503);
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    ct: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let r = http
        .post(url)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Every documented operation, exercised: the status is one the description lists, and a JSON
/// answer has the schema's required fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_matches_the_server() {
    let net = network().await;
    let (_v, base) = in_process(&net, Arc::new(MemoryState::default())).await;
    let http = reqwest::Client::new();
    let doc: Value = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created = create(&http, &base).await;
    let state = created["state"].as_str().unwrap().to_string();
    let schemas = doc["components"]["schemas"].clone();
    let mut checked = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let url = format!("{base}{}", path.replace("{state}", &state));
            let (code, body) = match (method.as_str(), path.as_str()) {
                ("get", _) => {
                    let r = http.get(&url).send().await.unwrap();
                    let code = r.status().as_u16();
                    (code, r.json::<Value>().await.ok())
                }
                ("post", "/v1/requests") => {
                    let (c, b) =
                        post(&http, &url, "application/json", r#"{"query":"rental"}"#).await;
                    (c, Some(b))
                }
                ("post", "/v1/qr") => {
                    let (c, b) = post(&http, &url, "text/plain", "KL2:NOT-A-QR").await;
                    (c, Some(b))
                }
                ("post", "/v1/deletions") => {
                    let (c, b) = post(&http, &url, "application/jwt", "a.b.c").await;
                    (c, Some(b))
                }
                ("post", "/response") => {
                    let (c, b) = post(
                        &http,
                        &url,
                        "application/x-www-form-urlencoded",
                        "state=x&vp_token=%7B%7D",
                    )
                    .await;
                    (c, Some(b))
                }
                other => panic!("no exercise for {other:?}"),
            };
            let listed = op["responses"].as_object().unwrap();
            assert!(
                listed.contains_key(&code.to_string()),
                "{method} {path}: {code} is not documented"
            );
            let response = &listed[&code.to_string()];
            let schema_ref = response["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .or_else(|| {
                    response["$ref"]
                        .as_str()
                        .map(|_| "#/components/schemas/Error")
                });
            if let (Some(r), Some(body)) = (schema_ref, body) {
                let name = r.rsplit('/').next().unwrap();
                for field in schemas[name]["required"].as_array().unwrap() {
                    assert!(
                        body.get(field.as_str().unwrap()).is_some(),
                        "{method} {path}: {code} lacks {field}: {body}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, kluis_verifier_server::routes::ROUTES.len());
}

/// Hostile bodies at every endpoint: 4xx with a reason, nothing changed — the citizen's real
/// answer afterwards still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_are_refused_and_change_nothing() {
    let net = network().await;
    let (_v, base) = in_process(&net, Arc::new(MemoryState::default())).await;
    let (_dir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let http = reqwest::Client::new();
    let created = create(&http, &base).await;
    let state = created["state"].as_str().unwrap();
    let jwt = http
        .get(format!("{base}/request/{state}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let payload: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwt.split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let kid = payload["client_metadata"]["jwks"]["keys"][0]["kid"]
        .as_str()
        .unwrap();
    let b64 = |v: &Value| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            v.to_string(),
        )
    };
    let form = "application/x-www-form-urlencoded";
    let response = format!("{base}/response");
    let header = b64(&json!({"alg": "ECDH-ES", "enc": "A128GCM", "kid": kid}));
    let cases: Vec<(&str, String, Vec<u8>, u16, &str)> = vec![
        (
            "wrong content type",
            "application/json".into(),
            br#"{"vp_token":{}}"#.to_vec(),
            415,
            "must be",
        ),
        ("oversized", form.into(), vec![b'a'; 300 * 1024], 413, ""),
        (
            "not UTF-8",
            form.into(),
            vec![0xff, 0xfe, 0x3d],
            400,
            "UTF-8",
        ),
        (
            "bad escape",
            form.into(),
            b"state=%zz".to_vec(),
            400,
            "form",
        ),
        ("nothing", form.into(), b"".to_vec(), 400, "neither"),
        (
            "unknown state",
            form.into(),
            b"state=nope&vp_token=%7B%7D".to_vec(),
            400,
            "unknown",
        ),
        (
            "long state",
            form.into(),
            format!("state={}", "s".repeat(300)).into_bytes(),
            400,
            "too long",
        ),
        (
            "garbage JWE",
            form.into(),
            b"response=abc".to_vec(),
            400,
            "kid",
        ),
        (
            "JWE, other key",
            form.into(),
            format!(
                "response={}..AAAA.AAAA.AAAA",
                b64(&json!({"alg":"ECDH-ES","kid":"other"}))
            )
            .into_bytes(),
            400,
            "no open request",
        ),
        (
            "JWE, right kid, garbage",
            form.into(),
            format!("response={header}..AAAA.AAAA.AAAA").into_bytes(),
            400,
            "decrypt",
        ),
        (
            "plain vp_token where JWE is required",
            form.into(),
            format!("state={state}&vp_token=%7B%7D").into_bytes(),
            400,
            "encrypted",
        ),
        (
            "decline without state",
            form.into(),
            b"error=access_denied".to_vec(),
            400,
            "neither",
        ),
    ];
    for (what, ct, body, want, says) in &cases {
        let (code, body) = post(&http, &response, ct, body.clone()).await;
        assert_eq!(code, *want, "{what}: {body}");
        if code != 413 {
            assert_eq!(body["error"], "invalid_request", "{what}: {body}");
            assert!(
                body["error_description"].as_str().unwrap().contains(says),
                "{what}: {body}"
            );
        }
        assert_eq!(
            result(&http, &base, state).await.1["status"],
            "pending",
            "{what} changed the state"
        );
    }
    // The party's API.
    let requests = format!("{base}/v1/requests");
    for (what, ct, body, want) in [
        (
            "wrong content type",
            "text/plain",
            r#"{"query":"rental"}"#,
            415,
        ),
        ("not JSON", "application/json", "{", 400),
        (
            "unknown field",
            "application/json",
            r#"{"query":"rental","x":1}"#,
            400,
        ),
        (
            "both",
            "application/json",
            r#"{"query":"rental","dcql":{"credentials":[]}}"#,
            400,
        ),
        (
            "unknown query",
            "application/json",
            r#"{"query":"everything"}"#,
            400,
        ),
        (
            "malformed DCQL",
            "application/json",
            r#"{"dcql":{"credentials":"all"}}"#,
            400,
        ),
        (
            "unregistered purpose",
            "application/json",
            r#"{"dcql":{"credentials":[{"id":"a","format":"dc+sd-jwt"}]},"purpose":"marketing"}"#,
            400,
        ),
    ] {
        let (code, body) = post(&http, &requests, ct, body).await;
        assert_eq!(code, want, "{what}: {body}");
    }
    let qr = format!("{base}/v1/qr");
    for (what, ct, body, want) in [
        (
            "wrong content type",
            "application/json",
            "KL2:X".to_string(),
            415,
        ),
        ("garbage", "text/plain", "hello".to_string(), 400),
        (
            "truncated offline QR",
            "text/plain",
            "KL2:6BFOXN*".to_string(),
            400,
        ),
        (
            "too long",
            "text/plain",
            format!("KL2:{}", "A".repeat(9000)),
            400,
        ),
        ("bad session QR", "text/plain", "KS1:00".to_string(), 400),
    ] {
        let (code, body) = post(&http, &qr, ct, body).await;
        assert_eq!(code, want, "{what}: {body}");
        assert!(body["error_description"].is_string(), "{what}: {body}");
    }
    let deletions = format!("{base}/v1/deletions");
    for (what, ct, body, says) in [
        ("not a JWT", "application/jwt", "hello", "not a JWT"),
        (
            "wrong typ",
            "application/jwt",
            &*format!(
                "{}.{}.AAAA",
                b64(&json!({"alg":"ES256","typ":"JWT"})),
                b64(&json!({}))
            ),
            "typ",
        ),
        (
            "no key",
            "application/jwt",
            &*format!(
                "{}.{}.AAAA",
                b64(&json!({"alg":"ES256","typ":"kluis-deletion-request+jwt"})),
                b64(&json!({}))
            ),
            "jwk",
        ),
    ] {
        let (code, body) = post(&http, &deletions, ct, body.to_string()).await;
        assert_eq!(code, 400, "{what}: {body}");
        assert!(
            body["error_description"].as_str().unwrap().contains(says),
            "{what}: {body}"
        );
    }
    let (code, _) = post(&http, &deletions, "text/plain", "a.b.c").await;
    assert_eq!(code, 415);
    for path in [
        "/request/nope".to_string(),
        format!("/v1/requests/{}", "x".repeat(5000)),
        "/v1/requests/nope".into(),
    ] {
        let r = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    // After all of it, the citizen's answer is accepted as if nothing happened.
    answer(&wallet, created["link"].as_str().unwrap())
        .await
        .unwrap();
    assert_rental_claims(&result(&http, &base, state).await.1);
    // ... and replaying a copy of its form is refused as answered.
    let (code, body) = post(
        &http,
        &response,
        form,
        format!("state={state}&vp_token=%7B%7D"),
    )
    .await;
    assert_eq!(code, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already answered"),
        "{body}"
    );
}

/// One answer, one wallet at the service's offline desk (`POST /v1/qr`): Alice's name and Bob's
/// "no arrears", each presented for the same nonce and party, in one QR, are refused; Bob's own
/// offline QR is accepted (docs/PRESENTING.md "One answer, one wallet").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_qr_with_two_peoples_credentials_is_refused_by_the_service() {
    let net = network().await;
    let (_v, base) = in_process(&net, Arc::new(MemoryState::default())).await;
    let (_a, alice) = collected_wallet(&net, "mohamed", quick_http()).await;
    let (_b, bob) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let id = |w: &Wallet, vct: &str| {
        w.credentials("en")
            .unwrap()
            .into_iter()
            .find(|c| c.vct == vct)
            .unwrap()
            .id
    };
    let nonce = "spliced-at-the-service-01";
    let name = alice
        .present(
            &id(&alice, "urn:nl:gemeente:brp-address:1"),
            &["/given_name".to_string(), "/family_name".to_string()],
            nonce,
            LANDLORD,
        )
        .unwrap();
    let arrears = bob
        .present(
            &id(&bob, "urn:nl:cak:care-arrears:1"),
            &["/registered_payment_arrears".to_string()],
            nonce,
            LANDLORD,
        )
        .unwrap();
    let spliced = kluis_core::qr::offline::encode_set(&[&name, &arrears]).unwrap();
    let http = reqwest::Client::new();
    let (code, body) = post_qr(&http, &base, &spliced).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.to_string().contains("kluis_assoc"), "{body}");

    let items = bob.offline_items_for(&rental_query()).unwrap();
    let own = bob
        .offline_presentation(&items, LANDLORD, Some("rental"))
        .unwrap()
        .payload;
    let (code, body) = post_qr(&http, &base, &own).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "verified", "{body}");
}

/// Result keys of one Redis key prefix (`PREFIX` + `r:` + tag), read with `redis-cli`.
fn redis_results(url: &str, prefix: &str) -> usize {
    let out = Command::new("redis-cli")
        .args(["-u", url, "--scan", "--pattern", &format!("{prefix}r:*")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// How the fake deletion endpoint answers a request body.
type Answer = Arc<std::sync::Mutex<Box<dyn Fn(&str) -> String + Send>>>;

/// A deletion endpoint that answers what `answer` makes of each request and keeps the last
/// request body: a party (or someone on its origin) with receipts of its own making.
async fn fake_deletion_endpoint() -> (String, Answer, Arc<std::sync::Mutex<String>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer: Answer = Arc::new(std::sync::Mutex::new(Box::new(|_: &str| "{}".to_string())));
    let seen = Arc::new(std::sync::Mutex::new(String::new()));
    let (a, s) = (Arc::clone(&answer), Arc::clone(&seen));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then the body (Content-Length).
            loop {
                let n = conn.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        *s.lock().unwrap() = text[end + 4..end + 4 + len].to_string();
                        break;
                    }
                }
            }
            let request = s.lock().unwrap().clone();
            let body = (a.lock().unwrap())(&request);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
        }
    });
    (base, answer, seen)
}

fn receipt_signed_by(key: &kluis_core::sdjwt::SigningKey, claims: &Value) -> String {
    kluis_core::sdjwt::UnsignedJws::new(
        &json!({"alg": "ES256", "typ": "kluis-deletion-receipt+jwt"}),
        claims,
    )
    .unwrap()
    .sign(key)
    .unwrap()
}

fn payload_of(jwt: &str) -> Value {
    use base64::Engine as _;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// Issue 17 item 5, the wallet's side: `forget` on the audit entry of a disclosure. The request is
/// signed by the key that presented, sent to the deletion endpoint the scheme lists for the
/// party; the party (kluis-verifier on Redis) deletes the result and signs a receipt; the log
/// shows it. Receipts that are forged, the party's own for another request, or another party's
/// are refused and logged nothing; an unreachable party is a network error and logs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_citizen_forgets_a_disclosure_and_the_party_deletes_it() {
    let Some(redis) = TestRedis::start() else {
        return;
    };
    let prefix = "forget:";
    let net = network().await;
    let state =
        kluis_verifier_server::RedisState::connect(&redis.url, prefix, Duration::from_secs(2))
            .await
            .unwrap();
    let (_v, base) = in_process(&net, Arc::new(state)).await;
    net.scheme
        .set_deletion_uri(LANDLORD, &format!("{base}/v1/deletions"))
        .unwrap();
    let (_dir, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    wallet.refresh_scheme(quick_http()).await.unwrap();
    let http = reqwest::Client::new();
    let created = create(&http, &base).await;
    let state = created["state"].as_str().unwrap();
    answer(&wallet, created["link"].as_str().unwrap())
        .await
        .unwrap();
    assert_rental_claims(&result(&http, &base, state).await.1);
    assert_eq!(redis_results(&redis.url, prefix), 1);
    let log = wallet.audit_log().unwrap();
    let entry = log
        .iter()
        .rev()
        .find(|e| {
            matches!(&e.event, kluis_core::audit::AuditEvent::Disclosed { audience, .. } if audience == LANDLORD)
        })
        .unwrap()
        .seq;

    // Not a disclosure: refused.
    assert!(matches!(
        wallet.forget(1, quick_http()).await,
        Err(kluis_core::Error::InvalidInput { .. })
    ));
    let len = wallet.audit_log().unwrap().len();

    // Someone on the party's origin answering with receipts of their own making.
    let (fake, answer_with, seen) = fake_deletion_endpoint().await;
    let bank_origin = net.verifier(BANK).unwrap().origin();
    net.scheme
        .list_verifiers(&[
            (LANDLORD.into(), base.clone()),
            (LANDLORD.into(), fake.clone()),
            (BANK.into(), bank_origin),
        ])
        .unwrap();
    net.scheme
        .set_deletion_uri(LANDLORD, &format!("{fake}/v1/deletions"))
        .unwrap();
    wallet.refresh_scheme(quick_http()).await.unwrap();
    let landlord = kluis_fixtures::servers::requesting_party_key(LANDLORD).unwrap();
    let bank = kluis_fixtures::servers::requesting_party_key(BANK).unwrap();
    let other = kluis_core::sdjwt::SigningKey::make_random().unwrap();
    // The first attempt only shows what the wallet sends: signed by the presenting key.
    assert!(wallet.forget(entry, quick_http()).await.is_err());
    let request = seen.lock().unwrap().clone();
    let asked = payload_of(&request);
    assert_eq!(asked["aud"], LANDLORD);
    let sub = {
        use base64::Engine as _;
        let h: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(request.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        kluis_core::sdjwt::PublicJwk::from_value(&h["jwk"])
            .unwrap()
            .thumbprint()
    };
    assert_eq!(wallet.audit_log().unwrap().len(), len);
    for (what, key, iss, stale) in [
        ("forged", &other, LANDLORD, false),
        ("another party's key", &bank, LANDLORD, false),
        ("another party's receipt", &bank, BANK, false),
        ("for an earlier request", &landlord, LANDLORD, true),
    ] {
        let key = kluis_core::sdjwt::SigningKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
        let (iss, sub, earlier) = (iss.to_string(), sub.clone(), asked["jti"].clone());
        *answer_with.lock().unwrap() = Box::new(move |body: &str| {
            let jti = if stale {
                earlier.clone()
            } else {
                payload_of(body)["jti"].clone()
            };
            let claims = json!({"iss": iss, "sub": sub, "iat": 1, "deleted_at": 1,
                "deleted": 1, "request_jti": jti});
            json!({"deleted": 1, "receipt": receipt_signed_by(&key, &claims)}).to_string()
        });
        let r = wallet.forget(entry, quick_http()).await;
        assert!(
            matches!(&r, Err(kluis_core::Error::InvalidRequest { .. })),
            "{what}: {r:?}"
        );
        assert_eq!(wallet.audit_log().unwrap().len(), len, "{what}: logged");
    }
    // The same receipt the party would sign, but for this request: accepted (the fake is on
    // the party's origin and holds its key), which shows the refusals above are the receipts'.
    let (sub2, key) = (
        sub.clone(),
        kluis_core::sdjwt::SigningKey::from_pkcs8_der(&landlord.to_pkcs8_der()).unwrap(),
    );
    *answer_with.lock().unwrap() = Box::new(move |body: &str| {
        let claims = json!({"iss": LANDLORD, "sub": sub2, "iat": 1, "deleted_at": 7,
            "deleted": 0, "request_jti": payload_of(body)["jti"]});
        json!({"deleted": 0, "receipt": receipt_signed_by(&key, &claims)}).to_string()
    });
    let ok = wallet.forget(entry, quick_http()).await.unwrap();
    assert_eq!((ok.deleted, ok.deleted_at), (0, 7));
    let len = wallet.audit_log().unwrap().len();

    // The party down: a network error, nothing logged.
    net.scheme
        .set_deletion_uri(
            LANDLORD,
            &format!("http://127.0.0.1:{}/v1/deletions", free_port()),
        )
        .unwrap();
    net.scheme
        .list_verifiers(&[
            (LANDLORD.into(), base.clone()),
            (LANDLORD.into(), format!("http://127.0.0.1:{}", free_port())),
        ])
        .unwrap();
    wallet.refresh_scheme(quick_http()).await.unwrap();
    let r = wallet.forget(entry, quick_http()).await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(wallet.audit_log().unwrap().len(), len);

    // The real party: deleted, the receipt logged, the result gone from the API and Redis.
    list_landlord_at(&net, &base);
    net.scheme
        .set_deletion_uri(LANDLORD, &format!("{base}/v1/deletions"))
        .unwrap();
    wallet.refresh_scheme(quick_http()).await.unwrap();
    let done = wallet.forget(entry, quick_http()).await.unwrap();
    assert_eq!((done.entry, done.deleted), (entry, 1));
    let last = wallet.audit_log().unwrap().pop().unwrap();
    assert_eq!(last.seq, done.logged_as);
    match last.event {
        kluis_core::audit::AuditEvent::DeletedByParty {
            entry: e,
            audience,
            deleted,
            receipt,
            ..
        } => {
            assert_eq!((e, audience.as_str(), deleted), (entry, LANDLORD, 1));
            assert_eq!(payload_of(&receipt)["sub"], json!(sub));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(result(&http, &base, state).await.0, 404);
    assert_eq!(redis_results(&redis.url, prefix), 0);
    // Asked again: the party holds nothing more, and says so in a fresh receipt.
    assert_eq!(wallet.forget(entry, quick_http()).await.unwrap().deleted, 0);

    // The party's side: a deletion request made for another party, and a replayed one, are
    // refused. (The wallet's request the fake endpoint kept, aud = the landlord, is fresh here.)
    let deletions = format!("{base}/v1/deletions");
    let (code, body) = post(&http, &deletions, "application/jwt", request.clone()).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = post(&http, &deletions, "application/jwt", request).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("replay"),
        "{body}"
    );
    let bank = net.verifier(BANK).unwrap().shared().client_id().to_string();
    let stranger = kluis_core::sdjwt::SigningKey::make_random().unwrap();
    let for_bank = kluis_core::sdjwt::UnsignedJws::new(
        &json!({"alg": "ES256", "typ": "kluis-deletion-request+jwt", "jwk": stranger.public_jwk().to_value()}),
        &json!({"aud": bank, "iat": kluis_core::now_unix(), "jti": "x1"}),
    )
    .unwrap()
    .sign(&stranger)
    .unwrap();
    let (code, body) = post(&http, &deletions, "application/jwt", for_bank).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("another party"),
        "{body}"
    );
}
