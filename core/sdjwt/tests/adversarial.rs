//! Every holder-side and verifier-side check violated on purpose, each rejected with the
//! variant that names it. Forged tokens are signed with josekit so the signature is valid
//! and the check under test is the one that fires.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kluis_sdjwt::{
    verify_presentation, ClaimPath, Credential, PresentationExpectations, SdJwtError, SigningKey,
    VerifyOptions,
};
use serde_json::{json, Value};

fn verify_issued(compact: &str, issuer: &Issuer) -> Result<Credential, SdJwtError> {
    Credential::verify_issued(compact, &issuer.trust(), NOW, &VerifyOptions::default())
}

fn expect() -> PresentationExpectations {
    PresentationExpectations::new(NONCE, AUD, NOW)
}

/// A forged VC with the given extra payload members and disclosures.
fn forged(issuer: &Issuer, extra: Value, disclosures: &[&str]) -> String {
    let mut p = vc_payload(None);
    p.extend(extra.as_object().unwrap().clone());
    compact(&issuer.sign(vc_header(), &Value::Object(p)), disclosures)
}

fn err_of(compact: &str, issuer: &Issuer) -> SdJwtError {
    verify_issued(compact, issuer).unwrap_err()
}

#[test]
fn forged_but_valid_token_is_accepted() {
    // Guards the tests below: the forger makes tokens that pass when nothing is wrong.
    let issuer = Issuer::new();
    let (d, h) = disclosure(json!(["salt1", "given_name", "Sanne"]));
    let c = verify_issued(&forged(&issuer, json!({"_sd": [h]}), &[&d]), &issuer).unwrap();
    assert_eq!(c.claims()["given_name"], "Sanne");
}

#[test]
fn issuer_signature_and_trust() {
    let issuer = Issuer::new();
    let other = Issuer::new();
    let token = forged(&other, json!({}), &[]);
    assert_eq!(err_of(&token, &issuer), SdJwtError::BadIssuerSignature);

    // Payload swapped after signing.
    let good = forged(&issuer, json!({"given_name": "Sanne"}), &[]);
    let parts: Vec<&str> = good.trim_end_matches('~').split('.').collect();
    let mut p = vc_payload(None);
    p.insert("given_name".into(), json!("Mallory"));
    let tampered = format!(
        "{}.{}.{}~",
        parts[0],
        b64(&serde_json::to_vec(&p).unwrap()),
        parts[2]
    );
    assert_eq!(err_of(&tampered, &issuer), SdJwtError::BadIssuerSignature);

    let unknown =
        Credential::verify_issued(&good, &Vec::new(), NOW, &VerifyOptions::default()).unwrap_err();
    assert_eq!(unknown, SdJwtError::UntrustedIssuer);
    let mut p = vc_payload(None);
    p.remove("iss");
    let no_iss = compact(&issuer.sign(vc_header(), &Value::Object(p)), &[]);
    assert_eq!(err_of(&no_iss, &issuer), SdJwtError::MissingClaim("iss"));
}

#[test]
fn algorithm_and_typ() {
    let issuer = Issuer::new();
    let good = forged(&issuer, json!({}), &[]);
    let rest = &good[good.find('.').unwrap()..];
    for alg in ["none", "HS256", "ES384", "RS256"] {
        let h = b64(&serde_json::to_vec(&json!({"alg": alg, "typ": "dc+sd-jwt"})).unwrap());
        assert_eq!(
            err_of(&format!("{h}{rest}"), &issuer),
            SdJwtError::UnsupportedAlg,
            "{alg}"
        );
    }
    for typ in [
        json!("JWT"),
        json!("vc+sd-jwt"),
        json!("kb+jwt"),
        Value::Null,
    ] {
        let mut h = json!({});
        if !typ.is_null() {
            h["typ"] = typ.clone();
        }
        let token = compact(&issuer.sign(h, &Value::Object(vc_payload(None))), &[]);
        assert_eq!(
            err_of(&token, &issuer),
            SdJwtError::WrongTyp {
                expected: "dc+sd-jwt"
            },
            "{typ}"
        );
    }
    let token = compact(
        &issuer.sign(
            json!({"typ": "dc+sd-jwt", "crit": ["exp"]}),
            &Value::Object(vc_payload(None)),
        ),
        &[],
    );
    assert_eq!(err_of(&token, &issuer), SdJwtError::UnsupportedCritical);
}

#[test]
fn sd_alg_must_be_sha256() {
    let issuer = Issuer::new();
    for alg in [json!("sha-512"), json!("SHA-256"), json!(1)] {
        assert_eq!(
            err_of(&forged(&issuer, json!({"_sd_alg": alg}), &[]), &issuer),
            SdJwtError::UnsupportedSdAlg
        );
    }
}

#[test]
fn vct_and_registered_claims() {
    let issuer = Issuer::new();
    let mut p = vc_payload(None);
    p.remove("vct");
    let token = compact(&issuer.sign(vc_header(), &Value::Object(p)), &[]);
    assert_eq!(err_of(&token, &issuer), SdJwtError::MissingClaim("vct"));
    assert_eq!(
        err_of(&forged(&issuer, json!({"vct": 3}), &[]), &issuer),
        SdJwtError::InvalidClaim("vct")
    );
    assert_eq!(
        err_of(&forged(&issuer, json!({"exp": "soon"}), &[]), &issuer),
        SdJwtError::InvalidClaim("exp")
    );
    assert_eq!(
        err_of(&forged(&issuer, json!({"status": "ok"}), &[]), &issuer),
        SdJwtError::InvalidClaim("status")
    );
    assert_eq!(
        err_of(&forged(&issuer, json!({"cnf": {"kid": "x"}}), &[]), &issuer),
        SdJwtError::InvalidClaim("cnf")
    );
    let bad_jwk = json!({"cnf": {"jwk": {"kty": "EC", "crv": "P-256", "x": b64(&[1; 32]), "y": b64(&[2; 32])}}});
    assert_eq!(
        err_of(&forged(&issuer, bad_jwk, &[]), &issuer),
        SdJwtError::BadJwk("point is not on P-256")
    );
}

#[test]
fn every_disclosure_must_be_referenced() {
    let issuer = Issuer::new();
    let (d1, h1) = disclosure(json!(["s1", "given_name", "Sanne"]));
    let (d2, _) = disclosure(json!(["s2", "family_name", "de Vries"]));
    let token = forged(&issuer, json!({"_sd": [h1]}), &[&d1, &d2]);
    assert_eq!(err_of(&token, &issuer), SdJwtError::DigestNotFound);
}

#[test]
fn digests_must_be_unique() {
    let issuer = Issuer::new();
    let (d1, h1) = disclosure(json!(["s1", "given_name", "Sanne"]));
    // Twice in one _sd.
    let token = forged(&issuer, json!({"_sd": [h1, h1]}), &[&d1]);
    assert_eq!(err_of(&token, &issuer), SdJwtError::DuplicateDigest);
    // In two places (even when no disclosure is attached for it).
    let (d2, h2) = disclosure(json!(["s2", "NL"]));
    let token = forged(
        &issuer,
        json!({"a": [{"...": h2}], "b": [{"...": h2}]}),
        &[&d2],
    );
    assert_eq!(err_of(&token, &issuer), SdJwtError::DuplicateDigest);
    let decoy = b64(&[7; 32]);
    let token = forged(&issuer, json!({"_sd": [decoy], "x": {"_sd": [decoy]}}), &[]);
    assert_eq!(err_of(&token, &issuer), SdJwtError::DuplicateDigest);
    // A nested digest also referenced from the top: one claim reachable two ways.
    let (inner, h_inner) = disclosure(json!(["s4", "locality", "Utrecht"]));
    let (outer, h_outer) = disclosure(json!(["s5", "address", {"_sd": [h_inner]}]));
    let token = forged(
        &issuer,
        json!({"_sd": [h_outer, h_inner]}),
        &[&outer, &inner],
    );
    assert_eq!(err_of(&token, &issuer), SdJwtError::DuplicateDigest);
}

#[test]
fn disclosures_must_not_repeat() {
    let issuer = Issuer::new();
    let (d1, h1) = disclosure(json!(["s1", "given_name", "Sanne"]));
    let token = forged(&issuer, json!({"_sd": [h1]}), &[&d1, &d1]);
    assert_eq!(err_of(&token, &issuer), SdJwtError::DuplicateDisclosure);
}

#[test]
fn disclosed_name_must_not_clash() {
    let issuer = Issuer::new();
    let (d1, h1) = disclosure(json!(["s1", "given_name", "Mallory"]));
    let token = forged(&issuer, json!({"given_name": "Sanne", "_sd": [h1]}), &[&d1]);
    assert_eq!(
        err_of(&token, &issuer),
        SdJwtError::ClaimNameClash("given_name".into())
    );
    // Two disclosures with the same name into the same object.
    let (d2, h2) = disclosure(json!(["s2", "given_name", "Sanne"]));
    let token = forged(&issuer, json!({"_sd": [h1, h2]}), &[&d1, &d2]);
    assert!(matches!(
        err_of(&token, &issuer),
        SdJwtError::ClaimNameClash(_)
    ));
}

#[test]
fn reserved_names_are_not_disclosable() {
    let issuer = Issuer::new();
    for name in ["_sd", "..."] {
        let (d, h) = disclosure(json!(["s", name, "x"]));
        let token = forged(&issuer, json!({"nested": {"_sd": [h]}}), &[&d]);
        assert_eq!(
            err_of(&token, &issuer),
            SdJwtError::ReservedClaimName(name.into()),
            "{name}"
        );
    }
    for name in ["iss", "nbf", "exp", "cnf", "vct", "status", "_sd_alg"] {
        let (d, h) = disclosure(json!(["s", name, 1]));
        let mut p = vc_payload(None);
        p.remove(name);
        p.insert("_sd".into(), json!([h]));
        let token = compact(&issuer.sign(vc_header(), &Value::Object(p)), &[&d]);
        let err = err_of(&token, &issuer);
        assert!(
            err == SdJwtError::ReservedClaimName(name.into())
                || err == SdJwtError::MissingClaim("iss")
                || err == SdJwtError::MissingClaim("vct"),
            "{name}: {err:?}"
        );
        if name != "iss" && name != "vct" {
            assert_eq!(err, SdJwtError::ReservedClaimName(name.into()));
        }
    }
    // Nested, those names are ordinary claims.
    let (d, h) = disclosure(json!(["s", "exp", 12]));
    assert!(verify_issued(
        &forged(&issuer, json!({"card": {"_sd": [h]}}), &[&d]),
        &issuer
    )
    .is_ok());
}

#[test]
fn disclosure_shape() {
    let issuer = Issuer::new();
    let (obj, h_obj) = disclosure(json!(["s", "name", "v"]));
    let (elem, h_elem) = disclosure(json!(["s", "v"]));
    let cases = [
        (
            forged(&issuer, json!({"arr": [{"...": h_obj}]}), &[&obj]),
            "object-property disclosure referenced from an array",
        ),
        (
            forged(&issuer, json!({"_sd": [h_elem]}), &[&elem]),
            "array-element disclosure referenced from an object",
        ),
    ];
    for (token, why) in cases {
        assert_eq!(err_of(&token, &issuer), SdJwtError::DisclosureShape(why));
    }
    for bad in [
        json!(["s"]),
        json!(["s", "a", "b", "c"]),
        json!([1, "a", "b"]),
        json!(["s", 5, "b"]),
        json!({"s": 1}),
    ] {
        let (d, h) = disclosure(bad.clone());
        let err = err_of(&forged(&issuer, json!({"_sd": [h]}), &[&d]), &issuer);
        assert!(
            matches!(err, SdJwtError::DisclosureShape(_) | SdJwtError::BadJson(_)),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn validity_window_with_skew() {
    let issuer = Issuer::new();
    let opts = VerifyOptions::default(); // 60 s skew
    let at = |extra: Value| {
        Credential::verify_issued(&forged(&issuer, extra, &[]), &issuer.trust(), NOW, &opts)
            .map(|_| ())
    };
    assert_eq!(at(json!({"exp": NOW - 61})), Err(SdJwtError::Expired));
    assert_eq!(at(json!({"exp": NOW - 30})), Ok(()));
    assert_eq!(at(json!({"nbf": NOW + 61})), Err(SdJwtError::NotYetValid));
    assert_eq!(at(json!({"nbf": NOW + 30})), Ok(()));
    let strict = VerifyOptions {
        skew_secs: 0,
        ..opts
    };
    let token = forged(&issuer, json!({"exp": NOW}), &[]);
    assert_eq!(
        Credential::verify_issued(&token, &issuer.trust(), NOW, &strict).unwrap_err(),
        SdJwtError::Expired
    );
}

#[test]
fn malformed_input() {
    let issuer = Issuer::new();
    let good = forged(&issuer, json!({}), &[]);
    assert_eq!(
        err_of(good.trim_end_matches('~'), &issuer),
        SdJwtError::Malformed("no ~ separator")
    );
    assert_eq!(
        err_of(&format!("{good}~"), &issuer),
        SdJwtError::Malformed("empty disclosure")
    );
    assert_eq!(
        err_of("~", &issuer),
        SdJwtError::Malformed("empty issuer-signed JWT")
    );
    assert!(matches!(err_of("a.b~", &issuer), SdJwtError::Malformed(_)));
    assert!(matches!(
        err_of("a.b.c.d~", &issuer),
        SdJwtError::Malformed(_)
    ));
    assert!(matches!(
        err_of("!!.e30.AA~", &issuer),
        SdJwtError::BadBase64(_)
    ));
    assert!(matches!(
        err_of(&format!("{}.e30.AA~", b64(b"not json")), &issuer),
        SdJwtError::BadJson(_)
    ));
    assert!(matches!(
        err_of(&format!("{good}%%%~"), &issuer),
        SdJwtError::BadBase64("disclosure")
    ));
    let not_json = b64(b"[not json");
    assert!(matches!(
        err_of(&format!("{good}{not_json}~"), &issuer),
        SdJwtError::BadJson("disclosure")
    ));
    let (d, h) = disclosure(json!(["s", "a", 1]));
    let token = forged(&issuer, json!({"_sd": h}), &[&d]);
    assert!(matches!(err_of(&token, &issuer), SdJwtError::Malformed(_)));
}

#[test]
fn hard_limits() {
    let issuer = Issuer::new();
    let huge = "A".repeat(kluis_sdjwt::MAX_COMPACT_LEN + 1);
    assert!(matches!(
        err_of(&huge, &issuer),
        SdJwtError::InputTooLarge(_)
    ));
    let good = forged(&issuer, json!({}), &[]);
    let many = format!("{good}{}", "QQ~".repeat(kluis_sdjwt::MAX_DISCLOSURES + 1));
    assert!(matches!(
        err_of(&many, &issuer),
        SdJwtError::InputTooLarge(_)
    ));
    let mut deep = json!("leaf");
    for _ in 0..kluis_sdjwt::MAX_DEPTH + 2 {
        deep = json!({ "d": deep });
    }
    assert!(matches!(
        err_of(&forged(&issuer, json!({"deep": deep}), &[]), &issuer),
        SdJwtError::InputTooLarge(_)
    ));
}

#[test]
fn issued_form_has_no_key_binding() {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let cred = verify_issued(&issue_sample(&issuer, &holder), &issuer).unwrap();
    let p = cred.present(&[], &holder, NONCE, AUD, NOW).unwrap();
    assert_eq!(
        verify_issued(&p, &issuer).unwrap_err(),
        SdJwtError::UnexpectedKeyBinding
    );
}

// ---- verifier side: key binding ----

struct Setup {
    issuer: Issuer,
    holder: SigningKey,
    cred: Credential,
}

fn setup() -> Setup {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let cred = verify_issued(&issue_sample(&issuer, &holder), &issuer).unwrap();
    Setup {
        issuer,
        holder,
        cred,
    }
}

fn paths(ps: &[&str]) -> Vec<ClaimPath> {
    ps.iter().map(|p| ClaimPath::parse(p).unwrap()).collect()
}

/// A presentation with a hand-made KB-JWT (header and payload as given), signed by `key`.
fn with_kb(s: &Setup, header: Value, payload: Value, key: &SigningKey) -> String {
    let sd = s
        .cred
        .present_without_key_binding(&paths(&["/given_name"]))
        .unwrap();
    let jwk =
        josekit::jwk::Jwk::from_bytes(serde_json::to_vec(&private_jwk(key)).unwrap()).unwrap();
    let signer = josekit::jws::ES256.signer_from_jwk(&jwk).unwrap();
    let Value::Object(h) = header else { panic!() };
    let kb = josekit::jws::serialize_compact(
        &serde_json::to_vec(&payload).unwrap(),
        &josekit::jws::JwsHeader::from_map(h).unwrap(),
        &signer,
    )
    .unwrap();
    format!("{sd}{kb}")
}

fn private_jwk(key: &SigningKey) -> Value {
    let der = key.to_pkcs8_der();
    let pair = josekit::jws::ES256
        .key_pair_from_der(der.as_slice())
        .unwrap();
    Value::Object(pair.to_jwk_key_pair().as_ref().clone())
}

fn sd_hash_of(sd: &str) -> String {
    use sha2::Digest;
    b64(&sha2::Sha256::digest(sd.as_bytes()))
}

fn kb_payload(s: &Setup) -> Value {
    let sd = s
        .cred
        .present_without_key_binding(&paths(&["/given_name"]))
        .unwrap();
    json!({"iat": NOW - 5, "aud": AUD, "nonce": NONCE, "sd_hash": sd_hash_of(&sd)})
}

#[test]
fn hand_made_key_binding_passes_when_correct() {
    let s = setup();
    let p = with_kb(&s, json!({"typ": "kb+jwt"}), kb_payload(&s), &s.holder);
    let v = verify_presentation(&p, &s.issuer.trust(), &expect()).unwrap();
    assert!(v.key_bound);
    assert_eq!(v.claims["given_name"], "Sanne");
}

#[test]
fn key_binding_checks() {
    let s = setup();
    let trust = s.issuer.trust();
    let check = |p: &str| verify_presentation(p, &trust, &expect()).unwrap_err();

    let no_kb = s
        .cred
        .present_without_key_binding(&paths(&["/given_name"]))
        .unwrap();
    assert_eq!(check(&no_kb), SdJwtError::KeyBindingMissing);
    let relaxed = PresentationExpectations {
        require_key_binding: false,
        ..expect()
    };
    assert!(verify_presentation(&no_kb, &trust, &relaxed).is_ok());

    assert_eq!(
        check(&with_kb(
            &s,
            json!({"typ": "JWT"}),
            kb_payload(&s),
            &s.holder
        )),
        SdJwtError::KeyBindingTyp
    );
    assert_eq!(
        check(&with_kb(&s, json!({}), kb_payload(&s), &s.holder)),
        SdJwtError::KeyBindingTyp
    );
    let stranger = SigningKey::make_random().unwrap();
    assert_eq!(
        check(&with_kb(
            &s,
            json!({"typ": "kb+jwt"}),
            kb_payload(&s),
            &stranger
        )),
        SdJwtError::BadKeyBindingSignature
    );

    let mut p = kb_payload(&s);
    p["sd_hash"] = json!(sd_hash_of("something else~"));
    assert_eq!(
        check(&with_kb(&s, json!({"typ": "kb+jwt"}), p, &s.holder)),
        SdJwtError::SdHashMismatch
    );
    for (field, value, want) in [
        ("nonce", json!("other"), SdJwtError::NonceMismatch),
        (
            "aud",
            json!("https://evil.example"),
            SdJwtError::AudienceMismatch,
        ),
        ("aud", json!([AUD]), SdJwtError::KeyBindingClaim("aud")),
        ("iat", json!(NOW - 301), SdJwtError::KeyBindingStale),
        ("iat", json!(NOW + 61), SdJwtError::KeyBindingInFuture),
        ("iat", json!("now"), SdJwtError::KeyBindingClaim("iat")),
    ] {
        let mut p = kb_payload(&s);
        p[field] = value;
        assert_eq!(
            check(&with_kb(&s, json!({"typ": "kb+jwt"}), p, &s.holder)),
            want,
            "{field}"
        );
    }
    for field in ["nonce", "aud", "iat", "sd_hash"] {
        let mut p = kb_payload(&s);
        p.as_object_mut().unwrap().remove(field);
        assert_eq!(
            check(&with_kb(&s, json!({"typ": "kb+jwt"}), p, &s.holder)),
            SdJwtError::KeyBindingClaim(field)
        );
    }
    // Edges of the window are inside it.
    for iat in [NOW - 300, NOW + 60] {
        let mut p = kb_payload(&s);
        p["iat"] = json!(iat);
        assert!(verify_presentation(
            &with_kb(&s, json!({"typ": "kb+jwt"}), p, &s.holder),
            &trust,
            &expect()
        )
        .is_ok());
    }
}

#[test]
fn presentation_tampering_is_caught() {
    let s = setup();
    let trust = s.issuer.trust();
    // Top-level claims only, so dropping or adding one leaves the disclosures consistent
    // and it is the KB-JWT's sd_hash that must notice.
    let p = s
        .cred
        .present(
            &paths(&["/given_name", "/birthdate"]),
            &s.holder,
            NONCE,
            AUD,
            NOW,
        )
        .unwrap();
    assert!(verify_presentation(&p, &trust, &expect()).is_ok());
    let parts: Vec<&str> = p.split('~').collect();
    assert_eq!(parts.len(), 4);
    let dropped = format!("{}~{}~{}", parts[0], parts[2], parts[3]);
    assert_eq!(
        verify_presentation(&dropped, &trust, &expect()).unwrap_err(),
        SdJwtError::SdHashMismatch
    );
    let other = s
        .cred
        .present_without_key_binding(&paths(&["/family_name"]))
        .unwrap();
    let extra = other.split('~').nth(1).unwrap();
    let added = format!(
        "{}~{}~{}~{extra}~{}",
        parts[0], parts[1], parts[2], parts[3]
    );
    assert_eq!(
        verify_presentation(&added, &trust, &expect()).unwrap_err(),
        SdJwtError::SdHashMismatch
    );
    // KB signature bytes flipped.
    let mut bad = p.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == 'A' { 'B' } else { 'A' });
    assert!(matches!(
        verify_presentation(&bad, &trust, &expect()).unwrap_err(),
        SdJwtError::BadKeyBindingSignature | SdJwtError::BadBase64(_)
    ));
    // Expired by the time the verifier sees it.
    let later = PresentationExpectations {
        now: NOW + 31 * 86400,
        ..expect()
    };
    assert_eq!(
        verify_presentation(&p, &trust, &later).unwrap_err(),
        SdJwtError::Expired
    );
}

#[test]
fn key_binding_needs_holder_key() {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let mut input = sample_input(&holder.public_jwk());
    input.holder_jwk = None;
    let issued =
        kluis_sdjwt::issue(&issuer.key, &input, &kluis_sdjwt::DisclosurePolicy::all()).unwrap();
    let cred = verify_issued(&issued, &issuer).unwrap();
    assert_eq!(
        cred.present(&[], &holder, NONCE, AUD, NOW).unwrap_err(),
        SdJwtError::NoHolderKey
    );
    // A KB-JWT glued onto an unbound credential.
    let bound = setup();
    let p = bound
        .cred
        .present(&[], &bound.holder, NONCE, AUD, NOW)
        .unwrap();
    let kb = p.rsplit('~').next().unwrap();
    let glued = format!("{issued}{kb}");
    assert_eq!(
        verify_presentation(&glued, &issuer.trust(), &expect()).unwrap_err(),
        SdJwtError::NoHolderKey
    );
}

#[test]
fn holder_side_refusals() {
    let s = setup();
    let stranger = SigningKey::make_random().unwrap();
    assert_eq!(
        s.cred.present(&[], &stranger, NONCE, AUD, NOW).unwrap_err(),
        SdJwtError::HolderKeyMismatch
    );
    assert_eq!(
        s.cred
            .present(&paths(&["/address/city"]), &s.holder, NONCE, AUD, NOW)
            .unwrap_err(),
        SdJwtError::UnknownClaimPath("/address/city".into())
    );
    assert_eq!(
        s.cred
            .present(&paths(&["/nationalities/2"]), &s.holder, NONCE, AUD, NOW)
            .unwrap_err(),
        SdJwtError::UnknownClaimPath("/nationalities/2".into())
    );
}

#[test]
fn errors_carry_no_claim_values() {
    let issuer = Issuer::new();
    let (d1, h1) = disclosure(json!(["s1", "given_name", "Geheimwaarde"]));
    let token = forged(
        &issuer,
        json!({"given_name": "Geheimwaarde", "_sd": [h1]}),
        &[&d1],
    );
    let err = err_of(&token, &issuer);
    assert!(!format!("{err} {err:?}").contains("Geheimwaarde"));
}
