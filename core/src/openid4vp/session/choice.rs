//! The citizen's choice: the data-minimising default, and the checks of which claims answer a
//! query (also used by the requesting party's side and by delegation).

use std::collections::{BTreeMap, BTreeSet};

use kluis_sdjwt::{ArrayPositions, ClaimPath, PathSegment};
use serde_json::Value;

use super::{CandidateStatus, PresentationChoice, PresentationRequest, QueryChoice};
use crate::openid4vp::dcql::{
    match_credential_at, Candidate, CredentialQuery, DcqlQuery, FORMAT_SD_JWT_VC,
};

impl PresentationRequest {
    /// Data minimisation: for each query to answer, the first valid (or stale) candidate and
    /// only the claims asked within the party's registration.
    pub fn default_choice(&self) -> PresentationChoice {
        let mut queries = BTreeMap::new();
        for q in self.queries.iter().filter(|q| q.required) {
            let Some(c) = q.candidates.iter().find(|c| {
                c.within_registration
                    && matches!(c.status, CandidateStatus::Valid | CandidateStatus::Stale)
            }) else {
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

    pub(super) fn within_registration(&self, vct: &str, path: &str) -> bool {
        let Ok(p) = ClaimPath::parse(path) else {
            return false;
        };
        self.registered
            .get(vct)
            .is_some_and(|allowed| allowed.iter().any(|a| a.is_prefix_of(&p)))
    }
}

/// A claims object holding only `paths` of `claims` (arrays keep element positions).
pub(super) fn restrict(claims: &Value, paths: &[ClaimPath]) -> Value {
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
    answers_at(q, vct, claims, None)
}

/// As [`answers`] for claims as a verifier received them: with the presentation's
/// `positions`, an index in the query names the element at that position of the issuer-signed
/// array (what the wallet selected), whichever presented index it arrived at.
pub(crate) fn answers_at(
    q: &CredentialQuery,
    vct: &str,
    claims: &Value,
    positions: Option<&ArrayPositions>,
) -> Option<Vec<ClaimPath>> {
    if q.format != FORMAT_SD_JWT_VC {
        return None;
    }
    let q = CredentialQuery {
        require_holder_binding: false,
        ..q.clone()
    };
    let cand = Candidate {
        id: "x",
        vct,
        claims,
        holder_bound: true,
    };
    match_credential_at(&q, &cand, positions).map(|m| m.claims)
}

/// Every concrete path any claim of `q` selects in `claims` (over all claim sets): what the
/// query asks of this credential.
pub(crate) fn asked_paths(q: &CredentialQuery, vct: &str, claims: &Value) -> Vec<ClaimPath> {
    asked_paths_at(q, vct, claims, None)
}

/// As [`asked_paths`] with signed-array positions ([`answers_at`]).
pub(crate) fn asked_paths_at(
    q: &CredentialQuery,
    vct: &str,
    claims: &Value,
    positions: Option<&ArrayPositions>,
) -> Vec<ClaimPath> {
    let mut out = Vec::new();
    for cq in &q.claims {
        let one = CredentialQuery {
            claims: vec![cq.clone()],
            claim_sets: Vec::new(),
            ..q.clone()
        };
        if let Some(paths) = answers_at(&one, vct, claims, positions) {
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
