//! Answering a requesting party's OpenID4VP request on a citizen's behalf: the helper's wallet
//! takes a request verified by [`Wallet::start_presentation`] (signature, scheme listing,
//! response URI — all as for the citizen's own presentations) and answers each DCQL query with a
//! credential under the mandate, disclosing exactly what the query asks, provided all of it is
//! inside the mandate's scope and inside the party's registration for its stated purpose (the
//! rules of the citizen's own answers; a helper cannot allow more). Queries not covered are left
//! unanswered; if a required one is among them nothing is sent.
//!
//! Here, above delegation, not in it: it uses the mandates (`crate::delegation`) and the
//! presentation session, and delegation's verifier rules are used by the OpenID4VP verifier.

use std::collections::{BTreeMap, BTreeSet};

use kluis_sdjwt::ClaimPath;

use super::response::{post_response, response_form, vp_token};
use super::session::{answers, asked_paths, sets_satisfied};
use super::{DisclosedCredential, PresentationOutcome, PresentationRequest};
use crate::delegation::{short_id, ReceivedMandate};
use crate::http::{Http, HttpPolicy};
use crate::{now_unix, Error, Wallet};

/// A response built on a citizen's behalf, not yet sent.
pub(crate) struct OnBehalfResponse {
    form: super::response::Form,
    disclosed: Vec<DisclosedCredential>,
    used: Vec<(String, Vec<ClaimPath>)>,
    record: ReceivedMandate,
    now: i64,
}

impl Wallet {
    /// Answers a verified presentation request as a helper under mandate `mandate_id`, and logs
    /// each credential presented (`MandateUsed`). The party's `client_id` must be allowed by the
    /// mandate, and its stated purpose too when the mandate lists purposes.
    pub async fn accept_presentation_on_behalf(
        &self,
        mandate_id: &str,
        req: &PresentationRequest,
        policy: HttpPolicy,
    ) -> Result<PresentationOutcome, Error> {
        let _turn = self.answering.lock().await;
        let built = self
            .build_response_on_behalf(mandate_id, req, policy.clone())
            .await?;
        let http = Http::new(policy.clone())?;
        // Sent once; whatever may have reached the party is logged (docs/PRESENTING.md).
        let posted = post_response(&http, &req.request.response_uri, &built.form).await?;
        self.finish_on_behalf(req, &built, &policy).await?;
        let ack = posted.into_ack()?;
        Ok(PresentationOutcome {
            client_id: req.request.client_id.full.clone(),
            disclosed: built.disclosed,
            ack,
        })
    }

    /// As [`Wallet::accept_presentation_on_behalf`] for a request that came over the citizen's
    /// session QR channel (in person).
    pub async fn accept_session_presentation_on_behalf(
        &self,
        mandate_id: &str,
        req: &PresentationRequest,
        channel: &dyn super::proximity::SessionChannel,
        policy: HttpPolicy,
    ) -> Result<Vec<DisclosedCredential>, Error> {
        let _turn = self.answering.lock().await;
        let built = self
            .build_response_on_behalf(mandate_id, req, policy.clone())
            .await?;
        // A channel that fails may still have delivered it: recorded all the same.
        let sent = channel
            .send_response(super::session_qr::form_bytes(&built.form))
            .await;
        self.finish_on_behalf(req, &built, &policy).await?;
        sent?;
        Ok(built.disclosed)
    }

    async fn finish_on_behalf(
        &self,
        req: &PresentationRequest,
        built: &OnBehalfResponse,
        policy: &HttpPolicy,
    ) -> Result<(), Error> {
        let aud = req.request.client_id.full.as_str();
        let purpose = req.stated_purpose.as_deref();
        let used: Vec<(String, &Vec<ClaimPath>)> =
            built.used.iter().map(|(v, p)| (v.clone(), p)).collect();
        self.log_use(&built.record, &used, aud, purpose, built.now)?;
        // Answered: never again, as for the citizen's own answers.
        self.record_answered_nonce(&req.request)?;
        self.report_use(&built.record, &used, aud, purpose, built.now, policy)
            .await;
        Ok(())
    }

    /// What [`Wallet::accept_presentation_on_behalf`] would send for `req` under mandate
    /// `mandate_id`, per query and credential, built the same way but not sent, logged or
    /// recorded: the helper's consent screen. The same refusals as answering.
    pub async fn preview_presentation_on_behalf(
        &self,
        mandate_id: &str,
        req: &PresentationRequest,
        policy: HttpPolicy,
    ) -> Result<Vec<DisclosedCredential>, Error> {
        Ok(self
            .build_response_on_behalf(mandate_id, req, policy)
            .await?
            .disclosed)
    }

    /// Checks the mandate (valid, not revoked) and builds the answer: each query fully inside
    /// the scope answered by a credential under the mandate; nothing if a required one is not.
    async fn build_response_on_behalf(
        &self,
        mandate_id: &str,
        req: &PresentationRequest,
        policy: HttpPolicy,
    ) -> Result<OnBehalfResponse, Error> {
        let now = now_unix();
        self.ensure_answerable(&req.request)?;
        // A confirmation (a mortgage offer) is the citizen's own act: a mandate shares data, it
        // does not sign for the citizen.
        if !req.request.transaction_data.is_empty() {
            return Err(Error::invalid_input(
                "the party asks to confirm a transaction, which only the citizen can do (not under a mandate): nothing was sent",
            ));
        }
        let (record_id, r) = self.received_mandate(mandate_id)?;
        self.ensure_usable(&record_id, &r, policy).await?;
        let key = self.holder_key()?;
        let aud = req.request.client_id.full.as_str();
        let nonce = req.request.nonce.as_str();
        let purpose = req.stated_purpose.as_deref();
        // The freshest copy answers first: one collected at its holder under the mandate
        // (docs/DELEGATION.md §8), the newest first, then the packaged ones.
        let mut ordered: Vec<_> = r.credentials.iter().collect();
        ordered.sort_by_key(|rc| std::cmp::Reverse(rc.collected_at));
        let creds = ordered
            .into_iter()
            .map(|rc| Ok((rc, self.on_behalf(&r, rc)?)))
            .collect::<Result<Vec<_>, Error>>()?;

        // What answers which query first: every KB-JWT names the answer's keys (association).
        let mut chosen = Vec::new();
        let mut answered = BTreeSet::new();
        for q in &req.request.dcql.credentials {
            for (rc, c) in &creds {
                let vct = c.credential.vct();
                if !q.vct_values.is_empty() && !q.vct_values.iter().any(|v| v == vct) {
                    continue;
                }
                if answers(q, vct, c.credential.claims()).is_none() {
                    continue;
                }
                let asked = asked_paths(q, vct, c.credential.claims());
                if let Some(allowed) = c.allowed_paths()? {
                    if !asked
                        .iter()
                        .all(|p| allowed.iter().any(|a| a.is_prefix_of(p)))
                    {
                        continue; // the party asks more than the mandate allows
                    }
                }
                if !asked
                    .iter()
                    .all(|p| req.within_registration(vct, &p.to_string()))
                {
                    continue; // ... or more than its registration for this purpose
                }
                chosen.push((q.id.clone(), *rc, c, asked));
                answered.insert(q.id.clone());
                if !q.multiple {
                    break;
                }
            }
        }
        if !sets_satisfied(&req.request.dcql, &answered) {
            return Err(Error::invalid_input(format!(
                "mandate {} does not cover what the party asks (within the mandate's scope and the party's registration): nothing was sent",
                short_id(mandate_id)
            )));
        }
        // The helper's key signs every KB-JWT of this answer.
        let helper = key.public_jwk();
        let association = super::association::kb_claims(&vec![&helper; chosen.len()]);
        let mut tokens: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut disclosed = Vec::new();
        let mut used: Vec<(String, Vec<ClaimPath>)> = Vec::new();
        for (query_id, rc, c, asked) in chosen {
            // Party, purpose, action and time are checked here; a refusal stops everything.
            let p = c.present(&asked, nonce, aud, purpose, &key, now, &association)?;
            // What leaves is what the presentation shows, always-visible claims included.
            // `on_behalf_of` of a collected credential is the delegation's envelope (the
            // citizen's key and the mandate id, which the KB-JWT's mandate names too), not the
            // citizen's data: not judged against the registration, not listed as shared.
            let shared: Vec<String> = crate::disclosure::accounted(&c.credential, &p)?
                .into_iter()
                .filter(|s| !is_envelope(s))
                .collect();
            if let Some(p) = shared
                .iter()
                .find(|p| !req.within_registration(c.credential.vct(), p))
            {
                return Err(Error::invalid_input(format!(
                    "claim {p} would leave the phone with this credential (it is always visible) but is outside the party's registration for this purpose: nothing was sent"
                )));
            }
            tokens.entry(query_id.clone()).or_default().push(p);
            used.push((
                c.credential.vct().to_string(),
                shared
                    .iter()
                    .filter_map(|s| ClaimPath::parse(s).ok())
                    .collect(),
            ));
            disclosed.push(DisclosedCredential {
                query_id,
                credential_id: rc.id.clone(),
                claims: shared,
                copy: 0,
                // The helper's key: a deletion is the citizen's to ask.
                holder_key: None,
            });
        }
        let form = response_form(&req.request, &vp_token(&tokens))?;
        Ok(OnBehalfResponse {
            form,
            disclosed,
            used,
            record: r,
            now,
        })
    }
}

/// Whether a shared path is the `on_behalf_of` claim (or under it).
fn is_envelope(path: &str) -> bool {
    let claim = crate::delegation::collect::ON_BEHALF_OF_CLAIM;
    path.strip_prefix('/')
        .and_then(|p| p.strip_prefix(claim))
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}
