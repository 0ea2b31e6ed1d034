//! The response for the citizen's choice, checked against the request: built, not sent.

use std::collections::{BTreeMap, BTreeSet};

use kluis_sdjwt::{ClaimPath, Credential, VerifyOptions};

use super::choice::restrict;
use super::{answers, asked_paths, sets_satisfied};
use super::{BuiltResponse, CopyUse, DisclosedCredential, PresentationChoice, PresentationRequest};
use crate::credentials::StoredCredential;
use crate::holder_key::HolderKey;
use crate::openid4vp::association;
use crate::openid4vp::client_id::clean;
use crate::openid4vp::response::{response_form, vp_token};
use crate::openid4vp::transaction_data;
use crate::{now_unix, Error, Wallet};
use kluis_vault::Record;

impl Wallet {
    /// Builds the response for the citizen's choice, checking it against the request; changes
    /// nothing in the vault and sends nothing.
    pub fn build_presentation_response(
        &self,
        req: &PresentationRequest,
        choice: &PresentationChoice,
    ) -> Result<BuiltResponse, Error> {
        let dcql = &req.request.dcql;
        let now = now_unix();
        self.ensure_answerable(&req.request)?;
        let trust = self.trust_list()?;
        // Each chosen credential's copy and key first: every KB-JWT names all the answer's keys.
        let mut chosen: Vec<Chosen> = Vec::new();
        let mut answered = BTreeSet::new();
        for (qid, qc) in &choice.queries {
            let q = dcql
                .credentials
                .iter()
                .find(|q| q.id == *qid)
                .ok_or_else(|| {
                    Error::invalid_input(format!("the request has no query '{}'", clean(qid)))
                })?;
            let view = req.queries.iter().find(|v| v.query_id == *qid);
            if qc.credential_ids.is_empty() {
                continue;
            }
            if qc.credential_ids.len() > 1 && !q.multiple {
                return Err(Error::invalid_input(format!(
                    "query '{qid}' takes one credential"
                )));
            }
            let paths = qc
                .claims
                .iter()
                .map(|p| {
                    ClaimPath::parse(p)
                        .map_err(|e| Error::invalid_input(format!("claim path {p:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for cid in &qc.credential_ids {
                if !view.is_some_and(|v| v.candidates.iter().any(|c| c.credential_id == *cid)) {
                    return Err(Error::invalid_input(format!(
                        "credential {} does not answer query '{qid}'",
                        clean(cid)
                    )));
                }
                let stored = self.stored(cid)?;
                let primary = self.parsed(&stored)?;
                let asked = asked_paths(q, &stored.vct, primary.claims());
                for p in &paths {
                    if !asked.iter().any(|a| a.is_prefix_of(p)) {
                        return Err(Error::invalid_input(format!(
                            "claim {p} was not asked in query '{qid}': the wallet adds nothing"
                        )));
                    }
                    if !choice.allow_outside_registration
                        && !req.within_registration(&stored.vct, &p.to_string())
                    {
                        return Err(Error::invalid_input(format!(
                            "claim {p} is outside the party's registration for this purpose (allow it explicitly to share it)"
                        )));
                    }
                }
                if answers(q, &stored.vct, &restrict(primary.claims(), &paths)).is_none() {
                    return Err(Error::invalid_input(format!(
                        "the chosen claims do not answer query '{qid}' (a claim it needs was left out)"
                    )));
                }
                let (copy, compact, key) = self.pick_copy(cid, &stored)?;
                let credential = if copy == 0 {
                    primary
                } else {
                    Credential::verify_issued(
                        &compact,
                        &trust,
                        stored.imported_at,
                        &VerifyOptions::default(),
                    )
                    .map_err(|e| Error::from_credential(e, &compact))?
                };
                chosen.push(Chosen {
                    query_id: qid.clone(),
                    credential_id: cid.clone(),
                    vct: stored.vct.clone(),
                    paths: paths.clone(),
                    copy,
                    credential,
                    key,
                });
            }
            answered.insert(qid.clone());
        }
        if !sets_satisfied(dcql, &answered) {
            return Err(Error::invalid_input(
                "a required query is unanswered: nothing was sent",
            ));
        }
        // Each transaction the citizen was shown is confirmed by the first answered query that
        // may confirm it; an answer that leaves all of them out cannot confirm it.
        let mut confirms: BTreeMap<&str, Vec<&transaction_data::TransactionData>> = BTreeMap::new();
        for (i, t) in req.request.transaction_data.iter().enumerate() {
            let qid = transaction_data::authorizing_query(t, &answered).ok_or_else(|| {
                Error::invalid_input(format!(
                    "the party asks you to confirm transaction {} with a credential of query {}: answer one of them, or decline",
                    i + 1,
                    t.credential_ids.iter().map(|q| format!("'{}'", clean(q))).collect::<Vec<_>>().join(" or ")
                ))
            })?;
            confirms.entry(qid).or_default().push(t);
        }
        let signers: Vec<&kluis_sdjwt::PublicJwk> = chosen.iter().map(|c| &c.key.public).collect();
        let association = association::kb_claims(&signers);
        let mut tokens: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut disclosed = Vec::new();
        for c in &chosen {
            let mut extra = association.clone();
            // Only the query's first presentation confirms (§5.1: one credential authorizes).
            if !tokens.contains_key(&c.query_id) {
                if let Some(ts) = confirms.get(c.query_id.as_str()) {
                    extra.extend(transaction_data::kb_claims(ts));
                }
            }
            let unsigned = c
                .credential
                .prepare_presentation_with(
                    &c.paths,
                    &req.request.nonce,
                    &req.request.audience(),
                    now,
                    &extra,
                )
                .map_err(|e| Error::invalid_input(e.to_string()))?;
            let presentation = self.sign_presentation(&c.key, unsigned)?;
            // What leaves is what this presentation shows, always-visible claims included:
            // that is what the registration is checked against and what is logged.
            let shared = crate::disclosure::accounted(&c.credential, &presentation)?;
            if !choice.allow_outside_registration {
                if !req.registered.contains_key(&c.vct) {
                    return Err(Error::invalid_input(format!(
                        "credential type {} is outside the party's registration for this purpose (allow it explicitly to share it)",
                        clean(&c.vct)
                    )));
                }
                if let Some(p) = shared.iter().find(|p| !req.within_registration(&c.vct, p)) {
                    return Err(Error::invalid_input(format!(
                        "claim {p} leaves the phone with this credential (it is always visible) but is outside the party's registration for this purpose (allow it explicitly to share it)"
                    )));
                }
            }
            tokens
                .entry(c.query_id.clone())
                .or_default()
                .push(presentation);
            disclosed.push(DisclosedCredential {
                query_id: c.query_id.clone(),
                credential_id: c.credential_id.clone(),
                claims: shared,
                copy: c.copy,
                holder_key: Some(c.key.id.clone()),
            });
        }
        let vp = vp_token(&tokens);
        let form = response_form(&req.request, &vp)?;
        Ok(BuiltResponse {
            vp_token: vp,
            form,
            disclosed,
        })
    }

    /// The batch copy to use: one never presented, else the least recently presented.
    fn pick_copy(
        &self,
        id: &str,
        stored: &StoredCredential,
    ) -> Result<(u32, String, HolderKey), Error> {
        let use_id = self.vault.lookup_id(CopyUse::KIND, id)?;
        let usage = self.vault.get::<CopyUse>(&use_id)?.unwrap_or_default();
        let n = 1 + stored.copies.len();
        let last = |i: usize| usage.last_used.get(i).copied().unwrap_or(0);
        let i = (0..n).min_by_key(|&i| (last(i), i)).unwrap_or(0);
        if i == 0 {
            let key = self.credential_key(stored.key_id()?)?;
            return Ok((0, stored.compact.clone(), key));
        }
        let c = &stored.copies[i - 1];
        let key = self.load_holder_key(&c.holder_key_id)?;
        Ok((i as u32, c.compact.clone(), key))
    }
}

/// A credential chosen for the answer, with the copy and the key that will present it.
struct Chosen {
    query_id: String,
    credential_id: String,
    vct: String,
    paths: Vec<ClaimPath>,
    copy: u32,
    credential: Credential,
    key: HolderKey,
}
