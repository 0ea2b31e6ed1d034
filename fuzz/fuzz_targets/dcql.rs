//! DCQL queries (OpenID4VP 1.0 §6) from a requesting party, parsed and matched against the
//! wallet's credentials.
//!
//! Input: a JSON document, either the query itself (matched against fixed credentials) or
//! `{"query": …, "candidates": [{"vct": …, "claims": …, "bound": bool}, …]}`.
//! Oracle: every claim path a match returns resolves in its credential.
#![no_main]

use kluis_core::openid4vp::dcql::{match_query, Candidate, DcqlQuery};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let (query, creds) = match (doc.get("query"), doc.get("candidates")) {
        (Some(q), Some(Value::Array(c))) => (q.clone(), c.clone()),
        _ => (doc, fixed()),
    };
    let Ok(query) = DcqlQuery::parse(&query) else {
        return;
    };
    let ids: Vec<String> = (0..creds.len()).map(|i| format!("c{i}")).collect();
    let null = Value::Null;
    let candidates: Vec<Candidate<'_>> = creds
        .iter()
        .zip(&ids)
        .map(|(c, id)| Candidate {
            id,
            vct: c.get("vct").and_then(Value::as_str).unwrap_or(""),
            claims: c.get("claims").unwrap_or(&null),
            holder_bound: c.get("bound").and_then(Value::as_bool).unwrap_or(true),
        })
        .collect();
    let m = match_query(&query, &candidates);
    let _ = m.is_satisfiable();
    for matches in m.candidates.values() {
        for cm in matches {
            let c = candidates
                .iter()
                .find(|c| c.id == cm.credential_id)
                .expect("a match names one of the candidates");
            for p in &cm.claims {
                assert!(
                    p.resolve(c.claims).is_some(),
                    "a DCQL match returned a path that is not in its credential"
                );
            }
        }
    }
});

fn fixed() -> Vec<Value> {
    vec![
        json!({"vct": "https://credentials.kluis.test/student-debt", "claims": {
            "given_name": "Sanne", "family_name": "de Vries", "debt": {"total": 12000, "currency": "EUR"},
            "loans": [{"amount": 5000, "year": 2019}, {"amount": 7000, "year": 2021}]}}),
        json!({"vct": "https://credentials.kluis.test/income-statement", "claims": {
            "employer": "Gemeente", "income": {"gross_yearly": 41000, "months": [3400, 3400, null]},
            "nationalities": ["NL", "DE"], "verified": true}}),
        json!({"vct": "https://credentials.kluis.test/address", "bound": false, "claims": {
            "address": {"street": "Oudegracht", "locality": "Utrecht", "postal_code": "3511"}}}),
    ]
}
