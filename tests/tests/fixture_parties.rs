//! The fixture landlord and bank ARE the party's verifier service (issue 17 item 2): each
//! answers the service's own API (`/v1/health`, `openapi.json`, `POST /v1/requests`,
//! `GET /v1/requests/{state}`), and a request made through that API is answered by a wallet and
//! read back verified, exactly as a real back end would. The fixture's test knobs (request
//! faults, `/admin/...`, `/api/...`) are a layer of the fixture only: a request the service API
//! made is not tampered with while a fault is set, and neither the service's router built from
//! the same settings nor the `kluis-verifier` binary knows those routes.
#![allow(clippy::unwrap_used)]

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use kluis_fixtures::servers::{
    landlord, registration_certificate, requesting_party_key, trust_from_holders, HolderOptions,
    Network, RequestFault, VerifierShared, BANK, LANDLORD,
};
use kluis_tests::fixtures_cli::bin;
use kluis_tests::{collected_wallet, loopback_http};
use kluis_verifier_server::routes::OPENAPI;
use kluis_verifier_server::{spawn_server, MemoryState, Verifier};
use serde_json::{json, Value};

const CITIZEN: &str = "daan";

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_landlord_and_the_bank_are_the_verifier_service() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    for (party, client_id) in [
        (LANDLORD, LANDLORD.to_string()),
        (
            BANK,
            net.verifier(BANK).unwrap().shared().client_id().to_string(),
        ),
    ] {
        let base = net.verifier(party).unwrap().base_url().to_string();
        let (status, health) = get(&format!("{base}/v1/health")).await;
        assert_eq!(status, 200, "{health}");
        let health: Value = serde_json::from_str(&health).unwrap();
        assert_eq!(health, json!({ "status": "ok", "client_id": client_id }));
        let (status, doc) = get(&format!("{base}/openapi.json")).await;
        assert_eq!((status, doc.as_str()), (200, OPENAPI));
    }

    // The landlord's back end asks through the service's API; the citizen answers; the result
    // is read back through the same API.
    let http = loopback_http(Duration::from_secs(10), 1);
    let (_d, wallet) = collected_wallet(&net, CITIZEN, http.clone()).await;
    let base = net.verifier(LANDLORD).unwrap().base_url().to_string();
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{base}/v1/requests"))
        .header("content-type", "application/json")
        .body(json!({ "query": "rental" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let link = created["link"].as_str().unwrap();
    assert!(link.starts_with("openid4vp://?client_id=woningcorporatie-eemland&request_uri="));
    let req = wallet
        .start_presentation_with(link, "en", http.clone())
        .await
        .unwrap();
    assert!(req.party.registered);
    wallet
        .accept_presentation_with(&req, &req.default_choice(), http.clone())
        .await
        .unwrap();
    let state = created["state"].as_str().unwrap();
    let (status, result) = get(&format!("{base}/v1/requests/{state}")).await;
    assert_eq!(status, 200, "{result}");
    let result: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["status"], "verified", "{result}");
    assert_eq!(result["purpose"], "rental");
    assert_eq!(
        result["claims"]["person"][0]["claims"]["given_name"],
        "Daan"
    );
    // The fixture's own view of it is the service's result.
    let shared = net.verifier(LANDLORD).unwrap().shared();
    let view = shared.result(state).await.unwrap();
    assert_eq!(serde_json::to_value(&view).unwrap(), result);

    // A fault set on the fixture tampers only with the requests the fixture makes: the one
    // the service API makes meanwhile is the party's own, signed by its key.
    shared.set_fault(RequestFault::BadSignature);
    let faulted = shared.new_session().await.unwrap();
    let refused = wallet
        .start_presentation_with(&faulted.request_uri, "en", http.clone())
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let created: Value = client
        .post(format!("{base}/v1/requests"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    wallet
        .start_presentation_with(created["link"].as_str().unwrap(), "en", http)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_test_layer_does_not_reach_the_service() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    // The service alone, from the settings the fixture landlord runs with.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let party = landlord();
    let settings = VerifierShared::settings(
        &party,
        &base,
        &requesting_party_key(LANDLORD).unwrap(),
        None,
        Vec::new(),
        registration_certificate(
            net.scheme.base_url(),
            LANDLORD,
            "rental",
            kluis_core::now_unix(),
        )
        .unwrap(),
        trust_from_holders(&net.holders),
    )
    .unwrap();
    let verifier = Arc::new(Verifier::new(settings, Arc::new(MemoryState::default())).unwrap());
    verifier.start().await.unwrap();
    let _server = spawn_server(listener, verifier);

    // The embedded default of the `kluis-verifier` binary.
    let mut child = Command::new(bin("kluis-verifier"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: Value = serde_json::from_str(&line).unwrap();
    let binary = format!("http://{}", started["listening"].as_str().unwrap());

    let fixture = net.verifier(LANDLORD).unwrap().base_url().to_string();
    let client = reqwest::Client::new();
    for (method, path, body) in [
        ("POST", "/admin/fault", r#"{"fault": "bad_signature"}"#),
        ("POST", "/admin/dcql", r#"{"dcql": null}"#),
        ("GET", "/api/session/new", ""),
    ] {
        let send = |b: &str| {
            let url = format!("{b}{path}");
            let r = if method == "GET" {
                client.get(url)
            } else {
                client.post(url).body(body.to_string())
            };
            r.send()
        };
        // The fixture has it ...
        assert_eq!(send(&fixture).await.unwrap().status(), 200, "{path}");
        // ... the service does not, neither in process nor as the binary.
        for b in [&base, &binary] {
            assert_eq!(send(b).await.unwrap().status(), 404, "{b}{path}");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
