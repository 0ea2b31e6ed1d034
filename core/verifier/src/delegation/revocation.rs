//! Revocation: the citizen's wallet keeps one Token Status List per registry (1 bit per mandate:
//! 0 valid, 1 revoked), sealed in its vault, and publishes it signed with its main holder key as
//! a `statuslist+jwt` to a publication endpoint (`PUT {registry}/lists/{id}`; the first writer's
//! key owns a list). Verifiers and the helper's wallet fetch it (`GET`) and check it with the
//! mandate's `status_key`.

use std::collections::HashMap;
use std::io::Write as _;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kluis_sdjwt::{PublicJwk, SigningKey};
use serde_json::{json, Value};

use super::mandate::sign_jws;
use super::DelegationError;
use crate::http::{checked_url, client as http_client, Http, HttpPolicy};
use crate::jws::header as jws_header;
use crate::status::{get_status_list_token, status_list_claim, StatusList, STATUS_LIST_TYP};
use crate::Error;

/// Bits per mandate: revoked or not.
pub const MANDATE_LIST_BITS: u8 = 1;

/// Smallest list published (entries): hides how many mandates a citizen issued, roughly.
const MIN_ENTRIES: usize = 1024;

/// How long a published list is valid; the wallet republishes on every change and on each
/// delegation, so a verifier never relies on a list older than this.
pub const LIST_VALIDITY_SECS: i64 = 24 * 3600;

/// Status lists fetched for the mandates of presentations: list URI → the `statuslist+jwt`, or
/// why it could not be fetched. Filled by [`MandateStatusLists::fetch`] (or by hand, offline).
#[derive(Debug, Clone, Default)]
pub struct MandateStatusLists {
    lists: HashMap<String, Result<String, String>>,
}

impl MandateStatusLists {
    /// An empty set: a delegated presentation is then rejected as "status not checked".
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a list token fetched by the caller.
    pub fn insert(&mut self, uri: &str, jwt: &str) {
        self.lists
            .insert(uri.to_string(), Ok(jwt.trim().to_string()));
    }

    /// Fetches each URI once (https, or http to loopback), keeping failures as reasons.
    pub async fn fetch(uris: &[String], policy: HttpPolicy) -> Result<Self, Error> {
        let http = Http::new(policy)?;
        let mut out = Self::default();
        for uri in uris {
            if out.lists.contains_key(uri) {
                continue;
            }
            let got = fetch_one(&http, uri).await;
            out.lists.insert(uri.clone(), got);
        }
        Ok(out)
    }

    pub(crate) fn get(&self, uri: &str) -> Option<&Result<String, String>> {
        self.lists.get(uri)
    }
}

async fn fetch_one(http: &Http, uri: &str) -> Result<String, String> {
    let body = get_status_list_token(http, uri).await?;
    String::from_utf8(body)
        .map(|s| s.trim().to_string())
        .map_err(|_| "the status list is not text".to_string())
}

/// Verifies a mandate status list token: `typ`, ES256 signature by `key` (the mandate's
/// `status_key`), `sub` equal to `uri`, an `exp` not passed at `now`; returns the decoded list.
pub fn verify_status_list(
    jwt: &str,
    uri: &str,
    key: &PublicJwk,
    now: i64,
) -> Result<StatusList, String> {
    let header = jws_header(jwt).ok_or("the status list is not a JWT")?;
    if header.get("typ").and_then(Value::as_str) != Some(STATUS_LIST_TYP) {
        return Err("the status list has the wrong typ".into());
    }
    let (_, p) = kluis_sdjwt::verify_compact_es256(jwt, key)
        .ok_or("the status list is not signed by the mandate's status key")?;
    if p.get("sub").and_then(Value::as_str) != Some(uri) {
        return Err("the status list's sub is not its URI".into());
    }
    // A mandate list must expire: a registry replaying an old list is bounded by its `exp`.
    match p.get("exp").and_then(Value::as_i64) {
        None => return Err("the status list has no exp".into()),
        Some(e) if e < now => return Err("the status list has expired".into()),
        Some(_) => {}
    }
    status_list_claim(&p)
}

/// Whether the mandate at `idx` is revoked, per a verified list.
pub(crate) fn is_revoked(list: &StatusList, idx: usize) -> Result<bool, DelegationError> {
    match list.get(idx) {
        Some(0) => Ok(false),
        Some(1) => Ok(true),
        Some(_) => Err(DelegationError::StatusUnchecked(
            "unknown status value".into(),
        )),
        None => Err(DelegationError::StatusUnchecked(
            "the index is beyond the status list".into(),
        )),
    }
}

/// `base64url(zlib(bits))`, one bit per entry, least significant bit first.
fn encode_lst(revoked: &[bool]) -> Result<String, DelegationError> {
    let entries = revoked.len().max(MIN_ENTRIES);
    let mut bytes = vec![0u8; entries.div_ceil(8)];
    for (i, r) in revoked.iter().enumerate() {
        if *r {
            bytes[i / 8] |= 1 << (i % 8);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&bytes)
        .map_err(|_| DelegationError::Internal("status list compression"))?;
    let compressed = z
        .finish()
        .map_err(|_| DelegationError::Internal("status list compression"))?;
    Ok(URL_SAFE_NO_PAD.encode(compressed))
}

/// A mandate status list token for `uri` (its `sub`): one bit per mandate, signed by `key` (the
/// mandates' `status_key`) with the public key in the header for the registry.
pub fn sign_status_list(
    key: &SigningKey,
    uri: &str,
    revoked: &[bool],
    now: i64,
) -> Result<String, DelegationError> {
    let payload = json!({
        "sub": uri,
        "iat": now,
        "exp": now + LIST_VALIDITY_SECS,
        "ttl": 300,
        "status_list": { "bits": MANDATE_LIST_BITS, "lst": encode_lst(revoked)? },
    });
    sign_jws(key, STATUS_LIST_TYP, true, &payload)
}

/// Publishes a signed list at `uri` with `PUT` (https, or http to loopback).
pub async fn publish_status_list(uri: &str, jwt: &str, policy: &HttpPolicy) -> Result<(), Error> {
    let url = checked_url(uri)?;
    policy.check(&url)?;
    let client = http_client(policy)?;
    let reply = client
        .put(url)
        .header("content-type", "application/statuslist+jwt")
        .body(jwt.to_string())
        .send()
        .await
        .map_err(|e| Error::Network {
            reason: format!(
                "publishing the mandate status list to {}: {}",
                crate::http::shorten(uri),
                if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                }
            ),
        })?;
    if !reply.status().is_success() {
        return Err(Error::Network {
            reason: format!(
                "the mandate registry refused the status list (HTTP {})",
                reply.status().as_u16()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_published_list_reads_back_bit_by_bit() {
        let key = SigningKey::make_random().unwrap();
        let uri = "http://127.0.0.1:9/lists/00ff";
        let mut revoked = vec![false; 10];
        revoked[3] = true;
        revoked[9] = true;
        let jwt = sign_status_list(&key, uri, &revoked, 1_000).unwrap();
        let list = verify_status_list(&jwt, uri, &key.public_jwk(), 1_000).unwrap();
        let got: Vec<bool> = (0..10).map(|i| is_revoked(&list, i).unwrap()).collect();
        assert_eq!(got, revoked);
        assert!(!is_revoked(&list, 1000).unwrap());
        assert!(is_revoked(&list, 5000).is_err());
        // Another key, another URI, or too late: refused.
        let other = SigningKey::make_random().unwrap();
        assert!(verify_status_list(&jwt, uri, &other.public_jwk(), 1_000).is_err());
        assert!(
            verify_status_list(&jwt, "http://127.0.0.1:9/lists/x", &key.public_jwk(), 1_000)
                .is_err()
        );
        assert!(
            verify_status_list(&jwt, uri, &key.public_jwk(), 1_000 + LIST_VALIDITY_SECS + 1)
                .is_err()
        );
        // A list without `exp` is refused (a replayed old list must run out).
        let no_exp = sign_jws(
            &key,
            STATUS_LIST_TYP,
            true,
            &json!({ "sub": uri, "status_list": { "bits": 1, "lst": encode_lst(&[]).unwrap() } }),
        )
        .unwrap();
        assert!(verify_status_list(&no_exp, uri, &key.public_jwk(), 1_000)
            .err()
            .unwrap()
            .contains("no exp"));
    }

    /// Publishing goes through the one HTTP seam and honours the policy: without loopback http,
    /// a loopback registry is refused before anything is sent (port 9: nothing listens).
    #[tokio::test]
    async fn publishing_honours_the_policy() {
        let strict = HttpPolicy {
            allow_loopback_http: false,
            ..HttpPolicy::default()
        };
        let uri = "http://127.0.0.1:9/lists/x";
        assert!(matches!(
            publish_status_list(uri, "a.b.c", &strict).await,
            Err(Error::InvalidInput { .. })
        ));
        // With the default policy the same call is sent (and meets the closed port).
        assert!(matches!(
            publish_status_list(uri, "a.b.c", &HttpPolicy::default()).await,
            Err(Error::Network { .. })
        ));
    }
}
