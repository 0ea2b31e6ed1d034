//! The compact JWS operations kluis needs beyond SD-JWT VCs: verifying the scheme's participant
//! list, registration certificates, Verifier Attestations and the holders' status lists, and
//! building the wallet's key proofs (OpenID4VCI `jwt` proofs) for its holder key to sign.
//! josekit over OpenSSL, ES256 only, as everywhere in kluis.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::ES256;
use kluis_sdjwt::{PublicJwk, UnsignedJws};
use serde_json::{json, Map, Value};

use crate::Error;

/// `payload` as a compact ES256 JWS waiting for its signature, with header `typ` and, if
/// given, the public `jwk`. The holder key signs it wherever it lives (kluis-core's
/// holder_key.rs).
pub fn unsigned(typ: &str, jwk: Option<&PublicJwk>, payload: &Value) -> Result<UnsignedJws, Error> {
    let mut header = json!({"alg": "ES256", "typ": typ});
    if let Some(jwk) = jwk {
        header["jwk"] = jwk.to_value();
    }
    UnsignedJws::new(&header, payload).map_err(|_| Error::Internal {
        reason: format!("encoding a {typ} JWS"),
    })
}

/// A compact JWS whose signature checked out.
pub struct Verified {
    pub payload: Map<String, Value>,
}

/// The header of a compact JWS, not verified (to read `typ`/`kid` before choosing a key).
pub fn header(jws: &str) -> Option<Map<String, Value>> {
    let h = jws.split('.').next()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()
}

/// Verifies a compact ES256 JWS with any of `keys`; `None` if no key verifies it or it does not
/// parse. `alg` must be ES256 (josekit's ES256 verifier refuses anything else).
pub fn verify(jws: &str, keys: &[PublicJwk]) -> Option<Verified> {
    let header = header(jws)?;
    if header.get("alg").and_then(Value::as_str) != Some("ES256") || header.contains_key("crit") {
        return None;
    }
    for key in keys {
        let Value::Object(map) = key.to_value() else {
            continue;
        };
        let Ok(jwk) = Jwk::from_map(map) else {
            continue;
        };
        let Ok(verifier) = ES256.verifier_from_jwk(&jwk) else {
            continue;
        };
        if let Ok((payload, _)) = josekit::jws::deserialize_compact(jws, &verifier) {
            let payload = serde_json::from_slice(&payload).ok()?;
            return Some(Verified { payload });
        }
    }
    None
}
