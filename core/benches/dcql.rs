//! DCQL matching benchmark: the landlord's rental-application query (three credential queries,
//! one with `values`) against a vault of 1,000 credentials whose claims are already decoded in
//! memory, as the presentation session holds them. Goal (presenting issue): < 5 ms.
//! Run: `cargo bench -p kluis-core --bench dcql`.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use kluis_core::openid4vp::dcql::{match_query, Candidate, DcqlQuery};
use serde_json::{json, Value};

/// 1,000 credentials over eight types, shaped like the simulated holders' (names, dates, nested
/// address, arrays of employers and debts).
fn vault() -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for i in 0..1000 {
        let person = json!({ "given_name": format!("Naam{i}"), "family_name": "Visser", "birthdate": "1992-09-05" });
        let mut claims = person.as_object().unwrap().clone();
        let vct = match i % 8 {
            0 => {
                claims.insert("bsn".into(), json!(format!("9999{i:05}")));
                claims.insert("nationalities".into(), json!(["NL"]));
                claims.insert(
                    "address".into(),
                    json!({ "street": "Biltstraat", "house_number": "88A",
                    "postal_code": "3572 BJ", "locality": "Utrecht", "municipality": "Utrecht" }),
                );
                "urn:nl:gemeente:brp-address:1"
            }
            1 => {
                claims.insert("year".into(), json!(2025));
                claims.insert("total_gross_income_eur".into(), json!(35880.0));
                claims.insert("monthly_gross_income_eur".into(), json!(2990.0));
                claims.insert(
                    "employers".into(),
                    json!([{ "name": "A", "period_start": "2025-01-01",
                    "period_end": "2025-12-31", "gross_income_eur": 35880.0 }]),
                );
                "urn:nl:uwv:income-statement:1"
            }
            2 => {
                claims.insert("arrears_eur".into(), json!(742.3));
                claims.insert("months_in_arrears".into(), json!(6));
                claims.insert("payment_arrangement".into(), json!(true));
                // Every other one is registered: those must not match `values: [false]`.
                claims.insert("registered_payment_arrears".into(), json!(i % 16 == 2));
                "urn:nl:cak:care-arrears:1"
            }
            3 => {
                claims.insert(
                    "debt".into(),
                    json!({ "total_amount_eur": 18650.4, "monthly_payment_eur": 48.75,
                    "interest_rate_percent": 0.46 }),
                );
                "urn:nl:duo:student-debt:1"
            }
            4 => {
                claims.insert(
                    "vehicles".into(),
                    json!([{ "license_plate": "GZ-418-T", "make": "Renault" }]),
                );
                "urn:nl:rdw:vehicles:1"
            }
            5 => {
                claims.insert("categories".into(), json!(["AM", "B"]));
                "urn:nl:rdw:driving-licence:1"
            }
            6 => {
                claims.insert("total_eur".into(), json!(356.0));
                claims.insert(
                    "debts".into(),
                    json!([{ "kind": "parkeerbon", "amount_eur": 106.0 }]),
                );
                "urn:nl:gemeente:municipal-debts:1"
            }
            _ => {
                claims.insert("tax_year".into(), json!(2025));
                claims.insert("taxable_income_box1_eur".into(), json!(34120.0));
                "urn:nl:belastingdienst:income-assessment:1"
            }
        };
        out.push((
            format!("cred-{i:04}"),
            vct.to_string(),
            Value::Object(claims),
        ));
    }
    out
}

fn bench(c: &mut Criterion) {
    let creds = vault();
    let query = DcqlQuery::parse(&kluis_core::openid4vp::rental_dcql()).unwrap();
    let candidates: Vec<Candidate<'_>> = creds
        .iter()
        .map(|(id, vct, claims)| Candidate {
            id,
            vct,
            claims,
            holder_bound: true,
        })
        .collect();
    let m = match_query(&query, &candidates);
    assert!(m.is_satisfiable());
    assert_eq!(m.candidates["person"].len(), 125);
    assert_eq!(m.candidates["arrears"].len(), 62);
    c.bench_function("dcql rental query vs 1000 credentials", |b| {
        b.iter(|| match_query(&query, &candidates))
    });
    c.bench_function("dcql parse rental query", |b| {
        let v = kluis_core::openid4vp::rental_dcql();
        b.iter(|| DcqlQuery::parse(&v).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
