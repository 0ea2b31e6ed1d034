//! OpenID4VP over the Digital Credentials API (OpenID4VP 1.0 Appendix A), the requesting party's
//! side and the vocabulary the wallet shares.
//!
//! A web page calls `navigator.credentials.get({digital: {requests: [{protocol, data}]}})`; the
//! browser and the phone's platform hand `data` and the page's origin to the wallet, and the
//! wallet's answer back to the page. [`new_request`] makes `protocol` and `data`: unsigned (the
//! parameters as they are: the origin is the party), signed (a request object, compact JWS, in
//! `data.request`) or multi-signed (JWS JSON serialization, one signature per client id, the
//! client id in each protected header). [`verify_response`] checks the answer the page got back:
//! that it came back to an origin the request was made for, then what
//! [`super::verifier::verify_response`] checks, with `origin:` + the origin as the key-binding
//! audience (A.4: even for signed requests the client id is not the audience).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jws::{JwsHeader, ES256};
use kluis_sdjwt::SigningKey;
use serde::Serialize;
use serde_json::{json, Value};

use super::client_id::ORIGIN_PREFIX;
use super::dcql::DcqlQuery;
use super::verifier::{response_encryption, verify_answer, PendingRequest, ResponseOutcome};
use super::verifier::{VerifierTrust, DEFAULT_REQUEST_LIFETIME_SECS};
use super::{ResponseMode, StatedPurpose, MAX_REQUEST_LIFETIME_SECS, REQUEST_OBJECT_TYP};
use crate::Error;

/// The DC API exchange protocol of an OpenID4VP 1.0 request (A.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// `openid4vp-v1-unsigned`: the request parameters as they are.
    Unsigned,
    /// `openid4vp-v1-signed`: `{"request": <compact JWS>}`.
    Signed,
    /// `openid4vp-v1-multisigned`: a JWS in JSON serialization, one signature per client id.
    MultiSigned,
}

impl Protocol {
    /// Every protocol this crate speaks, as a wallet registers them with the platform.
    pub const ALL: [Protocol; 3] = [Protocol::Unsigned, Protocol::Signed, Protocol::MultiSigned];

    /// The protocol identifier.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Unsigned => "openid4vp-v1-unsigned",
            Protocol::Signed => "openid4vp-v1-signed",
            Protocol::MultiSigned => "openid4vp-v1-multisigned",
        }
    }

    /// The protocol an identifier names; `None` for any other (another version, another
    /// protocol such as `org-iso-mdoc`).
    pub fn parse(s: &str) -> Option<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// The audience of an answer over the DC API: `origin:` + the origin (A.4).
pub fn audience(origin: &str) -> String {
    format!("{ORIGIN_PREFIX}{origin}")
}

/// One client id that signs a (multi-)signed request.
pub struct Signer {
    /// Client identifier with prefix.
    pub client_id: String,
    /// The key that signs.
    pub signing_key: SigningKey,
    /// A Verifier Attestation JWT (for `verifier_attestation:`), in the JOSE header `jwt`.
    pub attestation: Option<String>,
    /// The access certificate chain (for `x509_hash:`), in the JOSE header `x5c`.
    pub x5c: Vec<String>,
}

/// How the party asks over the DC API.
pub struct DcApiConfig {
    /// Unsigned, signed or multi-signed.
    pub protocol: Protocol,
    /// Who signs: none (unsigned), one (signed), one or more (multi-signed).
    pub signers: Vec<Signer>,
    /// The origins of the pages that make the request: `expected_origins` of a signed request,
    /// and for every protocol the origins an answer is accepted from.
    pub origins: Vec<String>,
    /// `dc_api` or `dc_api.jwt`.
    pub response_mode: ResponseMode,
    /// Purpose and retention it states (`kluis_purpose`).
    pub purpose: Option<StatedPurpose>,
    /// Request validity in seconds (≤ 600).
    pub lifetime_secs: i64,
}

impl DcApiConfig {
    /// An unsigned request from `origin`, answered encrypted (`dc_api.jwt`, as HAIP 1.0 wants).
    pub fn unsigned(origin: &str) -> DcApiConfig {
        DcApiConfig {
            protocol: Protocol::Unsigned,
            signers: Vec::new(),
            origins: vec![origin.to_string()],
            response_mode: ResponseMode::DcApiJwt,
            purpose: None,
            lifetime_secs: DEFAULT_REQUEST_LIFETIME_SECS,
        }
    }
}

/// What the page passes to `navigator.credentials.get`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DcApiRequest {
    /// The exchange protocol.
    pub protocol: Protocol,
    /// The request `data`.
    pub data: Value,
}

impl DcApiRequest {
    /// The argument of `navigator.credentials.get`: `{"digital": {"requests": [{protocol, data}]}}`.
    pub fn credentials_get_options(&self) -> Value {
        json!({ "digital": { "requests": [ { "protocol": self.protocol.as_str(), "data": self.data } ] } })
    }
}

fn internal(what: &str) -> Error {
    Error::Internal {
        reason: format!("verifier: {what}"),
    }
}

fn random_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// A compact ES256 JWS over `body` with `typ` `oauth-authz-req+jwt`, the attestation in `jwt`
/// and `client_id` in the protected header when asked (multi-signed requests).
fn sign(signer: &Signer, body: &[u8], client_id_in_header: bool) -> Result<String, Error> {
    let es256 = ES256
        .signer_from_der(&signer.signing_key.to_pkcs8_der()[..])
        .map_err(|_| internal("signing key"))?;
    let mut header = JwsHeader::new();
    header.set_token_type(REQUEST_OBJECT_TYP);
    let set = |h: &mut JwsHeader, k: &str, v: &str| {
        h.set_claim(k, Some(Value::String(v.to_string())))
            .map_err(|_| internal("request header"))
    };
    if let Some(a) = &signer.attestation {
        set(&mut header, "jwt", a)?;
    }
    if !signer.x5c.is_empty() {
        header
            .set_claim("x5c", Some(json!(signer.x5c)))
            .map_err(|_| internal("x5c header"))?;
    }
    if client_id_in_header {
        set(&mut header, "client_id", &signer.client_id)?;
    }
    josekit::jws::serialize_compact(body, &header, &es256).map_err(|_| internal("signing"))
}

/// Makes a DC API request: fresh `nonce`, the DCQL query, for `dc_api.jwt` a fresh response
/// key. The pending request is kept server-side under its `state` (never sent: the DC API has
/// no `state`, the page keeps the session).
pub fn new_request(
    config: &DcApiConfig,
    dcql: &Value,
    now: i64,
) -> Result<(DcApiRequest, PendingRequest), Error> {
    make(config, dcql, None, now)
}

/// As [`new_request`], asking the citizen to confirm `transaction_data` too
/// ([`super::verifier::new_request_confirming`]).
pub fn new_request_confirming(
    config: &DcApiConfig,
    dcql: &Value,
    transaction_data: Value,
    now: i64,
) -> Result<(DcApiRequest, PendingRequest), Error> {
    make(config, dcql, Some(transaction_data), now)
}

fn make(
    config: &DcApiConfig,
    dcql: &Value,
    transaction_data: Option<Value>,
    now: i64,
) -> Result<(DcApiRequest, PendingRequest), Error> {
    if !config.response_mode.is_dc_api() {
        return Err(Error::invalid_input(
            "a DC API request is answered with dc_api or dc_api.jwt",
        ));
    }
    let signers = config.signers.len();
    let fits = match config.protocol {
        Protocol::Unsigned => signers == 0,
        Protocol::Signed => signers == 1,
        Protocol::MultiSigned => signers >= 1,
    };
    if !fits {
        return Err(Error::invalid_input(format!(
            "{} takes {} signer(s), {signers} given",
            config.protocol.as_str(),
            match config.protocol {
                Protocol::Unsigned => "no",
                Protocol::Signed => "one",
                Protocol::MultiSigned => "one or more",
            }
        )));
    }
    // A.2: non-empty, and never an unsafe scheme.
    if config.origins.is_empty()
        || config
            .origins
            .iter()
            .any(|o| !(o.starts_with("https://") || o.starts_with("http://")))
    {
        return Err(Error::invalid_input(
            "a DC API request needs the page origins (https://…)",
        ));
    }
    let parsed = DcqlQuery::parse(dcql).map_err(|e| Error::invalid_input(e.to_string()))?;
    super::transaction_data::parse(transaction_data.as_ref(), &parsed)
        .map_err(|e| Error::invalid_input(e.to_string()))?;
    let key = random_token();
    let nonce = random_token();
    let exp = now + config.lifetime_secs.clamp(1, MAX_REQUEST_LIFETIME_SECS);
    let mut claims = json!({
        "response_type": "vp_token",
        "response_mode": config.response_mode.as_str(),
        "nonce": nonce,
        "dcql_query": dcql,
    });
    if config.protocol != Protocol::Unsigned {
        claims["expected_origins"] = json!(config.origins);
        claims["iat"] = json!(now);
        claims["exp"] = json!(exp);
    }
    if config.protocol == Protocol::Signed {
        claims["client_id"] = json!(config.signers[0].client_id);
    }
    if let Some(p) = &config.purpose {
        claims["kluis_purpose"] = json!({ "id": p.id, "retention_days": p.retention_days });
    }
    if let Some(t) = transaction_data {
        claims["transaction_data"] = t;
    }
    let mut decryption_key = None;
    if config.response_mode == ResponseMode::DcApiJwt {
        let (metadata, private) = response_encryption(&key)?;
        claims["client_metadata"] = metadata;
        decryption_key = Some(private);
    }
    let body = serde_json::to_vec(&claims).map_err(|_| internal("claims"))?;
    let data = match config.protocol {
        Protocol::Unsigned => claims.clone(),
        Protocol::Signed => json!({ "request": sign(&config.signers[0], &body, false)? }),
        Protocol::MultiSigned => {
            let mut payload = String::new();
            let mut signatures = Vec::new();
            for s in &config.signers {
                let jws = sign(s, &body, true)?;
                let mut parts = jws.split('.');
                let (Some(protected), Some(p), Some(signature)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(internal("JWS parts"));
                };
                payload = p.to_string();
                signatures.push(json!({ "protected": protected, "signature": signature }));
            }
            json!({ "payload": payload, "signatures": signatures })
        }
    };
    let client_id = match config.protocol {
        Protocol::Signed => config.signers[0].client_id.clone(),
        _ => String::new(),
    };
    let pending = PendingRequest::for_dc_api(
        key,
        nonce,
        client_id,
        parsed,
        dcql.clone(),
        claims,
        data.to_string(),
        exp,
        decryption_key,
        config.origins.clone(),
    );
    Ok((
        DcApiRequest {
            protocol: config.protocol,
            data,
        },
        pending,
    ))
}

/// Verifies the `data` of the answer the page at `origin` got back (the `DigitalCredential`'s
/// `data`: `vp_token`, or `response` under `dc_api.jwt`, or `error`). `origin` is the page's own
/// origin as its server knows it, not a value from the answer.
pub fn verify_response(
    data: &Value,
    origin: &str,
    pending: &PendingRequest,
    trust: &VerifierTrust,
    now: i64,
) -> Result<ResponseOutcome, Error> {
    verify_response_with(
        data,
        origin,
        pending,
        trust,
        now,
        &crate::delegation::DelegationContext::default(),
    )
}

/// As [`verify_response`], with the mandates' status lists (delegated presentations).
pub fn verify_response_with(
    data: &Value,
    origin: &str,
    pending: &PendingRequest,
    trust: &VerifierTrust,
    now: i64,
    ctx: &crate::delegation::DelegationContext,
) -> Result<ResponseOutcome, Error> {
    let reject = |r: &str| Error::InvalidPresentation { reason: r.into() };
    let origins = pending
        .dc_api_origins()
        .ok_or_else(|| reject("this request was not made for the Digital Credentials API"))?;
    if !origins.iter().any(|o| o == origin) {
        return Err(reject(
            "the answer came back to an origin the request was not made for",
        ));
    }
    let Value::Object(map) = data else {
        return Err(reject("the DC API answer's data is not a JSON object"));
    };
    // The same checks as a posted answer: each parameter as a form field.
    let form: Vec<(String, String)> = map
        .iter()
        .filter(|(k, _)| matches!(k.as_str(), "vp_token" | "response" | "error"))
        .map(|(k, v)| match v {
            Value::String(s) => (k.clone(), s.clone()),
            other => (k.clone(), other.to_string()),
        })
        .collect();
    verify_answer(&form, pending, trust, now, ctx, &audience(origin))
}
