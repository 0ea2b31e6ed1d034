//! What a receiver of a presentation sees, computed from the presentation itself: disclosed
//! claims and always-visible ones, never less (the consent screen and the log rely on it).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use kluis_sdjwt::{ClaimPath, Credential, DisclosurePolicy, SigningKey, VerifyOptions};

fn paths(list: &[&str]) -> Vec<ClaimPath> {
    list.iter().map(|p| ClaimPath::parse(p).unwrap()).collect()
}

fn shown(v: Vec<ClaimPath>) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn credential(policy: &DisclosurePolicy) -> (Issuer, SigningKey, Credential) {
    let issuer = Issuer::new();
    let holder = SigningKey::make_random().unwrap();
    let compact =
        kluis_sdjwt::issue(&issuer.key, &sample_input(&holder.public_jwk()), policy).unwrap();
    let c = Credential::verify_issued(&compact, &issuer.trust(), NOW, &VerifyOptions::default())
        .unwrap();
    (issuer, holder, c)
}

#[test]
fn a_plain_credential_shows_every_claim_even_when_none_is_chosen() {
    let (_, holder, c) = credential(&DisclosurePolicy::none());
    // The DCQL "whole credential" case: nothing chosen, everything visible.
    let p = c.present(&[], &holder, NONCE, AUD, NOW).unwrap();
    let seen = shown(c.visible_paths(&p).unwrap());
    for must in [
        "/given_name",
        "/family_name",
        "/birthdate",
        "/nationalities/0",
        "/nationalities/1",
        "/address/street",
        "/address/locality",
        "/debt/total_amount_eur",
    ] {
        assert!(seen.contains(&must.to_string()), "{must} not in {seen:?}");
    }
    for envelope in ["/iss", "/vct", "/cnf", "/status", "/iat", "/exp"] {
        assert!(
            !seen.iter().any(|s| s.starts_with(envelope)),
            "{envelope} in {seen:?}"
        );
    }
}

#[test]
fn a_fully_disclosable_credential_shows_exactly_the_chosen_claims() {
    let (_, holder, c) = credential(&DisclosurePolicy::all());
    let p = c
        .present(
            &paths(&["/given_name", "/address/locality"]),
            &holder,
            NONCE,
            AUD,
            NOW,
        )
        .unwrap();
    assert_eq!(
        shown(c.visible_paths(&p).unwrap()),
        ["/address/locality", "/given_name"]
    );
    let none = c.present(&[], &holder, NONCE, AUD, NOW).unwrap();
    assert!(c.visible_paths(&none).unwrap().is_empty());
}

#[test]
fn always_visible_claims_are_added_to_the_chosen_ones() {
    // Only the debt is selectively disclosable; name and address travel with every answer.
    let (_, holder, c) = credential(&DisclosurePolicy::from_paths(&paths(&[
        "/debt/total_amount_eur",
        "/debt/monthly_payment_eur",
    ])));
    let p = c
        .present(
            &paths(&["/debt/total_amount_eur"]),
            &holder,
            NONCE,
            AUD,
            NOW,
        )
        .unwrap();
    let seen = shown(c.visible_paths(&p).unwrap());
    assert!(seen.contains(&"/debt/total_amount_eur".to_string()));
    assert!(!seen.contains(&"/debt/monthly_payment_eur".to_string()));
    assert!(seen.contains(&"/given_name".to_string()), "{seen:?}");
    assert!(seen.contains(&"/address/street".to_string()), "{seen:?}");
}

#[test]
fn array_elements_are_counted_as_the_receiver_sees_them() {
    let (_, holder, c) = credential(&DisclosurePolicy::all());
    let p = c
        .present(&paths(&["/nationalities/1"]), &holder, NONCE, AUD, NOW)
        .unwrap();
    // The receiver's array holds the one disclosed element, at its index 0.
    assert_eq!(shown(c.visible_paths(&p).unwrap()), ["/nationalities/0"]);
}

#[test]
fn a_presentation_of_another_credential_is_refused() {
    let (_, holder, c) = credential(&DisclosurePolicy::all());
    let (_, other_holder, other) = credential(&DisclosurePolicy::all());
    let p = other
        .present(&paths(&["/given_name"]), &other_holder, NONCE, AUD, NOW)
        .unwrap();
    assert!(c.visible_paths(&p).is_err());
    // A disclosure smuggled in that the issuer never signed is refused too.
    let mine = c.present(&[], &holder, NONCE, AUD, NOW).unwrap();
    let (extra, _) = disclosure(serde_json::json!(["salt", "given_name", "Mallory"]));
    let forged = mine.replacen('~', &format!("~{extra}~"), 1);
    assert!(c.visible_paths(&forged).is_err());
}
