//! The fixture scheme's registration certificates (OpenID4VP 1.0 §5.11 `verifier_info`, format on
//! the board: `registration_cert`, `typ` `rc-wrp+jwt`) as the simulated parties send them, checked
//! with the core's `verify_registration_certificate`; the faults the parties can build in; and the
//! external party's slot that a verifier kluis did not write uses (tests/openid4vp_interop).
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kluis_core::openid4vp::client_id::verify_attestation;
use kluis_core::registration::{
    registration_certificates, verify_registration_certificate, REGISTRATION_CERT_TYP,
    VERIFIER_INFO_FORMAT,
};
use kluis_core::scheme::{verify_participant_list, ParticipantList};
use kluis_core::sdjwt::{PublicJwk, SigningKey};
use kluis_core::Error;
use kluis_fixtures::servers::{
    HolderOptions, Network, RequestFault, VerifierServer, BANK, EXTERNAL_PARTY, LANDLORD,
};
use serde_json::{json, Value};

async fn network() -> Network {
    Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap()
}

fn part(jwt: &str, i: usize) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(i).unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// A fresh request of `v` (with its current fault), fetched as a wallet does: the request
/// object's payload.
async fn request_claims(v: &VerifierServer) -> Value {
    let s = v.shared().new_session().await.unwrap();
    let jwt = reqwest::get(format!("{}/request/{}", v.base_url(), s.state))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    part(&jwt, 1)
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

fn the_cert(claims: &Value) -> String {
    let certs = registration_certificates(claims.get("verifier_info")).unwrap();
    assert_eq!(certs.len(), 1, "{}", claims["verifier_info"]);
    certs[0].to_string()
}

fn refusal(r: Result<impl std::fmt::Debug, impl Into<Error>>) -> String {
    match r.map_err(Into::into) {
        Err(Error::InvalidRequest { reason, .. }) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn landlord_and_bank_send_their_scheme_signed_registration() {
    let net = network().await;
    let scheme_key = net.scheme.public_jwk().unwrap();
    let listed = list(&net).await;
    let now = kluis_core::now_unix();
    for (party, purpose) in [(LANDLORD, "rental"), (BANK, "mortgage")] {
        let claims = request_claims(net.verifier(party).unwrap()).await;
        let entry = &claims["verifier_info"][0];
        assert_eq!(entry["format"], json!(VERIFIER_INFO_FORMAT));
        let jws = the_cert(&claims);
        assert_eq!(part(&jws, 0)["typ"], json!(REGISTRATION_CERT_TYP));
        assert_eq!(part(&jws, 0)["alg"], json!("ES256"));
        // `sub` is the client_id without prefix: the landlord's party id, the hash of the bank's
        // access certificate (x509_hash:).
        let client_id = claims["client_id"].as_str().unwrap();
        let party_id = client_id.strip_prefix("x509_hash:").unwrap_or(client_id);
        if party == BANK {
            assert_eq!(client_id, net.verifier(BANK).unwrap().shared().client_id());
        } else {
            assert_eq!(party_id, party);
        }
        let cert =
            verify_registration_certificate(&jws, &scheme_key, Some(&listed.iss), party_id, now)
                .unwrap();
        // Exactly what the scheme's list says of that purpose, and what kluis_purpose says.
        let registered = listed.requesting_party(party).unwrap();
        assert_eq!(&cert.purpose, registered.purpose(purpose).unwrap());
        assert_eq!(cert.name, registered.name);
        assert_eq!(claims["kluis_purpose"]["id"], json!(cert.purpose.id));
        assert_eq!(
            claims["kluis_purpose"]["retention_days"],
            json!(cert.purpose.retention_days)
        );
        // Issued when the request was made, which may be a second after `now` was read.
        assert!(cert.exp > now && cert.iat <= kluis_core::now_unix());
        // Another party cannot use it: the wallet binds `sub` to the request's client_id.
        let other = if party == LANDLORD { BANK } else { LANDLORD };
        assert!(refusal(verify_registration_certificate(
            &jws,
            &scheme_key,
            Some(&listed.iss),
            other,
            now
        ))
        .contains("another party"));
    }
}

#[tokio::test]
async fn registration_faults_for_the_wallets_refusal_tests() {
    let net = network().await;
    let scheme_key = net.scheme.public_jwk().unwrap();
    let iss = net.scheme.base_url().to_string();
    let now = kluis_core::now_unix();
    let landlord = net.verifier(LANDLORD).unwrap();
    let verify =
        |jws: &str| verify_registration_certificate(jws, &scheme_key, Some(&iss), LANDLORD, now);

    // A plain request: the purpose only in verifier_info.
    landlord.shared().set_fault(RequestFault::NoKluisPurpose);
    let c = request_claims(landlord).await;
    assert!(c.get("kluis_purpose").is_none(), "{c}");
    assert_eq!(verify(&the_cert(&c)).unwrap().purpose.id, "rental");

    landlord.shared().set_fault(RequestFault::NoPurpose);
    let c = request_claims(landlord).await;
    assert!(
        c.get("kluis_purpose").is_none() && c.get("verifier_info").is_none(),
        "{c}"
    );

    landlord
        .shared()
        .set_fault(RequestFault::ForeignRegistration);
    let c = request_claims(landlord).await;
    assert!(c.get("kluis_purpose").is_none());
    let jws = the_cert(&c);
    assert_eq!(part(&jws, 1)["sub"], json!(BANK));
    assert!(refusal(verify(&jws)).contains("another party"));
    // It is genuine, only not the landlord's.
    verify_registration_certificate(&jws, &scheme_key, Some(&iss), BANK, now).unwrap();

    landlord
        .shared()
        .set_fault(RequestFault::RegistrationNotByScheme);
    let c = request_claims(landlord).await;
    assert!(refusal(verify(&the_cert(&c))).contains("not signed by the pinned scheme key"));

    landlord
        .shared()
        .set_fault(RequestFault::ExpiredRegistration);
    let c = request_claims(landlord).await;
    assert!(refusal(verify(&the_cert(&c))).contains("expired"));

    // Back to a well-formed request: both statements, and they agree.
    landlord.shared().set_fault(RequestFault::None);
    let c = request_claims(landlord).await;
    assert_eq!(c["kluis_purpose"]["id"], json!("rental"));
    verify(&the_cert(&c)).unwrap();
}

#[tokio::test]
async fn the_external_party_is_listed_only_once_registered() {
    let net = network().await;
    let scheme_key = net.scheme.public_jwk().unwrap();
    assert!(list(&net).await.requesting_party(EXTERNAL_PARTY).is_none());
    let before = list(&net).await.requesting_parties.len();

    assert!(net
        .scheme
        .register_external("ftp://127.0.0.1:1/response")
        .is_err());
    let uri = "http://127.0.0.1:45999/openid4vp/response";
    let x = net.scheme.register_external(uri).unwrap();
    assert_eq!(x.response_origin, "http://127.0.0.1:45999");
    let listed = list(&net).await;
    assert_eq!(listed.requesting_parties.len(), before + 1);
    let party = listed.requesting_party(EXTERNAL_PARTY).unwrap();
    assert_eq!(party.response_origins, vec![x.response_origin.clone()]);
    // The key the scheme lists is the public half of the key handed to the external verifier.
    let key = SigningKey::from_jwk(&x.signing_jwk).unwrap();
    assert_eq!(party.public_keys(), vec![key.public_jwk()]);
    // The landlord and bank keep their origins when the list is republished.
    for p in [LANDLORD, BANK] {
        assert_eq!(
            listed.requesting_party(p).unwrap().response_origins,
            vec![net.verifier(p).unwrap().origin()]
        );
    }

    // As verifier_attestation: the attestation names its key and exactly that response URI.
    let now = kluis_core::now_unix();
    let att = verify_attestation(
        &x.verifier_attestation,
        &scheme_key,
        Some(&listed.iss),
        EXTERNAL_PARTY,
        now,
    )
    .unwrap();
    assert_eq!(att.cnf, key.public_jwk());
    assert_eq!(att.redirect_uris, vec![uri.to_string()]);
    assert_eq!(
        x.attested_client_id,
        format!("verifier_attestation:{EXTERNAL_PARTY}")
    );

    // One certificate per registered purpose, matching the list.
    assert_eq!(x.registration_certificates.len(), party.purposes.len());
    for (jws, purpose) in x.registration_certificates.iter().zip(&party.purposes) {
        let cert =
            verify_registration_certificate(jws, &scheme_key, Some(&listed.iss), &x.client_id, now)
                .unwrap();
        assert_eq!(&cert.purpose, purpose);
        assert!(refusal(verify_registration_certificate(
            jws,
            &PublicJwk::from_value(&SigningKey::make_random().unwrap().public_jwk().to_value())
                .unwrap(),
            Some(&listed.iss),
            &x.client_id,
            now
        ))
        .contains("not signed"));
    }
}
