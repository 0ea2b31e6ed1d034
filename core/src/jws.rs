//! The compact JWS operations the collecting flow needs beyond SD-JWT VCs: signing the wallet's
//! key proofs (OpenID4VCI `jwt` proofs) and verifying the scheme's participant list and the
//! holders' status lists. josekit over OpenSSL, ES256 only, as everywhere in kluis.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, ES256};
use kluis_sdjwt::{PublicJwk, SigningKey};
use serde_json::{Map, Value};

use crate::Error;

/// Signs `payload` as a compact ES256 JWS with header `typ` and, if given, the public `jwk`.
pub(crate) fn sign(
    key: &SigningKey,
    typ: &str,
    with_jwk: bool,
    payload: &Value,
) -> Result<String, Error> {
    let internal = |what: &str| Error::Internal {
        reason: format!("signing a {what}"),
    };
    let signer = ES256
        .signer_from_der(&key.to_pkcs8_der()[..])
        .map_err(|_| internal("key proof (key)"))?;
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    if with_jwk {
        let Value::Object(map) = key.public_jwk().to_value() else {
            return Err(internal("key proof (jwk)"));
        };
        let jwk = Jwk::from_map(map).map_err(|_| internal("key proof (jwk)"))?;
        header.set_jwk(jwk);
    }
    let body = serde_json::to_vec(payload).map_err(|_| internal("key proof (payload)"))?;
    josekit::jws::serialize_compact(&body, &header, &signer).map_err(|_| internal("key proof"))
}

/// A compact JWS whose signature checked out.
pub(crate) struct Verified {
    pub payload: Map<String, Value>,
}

/// The header of a compact JWS, not verified (to read `typ`/`kid` before choosing a key).
pub(crate) fn header(jws: &str) -> Option<Map<String, Value>> {
    let h = jws.split('.').next()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).ok()?).ok()
}

/// Verifies a compact ES256 JWS with any of `keys`; `None` if no key verifies it or it does not
/// parse. `alg` must be ES256 (josekit's ES256 verifier refuses anything else).
pub(crate) fn verify(jws: &str, keys: &[PublicJwk]) -> Option<Verified> {
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
