//! Shared pieces of the fuzz targets: fixed keys, an ES256 signer (so a target can sign
//! what the fuzzer wrote and reach the code behind the signature check), and a fixed clock.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kluis_sdjwt::{IssuerKeys, PublicJwk, SigningKey};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Private;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The fixed "now" of every target, so a run is reproducible.
pub const NOW: i64 = 1_750_000_000;

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256, base64url (the SD-JWT digest of a disclosure).
pub fn digest(s: &str) -> String {
    b64(&Sha256::digest(s.as_bytes()))
}

/// A P-256 private key from a JWK document, for signing in the harness.
pub struct Signer {
    key: EcKey<Private>,
    /// Its public JWK as kluis reads it.
    pub public: PublicJwk,
    /// The same key as kluis' own signing key type (for presenting).
    pub kluis: SigningKey,
}

fn coord(jwk: &Value, name: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(jwk[name].as_str().expect("fixture JWK field"))
        .expect("fixture JWK base64url")
}

impl Signer {
    /// Loads a fixture private JWK.
    pub fn from_jwk_json(json: &str) -> Signer {
        let jwk: Value = serde_json::from_str(json).expect("fixture JWK JSON");
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let d = BigNum::from_slice(&coord(&jwk, "d")).expect("d");
        let x = BigNum::from_slice(&coord(&jwk, "x")).expect("x");
        let y = BigNum::from_slice(&coord(&jwk, "y")).expect("y");
        let public = EcKey::from_public_key_affine_coordinates(&group, &x, &y).expect("point");
        let key = EcKey::from_private_components(&group, &d, public.public_key()).expect("key");
        let kluis = SigningKey::from_jwk(&jwk).expect("kluis reads the private key");
        Signer {
            key,
            public: kluis.public_jwk(),
            kluis,
        }
    }

    /// ES256 over `header.payload`, returning the compact JWS. Header and payload are taken
    /// as raw bytes, so the fuzzer can write invalid JSON too.
    pub fn sign_compact(&self, header: &[u8], payload: &[u8]) -> String {
        let mut jws = b64(header);
        jws.push('.');
        jws.push_str(&b64(payload));
        let sig = EcdsaSig::sign(&Sha256::digest(jws.as_bytes()), &self.key).expect("sign");
        let mut raw = sig.r().to_vec_padded(32).expect("r");
        raw.extend(sig.s().to_vec_padded(32).expect("s"));
        jws.push('.');
        jws.push_str(&b64(&raw));
        jws
    }
}

/// The simulated holder DUO's key: signs what the targets issue.
pub fn issuer() -> &'static Signer {
    static K: OnceLock<Signer> = OnceLock::new();
    K.get_or_init(|| {
        Signer::from_jwk_json(include_str!(
            "../../fixtures/data/keys/duo.private.jwk.json"
        ))
    })
}

/// A holder key (the wallet's `cnf` key in what the targets issue).
pub fn holder() -> &'static Signer {
    static K: OnceLock<Signer> = OnceLock::new();
    K.get_or_init(|| {
        Signer::from_jwk_json(include_str!(
            "../../fixtures/data/keys/uwv.private.jwk.json"
        ))
    })
}

/// The fixture scheme key: signs participant lists.
pub fn scheme() -> &'static Signer {
    static K: OnceLock<Signer> = OnceLock::new();
    K.get_or_init(|| {
        Signer::from_jwk_json(include_str!(
            "../../fixtures/data/keys/scheme.private.jwk.json"
        ))
    })
}

/// Trusts the harness issuer key and the IETF reference vectors' issuer key for any `iss`,
/// so seeds taken from the vectors and from the fixtures get past the signature check.
pub struct FuzzTrust(Vec<PublicJwk>);

impl FuzzTrust {
    /// The shared trust list.
    pub fn get() -> &'static FuzzTrust {
        static T: OnceLock<FuzzTrust> = OnceLock::new();
        T.get_or_init(|| {
            let vectors = PublicJwk::from_value(&serde_json::json!({
                "kty": "EC", "crv": "P-256",
                "x": "b28d4MwZMjw8-00CG4xfnn9SLMVMM19SlqZpVb_uNtQ",
                "y": "Xv5zWwuoaTgdS6hV43yI6gBwTnjukmFQQnJ_kCxzqk8"
            }))
            .expect("vector key");
            FuzzTrust(vec![issuer().public.clone(), vectors])
        })
    }
}

impl IssuerKeys for FuzzTrust {
    fn keys_for(&self, _iss: &str, _kid: Option<&str>) -> Vec<PublicJwk> {
        self.0.clone()
    }
}
