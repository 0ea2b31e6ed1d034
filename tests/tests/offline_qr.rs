//! The offline QR (in person, no network): a real wallet's presentations travel losslessly in one
//! `KL2:` payload; the verifier accepts it once, only for itself, only within two minutes; altered
//! or truncated payloads are rejected with the reason. Also prints the size figures for the README
//! (`cargo test -p kluis-tests --test offline_qr -- --nocapture`).
#![allow(clippy::unwrap_used)]

use kluis_core::openid4vp::association;
use kluis_core::openid4vp::offline::{
    self, rental_query, verify_offline_with as verify_offline, MemoryReplayCache,
    OfflineExpectations,
};
use kluis_core::openid4vp::verifier::VerifierTrust;
use kluis_core::verifier::{self, Expectations};
use kluis_core::{Error, VerifierError};
use kluis_qr::render::{Ec, Qr};
use kluis_tests::TestWallet;

/// The landlord's trust: the holders' keys (any type).
fn verifier_trust() -> VerifierTrust {
    VerifierTrust {
        issuers: TestWallet::verifier_trust(),
        ..VerifierTrust::default()
    }
}

const LANDLORD: &str = "woningcorporatie-eemland";

fn version(text: &str, ec: Ec) -> String {
    match Qr::new(text, ec) {
        Ok(q) => format!("v{}@{ec}", q.version()),
        Err(_) => format!("too large for any QR at {ec}"),
    }
}

/// The most alphanumeric characters a QR of `version` holds at `ec`.
fn capacity(version: i16, ec: Ec) -> usize {
    let (mut lo, mut hi) = (1usize, 4296usize);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if Qr::new(&"A".repeat(mid), ec).is_ok_and(|q| q.version() <= version) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Prints the size with each technique added in turn.
fn techniques(refs: &[&str], payload: &str) {
    use kluis_qr::offline::{encode_set_deriving, encode_set_with, EncodeOptions};
    let assoc = association::qr_claim();
    let plain = refs.join("\n");
    println!(
        "  plain compact SD-JWT presentations: {} B -> {} / {}",
        plain.len(),
        version(&plain, Ec::L),
        version(&plain, Ec::M)
    );
    let steps = [
        ("binary re-encoding + Base45", false, false, false),
        ("+ deflate", true, false, false),
        ("+ signatures outside deflate", true, true, false),
        ("+ static vocabulary tokens", true, true, true),
    ];
    for (name, deflate, signatures_apart, tokens) in steps {
        let opts = EncodeOptions {
            deflate,
            signatures_apart,
            tokens,
        };
        let t = encode_set_deriving(refs, opts, Some(&assoc)).unwrap();
        println!(
            "  {name}: {} chars -> {} / {}",
            t.len(),
            version(&t, Ec::L),
            version(&t, Ec::M)
        );
    }
    assert_eq!(
        payload,
        encode_set_deriving(refs, EncodeOptions::default(), Some(&assoc)).unwrap()
    );
    let carried = encode_set_with(refs, EncodeOptions::default()).unwrap();
    println!(
        "  (with the association claim carried instead of recomputed: {} chars -> {})",
        carried.len(),
        version(&carried, Ec::M)
    );
}

/// The payload's presentations, the association claim restored as the verifier's decoder does.
fn decoded(payload: &str) -> Vec<String> {
    kluis_qr::offline::decode_set_deriving(payload, Some(&association::qr_claim())).unwrap()
}

#[test]
fn v1_payload_round_trips_and_verifies() {
    let t = TestWallet::new();
    let brp = t
        .collect("sanne")
        .into_iter()
        .find(|c| c.vct == "urn:nl:gemeente:brp-address:1")
        .unwrap();
    let claims: Vec<String> = ["/given_name", "/family_name", "/address"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let p = t
        .wallet
        .present(&brp.id, &claims, "offline-nonce", LANDLORD)
        .unwrap();
    let qr_text = kluis_qr::offline::encode(&p).unwrap();
    assert_eq!(kluis_qr::offline::decode(&qr_text).unwrap(), p);
    let trust = TestWallet::verifier_trust();
    let v = verifier::verify(
        &kluis_qr::offline::decode(&qr_text).unwrap(),
        &trust,
        &Expectations::new("offline-nonce", LANDLORD),
    )
    .unwrap();
    assert_eq!(v.claims["address"]["locality"], "Utrecht");
    // v1 payloads still verify through the offline verifier (their nonce is read from the KB-JWT).
    let cache = MemoryReplayCache::default();
    let out = verify_offline(
        &qr_text,
        &verifier_trust(),
        &OfflineExpectations::new(LANDLORD),
        &cache,
    )
    .unwrap();
    assert_eq!(out.len(), 1);
}

#[test]
fn rental_offline_qr_verifies_once_for_its_party_within_two_minutes() {
    let t = TestWallet::new();
    t.collect("daan");
    let items = t.wallet.offline_items_for(&rental_query()).unwrap();
    assert_eq!(items.len(), 3, "name and address, income, arrears");
    let qr = t
        .wallet
        .offline_presentation(&items, LANDLORD, Some("rental"))
        .unwrap();
    assert!(qr.payload.starts_with("KL2:"));
    let trust = verifier_trust();
    let cache = MemoryReplayCache::default();
    let expect = OfflineExpectations::new(LANDLORD);

    let verified = verify_offline(&qr.payload, &trust, &expect, &cache).unwrap();
    assert_eq!(verified.len(), 3);
    let all = offline::disclosed_json(&verified);
    let text = all.to_string();
    assert!(text.contains("\"family_name\":\"Visser\""));
    assert!(text.contains("monthly_gross_income_eur"));
    assert!(text.contains("\"registered_payment_arrears\":false"));
    // Nothing beyond the rental disclosure: no BSN, no birth date, no employers.
    for never in ["bsn", "birthdate", "employers", "arrears_eur"] {
        assert!(!text.contains(never), "{never} disclosed");
    }
    // The disclosure is in the citizen's log, channel offline-qr.
    let log = t.wallet.audit_log().unwrap();
    let disclosed = log
        .iter()
        .filter(|e| {
            serde_json::to_string(&e.event)
                .unwrap()
                .contains("offline-qr")
        })
        .count();
    assert_eq!(disclosed, 3);

    // Replayed: the same QR a second time.
    let e = verify_offline(&qr.payload, &trust, &expect, &cache).unwrap_err();
    assert!(e.to_string().contains("replay"), "{e}");
    // Another party: aud is not itself (and its own cache is empty).
    let other = MemoryReplayCache::default();
    let e = verify_offline(
        &qr.payload,
        &trust,
        &OfflineExpectations::new("bank-utrecht"),
        &other,
    )
    .unwrap_err();
    assert!(e.to_string().contains("aud"), "{e}");
    // Stale: read two minutes and a bit later.
    let mut late = OfflineExpectations::new(LANDLORD);
    late.now += offline::MAX_AGE_SECS + offline::SKEW_SECS + 1;
    let e = verify_offline(&qr.payload, &trust, &late, &MemoryReplayCache::default()).unwrap_err();
    assert!(
        matches!(e, VerifierError::InvalidPresentation { .. }),
        "{e}"
    );
    // An untrusted verifier trust list: the issuers are unknown.
    let e = verify_offline(
        &qr.payload,
        &VerifierTrust::default(),
        &expect,
        &MemoryReplayCache::default(),
    )
    .unwrap_err();
    assert!(matches!(e, VerifierError::UntrustedIssuer { .. }), "{e}");
    // A scheme list that lists the issuers for other types only.
    let mut listed = verifier_trust();
    for h in kluis_fixtures::holders().unwrap() {
        listed
            .types
            .insert(h.iss.clone(), vec!["urn:nl:other:1".into()]);
    }
    let e =
        verify_offline(&qr.payload, &listed, &expect, &MemoryReplayCache::default()).unwrap_err();
    assert!(e.to_string().contains("not listed as an issuer of"), "{e}");
}

#[test]
fn altered_or_truncated_offline_qr_is_rejected_with_the_reason() {
    let t = TestWallet::new();
    t.collect("daan");
    let items = t.wallet.offline_items_for(&rental_query()).unwrap();
    let qr = t
        .wallet
        .offline_presentation(&items, LANDLORD, None)
        .unwrap();
    let trust = verifier_trust();
    let expect = OfflineExpectations::new(LANDLORD);
    let check = |text: &str| {
        verify_offline(text, &trust, &expect, &MemoryReplayCache::default()).unwrap_err()
    };
    // Truncated anywhere: a clear reason, never a panic or an acceptance.
    for cut in [
        qr.payload.len() - 1,
        qr.payload.len() - 40,
        qr.payload.len() / 2,
        6,
    ] {
        let e = check(&qr.payload[..cut]);
        assert!(
            matches!(e, VerifierError::InvalidPresentation { .. }),
            "{e}"
        );
        assert!(
            e.to_string().contains("offline QR") || e.to_string().contains("signature"),
            "{e}"
        );
    }
    // Altered characters: rejected each time (decode failure or a failed signature/digest check).
    let alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    for i in (4..qr.payload.len()).step_by(97) {
        let c = qr.payload.as_bytes()[i] as char;
        let r = alphabet.chars().find(|&x| x != c).unwrap();
        let mut altered = qr.payload.clone();
        altered.replace_range(i..i + 1, &r.to_string());
        let e = check(&altered);
        assert_eq!(
            Error::from(e.clone()).code(),
            kluis_core::ErrorCode::InvalidCredential,
            "{e}"
        );
    }
    // Not a kluis payload at all.
    assert!(check("HC1:ABC")
        .to_string()
        .contains("not a kluis QR payload"));
}

/// The figures for the README: what each technique contributes for the rental disclosure.
#[test]
fn rental_offline_qr_sizes() {
    let t = TestWallet::new();
    t.collect("daan");
    let items = t.wallet.offline_items_for(&rental_query()).unwrap();
    let qr = t
        .wallet
        .offline_presentation(&items, LANDLORD, None)
        .unwrap();
    let presentations = decoded(&qr.payload);
    let refs: Vec<&str> = presentations.iter().map(String::as_str).collect();
    let plain = refs.join("\n");
    println!("offline QR, rental disclosure (BRP name + address, UWV monthly income, CAK arrears), standard credentials:");
    techniques(&refs, &qr.payload);
    for (p, item) in presentations.iter().zip(&items) {
        println!(
            "  one credential: {} B compact, {} chars alone ({:?})",
            p.len(),
            kluis_qr::offline::encode_set(&[p]).unwrap().len(),
            item.claims
        );
    }
    assert!(qr.payload.len() < plain.len());
}

/// The same disclosure from the holders' small rental-purpose credentials: the wallet picks them
/// because they give the smaller QR. This is what reaches the goal (≤ v25 at M).
#[test]
fn rental_offline_qr_with_purpose_credentials_meets_the_goal() {
    let t = TestWallet::new();
    t.collect("daan");
    let jwk =
        kluis_core::sdjwt::PublicJwk::from_json(&t.wallet.holder_public_jwk().unwrap()).unwrap();
    for s in
        kluis_fixtures::purpose::issue_rental_for("daan", &jwk, kluis_core::now_unix()).unwrap()
    {
        t.wallet.import_credential(&s.compact).unwrap();
    }
    let items = t.wallet.offline_items_for(&rental_query()).unwrap();
    let qr = t
        .wallet
        .offline_presentation(&items, LANDLORD, Some("rental"))
        .unwrap();
    let presentations = decoded(&qr.payload);
    let refs: Vec<&str> = presentations.iter().map(String::as_str).collect();
    let plain = refs.join("\n");
    if let Ok(path) = std::env::var("KLUIS_DUMP_OFFLINE") {
        std::fs::write(path, &plain).unwrap();
    }
    println!("offline QR, rental disclosure, rental-purpose credentials:");
    techniques(&refs, &qr.payload);
    let t0 = std::time::Instant::now();
    for _ in 0..10 {
        kluis_qr::offline::encode_set(&refs).unwrap();
    }
    println!(
        "  encoding (Zopfli, optimised build of it): {:.1} ms per payload",
        t0.elapsed().as_secs_f64() * 100.0
    );
    let trust = verifier_trust();
    let verified = verify_offline(
        &qr.payload,
        &trust,
        &OfflineExpectations::new(LANDLORD),
        &MemoryReplayCache::default(),
    )
    .unwrap();
    let vcts: Vec<&str> = verified.iter().map(|v| v.vct.as_str()).collect();
    assert!(vcts.iter().all(|v| v.contains("rental")), "{vcts:?}");
    assert!(offline::disclosed_json(&verified)
        .to_string()
        .contains("\"registered_payment_arrears\":false"));
    let v = Qr::new(&qr.payload, Ec::M).unwrap().version();
    println!(
        "  (a v25 QR at level M holds {} alphanumeric characters)",
        capacity(25, Ec::M)
    );
    assert!(v <= 25, "offline rental QR is v{v} at M");
}

/// The price of unlinkability by key: the same three rental-purpose credentials bound to three
/// different holder keys (as batch copies from different holders would be) instead of one.
#[test]
fn distinct_holder_keys_cost_in_the_offline_qr() {
    use kluis_core::sdjwt::{ClaimPath, Credential, SigningKey, VerifyOptions};
    let trust = TestWallet::verifier_trust();
    let now = kluis_core::now_unix();
    let one = SigningKey::make_random().unwrap();
    let size = |keys: &[&SigningKey]| {
        let mut ps = Vec::new();
        for (i, t) in kluis_fixtures::purpose::RENTAL_TYPES.iter().enumerate() {
            let key = keys[i % keys.len()];
            let holder = kluis_fixtures::holders()
                .unwrap()
                .into_iter()
                .find(|h| h.credential_types.iter().any(|v| v == t.vct))
                .unwrap();
            let c = kluis_fixtures::citizen("daan").unwrap();
            let compact =
                kluis_fixtures::purpose::issue_purpose(&holder, t, &c, &key.public_jwk(), now)
                    .unwrap();
            let cred = Credential::verify_issued(&compact, &trust, now, &VerifyOptions::default())
                .unwrap();
            let paths: Vec<ClaimPath> = t
                .claims
                .iter()
                .map(|n| ClaimPath::parse(&format!("/{n}")).unwrap())
                .collect();
            ps.push(
                cred.present(&paths, key, "n0nce-n0nce-n0nce-n0nc", LANDLORD, now)
                    .unwrap(),
            );
        }
        let refs: Vec<&str> = ps.iter().map(String::as_str).collect();
        kluis_qr::offline::encode_set(&refs).unwrap()
    };
    let shared = size(&[&one]);
    let (k2, k3) = (
        SigningKey::make_random().unwrap(),
        SigningKey::make_random().unwrap(),
    );
    let distinct = size(&[&one, &k2, &k3]);
    println!(
        "offline rental QR, one holder key: {} chars ({}); three holder keys: {} chars ({})",
        shared.len(),
        version(&shared, Ec::M),
        distinct.len(),
        version(&distinct, Ec::M)
    );
    assert!(distinct.len() > shared.len());
}
