//! Model test for DCQL matching: random queries (built as JSON, so parsing is exercised too)
//! against random credentials, compared with a small model written from OpenID4VP 1.0 §6 and
//! §7 directly: a credential answers a credential query iff the format is `dc+sd-jwt`, its
//! `vct` is listed (or none is), it is key-bound when binding is required, and every requested
//! claim (or, with `claim_sets`, every claim of the first set it satisfies) selects at least
//! one value, which must be one of `values` when given. `credential_sets` take their first
//! option whose queries all have answers; without sets every query must be answered.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::*;

const KEYS: [&str; 3] = ["a", "b", "c"];
const VCTS: [&str; 3] = ["t1", "t2", "t3"];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        (0i64..3).prop_map(|i| json!(i)),
        prop_oneof![Just("x"), Just("y")].prop_map(|s| json!(s)),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(json!(1.5)),
    ]
}

fn claims_tree() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(&KEYS[..]), inner, 0..3).prop_map(
                |m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

#[derive(Debug, Clone)]
struct Cred {
    vct: &'static str,
    bound: bool,
    claims: Value,
}

fn cred() -> impl Strategy<Value = Cred> {
    (
        prop::sample::select(&VCTS[..]),
        prop::bool::weighted(0.8),
        prop::collection::btree_map(prop::sample::select(&KEYS[..]), claims_tree(), 2..4),
    )
        .prop_map(|(vct, bound, m)| Cred {
            vct,
            bound,
            claims: Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
        })
}

fn path_step() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => prop::sample::select(&KEYS[..]).prop_map(|k| json!(k)),
        1 => (0usize..3).prop_map(|i| json!(i)),
        1 => Just(Value::Null),
    ]
}

fn claim_query(i: usize) -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(path_step(), 1..3),
        prop::option::weighted(
            0.3,
            prop::collection::vec(
                prop_oneof![
                    (0i64..3).prop_map(|i| json!(i)),
                    Just(json!("x")),
                    any::<bool>().prop_map(Value::Bool)
                ],
                1..3,
            ),
        ),
    )
        .prop_map(move |(path, values)| {
            let mut q = json!({"id": format!("k{i}"), "path": path});
            if let Some(v) = values {
                q["values"] = Value::Array(v);
            }
            q
        })
}

fn credential_query(i: usize) -> impl Strategy<Value = Value> {
    (
        prop::bool::weighted(0.95),
        prop::option::weighted(0.3, prop::sample::subsequence(&VCTS[..], 1..3)),
        prop::collection::vec(0..3usize, 0..3),
        prop::option::weighted(
            0.3,
            prop::collection::vec(prop::collection::vec(0..4usize, 1..3), 1..3),
        ),
        prop::option::of(any::<bool>()),
        prop::option::of(any::<bool>()),
    )
        .prop_flat_map(move |(sd_jwt, vcts, n_claims, sets, binding, multiple)| {
            let n = n_claims.len();
            (prop::collection::vec((0..n.max(1)).prop_flat_map(claim_query), n..=n)).prop_map(
                move |claims| {
                    let mut q = json!({
                        "id": format!("q{i}"),
                        "format": if sd_jwt { "dc+sd-jwt" } else { "mso_mdoc" },
                    });
                    if let Some(v) = &vcts {
                        q["meta"] = json!({"vct_values": v});
                    }
                    // Unique claim ids k0..kn.
                    let claims: Vec<Value> = claims
                        .into_iter()
                        .enumerate()
                        .map(|(j, mut c)| {
                            c["id"] = json!(format!("k{j}"));
                            c
                        })
                        .collect();
                    if !claims.is_empty() {
                        if let Some(sets) = &sets {
                            let sets: Vec<Vec<String>> = sets
                                .iter()
                                .map(|s| {
                                    s.iter()
                                        .map(|j| format!("k{}", j % claims.len()))
                                        .collect::<BTreeSet<_>>()
                                        .into_iter()
                                        .collect()
                                })
                                .collect();
                            q["claim_sets"] = json!(sets);
                        }
                        q["claims"] = Value::Array(claims);
                    }
                    if let Some(b) = binding {
                        q["require_cryptographic_holder_binding"] = json!(b);
                    }
                    if let Some(m) = multiple {
                        q["multiple"] = json!(m);
                    }
                    q
                },
            )
        })
}

fn query() -> impl Strategy<Value = Value> {
    (1..4usize)
        .prop_flat_map(|n| {
            (
                (0..n).map(credential_query).collect::<Vec<_>>(),
                prop::option::weighted(
                    0.4,
                    prop::collection::vec(
                        (
                            prop::collection::vec(prop::collection::vec(0..n, 1..3), 1..3),
                            prop::option::of(any::<bool>()),
                        ),
                        1..3,
                    ),
                ),
            )
        })
        .prop_map(|(creds, sets)| {
            let mut q = json!({ "credentials": creds });
            if let Some(sets) = sets {
                let sets: Vec<Value> = sets
                    .into_iter()
                    .map(|(options, required)| {
                        let options: Vec<Vec<String>> = options
                            .into_iter()
                            .map(|o| {
                                o.into_iter()
                                    .map(|i| format!("q{i}"))
                                    .collect::<BTreeSet<_>>()
                                    .into_iter()
                                    .collect()
                            })
                            .collect();
                        let mut s = json!({ "options": options });
                        if let Some(r) = required {
                            s["required"] = json!(r);
                        }
                        s
                    })
                    .collect();
                q["credential_sets"] = Value::Array(sets);
            }
            q
        })
}

// ---- the model, on the query's JSON ----

/// Pointers (as JSON Pointer strings) a claims path selects, with their values.
fn model_select<'a>(path: &[Value], v: &'a Value, at: String, out: &mut Vec<(String, &'a Value)>) {
    let Some((step, rest)) = path.split_first() else {
        out.push((at, v));
        return;
    };
    match (step, v) {
        (Value::String(k), Value::Object(m)) => {
            if let Some(c) = m.get(k) {
                model_select(rest, c, format!("{at}/{k}"), out);
            }
        }
        (Value::Number(n), Value::Array(a)) => {
            if let Some(c) = a.get(n.as_u64().unwrap() as usize) {
                model_select(rest, c, format!("{at}/{n}"), out);
            }
        }
        (Value::Null, Value::Array(a)) => {
            for (i, c) in a.iter().enumerate() {
                model_select(rest, c, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// The pointers one claim query discloses, or `None` if it is not satisfied.
fn model_claim(cq: &Value, claims: &Value) -> Option<BTreeSet<String>> {
    let mut sel = Vec::new();
    model_select(
        cq["path"].as_array().unwrap(),
        claims,
        String::new(),
        &mut sel,
    );
    let ok: BTreeSet<String> = sel
        .into_iter()
        .filter(|(_, v)| match cq.get("values").and_then(Value::as_array) {
            None => true,
            // Only strings, integers and booleans are ever requested here, and 1.5 never equals them.
            Some(vals) => vals.iter().any(|w| w == *v),
        })
        .map(|(p, _)| p)
        .collect();
    (!ok.is_empty()).then_some(ok)
}

fn model_credential(q: &Value, c: &Cred) -> Option<BTreeSet<String>> {
    if q["format"] != "dc+sd-jwt" {
        return None;
    }
    if let Some(vcts) = q.pointer("/meta/vct_values").and_then(Value::as_array) {
        if !vcts.iter().any(|v| v == c.vct) {
            return None;
        }
    }
    if q.get("require_cryptographic_holder_binding")
        .and_then(Value::as_bool)
        .unwrap_or(true)
        && !c.bound
    {
        return None;
    }
    let empty = Vec::new();
    let claims = q.get("claims").and_then(Value::as_array).unwrap_or(&empty);
    let by_id = |id: &str| claims.iter().find(|cq| cq["id"] == id).unwrap();
    match q.get("claim_sets").and_then(Value::as_array) {
        None => {
            let mut all = BTreeSet::new();
            for cq in claims {
                all.extend(model_claim(cq, &c.claims)?);
            }
            Some(all)
        }
        Some(sets) => sets.iter().find_map(|set| {
            let mut all = BTreeSet::new();
            for id in set.as_array().unwrap() {
                all.extend(model_claim(by_id(id.as_str().unwrap()), &c.claims)?);
            }
            Some(all)
        }),
    }
}

fn pointer(p: &ClaimPath) -> String {
    p.segments()
        .iter()
        .map(|s| match s {
            PathSegment::Index(i) => format!("/{i}"),
            other => format!(
                "/{}",
                ClaimPath::from_segments(vec![other.clone()])
                    .to_string()
                    .trim_start_matches('/')
            ),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]
    #[test]
    fn matching_agrees_with_the_model(q in query(), creds in prop::collection::vec(cred(), 0..6)) {
        let parsed = DcqlQuery::parse(&q);
        prop_assert!(parsed.is_ok(), "a well-formed query is refused: {:?}\n{}", parsed, q);
        let parsed = parsed.unwrap();
        let ids: Vec<String> = (0..creds.len()).map(|i| format!("c{i}")).collect();
        let cands: Vec<Candidate<'_>> = creds
            .iter()
            .zip(&ids)
            .map(|(c, id)| Candidate { id, vct: c.vct, claims: &c.claims, holder_bound: c.bound })
            .collect();
        let got = match_query(&parsed, &cands);

        let mut answered = BTreeSet::new();
        for cq in q["credentials"].as_array().unwrap() {
            let qid = cq["id"].as_str().unwrap();
            let want: Vec<(String, BTreeSet<String>)> = creds
                .iter()
                .zip(&ids)
                .filter_map(|(c, id)| model_credential(cq, c).map(|p| (id.clone(), p)))
                .collect();
            let have: Vec<(String, BTreeSet<String>)> = got.candidates[qid]
                .iter()
                .map(|m| {
                    let ps: Vec<String> = m.claims.iter().map(pointer).collect();
                    let set: BTreeSet<String> = ps.iter().cloned().collect();
                    assert_eq!(set.len(), ps.len(), "a path is disclosed twice");
                    (m.credential_id.clone(), set)
                })
                .collect();
            prop_assert_eq!(&have, &want, "query {} on {}", qid, q);
            if !want.is_empty() {
                answered.insert(qid.to_string());
            }
            prop_assert_eq!(got.unsupported_formats.contains(&qid.to_string()), cq["format"] != "dc+sd-jwt");
        }

        let want_selection = match q.get("credential_sets").and_then(Value::as_array) {
            None => {
                let all: Vec<String> = q["credentials"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect();
                all.iter().all(|id| answered.contains(id)).then_some(all)
            }
            Some(sets) => {
                let mut chosen: Vec<String> = Vec::new();
                let mut ok = true;
                for s in sets {
                    let opt = s["options"].as_array().unwrap().iter().find(|o| {
                        o.as_array().unwrap().iter().all(|id| answered.contains(id.as_str().unwrap()))
                    });
                    match opt {
                        Some(o) => for id in o.as_array().unwrap() {
                            let id = id.as_str().unwrap().to_string();
                            if !chosen.contains(&id) { chosen.push(id); }
                        },
                        None if s.get("required").and_then(Value::as_bool).unwrap_or(true) => ok = false,
                        None => {}
                    }
                }
                ok.then_some(chosen)
            }
        };
        prop_assert_eq!(got.selection, want_selection);
    }
}

/// Keys with characters that claim paths escape still compare equal to the model's pointers.
#[test]
fn pointer_of_plain_keys() {
    let p = ClaimPath::from_segments(vec![PathSegment::from_key("a"), PathSegment::Index(2)]);
    assert_eq!(pointer(&p), "/a/2");
    let _ = Map::<String, Value>::new();
}
