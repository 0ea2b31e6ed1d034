//! `x509_hash:` requesting parties (OpenID4VP 1.0 §5.9.3, HAIP 1.0): the fixture scheme is the
//! certificate authority of the parties' access certificates; the bank signs its requests with
//! its key, the leaf in `x5c`, `client_id = x509_hash:<sha-256 of the leaf>`, and its
//! registration comes in `verifier_info` as the scheme's certificate naming that hash. The
//! wallet answers it; every way of lying about the certificate is refused, logged, and nothing
//! is sent.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::request::{verify_request_object, RequestTrust};
use kluis_core::openid4vp::verifier::sign_request_with;
use kluis_core::openid4vp::Flag;
use kluis_core::scheme::{verify_participant_list, ParticipantList};
use kluis_core::sdjwt::SigningKey;
use kluis_core::x509::{x509_hash, x509_hash_client_id};
use kluis_core::{Error, Wallet};
use kluis_fixtures::servers::ca::{scheme_ca, Authority, CA_NAME};
use kluis_fixtures::servers::{HolderOptions, Network, RequestFault, BANK, LANDLORD};
use serde_json::{json, Value};

const CITIZEN: &str = "daan";

fn quick_http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(2000), 1)
}

async fn network() -> Network {
    Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap()
}

async fn collected_wallet(net: &Network) -> (tempfile::TempDir, Wallet) {
    let (dir, wallet) = kluis_tests::new_wallet();
    kluis_tests::pin_scheme(&wallet, &net.scheme, quick_http()).await;
    kluis_tests::collect_every_offer(&wallet, net, CITIZEN, quick_http()).await;
    (dir, wallet)
}

fn part(jwt: &str, i: usize) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(i).unwrap())
            .unwrap(),
    )
    .unwrap()
}

async fn list(net: &Network) -> ParticipantList {
    let jwt = reqwest::get(net.scheme.list_uri())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    verify_participant_list(
        &jwt,
        &net.scheme.public_jwk().unwrap(),
        kluis_core::now_unix(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_bank_signs_with_its_access_certificate_and_the_wallet_answers_it() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net).await;
    let bank = net.verifier(BANK).unwrap().shared();
    let s = bank.new_session().await.unwrap();
    let jwt = reqwest::get(format!("{}/request/{}", bank.base, s.state))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // The request object carries the leaf (the scheme's CA is left out, HAIP 1.0) and the
    // client_id is the hash of exactly that DER.
    let header = part(&jwt, 0);
    let x5c: Vec<String> = serde_json::from_value(header["x5c"].clone()).unwrap();
    assert_eq!(x5c.len(), 1, "{header}");
    let leaf = STANDARD.decode(&x5c[0]).unwrap();
    let client_id = format!("x509_hash:{}", x509_hash(&leaf));
    assert_eq!(part(&jwt, 1)["client_id"], json!(client_id));
    assert_eq!(bank.client_id(), client_id);
    // The scheme's list carries the CA; it is not in the list as a party by that hash.
    let listed = list(&net).await;
    assert_eq!(listed.certificate_authorities.len(), 1);
    assert!(listed.requesting_party(&client_id[10..]).is_none());

    let req = wallet
        .start_presentation_with(&s.request_uri, "nl", quick_http())
        .await
        .unwrap();
    assert_eq!(req.party.client_id, client_id);
    // Its registration is the scheme's certificate: registered, named, the mortgage purpose.
    assert!(req.party.registered, "{:?}", req.flags);
    assert_eq!(req.party.name.as_deref(), Some("Bank Utrecht (hypotheken)"));
    assert_eq!(req.stated_purpose.as_deref(), Some("mortgage"));
    for f in [
        Flag::Unregistered,
        Flag::UnknownPurpose,
        Flag::OutsideRegistration,
    ] {
        assert!(!req.flags.contains(&f), "{:?}", req.flags);
    }
    wallet
        .accept_presentation_with(&req, &req.default_choice(), quick_http())
        .await
        .unwrap();
    let r = bank.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
}

#[tokio::test]
async fn lying_access_certificates_are_refused_logged_and_nothing_is_sent() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net).await;
    let bank = net.verifier(BANK).unwrap().shared();
    let refusals_before = kluis_tests::last_refusal(&wallet);
    assert!(refusals_before.is_none());
    let cases = [
        (
            RequestFault::CertificateNotByScheme,
            "untrusted_certificate",
            "does not lead to the scheme's certificate authority",
        ),
        (
            RequestFault::CertificateExpired,
            "certificate_expired",
            "has expired",
        ),
        (
            RequestFault::HashNotLeaf,
            "client_id_mismatch",
            "not the hash of the leaf",
        ),
        (
            RequestFault::CertificateNotForSigning,
            "untrusted_certificate",
            "key usage",
        ),
        (
            RequestFault::ForeignRegistration,
            "invalid_request",
            "registration certificate is for another party",
        ),
    ];
    for (fault, code, text) in cases {
        bank.set_fault(fault);
        let s = bank.new_session().await.unwrap();
        let r = wallet
            .start_presentation_with(&s.request_uri, "en", quick_http())
            .await;
        match &r {
            Err(Error::InvalidRequest { reason, .. }) => {
                assert!(reason.contains(text), "{fault:?}: {reason}")
            }
            other => panic!("{fault:?}: expected a refusal, got {other:?}"),
        }
        assert_eq!(
            kluis_tests::last_refusal(&wallet).as_deref(),
            Some(code),
            "{fault:?}"
        );
        assert_eq!(bank.result(&s.state).await.unwrap().status, "pending");
    }
    assert_eq!(bank.response_posts(), 0, "nothing was sent to the bank");
}

/// An attacker with its own CA: a certificate of the bank's name, the client_id the hash of
/// that very certificate (so the hash matches), the bank's registration certificate — refused,
/// because the chain does not lead to the scheme's CA; the genuine chain signed by another key
/// is refused too.
#[tokio::test]
async fn a_self_consistent_certificate_from_another_ca_is_refused() {
    let net = network().await;
    let listed = list(&net).await;
    let scheme_key = net.scheme.public_jwk().unwrap();
    let trust = RequestTrust {
        list: Some(&listed),
        scheme_key: Some(&scheme_key),
        allow_loopback_http: true,
    };
    let bank = net.verifier(BANK).unwrap().shared();
    let s = bank.new_session().await.unwrap();
    let genuine = reqwest::get(format!("{}/request/{}", bank.base, s.state))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let now = kluis_core::now_unix();
    // The genuine request verifies directly too.
    verify_request_object(&genuine, Some(bank.client_id()), &trust, now).unwrap();

    let attacker = SigningKey::make_random().unwrap();
    let own_ca = Authority::new(&SigningKey::make_random().unwrap(), CA_NAME).unwrap();
    let leaf = own_ca.issue_now(&attacker, BANK, now).unwrap();
    let x5c = vec![leaf];
    let client_id = x509_hash_client_id(&x5c).unwrap();
    let mut claims = part(&genuine, 1);
    claims["client_id"] = json!(client_id);
    let forged = sign_request_with(&attacker, None, &x5c, &claims).unwrap();
    let e = verify_request_object(&forged, Some(&client_id), &trust, now).unwrap_err();
    assert!(
        e.to_string()
            .contains("does not lead to the scheme's certificate authority"),
        "{e}"
    );

    // The bank's genuine chain, the request signed by another key: the JWS must verify with
    // the leaf's key.
    let genuine_x5c: Vec<String> =
        serde_json::from_value(part(&genuine, 0)["x5c"].clone()).unwrap();
    let claims = part(&genuine, 1);
    let resigned = sign_request_with(&attacker, None, &genuine_x5c, &claims).unwrap();
    let e = verify_request_object(&resigned, Some(bank.client_id()), &trust, now).unwrap_err();
    assert!(e.to_string().contains("signature"), "{e}");

    // A certificate from the scheme's CA for the attacker's key, but the client_id of the bank:
    // the hash names another certificate.
    let own = scheme_ca()
        .unwrap()
        .issue_now(&attacker, BANK, now)
        .unwrap();
    let spliced = sign_request_with(&attacker, None, &[own], &claims).unwrap();
    let e = verify_request_object(&spliced, Some(bank.client_id()), &trust, now).unwrap_err();
    assert!(e.to_string().contains("not the hash of the leaf"), "{e}");

    // A wallet whose scheme names no CA cannot check the chain: refused, not trusted.
    let mut no_ca = listed.clone();
    no_ca.certificate_authorities.clear();
    let e = verify_request_object(
        &genuine,
        Some(bank.client_id()),
        &RequestTrust {
            list: Some(&no_ca),
            ..trust
        },
        now,
    )
    .unwrap_err();
    assert!(e.to_string().contains("no certificate authority"), "{e}");

    // A day after the access certificate expires, the genuine request is refused.
    let later = now + kluis_fixtures::servers::ca::ACCESS_CERT_VALIDITY_SECS + 86_400;
    let e = verify_request_object(&genuine, Some(bank.client_id()), &trust, later).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

/// The landlord keeps pre-registration: no x5c, its plain client_id, its listed keys.
#[tokio::test]
async fn the_landlord_stays_pre_registered() {
    let net = network().await;
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    assert_eq!(landlord.client_id(), LANDLORD);
    assert!(landlord.x5c().is_empty());
    let s = landlord.new_session().await.unwrap();
    let jwt = reqwest::get(format!("{}/request/{}", landlord.base, s.state))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(part(&jwt, 0).get("x5c").is_none());
}

/// The verifier service runs as an x509_hash party from its configuration: the chain file (PEM,
/// leaf first) goes into every request's `x5c`; a client_id that is not the leaf's hash, or
/// no chain, is a configuration error at start (every wallet would refuse its requests).
#[test]
fn the_service_takes_its_access_certificate_chain_from_its_configuration() {
    use kluis_verifier_server::config::{Config, DEFAULT_CONFIG};
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::make_random().unwrap();
    let leaf = scheme_ca()
        .unwrap()
        .issue_now(&key, "party", kluis_core::now_unix())
        .unwrap();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        leaf.as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    std::fs::write(dir.path().join("chain.pem"), pem).unwrap();
    let client_id = x509_hash_client_id(std::slice::from_ref(&leaf)).unwrap();
    let with = |id: &str, chain: bool| {
        let mut text = DEFAULT_CONFIG.replace(
            "client_id = \"example-party\"",
            &format!("client_id = \"{id}\""),
        );
        if chain {
            text = text.replace(
                &format!("client_id = \"{id}\""),
                &format!("client_id = \"{id}\"\ncertificate_chain_file = \"chain.pem\""),
            );
        }
        Config::parse(&text, dir.path()).and_then(|c| c.settings(None))
    };
    let s = with(&client_id, true).unwrap();
    assert_eq!(s.party.x5c, vec![leaf.clone()]);
    let other = x509_hash_client_id(&[scheme_ca()
        .unwrap()
        .issue_now(&key, "party", kluis_core::now_unix())
        .unwrap()])
    .unwrap();
    assert!(with(&other, true)
        .err()
        .unwrap()
        .0
        .contains("not the x509_hash"));
    assert!(with(&client_id, false)
        .err()
        .unwrap()
        .0
        .contains("certificate_chain_file"));
}
