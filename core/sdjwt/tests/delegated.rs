//! Delegated key binding (docs/DELEGATION.md): a KB-JWT signed by a key other than `cnf`, with
//! extra claims. The standard verifier refuses it; `verify_presentation_with` lets the caller
//! choose the key and returns the verified KB payload and the disclosed paths.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use kluis_sdjwt::{
    verify_presentation, verify_presentation_with, ClaimPath, Credential, PresentationExpectations,
    SdJwtError, SigningKey, VerifyOptions,
};
use serde_json::{json, Map, Value};

fn setup() -> (Issuer, SigningKey, SigningKey, Credential) {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let helper = SigningKey::make_random().unwrap();
    let cred = Credential::verify_issued(
        &issue_sample(&issuer, &holder),
        &issuer.trust(),
        NOW,
        &VerifyOptions::default(),
    )
    .unwrap();
    (issuer, holder, helper, cred)
}

fn extra() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("mandate".into(), json!("a.b.c"));
    // Registered claims in `extra` are ignored: the real ones win.
    m.insert("nonce".into(), json!("attacker-nonce"));
    m
}

#[test]
fn a_standard_verifier_refuses_a_delegated_presentation() {
    let (issuer, _, helper, cred) = setup();
    let paths = [ClaimPath::parse("/address/locality").unwrap()];
    let p = cred
        .present_delegated(&paths, &helper, NONCE, AUD, NOW, &extra())
        .unwrap();
    let e = verify_presentation(
        &p,
        &issuer.trust(),
        &PresentationExpectations::new(NONCE, AUD, NOW + 5),
    )
    .unwrap_err();
    assert_eq!(e, SdJwtError::BadKeyBindingSignature);
}

#[test]
fn the_chooser_decides_the_key_and_gets_the_kb_claims() {
    let (issuer, holder, helper, cred) = setup();
    let paths = [ClaimPath::parse("/address/locality").unwrap()];
    let p = cred
        .present_delegated(&paths, &helper, NONCE, AUD, NOW, &extra())
        .unwrap();
    let expect = PresentationExpectations::new(NONCE, AUD, NOW + 5);
    let (v, kb) = verify_presentation_with(&p, &issuer.trust(), &expect, |cnf, kb| {
        assert_eq!(*cnf, holder.public_jwk());
        assert_eq!(kb["mandate"], "a.b.c");
        Ok::<_, SdJwtError>(helper.public_jwk())
    })
    .unwrap();
    assert_eq!(v.claims["address"], json!({"locality": "Utrecht"}));
    assert_eq!(kb.signer, helper.public_jwk());
    assert_eq!(kb.claims["nonce"], NONCE);
    assert_eq!(kb.claims["mandate"], "a.b.c");
    let disclosed: Vec<String> = kb.disclosed_paths.iter().map(|p| p.to_string()).collect();
    assert!(
        disclosed.contains(&"/address/locality".to_string()),
        "{disclosed:?}"
    );
    assert!(v.on_behalf.is_none());

    // Choosing `cnf` (the holder) for a KB-JWT the helper signed fails as a bad signature.
    let e = verify_presentation_with(&p, &issuer.trust(), &expect, |cnf, _| {
        Ok::<_, SdJwtError>(cnf.clone())
    })
    .unwrap_err();
    assert_eq!(e, SdJwtError::BadKeyBindingSignature);
    // The chooser's own refusal comes back as is.
    let e = verify_presentation_with(&p, &issuer.trust(), &expect, |_, _| {
        Err(SdJwtError::KeyBindingClaim("mandate"))
    })
    .unwrap_err();
    assert_eq!(e, SdJwtError::KeyBindingClaim("mandate"));
    // The usual checks still hold: another nonce.
    let other = PresentationExpectations::new("other", AUD, NOW + 5);
    let e = verify_presentation_with(&p, &issuer.trust(), &other, |_, _| {
        Ok::<_, SdJwtError>(helper.public_jwk())
    })
    .unwrap_err();
    assert_eq!(e, SdJwtError::NonceMismatch);
    // An ordinary presentation through the same entry point, chooser returning cnf.
    let own = cred.present(&paths, &holder, NONCE, AUD, NOW).unwrap();
    assert!(
        verify_presentation_with(&own, &issuer.trust(), &expect, |cnf, _| {
            Ok::<_, SdJwtError>(cnf.clone())
        })
        .is_ok()
    );
}

#[test]
fn compact_es256_with_a_parsed_key() {
    let issuer = Issuer::new();
    let other = SigningKey::make_random().unwrap();
    let jws = issuer.sign(json!({"alg": "ES256", "typ": "x"}), &json!({"a": 1}));
    let (h, p) = kluis_sdjwt::verify_compact_es256(&jws, &issuer.public()).unwrap();
    assert_eq!((h["typ"].clone(), p["a"].clone()), (json!("x"), json!(1)));
    assert!(kluis_sdjwt::verify_compact_es256(&jws, &other.public_jwk()).is_none());
    // A critical header this code does not understand, or a flipped payload: refused.
    let crit = issuer.sign(json!({"alg": "ES256", "crit": ["x"], "x": 1}), &json!({}));
    assert!(kluis_sdjwt::verify_compact_es256(&crit, &issuer.public()).is_none());
    let parts: Vec<&str> = jws.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], b64(b"{\"a\":2}"), parts[2]);
    assert!(kluis_sdjwt::verify_compact_es256(&forged, &issuer.public()).is_none());
}

/// A presented array holds only its disclosed elements, so `/nationalities/0` as presented can be
/// any element. The positions in the issuer-signed array (decoys and undisclosed elements count)
/// identify the element itself, the same for the holder and the verifier.
#[test]
fn array_elements_are_identified_by_their_signed_position() {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let helper = SigningKey::make_random().unwrap();
    for _ in 0..20 {
        // Decoys in every array (after its elements, so the holder's indexes are the positions).
        let compact = kluis_sdjwt::issue(
            &issuer.key,
            &sample_input(&holder.public_jwk()),
            &kluis_sdjwt::DisclosurePolicy::all().with_decoys(1, 3),
        )
        .unwrap();
        let cred =
            Credential::verify_issued(&compact, &issuer.trust(), NOW, &VerifyOptions::default())
                .unwrap();
        let first = ClaimPath::parse("/nationalities/0").unwrap();
        let second = ClaimPath::parse("/nationalities/1").unwrap();
        let (s0, s1) = (
            cred.signed_path(&first).unwrap(),
            cred.signed_path(&second).unwrap(),
        );
        assert_ne!(s0, s1);
        assert!(cred
            .signed_path(&ClaimPath::parse("/nationalities/2").unwrap())
            .is_none());
        // Paths without indexes are their own signed path.
        let locality = ClaimPath::parse("/address/locality").unwrap();
        assert_eq!(cred.signed_path(&locality).unwrap(), locality);

        // Only the second element disclosed: the verifier sees it at index 0, and its signed
        // position is the second element's, not the first's.
        let p = cred
            .present_delegated(
                std::slice::from_ref(&second),
                &helper,
                NONCE,
                AUD,
                NOW,
                &extra(),
            )
            .unwrap();
        let expect = PresentationExpectations::new(NONCE, AUD, NOW + 5);
        let (v, kb) =
            verify_presentation_with::<SdJwtError, _>(&p, &issuer.trust(), &expect, |_, _| {
                Ok(helper.public_jwk())
            })
            .unwrap();
        assert_eq!(v.claims["nationalities"], json!(["BE"]));
        assert_eq!(kb.signed_path(&first).unwrap(), s1);
        assert!(kb
            .signed_path(&ClaimPath::parse("/nationalities/1").unwrap())
            .is_none());
    }
}
