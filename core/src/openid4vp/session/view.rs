//! What the citizen sees: the request fetched (remote) or given (other channels), verified
//! against the scheme, refused and logged, or matched against the vault and described.

use std::collections::{BTreeMap, BTreeSet};

use kluis_sdjwt::{ClaimPath, Credential, VerifyOptions};

use super::answers;
use super::choice::restrict;
use super::{
    CandidateStatus, CandidateView, ClaimRequest, Flag, PartyView, PresentationRequest,
    PurposeView, QueryView, TransactionView, STALE_AFTER_SECS,
};
use crate::audit::{self, Actor, AuditEvent, Channel};
use crate::credentials::{HolderBinding, StoredCredential};
use crate::http::{Http, HttpPolicy};
use crate::openid4vp::client_id::clean;
use crate::openid4vp::dcql::{match_query, Candidate, DcqlQuery};
use crate::openid4vp::request::refused;
use crate::openid4vp::request::{
    fetch_request_object, parse_request_link, reason_code, verify_request_object, RequestTrust,
    VerifiedRequest,
};
use crate::status::CredentialState;
use crate::{now_unix, Error, RequestRefusal, Wallet};

struct Loaded {
    id: String,
    stored: StoredCredential,
    credential: Credential,
}

impl Wallet {
    /// Starts a remote presentation from an `openid4vp://` link: fetches the signed request
    /// object, verifies it against the scheme and matches its query against the vault. Refusals
    /// are logged (`PresentationRefused`); nothing is sent.
    pub async fn start_presentation(
        &self,
        uri: &str,
        lang: &str,
    ) -> Result<PresentationRequest, Error> {
        self.start_presentation_with(uri, lang, HttpPolicy::default())
            .await
    }

    /// As [`Wallet::start_presentation`] with an explicit HTTP policy.
    pub async fn start_presentation_with(
        &self,
        uri: &str,
        lang: &str,
        policy: HttpPolicy,
    ) -> Result<PresentationRequest, Error> {
        let link = match parse_request_link(uri) {
            Ok(l) => l,
            Err(e) => return Err(self.log_refusal("(unknown)", e, Channel::Remote)),
        };
        let http = Http::new(policy)?;
        self.refresh_scheme_if_due(&http).await?;
        // Before contacting anyone: a prefix this wallet does not accept, or a pre-registered
        // party the scheme does not list, is refused without a request leaving the phone.
        if let Err(e) = self.precheck_client_id(&link.client_id) {
            return Err(self.log_refusal(&link.client_id, e, Channel::Remote));
        }
        let jwt = match fetch_request_object(&http, &link).await {
            Ok(j) => j,
            Err(e @ Error::InvalidRequest { .. }) => {
                return Err(self.log_refusal(&link.client_id, e, Channel::Remote))
            }
            Err(e) => return Err(e),
        };
        self.presentation_from_request_object(&jwt, Some(&link.client_id), Channel::Remote, lang)
    }

    /// Verifies a request object given as a JWT string (any channel) and matches it against
    /// the vault. No HTTP.
    pub fn presentation_from_request_object(
        &self,
        jwt: &str,
        expected_client_id: Option<&str>,
        channel: Channel,
        lang: &str,
    ) -> Result<PresentationRequest, Error> {
        let claimed = expected_client_id.unwrap_or("(unknown)").to_string();
        match self.verify_and_match(jwt, expected_client_id, channel, lang) {
            Ok(r) => Ok(r),
            Err(e @ Error::InvalidRequest { .. }) => Err(self.log_refusal(&claimed, e, channel)),
            Err(e) => Err(e),
        }
    }

    fn precheck_client_id(&self, client_id: &str) -> Result<(), Error> {
        let id = crate::openid4vp::client_id::parse_client_id(client_id)?;
        if id.prefix == crate::openid4vp::client_id::ClientIdPrefix::PreRegistered {
            let listed = self
                .participant_list()?
                .is_some_and(|l| l.requesting_party(&id.id).is_some());
            if !listed {
                return Err(refused(
                    RequestRefusal::UnknownParty,
                    format!(
                        "the requesting party '{}' is not listed in the scheme",
                        clean(&id.id)
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(super) fn log_refusal(&self, audience: &str, e: Error, channel: Channel) -> Error {
        let code = reason_code(&e).to_string();
        let logged = self.vault.write(|tx| {
            audit::append(
                tx,
                now_unix(),
                Actor::Citizen,
                AuditEvent::PresentationRefused {
                    audience: clean(audience),
                    reason: code,
                    channel,
                },
            )
            .map(|_| ())
        });
        match logged {
            Ok(()) => e,
            Err(v) => v.into(),
        }
    }

    fn verify_and_match(
        &self,
        jwt: &str,
        expected_client_id: Option<&str>,
        channel: Channel,
        lang: &str,
    ) -> Result<PresentationRequest, Error> {
        let list = self.participant_list()?;
        let scheme_key = self.scheme_key()?;
        let trust = RequestTrust {
            list: list.as_ref(),
            scheme_key: scheme_key.as_ref(),
            allow_loopback_http: true,
        };
        let now = now_unix();
        let request = verify_request_object(jwt, expected_client_id, &trust, now)?;
        self.ensure_unanswered(&request)?;
        self.describe_request(request, channel, lang, now)
    }

    /// Loads (and re-verifies) the stored credentials a query could use.
    fn load_candidates(&self, dcql: &DcqlQuery) -> Result<Vec<Loaded>, Error> {
        let any_type = dcql.credentials.iter().any(|q| q.vct_values.is_empty());
        let wanted: BTreeSet<&str> = dcql
            .credentials
            .iter()
            .flat_map(|q| q.vct_values.iter().map(String::as_str))
            .collect();
        let mut out = Vec::new();
        let trust = self.trust_list()?;
        for (id, r) in self.vault.list::<StoredCredential>()? {
            let stored = r?;
            if !any_type && !wanted.contains(stored.vct.as_str()) {
                continue;
            }
            // Re-verified as at import (as `Wallet::parsed`); a credential that no longer
            // verifies (trust removed) is simply not a candidate.
            if let Ok(credential) = Credential::verify_issued(
                &stored.compact,
                &trust,
                stored.imported_at,
                &VerifyOptions::default(),
            ) {
                out.push(Loaded {
                    id,
                    stored,
                    credential,
                });
            }
        }
        Ok(out)
    }

    pub(super) fn describe_request(
        &self,
        request: VerifiedRequest,
        channel: Channel,
        lang: &str,
        now: i64,
    ) -> Result<PresentationRequest, Error> {
        let metadata = self.metadata();
        let loaded = self.load_candidates(&request.dcql)?;
        let cands: Vec<Candidate<'_>> = loaded
            .iter()
            .map(|l| Candidate {
                id: &l.id,
                vct: &l.stored.vct,
                claims: l.credential.claims(),
                holder_bound: l.stored.binding == HolderBinding::ThisWallet,
            })
            .collect();
        let m = match_query(&request.dcql, &cands);
        let party = request.party.clone();
        let mut flags = Vec::new();
        if party.is_none() {
            flags.push(Flag::Unregistered);
        }
        // A scheme-signed registration certificate for the stated purpose is the registration,
        // as long as the scheme's current list still names the party (delisting withdraws it
        // before the certificate expires); else the list's entry.
        let registered_purpose = match (&request.registration, &party, &request.purpose) {
            (Some(cert), Some(_), _) => Some(cert.purpose.clone()),
            (_, Some(p), Some(s)) => p.purpose(&s.id).cloned(),
            _ => None,
        };
        if registered_purpose.is_none() {
            flags.push(Flag::UnknownPurpose);
        }
        // What the party may ask: its registration for the stated purpose; with no purpose
        // stated, what any of its registered purposes allows (the screen says none was stated);
        // for a purpose it did not register, nothing.
        let judged: Vec<&crate::scheme::RegisteredPurpose> = match (&registered_purpose, &party) {
            (Some(p), _) => vec![p],
            // Not the union of several purposes: that would let a party get, by stating none,
            // more than any one purpose allows.
            (None, Some(party)) if request.purpose.is_none() && party.purposes.len() == 1 => {
                party.purposes.iter().collect()
            }
            _ => Vec::new(),
        };
        let mut registered: BTreeMap<String, Vec<ClaimPath>> = BTreeMap::new();
        for p in judged {
            for (vct, paths) in &p.claims {
                registered
                    .entry(vct.clone())
                    .or_default()
                    .extend(paths.iter().filter_map(|s| ClaimPath::parse(s).ok()));
            }
        }
        let stated_retention = request.purpose.as_ref().and_then(|p| p.retention_days);
        if let (Some(r), Some(stated)) = (&registered_purpose, stated_retention) {
            if r.retention_days.is_some_and(|reg| stated > reg) {
                flags.push(Flag::LongerRetention);
            }
        }
        if !m.unsupported_formats.is_empty() {
            flags.push(Flag::UnsupportedFormats);
        }
        let selection: BTreeSet<String> = m
            .selection
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let required_ids = required_queries(&request.dcql, m.selection.as_ref());
        let within = |vct: &str, p: &ClaimPath| {
            registered
                .get(vct)
                .is_some_and(|a| a.iter().any(|r| r.is_prefix_of(p)))
        };
        let mut queries = Vec::new();
        let mut outside = false;
        for q in &request.dcql.credentials {
            let matches = m.candidates.get(&q.id).cloned().unwrap_or_default();
            let mut candidates = Vec::new();
            for cm in &matches {
                let Some(l) = loaded.iter().find(|l| l.id == cm.credential_id) else {
                    continue;
                };
                let status = candidate_status(&l.stored, now);
                match status {
                    CandidateStatus::Stale => push_flag(&mut flags, Flag::StaleCredentials),
                    CandidateStatus::Valid => {}
                    _ => push_flag(&mut flags, Flag::InvalidCredentials),
                }
                let always_shared = crate::disclosure::preview(&l.credential, &[])?;
                let covered = registered.contains_key(&l.stored.vct)
                    && always_shared
                        .iter()
                        .all(|p| ClaimPath::parse(p).is_ok_and(|p| within(&l.stored.vct, &p)));
                outside |= !covered && selection.contains(&q.id);
                candidates.push(CandidateView {
                    credential_id: l.id.clone(),
                    title: metadata.credential_name(&l.stored.vct, lang),
                    vct: l.stored.vct.clone(),
                    issuer: l.stored.issuer.clone(),
                    status,
                    claims: cm.claims.iter().map(|p| p.to_string()).collect(),
                    always_shared,
                    within_registration: covered,
                });
            }
            let claims = match (matches.first(), candidates.first()) {
                (Some(cm), Some(cv)) => {
                    let l = loaded.iter().find(|l| l.id == cm.credential_id);
                    cm.claims
                        .iter()
                        .map(|p| {
                            let w = within(&cv.vct, p);
                            outside |= !w && selection.contains(&q.id);
                            let optional = q.claim_sets.len() > 1
                                && l.is_some_and(|l| {
                                    let rest: Vec<ClaimPath> =
                                        cm.claims.iter().filter(|x| *x != p).cloned().collect();
                                    let r = restrict(l.credential.claims(), &rest);
                                    answers(q, &cv.vct, &r).is_some()
                                });
                            ClaimRequest {
                                path: p.to_string(),
                                label: metadata.claim_label(&cv.vct, p, lang),
                                optional,
                                within_registration: w,
                            }
                        })
                        .collect()
                }
                _ => q
                    .claims
                    .iter()
                    .map(|c| ClaimRequest {
                        path: crate::openid4vp::dcql_path_text(&c.path),
                        label: None,
                        optional: false,
                        within_registration: false,
                    })
                    .collect(),
            };
            queries.push(QueryView {
                query_id: q.id.clone(),
                required: required_ids.contains(&q.id),
                multiple: q.multiple,
                vct_values: q.vct_values.clone(),
                claims,
                candidates,
            });
        }
        if outside {
            flags.push(Flag::OutsideRegistration);
        }
        if !m.is_satisfiable() {
            flags.push(Flag::NothingMatches);
        }
        let lang_name = |n: &crate::scheme::LocalizedName| n.get(lang).to_string();
        Ok(PresentationRequest {
            party: PartyView {
                client_id: request.client_id.full.clone(),
                id: request.client_id.id.clone(),
                name: party.as_ref().map(|p| lang_name(&p.name)),
                registered: party.is_some(),
                purposes: party
                    .as_ref()
                    .map(|p| p.purposes.iter().map(|x| purpose_view(x, lang)).collect())
                    .unwrap_or_default(),
            },
            purpose: registered_purpose.as_ref().map(|p| purpose_view(p, lang)),
            stated_purpose: request.purpose.as_ref().map(|p| p.id.clone()),
            retention_days: stated_retention,
            queries,
            transactions: request
                .transaction_data
                .iter()
                .map(|t| TransactionView {
                    kind: t.transaction.type_name().to_string(),
                    confirmed_with: t.credential_ids.clone(),
                    transaction: t.transaction.clone(),
                })
                .collect(),
            flags,
            satisfiable: m.is_satisfiable(),
            channel,
            origin: request.origin.clone(),
            expires_at: request.exp,
            request,
            registered,
            dc_api_protocol: None,
        })
    }
}

fn push_flag(flags: &mut Vec<Flag>, f: Flag) {
    if !flags.contains(&f) {
        flags.push(f);
    }
}

fn purpose_view(p: &crate::scheme::RegisteredPurpose, lang: &str) -> PurposeView {
    PurposeView {
        id: p.id.clone(),
        name: p.name.get(lang).to_string(),
        retention_days: p.retention_days,
    }
}

/// The queries the citizen must answer: the matcher's selection when satisfiable; otherwise every
/// query of a required set's first option (or all queries without sets).
fn required_queries(dcql: &DcqlQuery, selection: Option<&Vec<String>>) -> BTreeSet<String> {
    if let Some(s) = selection {
        let optional_only: BTreeSet<&String> = dcql
            .credential_sets
            .iter()
            .filter(|s| !s.required)
            .flat_map(|s| s.options.iter().flatten())
            .collect();
        let in_required: BTreeSet<&String> = dcql
            .credential_sets
            .iter()
            .filter(|s| s.required)
            .flat_map(|s| s.options.iter().flatten())
            .collect();
        return s
            .iter()
            .filter(|id| {
                dcql.credential_sets.is_empty()
                    || in_required.contains(id)
                    || !optional_only.contains(id)
            })
            .cloned()
            .collect();
    }
    if dcql.credential_sets.is_empty() {
        return dcql.credentials.iter().map(|q| q.id.clone()).collect();
    }
    dcql.credential_sets
        .iter()
        .filter(|s| s.required)
        .filter_map(|s| s.options.first())
        .flatten()
        .cloned()
        .collect()
}

fn candidate_status(s: &StoredCredential, now: i64) -> CandidateStatus {
    if s.expires_at.is_some_and(|e| e < now) {
        return CandidateStatus::Expired;
    }
    match &s.freshness {
        Some(f) => match f.state {
            CredentialState::Revoked => CandidateStatus::Revoked,
            CredentialState::Suspended => CandidateStatus::Suspended,
            CredentialState::Expired => CandidateStatus::Expired,
            CredentialState::Valid if now - f.checked_at <= STALE_AFTER_SECS => {
                CandidateStatus::Valid
            }
            _ => CandidateStatus::Stale,
        },
        None => CandidateStatus::Stale,
    }
}
