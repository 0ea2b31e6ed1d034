//! The two-phase signing API for holder keys kluis does not hold (a phone's secure hardware):
//! the presentation is built up to its key-binding JWT, a platform signer signs the input the
//! way Android's `SHA256withECDSA` and CryptoKit do (OpenSSL stands in: DER or raw r‖s), and
//! `finish` attaches the signature only when it verifies under the credential's `cnf.jwk`.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kluis_sdjwt::{
    es256_signature_from_platform, verify_presentation, ClaimPath, Credential,
    PresentationExpectations, PublicJwk, SdJwtError, SigningKey, UnsignedJws, VerifyOptions,
};
use openssl::ec::{EcGroup, EcKey, PointConversionForm};
use openssl::ecdsa::EcdsaSig;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;
use serde_json::json;

/// A key as a platform key store holds it: only signatures and the public encoding come out.
struct PlatformKey(PKey<Private>);

impl PlatformKey {
    fn new() -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PlatformKey(PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap())
    }
    /// `SHA256withECDSA`: ASN.1 DER, as Android Keystore returns it.
    fn sign_der(&self, data: &[u8]) -> Vec<u8> {
        let mut s = Signer::new(MessageDigest::sha256(), &self.0).unwrap();
        s.update(data).unwrap();
        s.sign_to_vec().unwrap()
    }
    /// Raw r‖s, as CryptoKit's `rawRepresentation`.
    fn sign_raw(&self, data: &[u8]) -> Vec<u8> {
        let sig = EcdsaSig::from_der(&self.sign_der(data)).unwrap();
        let mut out = sig.r().to_vec_padded(32).unwrap();
        out.extend(sig.s().to_vec_padded(32).unwrap());
        out
    }
    /// `PublicKey.getEncoded()` / `derRepresentation`: SubjectPublicKeyInfo DER.
    fn spki(&self) -> Vec<u8> {
        self.0.public_key_to_der().unwrap()
    }
    /// `x963Representation`: the uncompressed point.
    fn sec1(&self) -> Vec<u8> {
        let ec = self.0.ec_key().unwrap();
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        ec.public_key()
            .to_bytes(ec.group(), PointConversionForm::UNCOMPRESSED, &mut ctx)
            .unwrap()
    }
    fn public(&self) -> PublicJwk {
        PublicJwk::from_platform_encoding(&self.spki()).unwrap()
    }
}

fn credential_bound_to(issuer: &Issuer, holder: &PublicJwk) -> Credential {
    let compact = kluis_sdjwt::issue(
        &issuer.key,
        &sample_input(holder),
        &kluis_sdjwt::DisclosurePolicy::all(),
    )
    .unwrap();
    Credential::verify_issued(&compact, &issuer.trust(), NOW, &VerifyOptions::default()).unwrap()
}

fn paths() -> Vec<ClaimPath> {
    ["/given_name", "/address/locality"]
        .iter()
        .map(|p| ClaimPath::parse(p).unwrap())
        .collect()
}

#[test]
fn a_platform_signature_in_der_or_raw_form_makes_a_presentation_the_verifier_accepts() {
    let issuer = Issuer::new();
    let key = PlatformKey::new();
    let cred = credential_bound_to(&issuer, &key.public());
    for sign in [PlatformKey::sign_der, PlatformKey::sign_raw] {
        let unsigned = cred
            .prepare_presentation(&paths(), NONCE, AUD, NOW)
            .unwrap();
        assert_eq!(unsigned.signer(), &key.public());
        let sig = sign(&key, unsigned.signing_input());
        let presentation = unsigned.finish(&sig).unwrap();
        let v = verify_presentation(
            &presentation,
            &issuer.trust(),
            &PresentationExpectations::new(NONCE, AUD, NOW),
        )
        .unwrap();
        assert!(v.key_bound);
        assert_eq!(v.claims["given_name"], "Sanne");
        assert_eq!(v.claims["address"]["locality"], "Utrecht");
        assert!(v.claims.get("family_name").is_none());
    }
}

#[test]
fn the_prepared_presentation_is_the_one_present_makes_but_for_the_signature() {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let cred = credential_bound_to(&issuer, &holder.public_jwk());
    let direct = cred.present(&paths(), &holder, NONCE, AUD, NOW).unwrap();
    let two_phase = cred
        .prepare_presentation(&paths(), NONCE, AUD, NOW)
        .unwrap()
        .sign(&holder)
        .unwrap();
    let without_sig = |p: &str| p.rsplit_once('.').unwrap().0.to_string();
    assert_eq!(without_sig(&direct), without_sig(&two_phase));
}

#[test]
fn a_signature_that_does_not_verify_under_cnf_is_refused() {
    let issuer = Issuer::new();
    let key = PlatformKey::new();
    let other = PlatformKey::new();
    let cred = credential_bound_to(&issuer, &key.public());
    let prepare = || {
        cred.prepare_presentation(&paths(), NONCE, AUD, NOW)
            .unwrap()
    };

    // The key store signed with another key (it "returned a different key").
    let u = prepare();
    let sig = other.sign_der(u.signing_input());
    assert!(matches!(u.finish(&sig), Err(SdJwtError::ForeignSignature)));
    // The right key over other bytes (another audience's KB-JWT, replayed).
    let elsewhere = cred
        .prepare_presentation(&paths(), NONCE, "https://attacker.example", NOW)
        .unwrap();
    let sig = key.sign_der(elsewhere.signing_input());
    assert!(matches!(
        prepare().finish(&sig),
        Err(SdJwtError::ForeignSignature)
    ));
    // Garbage, empty, all zeros, a truncated DER, r and s swapped, a 65-byte blob.
    let u = prepare();
    let good = key.sign_raw(u.signing_input());
    let mut swapped = good[32..].to_vec();
    swapped.extend(&good[..32]);
    let der = key.sign_der(u.signing_input());
    for bad in [
        vec![],
        vec![0u8; 64],
        vec![0xff; 64],
        b"not a signature".to_vec(),
        der[..der.len() - 3].to_vec(),
        swapped,
        vec![0u8; 65],
    ] {
        assert!(
            matches!(prepare().finish(&bad), Err(SdJwtError::ForeignSignature)),
            "{bad:?}"
        );
    }
    // A software key that is not cnf is refused before signing.
    assert!(matches!(
        prepare().sign(&SigningKey::make_random().unwrap()),
        Err(SdJwtError::HolderKeyMismatch)
    ));
}

#[test]
fn der_signatures_with_oversized_integers_are_refused() {
    // r of 33 significant bytes cannot be a P-256 scalar.
    let r = openssl::bn::BigNum::from_slice(&[1u8; 33]).unwrap();
    let s = openssl::bn::BigNum::from_u32(1).unwrap();
    let der = EcdsaSig::from_private_components(r, s)
        .unwrap()
        .to_der()
        .unwrap();
    assert!(matches!(
        es256_signature_from_platform(&der),
        Err(SdJwtError::ForeignSignature)
    ));
}

#[test]
fn platform_public_keys_are_read_from_spki_der_and_sec1_and_nothing_else() {
    let key = PlatformKey::new();
    let from_spki = PublicJwk::from_platform_encoding(&key.spki()).unwrap();
    let from_sec1 = PublicJwk::from_platform_encoding(&key.sec1()).unwrap();
    assert_eq!(from_spki, from_sec1);
    // The point off the curve, a compressed point, P-384, an RSA key, garbage: refused.
    let mut off_curve = key.sec1();
    off_curve[64] ^= 1;
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    let ec = key.0.ec_key().unwrap();
    let compressed = ec
        .public_key()
        .to_bytes(ec.group(), PointConversionForm::COMPRESSED, &mut ctx)
        .unwrap();
    let p384 = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::SECP384R1).unwrap()).unwrap(),
    )
    .unwrap()
    .public_key_to_der()
    .unwrap();
    let rsa = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap())
        .unwrap()
        .public_key_to_der()
        .unwrap();
    for bad in [off_curve, compressed, p384, rsa, vec![], vec![4u8; 65]] {
        assert!(PublicJwk::from_platform_encoding(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn unsigned_jws_finishes_only_under_the_named_key() {
    let key = PlatformKey::new();
    let header =
        json!({"alg": "ES256", "typ": "openid4vci-proof+jwt", "jwk": key.public().to_value()});
    let payload = json!({"aud": ISS, "iat": NOW, "nonce": "c-nonce"});
    let u = UnsignedJws::new(&header, &payload).unwrap();
    let sig = key.sign_der(u.signing_input());
    let jws = u.finish(&sig, &key.public()).unwrap();
    // josekit, an independent implementation, verifies it.
    let jwk = josekit::jwk::Jwk::from_map(match key.public().to_value() {
        serde_json::Value::Object(m) => m,
        _ => unreachable!(),
    })
    .unwrap();
    let verifier = josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap();
    let (body, h) = josekit::jws::deserialize_compact(&jws, &verifier).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
        payload
    );
    assert_eq!(h.token_type(), Some("openid4vci-proof+jwt"));

    let u = UnsignedJws::new(&header, &payload).unwrap();
    let sig = key.sign_der(u.signing_input());
    assert!(matches!(
        u.finish(&sig, &PlatformKey::new().public()),
        Err(SdJwtError::ForeignSignature)
    ));
}
