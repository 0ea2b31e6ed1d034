//! Freshness: expiry and the Token Status List (IETF OAuth "Token Status List" draft; the list
//! format and its checks are kluis-verifier's [`kluis_verifier::status`]).
//!
//! A credential's `status.status_list` names a list (`uri`) and an index (`idx`). The holder
//! publishes the list as a `statuslist+jwt` signed with its issuer key; the wallet fetches each
//! list once per check, verifies it with the keys it trusts for the credential's issuer, checks
//! `sub` equals the URI and the token is not expired, inflates `lst` (zlib, capped) and reads the
//! entry: 0 valid, 1 revoked (invalid), 2 suspended. The result is stored with the credential
//! and shown in the overview; a change is logged.

use std::collections::HashMap;

use serde::Serialize;

use kluis_verifier::status::{fetch_list, reference};
pub use kluis_verifier::status::{
    ListAge, StatusCheck, StatusList, StatusLists, DEFAULT_LIST_TTL_SECS,
    DEFAULT_OFFLINE_LIST_AGE_SECS, MAX_LIST_TTL_SECS, STATUS_LIST_TYP,
};

use crate::audit::{self, Actor, AuditEvent};
// The state types live with the stored credential (credentials.rs); re-exported here, where
// the bindings and tests name them.
use crate::credentials::StoredCredential;
pub use crate::credentials::{CredentialState, Freshness};
use crate::http::{Http, HttpPolicy};
use crate::{now_unix, Error, Wallet};

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

fn state_of(value: u8) -> CredentialState {
    match value {
        0 => CredentialState::Valid,
        1 => CredentialState::Revoked,
        2 => CredentialState::Suspended,
        _ => CredentialState::Unknown,
    }
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
    use super::*;

    #[test]
    fn entry_values_map_to_states() {
        assert_eq!(state_of(0), CredentialState::Valid);
        assert_eq!(state_of(1), CredentialState::Revoked);
        assert_eq!(state_of(2), CredentialState::Suspended);
        assert_eq!(state_of(3), CredentialState::Unknown);
    }
}
