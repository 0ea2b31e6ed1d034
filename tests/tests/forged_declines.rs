//! Issue 12 item 11: a decline cannot be forged by whoever saw the request. OpenID4VP error
//! responses carry no holder proof, and the request object (with its `state` and, under
//! `direct_post.jwt`, the party's response encryption key) is public to anyone who scanned the
//! QR or saw the link. So a decline does not end a request: the citizen's bound answer (KB-JWT
//! over the request's nonce) still counts until the request expires and supersedes it, a decline
//! after the answer is refused, and the party's view says a decline arrived (`open_until`), not
//! that the citizen declined. Under `direct_post.jwt` a plain decline is refused (a wallet
//! encrypts it, §8.3.1). The fixture parties here; the verifier service in verifier_service.rs.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::request::ResponseEncryption;
use kluis_core::openid4vp::response::encrypt_payload;
use kluis_fixtures::servers::{HolderOptions, Network, BANK, LANDLORD};
use serde_json::{json, Value};

const CITIZEN: &str = "daan";

fn http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(3000), 0)
}

/// What anyone who fetched `request_object` can post: `error=access_denied` with its `state`,
/// in the clear or encrypted to the request's own response key.
fn forged_decline(request_object: &str, encrypted: bool) -> String {
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
    let enc = ResponseEncryption {
        jwk: key.clone(),
        kid: key["kid"].as_str().map(str::to_string),
        enc: "A128GCM".into(),
    };
    let jwe = encrypt_payload(&json!({ "error": "access_denied", "state": state }), &enc).unwrap();
    format!("response={jwe}")
}

async fn fetch(client: &reqwest::Client, url: &str) -> String {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.text().await.unwrap()
}

async fn post(client: &reqwest::Client, url: &str, body: String) -> (u16, Value) {
    let r = client
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_from_whoever_saw_the_request_does_not_end_it() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_d, wallet) = kluis_tests::collected_wallet(&net, CITIZEN, http()).await;
    let client = reqwest::Client::new();

    // The landlord asks for direct_post.jwt.
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    let s = landlord.new_session().await.unwrap();
    let object = fetch(&client, &format!("{}/request/{}", landlord.base, s.state)).await;
    let response_uri = format!("{}/response", landlord.base);

    // In the clear: refused, nothing changes.
    let (code, body) = post(&client, &response_uri, forged_decline(&object, false)).await;
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("must be encrypted"),
        "{body}"
    );
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "pending");

    // Encrypted to the request's own key (public in the request object): it arrives, and the
    // request stays open until it expires.
    let (code, body) = post(&client, &response_uri, forged_decline(&object, true)).await;
    assert_eq!(code, 200, "{body}");
    let r = landlord.result(&s.state).await.unwrap();
    assert_eq!(r.status, "declined");
    assert_eq!(r.open_until, Some(s.expires_at), "{r:?}");

    // The citizen's wallet answers: the verified answer supersedes the decline.
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    wallet
        .accept_presentation_with(&req, &req.default_choice(), http())
        .await
        .unwrap();
    let answered = landlord.result(&s.state).await.unwrap();
    assert_eq!(answered.status, "verified", "{:?}", answered.reason);
    assert_eq!(answered.open_until, None);
    assert_eq!(
        answered.claims.as_ref().unwrap()["person"][0]["claims"]["given_name"],
        "Daan"
    );

    // A decline after the answer, either way, is refused and changes nothing.
    for encrypted in [true, false] {
        let (code, body) = post(&client, &response_uri, forged_decline(&object, encrypted)).await;
        assert_eq!(code, 400, "{body}");
        assert_eq!(landlord.result(&s.state).await.unwrap(), answered);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_decline_to_a_direct_post_request_is_superseded_by_the_answer() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_d, wallet) = kluis_tests::collected_wallet(&net, CITIZEN, http()).await;
    let client = reqwest::Client::new();

    // The bank asks for direct_post: a decline in the clear is what a wallet sends.
    let bank = net.verifier(BANK).unwrap().shared();
    let s = bank.new_session().await.unwrap();
    let object = fetch(&client, &format!("{}/request/{}", bank.base, s.state)).await;
    let response_uri = format!("{}/response", bank.base);
    let (code, body) = post(&client, &response_uri, forged_decline(&object, false)).await;
    assert_eq!(code, 200, "{body}");
    let r = bank.result(&s.state).await.unwrap();
    assert_eq!(r.status, "declined");
    assert_eq!(r.open_until, Some(s.expires_at));
    // A second one, and a garbage answer, change nothing either.
    assert_eq!(
        post(&client, &response_uri, forged_decline(&object, false))
            .await
            .0,
        200
    );
    let (code, _) = post(
        &client,
        &response_uri,
        format!("state={}&vp_token=%7B%7D", s.state),
    )
    .await;
    assert_eq!(code, 400);
    assert_eq!(bank.result(&s.state).await.unwrap().status, "declined");

    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    wallet
        .accept_presentation_with(&req, &req.default_choice(), http())
        .await
        .unwrap();
    let r = bank.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
    assert_eq!(
        post(&client, &response_uri, forged_decline(&object, false))
            .await
            .0,
        400
    );
    assert_eq!(bank.result(&s.state).await.unwrap().status, "verified");
}
