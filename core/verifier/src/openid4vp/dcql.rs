//! DCQL, the Digital Credentials Query Language of OpenID4VP 1.0 (section 6): parse a query a
//! requesting party sends, and match it against the credentials in the vault.
//!
//! Supported: credential queries for `dc+sd-jwt` with `meta.vct_values`, claims with claims path
//! pointers (key, index, `null` = every element) and `values`, `claim_sets` (first satisfiable
//! option in the verifier's order of preference), `multiple`, `require_cryptographic_holder_binding`,
//! and `credential_sets` with `options` and `required`. `trusted_authorities` is parsed and
//! checked by the caller against the scheme. Other formats are not matched (reported, not an
//! error): this wallet holds SD-JWT VCs only.
//!
//! The matcher is pure and works on claims already decoded, so that matching a query against a
//! thousand credentials costs microseconds, not a thousand signature checks.

use std::collections::{BTreeMap, BTreeSet};

use kluis_sdjwt::{ArrayPositions, ClaimPath, PathSegment};
use serde_json::Value;

/// The only credential format this wallet holds.
pub const FORMAT_SD_JWT_VC: &str = "dc+sd-jwt";

/// Bounds on what a query may ask, against hostile or broken requests.
const MAX_CREDENTIAL_QUERIES: usize = 64;
const MAX_CLAIMS_PER_QUERY: usize = 256;
const MAX_PATH_LEN: usize = 32;
const MAX_OPTIONS: usize = 64;
const MAX_VALUES: usize = 64;

/// Why a DCQL query was refused. Messages name the field, never a claim value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcqlError {
    /// Not the JSON shape DCQL defines.
    #[error("malformed DCQL: {0}")]
    Malformed(String),
    /// A bound in this module was exceeded.
    #[error("DCQL query too large: {0}")]
    TooLarge(String),
    /// An id is referenced but not defined, or defined twice.
    #[error("DCQL id error: {0}")]
    BadReference(String),
}

fn malformed(s: impl Into<String>) -> DcqlError {
    DcqlError::Malformed(s.into())
}

/// One step of a claims path pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An object member.
    Key(String),
    /// An array element by index.
    Index(usize),
    /// Every element of an array (`null`).
    AllElements,
}

/// A requested claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimQuery {
    /// Id used by `claim_sets` (required when the query has claim sets).
    pub id: Option<String>,
    /// Claims path pointer.
    pub path: Vec<PathStep>,
    /// Acceptable values (strings, integers, booleans); empty = any value.
    pub values: Vec<Value>,
}

/// A request for one credential.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialQuery {
    /// The query id, referenced by `credential_sets` and keyed in the response.
    pub id: String,
    /// Requested format.
    pub format: String,
    /// Acceptable `vct` values (`meta.vct_values`); empty = any type.
    pub vct_values: Vec<String>,
    /// Requested claims; empty = none beyond what is always disclosed.
    pub claims: Vec<ClaimQuery>,
    /// Alternative sets of claim ids, in order of preference.
    pub claim_sets: Vec<Vec<String>>,
    /// Whether several credentials may answer this query.
    pub multiple: bool,
    /// Whether the credential must be key-bound (default true).
    pub require_holder_binding: bool,
    /// `trusted_authorities`, as sent, for the caller to check.
    pub trusted_authorities: Option<Value>,
}

/// Alternatives over credential queries.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialSetQuery {
    /// Each option is a list of credential query ids that together satisfy the set.
    pub options: Vec<Vec<String>>,
    /// Whether the set must be satisfied (default true).
    pub required: bool,
}

/// A parsed, validated DCQL query.
#[derive(Debug, Clone, PartialEq)]
pub struct DcqlQuery {
    /// The credential queries.
    pub credentials: Vec<CredentialQuery>,
    /// The credential sets; empty = every credential query is required.
    pub credential_sets: Vec<CredentialSetQuery>,
}

fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn str_field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, DcqlError> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(malformed(format!("'{name}' must be a string"))),
    }
}

fn bool_field(
    obj: &serde_json::Map<String, Value>,
    name: &str,
    default: bool,
) -> Result<bool, DcqlError> {
    match obj.get(name) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(malformed(format!("'{name}' must be a boolean"))),
    }
}

fn id_lists(v: &Value, what: &str) -> Result<Vec<Vec<String>>, DcqlError> {
    let arr = v
        .as_array()
        .ok_or_else(|| malformed(format!("'{what}' must be an array")))?;
    if arr.is_empty() {
        return Err(malformed(format!("'{what}' must not be empty")));
    }
    if arr.len() > MAX_OPTIONS {
        return Err(DcqlError::TooLarge(format!(
            "more than {MAX_OPTIONS} {what}"
        )));
    }
    arr.iter()
        .map(|opt| {
            let ids = opt
                .as_array()
                .ok_or_else(|| malformed(format!("each of '{what}' must be an array of ids")))?;
            if ids.is_empty() || ids.len() > MAX_OPTIONS {
                return Err(malformed(format!(
                    "each of '{what}' must list 1 to {MAX_OPTIONS} ids"
                )));
            }
            ids.iter()
                .map(|id| {
                    id.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| malformed(format!("ids in '{what}' must be strings")))
                })
                .collect()
        })
        .collect()
}

impl DcqlQuery {
    /// Parses and validates a DCQL query (the `dcql_query` request parameter).
    pub fn parse(v: &Value) -> Result<Self, DcqlError> {
        let obj = v
            .as_object()
            .ok_or_else(|| malformed("the query must be a JSON object"))?;
        let creds = obj
            .get("credentials")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("'credentials' must be a non-empty array"))?;
        if creds.is_empty() {
            return Err(malformed("'credentials' must be a non-empty array"));
        }
        if creds.len() > MAX_CREDENTIAL_QUERIES {
            return Err(DcqlError::TooLarge(format!(
                "more than {MAX_CREDENTIAL_QUERIES} credential queries"
            )));
        }
        let credentials = creds
            .iter()
            .map(parse_credential_query)
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids = BTreeSet::new();
        for c in &credentials {
            if !ids.insert(c.id.as_str()) {
                return Err(DcqlError::BadReference(format!(
                    "credential query id '{}' is used twice",
                    c.id
                )));
            }
        }
        let credential_sets = match obj.get("credential_sets") {
            None => Vec::new(),
            Some(sets) => {
                let arr = sets
                    .as_array()
                    .ok_or_else(|| malformed("'credential_sets' must be an array"))?;
                if arr.is_empty() || arr.len() > MAX_OPTIONS {
                    return Err(malformed(format!(
                        "'credential_sets' must hold 1 to {MAX_OPTIONS} sets"
                    )));
                }
                arr.iter()
                    .map(|s| {
                        let so = s
                            .as_object()
                            .ok_or_else(|| malformed("each credential set must be an object"))?;
                        let options =
                            id_lists(so.get("options").unwrap_or(&Value::Null), "options")?;
                        for id in options.iter().flatten() {
                            if !ids.contains(id.as_str()) {
                                return Err(DcqlError::BadReference(format!(
                                    "credential set names unknown query '{id}'"
                                )));
                            }
                        }
                        Ok(CredentialSetQuery {
                            options,
                            required: bool_field(so, "required", true)?,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        Ok(DcqlQuery {
            credentials,
            credential_sets,
        })
    }
}

fn parse_credential_query(v: &Value) -> Result<CredentialQuery, DcqlError> {
    let obj = v
        .as_object()
        .ok_or_else(|| malformed("each credential query must be an object"))?;
    let id = str_field(obj, "id")?.ok_or_else(|| malformed("a credential query needs an 'id'"))?;
    if !is_valid_id(id) {
        return Err(malformed(
            "credential query ids are 1 to 64 characters of a-z, A-Z, 0-9, _ and -",
        ));
    }
    let format = str_field(obj, "format")?
        .ok_or_else(|| malformed(format!("credential query '{id}' needs a 'format'")))?;
    let vct_values = match obj.get("meta").and_then(|m| m.get("vct_values")) {
        None => Vec::new(),
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_VALUES => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| malformed("'vct_values' must hold strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(malformed(format!(
                "'meta.vct_values' must be an array of 1 to {MAX_VALUES} strings"
            )))
        }
    };
    let claims = match obj.get("claims") {
        None => Vec::new(),
        Some(Value::Array(a)) if !a.is_empty() => {
            if a.len() > MAX_CLAIMS_PER_QUERY {
                return Err(DcqlError::TooLarge(format!(
                    "more than {MAX_CLAIMS_PER_QUERY} claims in '{id}'"
                )));
            }
            a.iter()
                .map(parse_claim_query)
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => {
            return Err(malformed(format!(
                "'claims' of '{id}' must be a non-empty array"
            )))
        }
    };
    let claim_sets = match obj.get("claim_sets") {
        None => Vec::new(),
        Some(v) => {
            let sets = id_lists(v, "claim_sets")?;
            let claim_ids: BTreeSet<&str> = claims.iter().filter_map(|c| c.id.as_deref()).collect();
            if claims.is_empty() {
                return Err(malformed(format!("'claim_sets' of '{id}' need 'claims'")));
            }
            if claims.iter().any(|c| c.id.is_none()) {
                return Err(malformed(format!(
                    "with 'claim_sets', every claim of '{id}' needs an 'id'"
                )));
            }
            for cid in sets.iter().flatten() {
                if !claim_ids.contains(cid.as_str()) {
                    return Err(DcqlError::BadReference(format!(
                        "claim set of '{id}' names unknown claim '{cid}'"
                    )));
                }
            }
            sets
        }
    };
    let mut seen = BTreeSet::new();
    for c in claims.iter().filter_map(|c| c.id.as_deref()) {
        if !seen.insert(c) {
            return Err(DcqlError::BadReference(format!(
                "claim id '{c}' is used twice in '{id}'"
            )));
        }
    }
    Ok(CredentialQuery {
        id: id.to_string(),
        format: format.to_string(),
        vct_values,
        claims,
        claim_sets,
        multiple: bool_field(obj, "multiple", false)?,
        require_holder_binding: bool_field(obj, "require_cryptographic_holder_binding", true)?,
        trusted_authorities: obj.get("trusted_authorities").cloned(),
    })
}

fn parse_claim_query(v: &Value) -> Result<ClaimQuery, DcqlError> {
    let obj = v
        .as_object()
        .ok_or_else(|| malformed("each claim query must be an object"))?;
    let id = str_field(obj, "id")?.map(str::to_string);
    if let Some(i) = &id {
        if !is_valid_id(i) {
            return Err(malformed(
                "claim ids are 1 to 64 characters of a-z, A-Z, 0-9, _ and -",
            ));
        }
    }
    let path = obj
        .get("path")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("a claim query needs a 'path' array"))?;
    if path.is_empty() || path.len() > MAX_PATH_LEN {
        return Err(malformed(format!(
            "a claim 'path' holds 1 to {MAX_PATH_LEN} steps"
        )));
    }
    let path = path
        .iter()
        .map(|s| match s {
            Value::String(k) => Ok(PathStep::Key(k.clone())),
            Value::Null => Ok(PathStep::AllElements),
            Value::Number(n) => n
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .map(PathStep::Index)
                .ok_or_else(|| malformed("path indices must be non-negative integers")),
            _ => Err(malformed(
                "path steps are strings, non-negative integers or null",
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let values = match obj.get("values") {
        None => Vec::new(),
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_VALUES => {
            if a.iter()
                .any(|x| !(x.is_string() || x.is_i64() || x.is_u64() || x.is_boolean()))
            {
                return Err(malformed("'values' hold strings, integers or booleans"));
            }
            a.clone()
        }
        Some(_) => {
            return Err(malformed(format!(
                "'values' must be an array of 1 to {MAX_VALUES} values"
            )))
        }
    };
    Ok(ClaimQuery { id, path, values })
}

/// A credential the wallet could present, as the matcher sees it.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The wallet's credential id.
    pub id: &'a str,
    /// `vct`.
    pub vct: &'a str,
    /// All claims, processed (the holder sees every disclosure).
    pub claims: &'a Value,
    /// Whether the credential is bound to a key this wallet holds.
    pub holder_bound: bool,
}

/// One credential that answers a credential query, with exactly the claims to disclose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateMatch {
    /// The wallet's credential id.
    pub credential_id: String,
    /// The concrete claim paths to disclose (wildcards expanded over the issued arrays).
    pub claims: Vec<ClaimPath>,
}

/// The outcome of matching one query against the vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DcqlMatch {
    /// For each credential query id, the credentials that can answer it (maybe none).
    pub candidates: BTreeMap<String, Vec<CandidateMatch>>,
    /// The credential query ids to answer: for each credential set the first satisfiable option
    /// (or every query when there are no sets). `None` when a required set cannot be satisfied.
    pub selection: Option<Vec<String>>,
    /// Credential queries for formats this wallet does not hold.
    pub unsupported_formats: Vec<String>,
}

impl DcqlMatch {
    /// Whether the query can be answered.
    pub fn is_satisfiable(&self) -> bool {
        self.selection.is_some()
    }
}

/// Matches `query` against `candidates`.
pub fn match_query(query: &DcqlQuery, candidates: &[Candidate<'_>]) -> DcqlMatch {
    let mut result = DcqlMatch {
        candidates: BTreeMap::new(),
        selection: None,
        unsupported_formats: Vec::new(),
    };
    for q in &query.credentials {
        if q.format != FORMAT_SD_JWT_VC {
            result.unsupported_formats.push(q.id.clone());
            result.candidates.insert(q.id.clone(), Vec::new());
            continue;
        }
        let matches = candidates
            .iter()
            .filter_map(|c| match_credential(q, c))
            .collect();
        result.candidates.insert(q.id.clone(), matches);
    }
    let answerable = |id: &String| result.candidates.get(id).is_some_and(|m| !m.is_empty());
    result.selection = if query.credential_sets.is_empty() {
        let all: Vec<String> = query.credentials.iter().map(|q| q.id.clone()).collect();
        all.iter().all(answerable).then_some(all)
    } else {
        let mut chosen: Vec<String> = Vec::new();
        let mut ok = true;
        for set in &query.credential_sets {
            match set.options.iter().find(|opt| opt.iter().all(answerable)) {
                Some(opt) => {
                    for id in opt {
                        if !chosen.contains(id) {
                            chosen.push(id.clone());
                        }
                    }
                }
                None if set.required => ok = false,
                None => {}
            }
        }
        ok.then_some(chosen)
    };
    result
}

/// Whether candidate `c` answers query `q`, and with which claims.
fn match_credential(q: &CredentialQuery, c: &Candidate<'_>) -> Option<CandidateMatch> {
    match_credential_at(q, c, None)
}

/// As [`match_credential`] for claims a verifier received: a presented array holds only the
/// disclosed elements, so an index step selects the element whose position in the
/// issuer-signed array (`positions`) is that index, not the element presented there.
pub(crate) fn match_credential_at(
    q: &CredentialQuery,
    c: &Candidate<'_>,
    positions: Option<&ArrayPositions>,
) -> Option<CandidateMatch> {
    if !q.vct_values.is_empty() && !q.vct_values.iter().any(|v| v == c.vct) {
        return None;
    }
    if q.require_holder_binding && !c.holder_bound {
        return None;
    }
    let claims = if q.claims.is_empty() {
        Vec::new()
    } else if q.claim_sets.is_empty() {
        // Every claim is required.
        let mut out = Vec::new();
        for cq in &q.claims {
            out.extend(resolve_claim(cq, c.claims, positions)?);
        }
        out
    } else {
        // The first claim set (verifier's preference) the credential satisfies.
        q.claim_sets.iter().find_map(|set| {
            let mut out = Vec::new();
            for cid in set {
                let cq = q
                    .claims
                    .iter()
                    .find(|x| x.id.as_deref() == Some(cid.as_str()))?;
                out.extend(resolve_claim(cq, c.claims, positions)?);
            }
            Some(out)
        })?
    };
    let mut seen = BTreeSet::new();
    let claims = claims
        .into_iter()
        .filter(|p| seen.insert(p.to_string()))
        .collect();
    Some(CandidateMatch {
        credential_id: c.id.to_string(),
        claims,
    })
}

/// The concrete paths a claim query selects in `claims`, or `None` if it selects nothing or no
/// selected value is acceptable. With `positions`, index steps count signed-array positions.
fn resolve_claim(
    cq: &ClaimQuery,
    claims: &Value,
    positions: Option<&ArrayPositions>,
) -> Option<Vec<ClaimPath>> {
    let mut found: Vec<(Vec<PathSegment>, &Value)> = vec![(Vec::new(), claims)];
    for step in &cq.path {
        let mut next = Vec::new();
        for (prefix, v) in found {
            match (step, v) {
                (PathStep::Key(k), Value::Object(m)) => {
                    if let Some(child) = m.get(k) {
                        let mut p = prefix.clone();
                        p.push(PathSegment::from_key(k));
                        next.push((p, child));
                    }
                }
                (PathStep::Index(i), Value::Array(a)) => {
                    let at = match positions {
                        None => Some(*i).filter(|i| *i < a.len()),
                        Some(pos) => (0..a.len()).find(|j| {
                            let mut p = prefix.clone();
                            p.push(PathSegment::Index(*j));
                            pos.signed_path(&ClaimPath::from_segments(p))
                                .and_then(|s| s.segments().last().cloned())
                                == Some(PathSegment::Index(*i))
                        }),
                    };
                    if let Some(j) = at {
                        let mut p = prefix.clone();
                        p.push(PathSegment::Index(j));
                        next.push((p, &a[j]));
                    }
                }
                (PathStep::AllElements, Value::Array(a)) => {
                    for (i, child) in a.iter().enumerate() {
                        let mut p = prefix.clone();
                        p.push(PathSegment::Index(i));
                        next.push((p, child));
                    }
                }
                _ => {}
            }
        }
        if next.is_empty() {
            return None;
        }
        found = next;
    }
    let selected: Vec<ClaimPath> = found
        .into_iter()
        .filter(|(_, v)| cq.values.is_empty() || cq.values.iter().any(|want| values_equal(want, v)))
        .map(|(p, _)| ClaimPath::from_segments(p))
        .collect();
    (!selected.is_empty()).then_some(selected)
}

fn values_equal(want: &Value, have: &Value) -> bool {
    match (want, have) {
        (Value::Number(a), Value::Number(b)) => a.as_i64().is_some() && a.as_i64() == b.as_i64(),
        _ => want == have,
    }
}

/// Whether `claims` (already restricted to what would be disclosed) answer query `q`, and with
/// which concrete paths.
pub fn answers(q: &CredentialQuery, vct: &str, claims: &Value) -> Option<Vec<ClaimPath>> {
    answers_at(q, vct, claims, None)
}

/// As [`answers`] for claims as a verifier received them: with the presentation's
/// `positions`, an index in the query names the element at that position of the issuer-signed
/// array (what the wallet selected), whichever presented index it arrived at.
pub fn answers_at(
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
pub fn asked_paths(q: &CredentialQuery, vct: &str, claims: &Value) -> Vec<ClaimPath> {
    asked_paths_at(q, vct, claims, None)
}

/// As [`asked_paths`] with signed-array positions ([`answers_at`]).
pub fn asked_paths_at(
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
pub fn sets_satisfied(dcql: &DcqlQuery, answered: &BTreeSet<String>) -> bool {
    if dcql.credential_sets.is_empty() {
        return dcql.credentials.iter().all(|q| answered.contains(&q.id));
    }
    dcql.credential_sets.iter().filter(|s| s.required).all(|s| {
        s.options
            .iter()
            .any(|o| o.iter().all(|id| answered.contains(id)))
    })
}

#[cfg(test)]
#[path = "dcql_model_tests.rs"]
mod model_tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn brp() -> Value {
        json!({
            "given_name": "Mohamed", "family_name": "El Amrani", "birthdate": "1988-11-02",
            "nationalities": ["NL", "MA"],
            "address": { "street": "Kanaalweg", "locality": "Utrecht", "postal_code": "3526 KL" }
        })
    }

    fn income() -> Value {
        json!({ "year": 2025, "total_gross_income_eur": 38920.0,
                "employers": [ { "name": "A", "gross_income_eur": 1.0 }, { "name": "B", "gross_income_eur": 2.0 } ] })
    }

    fn paths(m: &CandidateMatch) -> Vec<String> {
        m.claims.iter().map(|p| p.to_string()).collect()
    }

    fn q(v: Value) -> DcqlQuery {
        DcqlQuery::parse(&v).unwrap()
    }

    #[test]
    fn matches_type_claims_and_values() {
        let (b, i) = (brp(), income());
        let cands = [
            Candidate {
                id: "c1",
                vct: "urn:nl:gemeente:brp-address:1",
                claims: &b,
                holder_bound: true,
            },
            Candidate {
                id: "c2",
                vct: "urn:nl:uwv:income-statement:1",
                claims: &i,
                holder_bound: true,
            },
        ];
        let query = q(json!({ "credentials": [
            { "id": "address", "format": "dc+sd-jwt", "meta": { "vct_values": ["urn:nl:gemeente:brp-address:1"] },
              "claims": [ { "path": ["given_name"] }, { "path": ["address", "locality"], "values": ["Utrecht", "Amersfoort"] } ] },
            { "id": "income", "format": "dc+sd-jwt", "meta": { "vct_values": ["urn:nl:uwv:income-statement:1"] },
              "claims": [ { "path": ["employers", null, "gross_income_eur"] } ] }
        ]}));
        let m = match_query(&query, &cands);
        assert_eq!(m.selection, Some(vec!["address".into(), "income".into()]));
        assert_eq!(
            paths(&m.candidates["address"][0]),
            ["/given_name", "/address/locality"]
        );
        assert_eq!(
            paths(&m.candidates["income"][0]),
            [
                "/employers/0/gross_income_eur",
                "/employers/1/gross_income_eur"
            ]
        );

        // A value that does not match makes the credential no candidate, and the query unsatisfiable.
        let query = q(json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt",
            "claims": [ { "path": ["address", "locality"], "values": ["Rotterdam"] } ] } ] }));
        let m = match_query(&query, &cands);
        assert!(m.candidates["a"].is_empty());
        assert!(!m.is_satisfiable());
        // Integers match integers.
        let query = q(
            json!({ "credentials": [ { "id": "y", "format": "dc+sd-jwt", "claims": [ { "path": ["year"], "values": [2025] } ] } ] }),
        );
        assert_eq!(match_query(&query, &cands).candidates["y"].len(), 1);
    }

    #[test]
    fn claim_sets_take_the_first_satisfiable_option() {
        let b = brp();
        let cands = [Candidate {
            id: "c1",
            vct: "t",
            claims: &b,
            holder_bound: true,
        }];
        let query = q(json!({ "credentials": [ { "id": "p", "format": "dc+sd-jwt",
            "claims": [ { "id": "bsn", "path": ["bsn"] }, { "id": "name", "path": ["family_name"] }, { "id": "born", "path": ["birthdate"] } ],
            "claim_sets": [ ["bsn"], ["name", "born"], ["name"] ] } ] }));
        let m = match_query(&query, &cands);
        assert_eq!(paths(&m.candidates["p"][0]), ["/family_name", "/birthdate"]);
    }

    #[test]
    fn credential_sets_required_and_optional() {
        let (b, i) = (brp(), income());
        let only_brp = [Candidate {
            id: "c1",
            vct: "brp",
            claims: &b,
            holder_bound: true,
        }];
        let both = [
            Candidate {
                id: "c1",
                vct: "brp",
                claims: &b,
                holder_bound: true,
            },
            Candidate {
                id: "c2",
                vct: "inc",
                claims: &i,
                holder_bound: true,
            },
        ];
        let query = q(json!({
            "credentials": [
                { "id": "brp", "format": "dc+sd-jwt", "meta": { "vct_values": ["brp"] } },
                { "id": "inc", "format": "dc+sd-jwt", "meta": { "vct_values": ["inc"] } },
                { "id": "mdl", "format": "mso_mdoc" }
            ],
            "credential_sets": [
                { "options": [ ["mdl"], ["brp"] ] },
                { "options": [ ["inc"] ], "required": false }
            ]
        }));
        let m = match_query(&query, &only_brp);
        assert_eq!(m.selection, Some(vec!["brp".to_string()]));
        assert_eq!(m.unsupported_formats, ["mdl"]);
        let m = match_query(&query, &both);
        assert_eq!(
            m.selection,
            Some(vec!["brp".to_string(), "inc".to_string()])
        );
        let m = match_query(&query, &[]);
        assert_eq!(m.selection, None);
    }

    #[test]
    fn holder_binding_and_multiple() {
        let b = brp();
        let cands = [
            Candidate {
                id: "bound",
                vct: "brp",
                claims: &b,
                holder_bound: true,
            },
            Candidate {
                id: "bearer",
                vct: "brp",
                claims: &b,
                holder_bound: false,
            },
        ];
        let query =
            q(json!({ "credentials": [ { "id": "x", "format": "dc+sd-jwt", "multiple": true } ] }));
        assert!(query.credentials[0].multiple);
        let m = match_query(&query, &cands);
        assert_eq!(
            m.candidates["x"].len(),
            1,
            "unbound credentials do not answer by default"
        );
        let query = q(
            json!({ "credentials": [ { "id": "x", "format": "dc+sd-jwt", "require_cryptographic_holder_binding": false } ] }),
        );
        assert_eq!(match_query(&query, &cands).candidates["x"].len(), 2);
    }

    #[test]
    fn malformed_queries_are_refused_with_the_reason() {
        let cases = [
            json!([]),
            json!({}),
            json!({ "credentials": [] }),
            json!({ "credentials": [ { "format": "dc+sd-jwt" } ] }),
            json!({ "credentials": [ { "id": "a b", "format": "dc+sd-jwt" } ] }),
            json!({ "credentials": [ { "id": "a" } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt" }, { "id": "a", "format": "dc+sd-jwt" } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt", "claims": [ { "path": [] } ] } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt", "claims": [ { "path": [-1] } ] } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt", "claims": [ { "path": [{}] } ] } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt", "claims": [ { "path": ["x"], "values": [{"o": 1}] } ] } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt", "claims": [ { "path": ["x"] } ], "claim_sets": [["x"]] } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt", "claims": [ { "id": "x", "path": ["x"] } ], "claim_sets": [["y"]] } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt" } ], "credential_sets": [ { "options": [ ["b"] ] } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt" } ], "credential_sets": [ { "options": [] } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt", "meta": { "vct_values": "x" } } ] }),
            json!({ "credentials": [ { "id": "a", "format": "dc+sd-jwt", "multiple": "yes" } ] }),
        ];
        for c in cases {
            assert!(DcqlQuery::parse(&c).is_err(), "accepted: {c}");
        }
        let many: Vec<Value> = (0..100)
            .map(|i| json!({ "id": format!("q{i}"), "format": "dc+sd-jwt" }))
            .collect();
        assert!(matches!(
            DcqlQuery::parse(&json!({ "credentials": many })),
            Err(DcqlError::TooLarge(_))
        ));
    }
}
