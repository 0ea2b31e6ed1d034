//! Refreshing stale credentials from their holders with the refresh token kept from issuance
//! (RFC 6749 `refresh_token` grant at the holder's token endpoint), and picking up deferred
//! credentials. The refreshed credential replaces the stale one under the same id, with fresh
//! holder keys for its copies; the old copies' keys are deleted in the same transaction.

use std::collections::HashMap;

use kluis_vault::Record;
use serde::Serialize;

use super::{
    notify, poll_until, refresh_token_grant, request_credential, rotate_refresh_token,
    seal_new_keys, CollectOptions, CredentialReply, Http, IssuanceGrant, IssuerMetadata,
    PendingSummary,
};
use crate::audit::{self, Actor, AuditEvent};
use crate::credentials::{CredentialSummary, StoredCredential};
use crate::error::FailureCode;
use crate::holder_key::HolderKeyRecord;
use crate::status::CredentialState;
use crate::{now_unix, Error, IssuanceFailure, Wallet};

/// What `kluis refresh` did.
#[derive(Debug, Clone, Serialize)]
pub struct RefreshReport {
    /// Credentials replaced by fresh ones.
    pub refreshed: Vec<CredentialSummary>,
    /// Deferred credentials delivered now.
    pub delivered: Vec<CredentialSummary>,
    /// Deferred credentials still pending.
    pub pending: Vec<PendingSummary>,
    /// Stale credentials that could not be refreshed, with the reason.
    pub failed: Vec<RefreshFailure>,
    /// Credentials that were still fresh.
    pub fresh: usize,
}

/// A credential that could not be refreshed (or a deferred one no longer picked up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshFailure {
    /// Credential id (or pending transaction id).
    pub id: String,
    /// Why, as a code for the app to word.
    pub failure: FailureCode,
    /// The error's English text for developers: not for display (no personal data).
    pub detail: String,
}

impl RefreshFailure {
    pub(crate) fn new(id: String, e: &Error) -> Self {
        RefreshFailure {
            id,
            failure: e.failure(),
            detail: e.to_string(),
        }
    }
}

/// Stale: expired, revoked or suspended at the last check, or in the last quarter of its validity.
fn is_stale(s: &StoredCredential, now: i64) -> bool {
    let flagged = s.freshness.as_ref().is_some_and(|f| {
        matches!(
            f.state,
            CredentialState::Expired | CredentialState::Revoked | CredentialState::Suspended
        )
    });
    // The timestamps come from the issuer: widened, so extreme values cannot overflow.
    let ageing = match (s.issued_at, s.expires_at) {
        (Some(iat), Some(exp)) => {
            let (iat, exp, now) = (i128::from(iat), i128::from(exp), i128::from(now));
            exp - now < (exp - iat) / 4
        }
        (_, Some(exp)) => exp < now,
        _ => false,
    };
    flagged || ageing || s.needs_reissuance
}

impl Wallet {
    /// Whether the holder of credential `id` gave a refresh token (a restore lists it as
    /// re-collectable without the citizen).
    pub(crate) fn has_refresh_grant(&self, id: &str) -> Result<bool, Error> {
        let grant_id = self.vault.lookup_id(IssuanceGrant::KIND, id)?;
        Ok(self
            .vault
            .get::<IssuanceGrant>(&grant_id)?
            .is_some_and(|g| g.refresh_token.is_some()))
    }

    /// Refreshes stale credentials (all with `force`) and picks up deferred ones.
    pub async fn refresh(
        &self,
        force: bool,
        options: CollectOptions,
    ) -> Result<RefreshReport, Error> {
        let polled = self.poll_deferred(options.clone()).await?;
        let http = Http::new(options.http.clone())?;
        let now = now_unix();
        let mut metadata: HashMap<String, IssuerMetadata> = HashMap::new();
        let mut report = RefreshReport {
            refreshed: Vec::new(),
            delivered: polled.delivered,
            pending: polled.pending,
            failed: polled.failed,
            fresh: 0,
        };
        for (id, rec) in self.vault.list::<StoredCredential>()? {
            let stored = rec?;
            if !force && !is_stale(&stored, now) {
                report.fresh += 1;
                continue;
            }
            let grant_id = self.vault.lookup_id(IssuanceGrant::KIND, &id)?;
            let Some(grant) = self.vault.get::<IssuanceGrant>(&grant_id)? else {
                report.failed.push(RefreshFailure {
                    id,
                    failure: FailureCode::NoHolder,
                    detail: "imported by hand: no holder to refresh from".into(),
                });
                continue;
            };
            match self
                .refresh_one(
                    &http,
                    &mut metadata,
                    &id,
                    &grant_id,
                    &stored,
                    &grant,
                    &options,
                )
                .await
            {
                Ok(s) => report.refreshed.push(s),
                Err(e) => report.failed.push(RefreshFailure::new(id, &e)),
            }
        }
        Ok(report)
    }

    #[allow(clippy::too_many_arguments)]
    async fn refresh_one(
        &self,
        http: &Http,
        metadata: &mut HashMap<String, IssuerMetadata>,
        id: &str,
        grant_id: &str,
        stored: &StoredCredential,
        grant: &IssuanceGrant,
        options: &CollectOptions,
    ) -> Result<CredentialSummary, Error> {
        let Some(refresh_token) = grant.refresh_token.as_deref() else {
            return Err(Error::Issuance {
                kind: IssuanceFailure::Unsupported,
                reason: "the holder gave no refresh token".into(),
            });
        };
        if !metadata.contains_key(&grant.credential_issuer) {
            let m = IssuerMetadata::fetch(http, &grant.credential_issuer).await?;
            metadata.insert(grant.credential_issuer.clone(), m);
        }
        let meta = metadata
            .get(&grant.credential_issuer)
            .ok_or_else(|| Error::Internal {
                reason: "metadata cache".into(),
            })?;
        let tokens = refresh_token_grant(http, meta, refresh_token).await?;
        let copies = (grant.copies as usize)
            .clamp(1, super::MAX_COPIES)
            .min(meta.batch_size);
        let made = self.made_keys();
        let keys = self.make_copy_keys(copies, &made)?;
        let proofs = |nonce: Option<&str>| self.key_proofs(meta, &keys, nonce);
        let (credentials, notification_id) = match request_credential(
            http,
            meta,
            &tokens,
            &grant.configuration_id,
            &proofs,
        )
        .await?
        {
            CredentialReply::Issued {
                credentials,
                notification_id,
            } => (credentials, notification_id),
            CredentialReply::Deferred {
                transaction_id,
                interval,
            } => poll_until(
                http,
                meta,
                &tokens,
                &transaction_id,
                interval,
                options.deferred_wait,
            )
            .await?
            .ok_or_else(|| Error::Issuance {
                kind: IssuanceFailure::Pending,
                reason: "the holder deferred the refreshed credential; try again later".into(),
            })?,
        };
        let received = self.verify_received(
            &grant.credential_issuer,
            &grant.vct,
            &grant.configuration_id,
            credentials,
            keys,
            notification_id,
        )?;
        let now = now_unix();
        let fresh = received.to_stored(now);
        let old_keys = self.load_keys(stored.key_ids());
        let new_grant = IssuanceGrant {
            credential_issuer: grant.credential_issuer.clone(),
            configuration_id: grant.configuration_id.clone(),
            vct: grant.vct.clone(),
            refresh_token: tokens
                .refresh
                .clone()
                .or_else(|| grant.refresh_token.clone()),
            copies: copies as u32,
        };
        self.vault.write(|tx| {
            if let Some(new) = tokens.refresh.as_deref() {
                rotate_refresh_token(tx, refresh_token, new)?;
            }
            seal_new_keys(tx, &received.keys)?;
            for old in stored.key_ids() {
                tx.delete::<HolderKeyRecord>(old)?;
            }
            tx.put(id, &fresh)?;
            tx.put(grant_id, &new_grant)?;
            audit::append(
                tx,
                now,
                Actor::Citizen,
                AuditEvent::CredentialRefreshed {
                    credential_id: id.to_string(),
                    issuer: fresh.issuer.clone(),
                    vct: fresh.vct.clone(),
                },
            )?;
            Ok(())
        })?;
        made.keep();
        self.forget_holder_keys(&old_keys);
        notify(
            http,
            meta,
            &tokens,
            received.notification_id.as_deref(),
            super::ACCEPTED,
        )
        .await;
        Ok(fresh.summary(id, &self.metadata(), &options.lang))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::HolderBinding;

    fn stored(issued_at: Option<i64>, expires_at: Option<i64>) -> StoredCredential {
        StoredCredential {
            compact: String::new(),
            issuer: "https://holder.test".into(),
            vct: "urn:test:1".into(),
            issued_at,
            expires_at,
            imported_at: 0,
            binding: HolderBinding::ThisWallet,
            holder_key_id: None,
            copies: Vec::new(),
            freshness: None,
            needs_reissuance: false,
        }
    }

    #[test]
    fn a_credential_restored_without_its_key_is_stale() {
        let mut s = stored(Some(0), Some(i64::MAX));
        assert!(!is_stale(&s, 1));
        s.needs_reissuance = true;
        assert!(is_stale(&s, 1));
    }

    #[test]
    fn extreme_issuer_timestamps_do_not_overflow() {
        // A trusted issuer may still write any i64: judging age must not panic (test builds
        // check overflow) nor wrap into a wrong answer.
        let now = 1_800_000_000;
        let cases = [
            (Some(i64::MIN), Some(i64::MAX), false),
            (Some(i64::MAX), Some(i64::MIN), true),
            (Some(i64::MIN), Some(i64::MIN), true),
            (Some(i64::MAX), Some(i64::MAX), false),
            (Some(now - 100), Some(i64::MAX), false),
            (None, Some(i64::MIN), true),
            (Some(now - 1000), Some(now + 100), true),
            (Some(now - 100), Some(now + 1000), false),
        ];
        for (iat, exp, stale) in cases {
            assert_eq!(is_stale(&stored(iat, exp), now), stale, "{iat:?} {exp:?}");
        }
    }
}
