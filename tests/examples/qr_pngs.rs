//! Every kind of QR PNG the citizen's wallet shows, for the independent reader test
//! (tests/qr_decode, zxing-cpp): starts the simulated holders, scheme, landlord and relay on
//! loopback, fills a wallet for `daan`, and writes to OUT_DIR:
//! - `offline-rental.png` (the rental disclosure from the holders' rental-purpose credentials),
//! - `offline-rental-full.png` (the same from the full credentials: a dense code at level L),
//! - `session.png` (a session engagement),
//! - `manifest.json` (payloads, the landlord's identity, the scheme to trust),
//!
//! then prints `ready` and answers the first request that arrives for the session QR (as a
//! citizen who consents), prints `answered`, and keeps the servers up until stdin closes.
//!
//! `cargo run -p kluis-tests --example qr_pngs -- OUT_DIR`
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::openid4vp::offline::rental_query;
use kluis_core::openid4vp::proximity::WalletEngagement;
use kluis_core::qr::render::{Ec, Qr};
use kluis_fixtures::servers::{HolderOptions, Network, LANDLORD};
use kluis_tests::TestWallet;
use serde_json::json;

fn png(dir: &std::path::Path, name: &str, payload: &str) -> serde_json::Value {
    let code = Qr::new(payload, Ec::M)
        .or_else(|_| Qr::new(payload, Ec::L))
        .unwrap();
    let path = dir.join(name);
    std::fs::write(&path, code.to_png(4).unwrap()).unwrap();
    json!({
        "png": path.display().to_string(),
        "payload": payload,
        "qr_version": code.version(),
        "ec": code.ec.to_string(),
    })
}

#[tokio::main]
async fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: qr_pngs OUT_DIR"));
    std::fs::create_dir_all(&dir).unwrap();
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let http = HttpPolicy::default();
    let scheme_key = dir.join("scheme.jwk");
    std::fs::write(
        &scheme_key,
        net.scheme.public_jwk().unwrap().to_value().to_string(),
    )
    .unwrap();

    // Two wallets for daan: one with the full credentials only, one also with the small
    // rental-purpose credentials.
    let full = TestWallet::new();
    let small = TestWallet::new();
    for t in [&full, &small] {
        let key = net.scheme.public_jwk().unwrap().to_value().to_string();
        t.wallet
            .set_scheme(&net.scheme.list_uri(), &key, http.clone())
            .await
            .unwrap();
        for offer in net.offers_for("daan") {
            t.wallet
                .collect(
                    &offer.offer_uri,
                    Some(&offer.tx_code),
                    CollectOptions::default(),
                )
                .await
                .unwrap();
        }
    }
    for offer in net.purpose_offers("daan", "rental") {
        small
            .wallet
            .collect(
                &offer.offer_uri,
                Some(&offer.tx_code),
                CollectOptions::default(),
            )
            .await
            .unwrap();
    }

    let mut offline = Vec::new();
    for (t, name) in [
        (&small, "offline-rental.png"),
        (&full, "offline-rental-full.png"),
    ] {
        let items = t.wallet.offline_items_for(&rental_query()).unwrap();
        let qr = t
            .wallet
            .offline_presentation(&items, LANDLORD, Some("rental"))
            .unwrap();
        offline.push(png(&dir, name, &qr.payload));
    }
    let session = WalletEngagement::new(net.relay.base_url()).unwrap();
    let manifest = json!({
        "offline": offline,
        "session": png(&dir, "session.png", session.qr_text()),
        "landlord": {
            "client_id": LANDLORD,
            "response_uri": format!("{}/response", net.verifier(LANDLORD).unwrap().origin()),
        },
        "scheme": { "list": net.scheme.list_uri(), "key_file": scheme_key.display().to_string() },
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    println!("ready");

    let channel = session.relay().unwrap();
    match small
        .wallet
        .receive_session_request(&session, &channel, Duration::from_secs(60), "en")
        .await
    {
        Ok(req) => {
            small
                .wallet
                .accept_session_presentation(&req, &req.default_choice(), &channel)
                .await
                .unwrap();
            println!("answered");
        }
        Err(e) => println!("refused: {e}"),
    }
    // Keep the servers up until the test is done.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await;
    drop(net);
}
