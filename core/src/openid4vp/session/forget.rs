//! The citizen asks a party to delete what it received (docs/PRESENTING.md, "Retention and
//! deletion"): from the audit entry of a disclosure, a deletion request signed by the holder key
//! that signed that disclosure's key-binding JWT (the only proof the party has of who presented),
//! sent to the deletion endpoint the scheme's participant list names for the party; the party's
//! signed receipt is checked and kept in the log.

use rand::RngCore as _;
use serde::Serialize;
use serde_json::{json, Value};

use crate::audit::{self, Actor, AuditEvent};
use crate::http::{checked_url, shorten, transport_error, HttpPolicy};
use crate::{now_unix, Error, RequestRefusal, Wallet};

/// `typ` of a citizen's deletion request.
pub const DELETION_REQUEST_TYP: &str = "kluis-deletion-request+jwt";
/// `typ` of the party's receipt for a deletion.
pub const DELETION_RECEIPT_TYP: &str = "kluis-deletion-receipt+jwt";
/// Largest receipt answer read.
const MAX_ANSWER: usize = 16 * 1024;

/// What the party confirmed, as logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletionConfirmed {
    /// The audit entry of the disclosure.
    pub entry: u64,
    /// The party's client identifier.
    pub audience: String,
    /// When the party says it deleted (Unix seconds).
    pub deleted_at: i64,
    /// How many results it deleted (0: it held none any more).
    pub deleted: u32,
    /// The audit entry that records the receipt.
    pub logged_as: u64,
}

fn refused(code: RequestRefusal, why: impl Into<String>) -> Error {
    Error::InvalidRequest {
        code,
        reason: format!("deletion: {}", why.into()),
    }
}

impl Wallet {
    /// Asks the party of disclosure `entry` (an audit entry's `seq`) to delete what it received:
    /// signs a deletion request with the holder key of that disclosure, sends it to the party's
    /// `deletion_uri` (from the pinned scheme's participant list; on one of its response
    /// origins), checks the receipt (signed by one of the party's registered keys, for this key
    /// and this request) and logs it. Nothing is logged unless the receipt holds.
    pub async fn forget(&self, entry: u64, policy: HttpPolicy) -> Result<DeletionConfirmed, Error> {
        let log = self.audit_log()?;
        let event = log
            .into_iter()
            .find(|e| e.seq == entry)
            .map(|e| e.event)
            .ok_or_else(|| Error::NotFound {
                what: format!("audit entry {entry}"),
            })?;
        let AuditEvent::Disclosed {
            audience,
            holder_key,
            ..
        } = event
        else {
            return Err(Error::invalid_input(format!(
                "audit entry {entry} is not a disclosure"
            )));
        };
        let key_id = holder_key.ok_or_else(|| {
            Error::invalid_input(format!(
                "audit entry {entry} does not name the key that presented (a helper's answer, or an entry older than deletion requests): the party cannot tell it is yours"
            ))
        })?;
        let key = self.load_holder_key(&key_id).map_err(|_| {
            Error::invalid_input(format!(
                "the key that presented in audit entry {entry} is no longer in this wallet"
            ))
        })?;
        let list = self.participant_list()?.ok_or_else(|| {
            Error::invalid_input("no scheme is pinned: the party's deletion endpoint is unknown")
        })?;
        let bare = audience
            .strip_prefix("verifier_attestation:")
            .unwrap_or(&audience);
        let party = list
            .requesting_parties
            .iter()
            .find(|p| p.client_id == bare)
            .ok_or_else(|| {
                refused(
                    RequestRefusal::InvalidRequest,
                    "the scheme no longer lists this party",
                )
            })?;
        let uri = party.deletion_uri.as_deref().ok_or_else(|| {
            refused(
                RequestRefusal::InvalidRequest,
                "the party names no deletion endpoint in the scheme's list",
            )
        })?;
        let url = checked_url(uri)?;
        policy.check(&url)?;
        let origin = url.origin().ascii_serialization();
        if !party.response_origins.contains(&origin) {
            return Err(refused(
                RequestRefusal::ForeignResponseUri,
                "the party's deletion endpoint is not on one of its registered origins",
            ));
        }
        let mut jti = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut jti);
        let jti = hex::encode(jti);
        let now = now_unix();
        let unsigned = crate::jws::unsigned(
            DELETION_REQUEST_TYP,
            Some(&key.public),
            &json!({ "aud": audience, "iat": now, "jti": jti }),
        )?;
        let request = self.sign_jws(&key, unsigned, "deletion request")?;

        let host = shorten(url.as_str());
        let client = crate::http::client(&policy)?;
        let resp = client
            .post(url.clone())
            .header("content-type", "application/jwt")
            .header("accept", "application/json")
            .body(request)
            .send()
            .await
            .map_err(|e| transport_error(&e, &host))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| transport_error(&e, &host))?;
        if body.len() > MAX_ANSWER {
            return Err(refused(
                RequestRefusal::Oversized,
                "the party's answer is too large",
            ));
        }
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if !status.is_success() {
            let why = answer
                .get("error_description")
                .and_then(Value::as_str)
                .map(crate::openid4vp::client_id::clean)
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            return Err(refused(
                RequestRefusal::InvalidRequest,
                format!("the party refused: {why}"),
            ));
        }
        let receipt = answer
            .get("receipt")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                refused(
                    RequestRefusal::InvalidRequest,
                    "the party's answer has no receipt",
                )
            })?
            .to_string();
        let (deleted_at, deleted) = check_receipt(
            &receipt,
            &party.public_keys(),
            &audience,
            &key.public.thumbprint(),
            &jti,
        )?;
        let logged = self.vault.write(|tx| {
            audit::append(
                tx,
                now_unix(),
                Actor::Citizen,
                AuditEvent::DeletedByParty {
                    entry,
                    audience: audience.clone(),
                    deleted_at,
                    deleted,
                    receipt: receipt.clone(),
                },
            )
        })?;
        Ok(DeletionConfirmed {
            entry,
            audience,
            deleted_at,
            deleted,
            logged_as: logged.seq,
        })
    }
}

/// Checks a deletion receipt: `typ`, ES256 by one of the party's registered keys, `iss` the
/// party, `sub` the key that asked, `request_jti` this request (so an old receipt, or one made
/// for another request, is refused). Returns `(deleted_at, deleted)`.
fn check_receipt(
    receipt: &str,
    party_keys: &[kluis_sdjwt::PublicJwk],
    audience: &str,
    thumbprint: &str,
    jti: &str,
) -> Result<(i64, u32), Error> {
    let typ = crate::jws::header(receipt)
        .and_then(|h| h.get("typ").and_then(Value::as_str).map(str::to_string));
    if typ.as_deref() != Some(DELETION_RECEIPT_TYP) {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the receipt is not a deletion receipt",
        ));
    }
    let v = crate::jws::verify(receipt, party_keys).ok_or_else(|| {
        refused(
            RequestRefusal::BadSignature,
            "the receipt is not signed by the party's registered key",
        )
    })?;
    let p = v.payload;
    let s = |k: &str| p.get(k).and_then(Value::as_str);
    if s("iss") != Some(audience) {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the receipt is from another party",
        ));
    }
    if s("sub") != Some(thumbprint) || s("request_jti") != Some(jti) {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the receipt is not for this deletion request",
        ));
    }
    let deleted_at = p.get("deleted_at").and_then(Value::as_i64).ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "the receipt has no deletion time",
        )
    })?;
    let deleted = p
        .get("deleted")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| {
            refused(
                RequestRefusal::InvalidRequest,
                "the receipt does not say how much was deleted",
            )
        })?;
    Ok((deleted_at, deleted))
}
