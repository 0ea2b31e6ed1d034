//! The citizen's choice: the data-minimising default, and the checks of which claims answer a
//! query (also used by the requesting party's side and by delegation).

use std::collections::BTreeMap;

use kluis_sdjwt::{ClaimPath, PathSegment};
use serde_json::Value;

use super::{CandidateStatus, PresentationChoice, PresentationRequest, QueryChoice};

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

    pub(crate) fn within_registration(&self, vct: &str, path: &str) -> bool {
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
