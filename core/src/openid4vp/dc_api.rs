//! A request over the Digital Credentials API, the wallet's side (OpenID4VP 1.0 Appendix A): what
//! the phone's platform hands the wallet when a web page calls `navigator.credentials.get` —
//! the exchange `protocol`, the request `data` and the page's origin — read and verified into the
//! same [`VerifiedRequest`] every other channel yields.
//!
//! - `openid4vp-v1-unsigned`: the parameters as they are. There is no client id (one present is
//!   ignored, as is `expected_origins`, A.2): the calling origin is the party, shown as such and
//!   unregistered.
//! - `openid4vp-v1-signed`: `data.request` is a request object, verified as one from a link is
//!   (client id prefix, signature, registration), and the calling origin must be one of its
//!   `expected_origins`.
//! - `openid4vp-v1-multisigned`: a JWS in JSON serialization; the wallet takes the first
//!   signature it can verify (each names its client id and `verifier_info` in its protected
//!   header).
//!
//! Every answer names `origin:` + the origin as its audience, signed request or not (A.4). The
//! requesting party's half (making the request, verifying the answer) is kluis-verifier's,
//! re-exported here.

use serde_json::Value;

pub use kluis_verifier::openid4vp::dc_api::*;

use super::client_id::{clean, ClientId};
use super::request::{
    read_parameters, reason_code, refused, verify_signed_request, RequestTrust, VerifiedRequest,
    Via, MAX_REQUEST_BYTES,
};
use crate::{Error, RequestRefusal};

/// Most signatures of a multi-signed request the wallet tries.
const MAX_SIGNATURES: usize = 8;

/// Verifies a DC API request: `protocol` and `data` (JSON) as the platform hands them over,
/// `origin` the calling page's origin as the platform vouches for it.
pub fn verify_dc_api_request(
    protocol: &str,
    data: &str,
    origin: &str,
    trust: &RequestTrust<'_>,
    now: i64,
) -> Result<VerifiedRequest, Error> {
    let protocol = Protocol::parse(protocol).ok_or_else(|| {
        refused(RequestRefusal::InvalidRequest, format!(
            "the DC API protocol '{}' is not spoken here (openid4vp-v1-unsigned, openid4vp-v1-signed, openid4vp-v1-multisigned)",
            clean(protocol)
        ))
    })?;
    // Compared as given (A.2), only refused when it cannot be one: it is shown and logged.
    if origin.is_empty() || origin.len() > 255 || origin.chars().any(char::is_whitespace) {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the calling origin is empty or not an origin",
        ));
    }
    if data.len() > MAX_REQUEST_BYTES {
        return Err(refused(
            RequestRefusal::Oversized,
            format!("the DC API request is too large (over {MAX_REQUEST_BYTES} bytes)"),
        ));
    }
    let Ok(Value::Object(mut data)) = serde_json::from_str::<Value>(data) else {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the DC API request data is not a JSON object",
        ));
    };
    match protocol {
        Protocol::Unsigned => {
            if data.contains_key("request") {
                return Err(refused(RequestRefusal::InvalidRequest,
                    "an unsigned DC API request carries a request object: that is openid4vp-v1-signed",
                ));
            }
            // A.2: the wallet MUST ignore both in an unsigned request.
            data.remove("client_id");
            data.remove("expected_origins");
            let via = Via::DcApi {
                origin,
                signed: false,
            };
            read_parameters(
                data,
                ClientId::origin(origin),
                None,
                (None, None),
                trust,
                now,
                via,
            )
        }
        Protocol::Signed => {
            let jwt = data.get("request").and_then(Value::as_str).ok_or_else(|| {
                refused(
                    RequestRefusal::InvalidRequest,
                    "a signed DC API request carries its request object in 'request'",
                )
            })?;
            let via = Via::DcApi {
                origin,
                signed: true,
            };
            verify_signed_request(jwt, None, trust, now, via, false)
        }
        Protocol::MultiSigned => multi_signed(&data, origin, trust, now),
    }
}

/// The first signature of a JWS JSON serialization the wallet can verify (RFC 7515 §7.2.1): each
/// `protected` + `payload` + `signature` is the compact JWS that signature made.
fn multi_signed(
    data: &serde_json::Map<String, Value>,
    origin: &str,
    trust: &RequestTrust<'_>,
    now: i64,
) -> Result<VerifiedRequest, Error> {
    let payload = data.get("payload").and_then(Value::as_str);
    let signatures = data.get("signatures").and_then(Value::as_array);
    let (Some(payload), Some(signatures)) = (payload, signatures) else {
        return Err(refused(
            RequestRefusal::BadSignature,
            "a multi-signed DC API request is a JWS in JSON serialization (payload, signatures)",
        ));
    };
    if signatures.is_empty() || signatures.len() > MAX_SIGNATURES {
        return Err(refused(
            RequestRefusal::BadSignature,
            format!(
                "a multi-signed DC API request has 1 to {MAX_SIGNATURES} signatures, this one {}",
                signatures.len()
            ),
        ));
    }
    let via = Via::DcApi {
        origin,
        signed: true,
    };
    let mut refusals = Vec::new();
    for s in signatures {
        let part = |name: &str| s.get(name).and_then(Value::as_str);
        let (Some(protected), Some(signature)) = (part("protected"), part("signature")) else {
            refusals.push(refused(
                RequestRefusal::BadSignature,
                "a signature without 'protected' and 'signature'",
            ));
            continue;
        };
        let jws = format!("{protected}.{payload}.{signature}");
        match verify_signed_request(&jws, None, trust, now, via, true) {
            Ok(r) => return Ok(r),
            Err(e) => refusals.push(e),
        }
    }
    // A signature that verified but whose request was refused says more than the ones from
    // parties this wallet does not know.
    let who = |e: &Error| {
        matches!(
            reason_code(e),
            "bad_signature" | "unknown_party" | "unsupported_client_id"
        )
    };
    if let Some(i) = refusals.iter().position(|e| !who(e)) {
        return Err(refusals.swap_remove(i));
    }
    Err(refused(
        RequestRefusal::BadSignature,
        format!(
        "none of the request's {} signatures is by a party this wallet can verify (the first: {})",
        signatures.len(),
        refusals.first().map(|e| e.to_string()).unwrap_or_default()
    ),
    ))
}
