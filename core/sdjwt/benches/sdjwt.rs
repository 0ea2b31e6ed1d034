//! Issue, present (5 disclosures + KB-JWT) and verify a presentation, on the shared
//! workload (bench/sdjwt-peers/workload.json) that the Python and Node peers run too; plus
//! the floor: one raw P-256 ECDSA sign and verify through the same OpenSSL.
//! Targets: present ≤ 1.5× one sign, verify ≤ 1.5× two verifies.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use kluis_sdjwt::{
    issue, verify_presentation, ClaimPath, Credential, DisclosurePolicy, IssuerInput,
    PresentationExpectations, PublicJwk, SigningKey, VerifyOptions,
};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use serde_json::Value;

const WORKLOAD: &str = include_str!("../../../bench/sdjwt-peers/workload.json");
const NOW: i64 = 1_800_000_000;

fn bench(c: &mut Criterion) {
    let w: Value = serde_json::from_str(WORKLOAD).unwrap();
    let iss = w["iss"].as_str().unwrap().to_owned();
    let nonce = w["nonce"].as_str().unwrap();
    let aud = w["aud"].as_str().unwrap();
    let issuer = SigningKey::make_random().unwrap();
    let holder = SigningKey::make_random().unwrap();
    let input = IssuerInput {
        iss: iss.clone(),
        vct: w["vct"].as_str().unwrap().to_owned(),
        claims: w["claims"].as_object().unwrap().clone(),
        holder_jwk: Some(holder.public_jwk()),
        status: None,
        iat: NOW - 60,
        exp: Some(NOW + 86400),
        nbf: None,
        kid: None,
    };
    // No decoys, as in the peers' runs, so every side hashes the same number of digests.
    let policy = DisclosurePolicy::all().with_decoys(0, 0);
    let trust: HashMap<String, Vec<PublicJwk>> = HashMap::from([(iss, vec![issuer.public_jwk()])]);
    let issued = issue(&issuer, &input, &policy).unwrap();
    let cred = Credential::verify_issued(&issued, &trust, NOW, &VerifyOptions::default()).unwrap();
    let paths: Vec<ClaimPath> = w["present"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| ClaimPath::parse(p.as_str().unwrap()).unwrap())
        .collect();
    let presentation = cred.present(&paths, &holder, nonce, aud, NOW).unwrap();
    assert_eq!(
        presentation.matches('~').count(),
        6,
        "5 disclosures + KB-JWT"
    );
    let expect = PresentationExpectations::new(nonce, aud, NOW);
    verify_presentation(&presentation, &trust, &expect).unwrap();

    let mut g = c.benchmark_group("sdjwt");
    g.measurement_time(Duration::from_secs(4));
    g.bench_function("issue", |b| {
        b.iter(|| issue(&issuer, black_box(&input), &policy).unwrap())
    });
    g.bench_function("verify_issued", |b| {
        b.iter(|| {
            Credential::verify_issued(black_box(&issued), &trust, NOW, &VerifyOptions::default())
                .unwrap()
        })
    });
    g.bench_function("present", |b| {
        b.iter(|| {
            cred.present(black_box(&paths), &holder, nonce, aud, NOW)
                .unwrap()
        })
    });
    g.bench_function("verify_presentation", |b| {
        b.iter(|| verify_presentation(black_box(&presentation), &trust, &expect).unwrap())
    });

    // The floor, through the same libcrypto.
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = EcKey::generate(&group).unwrap();
    let digest = [7u8; 32];
    let sig = EcdsaSig::sign(&digest, &key).unwrap();
    g.bench_function("floor_ecdsa_p256_sign", |b| {
        b.iter(|| EcdsaSig::sign(black_box(&digest), &key).unwrap())
    });
    g.bench_function("floor_ecdsa_p256_verify", |b| {
        b.iter(|| sig.verify(black_box(&digest), &key).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
