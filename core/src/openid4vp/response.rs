//! The authorization response: the `vp_token` (query id → presentations), the `direct_post`
//! form, the `direct_post.jwt` JWE (ECDH-ES, josekit) and the decline. Building does no HTTP, so
//! the in-person channel sends the same bytes another way.

use std::collections::BTreeMap;

use josekit::jwe::{JweHeader, ECDH_ES};
use josekit::jwk::Jwk;
use serde::Serialize;
use serde_json::{json, Value};

use super::request::{ResponseEncryption, ResponseMode, VerifiedRequest};
use crate::audit::{DeclineReason, Delivery};
use crate::http::{checked_url, Http, SendFailure};
use crate::{Error, NetworkFailure, RequestRefusal};

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
/// `enc` as the request chose, `kid` echoed). `state` only when the request had one.
pub fn encrypt_response(
    vp_token: &Value,
    state: Option<&str>,
    enc: &ResponseEncryption,
) -> Result<String, Error> {
    let mut body = serde_json::Map::new();
    body.insert("vp_token".into(), vp_token.clone());
    if let Some(state) = state {
        body.insert("state".into(), Value::String(state.to_string()));
    }
    encrypt_payload(&Value::Object(body), enc)
}

/// Encrypts any response parameters (an answer or an error, OpenID4VP 1.0 §8.3.1) to the
/// party's key as a compact JWE.
pub fn encrypt_payload(payload: &Value, enc: &ResponseEncryption) -> Result<String, Error> {
    let internal = |what: &str| Error::Internal {
        reason: format!("encrypting the response ({what})"),
    };
    let Value::Object(map) = enc.jwk.clone() else {
        return Err(Error::InvalidRequest {
            code: RequestRefusal::InvalidRequest,
            reason: "the response encryption key is not a JWK object".into(),
        });
    };
    let jwk = Jwk::from_map(map).map_err(|_| Error::InvalidRequest {
        code: RequestRefusal::InvalidRequest,
        reason: "the response encryption key is not a valid JWK".into(),
    })?;
    let encrypter = ECDH_ES
        .encrypter_from_jwk(&jwk)
        .map_err(|_| Error::InvalidRequest {
            code: RequestRefusal::InvalidRequest,
            reason: "the response encryption key is not usable for ECDH-ES".into(),
        })?;
    let mut header = JweHeader::new();
    header.set_content_encryption(&enc.enc);
    if let Some(kid) = &enc.kid {
        header.set_key_id(kid);
    }
    let body = serde_json::to_vec(payload).map_err(|_| internal("payload"))?;
    josekit::jwe::serialize_compact(&body, &header, &encrypter).map_err(|_| internal("JWE"))
}

/// The response form for `request`: `vp_token` + `state` (`direct_post`) or `response`, a JWE
/// (`direct_post.jwt`).
pub fn response_form(request: &VerifiedRequest, vp_token: &Value) -> Result<Form, Error> {
    let mut params = vec![("vp_token".to_string(), vp_token.clone())];
    if let Some(state) = &request.state {
        params.push(("state".into(), Value::String(state.clone())));
    }
    form_for(request, params)
}

/// The error response `error=access_denied` (with the request's `state`), encrypted to the
/// party's key under `direct_post.jwt` like an answer would be (§8.3.1); its description says
/// why (OpenID4VP 1.0 §8.5).
pub fn decline_form(request: &VerifiedRequest, why: DeclineReason) -> Result<Form, Error> {
    let description = match why {
        DeclineReason::Citizen => "the citizen declined the request",
        DeclineReason::NothingToAnswer => "the wallet does not hold the requested credentials",
    };
    let mut params = vec![
        ("error".to_string(), Value::String("access_denied".into())),
        (
            "error_description".to_string(),
            Value::String(description.into()),
        ),
    ];
    if let Some(state) = &request.state {
        params.push(("state".into(), Value::String(state.clone())));
    }
    form_for(request, params)
}

/// Form fields as the response mode wants them: each parameter as a field (`direct_post`), or
/// all of them in one JWE in `response` (`direct_post.jwt`).
fn form_for(request: &VerifiedRequest, params: Vec<(String, Value)>) -> Result<Form, Error> {
    match (request.response_mode, &request.encryption) {
        (ResponseMode::DirectPost | ResponseMode::DcApi, _) => Ok(params
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => (k, s),
                other => (k, other.to_string()),
            })
            .collect()),
        (ResponseMode::DirectPostJwt | ResponseMode::DcApiJwt, Some(enc)) => {
            let payload = Value::Object(params.into_iter().collect());
            Ok(vec![("response".into(), encrypt_payload(&payload, enc)?)])
        }
        (mode @ (ResponseMode::DirectPostJwt | ResponseMode::DcApiJwt), None) => {
            Err(Error::InvalidRequest {
                code: RequestRefusal::InvalidRequest,
                reason: format!("{} without an encryption key", mode.as_str()),
            })
        }
    }
}

/// A response form as the `data` object a Digital Credentials API answer carries back to the
/// page (A.4): the same parameters, `vp_token` as the JSON object it is.
pub fn dc_api_data(form: &Form) -> Value {
    Value::Object(
        form.iter()
            .map(|(k, v)| {
                let value = match k.as_str() {
                    "vp_token" => serde_json::from_str(v).unwrap_or_else(|_| json!(v)),
                    _ => json!(v),
                };
                (k.clone(), value)
            })
            .collect(),
    )
}

/// What the party answered to a posted response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResponseAck {
    /// HTTP status.
    pub status: u16,
    /// A `redirect_uri` the party gave, if any (the CLI ignores it).
    pub redirect_uri: Option<String>,
}

/// How far a posted response got. Anything but [`Posted::Received`] after the body may have left
/// the phone is still a disclosure: the party may hold the data, so it is logged and the nonce
/// counts as answered, and the response is never sent again by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// The party acknowledged it (2xx).
    Received(ResponseAck),
    /// The party read it and refused it (4xx) with this OAuth error text.
    Rejected {
        /// HTTP status.
        status: u16,
        /// The party's `error` / `error_description`, shortened.
        reason: String,
    },
    /// It may have arrived: a 5xx, a timeout or a connection that broke after sending.
    Uncertain {
        /// What happened, without personal data.
        reason: String,
    },
}

impl Posted {
    /// What the audit log records of it.
    pub fn delivery(&self) -> Delivery {
        match self {
            Posted::Received(_) => Delivery::Received,
            Posted::Rejected { .. } => Delivery::Rejected,
            Posted::Uncertain { .. } => Delivery::Uncertain,
        }
    }

    /// The party's acknowledgement of an answer, or the error that says the answer left the
    /// phone all the same (logged, never sent again).
    pub fn into_ack(self) -> Result<ResponseAck, Error> {
        match self {
            Posted::Received(ack) => Ok(ack),
            Posted::Rejected { reason, .. } => Err(Error::InvalidPresentation {
                reason: format!(
                    "the requesting party rejected the response: {reason} (it did receive it: logged as shared)"
                ),
            }),
            Posted::Uncertain { reason } => Err(Error::Network {
                kind: NetworkFailure::BrokeOff,
                reason: format!(
                    "{reason}: the response may have been shared; it is logged as such and will not be sent again"
                ),
            }),
        }
    }
}

/// POSTs `form` once to the request's `response_uri` (already checked against the registered
/// origins). Only a failure to connect is retried — then nothing was sent, which is the one case
/// that returns `Err`.
pub(crate) async fn post_response(
    http: &Http,
    response_uri: &str,
    form: &Form,
) -> Result<Posted, Error> {
    let url = checked_url(response_uri)?;
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let reply = match http.post_form_once(&url, &pairs).await {
        Ok(reply) => reply,
        Err(SendFailure::NotSent(e)) => return Err(e.into()),
        Err(SendFailure::MaybeSent(reason)) => return Ok(Posted::Uncertain { reason }),
    };
    let status = reply.status.as_u16();
    if reply.status.is_server_error() {
        return Ok(Posted::Uncertain {
            reason: format!(
                "the requesting party failed while taking the response (HTTP {status})"
            ),
        });
    }
    if !reply.status.is_success() {
        return Ok(Posted::Rejected {
            status,
            reason: reply.oauth_error(),
        });
    }
    let redirect_uri = serde_json::from_slice::<Value>(&reply.body)
        .ok()
        .and_then(|v| {
            v.get("redirect_uri")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    Ok(Posted::Received(ResponseAck {
        status,
        redirect_uri,
    }))
}
