//! Shared test helpers: a sample credential, and a forger that signs arbitrary SD-JWTs with
//! josekit (an implementation independent of ours) so every check can be violated on purpose.
#![allow(clippy::unwrap_used, dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, ES256};
use kluis_sdjwt::{DisclosurePolicy, IssuerInput, PublicJwk, SigningKey};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

pub const ISS: &str = "https://duo.holders.kluis.test";
pub const VCT: &str = "urn:nl:duo:student-debt:1";
pub const NOW: i64 = 1_800_000_000;
pub const NONCE: &str = "n-0S6_WzA2Mj";
pub const AUD: &str = "https://verhuurder.verifiers.kluis.test";

/// An issuer key known to both josekit and kluis.
pub struct Issuer {
    pub jwk: Jwk,
    pub key: SigningKey,
}

impl Issuer {
    pub fn new() -> Self {
        let pair = ES256.generate_key_pair().unwrap();
        let jwk = pair.to_jwk_key_pair();
        let key = SigningKey::from_jwk(&Value::Object(jwk.as_ref().clone())).unwrap();
        Issuer { jwk, key }
    }

    pub fn public(&self) -> PublicJwk {
        self.key.public_jwk()
    }

    pub fn trust(&self) -> Vec<(String, PublicJwk)> {
        vec![(ISS.to_owned(), self.public())]
    }

    /// Signs any header/payload, valid or not, with josekit.
    pub fn sign(&self, header: Value, payload: &Value) -> String {
        let Value::Object(h) = header else { panic!() };
        let header = JwsHeader::from_map(h).unwrap();
        let signer = ES256.signer_from_jwk(&self.jwk).unwrap();
        josekit::jws::serialize_compact(&serde_json::to_vec(payload).unwrap(), &header, &signer)
            .unwrap()
    }
}

pub fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Encodes a disclosure and returns (encoded, digest).
pub fn disclosure(parts: Value) -> (String, String) {
    let encoded = b64(&serde_json::to_vec(&parts).unwrap());
    let digest = b64(&Sha256::digest(encoded.as_bytes()));
    (encoded, digest)
}

pub fn vc_header() -> Value {
    json!({"typ": "dc+sd-jwt"})
}

/// A valid VC payload skeleton (no selectively disclosable claims yet).
pub fn vc_payload(holder: Option<&PublicJwk>) -> Map<String, Value> {
    let mut p =
        json!({"iss": ISS, "iat": NOW - 100, "exp": NOW + 3600, "vct": VCT, "_sd_alg": "sha-256"});
    if let Some(h) = holder {
        p["cnf"] = json!({"jwk": h.to_value()});
    }
    p.as_object().unwrap().clone()
}

/// `jwt~d1~d2~…~`
pub fn compact(jwt: &str, disclosures: &[&str]) -> String {
    let mut s = format!("{jwt}~");
    for d in disclosures {
        s.push_str(d);
        s.push('~');
    }
    s
}

pub fn sample_claims() -> Map<String, Value> {
    json!({
        "given_name": "Sanne",
        "family_name": "de Vries",
        "birthdate": "1994-03-12",
        "nationalities": ["NL", "BE"],
        "address": {"street": "Oudegracht", "house_number": "231", "postal_code": "3511 NK", "locality": "Utrecht"},
        "debt": {"total_amount_eur": 23418.77, "monthly_payment_eur": 61.2}
    })
    .as_object()
    .unwrap()
    .clone()
}

pub fn sample_input(holder: &PublicJwk) -> IssuerInput {
    IssuerInput {
        iss: ISS.into(),
        vct: VCT.into(),
        claims: sample_claims(),
        holder_jwk: Some(holder.clone()),
        status: Some(
            json!({"status_list": {"idx": 412, "uri": "https://duo.holders.kluis.test/status/1"}}),
        ),
        iat: NOW - 100,
        exp: Some(NOW + 30 * 86400),
        nbf: None,
        kid: Some("duo-2026".into()),
    }
}

pub fn issue_sample(issuer: &Issuer, holder: &SigningKey) -> String {
    kluis_sdjwt::issue(
        &issuer.key,
        &sample_input(&holder.public_jwk()),
        &DisclosurePolicy::all(),
    )
    .unwrap()
}
