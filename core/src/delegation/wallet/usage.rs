//! Uses of a mandate: the helper logs each one and reports it to the citizen as a sealed receipt;
//! the citizen collects the receipts and logs them.

use kluis_sdjwt::{ClaimPath, IssuerKeys as _, PublicJwk};

use super::records::{IssuedMandate, ReceivedMandate};
use crate::audit::{self, Actor, AuditEvent};
use crate::delegation::receipts;
use crate::http::{Http, HttpPolicy};
use crate::{Error, Wallet};
use kluis_vault::{VaultError, WriteTxn};

impl Wallet {
    /// Reports uses to the citizen as sealed receipts (best effort: the use happened whether or
    /// not the registry takes the receipt; the helper's own log has it).
    pub(crate) async fn report_use(
        &self,
        r: &ReceivedMandate,
        used: &[(String, &Vec<ClaimPath>)],
        aud: &str,
        purpose: Option<&str>,
        now: i64,
        policy: &HttpPolicy,
    ) {
        if let Ok(http) = Http::new(policy.clone()) {
            self.report_use_with(&http, r, used, aud, purpose, now)
                .await;
        }
    }

    /// [`Wallet::report_use`] over `http` (one client for many reports).
    pub(crate) async fn report_use_with(
        &self,
        http: &Http,
        r: &ReceivedMandate,
        used: &[(String, &Vec<ClaimPath>)],
        aud: &str,
        purpose: Option<&str>,
        now: i64,
    ) {
        let (Ok(key), Ok(citizen)) = (self.holder_key(), r.status_key()) else {
            return;
        };
        for (vct, paths) in used {
            let receipt = receipts::Receipt {
                id: kluis_vault::Vault::new_record_id(),
                mandate_id: r.id.clone(),
                at: now,
                audience: aud.to_string(),
                vct: vct.clone(),
                claims: paths.iter().map(|p| p.to_string()).collect(),
                purpose: purpose.map(str::to_string),
                action: None,
            };
            if let Ok(sealed) = receipts::seal_receipt(&key, &citizen, &receipt) {
                let _ = receipts::post_receipt(http, &r.status.uri, &sealed).await;
            }
        }
    }

    /// The citizen's side: fetches the helpers' receipts for every mandate this wallet gave,
    /// and logs each new one (checked against the helper's key) as `MandateUsed`. Best effort:
    /// an unreachable registry leaves them for the next time.
    pub(super) async fn collect_receipts(&self, policy: &HttpPolicy) -> Result<(), Error> {
        let mut issued: Vec<(String, IssuedMandate)> = Vec::new();
        for (id, rec) in self.vault.list::<IssuedMandate>()? {
            issued.push((id, rec?));
        }
        let mut uris: Vec<String> = issued.iter().map(|(_, m)| m.status.uri.clone()).collect();
        uris.sort();
        uris.dedup();
        let key = self.holder_key()?;
        let trust = self.trust_list()?;
        let mut new: Vec<receipts::Receipt> = Vec::new();
        for uri in uris {
            let Ok(sealed) = receipts::fetch_receipts(&uri, policy.clone()).await else {
                continue;
            };
            for jwe in sealed {
                let Ok(jws) = receipts::open_receipt(&jwe, &key) else {
                    continue;
                };
                let Some(mid) = receipts::claimed_mandate(&jws) else {
                    continue;
                };
                let Some((_, m)) = issued.iter().find(|(_, m)| m.id == mid) else {
                    continue;
                };
                // A holder telling what it issued to the helper under the mandate: signed by
                // a key the wallet trusts for that holder, about a collection at that holder.
                if let Some(iss) = receipts::claimed_issuer(&jws) {
                    let keys = trust.keys_for(&iss, None);
                    let Ok(receipt) = receipts::verify_receipt_by(&jws, &keys) else {
                        continue;
                    };
                    if receipt.audience == iss
                        && receipt.action.as_deref() == Some(receipts::COLLECT_ACTION)
                        && receipt.mandate_id == m.id
                        && !m.receipts_seen.contains(&receipt.id)
                        && !new.iter().any(|n| n.id == receipt.id)
                    {
                        new.push(receipt);
                    }
                    continue;
                }
                let Some(helper) = m
                    .helper_jwk
                    .as_ref()
                    .and_then(|j| PublicJwk::from_value(j).ok())
                else {
                    continue;
                };
                let Ok(receipt) = receipts::verify_receipt(&jws, &helper) else {
                    continue;
                };
                // Collections are the holders' to report, not the helper's.
                if receipt.action.is_some() {
                    continue;
                }
                if receipt.mandate_id == m.id
                    && !m.receipts_seen.contains(&receipt.id)
                    && !new.iter().any(|n| n.id == receipt.id)
                {
                    new.push(receipt);
                }
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        new.sort_by_key(|r| r.at);
        self.vault.write(|tx| {
            for (record_id, m) in issued.iter_mut() {
                let mine: Vec<&receipts::Receipt> =
                    new.iter().filter(|r| r.mandate_id == m.id).collect();
                if mine.is_empty() {
                    continue;
                }
                for r in mine {
                    m.receipts_seen.push(r.id.clone());
                    let event = if r.action.as_deref() == Some(receipts::COLLECT_ACTION) {
                        AuditEvent::MandateCollected {
                            mandate_id: m.id.clone(),
                            issuer: r.audience.clone(),
                            vct: r.vct.clone(),
                        }
                    } else {
                        AuditEvent::MandateUsed {
                            mandate_id: m.id.clone(),
                            audience: r.audience.clone(),
                            vct: r.vct.clone(),
                            claims: r.claims.clone(),
                            purpose: r.purpose.clone(),
                        }
                    };
                    audit::append(tx, r.at, Actor::Citizen, event)?;
                }
                tx.put(record_id, &*m)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Logs one use of a mandate (one entry per credential presented).
    pub(crate) fn log_use(
        &self,
        r: &ReceivedMandate,
        used: &[(String, &Vec<ClaimPath>)],
        aud: &str,
        purpose: Option<&str>,
        now: i64,
    ) -> Result<(), Error> {
        self.vault
            .write(|tx| append_use(tx, r, used, aud, purpose, now))?;
        Ok(())
    }
}

/// The log entries of one use of a mandate, in `tx`.
pub(super) fn append_use(
    tx: &mut WriteTxn<'_>,
    r: &ReceivedMandate,
    used: &[(String, &Vec<ClaimPath>)],
    aud: &str,
    purpose: Option<&str>,
    now: i64,
) -> Result<(), VaultError> {
    for (vct, paths) in used {
        audit::append(
            tx,
            now,
            Actor::Citizen,
            AuditEvent::MandateUsed {
                mandate_id: r.id.clone(),
                audience: aud.to_string(),
                vct: vct.clone(),
                claims: paths.iter().map(|p| p.to_string()).collect(),
                purpose: purpose.map(str::to_string),
            },
        )?;
    }
    Ok(())
}
