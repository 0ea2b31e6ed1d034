//! Property: issue → present any subset → verify returns exactly that subset, for random claim
//! trees with every JSON type (nulls, booleans, big and negative integers, floats, Unicode and
//! empty strings, empty and nested objects and arrays, arrays of arrays), every disclosure
//! policy (all, leaves only, a random set of paths, none) and random decoy counts.
//!
//! The expected result comes from a model written here, independently of the crate: a claim is
//! visible iff its parent is visible and it is either not selectively disclosable or related
//! (ancestor, equal, descendant) to a chosen path. The presentation also carries exactly as
//! many disclosures as the visible disclosable claims: nothing more leaks.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kluis_sdjwt::{
    issue, verify_presentation, ClaimPath, Credential, DisclosurePolicy, PathSegment,
    PresentationExpectations, PublicJwk, SigningKey, VerifyOptions,
};
use proptest::prelude::*;
use serde_json::{json, Map, Number, Value};

/// Names the SD-JWT VC issuer puts at the top level itself (never in `claims`), and the
/// reserved names SD-JWT forbids as claim names.
const RESERVED: &[&str] = &[
    "iss",
    "iat",
    "exp",
    "nbf",
    "vct",
    "cnf",
    "status",
    "_sd",
    "...",
    "_sd_alg",
    "sub",
    "vct#integrity",
];

fn key() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_ .é€😀-]{0,6}".prop_filter("reserved", |k| !RESERVED.contains(&k.as_str()))
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<u64>().prop_map(|u| json!(u)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
        Just(json!({})),
        Just(json!([])),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(key(), tree(), 1..6).prop_map(|m| m.into_iter().collect())
}

#[derive(Debug, Clone, Copy)]
enum Policy {
    All,
    Leaves,
    Some,
    None,
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::All),
        Just(Policy::Leaves),
        Just(Policy::Some),
        Just(Policy::None)
    ]
}

/// Every claim path in the tree (pre-order), with its value.
fn all_paths(v: &Value, path: &mut Vec<PathSegment>, out: &mut Vec<(ClaimPath, Value)>) {
    let mut visit = |seg: PathSegment, child: &Value, out: &mut Vec<(ClaimPath, Value)>| {
        path.push(seg);
        out.push((ClaimPath::from_segments(path.clone()), child.clone()));
        all_paths(child, path, out);
        path.pop();
    };
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, c)| visit(PathSegment::from_key(k), c, out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| visit(PathSegment::Index(i), c, out)),
        _ => {}
    }
}

struct Model {
    disclosable: Vec<ClaimPath>,
    chosen: Vec<ClaimPath>,
}

impl Model {
    fn related(&self, p: &ClaimPath) -> bool {
        self.chosen
            .iter()
            .any(|c| c.is_prefix_of(p) || p.is_prefix_of(c))
    }
    fn visible(&self, p: &ClaimPath) -> bool {
        !self.disclosable.contains(p) || self.related(p)
    }
    /// What the verifier must see.
    fn project(&self, v: &Value, path: &mut Vec<PathSegment>) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, child) in m {
                    path.push(PathSegment::from_key(k));
                    if self.visible(&ClaimPath::from_segments(path.clone())) {
                        out.insert(k.clone(), self.project(child, path));
                    }
                    path.pop();
                }
                Value::Object(out)
            }
            Value::Array(a) => {
                let mut out = Vec::new();
                for (i, child) in a.iter().enumerate() {
                    path.push(PathSegment::Index(i));
                    if self.visible(&ClaimPath::from_segments(path.clone())) {
                        out.push(self.project(child, path));
                    }
                    path.pop();
                }
                Value::Array(out)
            }
            other => other.clone(),
        }
    }
    /// How many disclosures the presentation must carry: the visible disclosable claims.
    fn disclosures(&self, all: &[(ClaimPath, Value)]) -> usize {
        all.iter()
            .filter(|(p, _)| {
                self.disclosable.contains(p) && self.related(p) && self.ancestors_visible(p)
            })
            .count()
    }
    fn ancestors_visible(&self, p: &ClaimPath) -> bool {
        let segs = p.segments();
        (1..segs.len()).all(|n| self.visible(&ClaimPath::from_segments(segs[..n].to_vec())))
    }
}

fn registered(holder: &PublicJwk) -> Map<String, Value> {
    let i = sample_input(holder);
    json!({"iss": ISS, "iat": i.iat, "exp": i.exp, "vct": VCT, "cnf": {"jwk": holder.to_value()}, "status": i.status})
        .as_object()
        .unwrap()
        .clone()
}

fn with_registered(holder: &PublicJwk, claims: Value) -> Value {
    let mut m = registered(holder);
    m.extend(claims.as_object().unwrap().clone());
    Value::Object(m)
}

/// Disclosures in a presentation `jwt~d1~…~dn~kb`.
fn disclosure_count(presentation: &str) -> usize {
    presentation.split('~').count().saturating_sub(2)
}

fn check(
    claims: Map<String, Value>,
    policy: Policy,
    pick: &[bool],
    decoys: (usize, usize),
) -> Result<(), TestCaseError> {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let mut input = sample_input(&holder.public_jwk());
    input.claims = claims.clone();
    let tree = Value::Object(claims);
    let mut all = Vec::new();
    all_paths(&tree, &mut Vec::new(), &mut all);

    let (rule, disclosable): (DisclosurePolicy, Vec<ClaimPath>) = match policy {
        Policy::All => (
            DisclosurePolicy::all(),
            all.iter().map(|(p, _)| p.clone()).collect(),
        ),
        Policy::Leaves => (
            DisclosurePolicy::all_leaves(),
            all.iter()
                .filter(|(_, v)| match v {
                    Value::Object(m) => m.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    _ => true,
                })
                .map(|(p, _)| p.clone())
                .collect(),
        ),
        Policy::Some => {
            let some: Vec<ClaimPath> = all
                .iter()
                .zip(pick.iter().rev().cycle())
                .filter(|(_, &b)| b)
                .map(|((p, _), _)| p.clone())
                .collect();
            (DisclosurePolicy::from_paths(&some), some)
        }
        Policy::None => (DisclosurePolicy::none(), Vec::new()),
    };
    let issued = issue(&issuer.key, &input, &rule.with_decoys(decoys.0, decoys.1)).unwrap();
    let cred = Credential::verify_issued(&issued, &issuer.trust(), NOW, &VerifyOptions::default())
        .unwrap();
    // The holder sees everything that was issued.
    prop_assert_eq!(
        cred.claims(),
        &with_registered(&holder.public_jwk(), tree.clone())
    );
    let mut offered = cred.disclosable_paths();
    offered.sort_by_key(|p| p.to_string());
    let mut want = disclosable.clone();
    want.sort_by_key(|p| p.to_string());
    prop_assert_eq!(&offered, &want, "disclosable paths differ from the policy");

    // Any subset of the disclosable paths.
    let chosen: Vec<ClaimPath> = disclosable
        .iter()
        .zip(pick.iter().cycle())
        .filter(|(_, &b)| b)
        .map(|(p, _)| p.clone())
        .collect();
    let presentation = cred.present(&chosen, &holder, NONCE, AUD, NOW).unwrap();
    let verified = verify_presentation(
        &presentation,
        &issuer.trust(),
        &PresentationExpectations::new(NONCE, AUD, NOW),
    )
    .unwrap();
    let model = Model {
        disclosable,
        chosen,
    };
    let expected = model.project(&tree, &mut Vec::new());
    prop_assert_eq!(
        verified.claims,
        with_registered(&holder.public_jwk(), expected)
    );
    prop_assert_eq!(disclosure_count(&presentation), model.disclosures(&all));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn present_any_subset_verifies_to_exactly_that_subset(
        claims in claims(),
        policy in policy(),
        pick in prop::collection::vec(any::<bool>(), 1..64),
        decoys in (0usize..4, 0usize..6),
    ) {
        check(claims, policy, &pick, decoys)?;
    }
}

/// Found by the property above: without serde_json's `float_roundtrip` the holder read back
/// -6.344756106036279e273 for a signed -6.34475610603628e273.
#[test]
fn floats_read_back_exactly_as_signed() {
    let mut claims = Map::new();
    claims.insert("x".into(), json!(-6.34475610603628e273));
    claims.insert("y".into(), json!(0.1 + 0.2));
    check(claims, Policy::All, &[true], (0, 0)).unwrap();
}
