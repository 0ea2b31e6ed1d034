//! "What the screen shows is what leaves", tried the way an attacker or a careless party would:
//! a whole-credential query (no `claims`) for a credential with always-visible claims, a type
//! outside the party's registration, a response endpoint that fails after reading the answer,
//! requests a wallet must refuse (`transaction_data`, `redirect_uri`), a plain OpenID4VP 1.0
//! request without `state`/`iat`/`exp`, and declines — encrypted under `direct_post.jwt`, and
//! sent when the wallet cannot answer. The real wallet core against the fixture parties.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use kluis_core::audit::{AuditEvent, DeclineReason, Delivery};
use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::openid4vp::{Flag, PresentationChoice, QueryChoice};
use kluis_core::sdjwt::ENVELOPE_CLAIMS;
use kluis_core::{Error, Wallet};
use kluis_fixtures::servers::{
    HolderOptions, Network, RequestFault, ResponseFault, VerifierShared, BANK, LANDLORD,
};
use serde_json::{json, Value};

const CITIZEN: &str = "daan";

/// Three attempts allowed, so a wallet that retried would show it in the POST count.
fn http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(2000), 3)
}

async fn network() -> Network {
    Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap()
}

/// Everything the holders have for the citizen, and the rental purpose credentials (whose
/// claims are all always visible).
async fn wallet(net: &Network) -> (tempfile::TempDir, Wallet) {
    let (dir, wallet) = kluis_tests::collected_wallet(net, CITIZEN, http()).await;
    for offer in net.purpose_offers(CITIZEN, "rental") {
        let options = CollectOptions {
            http: http(),
            ..CollectOptions::default()
        };
        wallet
            .collect(&offer.offer_uri, Some(&offer.tx_code), options)
            .await
            .unwrap();
    }
    (dir, wallet)
}

fn party<'a>(net: &'a Network, id: &str) -> &'a std::sync::Arc<VerifierShared> {
    net.verifier(id).unwrap().shared()
}

fn disclosures(wallet: &Wallet) -> Vec<(Vec<String>, Option<Delivery>)> {
    wallet
        .audit_log()
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            AuditEvent::Disclosed {
                claims, delivery, ..
            } => Some((claims, delivery)),
            _ => None,
        })
        .collect()
}

/// The leaf paths of a claims object, as a receiver reads them (envelope claims left out).
fn leaves(v: &Value, at: String, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                if at.is_empty() && ENVELOPE_CLAIMS.contains(&k.as_str()) {
                    continue;
                }
                leaves(c, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, c) in a.iter().enumerate() {
                leaves(c, format!("{at}/{i}"), out);
            }
        }
        _ => {
            out.insert(at);
        }
    }
}

fn whole_credential(vct: &str) -> Value {
    json!({ "credentials": [ { "id": "whole", "format": "dc+sd-jwt",
        "meta": { "vct_values": [vct] } } ] })
}

#[tokio::test]
async fn a_whole_credential_answer_shows_checks_and_logs_every_claim_that_leaves() {
    let net = network().await;
    let (_d, wallet) = wallet(&net).await;
    let landlord = party(&net, LANDLORD);
    // DCQL without `claims`: "the whole credential". The rental BRP credential has nothing
    // selectively disclosable: name and full address go with any answer from it.
    landlord.set_dcql(Some(whole_credential("urn:nl:gemeente:brp-rental:1")));
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    let c = req.queries[0].candidates[0].clone();
    for must in ["/given_name", "/family_name", "/address/street"] {
        assert!(
            c.always_shared.iter().any(|p| p == must),
            "{must} not on the consent screen: {:?}",
            c.always_shared
        );
    }
    // The landlord registered the full BRP type, not this one: flagged, not chosen by default.
    assert!(!c.within_registration);
    assert!(req.flags.contains(&Flag::OutsideRegistration));
    assert!(!req.default_choice().queries.contains_key("whole"));
    let before = disclosures(&wallet).len();
    assert!(wallet
        .accept_presentation_with(&req, &req.default_choice(), http())
        .await
        .is_err());
    // Chosen by hand with no claims at all: still refused, the always-visible ones would leave.
    let mut choice = PresentationChoice::default();
    choice.queries.insert(
        "whole".into(),
        QueryChoice {
            credential_ids: vec![c.credential_id.clone()],
            claims: vec![],
        },
    );
    let e = wallet
        .accept_presentation_with(&req, &choice, http())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("outside the party's registration"),
        "{e}"
    );
    assert_eq!(landlord.response_posts(), 0, "something was sent");
    assert_eq!(disclosures(&wallet).len(), before);

    // Allowed explicitly: what the outcome, the log and the party see are the same claims.
    choice.allow_outside_registration = true;
    let out = wallet
        .accept_presentation_with(&req, &choice, http())
        .await
        .unwrap();
    assert_eq!(out.disclosed[0].claims, c.always_shared);
    let (logged, delivery) = disclosures(&wallet).pop().unwrap();
    assert_eq!(logged, c.always_shared);
    assert_eq!(delivery, Some(Delivery::Received));
    let result = landlord.result(&s.state).await.unwrap();
    assert_eq!(result.status, "verified", "{:?}", result.reason);
    let mut received = BTreeSet::new();
    leaves(
        &result.claims.unwrap()["whole"][0]["claims"],
        String::new(),
        &mut received,
    );
    assert_eq!(
        received,
        logged.iter().cloned().collect::<BTreeSet<_>>(),
        "the party received other claims than the log records"
    );
}

#[tokio::test]
async fn a_type_outside_the_registration_does_not_leave_even_without_claims() {
    let net = network().await;
    let (_d, wallet) = wallet(&net).await;
    // The bank registered its mortgage purpose for BRP, UWV, DUO and tax data: not CAK.
    let bank = party(&net, BANK);
    bank.set_dcql(Some(whole_credential("urn:nl:cak:care-arrears:1")));
    let s = bank.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    let c = req.queries[0].candidates[0].clone();
    assert!(!c.within_registration, "a CAK credential looks registered");
    assert!(req.flags.contains(&Flag::OutsideRegistration));
    let mut choice = PresentationChoice::default();
    choice.queries.insert(
        "whole".into(),
        QueryChoice {
            credential_ids: vec![c.credential_id.clone()],
            claims: vec![],
        },
    );
    let e = wallet
        .accept_presentation_with(&req, &choice, http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("credential type"), "{e}");
    assert_eq!(bank.response_posts(), 0);
    assert!(disclosures(&wallet).is_empty());
    assert_eq!(bank.result(&s.state).await.unwrap().status, "pending");
}

#[tokio::test]
async fn a_response_that_may_have_arrived_is_sent_once_logged_and_never_answered_again() {
    let net = network().await;
    let (_d, wallet) = wallet(&net).await;
    let landlord = party(&net, LANDLORD);
    for fault in [ResponseFault::ServerError, ResponseFault::BreakAfterReading] {
        landlord.set_response_fault(fault);
        let s = landlord.new_session().await.unwrap();
        let req = wallet
            .start_presentation_with(&s.request_uri, "en", http())
            .await
            .unwrap();
        let posts = landlord.response_posts();
        let e = wallet
            .accept_presentation_with(&req, &req.default_choice(), http())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Network { .. }), "{fault:?}: {e:?}");
        assert!(e.to_string().contains("may have been shared"), "{e}");
        assert_eq!(
            landlord.response_posts(),
            posts + 1,
            "{fault:?}: the vp_token was sent more than once"
        );
        let (claims, delivery) = disclosures(&wallet).pop().unwrap();
        assert_eq!(delivery, Some(Delivery::Uncertain), "{fault:?}");
        assert!(claims.contains(&"/given_name".to_string()), "{claims:?}");
        // The nonce counts as answered: the same request cannot be answered again.
        landlord.set_response_fault(ResponseFault::None);
        let again = wallet
            .start_presentation_with(&s.request_uri, "en", http())
            .await;
        assert!(
            again
                .as_ref()
                .is_err_and(|e| e.to_string().contains("already answered")),
            "{fault:?}: {:?}",
            again.map(|r| r.party)
        );
        assert!(wallet
            .accept_presentation_with(&req, &req.default_choice(), http())
            .await
            .is_err_and(|e| e.to_string().contains("already answered")));
        assert_eq!(landlord.response_posts(), posts + 1);
    }
}

#[tokio::test]
async fn requests_the_standard_says_to_refuse_are_refused_before_anything_is_sent() {
    let net = network().await;
    let (_d, wallet) = wallet(&net).await;
    let landlord = party(&net, LANDLORD);
    for (fault, code, text) in [
        (
            RequestFault::TransactionData,
            "invalid_transaction_data",
            "§5.1",
        ),
        (RequestFault::RedirectUri, "invalid_request", "§8.2"),
    ] {
        landlord.set_fault(fault);
        let s = landlord.new_session().await.unwrap();
        let e = wallet
            .start_presentation_with(&s.request_uri, "en", http())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidRequest { .. }), "{e:?}");
        assert!(e.to_string().contains(text), "{e}");
        assert_eq!(kluis_tests::last_refusal(&wallet).as_deref(), Some(code));
    }
    assert_eq!(landlord.response_posts(), 0);
    assert!(disclosures(&wallet).is_empty());
}

#[tokio::test]
async fn a_plain_request_without_state_iat_or_exp_is_answered() {
    let net = network().await;
    let (_d, wallet) = wallet(&net).await;
    let landlord = party(&net, LANDLORD);
    landlord.set_fault(RequestFault::Plain);
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    assert_eq!(req.request.state, None);
    wallet
        .accept_presentation_with(&req, &req.default_choice(), http())
        .await
        .unwrap();
    let result = landlord.result(&s.state).await.unwrap();
    assert_eq!(result.status, "verified", "{:?}", result.reason);
}

#[tokio::test]
async fn declines_are_encrypted_like_answers_and_sent_when_nothing_answers() {
    let net = network().await;
    let (_d, wallet) = wallet(&net).await;
    // The landlord asks for direct_post.jwt: the decline goes as one JWE, nothing in the clear.
    let landlord = party(&net, LANDLORD);
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    wallet
        .decline_presentation_with(&req, http())
        .await
        .unwrap();
    let body = landlord.last_response_body().unwrap();
    let fields: Vec<&str> = body
        .split('&')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(fields, ["response"], "sent in the clear: {body}");
    let result = landlord.result(&s.state).await.unwrap();
    assert_eq!(result.status, "declined");
    assert_eq!(result.reason.as_deref(), Some("access_denied"));

    // Nothing in the wallet answers: the party is told, the log says why.
    landlord.set_fault(RequestFault::NothingMatches);
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    assert!(!req.satisfiable);
    wallet.decline_unanswerable(&req, http()).await.unwrap();
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "declined");
    let reason = wallet
        .audit_log()
        .unwrap()
        .into_iter()
        .rev()
        .find_map(|e| match e.event {
            AuditEvent::PresentationDeclined { reason, .. } => Some(reason),
            _ => None,
        });
    assert_eq!(reason, Some(Some(DeclineReason::NothingToAnswer)));
    assert!(disclosures(&wallet).is_empty());
}

#[tokio::test]
async fn a_standard_request_states_its_purpose_with_a_registration_certificate() {
    let net = network().await;
    let (_d, wallet) = wallet(&net).await;
    let landlord = party(&net, LANDLORD);
    // No kluis_purpose, only verifier_info: the certificate's purpose is shown and judged.
    landlord.set_fault(RequestFault::NoKluisPurpose);
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    assert_eq!(req.stated_purpose.as_deref(), Some("rental"));
    assert_eq!(req.purpose.as_ref().map(|p| p.id.as_str()), Some("rental"));
    assert!(
        !req.flags.contains(&Flag::UnknownPurpose),
        "{:?}",
        req.flags
    );
    assert!(req
        .queries
        .iter()
        .all(|q| q.claims.iter().all(|c| c.within_registration)));
    wallet
        .accept_presentation_with(&req, &req.default_choice(), http())
        .await
        .unwrap();
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "verified");

    // Another party's certificate, one not signed by the scheme, an expired one: refused
    // before anything is sent.
    for fault in [
        RequestFault::ForeignRegistration,
        RequestFault::RegistrationNotByScheme,
        RequestFault::ExpiredRegistration,
    ] {
        landlord.set_fault(fault);
        let s = landlord.new_session().await.unwrap();
        let r = wallet
            .start_presentation_with(&s.request_uri, "en", http())
            .await;
        assert!(
            matches!(r, Err(Error::InvalidRequest { .. })),
            "{fault:?}: {:?}",
            r.map(|r| r.stated_purpose)
        );
    }

    // No purpose at all: said on the screen; a listed party is judged by all it registered.
    landlord.set_fault(RequestFault::NoPurpose);
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    assert!(req.stated_purpose.is_none() && req.purpose.is_none());
    assert!(req.flags.contains(&Flag::UnknownPurpose));
    assert!(req
        .queries
        .iter()
        .all(|q| q.claims.iter().all(|c| c.within_registration)));
    assert_eq!(landlord.response_posts(), 1);
}

/// Two accepts of one request at once (a double tap, two app screens): one POST, the other
/// refused as already answered.
#[tokio::test]
async fn two_accepts_of_one_request_send_it_once() {
    let net = network().await;
    let (_d, wallet) = wallet(&net).await;
    let landlord = party(&net, LANDLORD);
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    let choice = req.default_choice();
    let posts = landlord.response_posts();
    let (a, b) = tokio::join!(
        wallet.accept_presentation_with(&req, &choice, http()),
        wallet.accept_presentation_with(&req, &choice, http())
    );
    assert_eq!(
        landlord.response_posts(),
        posts + 1,
        "the vp_token was POSTed twice: {:?} / {:?}",
        a.map(|_| ()),
        b.map(|_| ())
    );
    // One of them shared; the other was refused; a decline afterwards is refused too.
    assert!(a.is_ok() != b.is_ok());
    assert!(wallet
        .decline_presentation_with(&req, http())
        .await
        .is_err());
    assert_eq!(landlord.response_posts(), posts + 1);
    assert_eq!(disclosures(&wallet).len(), 3);
}

/// A listed party with two purposes that states none is judged against none of them, never their
/// union (docs/PRESENTING.md): the bank registered nationalities only for opening an account and
/// the family name for both; a request stating no purpose gets neither, so nothing is chosen by
/// default and nothing is sent.
#[tokio::test]
async fn a_party_with_two_purposes_stating_none_gets_neither() {
    let net = network().await;
    let (_d, wallet) = wallet(&net).await;
    // Attested and listed by its id (the fixture bank's x509_hash: registration comes from its
    // one certificate, which states the purpose).
    let attested = kluis_tests::attested_bank(&net).await;
    let bank = attested.shared();
    bank.set_fault(RequestFault::NoPurpose);
    bank.set_dcql(Some(
        json!({ "credentials": [ { "id": "p", "format": "dc+sd-jwt",
        "meta": { "vct_values": ["urn:nl:gemeente:brp-address:1"] },
        "claims": [ { "path": ["family_name"] }, { "path": ["nationalities"] } ] } ] }),
    ));
    let s = bank.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", http())
        .await
        .unwrap();
    assert!(req.party.registered, "the bank is listed");
    assert_eq!(req.party.purposes.len(), 2, "{:?}", req.party.purposes);
    assert!(req.stated_purpose.is_none() && req.purpose.is_none());
    assert!(req.flags.contains(&Flag::UnknownPurpose));
    assert!(req.flags.contains(&Flag::OutsideRegistration));
    let q = &req.queries[0];
    assert!(
        q.claims.iter().all(|c| !c.within_registration),
        "judged against a registered purpose: {:?}",
        q.claims
    );
    assert!(q.candidates.iter().all(|c| !c.within_registration));
    assert!(req.default_choice().queries.is_empty());
    let posts = bank.response_posts();
    assert!(wallet
        .accept_presentation_with(&req, &req.default_choice(), http())
        .await
        .is_err());
    assert_eq!(bank.response_posts(), posts, "something was sent");
}
