//! The requesting party's side of OpenID4VP 1.0: what a bank's or landlord's back end calls.
//!
//! [`new_request`] makes a signed request object (`typ` `oauth-authz-req+jwt`, ES256, with the
//! Verifier Attestation in the header for `verifier_attestation:` client ids) plus the pending
//! state to keep: `state`, `nonce`, the DCQL query and, for `direct_post.jwt`, a fresh ECDH-ES
//! key pair whose public half goes into `client_metadata.jwks`. [`verify_response`] takes the
//! posted form and checks everything: decryption, `state`, each presentation (issuer trusted by
//! the scheme for that type, signature, disclosures, key binding to `cnf` with this request's
//! `nonce` and this party's client id as `aud`, KB freshness), that each answer satisfies its
//! query, that nothing beyond what was asked is disclosed, and that the credential sets are met.

use std::collections::{BTreeMap, BTreeSet};

use josekit::jwe::ECDH_ES;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, ES256};
use kluis_sdjwt::{ClaimPath, PathSegment, SigningKey};
use rand::RngCore;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::dcql::DcqlQuery;
use super::dcql::{answers_at, asked_paths_at, sets_satisfied};
use super::{ResponseMode, StatedPurpose, REQUEST_OBJECT_TYP};
use crate::presentation::{Expectations, DEFAULT_MAX_AGE_SECS, DEFAULT_SKEW_SECS};
use crate::scheme::ParticipantList;
use crate::trust::TrustList;
use crate::Error;

/// Default validity of a request object.
pub const DEFAULT_REQUEST_LIFETIME_SECS: i64 = 300;

/// Claims of every SD-JWT VC that are not the citizen's data (never counted as over-disclosure).
const ENVELOPE: &[&str] = &[
    "iss",
    "vct",
    "iat",
    "exp",
    "nbf",
    "cnf",
    "status",
    "sub",
    "vct#integrity",
    // A credential held on a citizen's behalf (docs/DELEGATION.md §8): the delegation's
    // envelope, accepted only with its mandate (checked before this).
    crate::delegation::verify::ON_BEHALF_OF_CLAIM,
];

/// Who the party is and how it wants its answers.
pub struct VerifierConfig {
    /// Its client identifier with prefix (`woningcorporatie-eemland`,
    /// `verifier_attestation:bank-utrecht`).
    pub client_id: String,
    /// The key that signs its request objects.
    pub signing_key: SigningKey,
    /// A Verifier Attestation JWT (for `verifier_attestation:`), put in the JOSE header `jwt`.
    pub attestation: Option<String>,
    /// The access certificate chain (for `x509_hash:`: base64 DER, leaf first, the scheme's CA
    /// left out), put in the JOSE header `x5c`. Empty: none.
    pub x5c: Vec<String>,
    /// Where wallets post responses.
    pub response_uri: String,
    /// `direct_post` or `direct_post.jwt`.
    pub response_mode: ResponseMode,
    /// Purpose and retention it states (`kluis_purpose`).
    pub purpose: Option<StatedPurpose>,
    /// Request validity in seconds (≤ 600).
    pub lifetime_secs: i64,
}

/// A request handed out and not yet answered: keep it server-side, keyed by `state`.
#[derive(Clone)]
pub struct PendingRequest {
    /// Echoed by the wallet.
    pub state: String,
    /// Expected in every key-binding JWT.
    pub nonce: String,
    /// Expected as key-binding `aud`.
    pub client_id: String,
    /// The query.
    pub dcql: DcqlQuery,
    /// The request object's claims (before signing).
    pub claims: Value,
    /// The signed request object.
    pub request_object: String,
    /// When the request expires.
    pub expires_at: i64,
    /// The DCQL query as given to [`new_request`] (kept for [`PendingRequest::to_stored`]).
    dcql_source: Value,
    decryption_key: Option<Jwk>,
    /// The error code of a decline that arrived ([`PendingRequest::record_decline`]).
    declined: Option<String>,
    /// A Digital Credentials API request: the origins it may be answered from (its answer's
    /// audience is `origin:` + the one it came back to, not the client id).
    dc_api_origins: Option<Vec<String>>,
}

/// A [`PendingRequest`] as bytes, for a back end that keeps pending requests outside its
/// process (several instances sharing one store). Holds the response decryption key: seal it
/// before it leaves the process. Zeroized on drop.
pub struct StoredPendingRequest(zeroize::Zeroizing<Vec<u8>>);

impl StoredPendingRequest {
    /// The bytes to keep.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[derive(Serialize, serde::Deserialize)]
struct StoredFields {
    state: String,
    nonce: String,
    client_id: String,
    dcql: Value,
    claims: Value,
    request_object: String,
    expires_at: i64,
    decryption_key: Option<Map<String, Value>>,
    #[serde(default)]
    declined: Option<String>,
    #[serde(default)]
    dc_api_origins: Option<Vec<String>>,
}

impl std::fmt::Debug for PendingRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingRequest")
            .field("state", &self.state)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn random_token() -> String {
    use base64::Engine;
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn internal(what: &str) -> Error {
    Error::Internal {
        reason: format!("verifier: {what}"),
    }
}

/// Signs request object `claims` (ES256, `typ` `oauth-authz-req+jwt`, the attestation in `jwt`).
pub fn sign_request(
    key: &SigningKey,
    attestation: Option<&str>,
    claims: &Value,
) -> Result<String, Error> {
    sign_request_with(key, attestation, &[], claims)
}

/// As [`sign_request`], with the access certificate chain `x5c` (base64 DER, leaf first) in the
/// header when not empty (`x509_hash:` parties, OpenID4VP 1.0 §5.9.3).
pub fn sign_request_with(
    key: &SigningKey,
    attestation: Option<&str>,
    x5c: &[String],
    claims: &Value,
) -> Result<String, Error> {
    let signer = ES256
        .signer_from_der(&key.to_pkcs8_der()[..])
        .map_err(|_| internal("signing key"))?;
    let mut header = JwsHeader::new();
    header.set_token_type(REQUEST_OBJECT_TYP);
    if let Some(a) = attestation {
        header
            .set_claim("jwt", Some(Value::String(a.to_string())))
            .map_err(|_| internal("attestation header"))?;
    }
    if !x5c.is_empty() {
        header
            .set_claim("x5c", Some(json!(x5c)))
            .map_err(|_| internal("x5c header"))?;
    }
    let body = serde_json::to_vec(claims).map_err(|_| internal("claims"))?;
    josekit::jws::serialize_compact(&body, &header, &signer).map_err(|_| internal("signing"))
}

/// Makes a new request: fresh `state` and `nonce`, the DCQL query, and for `direct_post.jwt` a
/// fresh response encryption key. `dcql` is validated first.
pub fn new_request(
    config: &VerifierConfig,
    dcql: &Value,
    now: i64,
) -> Result<PendingRequest, Error> {
    make_request(config, dcql, None, now)
}

/// As [`new_request`], asking the citizen to confirm transactions too (OpenID4VP 1.0 §5.1):
/// `transaction_data` as [`super::transaction_data::encode`] makes it, each entry naming the
/// credential queries of `dcql` that may confirm it. Checked as a wallet will read it; the
/// answer is verified to bind every entry ([`verify_response_with`]).
pub fn new_request_confirming(
    config: &VerifierConfig,
    dcql: &Value,
    transaction_data: Value,
    now: i64,
) -> Result<PendingRequest, Error> {
    make_request(config, dcql, Some(transaction_data), now)
}

fn make_request(
    config: &VerifierConfig,
    dcql: &Value,
    transaction_data: Option<Value>,
    now: i64,
) -> Result<PendingRequest, Error> {
    if config.response_mode.is_dc_api() {
        return Err(Error::invalid_input(
            "a Digital Credentials API request is made with openid4vp::dc_api::new_request",
        ));
    }
    let parsed = DcqlQuery::parse(dcql).map_err(|e| Error::invalid_input(e.to_string()))?;
    super::transaction_data::parse(transaction_data.as_ref(), &parsed)
        .map_err(|e| Error::invalid_input(e.to_string()))?;
    let state = random_token();
    let nonce = random_token();
    let exp = now
        + config
            .lifetime_secs
            .clamp(1, super::MAX_REQUEST_LIFETIME_SECS);
    let mut claims = json!({
        "iss": config.client_id,
        "aud": "https://self-issued.me/v2",
        "client_id": config.client_id,
        "response_type": "vp_token",
        "response_mode": config.response_mode.as_str(),
        "response_uri": config.response_uri,
        "nonce": nonce,
        "state": state,
        "dcql_query": dcql,
        "iat": now,
        "exp": exp,
    });
    if let Some(p) = &config.purpose {
        claims["kluis_purpose"] = json!({ "id": p.id, "retention_days": p.retention_days });
    }
    if let Some(t) = transaction_data {
        claims["transaction_data"] = t;
    }
    let mut decryption_key = None;
    if config.response_mode == ResponseMode::DirectPostJwt {
        let (metadata, private) = response_encryption(&state)?;
        claims["client_metadata"] = metadata;
        decryption_key = Some(private);
    }
    let request_object = sign_request_with(
        &config.signing_key,
        config.attestation.as_deref(),
        &config.x5c,
        &claims,
    )?;
    Ok(PendingRequest {
        state,
        nonce,
        client_id: config.client_id.clone(),
        dcql: parsed,
        claims,
        request_object,
        expires_at: exp,
        dcql_source: dcql.clone(),
        decryption_key,
        declined: None,
        dc_api_origins: None,
    })
}

/// A fresh ECDH-ES P-256 response key: the `client_metadata` naming its public half (`kid`
/// from `seed`) and the private half to keep.
pub(crate) fn response_encryption(seed: &str) -> Result<(Value, Jwk), Error> {
    let pair = ECDH_ES
        .generate_ec_key_pair(EcCurve::P256)
        .map_err(|_| internal("response key"))?;
    let mut public = pair.to_jwk_public_key();
    let kid = format!("resp-{}", seed.get(..8).unwrap_or(seed));
    public.set_key_use("enc");
    public.set_algorithm("ECDH-ES");
    public.set_key_id(&kid);
    let mut private = pair.to_jwk_private_key();
    private.set_key_id(&kid);
    let metadata = json!({
        "jwks": { "keys": [ Value::Object(public.as_ref().clone()) ] },
        "encrypted_response_enc_values_supported": ["A128GCM"],
        "vp_formats_supported": { "dc+sd-jwt": { "sd-jwt_alg_values": ["ES256"], "kb-jwt_alg_values": ["ES256"] } },
    });
    Ok((metadata, private))
}

impl PendingRequest {
    /// A Digital Credentials API request's pending state (openid4vp::dc_api::new_request).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn for_dc_api(
        key: String,
        nonce: String,
        client_id: String,
        dcql: DcqlQuery,
        dcql_source: Value,
        claims: Value,
        request_object: String,
        expires_at: i64,
        decryption_key: Option<Jwk>,
        origins: Vec<String>,
    ) -> PendingRequest {
        PendingRequest {
            state: key,
            nonce,
            client_id,
            dcql,
            claims,
            request_object,
            expires_at,
            dcql_source,
            decryption_key,
            declined: None,
            dc_api_origins: Some(origins),
        }
    }

    /// For a Digital Credentials API request: the web origins it may be answered from.
    pub fn dc_api_origins(&self) -> Option<&[String]> {
        self.dc_api_origins.as_deref()
    }

    /// The request as bytes (every field, the decryption key as a private JWK): see
    /// [`StoredPendingRequest`].
    pub fn to_stored(&self) -> Result<StoredPendingRequest, Error> {
        let fields = StoredFields {
            state: self.state.clone(),
            nonce: self.nonce.clone(),
            client_id: self.client_id.clone(),
            dcql: self.dcql_source.clone(),
            claims: self.claims.clone(),
            request_object: self.request_object.clone(),
            expires_at: self.expires_at,
            decryption_key: self.decryption_key.as_ref().map(|k| k.as_ref().clone()),
            declined: self.declined.clone(),
            dc_api_origins: self.dc_api_origins.clone(),
        };
        serde_json::to_vec(&fields)
            .map(|b| StoredPendingRequest(zeroize::Zeroizing::new(b)))
            .map_err(|_| internal("storing a pending request"))
    }

    /// Reads back what [`PendingRequest::to_stored`] wrote.
    pub fn from_stored(bytes: &[u8]) -> Result<PendingRequest, Error> {
        let bad = || internal("a stored pending request does not read back");
        let f: StoredFields = serde_json::from_slice(bytes).map_err(|_| bad())?;
        let dcql = DcqlQuery::parse(&f.dcql).map_err(|_| bad())?;
        let decryption_key = match f.decryption_key {
            Some(m) => Some(Jwk::from_map(m).map_err(|_| bad())?),
            None => None,
        };
        Ok(PendingRequest {
            state: f.state,
            nonce: f.nonce,
            client_id: f.client_id,
            dcql,
            claims: f.claims,
            request_object: f.request_object,
            expires_at: f.expires_at,
            dcql_source: f.dcql,
            decryption_key,
            declined: f.declined,
            dc_api_origins: f.dc_api_origins,
        })
    }

    /// Notes that a decline arrived ([`ResponseOutcome::Declined`]). A decline proves nothing
    /// about who sent it (OpenID4VP error responses carry no holder proof, and whoever fetched
    /// the request object knows its `state` and encryption key), so it does not end the request:
    /// keep this request, answerable, until it expires; a verified answer supersedes the
    /// decline (docs/PRESENTING.md, "Declines").
    pub fn record_decline(&mut self, error: &str) {
        if let ResponseOutcome::Declined { error } = declined(error) {
            self.declined = Some(error);
        }
    }

    /// The error code of a decline that arrived for this request, if any.
    pub fn decline_arrived(&self) -> Option<&str> {
        self.declined.as_deref()
    }

    /// Whether an answer can still be accepted at `now` (the request's `exp` with the clock
    /// skew [`verify_response`] allows). A decline that arrived is the citizen's only once this
    /// is false and no verified answer came.
    pub fn is_open(&self, now: i64) -> bool {
        now <= self.expires_at.saturating_add(DEFAULT_SKEW_SECS)
    }

    /// The `kid` of this request's response encryption key (`direct_post.jwt`), which the
    /// wallet echoes in the JWE header: how a back end finds the request an encrypted response
    /// answers.
    pub fn encryption_kid(&self) -> Option<&str> {
        self.decryption_key.as_ref().and_then(|k| k.key_id())
    }

    /// Replaces the request object by one signed over `claims` (tests: a tampered request);
    /// `state`, `nonce` and the decryption key are kept from the claims given, the `x5c` chain
    /// from the request object it replaces.
    pub fn resign(
        &mut self,
        key: &SigningKey,
        attestation: Option<&str>,
        claims: Value,
    ) -> Result<(), Error> {
        if let Some(n) = claims.get("nonce").and_then(Value::as_str) {
            self.nonce = n.to_string();
        }
        if let Some(e) = claims.get("exp").and_then(Value::as_i64) {
            self.expires_at = e;
        }
        let x5c = crate::jws::header(&self.request_object)
            .as_ref()
            .and_then(|h| crate::x509::x5c_from_header(h).ok())
            .unwrap_or_default();
        self.request_object = sign_request_with(key, attestation, &x5c, &claims)?;
        self.claims = claims;
        Ok(())
    }
}

/// The `openid4vp://` link a wallet scans: `client_id` and `request_uri`.
pub fn request_link(client_id: &str, request_uri: &str) -> String {
    format!(
        "openid4vp://?client_id={}&request_uri={}",
        percent_encode(client_id),
        percent_encode(request_uri)
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes an `application/x-www-form-urlencoded` body.
pub fn parse_form(body: &str) -> Result<Vec<(String, String)>, Error> {
    let bad = || Error::InvalidPresentation {
        reason: "the response is not a valid form".into(),
    };
    let dec = |s: &str| -> Result<String, Error> {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'%' => {
                    let h = s.get(i + 1..i + 3).ok_or_else(bad)?;
                    out.push(u8::from_str_radix(h, 16).map_err(|_| bad())?);
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| bad())
    };
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((dec(k)?, dec(v)?))
        })
        .collect()
}

/// Whom the party trusts: issuer keys, and (from the scheme's list) the types each may issue.
#[derive(Debug, Clone, Default)]
pub struct VerifierTrust {
    /// Issuer keys by `iss`.
    pub issuers: TrustList,
    /// Types each issuer may issue; empty = any type (keys given by hand).
    pub types: BTreeMap<String, Vec<String>>,
}

impl VerifierTrust {
    /// Trust exactly the holders the scheme's participant list names, for their listed types.
    pub fn from_participant_list(list: &ParticipantList) -> Self {
        let mut t = VerifierTrust::default();
        for h in &list.holders {
            for k in &h.keys {
                if let Ok(jwk) = kluis_sdjwt::PublicJwk::from_value(k) {
                    t.issuers.add(&h.credential_issuer, jwk);
                }
            }
            t.types
                .insert(h.credential_issuer.clone(), h.credential_types.clone());
        }
        t
    }
}

/// One verified credential in a response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifiedCredential {
    /// Issuer.
    pub issuer: String,
    /// Type.
    pub vct: String,
    /// The disclosed claims (without the SD-JWT VC envelope).
    pub claims: Value,
    /// When a helper presented under a mandate (docs/DELEGATION.md): the mandate id and the
    /// helper's key thumbprint. Absent for the citizen's own presentations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf: Option<OnBehalfView>,
    /// RFC 7638 thumbprint of the key that signed the key-binding JWT (the holder key, or the
    /// helper's under a mandate): what a later deletion request from the same wallet proves
    /// possession of. Not serialised: it is not the citizen's data and the party's views need
    /// not show it.
    #[serde(skip)]
    pub presenter_thumbprint: Option<String>,
}

/// A helper acting for the citizen, as the party sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnBehalfView {
    /// The mandate id.
    pub mandate_id: String,
    /// RFC 7638 thumbprint of the helper's key.
    pub helper_thumbprint: String,
}

/// What a response said.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ResponseOutcome {
    /// Every check passed: per query id, the verified credentials.
    Verified {
        /// Per DCQL query id.
        credentials: BTreeMap<String, Vec<VerifiedCredential>>,
    },
    /// A decline arrived (`error`, e.g. `access_denied`). Not authenticated: anyone who fetched
    /// the request could have sent it. Keep the request open ([`PendingRequest::record_decline`]):
    /// the citizen's verified answer still counts until the request expires.
    Declined {
        /// The OAuth error code.
        error: String,
    },
}

fn reject(reason: impl Into<String>) -> Error {
    Error::InvalidPresentation {
        reason: reason.into(),
    }
}

fn leaf_paths(v: &Value, prefix: &mut Vec<PathSegment>, out: &mut Vec<ClaimPath>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if prefix.is_empty() && ENVELOPE.contains(&k.as_str()) {
                    continue;
                }
                prefix.push(PathSegment::from_key(k));
                leaf_paths(child, prefix, out);
                prefix.pop();
            }
        }
        // Each array element on its own: the query may ask for some elements only.
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                prefix.push(PathSegment::Index(i));
                leaf_paths(child, prefix, out);
                prefix.pop();
            }
        }
        _ if !prefix.is_empty() => out.push(ClaimPath::from_segments(prefix.clone())),
        _ => {}
    }
}

fn without_envelope(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !ENVELOPE.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<String, Value>>(),
        ),
        other => other.clone(),
    }
}

/// Judges what one presentation disclosed against what query `q` asked, the way DCQL selects
/// claims (OpenID4VP 1.0 §7): a key its member, `null` every element, an index the element at
/// that position. A presented array holds only the disclosed elements, so indexes are judged
/// by each element's position in the issuer-signed array (`positions`), not where it landed.
/// `Err` when the claims do not answer the query; `Ok(Some(path))` names a claim disclosed that
/// was not asked. A query without `claims` asks for the whole credential: nothing is extra.
pub(crate) fn over_disclosure(
    q: &super::dcql::CredentialQuery,
    vct: &str,
    claims: &Value,
    positions: &kluis_sdjwt::ArrayPositions,
) -> Result<Option<ClaimPath>, Error> {
    if answers_at(q, vct, claims, Some(positions)).is_none() {
        return Err(reject(format!(
            "query '{}': the presentation does not satisfy the query",
            super::client_id::clean(&q.id)
        )));
    }
    if q.claims.is_empty() {
        return Ok(None);
    }
    let asked = asked_paths_at(q, vct, claims, Some(positions));
    let mut leaves = Vec::new();
    leaf_paths(claims, &mut Vec::new(), &mut leaves);
    Ok(leaves
        .into_iter()
        .find(|l| !asked.iter().any(|a| a.is_prefix_of(l))))
}

/// A decline as the party keeps it: the error code only, printable ASCII, bounded.
fn declined(error: &str) -> ResponseOutcome {
    ResponseOutcome::Declined {
        error: error
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(64)
            .collect(),
    }
}

/// Verifies a posted response (`form`, decoded) against `pending`. A decline is not an error.
/// A helper's presentation is rejected here for want of its mandate's status list: use
/// [`verify_response_with`] inside [`crate::delegation::with_mandate_status`].
pub fn verify_response(
    form: &[(String, String)],
    pending: &PendingRequest,
    trust: &VerifierTrust,
    now: i64,
) -> Result<ResponseOutcome, Error> {
    verify_response_with(
        form,
        pending,
        trust,
        now,
        &crate::delegation::DelegationContext::default(),
    )
}

/// As [`verify_response`], with the mandates' status lists (delegated presentations).
pub fn verify_response_with(
    form: &[(String, String)],
    pending: &PendingRequest,
    trust: &VerifierTrust,
    now: i64,
    ctx: &crate::delegation::DelegationContext,
) -> Result<ResponseOutcome, Error> {
    if pending.dc_api_origins.is_some() {
        return Err(reject(
            "this request was made for the Digital Credentials API: verify its answer with openid4vp::dc_api::verify_response",
        ));
    }
    verify_answer(form, pending, trust, now, ctx, &pending.client_id)
}

/// The checks of [`verify_response_with`], the key-binding `aud` given: the client id, or over
/// the Digital Credentials API `origin:` + the origin.
pub(crate) fn verify_answer(
    form: &[(String, String)],
    pending: &PendingRequest,
    trust: &VerifierTrust,
    now: i64,
    ctx: &crate::delegation::DelegationContext,
    audience: &str,
) -> Result<ResponseOutcome, Error> {
    // A mandate limited to purposes is checked against the purpose this request stated.
    let stated = pending
        .claims
        .get("kluis_purpose")
        .and_then(|p| p.get("id"))
        .and_then(Value::as_str);
    let ctx = &ctx.with_purpose_if_unset(stated);
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !pending.is_open(now) {
        return Err(reject("the request has expired"));
    }
    if let Some(error) = field("error") {
        // A wallet encrypts its error response like an answer (§8.3.1): a plain one to an
        // encrypted request did not come from a conforming wallet.
        if pending.decryption_key.is_some() {
            return Err(reject(
                "a decline to a direct_post.jwt request must be encrypted (OpenID4VP 1.0 §8.3.1)",
            ));
        }
        // No `state` over the Digital Credentials API (OpenID4VP 1.0 A.2).
        let sent = pending
            .dc_api_origins
            .is_none()
            .then_some(pending.state.as_str());
        if field("state") != sent {
            return Err(reject("the state does not match the request"));
        }
        return Ok(declined(error));
    }
    let (vp_token, state): (Value, String) = match (&pending.decryption_key, field("response")) {
        (Some(key), Some(jwe)) => {
            let decrypter = ECDH_ES
                .decrypter_from_jwk(key)
                .map_err(|_| internal("decryption key"))?;
            let (payload, header) =
                josekit::jwe::deserialize_compact(jwe, &decrypter).map_err(|_| {
                    reject("the encrypted response does not decrypt with this request's key")
                })?;
            if header.algorithm() != Some("ECDH-ES") {
                return Err(reject("the encrypted response does not use ECDH-ES"));
            }
            let v: Value = serde_json::from_slice(&payload)
                .map_err(|_| reject("the decrypted response is not JSON"))?;
            // An error response under direct_post.jwt comes encrypted like an answer (§8.3.1).
            if let Some(error) = v.get("error").and_then(Value::as_str) {
                if v.get("state").and_then(Value::as_str)
                    != pending.claims.get("state").and_then(Value::as_str)
                {
                    return Err(reject("the state does not match the request"));
                }
                return Ok(declined(error));
            }
            let state = v
                .get("state")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            (v.get("vp_token").cloned().unwrap_or(Value::Null), state)
        }
        (Some(_), None) => {
            return Err(reject(
                "the response must be encrypted (direct_post.jwt): no 'response' field",
            ))
        }
        (None, _) => {
            let token = field("vp_token").ok_or_else(|| reject("the response has no vp_token"))?;
            let v: Value =
                serde_json::from_str(token).map_err(|_| reject("the vp_token is not JSON"))?;
            (v, field("state").unwrap_or_default().to_string())
        }
    };
    // `state` is optional in a request (OpenID4VP 1.0 §5.2): it must come back only if it was
    // sent, and then exactly.
    let sent_state = pending.claims.get("state").and_then(Value::as_str);
    if sent_state.is_some_and(|s| s != state) || (sent_state.is_none() && !state.is_empty()) {
        return Err(reject("the state does not match the request"));
    }
    let Value::Object(token) = vp_token else {
        return Err(reject("the vp_token is not a JSON object"));
    };
    let expect = Expectations {
        nonce: pending.nonce.clone(),
        audience: audience.to_string(),
        now,
        max_age_secs: DEFAULT_MAX_AGE_SECS,
        skew_secs: DEFAULT_SKEW_SECS,
    };
    let mut out: BTreeMap<String, Vec<VerifiedCredential>> = BTreeMap::new();
    let mut answered = BTreeSet::new();
    let mut to_check: Vec<(String, Option<Value>)> = Vec::new();
    // Each presentation with the key that signed its KB-JWT, for the association check.
    let mut signed: Vec<(&str, kluis_sdjwt::PublicJwk)> = Vec::new();
    // Each presentation with its query, for the transaction data binding.
    let mut by_query: Vec<(&str, &str)> = Vec::new();
    for (qid, presentations) in &token {
        let q = pending
            .dcql
            .credentials
            .iter()
            .find(|q| q.id == *qid)
            .ok_or_else(|| {
                reject(format!(
                    "the vp_token answers a query that was not asked ('{}')",
                    super::client_id::clean(qid)
                ))
            })?;
        let items = presentations
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| {
                reject(format!(
                    "query '{qid}': expected a non-empty array of presentations"
                ))
            })?;
        if items.len() > 1 && !q.multiple {
            return Err(reject(format!(
                "query '{qid}' allows one credential, got {}",
                items.len()
            )));
        }
        for item in items {
            let p = item
                .as_str()
                .ok_or_else(|| reject(format!("query '{qid}': a presentation is not a string")))?;
            let (v, positions) =
                crate::presentation::verify_before_status(p, &trust.issuers, &expect, ctx)?;
            if let Some(types) = trust.types.get(&v.issuer) {
                if !types.contains(&v.vct) {
                    return Err(reject(format!(
                        "the scheme does not list type {} for issuer {}",
                        v.vct, v.issuer
                    )));
                }
            } else if !trust.types.is_empty() {
                return Err(Error::UntrustedIssuer {
                    issuer: v.issuer.clone(),
                });
            }
            if !q.vct_values.is_empty() && !q.vct_values.contains(&v.vct) {
                return Err(reject(format!(
                    "query '{qid}': type {} was not asked",
                    v.vct
                )));
            }
            let claims = without_envelope(&v.claims);
            if let Some(extra) = over_disclosure(q, &v.vct, &claims, &positions)? {
                return Err(reject(format!(
                    "query '{qid}': the presentation discloses {extra}, which was not asked"
                )));
            }
            let signer = match &v.on_behalf {
                Some(o) => Some(o.helper_jwk.clone()),
                None => v.holder_jwk.clone(),
            };
            signed.push((
                p,
                signer.ok_or_else(|| reject("a presentation is not key-bound"))?,
            ));
            by_query.push((qid.as_str(), p));
            to_check.push((v.issuer.clone(), v.status.clone()));
            out.entry(qid.clone())
                .or_default()
                .push(VerifiedCredential {
                    issuer: v.issuer.clone(),
                    vct: v.vct.clone(),
                    claims,
                    on_behalf: v.on_behalf.as_ref().map(|o| OnBehalfView {
                        mandate_id: o.mandate_id.clone(),
                        helper_thumbprint: o.helper_thumbprint.clone(),
                    }),
                    presenter_thumbprint: match &v.on_behalf {
                        Some(o) => Some(o.helper_thumbprint.clone()),
                        None => v.holder_jwk.as_ref().map(|k| k.thumbprint()),
                    },
                });
        }
        answered.insert(qid.clone());
    }
    if !sets_satisfied(&pending.dcql, &answered) {
        return Err(reject("the response does not answer every required query"));
    }
    // One answer, one wallet: every KB-JWT names the keys of all its presentations.
    let answer: Vec<(&str, &kluis_sdjwt::PublicJwk)> =
        signed.iter().map(|(p, k)| (*p, k)).collect();
    super::association::check(&answer)?;
    // What the citizen confirmed: every entry of the request bound by one presentation, nothing
    // else bound (a changed amount, another request's offer). The entries are read from the
    // request as signed, so the hashes are over exactly what was sent.
    let entries =
        super::transaction_data::parse(pending.claims.get("transaction_data"), &pending.dcql)
            .map_err(|e| reject(e.to_string()))?;
    super::transaction_data::check(&entries, &by_query).map_err(|e| reject(e.to_string()))?;
    // Status last, for every credential (so one round of fetches finds every list wanted).
    let mut first_error = None;
    for (issuer, status) in to_check {
        let (check, wanted) = ctx.credential_status.check(
            &issuer,
            status.as_ref(),
            &trust.issuers,
            now,
            crate::status::ListAge::Online,
        )?;
        if let Some(uri) = wanted {
            ctx.want_list(&uri);
        }
        if let crate::status::StatusCheck::NotChecked { reason } = check {
            first_error.get_or_insert(reject(format!(
                "the credential's status could not be checked: {reason}"
            )));
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(ResponseOutcome::Verified { credentials: out })
}

#[cfg(test)]
#[path = "verifier_tests.rs"]
mod tests;
