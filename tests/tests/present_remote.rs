//! OpenID4VP 1.0 remote (cross-device) presenting end to end on loopback: the real wallet core
//! against the simulated landlord and bank (fixtures), which use the kluis-verifier library.
//! Every refusal in the presenting issue's "Bad input and attacks" list, with nothing sent and
//! nothing disclosed; DCQL credential_sets / claim_sets / multiple / values end to end; the
//! verifier library's rejections.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kluis_core::audit::{AuditEvent, Channel};
use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::request::{ResponseMode, StatedPurpose};
use kluis_core::openid4vp::verifier::{
    new_request, verify_response_with, ResponseOutcome, VerifierConfig, VerifierTrust,
};
use kluis_core::openid4vp::{CandidateStatus, Flag, PresentationChoice, QueryChoice};
use kluis_core::{Error, RequestRefusal, VerifierError, Wallet};
use kluis_fixtures::servers::{
    requesting_party_key, trust_from_holders, HolderOptions, Network, RequestFault, BANK, LANDLORD,
};
use serde_json::json;

const CITIZEN: &str = "daan";

fn quick_http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(2000), 1)
}

async fn network() -> Network {
    Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap()
}

/// A wallet that pinned the scheme and collected everything the holders have about `citizen`.
async fn collected_wallet(net: &Network, citizen: &str) -> (tempfile::TempDir, Wallet) {
    let (dir, wallet) = kluis_tests::new_wallet();
    wallet.set_type_metadata(
        kluis_core::sdjwt::MetadataRegistry::from_json_documents(
            kluis_fixtures::TYPE_METADATA.iter().copied(),
        )
        .unwrap(),
    );
    kluis_tests::pin_scheme(&wallet, &net.scheme, quick_http()).await;
    kluis_tests::collect_every_offer(&wallet, net, citizen, quick_http()).await;
    (dir, wallet)
}

fn disclosed(wallet: &Wallet) -> usize {
    wallet
        .audit_log()
        .unwrap()
        .iter()
        .filter(|e| matches!(e.event, AuditEvent::Disclosed { .. }))
        .count()
}

#[tokio::test]
async fn rental_application_to_the_landlord() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, CITIZEN).await;
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    let session = landlord.new_session().await.unwrap();
    assert!(session
        .request_uri
        .starts_with("openid4vp://?client_id=woningcorporatie-eemland&request_uri="));

    let req = wallet
        .start_presentation_with(&session.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert!(req.party.registered);
    assert_eq!(
        req.party.name.as_deref(),
        Some("Eemland Housing Association")
    );
    assert_eq!(req.purpose.as_ref().unwrap().name, "Rental application");
    assert_eq!(req.retention_days, Some(30));
    assert!(req.satisfiable);
    assert!(
        !req.flags.contains(&Flag::OutsideRegistration),
        "{:?}",
        req.flags
    );
    assert_eq!(req.queries.len(), 3);
    for q in &req.queries {
        assert!(q.required);
        assert_eq!(q.candidates.len(), 1, "{}", q.query_id);
        assert!(q.claims.iter().all(|c| c.within_registration));
    }
    let person = &req.queries[0];
    let paths: Vec<&str> = person.claims.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/given_name", "/family_name", "/address"]);
    assert_eq!(person.claims[0].label.as_deref(), Some("Given names"));

    let choice = req.default_choice();
    assert_eq!(choice.queries.len(), 3);
    let out = wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .unwrap();
    // The whole remote round, as a figure (debug build, printed with --nocapture).
    let started = std::time::Instant::now();
    let s2 = landlord.new_session().await.unwrap();
    let r2 = wallet
        .start_presentation_with(&s2.request_uri, "en", quick_http())
        .await
        .unwrap();
    let matched = started.elapsed();
    wallet
        .accept_presentation_with(&r2, &r2.default_choice(), quick_http())
        .await
        .unwrap();
    eprintln!(
        "remote rental presentation: request fetched, verified and matched in {:.1} ms; answered and verified by the landlord in {:.1} ms",
        matched.as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(landlord.result(&s2.state).await.unwrap().status, "verified");
    assert_eq!(out.disclosed.len(), 3);

    let result = landlord.result(&session.state).await.unwrap();
    assert_eq!(result.status, "verified", "{:?}", result.reason);
    let claims = result.claims.unwrap();
    let person = &claims["person"][0]["claims"];
    assert_eq!(person["given_name"], "Daan");
    assert_eq!(person["address"]["locality"], "Utrecht");
    assert!(person.get("bsn").is_none() && person.get("birthdate").is_none());
    assert_eq!(
        claims["income"][0]["claims"]["monthly_gross_income_eur"],
        json!(2990.0)
    );
    assert!(claims["income"][0]["claims"].get("employers").is_none());
    assert_eq!(
        claims["arrears"][0]["claims"]["registered_payment_arrears"],
        json!(false)
    );

    // The log has the three disclosures with purpose, retention and channel.
    let log = wallet.audit_log().unwrap();
    let d: Vec<_> = log
        .iter()
        .filter_map(|e| match &e.event {
            AuditEvent::Disclosed {
                audience,
                purpose,
                retention_days,
                channel,
                claims,
                ..
            } => Some((audience, purpose, retention_days, channel, claims)),
            _ => None,
        })
        .collect();
    assert_eq!(d.len(), 6);
    for (aud, purpose, retention, channel, _) in &d {
        assert_eq!(aud.as_str(), "woningcorporatie-eemland");
        assert_eq!(purpose.as_deref(), Some("rental"));
        assert_eq!(**retention, Some(30));
        assert_eq!(**channel, Some(Channel::Remote));
    }

    // The same request again: the party's service no longer hands out an answered request,
    // nothing is sent. (A copy of it replayed elsewhere, same nonce, the wallet refuses itself:
    // RequestFault::ReplayNonce in bad_requests_are_refused_and_nothing_is_sent.)
    let again = wallet
        .start_presentation_with(&session.request_uri, "en", quick_http())
        .await;
    assert!(
        matches!(&again, Err(Error::Network { reason, .. }) if reason.contains("HTTP 404")),
        "{again:?}"
    );
    assert_eq!(disclosed(&wallet), 6);
}

#[tokio::test]
async fn bank_with_x509_hash_credential_sets_and_claim_sets() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, CITIZEN).await;
    let bank = net.verifier(BANK).unwrap().shared();

    // Default: person + income (first option of the second set, first claim set); the optional
    // student debt is left out.
    let s = bank.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "nl", quick_http())
        .await
        .unwrap();
    assert_eq!(req.party.client_id, bank.client_id());
    assert!(req.party.client_id.starts_with("x509_hash:"));
    assert!(req.party.registered);
    let required: Vec<&str> = req
        .queries
        .iter()
        .filter(|q| q.required)
        .map(|q| q.query_id.as_str())
        .collect();
    assert_eq!(required, ["person", "income"]);
    let income = req.queries.iter().find(|q| q.query_id == "income").unwrap();
    let paths: Vec<&str> = income.claims.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["/year", "/total_gross_income_eur"]);
    let choice = req.default_choice();
    assert_eq!(
        choice.queries.keys().collect::<Vec<_>>(),
        ["income", "person"]
    );
    wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .unwrap();
    let r = bank.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
    let claims = r.claims.unwrap();
    assert!(claims.get("student_debt").is_none());
    assert_eq!(claims["income"][0]["claims"]["year"], json!(2025));

    // The citizen picks the other claim set (per employer) and adds the optional query.
    let s = bank.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "nl", quick_http())
        .await
        .unwrap();
    let mut choice = req.default_choice();
    choice.queries.get_mut("income").unwrap().claims = vec!["/employers/0/gross_income_eur".into()];
    let debt = req
        .queries
        .iter()
        .find(|q| q.query_id == "student_debt")
        .unwrap();
    choice.queries.insert(
        "student_debt".into(),
        QueryChoice {
            credential_ids: vec![debt.candidates[0].credential_id.clone()],
            claims: debt.candidates[0].claims.clone(),
        },
    );
    wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .unwrap();
    let r = bank.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
    let claims = r.claims.unwrap();
    assert_eq!(
        claims["income"][0]["claims"]["employers"][0]["gross_income_eur"],
        json!(35880.0)
    );
    assert!(claims["income"][0]["claims"].get("year").is_none());
    assert_eq!(
        claims["student_debt"][0]["claims"]["debt"]["monthly_payment_eur"],
        json!(48.75)
    );

    // Leaving out a claim that every claim set needs: refused, nothing sent.
    let s = bank.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "nl", quick_http())
        .await
        .unwrap();
    let mut choice = req.default_choice();
    choice.queries.get_mut("income").unwrap().claims = vec!["/year".into()];
    let e = wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("do not answer"), "{e}");
    // Adding a claim that was not asked: refused.
    let mut choice = req.default_choice();
    choice
        .queries
        .get_mut("person")
        .unwrap()
        .claims
        .push("/bsn".into());
    let e = wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not asked"), "{e}");
    // Leaving out a required query: refused.
    let mut choice = req.default_choice();
    choice.queries.remove("person");
    let e = wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("unanswered"), "{e}");
    assert_eq!(bank.result(&s.state).await.unwrap().status, "pending");
}

#[tokio::test]
async fn multiple_and_values() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, CITIZEN).await;
    let landlord = net.verifier(LANDLORD).unwrap().shared();

    // `multiple`: two credentials answer one query (given name from BRP and from UWV).
    landlord.set_dcql(Some(json!({ "credentials": [ { "id": "names", "format": "dc+sd-jwt",
        "multiple": true,
        "meta": { "vct_values": ["urn:nl:gemeente:brp-address:1", "urn:nl:uwv:income-statement:1"] },
        "claims": [ { "path": ["given_name"] } ] } ] })));
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    let q = &req.queries[0];
    assert!(q.multiple);
    assert_eq!(q.candidates.len(), 2);
    let choice = PresentationChoice {
        queries: [(
            "names".to_string(),
            QueryChoice {
                credential_ids: q
                    .candidates
                    .iter()
                    .map(|c| c.credential_id.clone())
                    .collect(),
                claims: vec!["/given_name".into()],
            },
        )]
        .into(),
        // The landlord registered no name from UWV: the citizen allows it explicitly.
        allow_outside_registration: true,
    };
    wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .unwrap();
    let r = landlord.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
    assert_eq!(r.claims.unwrap()["names"].as_array().unwrap().len(), 2);

    // `values`: a locality the citizen does not live in matches nothing; nothing can be sent.
    landlord.set_dcql(Some(json!({ "credentials": [ { "id": "p", "format": "dc+sd-jwt",
        "claims": [ { "path": ["address", "locality"], "values": ["Amersfoort", "Leusden"] } ] } ] })));
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert!(!req.satisfiable);
    assert!(req.flags.contains(&Flag::NothingMatches));
    assert!(wallet
        .accept_presentation_with(&req, &req.default_choice(), quick_http())
        .await
        .is_err());
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "pending");

    // ... and one it does match.
    landlord.set_dcql(Some(json!({ "credentials": [ { "id": "p", "format": "dc+sd-jwt",
        "claims": [ { "path": ["address", "locality"], "values": ["Amersfoort", "Utrecht"] } ] } ] })));
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert!(req.satisfiable);
    let mut choice = req.default_choice();
    choice.allow_outside_registration = true;
    // Two credentials carry an address? Only BRP does; the default takes it.
    assert_eq!(choice.queries["p"].claims, ["/address/locality"]);
    wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .unwrap();
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "verified");
}

#[tokio::test]
async fn decline_tells_the_party_and_is_logged() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, CITIZEN).await;
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    wallet
        .decline_presentation_with(&req, quick_http())
        .await
        .unwrap();
    let r = landlord.result(&s.state).await.unwrap();
    assert_eq!(r.status, "declined");
    assert_eq!(r.reason.as_deref(), Some("access_denied"));
    assert!(wallet.audit_log().unwrap().iter().any(|e| matches!(
        &e.event,
        AuditEvent::PresentationDeclined { audience, channel: Channel::Remote, .. } if audience == "woningcorporatie-eemland"
    )));
    assert_eq!(disclosed(&wallet), 0);
}

#[tokio::test]
async fn batch_copies_are_used_in_turn() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, CITIZEN).await;
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    let mut copies = Vec::new();
    for _ in 0..4 {
        let s = landlord.new_session().await.unwrap();
        let req = wallet
            .start_presentation_with(&s.request_uri, "en", quick_http())
            .await
            .unwrap();
        let out = wallet
            .accept_presentation_with(&req, &req.default_choice(), quick_http())
            .await
            .unwrap();
        assert_eq!(landlord.result(&s.state).await.unwrap().status, "verified");
        copies.push(out.disclosed[0].copy);
    }
    // Three copies collected (the default batch): each is used once before any is reused.
    assert_eq!(copies, [0, 1, 2, 0]);
}

/// Each bad request: a typed refusal, the reason code in the log, nothing disclosed, nothing
/// sent (the party's request stays pending), the credentials unchanged.
#[tokio::test]
async fn bad_requests_are_refused_and_nothing_is_sent() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, CITIZEN).await;
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    let before = wallet.credentials("nl").unwrap();

    // Answer one request so that its nonce can be replayed.
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    wallet
        .accept_presentation_with(&req, &req.default_choice(), quick_http())
        .await
        .unwrap();
    let disclosed_before = disclosed(&wallet);

    // The error an app sees and the audit entry carry the same code (and its stable name).
    let cases = [
        (
            RequestFault::BadSignature,
            RequestRefusal::BadSignature,
            "bad_signature",
        ),
        (
            RequestFault::ClientIdMismatch,
            RequestRefusal::ClientIdMismatch,
            "client_id_mismatch",
        ),
        (
            RequestFault::UnknownParty,
            RequestRefusal::UnknownParty,
            "unknown_party",
        ),
        (
            RequestFault::ForeignResponseUri,
            RequestRefusal::ForeignResponseUri,
            "foreign_response_uri",
        ),
        (
            RequestFault::HttpResponseUri,
            RequestRefusal::InsecureResponseUri,
            "insecure_response_uri",
        ),
        (RequestFault::Expired, RequestRefusal::Expired, "expired"),
        (
            RequestFault::ReplayNonce,
            RequestRefusal::ReplayedNonce,
            "replayed_nonce",
        ),
        (
            RequestFault::MalformedDcql,
            RequestRefusal::MalformedQuery,
            "malformed_query",
        ),
        (
            RequestFault::Oversized,
            RequestRefusal::Oversized,
            "oversized",
        ),
        (RequestFault::Redirect, RequestRefusal::Redirect, "redirect"),
    ];
    for (fault, code, name) in cases {
        landlord.set_fault(fault);
        let s = landlord.new_session().await.unwrap();
        let r = wallet
            .start_presentation_with(&s.request_uri, "en", quick_http())
            .await;
        assert!(
            matches!(&r, Err(Error::InvalidRequest { code: c, .. }) if *c == code),
            "{fault:?}: {r:?}"
        );
        assert_eq!(code.as_str(), name);
        assert_eq!(
            kluis_tests::last_refusal(&wallet).as_deref(),
            Some(name),
            "{fault:?}: {r:?}"
        );
        assert_eq!(landlord.result(&s.state).await.unwrap().status, "pending");
    }

    // Over-asking: shown with the flag; the default choice leaves the BSN out and so cannot
    // answer; accepting refuses and sends nothing.
    landlord.set_fault(RequestFault::OverAsk);
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert!(req.flags.contains(&Flag::OutsideRegistration));
    let bsn = req.queries[0]
        .claims
        .iter()
        .find(|c| c.path == "/bsn")
        .unwrap();
    assert!(!bsn.within_registration);
    let choice = req.default_choice();
    assert!(!choice.queries["person"]
        .claims
        .contains(&"/bsn".to_string()));
    assert!(wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .is_err());
    let mut with_bsn = choice.clone();
    with_bsn
        .queries
        .get_mut("person")
        .unwrap()
        .claims
        .push("/bsn".into());
    let e = wallet
        .accept_presentation_with(&req, &with_bsn, quick_http())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("outside the party's registration"),
        "{e}"
    );
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "pending");

    // A query nothing in the vault answers.
    landlord.set_fault(RequestFault::NothingMatches);
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert!(req.flags.contains(&Flag::NothingMatches) && !req.satisfiable);
    assert!(wallet
        .accept_presentation_with(&req, &req.default_choice(), quick_http())
        .await
        .is_err());
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "pending");

    // A link with an unsupported client identifier prefix, and one by value.
    for link in [
        "openid4vp://?client_id=redirect_uri%3Ahttps%3A%2F%2Fevil.example%2Fcb&request_uri=https%3A%2F%2Fevil.example%2Fr",
        "openid4vp://?client_id=x&request=eyJhbGciOiJub25lIn0.e30.",
    ] {
        let r = wallet.start_presentation_with(link, "en", quick_http()).await;
        assert!(matches!(r, Err(Error::InvalidRequest { .. })), "{r:?}");
    }

    landlord.set_fault(RequestFault::None);
    assert_eq!(
        disclosed(&wallet),
        disclosed_before,
        "something was disclosed"
    );
    let after = wallet.credentials("nl").unwrap();
    assert_eq!(
        before.iter().map(|c| &c.id).collect::<Vec<_>>(),
        after.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
}

/// The verifier library on its own: every rejection a bank's back end relies on.
#[tokio::test]
async fn verifier_library_rejects_what_it_must() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, CITIZEN).await;
    let (_d2, other) = collected_wallet(&net, CITIZEN).await;
    let trust: VerifierTrust = trust_from_holders(&net.holders);
    let config = VerifierConfig {
        client_id: "woningcorporatie-eemland".into(),
        signing_key: requesting_party_key(LANDLORD).unwrap(),
        attestation: None,
        x5c: Vec::new(),
        response_uri: "http://127.0.0.1:1/response".into(),
        response_mode: ResponseMode::DirectPost,
        purpose: Some(StatedPurpose {
            id: "rental".into(),
            retention_days: Some(30),
        }),
        lifetime_secs: 600,
    };
    let dcql = json!({ "credentials": [ { "id": "person", "format": "dc+sd-jwt",
        "meta": { "vct_values": ["urn:nl:gemeente:brp-address:1"] },
        "claims": [ { "path": ["given_name"] }, { "path": ["family_name"] } ] } ] });
    let now = kluis_core::now_unix();
    let pending = new_request(&config, &dcql, now).unwrap();
    let brp = |w: &Wallet| {
        w.credentials("nl")
            .unwrap()
            .into_iter()
            .find(|c| c.vct == "urn:nl:gemeente:brp-address:1")
            .unwrap()
            .id
    };
    let names = vec!["/given_name".to_string(), "/family_name".to_string()];
    let form = |p: &str| {
        vec![
            ("vp_token".to_string(), json!({ "person": [p] }).to_string()),
            ("state".to_string(), pending.state.clone()),
        ]
    };
    // The holders' status lists, fetched beforehand: a credential's status is checked too.
    let lists = kluis_core::status::StatusLists::new();
    let uris: Vec<String> = net
        .holders
        .iter()
        .map(|h| format!("{}/status", h.base_url()))
        .collect();
    lists.fetch(&uris, quick_http()).await.unwrap();
    let ctx =
        kluis_core::delegation::DelegationContext::default().with_credential_status(lists.clone());
    let verify_response = |f: &[(String, String)], p: &_, t: &VerifierTrust, at: i64| {
        verify_response_with(f, p, t, at, &ctx)
    };
    let check = |p: &str, at: i64| verify_response(&form(p), &pending, &trust, at);
    let reason = |r: Result<ResponseOutcome, VerifierError>| match r {
        Err(e) => e.to_string(),
        Ok(o) => panic!("accepted: {o:?}"),
    };

    let good = wallet
        .present(&brp(&wallet), &names, &pending.nonce, &pending.client_id)
        .unwrap();
    assert!(matches!(
        check(&good, now),
        Ok(ResponseOutcome::Verified { .. })
    ));
    // Wrong nonce, wrong audience.
    let p = wallet
        .present(&brp(&wallet), &names, "another-nonce", &pending.client_id)
        .unwrap();
    assert!(reason(check(&p, now)).contains("nonce"));
    let p = wallet
        .present(&brp(&wallet), &names, &pending.nonce, "bank-utrecht")
        .unwrap();
    assert!(reason(check(&p, now)).contains("aud"));
    // A stale key-binding JWT (checked 8 minutes later, the request still valid).
    assert!(
        reason(check(&good, now + 480))
            .to_lowercase()
            .contains("old")
            || reason(check(&good, now + 480)).contains("iat")
    );
    // A swapped disclosure (another credential's, same claim, other salt).
    let theirs = other
        .present(&brp(&other), &names, &pending.nonce, &pending.client_id)
        .unwrap();
    let parts: Vec<&str> = good.split('~').collect();
    let mut t = parts.clone();
    t[1] = theirs.split('~').nth(1).unwrap();
    let r = reason(check(&t.join("~"), now));
    assert!(r.contains("disclosure"), "{r}");
    // Another wallet's key binding on this wallet's credential.
    let mut mixed: Vec<&str> = parts[..parts.len() - 1].to_vec();
    mixed.push(theirs.rsplit('~').next().unwrap());
    let r = reason(check(&mixed.join("~"), now));
    assert!(
        r.contains("key binding") || r.contains("key-binding") || r.contains("sd_hash"),
        "{r}"
    );
    // More than asked.
    let mut more = names.clone();
    more.push("/birthdate".into());
    let p = wallet
        .present(&brp(&wallet), &more, &pending.nonce, &pending.client_id)
        .unwrap();
    assert!(reason(check(&p, now)).contains("not asked"));
    // Less than asked.
    let p = wallet
        .present(
            &brp(&wallet),
            &names[..1],
            &pending.nonce,
            &pending.client_id,
        )
        .unwrap();
    assert!(reason(check(&p, now)).contains("does not satisfy"));
    // Wrong state; a query that was not asked.
    let mut f = form(&good);
    f[1].1 = "other".into();
    assert!(reason(verify_response(&f, &pending, &trust, now)).contains("state"));
    let f = vec![
        ("vp_token".to_string(), json!({ "x": [good] }).to_string()),
        ("state".to_string(), pending.state.clone()),
    ];
    assert!(reason(verify_response(&f, &pending, &trust, now)).contains("not asked"));
    // An issuer the verifier does not trust.
    let r = verify_response(&form(&good), &pending, &VerifierTrust::default(), now);
    assert!(
        matches!(r, Err(VerifierError::UntrustedIssuer { .. })),
        "{r:?}"
    );
    // A decline.
    let f = vec![
        ("error".to_string(), "access_denied".to_string()),
        ("state".to_string(), pending.state.clone()),
    ];
    assert_eq!(
        verify_response(&f, &pending, &trust, now).unwrap(),
        ResponseOutcome::Declined {
            error: "access_denied".into()
        }
    );
}

/// Candidate status: after a status check the candidates are valid (no stale flag); a revoked
/// credential is shown as revoked with a flag, never picked, and the request cannot be answered.
#[tokio::test]
async fn revoked_and_stale_candidates_are_flagged() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, CITIZEN).await;
    let landlord = net.verifier(LANDLORD).unwrap().shared();

    // Never checked: stale, still offered by default.
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert!(req.flags.contains(&Flag::StaleCredentials));
    assert_eq!(req.default_choice().queries.len(), 3);

    wallet.check_status(quick_http()).await.unwrap();
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert!(
        !req.flags.contains(&Flag::StaleCredentials),
        "{:?}",
        req.flags
    );
    assert!(req
        .queries
        .iter()
        .all(|q| q.candidates[0].status == CandidateStatus::Valid));

    net.holder("cak")
        .unwrap()
        .set_status(None, kluis_fixtures::servers::StatusValue::Revoked);
    wallet.check_status(quick_http()).await.unwrap();
    let s = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert!(
        req.flags.contains(&Flag::InvalidCredentials),
        "{:?}",
        req.flags
    );
    let arrears = req
        .queries
        .iter()
        .find(|q| q.query_id == "arrears")
        .unwrap();
    assert_eq!(arrears.candidates[0].status, CandidateStatus::Revoked);
    let choice = req.default_choice();
    assert!(!choice.queries.contains_key("arrears"));
    assert!(wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .is_err());
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "pending");
}

/// A party vouched for by a Verifier Attestation but absent from the participant list: shown as
/// unregistered, everything it asks is outside a registration, nothing is shared by default.
#[tokio::test]
async fn attested_but_unlisted_party_is_flagged() {
    use kluis_fixtures::servers::{
        holder_entry, participant_list, scheme_key, sign_participant_list,
    };
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, CITIZEN).await;
    let mut list = participant_list(
        net.scheme.base_url(),
        net.holders.iter().map(holder_entry).collect(),
        kluis_core::now_unix(),
    )
    .unwrap();
    list["requesting_parties"]
        .as_array_mut()
        .unwrap()
        .retain(|p| p["id"] != BANK);
    net.scheme
        .publish(sign_participant_list(&scheme_key().unwrap(), &list).unwrap());
    wallet.refresh_scheme(quick_http()).await.unwrap();

    let attested = kluis_tests::attested_bank(&net).await;
    let bank = attested.shared();
    let s = bank.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert_eq!(req.party.client_id, format!("verifier_attestation:{BANK}"));
    assert!(!req.party.registered);
    assert!(req.party.name.is_none());
    for f in [
        Flag::Unregistered,
        Flag::OutsideRegistration,
        Flag::UnknownPurpose,
    ] {
        assert!(req.flags.contains(&f), "{f:?} missing: {:?}", req.flags);
    }
    let choice = req.default_choice();
    assert!(choice.queries.values().all(|q| q.claims.is_empty()));
    assert!(wallet
        .accept_presentation_with(&req, &choice, quick_http())
        .await
        .is_err());
    assert_eq!(bank.result(&s.state).await.unwrap().status, "pending");
}
