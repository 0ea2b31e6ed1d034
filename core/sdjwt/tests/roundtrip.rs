//! Issue → hold → present → verify, the way the wallet and the simulated parties use it;
//! josekit as an independent ES256 check; a property test over random claim trees.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kluis_sdjwt::{
    issue, verify_presentation, ClaimPath, Credential, DisclosurePolicy, PathSegment,
    PresentationExpectations, PublicJwk, SdJwtError, SigningKey, VerifyOptions,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

fn paths(ps: &[&str]) -> Vec<ClaimPath> {
    ps.iter().map(|p| ClaimPath::parse(p).unwrap()).collect()
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

#[test]
fn holder_sees_everything_issued() {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let cred = Credential::verify_issued(
        &issue_sample(&issuer, &holder),
        &issuer.trust(),
        NOW,
        &VerifyOptions::default(),
    )
    .unwrap();
    assert_eq!(
        cred.claims(),
        &with_registered(&holder.public_jwk(), Value::Object(sample_claims()))
    );
    assert_eq!(cred.issuer(), ISS);
    assert_eq!(cred.vct(), VCT);
    assert_eq!(cred.issued_at(), Some(NOW - 100));
    assert_eq!(cred.expires_at(), Some(NOW + 30 * 86400));
    assert_eq!(cred.holder_jwk(), Some(&holder.public_jwk()));
    assert_eq!(cred.status().unwrap()["status_list"]["idx"], 412);
    let dp: Vec<String> = cred
        .disclosable_paths()
        .iter()
        .map(ToString::to_string)
        .collect();
    for p in [
        "/given_name",
        "/address",
        "/address/locality",
        "/nationalities/0",
        "/nationalities/1",
        "/debt/total_amount_eur",
    ] {
        assert!(dp.contains(&p.to_owned()), "{p} in {dp:?}");
    }
    assert_eq!(dp.len(), 6 + 4 + 2 + 2);
    // Stored form round-trips.
    let again = Credential::verify_issued(
        cred.compact(),
        &issuer.trust(),
        NOW,
        &VerifyOptions::default(),
    )
    .unwrap();
    assert_eq!(again.claims(), cred.claims());
}

#[test]
fn presentation_discloses_exactly_the_chosen_paths() {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let cred = Credential::verify_issued(
        &issue_sample(&issuer, &holder),
        &issuer.trust(),
        NOW,
        &VerifyOptions::default(),
    )
    .unwrap();
    let h = holder.public_jwk();
    let cases: Vec<(Vec<&str>, Value)> = vec![
        (vec![], json!({})),
        (vec!["/given_name"], json!({"given_name": "Sanne"})),
        (
            vec!["/address/locality", "/nationalities/1"],
            json!({"address": {"locality": "Utrecht"}, "nationalities": ["BE"]}),
        ),
        // A container path discloses the whole subtree.
        (
            vec!["/address"],
            json!({"address": sample_claims()["address"].clone()}),
        ),
        (
            vec!["/nationalities"],
            json!({"nationalities": ["NL", "BE"]}),
        ),
        // Registered claims are always there; naming one is harmless.
        (
            vec!["/iss", "/debt/monthly_payment_eur"],
            json!({"debt": {"monthly_payment_eur": 61.2}}),
        ),
    ];
    for (chosen, disclosed) in cases {
        let p = cred
            .present(&paths(&chosen), &holder, NONCE, AUD, NOW)
            .unwrap();
        let v = verify_presentation(
            &p,
            &issuer.trust(),
            &PresentationExpectations::new(NONCE, AUD, NOW + 10),
        )
        .unwrap();
        assert_eq!(v.claims, with_registered(&h, disclosed), "{chosen:?}");
        assert!(v.key_bound);
        assert_eq!((v.issuer.as_str(), v.vct.as_str()), (ISS, VCT));
        assert_eq!(v.holder_jwk, Some(h.clone()));
        assert_eq!(v.status.as_ref(), cred.status());
    }
}

#[test]
fn policies() {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let input = sample_input(&holder.public_jwk());
    let show = |policy: DisclosurePolicy| {
        let c = issue(&issuer.key, &input, &policy).unwrap();
        let cred =
            Credential::verify_issued(&c, &issuer.trust(), NOW, &VerifyOptions::default()).unwrap();
        assert_eq!(
            cred.claims(),
            &with_registered(&holder.public_jwk(), Value::Object(sample_claims()))
        );
        cred.disclosable_paths()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    assert!(show(DisclosurePolicy::none()).is_empty());
    let leaves = show(DisclosurePolicy::all_leaves());
    assert!(
        leaves.contains(&"/address/locality".to_owned())
            && !leaves.contains(&"/address".to_owned())
    );
    let mut chosen = show(DisclosurePolicy::from_paths(&paths(&[
        "/birthdate",
        "/address/postal_code",
        "/nationalities/0",
    ])));
    chosen.sort();
    assert_eq!(
        chosen,
        ["/address/postal_code", "/birthdate", "/nationalities/0"]
    );
    assert_eq!(
        issue(
            &issuer.key,
            &input,
            &DisclosurePolicy::from_paths(&paths(&["/adress"]))
        )
        .unwrap_err(),
        SdJwtError::UnknownClaimPath("/adress".into())
    );
    for reserved in ["iss", "exp", "vct", "cnf", "status", "_sd", "_sd_alg"] {
        let mut bad = input.clone();
        bad.claims.insert(reserved.into(), json!(1));
        assert_eq!(
            issue(&issuer.key, &bad, &DisclosurePolicy::all()).unwrap_err(),
            SdJwtError::ReservedClaimName(reserved.into())
        );
    }
    let mut nested = input.clone();
    nested.claims.insert("x".into(), json!({"...": 1}));
    assert_eq!(
        issue(&issuer.key, &nested, &DisclosurePolicy::all()).unwrap_err(),
        SdJwtError::ReservedClaimName("...".into())
    );
}

#[test]
fn decoys_hide_the_number_of_claims() {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let c = issue(
        &issuer.key,
        &sample_input(&holder.public_jwk()),
        &DisclosurePolicy::from_paths(&paths(&[
            "/given_name",
            "/family_name",
            "/nationalities/0",
            "/nationalities/1",
        ]))
        .with_decoys(2, 2),
    )
    .unwrap();
    let jwt = c.split('~').next().unwrap();
    let payload: Value =
        serde_json::from_slice(&base64_decode(jwt.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(payload["_sd"].as_array().unwrap().len(), 2 + 2);
    assert_eq!(payload["nationalities"].as_array().unwrap().len(), 2 + 2);
    let sd = payload["_sd"].as_array().unwrap();
    assert!(
        sd.windows(2).all(|w| w[0].as_str() < w[1].as_str()),
        "digests sorted"
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[test]
fn josekit_verifies_our_signatures() {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let c = issue_sample(&issuer, &holder);
    let verifier = josekit::jws::ES256.verifier_from_jwk(&issuer.jwk).unwrap();
    let (payload, header) =
        josekit::jws::deserialize_compact(c.split('~').next().unwrap(), &verifier).unwrap();
    assert_eq!(header.token_type(), Some("dc+sd-jwt"));
    assert_eq!(header.key_id(), Some("duo-2026"));
    assert!(String::from_utf8(payload).unwrap().contains("\"vct\""));

    let cred =
        Credential::verify_issued(&c, &issuer.trust(), NOW, &VerifyOptions::default()).unwrap();
    let p = cred
        .present(&paths(&["/given_name"]), &holder, NONCE, AUD, NOW)
        .unwrap();
    let holder_jwk =
        josekit::jwk::Jwk::from_bytes(serde_json::to_vec(&holder.public_jwk()).unwrap()).unwrap();
    let kb_verifier = josekit::jws::ES256.verifier_from_jwk(&holder_jwk).unwrap();
    let (kb, kb_header) =
        josekit::jws::deserialize_compact(p.rsplit('~').next().unwrap(), &kb_verifier).unwrap();
    assert_eq!(kb_header.token_type(), Some("kb+jwt"));
    let kb: Value = serde_json::from_slice(&kb).unwrap();
    assert_eq!(
        (kb["nonce"].as_str(), kb["aud"].as_str(), kb["iat"].as_i64()),
        (Some(NONCE), Some(AUD), Some(NOW))
    );
}

#[test]
fn keys() {
    let k = SigningKey::make_random().unwrap();
    let again = SigningKey::from_pkcs8_der(&k.to_pkcs8_der()).unwrap();
    assert_eq!(k.public_jwk(), again.public_jwk());
    assert!(SigningKey::from_pkcs8_der(b"junk").is_err());

    let pubv = k.public_jwk().to_value();
    assert_eq!(
        PublicJwk::from_json(&pubv.to_string()).unwrap(),
        k.public_jwk()
    );
    let serde_rt: PublicJwk =
        serde_json::from_str(&serde_json::to_string(&k.public_jwk()).unwrap()).unwrap();
    assert_eq!(serde_rt, k.public_jwk());
    let mut wrong = pubv.clone();
    wrong["crv"] = json!("P-384");
    assert_eq!(
        PublicJwk::from_value(&wrong).unwrap_err(),
        SdJwtError::BadJwk("crv must be P-256")
    );
    let mut private = pubv.clone();
    private["d"] = json!("AAAA");
    assert!(PublicJwk::from_value(&private).is_err());
    let mut short = pubv.clone();
    short["x"] = json!("AAAA");
    assert_eq!(
        PublicJwk::from_value(&short).unwrap_err(),
        SdJwtError::BadJwk("coordinate is not 32 bytes")
    );

    // A private JWK whose public half belongs to another key is refused.
    let other = SigningKey::make_random().unwrap().public_jwk().to_value();
    let issuer = Issuer::new();
    let mut mixed = Value::Object(issuer.jwk.as_ref().clone());
    mixed["x"] = other["x"].clone();
    mixed["y"] = other["y"].clone();
    assert!(matches!(
        SigningKey::from_jwk(&mixed),
        Err(SdJwtError::BadJwk(_))
    ));

    // Thumbprint: RFC 7638 over {"crv","kty","x","y"}, computed here independently.
    let canonical = serde_json::to_string(&std::collections::BTreeMap::from([
        ("crv", pubv["crv"].clone()),
        ("kty", pubv["kty"].clone()),
        ("x", pubv["x"].clone()),
        ("y", pubv["y"].clone()),
    ]))
    .unwrap();
    use sha2::Digest;
    assert_eq!(
        k.public_jwk().thumbprint(),
        b64(&sha2::Sha256::digest(canonical.as_bytes()))
    );
}

// ---- property: random claim trees ----

fn claim_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|i| json!(i)),
        "[a-zA-Z0-9 éë]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-c0-2]{1,2}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn top_claims() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("(k|name|x)[0-2]?", claim_tree(), 1..5)
        .prop_map(|m| m.into_iter().collect())
}

fn included(path: &[PathSegment], chosen: &[ClaimPath]) -> bool {
    let p = ClaimPath::from_segments(path.to_vec());
    chosen
        .iter()
        .any(|c| c.is_prefix_of(&p) || p.is_prefix_of(c))
}

/// What the verifier should see when everything is disclosable and `chosen` is presented.
fn project(v: &Value, path: &mut Vec<PathSegment>, chosen: &[ClaimPath]) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                path.push(PathSegment::from_key(k));
                if included(path, chosen) {
                    out.insert(k.clone(), project(child, path, chosen));
                }
                path.pop();
            }
            Value::Object(out)
        }
        Value::Array(a) => {
            let mut out = Vec::new();
            for (i, child) in a.iter().enumerate() {
                path.push(PathSegment::Index(i));
                if included(path, chosen) {
                    out.push(project(child, path, chosen));
                }
                path.pop();
            }
            Value::Array(out)
        }
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn present_random_subset_verifies_to_that_subset(claims in top_claims(), pick in prop::collection::vec(any::<bool>(), 64)) {
        let issuer = Issuer::new();
        let holder = SigningKey::make_random().unwrap();
        let mut input = sample_input(&holder.public_jwk());
        input.claims = claims.clone();
        let issued = issue(&issuer.key, &input, &DisclosurePolicy::all()).unwrap();
        let cred = Credential::verify_issued(&issued, &issuer.trust(), NOW, &VerifyOptions::default()).unwrap();
        prop_assert_eq!(cred.claims(), &with_registered(&holder.public_jwk(), Value::Object(claims.clone())));

        let all = cred.disclosable_paths();
        let chosen: Vec<ClaimPath> = all.iter().zip(pick.iter().cycle()).filter(|(_, &b)| b).map(|(p, _)| p.clone()).collect();
        let p = cred.present(&chosen, &holder, NONCE, AUD, NOW).unwrap();
        let v = verify_presentation(&p, &issuer.trust(), &PresentationExpectations::new(NONCE, AUD, NOW)).unwrap();
        let expected = project(&Value::Object(claims), &mut Vec::new(), &chosen);
        prop_assert_eq!(v.claims, with_registered(&holder.public_jwk(), expected));
    }
}
