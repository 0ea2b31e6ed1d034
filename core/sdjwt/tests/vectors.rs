//! Conformance: the 15 IETF reference-implementation vectors (sd-jwt-python 0.10.4).
//! For each: verify the reference presentation and get exactly `expected_verified_claims`;
//! then parse the reference issuance as a holder, build our own presentation of
//! `holder_disclosed_claims`, verify it, and get the same claims.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use kluis_sdjwt::{
    verify_presentation, ClaimPath, Credential, Mode, PathSegment, PresentationExpectations,
    PublicJwk, SigningKey, VerifyOptions,
};
use serde_json::Value;

const ISS: &str = "https://example.com/issuer";
/// The reference KB-JWTs were made at this time; non-KB vectors have no time at all.
const VECTOR_NOW: i64 = 1_795_412_392;

/// Turns the reference's `holder_disclosed_claims` tree into claim paths: a `true` (or any
/// other non-container truthy value) names a claim; containers are walked into. The
/// reference discloses the parents of a chosen claim implicitly, as we do.
fn paths_from_tree(tree: &Value, prefix: &mut Vec<PathSegment>, out: &mut Vec<ClaimPath>) {
    let visit =
        |seg: PathSegment, v: &Value, prefix: &mut Vec<PathSegment>, out: &mut Vec<ClaimPath>| {
            prefix.push(seg);
            match v {
                Value::Null | Value::Bool(false) => {}
                Value::Object(_) | Value::Array(_) => paths_from_tree(v, prefix, out),
                _ => out.push(ClaimPath::from_segments(prefix.clone())),
            }
            prefix.pop();
        };
    match tree {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| visit(PathSegment::from_key(k), v, prefix, out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| visit(PathSegment::Index(i), v, prefix, out)),
        _ => {}
    }
}

struct Vector {
    name: String,
    v: Value,
}

fn vectors() -> Vec<Vector> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out: Vec<Vector> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| Vector {
            name: p.file_stem().unwrap().to_string_lossy().into_owned(),
            v: serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(out.len(), 15, "all 15 reference vectors are present");
    out
}

fn expected_claims(v: &Value) -> Value {
    // Some producers emit a Python repr here; these copies are all JSON, and we insist.
    let e = &v["expected_verified_claims"];
    assert!(
        e.is_object(),
        "expected_verified_claims must be a JSON object"
    );
    e.clone()
}

fn keys(v: &Value) -> Vec<(String, PublicJwk)> {
    vec![(
        ISS.to_owned(),
        PublicJwk::from_value(&v["issuer_public_jwk"]).unwrap(),
    )]
}

fn expectations(v: &Value) -> PresentationExpectations {
    PresentationExpectations {
        nonce: v["nonce"].as_str().unwrap_or_default().to_owned(),
        aud: v["aud"].as_str().unwrap_or_default().to_owned(),
        now: VECTOR_NOW,
        max_age_secs: 300,
        skew_secs: 60,
        require_key_binding: v["key_binding"].as_bool().unwrap(),
        mode: Mode::PlainSdJwt,
    }
}

#[test]
fn reference_presentations_verify_to_expected_claims() {
    for Vector { name, v } in vectors() {
        let got = verify_presentation(
            v["presentation"].as_str().unwrap(),
            &keys(&v),
            &expectations(&v),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.claims, expected_claims(&v), "{name}");
        assert_eq!(got.key_bound, v["key_binding"].as_bool().unwrap(), "{name}");
    }
}

#[test]
fn our_presentations_of_reference_issuance_verify_to_expected_claims() {
    for Vector { name, v } in vectors() {
        let cred = Credential::verify_issued(
            v["issuance"].as_str().unwrap(),
            &keys(&v),
            VECTOR_NOW,
            &VerifyOptions::plain_sd_jwt(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut paths = Vec::new();
        paths_from_tree(&v["holder_disclosed_claims"], &mut Vec::new(), &mut paths);
        let presentation = if v["key_binding"].as_bool().unwrap() {
            let holder = SigningKey::from_jwk(&v["holder_private_jwk"]).unwrap();
            cred.present(
                &paths,
                &holder,
                v["nonce"].as_str().unwrap(),
                v["aud"].as_str().unwrap(),
                VECTOR_NOW - 10,
            )
        } else {
            cred.present_without_key_binding(&paths)
        }
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = verify_presentation(&presentation, &keys(&v), &expectations(&v))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.claims, expected_claims(&v), "{name}: paths {paths:?}");
        // Same disclosures as the reference chose (order aside), no more.
        let ours: std::collections::BTreeSet<&str> = presentation
            .split('~')
            .skip(1)
            .filter(|s| !s.is_empty() && !s.contains('.'))
            .collect();
        let theirs: std::collections::BTreeSet<&str> = v["presentation"]
            .as_str()
            .unwrap()
            .split('~')
            .skip(1)
            .filter(|s| !s.is_empty() && !s.contains('.'))
            .collect();
        assert_eq!(ours, theirs, "{name}: same disclosures as the reference");
    }
}

#[test]
fn reference_vectors_are_refused_in_sd_jwt_vc_mode() {
    // They carry typ testcase+sd-jwt and no vct: VC mode (the default) must say so.
    for Vector { name, v } in vectors() {
        let mut e = expectations(&v);
        e.mode = Mode::SdJwtVc;
        let err =
            verify_presentation(v["presentation"].as_str().unwrap(), &keys(&v), &e).unwrap_err();
        assert_eq!(
            err,
            kluis_sdjwt::SdJwtError::WrongTyp {
                expected: "dc+sd-jwt"
            },
            "{name}"
        );
    }
}

#[test]
fn full_holder_view_of_reference_issuance() {
    // The holder sees everything the issuer disclosed; spot-check one nested vector.
    let v = vectors()
        .into_iter()
        .find(|x| x.name == "recursions")
        .unwrap()
        .v;
    let cred = Credential::verify_issued(
        v["issuance"].as_str().unwrap(),
        &keys(&v),
        VECTOR_NOW,
        &VerifyOptions::plain_sd_jwt(),
    )
    .unwrap();
    assert_eq!(cred.claims()["animals"]["bird"]["name"], "eagle");
    assert_eq!(
        cred.claims()["baz"],
        serde_json::json!([["orange", "purple"], ["black", "white"]])
    );
    let paths: Vec<String> = cred
        .disclosable_paths()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(paths.contains(&"/baz/1/0".to_owned()), "{paths:?}");
    assert!(
        paths.contains(&"/animals/snake/age".to_owned()),
        "{paths:?}"
    );
    assert_eq!(paths.len(), 19);
}
