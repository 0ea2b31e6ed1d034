//! The session QR (in person, replay-safe) end to end over the real loopback relay: the citizen's
//! wallet shows a `KS1:` engagement, the landlord's verifier library sends its signed request
//! encrypted to the wallet's ephemeral key, the wallet verifies it as a remote request, the
//! citizen consents, and the encrypted answer comes back over the relay. Attacks: a request
//! replayed in the same session or moved to another one, an altered request, an unknown party,
//! a request encrypted to the wrong key, a damaged QR.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kluis_core::audit::{AuditEvent, Channel};
use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::proximity::{
    seal_request, start_verifier_session, HttpRelay, VerifierChannel, WalletEngagement,
};
use kluis_core::openid4vp::rental_dcql;
use kluis_core::openid4vp::request::{ResponseMode, StatedPurpose};
use kluis_core::openid4vp::verifier::{ResponseOutcome, VerifierConfig, VerifierTrust};
use kluis_core::{Error, Wallet};
use kluis_fixtures::servers::{
    requesting_party_key, trust_from_holders, HolderOptions, Network, LANDLORD,
};
use kluis_qr::engagement::Engagement;
use kluis_qr::render::{Ec, Qr};
use kluis_tests::collected_wallet;
use serde_json::Value;

const CITIZEN: &str = "daan";
const WAIT: Duration = Duration::from_secs(15);

fn quick_http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(2000), 1)
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

fn trust(net: &Network) -> VerifierTrust {
    trust_from_holders(&net.holders)
}

fn refusals(wallet: &Wallet) -> Vec<String> {
    wallet
        .audit_log()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.event {
            AuditEvent::PresentationRefused {
                reason, channel, ..
            } => {
                assert_eq!(*channel, Channel::SessionQr);
                Some(reason.clone())
            }
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn rental_application_in_person_over_the_relay() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_d, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;

    // The wallet shows a small QR.
    let session = WalletEngagement::new(net.relay.base_url()).unwrap();
    let qr = session.qr_text().to_string();
    let version = Qr::new(&qr, Ec::M).unwrap().version();
    println!(
        "session QR: {} bytes -> QR v{version} at M ({qr})",
        qr.len()
    );
    assert!(qr.len() <= 200 && version <= 10);

    // The landlord scans it and sends its request; the answer comes back over the relay.
    let verifier = kluis_tests::spawn_desk(
        &qr,
        &landlord_config(&net),
        &rental_dcql(),
        trust(&net),
        WAIT,
    );

    let channel = session.relay().unwrap();
    let req = wallet
        .receive_session_request(&session, &channel, WAIT, "en")
        .await
        .unwrap();
    assert!(req.party.registered);
    assert_eq!(req.channel, Channel::SessionQr);
    assert_eq!(req.stated_purpose.as_deref(), Some("rental"));
    let disclosed = wallet
        .accept_session_presentation(&req, &req.default_choice(), &channel)
        .await
        .unwrap();
    assert_eq!(disclosed.len(), 3);

    let outcome = verifier.await.unwrap().unwrap();
    let ResponseOutcome::Verified { credentials } = outcome else {
        panic!("not verified: {outcome:?}");
    };
    let text = serde_json::to_string(&credentials).unwrap();
    assert!(text.contains("\"family_name\":\"Visser\""), "{text}");
    assert!(text.contains("monthly_gross_income_eur"));
    assert!(text.contains("\"registered_payment_arrears\":false"));
    assert!(!text.contains("bsn") && !text.contains("birthdate"));

    // In the citizen's log: three disclosures over the session QR.
    let log = wallet.audit_log().unwrap();
    let n = log
        .iter()
        .filter(|e| {
            matches!(&e.event, AuditEvent::Disclosed { channel: Some(Channel::SessionQr), audience, .. } if audience == LANDLORD)
        })
        .count();
    assert_eq!(n, 3);
}

#[tokio::test]
async fn declined_in_person_tells_the_verifier() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_d, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let session = WalletEngagement::new(net.relay.base_url()).unwrap();
    let verifier = kluis_tests::spawn_desk(
        session.qr_text(),
        &landlord_config(&net),
        &rental_dcql(),
        trust(&net),
        WAIT,
    );
    let channel = session.relay().unwrap();
    let req = wallet
        .receive_session_request(&session, &channel, WAIT, "en")
        .await
        .unwrap();
    wallet
        .decline_session_presentation(&req, &channel)
        .await
        .unwrap();
    let outcome = verifier.await.unwrap().unwrap();
    assert!(
        matches!(&outcome, ResponseOutcome::Declined { error } if error == "access_denied"),
        "{outcome:?}"
    );
    assert!(wallet.audit_log().unwrap().iter().any(|e| matches!(
        e.event,
        AuditEvent::PresentationDeclined {
            channel: Channel::SessionQr,
            ..
        }
    )));
}

/// The wallet receives on `session`; whatever happens, it leaves nothing on the channel.
async fn receive(
    wallet: &Wallet,
    session: &WalletEngagement,
) -> Result<kluis_core::openid4vp::PresentationRequest, Error> {
    let channel = session.relay().unwrap();
    let r = wallet
        .receive_session_request(session, &channel, WAIT, "en")
        .await;
    let left = VerifierChannel::receive_response(&channel, Duration::from_millis(0)).await;
    assert!(left.is_err(), "the wallet sent something");
    r
}

/// Puts `message` in the session's request mailbox, as a verifier (or an attacker) would.
async fn deliver(session: &WalletEngagement, message: Vec<u8>) {
    let relay = HttpRelay::for_engagement(session.engagement()).unwrap();
    VerifierChannel::send_request(&relay, message)
        .await
        .unwrap();
}

fn payload(jwt: &str) -> Value {
    use base64::Engine;
    let p = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_session_requests_are_refused_and_nothing_is_sent() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_d, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let config = landlord_config(&net);
    let now = kluis_core::now_unix();
    // 1. Answered once, then the same request again in the same session: the nonce is answered.
    let a = WalletEngagement::new(net.relay.base_url()).unwrap();
    let va = start_verifier_session(a.qr_text(), &config, &rental_dcql(), now).unwrap();
    deliver(&a, va.message.clone()).await;
    let req = receive(&wallet, &a).await.unwrap();
    let ch = a.relay().unwrap();
    wallet
        .accept_session_presentation(&req, &req.default_choice(), &ch)
        .await
        .unwrap();
    // The verifier takes its answer; then someone sends the same request again.
    VerifierChannel::receive_response(&ch, WAIT).await.unwrap();
    deliver(&a, va.message.clone()).await;
    let e = receive(&wallet, &a).await.unwrap_err();
    assert!(e.to_string().contains("already answered"), "{e}");

    // 2. The same signed request moved to another session (re-encrypted to its key): not bound.
    let b = WalletEngagement::new(net.relay.base_url()).unwrap();
    let moved = seal_request(&va.pending.request_object, b.engagement()).unwrap();
    deliver(&b, moved).await;
    let e = receive(&wallet, &b).await.unwrap_err();
    assert!(e.to_string().contains("not bound to this session"), "{e}");

    // 3. Encrypted to another wallet's key (the wrong ephemeral key).
    let c = WalletEngagement::new(net.relay.base_url()).unwrap();
    let other = WalletEngagement::new(net.relay.base_url()).unwrap();
    let vc = start_verifier_session(other.qr_text(), &config, &rental_dcql(), now).unwrap();
    deliver(&c, vc.message).await;
    let e = receive(&wallet, &c).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("not encrypted to this session's key"),
        "{e}"
    );

    // 4. Altered: the nonce changed after signing.
    let d = WalletEngagement::new(net.relay.base_url()).unwrap();
    let vd = start_verifier_session(d.qr_text(), &config, &rental_dcql(), now).unwrap();
    let jws = vd.pending.request_object.clone();
    let mut claims = payload(&jws);
    claims["nonce"] = Value::String("attacker-chosen".into());
    let forged_payload = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
    };
    let parts: Vec<&str> = jws.split('.').collect();
    let altered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    deliver(&d, seal_request(&altered, d.engagement()).unwrap()).await;
    let e = receive(&wallet, &d).await.unwrap_err();
    assert!(matches!(e, Error::InvalidRequest { .. }), "{e}");
    assert!(e.to_string().contains("signature"), "{e}");

    // 5. A party the scheme does not list, signing with its own key.
    let f = WalletEngagement::new(net.relay.base_url()).unwrap();
    let stranger = VerifierConfig {
        client_id: "malafide-verhuur".into(),
        signing_key: kluis_core::sdjwt::SigningKey::make_random().unwrap(),
        ..landlord_config(&net)
    };
    let vf = start_verifier_session(f.qr_text(), &stranger, &rental_dcql(), now).unwrap();
    deliver(&f, vf.message).await;
    let e = receive(&wallet, &f).await.unwrap_err();
    assert!(matches!(e, Error::InvalidRequest { .. }), "{e}");

    // Each refusal is in the log (channel session-qr); the one disclosure is the first request's.
    let reasons = refusals(&wallet);
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert!(
        reasons.contains(&"replayed_nonce".to_string()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"not_for_this_session".to_string()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"bad_signature".to_string()),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"unknown_party".to_string()),
        "{reasons:?}"
    );
}

#[tokio::test]
async fn damaged_session_qr_is_rejected_by_the_verifier() {
    let w = WalletEngagement::new("http://127.0.0.1:9/relay").unwrap();
    let qr = w.qr_text();
    let net_free_config = VerifierConfig {
        client_id: LANDLORD.into(),
        signing_key: requesting_party_key(LANDLORD).unwrap(),
        attestation: None,
        x5c: Vec::new(),
        response_uri: "http://127.0.0.1:1/response".into(),
        response_mode: ResponseMode::DirectPostJwt,
        purpose: None,
        lifetime_secs: 60,
    };
    for cut in [qr.len() - 1, qr.len() - 5, 10] {
        let e = start_verifier_session(&qr[..cut], &net_free_config, &rental_dcql(), 0)
            .err()
            .unwrap();
        assert!(e.to_string().contains("session QR"), "{e}");
    }
    // A key that is not on the curve.
    let mut e = Engagement::decode(qr).unwrap();
    e.key[1..].fill(0xFF);
    let bad = e.encode().unwrap();
    let err = start_verifier_session(&bad, &net_free_config, &rental_dcql(), 0)
        .err()
        .unwrap();
    assert!(err.to_string().contains("not a P-256 public key"), "{err}");
    // A plain direct_post request cannot go over the relay.
    let plain = VerifierConfig {
        response_mode: ResponseMode::DirectPost,
        ..net_free_config
    };
    assert!(start_verifier_session(qr, &plain, &rental_dcql(), 0).is_err());
}

/// A session channel whose link breaks right after the answer went out (BLE dropping, a relay
/// that fails after storing): the app sees an error, but the party has the data.
struct BreaksAfterSending(HttpRelay);

impl kluis_core::openid4vp::proximity::SessionChannel for BreaksAfterSending {
    fn receive_request(
        &self,
        wait: Duration,
    ) -> kluis_core::openid4vp::proximity::ChannelFuture<'_, Vec<u8>> {
        kluis_core::openid4vp::proximity::SessionChannel::receive_request(&self.0, wait)
    }

    fn send_response(
        &self,
        message: Vec<u8>,
    ) -> kluis_core::openid4vp::proximity::ChannelFuture<'_, ()> {
        Box::pin(async move {
            kluis_core::openid4vp::proximity::SessionChannel::send_response(&self.0, message)
                .await?;
            Err(kluis_core::VerifierError::Network {
                kind: kluis_core::NetworkFailure::BrokeOff,
                reason: "the link broke after sending".into(),
            })
        })
    }
}

#[tokio::test]
async fn an_answer_whose_channel_breaks_is_logged_as_maybe_shared_and_not_sent_again() {
    let net = Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap();
    let (_d, wallet) = collected_wallet(&net, CITIZEN, quick_http()).await;
    let session = WalletEngagement::new(net.relay.base_url()).unwrap();
    let verifier = kluis_tests::spawn_desk(
        session.qr_text(),
        &landlord_config(&net),
        &rental_dcql(),
        trust(&net),
        WAIT,
    );
    let channel = BreaksAfterSending(session.relay().unwrap());
    let req = wallet
        .receive_session_request(&session, &channel, WAIT, "en")
        .await
        .unwrap();
    let e = wallet
        .accept_session_presentation(&req, &req.default_choice(), &channel)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Network { .. }), "{e:?}");
    // The party did get it ...
    let outcome = verifier.await.unwrap().unwrap();
    assert!(
        matches!(outcome, ResponseOutcome::Verified { .. }),
        "{outcome:?}"
    );
    // ... and the log says so: three disclosures that may have been shared.
    let uncertain = wallet
        .audit_log()
        .unwrap()
        .iter()
        .filter(|e| {
            matches!(
                &e.event,
                AuditEvent::Disclosed {
                    channel: Some(Channel::SessionQr),
                    delivery: Some(kluis_core::audit::Delivery::Uncertain),
                    ..
                }
            )
        })
        .count();
    assert_eq!(uncertain, 3);
    // The same request is never answered again, nor declined after the fact.
    let again = wallet
        .accept_session_presentation(&req, &req.default_choice(), &channel)
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already answered"), "{again}");
    assert!(wallet
        .decline_session_presentation(&req, &channel)
        .await
        .is_err());
}

/// The relay's transport failures are mapped as every other request's (`http::transport_error`):
/// a relay whose TLS certificate chains to no trusted root is `Tls` (retrying will not help), not
/// a vague network error, on both ends of the channel; nothing is sent.
#[tokio::test]
async fn a_relay_with_an_untrusted_certificate_is_a_tls_error() {
    use kluis_fixtures::servers::{HolderOptions as Opts, HolderServer};
    use kluis_fixtures::tls::{TestCa, Validity};
    let ca = TestCa::new("kluis untrusted relay CA").unwrap();
    let identity = ca.issue("127.0.0.1", Validity::current()).unwrap();
    // Any https server with that certificate will do: the handshake fails before any route.
    let server = HolderServer::start(
        kluis_fixtures::holder("duo").unwrap(),
        0,
        Opts {
            tls: Some(identity),
            ..Opts::default()
        },
    )
    .await
    .unwrap();
    let relay = HttpRelay::new(&format!("{}/relay", server.base_url()), &[1u8; 16]).unwrap();
    let wallet_end: &dyn kluis_core::openid4vp::proximity::SessionChannel = &relay;
    let got = wallet_end.receive_request(Duration::from_secs(1)).await;
    assert!(
        matches!(got, Err(kluis_core::VerifierError::Tls { .. })),
        "{got:?}"
    );
    let sent = wallet_end.send_response(b"answer".to_vec()).await;
    assert!(
        matches!(sent, Err(kluis_core::VerifierError::Tls { .. })),
        "{sent:?}"
    );
    let sent = VerifierChannel::send_request(&relay, b"request".to_vec()).await;
    assert!(
        matches!(sent, Err(kluis_core::VerifierError::Tls { .. })),
        "{sent:?}"
    );
}
