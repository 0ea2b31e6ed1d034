//! Usage receipts: how the citizen's wallet learns what the helper did. After each use, the
//! helper's wallet signs a receipt (JWS, `typ` `kluis-mandate-receipt+jwt`, helper key: mandate id,
//! party, type, claim paths, purpose, time), encrypts it to the citizen's `status_key` (JWE
//! ECDH-ES + A256GCM, so the registry learns nothing) and posts it next to the mandate's status
//! list (`POST {list}/receipts`). The citizen's wallet fetches them (`GET {list}/receipts`),
//! decrypts, checks the helper's signature against the key it gave the mandate to, and logs each
//! once as `MandateUsed`. A receipt only shows what an honest helper's wallet reports.

use josekit::jwe::{JweHeader, ECDH_ES};
use josekit::jwk::Jwk;
use kluis_sdjwt::{PublicJwk, SigningKey};
use serde_json::{json, Value};

use super::mandate::{sign_jws, Mandate};
use super::DelegationError;
use crate::http::{checked_url, Http, HttpPolicy};
use crate::{Error, NetworkFailure};

/// `typ` of the signed receipt inside the JWE.
pub const RECEIPT_TYP: &str = "kluis-mandate-receipt+jwt";

/// A receipt's `action` for a collection at a holder.
pub(crate) const COLLECT_ACTION: &str = "collect";

/// Largest receipt accepted.
const MAX_RECEIPT_BYTES: usize = 16 * 1024;

/// One use of a mandate, as the helper's wallet reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Receipt id (`jti`), for de-duplication.
    pub id: String,
    /// The mandate used.
    pub mandate_id: String,
    /// When (Unix seconds).
    pub at: i64,
    /// The requesting party (`aud`), or `view`.
    pub audience: String,
    /// The credential type.
    pub vct: String,
    /// The claim paths disclosed.
    pub claims: Vec<String>,
    /// The purpose the party stated.
    pub purpose: Option<String>,
    /// `collect` when the helper collected at a holder (`audience` is then the holder);
    /// `None` for a presentation or a view.
    pub action: Option<String>,
}

/// Where a list's receipts are posted and fetched.
pub(crate) fn receipts_uri(status_uri: &str) -> String {
    format!("{status_uri}/receipts")
}

/// Signs a receipt with the helper's key and encrypts it to the citizen's status key.
pub(crate) fn seal_receipt(
    helper: &SigningKey,
    citizen: &PublicJwk,
    r: &Receipt,
) -> Result<String, DelegationError> {
    let jws = sign_jws(
        helper,
        RECEIPT_TYP,
        false,
        &json!({
            "jti": r.id, "mandate": r.mandate_id, "iat": r.at, "aud": r.audience,
            "vct": r.vct, "claims": r.claims, "purpose": r.purpose, "action": r.action,
        }),
    )?;
    let Value::Object(map) = citizen.to_value() else {
        return Err(DelegationError::Internal("citizen key"));
    };
    let jwk = Jwk::from_map(map).map_err(|_| DelegationError::Internal("citizen key"))?;
    let encrypter = ECDH_ES
        .encrypter_from_jwk(&jwk)
        .map_err(|_| DelegationError::Internal("receipt encrypter"))?;
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_content_type("JWT");
    josekit::jwe::serialize_compact(jws.as_bytes(), &header, &encrypter)
        .map_err(|_| DelegationError::Internal("receipt encryption"))
}

/// Decrypts a receipt with the citizen's key; returns the inner JWS (not yet verified).
pub(crate) fn open_receipt(jwe: &str, citizen: &SigningKey) -> Result<String, DelegationError> {
    if jwe.len() > MAX_RECEIPT_BYTES {
        return Err(DelegationError::Malformed("the receipt is too large"));
    }
    let decrypter = ECDH_ES
        .decrypter_from_der(&citizen.to_pkcs8_der()[..])
        .map_err(|_| DelegationError::Internal("receipt decrypter"))?;
    let (body, _) = josekit::jwe::deserialize_compact(jwe, &decrypter)
        .map_err(|_| DelegationError::Malformed("the receipt does not decrypt"))?;
    String::from_utf8(body).map_err(|_| DelegationError::Malformed("the receipt is not text"))
}

/// The mandate id a decrypted receipt claims (unverified: to find the helper key to check it).
pub(crate) fn claimed_mandate(jws: &str) -> Option<String> {
    Mandate::peek(jws)
        .ok()?
        .get("mandate")?
        .as_str()
        .map(str::to_string)
}

/// The holder a decrypted receipt claims to come from (`iss`; unverified: to find its keys).
/// Helpers' receipts have none.
pub(crate) fn claimed_issuer(jws: &str) -> Option<String> {
    Mandate::peek(jws)
        .ok()?
        .get("iss")?
        .as_str()
        .map(str::to_string)
}

/// Verifies a decrypted receipt with the helper's key.
pub(crate) fn verify_receipt(jws: &str, helper: &PublicJwk) -> Result<Receipt, DelegationError> {
    verify_receipt_by(jws, std::slice::from_ref(helper))
}

/// Verifies a decrypted receipt with any of `keys` (a holder's, from the trust list).
pub(crate) fn verify_receipt_by(jws: &str, keys: &[PublicJwk]) -> Result<Receipt, DelegationError> {
    let header = crate::jws::header(jws).ok_or(DelegationError::Malformed("receipt header"))?;
    if header.get("typ").and_then(Value::as_str) != Some(RECEIPT_TYP) {
        return Err(DelegationError::Malformed("receipt typ"));
    }
    let p = crate::jws::verify(jws, keys)
        .ok_or(DelegationError::Malformed(
            "the receipt is not signed by the helper",
        ))?
        .payload;
    let text = |k: &'static str| {
        p.get(k)
            .and_then(Value::as_str)
            .map(|s| {
                s.chars()
                    .filter(|c| !c.is_control())
                    .take(300)
                    .collect::<String>()
            })
            .ok_or(DelegationError::MissingClaim(k))
    };
    Ok(Receipt {
        id: text("jti")?,
        mandate_id: text("mandate")?,
        at: p
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(DelegationError::MissingClaim("iat"))?,
        audience: text("aud")?,
        vct: text("vct")?,
        claims: p
            .get("claims")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .take(200)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        purpose: p.get("purpose").and_then(Value::as_str).map(str::to_string),
        action: p
            .get("action")
            .and_then(Value::as_str)
            .filter(|a| *a == COLLECT_ACTION)
            .map(str::to_string),
    })
}

/// Posts a sealed receipt (best effort for the caller: a failure does not undo the use).
pub(crate) async fn post_receipt(http: &Http, status_uri: &str, jwe: &str) -> Result<(), Error> {
    let url = checked_url(&receipts_uri(status_uri))?;
    let reply = http.post_body(&url, "application/jose", jwe).await?;
    if !reply.status.is_success() {
        return Err(Error::Network {
            kind: NetworkFailure::HttpStatus {
                status: reply.status.as_u16(),
            },
            reason: format!(
                "the mandate registry refused the receipt (HTTP {})",
                reply.status.as_u16()
            ),
        });
    }
    Ok(())
}

/// Fetches the sealed receipts posted for a list.
pub(crate) async fn fetch_receipts(
    status_uri: &str,
    policy: HttpPolicy,
) -> Result<Vec<String>, Error> {
    let url = checked_url(&receipts_uri(status_uri))?;
    let http = Http::new(policy)?;
    let reply = http.get(&url, "application/json").await?;
    if !reply.status.is_success() {
        return Err(Error::Network {
            kind: NetworkFailure::HttpStatus {
                status: reply.status.as_u16(),
            },
            reason: format!("usage receipts HTTP {}", reply.status.as_u16()),
        });
    }
    let v: Value = serde_json::from_slice(&reply.body).map_err(|_| Error::Network {
        kind: NetworkFailure::BadAnswer,
        reason: "the usage receipts are not JSON".into(),
    })?;
    Ok(v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_the_citizen_reads_and_only_the_helper_signs() {
        let citizen = SigningKey::make_random().unwrap();
        let helper = SigningKey::make_random().unwrap();
        let r = Receipt {
            id: "r1".into(),
            mandate_id: "m-1".into(),
            at: 5,
            audience: "party".into(),
            vct: "t".into(),
            action: None,
            claims: vec!["/a".into()],
            purpose: None,
        };
        let sealed = seal_receipt(&helper, &citizen.public_jwk(), &r).unwrap();
        assert!(open_receipt(&sealed, &helper).is_err());
        let jws = open_receipt(&sealed, &citizen).unwrap();
        assert_eq!(claimed_mandate(&jws).as_deref(), Some("m-1"));
        assert_eq!(verify_receipt(&jws, &helper.public_jwk()).unwrap(), r);
        assert!(verify_receipt(&jws, &citizen.public_jwk()).is_err());
    }

    /// Posting goes through the one HTTP seam and honours the policy: without loopback http,
    /// a loopback registry is refused before anything is sent.
    #[tokio::test]
    async fn posting_honours_the_policy() {
        let strict = HttpPolicy {
            allow_loopback_http: false,
            ..HttpPolicy::default()
        };
        assert!(matches!(
            post_receipt(
                &Http::new(strict).unwrap(),
                "http://127.0.0.1:9/lists/x",
                "a.b.c.d.e"
            )
            .await,
            Err(Error::InvalidInput { .. })
        ));
    }
}
