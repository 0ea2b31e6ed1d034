//! The presentation request on the wallet side: the `openid4vp://` link, fetching the signed
//! request object, and verifying it (OpenID4VP 1.0 §5, JWT-secured authorization request).
//!
//! [`verify_request_object`] takes the request object JWT as a string and does no HTTP, so the
//! in-person flow (request over the session channel) uses the same checks.

use kluis_sdjwt::PublicJwk;
use reqwest::Url;
use serde::Serialize;
use serde_json::Value;

pub use kluis_verifier::openid4vp::{
    ResponseMode, StatedPurpose, MAX_REQUEST_LIFETIME_SECS, REQUEST_OBJECT_TYP,
};

use super::client_id::{
    clean, parse_client_id, verify_attestation, ClientId, ClientIdPrefix, SKEW_SECS,
};
use super::dcql::{DcqlError, DcqlQuery};
use super::transaction_data::{self, TransactionData};
use crate::http::{checked_url, Http};
use crate::jws::{header as jws_header, verify as jws_verify};
use crate::registration::{
    registration_certificates, verify_registration_certificate, RegistrationCertificate,
};
use crate::scheme::{ParticipantList, RequestingParty};
use crate::Error;
use crate::{NetworkFailure, RequestRefusal};
use kluis_verifier::x509;

/// The wallet's refusal of a request (nothing sent).
pub(crate) fn refused(code: RequestRefusal, reason: impl Into<String>) -> Error {
    Error::InvalidRequest {
        code,
        reason: reason.into(),
    }
}

/// An `x5c` chain the wallet does not accept, under its code.
fn certificate_refused(e: &x509::ChainError) -> Error {
    let code = match e {
        x509::ChainError::Expired => RequestRefusal::CertificateExpired,
        x509::ChainError::NotYetValid => RequestRefusal::NotYetValid,
        _ => RequestRefusal::UntrustedCertificate,
    };
    refused(code, e.to_string())
}

/// Largest request object accepted.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The JWE content encryptions this wallet can produce.
pub const SUPPORTED_ENC: &[&str] = &["A128GCM", "A256GCM"];

/// A request link (`openid4vp://?client_id=…&request_uri=…`), parsed, nothing fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestLink {
    /// The client identifier in the link (with prefix).
    pub client_id: String,
    /// Where the signed request object is.
    pub request_uri: String,
}

/// Parses an `openid4vp://`, `openid4vp://authorize`, `haip-vp://` or `https://…` request link.
/// Only request objects by reference are accepted (an unsigned request by value is refused).
pub fn parse_request_link(uri: &str) -> Result<RequestLink, Error> {
    let uri = uri.trim();
    if uri.len() > 4096 {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the request link is too long",
        ));
    }
    let url = Url::parse(uri).map_err(|_| {
        refused(
            RequestRefusal::InvalidRequest,
            "the request link is not a URI",
        )
    })?;
    if !matches!(url.scheme(), "openid4vp" | "haip-vp" | "https") {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            format!(
                "the request link has the unsupported scheme {:?}",
                clean(url.scheme())
            ),
        ));
    }
    let mut client_id = None;
    let mut request_uri = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "client_id" => client_id = Some(v.into_owned()),
            "request_uri" => request_uri = Some(v.into_owned()),
            "request" => {
                return Err(refused(
                    RequestRefusal::InvalidRequest,
                    "request objects by value are not accepted: the link needs a request_uri",
                ))
            }
            _ => {}
        }
    }
    let client_id = client_id.ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "the request link has no client_id",
        )
    })?;
    let request_uri = request_uri.ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "the request link has no request_uri (unsigned requests are not accepted)",
        )
    })?;
    Ok(RequestLink {
        client_id,
        request_uri,
    })
}

/// The party's response encryption key (`direct_post.jwt`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseEncryption {
    /// The public JWK (P-256, ECDH-ES).
    pub jwk: Value,
    /// Its `kid`, echoed in the JWE header.
    pub kid: Option<String>,
    /// Content encryption (`A128GCM` by default).
    pub enc: String,
}

/// A request object whose every check passed.
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    /// The client identifier.
    pub client_id: ClientId,
    /// The party as the scheme lists it (`None`: attested but not listed); for an `x509_hash:`
    /// party, as its verified registration certificate names it (`None` without one).
    pub party: Option<RequestingParty>,
    /// Where to send the response (empty over the Digital Credentials API: the answer goes back
    /// through the platform to [`VerifiedRequest::origin`]).
    pub response_uri: String,
    /// How.
    pub response_mode: ResponseMode,
    /// The nonce for the key-binding JWTs.
    pub nonce: String,
    /// Echoed in the response. Optional (OpenID4VP 1.0 §5.2): the nonce in the key-binding JWTs
    /// binds the answer when every query asks for holder binding.
    pub state: Option<String>,
    /// The query, parsed.
    pub dcql: DcqlQuery,
    /// The stated purpose.
    pub purpose: Option<StatedPurpose>,
    /// The registration certificate from `verifier_info` that names the stated purpose, verified
    /// and bound to this party (`sub` = the client_id without prefix).
    pub registration: Option<RegistrationCertificate>,
    /// Issued at, when the request says (neither OpenID4VP 1.0 nor RFC 9101 requires it).
    pub iat: Option<i64>,
    /// When the wallet stops answering: the request's `exp`, but never later than
    /// [`MAX_REQUEST_LIFETIME_SECS`] after its `iat` (or after it arrived, without `iat`).
    pub exp: i64,
    /// For `direct_post.jwt` and `dc_api.jwt`.
    pub encryption: Option<ResponseEncryption>,
    /// What the party asks the citizen to confirm (OpenID4VP 1.0 §5.1), every entry of a known
    /// type: shown on the consent screen and bound in the answer's key-binding JWTs.
    pub transaction_data: Vec<TransactionData>,
    /// Over the Digital Credentials API: the web origin the platform says the request came
    /// from, which every answer names as its audience.
    pub origin: Option<String>,
}

impl VerifiedRequest {
    /// The key-binding `aud`: the client id, or over the Digital Credentials API `origin:` + the
    /// origin (OpenID4VP 1.0 A.4, also for signed requests).
    pub fn audience(&self) -> String {
        match &self.origin {
            Some(origin) => kluis_verifier::openid4vp::dc_api::audience(origin),
            None => self.client_id.full.clone(),
        }
    }
}

/// How a request arrived, which decides the parameters it must carry.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via<'a> {
    /// A link or a channel: answered at its `response_uri`.
    Link,
    /// The Digital Credentials API, from `origin`; `signed` when it is a request object.
    DcApi { origin: &'a str, signed: bool },
}

/// What decides trust in a request: the scheme's list and its pinned key.
#[derive(Debug, Clone, Copy)]
pub struct RequestTrust<'a> {
    /// The verified participant list.
    pub list: Option<&'a ParticipantList>,
    /// The pinned scheme key (verifies Verifier Attestations).
    pub scheme_key: Option<&'a PublicJwk>,
    /// Accept `http://` response URIs on loopback (the simulated parties).
    pub allow_loopback_http: bool,
}

/// The audit log's reason (`PresentationRefused`) for a refusal: its code's name, the code the
/// app sees in the error.
pub fn reason_code(e: &Error) -> &'static str {
    match e {
        Error::InvalidRequest { code, .. } => code.as_str(),
        _ => RequestRefusal::InvalidRequest.as_str(),
    }
}

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Verifies a request object JWT. `expected_client_id` is the link's `client_id` (None when the
/// request came without a link, e.g. over the in-person channel).
pub fn verify_request_object(
    jwt: &str,
    expected_client_id: Option<&str>,
    trust: &RequestTrust<'_>,
    now: i64,
) -> Result<VerifiedRequest, Error> {
    verify_signed_request(jwt, expected_client_id, trust, now, Via::Link, false)
}

/// [`verify_request_object`] for any channel: `client_id_in_header` for one signature of a
/// multi-signed DC API request (A.3.2.2: its client id and `verifier_info` are in the protected
/// header, the rest in the shared payload).
pub(crate) fn verify_signed_request(
    jwt: &str,
    expected_client_id: Option<&str>,
    trust: &RequestTrust<'_>,
    now: i64,
    via: Via<'_>,
    client_id_in_header: bool,
) -> Result<VerifiedRequest, Error> {
    let jwt = jwt.trim();
    if jwt.len() > MAX_REQUEST_BYTES {
        return Err(refused(
            RequestRefusal::Oversized,
            format!("the request object is too large (over {MAX_REQUEST_BYTES} bytes)"),
        ));
    }
    let header = jws_header(jwt).ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "the request object is not a JWT",
        )
    })?;
    if header.get("typ").and_then(Value::as_str) != Some(REQUEST_OBJECT_TYP) {
        return Err(refused(
            RequestRefusal::WrongTyp,
            format!("the request object's typ is not {REQUEST_OBJECT_TYP}"),
        ));
    }
    let claimed = if client_id_in_header {
        header.get("client_id").cloned()
    } else {
        unverified_payload(jwt).and_then(|p| p.get("client_id").cloned())
    }
    .and_then(|v| v.as_str().map(str::to_string))
    .ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "the request object has no client_id",
        )
    })?;
    if let Some(expected) = expected_client_id {
        if expected != claimed {
            return Err(refused(
                RequestRefusal::ClientIdMismatch,
                format!(
                    "the request object's client_id '{}' does not match the link's '{}'",
                    clean(&claimed),
                    clean(expected)
                ),
            ));
        }
    }
    let client_id = parse_client_id(&claimed)?;
    let listed = trust
        .list
        .and_then(|l| l.requesting_party(&client_id.id).cloned());
    // Which keys may have signed it, and where the response may go.
    // `exact`: an attestation's `redirect_uris`, which the response_uri must equal (OpenID4VP
    // 1.0 §5.9.3); otherwise the registered origins decide.
    let (keys, origins, exact): (Vec<PublicJwk>, Option<Vec<String>>, Option<Vec<String>>) =
        match client_id.prefix {
            ClientIdPrefix::PreRegistered => {
                let party = listed.as_ref().ok_or_else(|| {
                    refused(
                        RequestRefusal::UnknownParty,
                        format!(
                            "the requesting party '{}' is not listed in the scheme",
                            clean(&client_id.id)
                        ),
                    )
                })?;
                (
                    party.public_keys(),
                    Some(party.response_origins.clone()),
                    None,
                )
            }
            ClientIdPrefix::VerifierAttestation => {
                let att_jwt = header.get("jwt").and_then(Value::as_str).ok_or_else(|| {
                    refused(
                        RequestRefusal::InvalidRequest,
                        "a verifier_attestation request needs the attestation in its header 'jwt'",
                    )
                })?;
                let scheme_key = trust.scheme_key.ok_or_else(|| {
                    refused(
                        RequestRefusal::InvalidRequest,
                        "no scheme is pinned: a verifier attestation cannot be checked",
                    )
                })?;
                let att = verify_attestation(
                    att_jwt,
                    scheme_key,
                    trust.list.map(|l| l.iss.as_str()),
                    &client_id.id,
                    now,
                )?;
                if att.redirect_uris.is_empty() {
                    let listed_origins = listed
                        .as_ref()
                        .map(|p| p.response_origins.clone())
                        .unwrap_or_default();
                    (vec![att.cnf], Some(listed_origins), None)
                } else {
                    let origins = att
                        .redirect_uris
                        .iter()
                        .filter_map(|u| Url::parse(u).ok())
                        .map(|u| origin_of(&u))
                        .collect();
                    (vec![att.cnf], Some(origins), Some(att.redirect_uris))
                }
            }
            ClientIdPrefix::X509Hash => {
                // §5.9.3: the request is signed with the key of the leaf in `x5c`, whose hash the
                // client_id is, and the chain leads to a trusted authority: here the scheme's CA.
                // The party's metadata (response_uri, keys) is the signed request's own; where the
                // answer may go is not restricted further (the spec binds no origin to it).
                let x5c = x509::x5c_from_header(&header).map_err(|e| certificate_refused(&e))?;
                let anchors = trust
                    .list
                    .map(|l| l.certificate_authorities.as_slice())
                    .unwrap_or_default();
                let chain =
                    x509::verify_chain(&x5c, anchors, now).map_err(|e| certificate_refused(&e))?;
                if chain.leaf_hash != client_id.id {
                    return Err(refused(
                        RequestRefusal::ClientIdMismatch,
                        "the x509_hash client_id is not the hash of the leaf certificate in x5c",
                    ));
                }
                (vec![chain.leaf_key], None, None)
            }
            // Reserved: parse_client_id never yields it from a request.
            ClientIdPrefix::Origin => {
                return Err(refused(
                    RequestRefusal::UnsupportedClientId,
                    "client identifier prefix 'origin' is reserved (OpenID4VP 1.0 §5.9.3)",
                ))
            }
        };
    if keys.is_empty() {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the scheme lists no request-signing key for this party",
        ));
    }
    let verified = jws_verify(jwt, &keys).ok_or_else(|| {
        refused(
            RequestRefusal::BadSignature,
            "the request object's signature does not verify with the party's key",
        )
    })?;
    let mut p = verified.payload;
    if client_id_in_header {
        // This signature's own verifier_info, none from the payload all signatures share.
        p.remove("verifier_info");
        if let Some(info) = header.get("verifier_info") {
            p.insert("verifier_info".into(), info.clone());
        }
    }
    read_parameters(p, client_id, listed, (origins, exact), trust, now, via)
}

/// The request's parameters, whoever vouched for them: a verified request object's payload, or
/// an unsigned DC API request's `data` (its party the calling origin, `client_id` and
/// `expected_origins` in it ignored, A.2). `response_origins`: where a `response_uri` may point
/// (and `exact`, URIs it must equal).
pub(crate) fn read_parameters(
    p: serde_json::Map<String, Value>,
    client_id: ClientId,
    listed: Option<RequestingParty>,
    (origins, exact): (Option<Vec<String>>, Option<Vec<String>>),
    trust: &RequestTrust<'_>,
    now: i64,
    via: Via<'_>,
) -> Result<VerifiedRequest, Error> {
    let s = |name: &str| -> Result<String, Error> {
        p.get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .ok_or_else(|| {
                refused(
                    RequestRefusal::InvalidRequest,
                    format!("the request object has no '{name}'"),
                )
            })
    };
    if s("response_type")? != "vp_token" {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "response_type must be vp_token",
        ));
    }
    let response_mode = match (s("response_mode")?.as_str(), via) {
        ("direct_post", Via::Link) => ResponseMode::DirectPost,
        ("direct_post.jwt", Via::Link) => ResponseMode::DirectPostJwt,
        ("dc_api", Via::DcApi { .. }) => ResponseMode::DcApi,
        ("dc_api.jwt", Via::DcApi { .. }) => ResponseMode::DcApiJwt,
        (other, via) => {
            return Err(refused(
                RequestRefusal::InvalidRequest,
                format!(
                    "response_mode '{}' is not supported ({})",
                    clean(other),
                    match via {
                        Via::Link => "direct_post, direct_post.jwt",
                        Via::DcApi { .. } => "over the Digital Credentials API: dc_api, dc_api.jwt",
                    }
                ),
            ))
        }
    };
    let (iat, exp) = request_lifetime(&p, now)?;
    let (response_uri, origin) = match via {
        Via::Link => (
            response_uri(&p, trust, origins.as_deref(), exact.as_deref())?,
            None,
        ),
        Via::DcApi { origin, signed } => {
            if signed {
                expected_origin(&p, origin)?;
            }
            (String::new(), Some(origin.to_string()))
        }
    };
    let nonce = s("nonce")?;
    // A.2: `state` is not defined over the DC API (the page keeps its session): ignored.
    let state = match (p.get("state"), via) {
        (_, Via::DcApi { .. }) | (None, _) => None,
        (Some(Value::String(v)), _) if !v.is_empty() => Some(v.clone()),
        (Some(_), _) => {
            return Err(refused(
                RequestRefusal::InvalidRequest,
                "the request object's 'state' is not a string",
            ))
        }
    };
    if nonce.len() > 256 || state.as_ref().is_some_and(|s| s.len() > 256) {
        return Err(refused(
            RequestRefusal::Oversized,
            "nonce or state too large",
        ));
    }
    let dcql_value = p.get("dcql_query").ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "the request object has no 'dcql_query'",
        )
    })?;
    let dcql = DcqlQuery::parse(dcql_value).map_err(|e| match e {
        DcqlError::TooLarge(m) => refused(
            RequestRefusal::Oversized,
            format!("the DCQL query is too large: {m}"),
        ),
        other => refused(RequestRefusal::MalformedQuery, other.to_string()),
    })?;
    // §5.2: without holder binding only `state` ties the answer to this request (over the DC
    // API the platform returns the answer to the page that asked).
    if matches!(via, Via::Link)
        && state.is_none()
        && dcql.credentials.iter().any(|q| !q.require_holder_binding)
    {
        return Err(refused(RequestRefusal::InvalidRequest,
            "the request asks for a credential without holder binding but has no 'state' (OpenID4VP 1.0 §5.2)",
        ));
    }
    // §5.1: one entry of a type this wallet does not know, or not keeping to its type, refuses
    // the whole request: nothing may be answered as if the party had not asked the citizen to
    // confirm it.
    let transaction_data = transaction_data::parse(p.get("transaction_data"), &dcql)
        .map_err(|e| refused(RequestRefusal::InvalidTransactionData, e.to_string()))?;
    let kluis_purpose = match p.get("kluis_purpose") {
        None => None,
        Some(v) => Some(StatedPurpose {
            id: v
                .get("id")
                .and_then(Value::as_str)
                .map(clean)
                .ok_or_else(|| {
                    refused(
                        RequestRefusal::InvalidRequest,
                        "kluis_purpose needs an 'id'",
                    )
                })?,
            retention_days: v
                .get("retention_days")
                .and_then(Value::as_u64)
                .and_then(|d| u32::try_from(d).ok()),
        }),
    };
    let (purpose, registration) = certified_purpose(&p, &client_id, kluis_purpose, trust, now)?;
    let encryption = match response_mode.is_encrypted() {
        false => None,
        true => Some(encryption_key(&p, response_mode)?),
    };
    // An x509_hash party is not in the list: the scheme's registration certificate for its
    // stated purpose is its registration (name, purpose, retention, claims).
    let party = match (&client_id.prefix, &registration) {
        (ClientIdPrefix::X509Hash, Some(cert)) => Some(RequestingParty {
            id: client_id.id.clone(),
            client_id: client_id.id.clone(),
            name: cert.name.clone(),
            purposes: vec![cert.purpose.clone()],
            keys: Vec::new(),
            // Where it answers: the origin of its response_uri, or the calling web origin.
            response_origins: Url::parse(&response_uri)
                .map(|u| origin_of(&u))
                .ok()
                .or_else(|| origin.clone())
                .into_iter()
                .collect(),
            deletion_uri: None,
        }),
        (ClientIdPrefix::X509Hash, None) => None,
        _ => listed,
    };
    Ok(VerifiedRequest {
        client_id,
        party,
        response_uri,
        response_mode,
        nonce,
        state,
        dcql,
        purpose,
        registration,
        iat,
        exp,
        encryption,
        transaction_data,
        origin,
    })
}

/// The `response_uri`: https (plain http only to loopback when allowed), on one of the party's
/// `origins` (equal to one of `exact` when given), and no `redirect_uri` beside it.
fn response_uri(
    p: &serde_json::Map<String, Value>,
    trust: &RequestTrust<'_>,
    origins: Option<&[String]>,
    exact: Option<&[String]>,
) -> Result<String, Error> {
    let response_uri = p
        .get("response_uri")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            refused(
                RequestRefusal::InvalidRequest,
                "the request object has no 'response_uri'",
            )
        })?;
    let url = checked_url(&response_uri).map_err(|_| {
        refused(
            RequestRefusal::InsecureResponseUri,
            format!(
                "the response_uri {} is not https (plain http only to loopback hosts)",
                clean(&response_uri)
            ),
        )
    })?;
    if url.scheme() == "http" && !trust.allow_loopback_http {
        return Err(refused(
            RequestRefusal::InsecureResponseUri,
            format!("the response_uri {} uses plain http", clean(&response_uri)),
        ));
    }
    // `None`: an x509_hash party, whose own signed response_uri stands (§5.9.3).
    if origins.is_some_and(|o| !o.iter().any(|o| *o == origin_of(&url))) {
        return Err(refused(
            RequestRefusal::ForeignResponseUri,
            format!(
                "the response_uri {} is not on the party's registered origin",
                clean(&response_uri)
            ),
        ));
    }
    if exact.is_some_and(|e| !e.contains(&response_uri)) {
        return Err(refused(RequestRefusal::ForeignResponseUri, format!(
            "the response_uri {} is not one of the attestation's redirect_uris (not a registered origin)",
            clean(&response_uri)
        )));
    }
    // §8.2: with response_uri, a redirect_uri is not allowed (it would be a second, unchecked
    // place for the answer to go).
    if p.get("redirect_uri").is_some() {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the request has a redirect_uri next to its response_uri (OpenID4VP 1.0 §8.2)",
        ));
    }
    Ok(response_uri)
}

/// A.2: a signed DC API request names the origins it may come from, and the calling origin is
/// one of them, compared as strings (a request another site replays is refused here).
fn expected_origin(p: &serde_json::Map<String, Value>, origin: &str) -> Result<(), Error> {
    let expected: Vec<&str> = p
        .get("expected_origins")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .ok_or_else(|| {
            refused(RequestRefusal::InvalidRequest, "a signed DC API request must name the origins it may come from (OpenID4VP 1.0 A.2)")
        })?;
    if !expected.contains(&origin) {
        return Err(refused(RequestRefusal::ForeignOrigin, format!(
            "the calling origin {} is not one of the request's expected_origins (a request replayed by another site?)",
            clean(origin)
        )));
    }
    Ok(())
}

/// The purpose from a registration certificate in `verifier_info`, if there is one the wallet can
/// check (a pinned scheme): every certificate present must verify and name this party, or the
/// request is refused (§5.11: a wallet that uses it MUST validate its signature and binding). The
/// one used is the one for the `kluis_purpose` named, else the first; its purpose and retention
/// are what the party states. Without a certificate, `kluis_purpose` (the fallback) stands.
fn certified_purpose(
    p: &serde_json::Map<String, Value>,
    client_id: &ClientId,
    kluis_purpose: Option<StatedPurpose>,
    trust: &RequestTrust<'_>,
    now: i64,
) -> Result<(Option<StatedPurpose>, Option<RegistrationCertificate>), Error> {
    let jws = registration_certificates(p.get("verifier_info"))?;
    let Some(scheme_key) = trust.scheme_key else {
        return Ok((kluis_purpose, None));
    };
    let mut certs = Vec::with_capacity(jws.len());
    for j in jws {
        certs.push(verify_registration_certificate(
            j,
            scheme_key,
            trust.list.map(|l| l.iss.as_str()),
            &client_id.id,
            now,
        )?);
    }
    let chosen = match &kluis_purpose {
        Some(stated) => certs.into_iter().find(|c| c.purpose.id == stated.id),
        None => certs.into_iter().next(),
    };
    Ok(match chosen {
        Some(cert) => (
            Some(StatedPurpose {
                id: cert.purpose.id.clone(),
                retention_days: kluis_purpose
                    .and_then(|k| k.retention_days)
                    .or(cert.purpose.retention_days),
            }),
            Some(cert),
        ),
        None => (kluis_purpose, None),
    })
}

/// `iat` and the effective expiry. Both claims are optional; when present they bound the
/// request's age. Timestamps come from the party, so the arithmetic is checked (i128): an
/// extreme value is refused or clamped, never wrapped.
fn request_lifetime(
    p: &serde_json::Map<String, Value>,
    now: i64,
) -> Result<(Option<i64>, i64), Error> {
    let time = |name: &str| -> Result<Option<i64>, Error> {
        match p.get(name) {
            None => Ok(None),
            // RFC 7519 NumericDate may have a fraction: whole seconds (saturating).
            Some(v) => v
                .as_i64()
                .or_else(|| {
                    v.as_f64()
                        .filter(|f| f.is_finite())
                        .map(|f| f.floor() as i64)
                })
                .map(Some)
                .ok_or_else(|| {
                    refused(
                        RequestRefusal::InvalidRequest,
                        format!("the request object's '{name}' is not a number of seconds"),
                    )
                }),
        }
    };
    let (iat, exp) = (time("iat")?, time("exp")?);
    let (now_w, skew, max) = (
        i128::from(now),
        i128::from(SKEW_SECS),
        i128::from(MAX_REQUEST_LIFETIME_SECS),
    );
    if let Some(exp) = exp {
        if i128::from(exp) + skew < now_w {
            return Err(refused(RequestRefusal::Expired, "the request has expired"));
        }
    }
    let out_of_bounds = || {
        refused(RequestRefusal::InvalidRequest, format!(
            "the request's validity is out of bounds (iat in the future, or longer than {MAX_REQUEST_LIFETIME_SECS} s)"
        ))
    };
    if let Some(iat) = iat {
        let iat_w = i128::from(iat);
        if iat_w > now_w + skew {
            return Err(out_of_bounds());
        }
        if let Some(exp) = exp {
            let exp_w = i128::from(exp);
            if exp_w < iat_w || exp_w - iat_w > max {
                return Err(out_of_bounds());
            }
        }
    }
    let latest = i128::from(iat.unwrap_or(now)) + max;
    let effective = exp.map_or(latest, |e| i128::from(e).min(latest));
    if effective + skew < now_w {
        return Err(refused(
            RequestRefusal::Expired,
            format!("the request has expired (issued more than {MAX_REQUEST_LIFETIME_SECS} s ago)"),
        ));
    }
    // In range: `effective` lies between `now - skew` and `now + max`.
    let exp = i64::try_from(effective).map_err(|_| out_of_bounds())?;
    Ok((iat, exp))
}

/// The response encryption key from `client_metadata.jwks`: an EC P-256 key for `ECDH-ES`.
fn encryption_key(
    p: &serde_json::Map<String, Value>,
    mode: ResponseMode,
) -> Result<ResponseEncryption, Error> {
    let meta = p.get("client_metadata");
    let keys = meta
        .and_then(|m| m.get("jwks"))
        .and_then(|j| j.get("keys"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            refused(
                RequestRefusal::InvalidRequest,
                format!("{} needs client_metadata.jwks", mode.as_str()),
            )
        })?;
    let key = keys
        .iter()
        .find(|k| {
            k.get("kty").and_then(Value::as_str) == Some("EC")
                && k.get("crv").and_then(Value::as_str) == Some("P-256")
                && k.get("d").is_none()
                && k.get("use").and_then(Value::as_str).unwrap_or("enc") == "enc"
                && k.get("alg").and_then(Value::as_str).unwrap_or("ECDH-ES") == "ECDH-ES"
        })
        .ok_or_else(|| {
            refused(
                RequestRefusal::InvalidRequest,
                "client_metadata.jwks has no P-256 ECDH-ES encryption key",
            )
        })?;
    let offered: Vec<&str> = meta
        .and_then(|m| m.get("encrypted_response_enc_values_supported"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_else(|| vec!["A128GCM"]);
    let enc = offered
        .iter()
        .find(|e| SUPPORTED_ENC.contains(e))
        .ok_or_else(|| {
            refused(
                RequestRefusal::InvalidRequest,
                "no supported response encryption (A128GCM, A256GCM) offered",
            )
        })?;
    Ok(ResponseEncryption {
        jwk: key.clone(),
        kid: key.get("kid").and_then(Value::as_str).map(str::to_string),
        enc: (*enc).to_string(),
    })
}

fn unverified_payload(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    use base64::Engine;
    let p = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Fetches the request object at the link's `request_uri` (GET, bounded, transport rule).
pub(crate) async fn fetch_request_object(http: &Http, link: &RequestLink) -> Result<String, Error> {
    let url = checked_url(&link.request_uri).map_err(|_| {
        refused(
            RequestRefusal::InsecureResponseUri,
            format!(
                "the request_uri {} is not https (plain http only to loopback hosts)",
                clean(&link.request_uri)
            ),
        )
    })?;
    let reply = http.get(&url, "application/oauth-authz-req+jwt").await?;
    if reply.status.is_redirection() {
        return Err(refused(
            RequestRefusal::Redirect,
            format!(
                "the request_uri answered with a redirect (HTTP {}): redirects are not followed",
                reply.status.as_u16()
            ),
        ));
    }
    if !reply.status.is_success() {
        return Err(Error::Network {
            kind: NetworkFailure::HttpStatus {
                status: reply.status.as_u16(),
            },
            reason: format!(
                "the requesting party did not hand out its request (HTTP {})",
                reply.status.as_u16()
            ),
        });
    }
    if reply.body.len() > MAX_REQUEST_BYTES {
        return Err(refused(
            RequestRefusal::Oversized,
            format!("the request object is too large (over {MAX_REQUEST_BYTES} bytes)"),
        ));
    }
    String::from_utf8(reply.body)
        .map(|s| s.trim().to_string())
        .map_err(|_| {
            refused(
                RequestRefusal::InvalidRequest,
                "the request object is not text",
            )
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::openid4vp::verifier::sign_request;
    use crate::scheme::{LocalizedName, RequestingParty};
    use josekit::jws::{JwsHeader, ES256};
    use kluis_sdjwt::SigningKey;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const SCHEME: &str = "https://scheme.test";

    fn jws(key: &SigningKey, typ: &str, payload: &Value) -> String {
        let signer = ES256.signer_from_der(&key.to_pkcs8_der()[..]).unwrap();
        let mut h = JwsHeader::new();
        h.set_token_type(typ);
        josekit::jws::serialize_compact(&serde_json::to_vec(payload).unwrap(), &h, &signer).unwrap()
    }

    struct World {
        scheme: SigningKey,
        landlord: SigningKey,
        bank: SigningKey,
        list: ParticipantList,
    }

    fn world() -> World {
        let landlord = SigningKey::make_random().unwrap();
        let list = ParticipantList {
            iss: SCHEME.into(),
            iat: NOW,
            exp: NOW + 3600,
            holders: Vec::new(),
            mandate_registries: Vec::new(),
            certificate_authorities: Vec::new(),
            wallet_providers: Vec::new(),
            requesting_parties: vec![RequestingParty {
                id: "landlord".into(),
                client_id: "landlord".into(),
                name: LocalizedName::default(),
                purposes: Vec::new(),
                keys: vec![landlord.public_jwk().to_value()],
                response_origins: vec!["https://landlord.test".into()],
                deletion_uri: None,
            }],
        };
        World {
            scheme: SigningKey::make_random().unwrap(),
            landlord,
            bank: SigningKey::make_random().unwrap(),
            list,
        }
    }

    fn claims(client_id: &str, response_uri: &str) -> Value {
        json!({
            "client_id": client_id, "response_type": "vp_token", "response_mode": "direct_post",
            "response_uri": response_uri, "nonce": "n-1", "state": "s-1",
            "dcql_query": { "credentials": [ { "id": "a", "format": "dc+sd-jwt" } ] },
            "iat": NOW - 10, "exp": NOW + 290,
        })
    }

    fn attestation(w: &World, signer: &SigningKey, edit: impl Fn(&mut Value)) -> String {
        let mut a = json!({
            "iss": SCHEME, "sub": "bank", "iat": NOW - 60, "exp": NOW + 3600,
            "cnf": { "jwk": w.bank.public_jwk().to_value() },
            "redirect_uris": ["https://bank.test/response"],
        });
        edit(&mut a);
        jws(signer, "verifier-attestation+jwt", &a)
    }

    fn check(w: &World, jwt: &str, link_client_id: &str) -> Result<VerifiedRequest, Error> {
        let key = w.scheme.public_jwk();
        let trust = RequestTrust {
            list: Some(&w.list),
            scheme_key: Some(&key),
            allow_loopback_http: false,
        };
        verify_request_object(jwt, Some(link_client_id), &trust, NOW)
    }

    fn refused_with(r: Result<VerifiedRequest, Error>, needle: &str) {
        match r {
            Err(Error::InvalidRequest { reason, .. }) => {
                assert!(reason.contains(needle), "{reason:?} lacks {needle:?}")
            }
            other => panic!("expected a refusal ({needle}), got {other:?}"),
        }
    }

    #[test]
    fn pre_registered_requests() {
        let w = world();
        let ok = sign_request(
            &w.landlord,
            None,
            &claims("landlord", "https://landlord.test/r"),
        )
        .unwrap();
        let r = check(&w, &ok, "landlord").unwrap();
        assert!(r.party.is_some());
        assert_eq!(r.response_mode, ResponseMode::DirectPost);

        type Edit = Box<dyn Fn(&mut Value)>;
        let edits: Vec<(&str, Edit)> = vec![
            (
                "response_type",
                Box::new(|c| c["response_type"] = json!("id_token")),
            ),
            (
                "response_mode",
                Box::new(|c| c["response_mode"] = json!("fragment")),
            ),
            ("out of bounds", Box::new(|c| c["exp"] = json!(NOW + 1000))),
            ("out of bounds", Box::new(|c| c["iat"] = json!(NOW + 200))),
            ("expired", Box::new(|c| c["exp"] = json!(NOW - 61))),
            (
                "registered origin",
                Box::new(|c| c["response_uri"] = json!("https://evil.test/r")),
            ),
            (
                "plain http",
                Box::new(|c| c["response_uri"] = json!("http://landlord.test/r")),
            ),
            (
                "client_metadata",
                Box::new(|c| c["response_mode"] = json!("direct_post.jwt")),
            ),
            (
                "malformed DCQL",
                Box::new(|c| c["dcql_query"] = json!({ "credentials": [] })),
            ),
            ("no 'nonce'", Box::new(|c| c["nonce"] = json!(""))),
        ];
        for (needle, edit) in edits {
            let mut c = claims("landlord", "https://landlord.test/r");
            edit(&mut c);
            let jwt = sign_request(&w.landlord, None, &c).unwrap();
            refused_with(check(&w, &jwt, "landlord"), needle);
        }
        // Signed by another key; the wrong typ; a link naming someone else.
        let jwt = sign_request(
            &w.bank,
            None,
            &claims("landlord", "https://landlord.test/r"),
        )
        .unwrap();
        refused_with(check(&w, &jwt, "landlord"), "signature");
        let jwt = jws(
            &w.landlord,
            "JWT",
            &claims("landlord", "https://landlord.test/r"),
        );
        refused_with(check(&w, &jwt, "landlord"), "typ");
        refused_with(check(&w, &ok, "bank"), "does not match the link");
        let jwt = sign_request(
            &w.landlord,
            None,
            &claims("stranger", "https://landlord.test/r"),
        )
        .unwrap();
        refused_with(check(&w, &jwt, "stranger"), "not listed");
    }

    #[test]
    fn verifier_attestation_requests() {
        let w = world();
        let cid = "verifier_attestation:bank";
        let c = claims(cid, "https://bank.test/response");
        let att = attestation(&w, &w.scheme, |_| {});
        let ok = sign_request(&w.bank, Some(&att), &c).unwrap();
        let r = check(&w, &ok, cid).unwrap();
        assert!(
            r.party.is_none(),
            "attested, not listed: shown as unregistered"
        );
        assert_eq!(r.client_id.id, "bank");

        // No attestation; one signed by another key; for another party; expired; from another
        // issuer; the request signed by a key other than cnf; a response_uri off redirect_uris.
        refused_with(
            check(&w, &sign_request(&w.bank, None, &c).unwrap(), cid),
            "header 'jwt'",
        );
        let cases: Vec<(String, &str)> = vec![
            (attestation(&w, &w.bank, |_| {}), "pinned scheme key"),
            (
                attestation(&w, &w.scheme, |a| a["sub"] = json!("landlord")),
                "another party",
            ),
            (
                attestation(&w, &w.scheme, |a| a["exp"] = json!(NOW - 100)),
                "expired",
            ),
            (
                attestation(&w, &w.scheme, |a| a["iss"] = json!("https://other.test")),
                "not issued by the scheme",
            ),
            (attestation(&w, &w.scheme, |a| a["cnf"] = json!({})), "cnf"),
        ];
        for (att, needle) in cases {
            let jwt = sign_request(&w.bank, Some(&att), &c).unwrap();
            refused_with(check(&w, &jwt, cid), needle);
        }
        let jwt = sign_request(&w.landlord, Some(&att), &c).unwrap();
        refused_with(check(&w, &jwt, cid), "signature");
        let off = claims(cid, "https://elsewhere.test/response");
        let jwt = sign_request(&w.bank, Some(&att), &off).unwrap();
        refused_with(check(&w, &jwt, cid), "registered origin");
        // Same origin, another path: still not one of the attestation's redirect_uris.
        let off = claims(cid, "https://bank.test/other");
        let jwt = sign_request(&w.bank, Some(&att), &off).unwrap();
        refused_with(check(&w, &jwt, cid), "redirect_uris");
        // Without a pinned scheme no attestation can be checked.
        let trust = RequestTrust {
            list: Some(&w.list),
            scheme_key: None,
            allow_loopback_http: false,
        };
        refused_with(
            verify_request_object(&ok, Some(cid), &trust, NOW),
            "no scheme is pinned",
        );
    }

    #[test]
    fn a_plain_request_without_state_iat_or_exp_is_accepted_and_bounded() {
        let w = world();
        let mut c = claims("landlord", "https://landlord.test/r");
        let m = c.as_object_mut().unwrap();
        for name in ["state", "iat", "exp"] {
            m.remove(name);
        }
        let jwt = sign_request(&w.landlord, None, &c).unwrap();
        let r = check(&w, &jwt, "landlord").unwrap();
        assert_eq!(r.state, None);
        assert_eq!(r.iat, None);
        // Answerable for the wallet's own bound from when it arrived, no longer.
        assert_eq!(r.exp, NOW + MAX_REQUEST_LIFETIME_SECS);
        // With iat only, the bound counts from iat; a stale iat alone is expired.
        let mut c = claims("landlord", "https://landlord.test/r");
        c.as_object_mut().unwrap().remove("exp");
        let r = check(
            &w,
            &sign_request(&w.landlord, None, &c).unwrap(),
            "landlord",
        )
        .unwrap();
        assert_eq!(r.exp, NOW - 10 + MAX_REQUEST_LIFETIME_SECS);
        c["iat"] = json!(NOW - MAX_REQUEST_LIFETIME_SECS - 100);
        refused_with(
            check(
                &w,
                &sign_request(&w.landlord, None, &c).unwrap(),
                "landlord",
            ),
            "expired",
        );
        // exp only, far away: clamped, not trusted.
        let mut c = claims("landlord", "https://landlord.test/r");
        c.as_object_mut().unwrap().remove("iat");
        c["exp"] = json!(NOW + 86_400);
        let r = check(
            &w,
            &sign_request(&w.landlord, None, &c).unwrap(),
            "landlord",
        )
        .unwrap();
        assert_eq!(r.exp, NOW + MAX_REQUEST_LIFETIME_SECS);
    }

    #[test]
    fn without_holder_binding_state_is_still_required() {
        let w = world();
        let mut c = claims("landlord", "https://landlord.test/r");
        c.as_object_mut().unwrap().remove("state");
        c["dcql_query"] = json!({ "credentials": [ {
            "id": "a", "format": "dc+sd-jwt", "require_cryptographic_holder_binding": false
        } ] });
        refused_with(
            check(
                &w,
                &sign_request(&w.landlord, None, &c).unwrap(),
                "landlord",
            ),
            "no 'state'",
        );
    }

    #[test]
    fn extreme_timestamps_are_refused_or_clamped_never_wrapped() {
        // Test builds check overflow (a debug build panics on it), so passing here means no
        // arithmetic on these values overflowed: a release build, which would wrap instead,
        // computes the same answers.
        let w = world();
        let cases: Vec<(Option<i64>, Option<i64>, Option<&str>)> = vec![
            (Some(NOW - 10), Some(i64::MAX), Some("out of bounds")),
            (Some(i64::MIN), Some(NOW + 10), Some("out of bounds")),
            (Some(i64::MIN), Some(i64::MAX), Some("out of bounds")),
            (Some(i64::MAX), Some(i64::MAX), Some("out of bounds")),
            (Some(i64::MIN), None, Some("expired")),
            (Some(i64::MAX), None, Some("out of bounds")),
            (None, Some(i64::MIN), Some("expired")),
            (None, Some(i64::MAX), None),
            (Some(i64::MAX), Some(i64::MIN), Some("expired")),
        ];
        for (iat, exp, refusal) in cases {
            let mut c = claims("landlord", "https://landlord.test/r");
            let m = c.as_object_mut().unwrap();
            m.remove("iat");
            m.remove("exp");
            if let Some(v) = iat {
                m.insert("iat".into(), json!(v));
            }
            if let Some(v) = exp {
                m.insert("exp".into(), json!(v));
            }
            let r = check(
                &w,
                &sign_request(&w.landlord, None, &c).unwrap(),
                "landlord",
            );
            match refusal {
                Some(needle) => refused_with(r, needle),
                None => assert_eq!(r.unwrap().exp, NOW + MAX_REQUEST_LIFETIME_SECS),
            }
        }
        // RFC 7519 NumericDate may carry a fraction: whole seconds, not a refusal.
        let mut c = claims("landlord", "https://landlord.test/r");
        c["iat"] = json!((NOW - 10) as f64 + 0.5);
        c["exp"] = json!((NOW + 290) as f64 + 0.75);
        let r = check(
            &w,
            &sign_request(&w.landlord, None, &c).unwrap(),
            "landlord",
        )
        .unwrap();
        assert_eq!((r.iat, r.exp), (Some(NOW - 10), NOW + 290));
        let mut c = claims("landlord", "https://landlord.test/r");
        c["iat"] = json!("yesterday");
        refused_with(
            check(
                &w,
                &sign_request(&w.landlord, None, &c).unwrap(),
                "landlord",
            ),
            "not a number",
        );
    }

    #[test]
    fn transaction_data_and_redirect_uri_are_refused() {
        let w = world();
        let mut c = claims("landlord", "https://landlord.test/r");
        c["transaction_data"] = json!(["eyJ0eXBlIjoibW9ydGdhZ2Ui..."]);
        let r = check(
            &w,
            &sign_request(&w.landlord, None, &c).unwrap(),
            "landlord",
        );
        let e = r.unwrap_err();
        assert_eq!(reason_code(&e), "invalid_transaction_data");
        let mut c = claims("landlord", "https://landlord.test/r");
        c["redirect_uri"] = json!("https://landlord.test/elsewhere");
        let e = check(
            &w,
            &sign_request(&w.landlord, None, &c).unwrap(),
            "landlord",
        )
        .unwrap_err();
        assert!(e.to_string().contains("§8.2"), "{e}");
        assert_eq!(reason_code(&e), "invalid_request");
    }

    #[test]
    fn an_attestation_not_valid_yet_is_refused() {
        let w = world();
        let cid = "verifier_attestation:bank";
        let c = claims(cid, "https://bank.test/response");
        let att = attestation(&w, &w.scheme, |a| a["nbf"] = json!(NOW + 3600));
        let jwt = sign_request(&w.bank, Some(&att), &c).unwrap();
        let e = check(&w, &jwt, cid).unwrap_err();
        assert!(e.to_string().contains("not valid yet"), "{e}");
        assert_eq!(reason_code(&e), "not_yet_valid");
        // Within the clock skew it is fine; an extreme exp does not wrap either.
        for edit in [
            |a: &mut Value| a["nbf"] = json!(NOW + 30),
            |a: &mut Value| a["exp"] = json!(i64::MAX),
        ] {
            let att = attestation(&w, &w.scheme, edit);
            assert!(check(&w, &sign_request(&w.bank, Some(&att), &c).unwrap(), cid).is_ok());
        }
        let att = attestation(&w, &w.scheme, |a| a["nbf"] = json!("soon"));
        let jwt = sign_request(&w.bank, Some(&att), &c).unwrap();
        refused_with(check(&w, &jwt, cid), "nbf");
    }

    #[test]
    fn the_purpose_comes_from_a_registration_certificate_bound_to_the_party() {
        use crate::registration::RegistrationCertificate;
        use crate::scheme::RegisteredPurpose;
        let w = world();
        let purpose = RegisteredPurpose {
            id: "rental".into(),
            name: LocalizedName::default(),
            retention_days: Some(30),
            claims: [("urn:t:1".to_string(), vec!["/a".to_string()])].into(),
        };
        let landlord = w.list.requesting_parties[0].clone();
        let cert = |sub: &str, signer: &SigningKey, exp: i64| {
            let mut party = landlord.clone();
            party.client_id = sub.into();
            let c = RegistrationCertificate::for_purpose(SCHEME, &party, &purpose, NOW - 60, exp);
            RegistrationCertificate::verifier_info_entry(&c.sign(signer, None).unwrap())
        };
        let with = |info: Value| {
            let mut c = claims("landlord", "https://landlord.test/r");
            c["verifier_info"] = json!([info]);
            sign_request(&w.landlord, None, &c).unwrap()
        };
        // A plain OpenID4VP request: no kluis_purpose, the certificate says why and how long.
        let r = check(
            &w,
            &with(cert("landlord", &w.scheme, NOW + 3600)),
            "landlord",
        )
        .unwrap();
        assert_eq!(r.purpose.as_ref().unwrap().id, "rental");
        assert_eq!(r.purpose.as_ref().unwrap().retention_days, Some(30));
        assert_eq!(r.registration.unwrap().purpose, purpose);
        // Lifted from another party's request, signed by someone else, expired: refused.
        for (info, needle) in [
            (cert("bank", &w.scheme, NOW + 3600), "another party"),
            (cert("landlord", &w.bank, NOW + 3600), "pinned scheme key"),
            (cert("landlord", &w.scheme, NOW - 3600), "expired"),
            (
                json!({"format": "registration_cert", "data": "not.a.jws"}),
                "registration",
            ),
        ] {
            refused_with(check(&w, &with(info), "landlord"), needle);
        }
        // Formats it does not know are ignored; no certificate: no stated purpose.
        let r = check(
            &w,
            &with(json!({"format": "x-other", "data": {}})),
            "landlord",
        )
        .unwrap();
        assert!(r.purpose.is_none() && r.registration.is_none());
    }

    #[test]
    fn links() {
        let l = parse_request_link(
            "openid4vp://?client_id=woningcorporatie-eemland&request_uri=http%3A%2F%2F127.0.0.1%3A7107%2Frequest%2Fabc",
        )
        .unwrap();
        assert_eq!(l.client_id, "woningcorporatie-eemland");
        assert_eq!(l.request_uri, "http://127.0.0.1:7107/request/abc");
        assert!(parse_request_link(
            "openid4vp://authorize?client_id=a&request_uri=https%3A%2F%2Fa.example%2Fr"
        )
        .is_ok());
        for bad in [
            "openid4vp://?client_id=a",
            "openid4vp://?request_uri=https%3A%2F%2Fa.example",
            "openid4vp://?client_id=a&request=eyJ",
            "mailto:x@y",
            "not a link",
        ] {
            assert!(
                matches!(parse_request_link(bad), Err(Error::InvalidRequest { .. })),
                "{bad}"
            );
        }
    }
}
