//! What the vault keeps of a presentation, in one transaction: the audit entries, the answered
//! nonce (a replayed request is refused) and the batch copies used.

use kluis_vault::Record;

use super::{AnsweredNonce, BuiltResponse, CopyUse, PresentationRequest};
use crate::audit::{self, Actor, AuditEvent, DeclineReason, Delivery};
use crate::openid4vp::client_id::SKEW_SECS;
use crate::openid4vp::request::refused;
use crate::openid4vp::request::VerifiedRequest;
use crate::{now_unix, Error, RequestRefusal, Wallet};

impl Wallet {
    fn nonce_key(request: &VerifiedRequest) -> String {
        format!("{}\n{}", request.client_id.full, request.nonce)
    }

    /// Marks the request's nonce answered (a helper's answer; the citizen's own answers do it
    /// in the same transaction as their audit entries).
    pub(crate) fn record_answered_nonce(&self, request: &VerifiedRequest) -> Result<(), Error> {
        let id = self
            .vault
            .lookup_id(AnsweredNonce::KIND, &Self::nonce_key(request))?;
        self.vault
            .write(|tx| tx.put(&id, &AnsweredNonce { at: now_unix() }))?;
        Ok(())
    }

    /// Refuses a request whose nonce was answered or declined before (a replay, a second tap, a
    /// request view the app kept): nothing is sent again.
    pub(crate) fn ensure_unanswered(&self, request: &VerifiedRequest) -> Result<(), Error> {
        if self.nonce_answered(request)? {
            return Err(refused(RequestRefusal::ReplayedNonce,
                "this request's nonce was already answered (a replayed request): nothing is sent again",
            ));
        }
        Ok(())
    }

    /// [`Wallet::ensure_unanswered`], and the request not past its (effective) expiry.
    pub(crate) fn ensure_answerable(&self, request: &VerifiedRequest) -> Result<(), Error> {
        if request.exp + SKEW_SECS < now_unix() {
            return Err(refused(RequestRefusal::Expired, "the request has expired"));
        }
        self.ensure_unanswered(request)
    }

    fn nonce_answered(&self, request: &VerifiedRequest) -> Result<bool, Error> {
        let id = self
            .vault
            .lookup_id(AnsweredNonce::KIND, &Self::nonce_key(request))?;
        Ok(self.vault.get::<AnsweredNonce>(&id)?.is_some())
    }

    /// Records a sent presentation: audit entries (one per credential), the answered nonce and
    /// the copies used, in one vault transaction.
    pub fn record_presentation(
        &self,
        req: &PresentationRequest,
        built: &BuiltResponse,
    ) -> Result<(), Error> {
        self.record_delivery(req, built, None)
    }

    /// As [`Wallet::record_presentation`], noting what became of it (`delivery`): a response
    /// that may have reached the party is logged like one that did.
    pub fn record_delivery(
        &self,
        req: &PresentationRequest,
        built: &BuiltResponse,
        delivery: Option<Delivery>,
    ) -> Result<(), Error> {
        let now = now_unix();
        let nonce_id = self
            .vault
            .lookup_id(AnsweredNonce::KIND, &Self::nonce_key(&req.request))?;
        let mut uses = Vec::new();
        for d in &built.disclosed {
            let use_id = self.vault.lookup_id(CopyUse::KIND, &d.credential_id)?;
            let mut usage = self.vault.get::<CopyUse>(&use_id)?.unwrap_or_default();
            let i = d.copy as usize;
            if usage.last_used.len() <= i {
                usage.last_used.resize(i + 1, 0);
            }
            // Strictly increasing, so two presentations in the same second still rotate.
            let max = usage.last_used.iter().copied().max().unwrap_or(0);
            usage.last_used[i] = now.max(max + 1);
            uses.push((use_id, usage));
        }
        self.vault.write(|tx| {
            tx.put(&nonce_id, &AnsweredNonce { at: now })?;
            for (id, u) in &uses {
                tx.put(id, u)?;
            }
            for d in &built.disclosed {
                audit::append(
                    tx,
                    now,
                    Actor::Citizen,
                    AuditEvent::Disclosed {
                        credential_id: d.credential_id.clone(),
                        audience: req.request.client_id.full.clone(),
                        claims: d.claims.clone(),
                        purpose: req.stated_purpose.clone(),
                        retention_days: req.retention_days,
                        channel: Some(req.channel),
                        delivery,
                        holder_key: d.holder_key.clone(),
                    },
                )?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Logs a decline (and marks the nonce answered) without sending anything (other channels).
    pub fn record_decline(&self, req: &PresentationRequest) -> Result<(), Error> {
        self.record_decline_because(req, DeclineReason::Citizen)
    }

    /// As [`Wallet::record_decline`], saying who decided.
    pub fn record_decline_because(
        &self,
        req: &PresentationRequest,
        reason: DeclineReason,
    ) -> Result<(), Error> {
        let nonce_id = self
            .vault
            .lookup_id(AnsweredNonce::KIND, &Self::nonce_key(&req.request))?;
        self.vault.write(|tx| {
            tx.put(&nonce_id, &AnsweredNonce { at: now_unix() })?;
            audit::append(
                tx,
                now_unix(),
                Actor::Citizen,
                AuditEvent::PresentationDeclined {
                    audience: req.request.client_id.full.clone(),
                    purpose: req.stated_purpose.clone(),
                    channel: req.channel,
                    reason: Some(reason),
                },
            )
            .map(|_| ())
        })?;
        Ok(())
    }
}
