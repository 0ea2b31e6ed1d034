//! The presentation session the app drives: [`Wallet::start_presentation`] (fetch, verify, match:
//! what the citizen sees), then [`Wallet::accept_presentation`] with the citizen's
//! [`PresentationChoice`] or [`Wallet::decline_presentation`].
//!
//! Data minimisation is the default: [`PresentationRequest::default_choice`] answers only what
//! was asked, with the first valid candidate, leaving out claims outside the party's
//! registration. `accept` refuses anything not asked, required queries left unanswered, and
//! claims outside the registration unless the citizen allowed them. Every refusal, decline and
//! disclosure is in the audit log; an answered `(client_id, nonce)` is kept in the vault so a
//! replayed request is refused.

use std::collections::{BTreeMap, BTreeSet};

use kluis_sdjwt::{ClaimPath, Credential, PathSegment, VerifyOptions};
use kluis_vault::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client_id::{clean, refused};
use super::dcql::{match_query, Candidate, CredentialQuery, DcqlQuery};
use super::request::{
    fetch_request_object, parse_request_link, reason_code, verify_request_object, RequestTrust,
    VerifiedRequest,
};
use super::response::{decline_form, post_response, response_form, vp_token, Form, ResponseAck};
use crate::audit::{self, Actor, AuditEvent, Channel};
use crate::credentials::{HolderBinding, StoredCredential};
use crate::holder_key::HolderKey;
use crate::http::{Http, HttpPolicy};
use crate::status::CredentialState;
use crate::{now_unix, Error, Wallet};

/// A status check older than this makes a candidate `stale`.
pub const STALE_AFTER_SECS: i64 = 24 * 3600;

/// The requesting party as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartyView {
    /// Client identifier as sent (with prefix).
    pub client_id: String,
    /// Without prefix.
    pub id: String,
    /// Registered name, when listed.
    pub name: Option<String>,
    /// Whether the scheme lists it.
    pub registered: bool,
    /// Its registered purposes.
    pub purposes: Vec<PurposeView>,
}

/// A registered purpose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurposeView {
    /// Purpose id.
    pub id: String,
    /// Registered name.
    pub name: String,
    /// Registered retention (days).
    pub retention_days: Option<u32>,
}

/// One claim a query asks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimRequest {
    /// Concrete claim path (for the first candidate).
    pub path: String,
    /// Display label from type metadata.
    pub label: Option<String>,
    /// Whether the citizen can leave it out and still answer the query (claim sets).
    pub optional: bool,
    /// Whether the party's registration for the stated purpose covers it.
    pub within_registration: bool,
}

/// The state of a candidate credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateStatus {
    /// Checked recently and valid.
    Valid,
    /// Not status-checked recently (or never).
    Stale,
    /// Revoked by its holder.
    Revoked,
    /// Suspended by its holder.
    Suspended,
    /// Past its expiry.
    Expired,
}

/// A credential that can answer a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateView {
    /// Wallet credential id.
    pub credential_id: String,
    /// Display name of its type.
    pub title: Option<String>,
    /// `vct`.
    pub vct: String,
    /// Issuer.
    pub issuer: String,
    /// State.
    pub status: CandidateStatus,
    /// The concrete claim paths it would disclose by default.
    pub claims: Vec<String>,
}

/// One credential query of the request, with its candidates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryView {
    /// DCQL credential query id.
    pub query_id: String,
    /// Whether answering it is needed (part of the chosen option of a required credential set,
    /// or every query when there are no sets).
    pub required: bool,
    /// Whether several credentials may answer it.
    pub multiple: bool,
    /// Acceptable types.
    pub vct_values: Vec<String>,
    /// Claims asked.
    pub claims: Vec<ClaimRequest>,
    /// Credentials that can answer it.
    pub candidates: Vec<CandidateView>,
}

/// Things the citizen should know before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The party is not in the scheme's list (attested only).
    Unregistered,
    /// It asks claims outside its registration for the purpose (left out by default).
    OutsideRegistration,
    /// It states a longer retention than registered.
    LongerRetention,
    /// It states no purpose, or one it did not register.
    UnknownPurpose,
    /// Nothing in the vault answers the required queries.
    NothingMatches,
    /// A candidate has not been status-checked recently.
    StaleCredentials,
    /// A candidate is revoked, suspended or expired.
    InvalidCredentials,
    /// It asks formats this wallet does not hold (mdoc ...).
    UnsupportedFormats,
}

/// What the citizen sees: who asks, why, for how long, which claims, from which credentials.
#[derive(Debug, Clone, Serialize)]
pub struct PresentationRequest {
    /// The party.
    pub party: PartyView,
    /// The purpose it states, as registered (`None`: none stated or not registered).
    pub purpose: Option<PurposeView>,
    /// The purpose id it states.
    pub stated_purpose: Option<String>,
    /// The retention it states (days).
    pub retention_days: Option<u32>,
    /// The queries.
    pub queries: Vec<QueryView>,
    /// Warnings.
    pub flags: Vec<Flag>,
    /// Whether the required queries can be answered at all.
    pub satisfiable: bool,
    /// How the request arrived.
    pub channel: Channel,
    /// The request expires at (Unix seconds).
    pub expires_at: i64,
    /// The verified request (for accept / decline).
    #[serde(skip)]
    pub request: VerifiedRequest,
    /// Scheme and query context for checking choices.
    #[serde(skip)]
    registered: BTreeMap<String, Vec<ClaimPath>>,
}

/// The citizen's answer to one query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct QueryChoice {
    /// Chosen credentials (one unless the query allows `multiple`).
    pub credential_ids: Vec<String>,
    /// Claim paths to disclose (a subset of what the query asks).
    pub claims: Vec<String>,
}

/// The citizen's choice for the whole request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PresentationChoice {
    /// Per query id; queries left out are not answered.
    pub queries: BTreeMap<String, QueryChoice>,
    /// Allow claims outside the party's registration (off by default).
    pub allow_outside_registration: bool,
}

/// One credential disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisclosedCredential {
    /// The query it answered.
    pub query_id: String,
    /// Wallet credential id.
    pub credential_id: String,
    /// The claim paths disclosed.
    pub claims: Vec<String>,
    /// Which batch copy was used (0 = the first).
    pub copy: u32,
}

/// A response built and not yet sent (the in-person channel sends it itself and then calls
/// [`Wallet::record_presentation`]).
#[derive(Debug, Clone)]
pub struct BuiltResponse {
    /// The `vp_token` object.
    pub vp_token: Value,
    /// The form to POST (`direct_post`) or hand over.
    pub form: Form,
    /// What is disclosed.
    pub disclosed: Vec<DisclosedCredential>,
}

/// The outcome of an accepted presentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresentationOutcome {
    /// The party's client id.
    pub client_id: String,
    /// What was disclosed.
    pub disclosed: Vec<DisclosedCredential>,
    /// The party's answer.
    pub ack: ResponseAck,
}

/// An answered `(client_id, nonce)`: a second request with the same nonce is refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AnsweredNonce {
    at: i64,
}

impl Record for AnsweredNonce {
    const KIND: &'static str = "answered_nonce";
}

/// When each batch copy of a credential was last presented (0: never); index 0 is the first copy.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct CopyUse {
    last_used: Vec<i64>,
}

impl Record for CopyUse {
    const KIND: &'static str = "copy_use";
}

impl PresentationRequest {
    /// Data minimisation: for each query to answer, the first valid (or stale) candidate and
    /// only the claims asked within the party's registration.
    pub fn default_choice(&self) -> PresentationChoice {
        let mut queries = BTreeMap::new();
        for q in self.queries.iter().filter(|q| q.required) {
            let Some(c) = q
                .candidates
                .iter()
                .find(|c| matches!(c.status, CandidateStatus::Valid | CandidateStatus::Stale))
            else {
                continue;
            };
            let claims = c
                .claims
                .iter()
                .filter(|p| self.within_registration(&c.vct, p))
                .cloned()
                .collect();
            queries.insert(
                q.query_id.clone(),
                QueryChoice {
                    credential_ids: vec![c.credential_id.clone()],
                    claims,
                },
            );
        }
        PresentationChoice {
            queries,
            allow_outside_registration: false,
        }
    }

    fn within_registration(&self, vct: &str, path: &str) -> bool {
        let Ok(p) = ClaimPath::parse(path) else {
            return false;
        };
        self.registered
            .get(vct)
            .is_some_and(|allowed| allowed.iter().any(|a| a.is_prefix_of(&p)))
    }
}

/// A claims object holding only `paths` of `claims` (arrays keep element positions).
fn restrict(claims: &Value, paths: &[ClaimPath]) -> Value {
    fn put(out: &mut Value, segs: &[PathSegment], v: &Value) {
        let Some((first, rest)) = segs.split_first() else {
            *out = v.clone();
            return;
        };
        match first {
            PathSegment::Index(i) if out.is_array() || out.is_null() => {
                if out.is_null() {
                    *out = Value::Array(Vec::new());
                }
                if let Value::Array(a) = out {
                    while a.len() <= *i {
                        a.push(Value::Null);
                    }
                    put(&mut a[*i], rest, v);
                }
            }
            seg => {
                if !out.is_object() {
                    *out = Value::Object(Default::default());
                }
                let key = match seg {
                    PathSegment::Key(k) => k.clone(),
                    PathSegment::Index(i) => i.to_string(),
                };
                if let Value::Object(m) = out {
                    put(m.entry(key).or_insert(Value::Null), rest, v);
                }
            }
        }
    }
    let mut out = Value::Object(Default::default());
    for p in paths {
        if let Some(v) = p.resolve(claims) {
            put(&mut out, p.segments(), v);
        }
    }
    out
}

/// Whether `claims` (already restricted to what would be disclosed) answer query `q`, and with
/// which concrete paths.
pub(crate) fn answers(q: &CredentialQuery, vct: &str, claims: &Value) -> Option<Vec<ClaimPath>> {
    let single = DcqlQuery {
        credentials: vec![CredentialQuery {
            require_holder_binding: false,
            ..q.clone()
        }],
        credential_sets: Vec::new(),
    };
    let cand = [Candidate {
        id: "x",
        vct,
        claims,
        holder_bound: true,
    }];
    match_query(&single, &cand)
        .candidates
        .remove(&q.id)
        .and_then(|mut m| m.pop())
        .map(|m| m.claims)
}

/// Every concrete path any claim of `q` selects in `claims` (over all claim sets): what the
/// query asks of this credential.
pub(crate) fn asked_paths(q: &CredentialQuery, vct: &str, claims: &Value) -> Vec<ClaimPath> {
    let mut out = Vec::new();
    for cq in &q.claims {
        let one = CredentialQuery {
            claims: vec![cq.clone()],
            claim_sets: Vec::new(),
            ..q.clone()
        };
        if let Some(paths) = answers(&one, vct, claims) {
            out.extend(paths);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether the answered query ids satisfy the query's credential sets (or every query when
/// there are none).
pub(crate) fn sets_satisfied(dcql: &DcqlQuery, answered: &BTreeSet<String>) -> bool {
    if dcql.credential_sets.is_empty() {
        return dcql.credentials.iter().all(|q| answered.contains(&q.id));
    }
    dcql.credential_sets.iter().filter(|s| s.required).all(|s| {
        s.options
            .iter()
            .any(|o| o.iter().all(|id| answered.contains(id)))
    })
}

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
        let id = super::client_id::parse_client_id(client_id)?;
        if id.prefix == super::client_id::ClientIdPrefix::PreRegistered {
            let listed = self
                .participant_list()?
                .is_some_and(|l| l.requesting_party(&id.id).is_some());
            if !listed {
                return Err(refused(format!(
                    "the requesting party '{}' is not listed in the scheme",
                    clean(&id.id)
                )));
            }
        }
        Ok(())
    }

    fn log_refusal(&self, audience: &str, e: Error, channel: Channel) -> Error {
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
        if self.nonce_answered(&request)? {
            return Err(refused(
                "this request's nonce was already answered (a replayed request)",
            ));
        }
        self.describe_request(request, channel, lang, now)
    }

    fn nonce_key(request: &VerifiedRequest) -> String {
        format!("{}\n{}", request.client_id.full, request.nonce)
    }

    fn nonce_answered(&self, request: &VerifiedRequest) -> Result<bool, Error> {
        let id = self
            .vault
            .lookup_id(AnsweredNonce::KIND, &Self::nonce_key(request))?;
        Ok(self.vault.get::<AnsweredNonce>(&id)?.is_some())
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

    fn describe_request(
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
        let registered_purpose = match (&party, &request.purpose) {
            (Some(p), Some(s)) => p.purpose(&s.id).cloned(),
            _ => None,
        };
        if registered_purpose.is_none() {
            flags.push(Flag::UnknownPurpose);
        }
        let registered: BTreeMap<String, Vec<ClaimPath>> = registered_purpose
            .as_ref()
            .map(|p| {
                p.claims
                    .iter()
                    .map(|(vct, paths)| {
                        (
                            vct.clone(),
                            paths
                                .iter()
                                .filter_map(|s| ClaimPath::parse(s).ok())
                                .collect(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
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
                candidates.push(CandidateView {
                    credential_id: l.id.clone(),
                    title: metadata.credential_name(&l.stored.vct, lang),
                    vct: l.stored.vct.clone(),
                    issuer: l.stored.issuer.clone(),
                    status,
                    claims: cm.claims.iter().map(|p| p.to_string()).collect(),
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
                        path: super::dcql_path_text(&c.path),
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
            flags,
            satisfiable: m.is_satisfiable(),
            channel,
            expires_at: request.exp,
            request,
            registered,
        })
    }

    /// Builds the response for the citizen's choice, checking it against the request; changes
    /// nothing in the vault and sends nothing.
    pub fn build_presentation_response(
        &self,
        req: &PresentationRequest,
        choice: &PresentationChoice,
    ) -> Result<BuiltResponse, Error> {
        let dcql = &req.request.dcql;
        let now = now_unix();
        if req.request.exp + super::client_id::SKEW_SECS < now {
            return Err(refused("the request has expired"));
        }
        let trust = self.trust_list()?;
        let mut tokens: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut disclosed = Vec::new();
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
                let unsigned = credential
                    .prepare_presentation(
                        &paths,
                        &req.request.nonce,
                        &req.request.client_id.full,
                        now,
                    )
                    .map_err(|e| Error::invalid_input(e.to_string()))?;
                let presentation = self.sign_presentation(&key, unsigned)?;
                tokens.entry(qid.clone()).or_default().push(presentation);
                disclosed.push(DisclosedCredential {
                    query_id: qid.clone(),
                    credential_id: cid.clone(),
                    claims: paths.iter().map(|p| p.to_string()).collect(),
                    copy,
                });
            }
            answered.insert(qid.clone());
        }
        if !sets_satisfied(dcql, &answered) {
            return Err(Error::invalid_input(
                "a required query is unanswered: nothing was sent",
            ));
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
            let key = self.credential_key(stored.holder_key_id.as_deref())?;
            return Ok((0, stored.compact.clone(), key));
        }
        let c = &stored.copies[i - 1];
        let key = self.load_holder_key(&c.holder_key_id)?;
        Ok((i as u32, c.compact.clone(), key))
    }

    /// Records a sent presentation: audit entries (one per credential), the answered nonce and
    /// the copies used, in one vault transaction.
    pub fn record_presentation(
        &self,
        req: &PresentationRequest,
        built: &BuiltResponse,
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
                    },
                )?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Sends exactly the chosen claims to the party (`direct_post` / `direct_post.jwt`) and logs
    /// the disclosure. Nothing is sent when the choice is refused.
    pub async fn accept_presentation(
        &self,
        req: &PresentationRequest,
        choice: &PresentationChoice,
    ) -> Result<PresentationOutcome, Error> {
        self.accept_presentation_with(req, choice, HttpPolicy::default())
            .await
    }

    /// As [`Wallet::accept_presentation`] with an explicit HTTP policy.
    pub async fn accept_presentation_with(
        &self,
        req: &PresentationRequest,
        choice: &PresentationChoice,
        policy: HttpPolicy,
    ) -> Result<PresentationOutcome, Error> {
        let built = self.build_presentation_response(req, choice)?;
        let http = Http::new(policy)?;
        let ack = match post_response(&http, &req.request.response_uri, &built.form).await {
            Ok(ack) => ack,
            // The party answered with an error: it did receive the data, so the disclosure is
            // logged all the same.
            Err(e @ Error::InvalidPresentation { .. }) => {
                self.record_presentation(req, &built)?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        self.record_presentation(req, &built)?;
        Ok(PresentationOutcome {
            client_id: req.request.client_id.full.clone(),
            disclosed: built.disclosed,
            ack,
        })
    }

    /// Tells the party the citizen declined (`error=access_denied`) and logs it.
    pub async fn decline_presentation(
        &self,
        req: &PresentationRequest,
    ) -> Result<ResponseAck, Error> {
        self.decline_presentation_with(req, HttpPolicy::default())
            .await
    }

    /// As [`Wallet::decline_presentation`] with an explicit HTTP policy.
    pub async fn decline_presentation_with(
        &self,
        req: &PresentationRequest,
        policy: HttpPolicy,
    ) -> Result<ResponseAck, Error> {
        let http = Http::new(policy)?;
        let ack = post_response(
            &http,
            &req.request.response_uri,
            &decline_form(&req.request),
        )
        .await;
        self.record_decline(req)?;
        ack
    }

    /// Logs a decline (and marks the nonce answered) without sending anything (other channels).
    pub fn record_decline(&self, req: &PresentationRequest) -> Result<(), Error> {
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
                },
            )
            .map(|_| ())
        })?;
        Ok(())
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
