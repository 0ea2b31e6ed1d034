//! Freshness: expiry and the Token Status List (IETF OAuth "Token Status List" draft).
//!
//! A credential's `status.status_list` names a list (`uri`) and an index (`idx`). The holder
//! publishes the list as a `statuslist+jwt` signed with its issuer key; the wallet fetches each
//! list once per check, verifies it with the keys it trusts for the credential's issuer, checks
//! `sub` equals the URI and the token is not expired, inflates `lst` (zlib, capped) and reads the
//! entry: 0 valid, 1 revoked (invalid), 2 suspended. The result is stored with the credential
//! and shown in the overview; a change is logged.

use std::collections::HashMap;
use std::io::Read as _;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kluis_sdjwt::IssuerKeys;
use serde::Serialize;
use serde_json::Value;

use crate::audit::{self, Actor, AuditEvent};
// The state types live with the stored credential (credentials.rs); re-exported here, where
// the bindings and tests name them.
use crate::credentials::StoredCredential;
pub use crate::credentials::{CredentialState, Freshness};
use crate::http::{checked_url, Http, HttpPolicy};
use crate::jws::{header as jws_header, verify as jws_verify};
use crate::{now_unix, Error, Wallet};

/// `typ` of a status list token.
pub const STATUS_LIST_TYP: &str = "statuslist+jwt";

/// Largest inflated status list accepted (the draft recommends lists of at least 16 KB; this
/// bounds a zip bomb).
const MAX_INFLATED: u64 = 8 * 1024 * 1024;

/// One line of `kluis status-check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReport {
    /// Credential id.
    pub id: String,
    /// Issuer.
    pub issuer: String,
    /// Type.
    pub vct: String,
    /// The state found.
    pub status: CredentialState,
    /// Why it is `unknown`, when it is.
    pub note: Option<String>,
}

/// A decoded status list.
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

impl StatusList {
    /// Decodes `lst` (base64url of zlib) with `bits` per entry (1, 2, 4 or 8).
    pub fn decode(bits: u8, lst: &str) -> Result<StatusList, String> {
        if !matches!(bits, 1 | 2 | 4 | 8) {
            return Err(format!("unsupported bits {bits}"));
        }
        let compressed = URL_SAFE_NO_PAD
            .decode(lst.trim_end_matches('='))
            .map_err(|_| "lst is not base64url".to_string())?;
        let mut bytes = Vec::new();
        flate2::read::ZlibDecoder::new(&compressed[..])
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut bytes)
            .map_err(|_| "lst is not zlib data".to_string())?;
        if bytes.len() as u64 > MAX_INFLATED {
            return Err("the status list is too large".into());
        }
        Ok(StatusList { bits, bytes })
    }

    /// The status value at `idx`, `None` if beyond the list.
    pub fn get(&self, idx: usize) -> Option<u8> {
        let per_byte = 8 / self.bits as usize;
        let byte = *self.bytes.get(idx / per_byte)?;
        let shift = (idx % per_byte) * self.bits as usize;
        let mask = ((1u16 << self.bits) - 1) as u8;
        Some((byte >> shift) & mask)
    }
}

/// Fetches and verifies one status list token with `keys` (the issuer's trusted keys).
async fn fetch_list(
    http: &Http,
    uri: &str,
    iss: &str,
    keys: &dyn IssuerKeys,
) -> Result<StatusList, String> {
    let body = get_status_list_token(http, uri).await?;
    let jwt = String::from_utf8(body).map_err(|_| "status list is not text".to_string())?;
    let jwt = jwt.trim();
    let header = jws_header(jwt).ok_or("status list is not a JWT")?;
    if header.get("typ").and_then(Value::as_str) != Some(STATUS_LIST_TYP) {
        return Err("status list has the wrong typ".into());
    }
    let kid = header.get("kid").and_then(Value::as_str);
    let v = jws_verify(jwt, &keys.keys_for(iss, kid))
        .ok_or("the status list signature does not verify with the issuer's key")?;
    let p = v.payload;
    if p.get("sub").and_then(Value::as_str) != Some(uri) {
        return Err("the status list's sub is not its URI".into());
    }
    if p.get("exp")
        .and_then(Value::as_i64)
        .is_some_and(|e| e < now_unix())
    {
        return Err("the status list has expired".into());
    }
    status_list_claim(&p)
}

/// GETs a status list token (`application/statuslist+jwt`, https or http to loopback): its body,
/// or why not. Holders' lists and the mandate registry's are fetched the same way.
pub(crate) async fn get_status_list_token(http: &Http, uri: &str) -> Result<Vec<u8>, String> {
    let url = checked_url(uri).map_err(|e| e.to_string())?;
    let reply = http
        .get(&url, "application/statuslist+jwt")
        .await
        .map_err(|e| e.to_string())?;
    if !reply.status.is_success() {
        return Err(format!("status list HTTP {}", reply.status.as_u16()));
    }
    Ok(reply.body)
}

/// The `status_list` claim (`bits`, `lst`) of a verified status list token's payload, decoded.
pub(crate) fn status_list_claim(p: &serde_json::Map<String, Value>) -> Result<StatusList, String> {
    let sl = p.get("status_list").ok_or("no status_list")?;
    let bits = sl
        .get("bits")
        .and_then(Value::as_u64)
        .and_then(|b| u8::try_from(b).ok())
        .ok_or("status_list has no bits")?;
    let lst = sl
        .get("lst")
        .and_then(Value::as_str)
        .ok_or("status_list has no lst")?;
    StatusList::decode(bits, lst)
}

fn state_of(value: u8) -> CredentialState {
    match value {
        0 => CredentialState::Valid,
        1 => CredentialState::Revoked,
        2 => CredentialState::Suspended,
        _ => CredentialState::Unknown,
    }
}

/// `(uri, idx)` of a credential's status list entry.
fn reference(status: Option<&Value>) -> Option<(String, usize)> {
    let sl = status?.get("status_list")?;
    let uri = sl.get("uri")?.as_str()?.to_string();
    let idx = usize::try_from(sl.get("idx")?.as_u64()?).ok()?;
    Some((uri, idx))
}

impl Wallet {
    /// Checks every stored credential's expiry and status list entry, stores the result with
    /// each, and logs changes. Each list is fetched once per call.
    pub async fn check_status(&self, policy: HttpPolicy) -> Result<Vec<StatusReport>, Error> {
        let http = Http::new(policy)?;
        let trust = self.trust_list()?;
        let now = now_unix();
        let mut lists: HashMap<String, Result<StatusList, String>> = HashMap::new();
        let mut out = Vec::new();
        let mut updates = Vec::new();
        for (id, rec) in self.vault.list::<StoredCredential>()? {
            let stored = rec?;
            let credential = match self.parsed(&stored) {
                Ok(c) => c,
                Err(e) => {
                    out.push(StatusReport {
                        id,
                        issuer: stored.issuer.clone(),
                        vct: stored.vct.clone(),
                        status: CredentialState::Unknown,
                        note: Some(e.to_string()),
                    });
                    continue;
                }
            };
            let (state, note) = if stored.expires_at.is_some_and(|e| e < now) {
                (CredentialState::Expired, None)
            } else {
                match reference(credential.status()) {
                    None => (
                        CredentialState::Unknown,
                        Some("the credential has no status list reference".to_string()),
                    ),
                    Some((uri, idx)) => {
                        if !lists.contains_key(&uri) {
                            let l = fetch_list(&http, &uri, &stored.issuer, &trust).await;
                            lists.insert(uri.clone(), l);
                        }
                        match lists.get(&uri) {
                            Some(Ok(list)) => match list.get(idx) {
                                Some(v) => (state_of(v), None),
                                None => (
                                    CredentialState::Unknown,
                                    Some("the index is beyond the status list".into()),
                                ),
                            },
                            Some(Err(e)) => (CredentialState::Unknown, Some(e.clone())),
                            None => (CredentialState::Unknown, None),
                        }
                    }
                }
            };
            let previous = stored.freshness.as_ref().map(|f| f.state);
            // An unknown result (holder down) does not overwrite a known one.
            if state != CredentialState::Unknown || previous.is_none() {
                updates.push((id.clone(), stored.clone(), state, previous));
            }
            out.push(StatusReport {
                id,
                issuer: stored.issuer,
                vct: stored.vct,
                status: state,
                note,
            });
        }
        self.vault.write(|tx| {
            for (id, mut stored, state, previous) in updates {
                stored.freshness = Some(Freshness {
                    state,
                    checked_at: now,
                });
                tx.put(&id, &stored)?;
                if previous.is_some_and(|p| p != state)
                    || (previous.is_none() && state != CredentialState::Valid)
                {
                    audit::append(
                        tx,
                        now,
                        Actor::Citizen,
                        AuditEvent::CredentialStatusChanged {
                            credential_id: id,
                            status: state.as_str().to_string(),
                        },
                    )?;
                }
            }
            Ok(())
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write as _;

    fn lst(bytes: &[u8]) -> String {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(bytes).unwrap();
        URL_SAFE_NO_PAD.encode(z.finish().unwrap())
    }

    #[test]
    fn reads_the_drafts_examples() {
        // draft-ietf-oauth-status-list, 1-bit example: 0xB9 0xA3 → indexes 0..15.
        let l = StatusList::decode(1, &lst(&[0xB9, 0xA3])).unwrap();
        let got: Vec<u8> = (0..16).map(|i| l.get(i).unwrap()).collect();
        assert_eq!(got, [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]);
        assert_eq!(l.get(16), None);
        // 2-bit: 0xC9 = 0b11_00_10_01 → 1, 2, 0, 3.
        let l = StatusList::decode(2, &lst(&[0xC9])).unwrap();
        assert_eq!(
            (0..4).map(|i| l.get(i).unwrap()).collect::<Vec<_>>(),
            [1, 2, 0, 3]
        );
        assert_eq!(state_of(1), CredentialState::Revoked);
        assert_eq!(state_of(2), CredentialState::Suspended);
        assert_eq!(state_of(3), CredentialState::Unknown);
    }

    #[test]
    fn refuses_bad_lists() {
        assert!(StatusList::decode(3, &lst(&[0])).is_err());
        assert!(StatusList::decode(1, "!!!").is_err());
        assert!(StatusList::decode(1, &URL_SAFE_NO_PAD.encode(b"not zlib")).is_err());
        // A zip bomb: 16 MiB of zeros compresses to ~16 KiB and must be refused.
        let bomb = lst(&vec![0u8; 16 * 1024 * 1024]);
        assert!(StatusList::decode(1, &bomb).is_err());
    }
}
