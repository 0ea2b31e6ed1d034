//! The helper collects for the citizen at a holder under a mandate ("Blauwe Knop Plus",
//! docs/DELEGATION.md §8): OAuth 2.0 Token Exchange (RFC 8693) with the mandate as subject
//! token and a proof of the helper's key as actor token, then the usual OpenID4VCI credential
//! request with a key proof by the helper's key. What the holder issues is bound to the
//! helper's key, says on whose behalf it is held (`on_behalf_of`) and is kept with the mandate,
//! apart from the helper's own credentials.

use kluis_sdjwt::{Credential, VerifyOptions};
use reqwest::StatusCode;
use serde::Serialize;

use super::records::{ReceivedCredential, ReceivedMandate};
use super::{delegation_err, short_id, MandateCredential};
use crate::audit::{self, Actor, AuditEvent};
use crate::delegation::collect::{
    sign_actor_proof, verify_collected_mandate, OnBehalfOf, JWT_TOKEN_TYPE, MANDATE_TOKEN_TYPE,
    TOKEN_EXCHANGE_GRANT,
};
use crate::delegation::mandate::Action;
use crate::delegation::DelegationError;
use crate::http::{self, Http};
use crate::issuance::{
    key_proof, notify, poll_until, request_credential, token_reply, CollectOptions,
    CredentialReply, IssuerMetadata, Tokens, ACCEPTED, FAILURE,
};
use crate::{now_unix, Error, IssuanceFailure, NetworkFailure, Wallet};
use kluis_vault::{VaultError, WriteTxn};

/// What [`Wallet::collect_on_behalf`] stored under the mandate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnBehalfCollection {
    /// The mandate collected under.
    pub mandate_id: String,
    /// The holder.
    pub issuer: String,
    /// The credentials stored (replacing ones collected earlier of the same type there).
    pub collected: Vec<MandateCredential>,
}

/// What a holder delivered under a mandate, verified, not yet stored; with what is needed to
/// tell the holder what became of it.
pub(super) struct Delivery {
    /// The holder (its metadata's `credential_issuer`).
    pub(super) issuer: String,
    pub(super) received: Vec<ReceivedCredential>,
    meta: IssuerMetadata,
    tokens: Tokens,
    notifications: Vec<Option<String>>,
}

impl Delivery {
    /// Tells the holder what became of each credential (best effort).
    pub(super) async fn tell_holder(&self, http: &Http, event: &str) {
        for id in &self.notifications {
            notify(http, &self.meta, &self.tokens, id.as_deref(), event).await;
        }
    }

    /// Tells the holder the credentials were stored.
    pub(super) async fn accepted(&self, http: &Http) {
        self.tell_holder(http, ACCEPTED).await;
    }

    /// Tells the holder the credentials were not kept.
    pub(super) async fn not_kept(&self, http: &Http) {
        self.tell_holder(http, FAILURE).await;
    }
}

impl Wallet {
    /// Collects fresh credentials for the citizen from holder `issuer` under received mandate
    /// `mandate_id`: the types in `types` (empty: every type of the mandate's scope the holder
    /// issues). Needs `refresh` in the scope and the mandate valid and not revoked (checked
    /// before asking and again before storing: a mandate revoked meanwhile keeps nothing new,
    /// and the package is dropped). The holder accepts the mandate that travels with a
    /// credential it issued to the citizen (signed by that credential's key); what it issues is
    /// bound to this wallet's key. Logged (`mandate_collected`); the citizen hears of it from the
    /// holder (its signed receipt), not from this wallet. On any failure nothing is stored.
    pub async fn collect_on_behalf(
        &self,
        mandate_id: &str,
        issuer: &str,
        types: &[String],
        options: CollectOptions,
    ) -> Result<OnBehalfCollection, Error> {
        let (record_id, r) = self.received_mandate(mandate_id)?;
        let issuer = issuer.trim_end_matches('/');
        subject_token(&r, issuer, types)?;
        let policy = options.http.clone();
        self.ensure_usable(&record_id, &r, policy.clone()).await?;

        let http = Http::new(policy.clone())?;
        let meta = IssuerMetadata::fetch(&http, issuer).await?;
        let delivery = self
            .fetch_on_behalf(&r, issuer, &meta, types, &options, &http)
            .await?;
        // Revoked (or expired) while collecting: keep nothing new.
        if let Err(e) = self.ensure_usable(&record_id, &r, policy).await {
            delivery.not_kept(&http).await;
            return Err(e);
        }
        let (record_id, mut fresh) = self.received_mandate(mandate_id)?;
        self.vault
            .write(|tx| keep_delivered(tx, &record_id, &mut fresh, &[&delivery], now_unix()))?;
        delivery.accepted(&http).await;
        Ok(OnBehalfCollection {
            mandate_id: fresh.id.clone(),
            issuer: delivery.issuer.clone(),
            collected: delivery
                .received
                .iter()
                .map(|c| MandateCredential {
                    id: c.id.clone(),
                    vct: c.vct.clone(),
                    issuer: c.issuer.clone(),
                })
                .collect(),
        })
    }

    /// Asks holder `issuer` (its metadata `meta`) for the types in `types` (empty: all of the
    /// scope it issues) under mandate `r`, and verifies what it sends; stores nothing. The
    /// caller checks the mandate's status before and after, stores the [`Delivery`] and tells
    /// the holder. A credential that does not verify fails it all (the holder told at once).
    pub(super) async fn fetch_on_behalf(
        &self,
        r: &ReceivedMandate,
        issuer: &str,
        meta: &IssuerMetadata,
        types: &[String],
        options: &CollectOptions,
        http: &Http,
    ) -> Result<Delivery, Error> {
        let subject = subject_token(r, issuer, types)?;
        let listed = self.listed_holder(&meta.credential_issuer)?;
        let mut configs: Vec<(String, String, String)> = meta
            .configs
            .iter()
            .filter(|(_, c)| r.scope.vct.contains(&c.vct))
            .filter(|(_, c)| types.is_empty() || types.contains(&c.vct))
            .map(|(id, c)| {
                (
                    id.clone(),
                    c.vct.clone(),
                    c.scope.clone().unwrap_or(id.clone()),
                )
            })
            .collect();
        configs.sort();
        if configs.is_empty() {
            return Err(Error::not_found(format!(
                "a credential type of the mandate's scope at {}",
                http::shorten(issuer)
            )));
        }
        if let Some(h) = &listed {
            if let Some((_, vct, _)) = configs
                .iter()
                .find(|(_, v, _)| !h.credential_types.contains(v))
            {
                return Err(Error::InvalidCredential {
                    reason: format!(
                        "the scheme does not list type {vct} for issuer {}",
                        meta.credential_issuer
                    ),
                });
            }
        }

        // The token exchange: the mandate as subject, the helper's proof as actor.
        let key = self.holder_key()?;
        let me = key.public_jwk();
        let now = now_unix();
        let actor = sign_actor_proof(
            &key,
            meta.token_endpoint.as_str(),
            &kluis_vault::Vault::new_record_id(),
            now,
        )
        .map_err(delegation_err)?;
        let scope = configs
            .iter()
            .map(|(_, _, s)| s.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let form = [
            ("grant_type", TOKEN_EXCHANGE_GRANT),
            ("subject_token", subject.as_str()),
            ("subject_token_type", MANDATE_TOKEN_TYPE),
            ("actor_token", actor.as_str()),
            ("actor_token_type", JWT_TOKEN_TYPE),
            ("scope", scope.as_str()),
        ];
        let reply = http.post_form(&meta.token_endpoint, &form).await?;
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            // The holder could not check the mandate's status (its registry down): fail closed.
            return Err(Error::Network {
                kind: NetworkFailure::Unavailable { status: 503 },
                reason: format!(
                    "the holder could not check the mandate now ({})",
                    reply.oauth_error()
                ),
            });
        }
        let tokens = token_reply(reply, "mandate")?;

        // One copy per type, bound to this wallet's key (the mandate's helper key).
        let mut delivered = Vec::new();
        for (config, vct, _) in &configs {
            let proofs = |nonce: Option<&str>| {
                let proof = key_proof(meta, &me, nonce, now_unix())?;
                Ok(vec![proof.sign(&key).map_err(|_| Error::Internal {
                    reason: "key proof: signing".into(),
                })?])
            };
            let (credentials, notification_id) =
                match request_credential(http, meta, &tokens, config, &proofs).await? {
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
                        reason: "the holder is still preparing the credential; collect again later"
                            .into(),
                    })?,
                };
            delivered.push((vct.clone(), credentials, notification_id));
        }
        let mut delivery = Delivery {
            issuer: meta.credential_issuer.clone(),
            received: Vec::new(),
            meta: meta.clone(),
            tokens,
            notifications: delivered.iter().map(|(_, _, n)| n.clone()).collect(),
        };

        // Verify all of it: the issuer, bound to this wallet's key, the type, and held on this
        // citizen's behalf under this mandate (the same check a verifier makes).
        let trust = self.trust_list()?;
        for (vct, credentials, _) in &delivered {
            for compact in credentials {
                match self.check_collected(&trust, compact, vct, &me, &subject, r) {
                    Ok(c) => delivery.received.push(c),
                    Err(e) => {
                        delivery.not_kept(http).await;
                        return Err(e);
                    }
                }
            }
        }
        Ok(delivery)
    }

    /// One credential a holder sent under the mandate, verified as a verifier would.
    fn check_collected(
        &self,
        trust: &crate::trust::TrustList,
        compact: &str,
        vct: &str,
        me: &kluis_sdjwt::PublicJwk,
        mandate: &str,
        r: &ReceivedMandate,
    ) -> Result<ReceivedCredential, Error> {
        let now = now_unix();
        let c = Credential::verify_issued(compact, trust, now, &VerifyOptions::default())
            .map_err(|e| Error::from_credential(e, compact))?;
        if c.vct() != vct {
            return Err(Error::InvalidCredential {
                reason: format!("the holder sent type {} for {vct}", c.vct()),
            });
        }
        if c.holder_jwk() != Some(me) {
            return Err(Error::InvalidCredential {
                reason: "the holder bound the credential to another key than this wallet's".into(),
            });
        }
        let on_behalf = OnBehalfOf::from_claims(c.claims())
            .map_err(delegation_err)?
            .ok_or_else(|| {
                delegation_err(DelegationError::OnBehalf(
                    "the holder did not say on whose behalf it is held (on_behalf_of)",
                ))
            })?;
        let m = verify_collected_mandate(mandate, me, &on_behalf).map_err(delegation_err)?;
        if m.id != r.id {
            return Err(delegation_err(DelegationError::OnBehalf(
                "the credential was issued under another mandate",
            )));
        }
        Ok(ReceivedCredential {
            id: hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(compact.as_bytes())[..8]),
            vct: c.vct().to_string(),
            issuer: c.issuer().to_string(),
            compact: compact.to_string(),
            mandate: mandate.to_string(),
            collected_at: Some(now),
        })
    }
}

/// The mandate that came with a credential holder `issuer` issued to the citizen: the subject
/// token of the exchange (a holder accepts only that one), once the scope allows collecting
/// `types` there.
fn subject_token(r: &ReceivedMandate, issuer: &str, types: &[String]) -> Result<String, Error> {
    if !r.scope.allows(Action::Refresh) {
        return Err(delegation_err(DelegationError::ActionNotAllowed(
            Action::Refresh.as_str(),
        )));
    }
    if let Some(t) = types.iter().find(|t| !r.scope.vct.contains(t)) {
        return Err(delegation_err(DelegationError::TypeOutOfScope(t.clone())));
    }
    Ok(r.credentials
        .iter()
        .find(|c| c.issuer == issuer)
        .ok_or_else(|| {
            Error::not_found(format!(
                "a credential from {} under mandate {} (a holder accepts only the mandate \
                 that came with a credential it issued to the citizen)",
                http::shorten(issuer),
                short_id(&r.id)
            ))
        })?
        .mandate
        .clone())
}

/// Stores `deliveries` under mandate record `fresh` (replacing what was collected earlier of
/// the same types at the same holders) and logs each type collected.
pub(super) fn keep_delivered(
    tx: &mut WriteTxn<'_>,
    record_id: &str,
    fresh: &mut ReceivedMandate,
    deliveries: &[&Delivery],
    now: i64,
) -> Result<(), VaultError> {
    for d in deliveries {
        fresh.credentials.retain(|c| {
            !(c.collected_at.is_some()
                && c.issuer == d.issuer
                && d.received.iter().any(|n| n.vct == c.vct))
        });
        fresh.credentials.extend(d.received.iter().cloned());
    }
    tx.put(record_id, &*fresh)?;
    for d in deliveries {
        let mut vcts: Vec<&str> = d.received.iter().map(|c| c.vct.as_str()).collect();
        vcts.dedup();
        for vct in vcts {
            audit::append(
                tx,
                now,
                Actor::Citizen,
                AuditEvent::MandateCollected {
                    mandate_id: fresh.id.clone(),
                    issuer: d.issuer.clone(),
                    vct: vct.to_string(),
                },
            )?;
        }
    }
    Ok(())
}
