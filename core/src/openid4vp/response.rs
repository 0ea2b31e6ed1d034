//! The authorization response: the `vp_token` (query id → presentations), the `direct_post`
//! form, the `direct_post.jwt` JWE (ECDH-ES, josekit) and the decline. Building does no HTTP, so
//! the in-person channel sends the same bytes another way.

use std::collections::BTreeMap;

use josekit::jwe::{JweHeader, ECDH_ES};
use josekit::jwk::Jwk;
use serde::Serialize;
use serde_json::{json, Value};

use super::request::{ResponseEncryption, ResponseMode, VerifiedRequest};
use crate::http::{checked_url, Http};
use crate::Error;

/// Form fields of a response, in order.
pub type Form = Vec<(String, String)>;

/// The `vp_token` JSON object: each answered query id → its presentations.
pub fn vp_token(presentations: &BTreeMap<String, Vec<String>>) -> Value {
    Value::Object(
        presentations
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect(),
    )
}

/// Encrypts `{"vp_token": …, "state": …}` to the party's key as a compact JWE (`alg` ECDH-ES,
/// `enc` as the request chose, `kid` echoed).
pub fn encrypt_response(
    vp_token: &Value,
    state: &str,
    enc: &ResponseEncryption,
) -> Result<String, Error> {
    let internal = |what: &str| Error::Internal {
        reason: format!("encrypting the response ({what})"),
    };
    let Value::Object(map) = enc.jwk.clone() else {
        return Err(Error::InvalidRequest {
            reason: "the response encryption key is not a JWK object".into(),
        });
    };
    let jwk = Jwk::from_map(map).map_err(|_| Error::InvalidRequest {
        reason: "the response encryption key is not a valid JWK".into(),
    })?;
    let encrypter = ECDH_ES
        .encrypter_from_jwk(&jwk)
        .map_err(|_| Error::InvalidRequest {
            reason: "the response encryption key is not usable for ECDH-ES".into(),
        })?;
    let mut header = JweHeader::new();
    header.set_content_encryption(&enc.enc);
    if let Some(kid) = &enc.kid {
        header.set_key_id(kid);
    }
    let body = serde_json::to_vec(&json!({ "vp_token": vp_token, "state": state }))
        .map_err(|_| internal("payload"))?;
    josekit::jwe::serialize_compact(&body, &header, &encrypter).map_err(|_| internal("JWE"))
}

/// The response form for `request`: `vp_token` + `state` (`direct_post`) or `response`, a JWE
/// (`direct_post.jwt`).
pub fn response_form(request: &VerifiedRequest, vp_token: &Value) -> Result<Form, Error> {
    match (request.response_mode, &request.encryption) {
        (ResponseMode::DirectPost, _) => Ok(vec![
            ("vp_token".into(), vp_token.to_string()),
            ("state".into(), request.state.clone()),
        ]),
        (ResponseMode::DirectPostJwt, Some(enc)) => Ok(vec![(
            "response".into(),
            encrypt_response(vp_token, &request.state, enc)?,
        )]),
        (ResponseMode::DirectPostJwt, None) => Err(Error::InvalidRequest {
            reason: "direct_post.jwt without an encryption key".into(),
        }),
    }
}

/// The decline: `error=access_denied` with the request's `state`.
pub fn decline_form(request: &VerifiedRequest) -> Form {
    vec![
        ("error".into(), "access_denied".into()),
        (
            "error_description".into(),
            "the citizen declined the request".into(),
        ),
        ("state".into(), request.state.clone()),
    ]
}

/// What the party answered to a posted response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseAck {
    /// HTTP status.
    pub status: u16,
    /// A `redirect_uri` the party gave, if any (the CLI ignores it).
    pub redirect_uri: Option<String>,
}

/// POSTs `form` to the request's `response_uri` (already checked against the registered
/// origins). A non-2xx answer is an error with the party's OAuth error text.
pub(crate) async fn post_response(
    http: &Http,
    response_uri: &str,
    form: &Form,
) -> Result<ResponseAck, Error> {
    let url = checked_url(response_uri)?;
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let reply = http.post_form(&url, &pairs).await?;
    if !reply.status.is_success() {
        return Err(Error::InvalidPresentation {
            reason: format!(
                "the requesting party rejected the response: {}",
                reply.oauth_error()
            ),
        });
    }
    let redirect_uri = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|v| {
            v.get("redirect_uri")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    Ok(ResponseAck {
        status: reply.status.as_u16(),
        redirect_uri,
    })
}
