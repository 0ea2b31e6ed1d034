//! Delegation over real loopback: a citizen's wallet collects from a simulated holder, gives a
//! helper a mandate (package encrypted to the helper's key, revocation bit published to the
//! mandate registry), the helper's wallet accepts it and presents on the citizen's behalf, the
//! verifier checks the whole chain; revocation and expiry reach the verifier and the helper's
//! wallet. Then every attack of issue 5, each rejected with its reason.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use kluis_core::audit::AuditEvent;
use kluis_core::delegation::{
    publish_status_list, put_status, sign_status_list, sign_status_update, Action, DelegateRequest,
    Mandate, MandateRole, MandateState, Publication, Scope, StatusRef, StatusRegistry,
};
use kluis_core::sdjwt::{
    verify_presentation, ClaimPath, Credential, PresentationExpectations, PublicJwk, SdJwtError,
    SigningKey, VerifyOptions,
};
use kluis_core::status::CredentialState;
use kluis_core::trust::TrustList;
use kluis_core::verifier::{self, Expectations};
use kluis_core::{now_unix, Error, Wallet};
use kluis_fixtures::servers::{Network, StatusValue};
use kluis_tests::collecting::*;
use serde_json::{json, Map, Value};

const VCT: &str = "urn:nl:uwv:income-statement:1";
const LANDLORD: &str = "https://woningcorporatie-eemland.verifiers.kluis.test";
const BANK: &str = "https://bank-utrecht.verifiers.kluis.test";
const NONCE: &str = "n-0S6_WzA2Mj";

/// The citizen's wallet with the UWV credentials collected (3 copies each).
async fn citizen_with_income(net: &Network) -> (tempfile::TempDir, Wallet) {
    let (dir, wallet) = wallet_with_scheme(net).await;
    let offer = net.holder("uwv").unwrap().offer(CITIZEN).unwrap();
    let session = wallet
        .preview_offer(&offer.offer_uri, options())
        .await
        .unwrap();
    wallet
        .accept_offer(session, Some(&offer.tx_code))
        .await
        .unwrap();
    assert!(wallet
        .credentials("nl")
        .unwrap()
        .iter()
        .any(|c| c.vct == VCT));
    (dir, wallet)
}

fn verifier_trust(net: &Network) -> TrustList {
    let mut t = TrustList::new();
    for h in &net.holders {
        t.add(h.base_url(), h.public_jwk());
    }
    t
}

fn request(helper: &Wallet, net: &Network) -> DelegateRequest {
    DelegateRequest {
        helper_jwk: helper.holder_public_jwk().unwrap(),
        types: vec![VCT.into()],
        claims: Some(vec!["/monthly_gross_income_eur".into(), "/year".into()]),
        actions: vec![Action::Present, Action::View],
        not_before: None,
        until: now_unix() + 3600,
        parties: Some(vec![LANDLORD.into()]),
        purposes: None,
        label: "Mama (budgetcoach: Sanne)".into(),
        registry: net.mandate_registry.base_url().to_string(),
    }
}

fn events(w: &Wallet) -> Vec<AuditEvent> {
    w.audit_log()
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect()
}

fn reason(e: impl std::fmt::Display) -> String {
    e.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_presents_for_the_citizen_until_revoked() {
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;

    let outcome = citizen
        .delegate(&request(&helper, &net), quick_http())
        .await
        .unwrap();
    assert_eq!(outcome.mandate.role, MandateRole::Issued);
    assert_eq!(outcome.mandate.state, MandateState::Active);
    assert_eq!(net.mandate_registry.list_count(), 1);
    // The package is a compact JWE (ECDH-ES, A256GCM): five parts, nothing readable.
    assert_eq!(outcome.package.split('.').count(), 5);
    assert!(!outcome.package.contains("monthly_gross_income_eur"));

    // Anyone but the helper cannot open it: the citizen's own wallet, a third wallet.
    let (_o, other) = wallet_with_scheme(&net).await;
    let e = other
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap_err();
    assert!(reason(e).contains("does not decrypt with this wallet's key"));
    assert!(citizen
        .accept_mandate(&outcome.package, quick_http())
        .await
        .is_err());

    let received = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    assert_eq!(received.role, MandateRole::Received);
    assert_eq!(received.id, outcome.mandate.id);
    assert_eq!(received.label, "Mama (budgetcoach: Sanne)");
    assert_eq!(received.credentials.len(), 1);
    assert_eq!(received.credentials[0].vct, VCT);
    // Kept apart from the helper's own credentials.
    assert!(helper.credentials("nl").unwrap().is_empty());
    // Accepting twice is refused.
    assert!(helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .is_err());

    let presentation = helper
        .present_on_behalf(
            &received.id,
            VCT,
            &["/monthly_gross_income_eur".into()],
            NONCE,
            LANDLORD,
            Some("rental-application"),
            quick_http(),
        )
        .await
        .unwrap();
    let trust = verifier_trust(&net);
    let expect = Expectations::new(NONCE, LANDLORD);
    let v = verifier::verify_online(&presentation, &trust, &expect, None, quick_http())
        .await
        .unwrap();
    let on_behalf = v
        .on_behalf
        .as_ref()
        .expect("a helper acting for the citizen");
    assert_eq!(on_behalf.mandate_id, received.id);
    let helper_key = PublicJwk::from_json(&helper.holder_public_jwk().unwrap()).unwrap();
    assert_eq!(on_behalf.helper_thumbprint, helper_key.thumbprint());
    assert_eq!(on_behalf.scope["vct"], json!([VCT]));
    assert!(v.claims.get("monthly_gross_income_eur").is_some());
    assert!(v.claims.get("given_name").is_none());

    // The offline entry point cannot know the revocation state: it refuses.
    let e = verifier::verify(&presentation, &trust, &expect).unwrap_err();
    assert!(reason(e).contains("revocation status could not be checked"));
    // A standard SD-JWT VC verifier refuses it too: the KB-JWT is not signed by cnf.
    let plain = verify_presentation(
        &presentation,
        &trust,
        &PresentationExpectations::new(NONCE, LANDLORD, now_unix()),
    )
    .unwrap_err();
    assert_eq!(plain, SdJwtError::BadKeyBindingSignature);

    // `view`: the helper reads exactly the claims in scope.
    let seen = helper
        .view_on_behalf(&received.id, VCT, "en", quick_http())
        .await
        .unwrap();
    let mut paths: Vec<&str> = seen.iter().map(|v| v.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/monthly_gross_income_eur", "/year"]);

    // The helper's wallet refuses what the mandate does not allow, before anything is sent.
    let e = helper
        .present_on_behalf(
            &received.id,
            VCT,
            &["/given_name".into()],
            NONCE,
            LANDLORD,
            None,
            quick_http(),
        )
        .await
        .unwrap_err();
    assert!(reason(e).contains("claim /given_name is outside the mandate's scope"));
    let e = helper
        .present_on_behalf(
            &received.id,
            VCT,
            &["/year".into()],
            NONCE,
            BANK,
            None,
            quick_http(),
        )
        .await
        .unwrap_err();
    assert!(reason(e).contains("does not allow presenting to"));

    // Revocation: published at once; the verifier and the helper's wallet see it.
    let revoked = citizen
        .revoke_mandate(&received.id, quick_http())
        .await
        .unwrap();
    assert_eq!(revoked.state, MandateState::Revoked);
    let e = verifier::verify_online(&presentation, &trust, &expect, None, quick_http())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("the mandate has been revoked"),
        "{e}"
    );
    let listed = helper.mandates(quick_http()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, MandateState::Revoked);
    // Dropped: gone on the next listing, and cannot be used.
    assert!(helper.mandates(quick_http()).await.unwrap().is_empty());
    assert!(helper
        .present_on_behalf(
            &received.id,
            VCT,
            &["/year".into()],
            NONCE,
            LANDLORD,
            None,
            quick_http()
        )
        .await
        .is_err());
    let c = citizen.mandates(quick_http()).await.unwrap();
    assert_eq!(c[0].state, MandateState::Revoked);
    // The citizen's log shows what the helper did, from the helper's sealed usage receipts
    // (logged once, however often the citizen looks).
    citizen.mandates(quick_http()).await.unwrap();
    let reported: Vec<(String, Vec<String>)> = events(&citizen)
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::MandateUsed {
                audience,
                mut claims,
                ..
            } => {
                claims.sort();
                Some((audience, claims))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        reported,
        vec![
            (
                LANDLORD.to_string(),
                vec!["/monthly_gross_income_eur".to_string()]
            ),
            (
                "view".to_string(),
                vec!["/monthly_gross_income_eur".to_string(), "/year".to_string()]
            )
        ]
    );

    // Both logs.
    let ce = events(&citizen);
    assert!(ce
        .iter()
        .any(|e| matches!(e, AuditEvent::MandateIssued { mandate_id, types, .. } if *mandate_id == received.id && types == &vec![VCT.to_string()])));
    assert!(ce.iter().any(
        |e| matches!(e, AuditEvent::MandateRevoked { mandate_id } if *mandate_id == received.id)
    ));
    let he = events(&helper);
    assert!(he
        .iter()
        .any(|e| matches!(e, AuditEvent::MandateAccepted { .. })));
    let used: Vec<_> = he
        .iter()
        .filter_map(|e| match e {
            AuditEvent::MandateUsed {
                audience, claims, ..
            } => {
                let mut claims = claims.clone();
                claims.sort();
                Some((audience.clone(), claims))
            }
            _ => None,
        })
        .collect();
    // One presentation to the landlord, one `view` by the helper.
    assert_eq!(
        used,
        vec![
            (
                LANDLORD.to_string(),
                vec!["/monthly_gross_income_eur".to_string()]
            ),
            (
                "view".to_string(),
                vec!["/monthly_gross_income_eur".to_string(), "/year".to_string()]
            )
        ]
    );
    assert!(he
        .iter()
        .any(|e| matches!(e, AuditEvent::MandateDropped { reason, .. } if reason == "revoked")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_mandate_is_dropped_without_any_action() {
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let mut req = request(&helper, &net);
    // Wide enough that delegating and accepting fit inside the window on a loaded machine (a
    // 2 s window failed at load 13); then wait until the window has passed, whatever that took.
    req.until = now_unix() + 8;
    let outcome = citizen.delegate(&req, quick_http()).await.unwrap();
    let received = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    let left = (req.until + 1 - now_unix()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(left)).await;
    let e = helper
        .present_on_behalf(
            &received.id,
            VCT,
            &["/year".into()],
            NONCE,
            LANDLORD,
            None,
            quick_http(),
        )
        .await
        .unwrap_err();
    assert!(reason(e).contains("the mandate has expired"));
    assert!(helper.mandates(quick_http()).await.unwrap().is_empty());
    assert!(events(&helper)
        .iter()
        .any(|e| matches!(e, AuditEvent::MandateDropped { reason, .. } if reason == "expired")));
}

// ---- Attacks on the verifier, with presentations built by hand ----

/// A citizen (holder key), a helper, a credential bound to the citizen's key by the UWV
/// fixture holder, and a mandate status list published to the loopback registry.
struct Scene {
    net: Network,
    citizen: SigningKey,
    helper: SigningKey,
    credential: Credential,
    status_uri: String,
    /// The citizen's last update's `seq`.
    seq: std::sync::atomic::AtomicI64,
}

impl Scene {
    async fn new() -> Scene {
        Scene::for_citizen(CITIZEN).await
    }

    async fn for_citizen(name: &str) -> Scene {
        let net = network().await;
        let citizen = SigningKey::make_random().unwrap();
        let helper = SigningKey::make_random().unwrap();
        let uwv = kluis_fixtures::holder("uwv").unwrap();
        let person = kluis_fixtures::citizen(name).unwrap();
        let mut trust = TrustList::new();
        trust.add(&uwv.iss, uwv.public_jwk().unwrap());
        let compact = uwv
            .issue(&person, VCT, &citizen.public_jwk(), now_unix())
            .unwrap();
        let credential =
            Credential::verify_issued(&compact, &trust, now_unix(), &VerifyOptions::default())
                .unwrap();
        let status_uri = format!(
            "{}/lists/{}",
            net.mandate_registry.base_url(),
            "00c0ffee00c0ffee"
        );
        let s = Scene {
            net,
            citizen,
            helper,
            credential,
            status_uri,
            seq: Default::default(),
        };
        s.publish(&[false, false]).await;
        s
    }

    fn trust(&self) -> TrustList {
        let uwv = kluis_fixtures::holder("uwv").unwrap();
        let mut t = TrustList::new();
        t.add(&uwv.iss, uwv.public_jwk().unwrap());
        t
    }

    /// The citizen's next update of its list (as its wallet sends it), returned as sent.
    async fn publish(&self, revoked: &[bool]) -> String {
        let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let jwt =
            sign_status_update(&self.citizen, &self.status_uri, revoked, seq, now_unix()).unwrap();
        publish_status_list(&self.status_uri, &jwt, &quick_http())
            .await
            .unwrap();
        jwt
    }

    /// The list the registry serves now (signed by it).
    async fn served(&self) -> String {
        reqwest::get(&self.status_uri)
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The registry as the scheme lists it, which the mandates name.
    fn registry(&self) -> StatusRegistry {
        StatusRegistry {
            iss: self.net.mandate_registry.base_url().to_string(),
            key: self.net.mandate_registry.public_jwk(),
        }
    }

    /// A valid mandate for the helper: the income type, two claims, present, the landlord.
    fn mandate(&self) -> Mandate {
        let now = now_unix();
        Mandate {
            id: "m-test-1".into(),
            issued_at: now,
            not_before: now - 60,
            expires_at: now + 3600,
            helper: self.helper.public_jwk(),
            scope: Scope {
                vct: vec![VCT.into()],
                claims: Some(vec!["/monthly_gross_income_eur".into(), "/year".into()]),
                actions: vec![Action::Present],
                parties: Some(vec![LANDLORD.into()]),
                purposes: None,
            },
            redelegation: false,
            status: StatusRef {
                idx: 1,
                uri: self.status_uri.clone(),
            },
            status_key: self.citizen.public_jwk(),
            status_registry: Some(self.registry()),
        }
    }

    fn present(&self, mandate: Value, kb_key: &SigningKey, claims: &[&str], aud: &str) -> String {
        let paths: Vec<ClaimPath> = claims
            .iter()
            .map(|p| ClaimPath::parse(p).unwrap())
            .collect();
        let mut extra = Map::new();
        extra.insert("mandate".into(), mandate);
        self.credential
            .present_delegated(&paths, kb_key, NONCE, aud, now_unix(), &extra)
            .unwrap()
    }

    async fn verify(&self, presentation: &str, aud: &str) -> Result<String, String> {
        verifier::verify_online(
            presentation,
            &self.trust(),
            &Expectations::new(NONCE, aud),
            Some("rental-application"),
            quick_http(),
        )
        .await
        .map(|v| v.on_behalf.unwrap().mandate_id)
        .map_err(|e| e.to_string())
    }

    /// Signs `m` with the citizen's key, has the helper present `claims` to `aud`, verifies.
    async fn check(&self, m: &Mandate, claims: &[&str], aud: &str) -> Result<String, String> {
        let jwt = m.sign(&self.citizen).unwrap();
        let p = self.present(Value::String(jwt), &self.helper, claims, aud);
        self.verify(&p, aud).await
    }
}

fn rejected(r: Result<String, String>, expected: &str) {
    let e = r.expect_err("must be rejected");
    assert!(e.contains(expected), "expected {expected:?}, got {e:?}");
}

/// A scope's array index names that element of the issued array (issue 13 item 3): a presented
/// array holds only the disclosed elements, so the second employer alone arrives at index 0
/// and must not pass for the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_index_names_that_array_element_whatever_index_it_arrives_at() {
    // Sanne's income statement has two employers.
    let s = Scene::for_citizen("sanne").await;
    let mut m = s.mandate();
    m.scope.claims = Some(vec!["/employers/0".into()]);
    assert_eq!(
        s.check(&m, &["/employers/0"], LANDLORD).await.unwrap(),
        "m-test-1"
    );
    rejected(
        s.check(&m, &["/employers/1"], LANDLORD).await,
        "is outside the mandate's scope",
    );
    rejected(
        s.check(&m, &["/employers/1/name"], LANDLORD).await,
        "is outside the mandate's scope",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_rejects_every_attack_with_its_reason() {
    let s = Scene::new().await;
    let income = ["/monthly_gross_income_eur"];

    // The honest case passes.
    assert_eq!(
        s.check(&s.mandate(), &income, LANDLORD).await.unwrap(),
        "m-test-1"
    );

    // Expired, not yet valid.
    let mut m = s.mandate();
    m.not_before = now_unix() - 7200;
    m.expires_at = now_unix() - 3600;
    rejected(
        s.check(&m, &income, LANDLORD).await,
        "the mandate has expired",
    );
    let mut m = s.mandate();
    m.not_before = now_unix() + 3600;
    m.expires_at = now_unix() + 7200;
    rejected(
        s.check(&m, &income, LANDLORD).await,
        "the mandate is not valid yet",
    );

    // Claims outside the scope: a claim not listed, or an object above a listed leaf.
    rejected(
        s.check(&s.mandate(), &["/given_name"], LANDLORD).await,
        "claim /given_name is outside the mandate's scope",
    );
    let mut m = s.mandate();
    m.scope.claims = Some(vec!["/employers/0/name".into()]);
    rejected(
        s.check(&m, &["/employers/0"], LANDLORD).await,
        "is outside the mandate's scope",
    );
    // A type outside the scope.
    let mut m = s.mandate();
    m.scope.vct = vec!["urn:nl:duo:student-debt:1".into()];
    rejected(
        s.check(&m, &income, LANDLORD).await,
        "credential type urn:nl:uwv:income-statement:1 is outside the mandate's scope",
    );
    // Action outside the scope: a view mandate used to present.
    let mut m = s.mandate();
    m.scope.actions = vec![Action::View];
    rejected(
        s.check(&m, &income, LANDLORD).await,
        "the mandate does not allow the action present",
    );
    // A party outside the allowed list.
    rejected(
        s.check(&s.mandate(), &income, BANK).await,
        &format!("the mandate does not allow presenting to {BANK}"),
    );
    // A purpose outside the allowed list.
    let mut m = s.mandate();
    m.scope.purposes = Some(vec!["mortgage".into()]);
    rejected(
        s.check(&m, &income, LANDLORD).await,
        "the mandate does not allow this purpose",
    );

    // A mandate signed by a key other than the credential's cnf (the helper's own).
    let forged = s.mandate().sign(&s.helper).unwrap();
    rejected(
        s.verify(
            &s.present(Value::String(forged), &s.helper, &income, LANDLORD),
            LANDLORD,
        )
        .await,
        "the mandate is not signed by the credential's holder key",
    );
    // The KB-JWT signed by the citizen's key while the mandate names the helper.
    let jwt = s.mandate().sign(&s.citizen).unwrap();
    rejected(
        s.verify(
            &s.present(Value::String(jwt), &s.citizen, &income, LANDLORD),
            LANDLORD,
        )
        .await,
        "the key-binding JWT is not signed by the helper key the mandate names",
    );
    // ... and the other way round: the mandate names the citizen, the helper signs the KB-JWT.
    let mut m = s.mandate();
    m.helper = s.citizen.public_jwk();
    let jwt = m.sign(&s.citizen).unwrap();
    rejected(
        s.verify(
            &s.present(Value::String(jwt), &s.helper, &income, LANDLORD),
            LANDLORD,
        )
        .await,
        "the key-binding JWT is not signed by the helper key the mandate names",
    );

    // Re-delegation: the helper derives a mandate for a second helper from its own.
    let second = SigningKey::make_random().unwrap();
    let original = s.mandate().sign(&s.citizen).unwrap();
    let mut sub = s.mandate().to_claims();
    sub["cnf"] = json!({ "jwk": second.public_jwk().to_value() });
    sub["parent"] = Value::String(original.clone());
    let sub = sign_raw(&s.helper, &sub);
    rejected(
        s.verify(
            &s.present(Value::String(sub), &second, &income, LANDLORD),
            LANDLORD,
        )
        .await,
        "re-delegation: the original mandate does not allow re-delegation",
    );
    // Without naming its parent it is simply not signed by cnf.
    let mut sub = s.mandate();
    sub.helper = second.public_jwk();
    let sub = sub.sign(&s.helper).unwrap();
    rejected(
        s.verify(
            &s.present(Value::String(sub.clone()), &second, &income, LANDLORD),
            LANDLORD,
        )
        .await,
        "the mandate is not signed by the credential's holder key",
    );
    // A chain of mandates.
    rejected(
        s.verify(
            &s.present(json!([original.clone(), sub]), &second, &income, LANDLORD),
            LANDLORD,
        )
        .await,
        "re-delegation: a chain of mandates is not accepted",
    );

    // A tampered mandate: the scope widened after signing.
    let jwt = s.mandate().sign(&s.citizen).unwrap();
    let mut claims = s.mandate().to_claims();
    claims["scope"]["claims"] = json!(["/"]);
    claims["scope"]["parties"] = json!([LANDLORD, BANK]);
    let parts: Vec<&str> = jwt.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims.to_string()), parts[2]);
    rejected(
        s.verify(
            &s.present(Value::String(tampered), &s.helper, &income, LANDLORD),
            LANDLORD,
        )
        .await,
        "the mandate is not signed by the credential's holder key (cnf), or was altered",
    );
    // Another typ.
    let other_typ = sign_raw_typ(&s.citizen, &s.mandate().to_claims(), "JWT");
    rejected(
        s.verify(
            &s.present(Value::String(other_typ), &s.helper, &income, LANDLORD),
            LANDLORD,
        )
        .await,
        "typ is not kluis-mandate+jwt",
    );

    // Revoked: the citizen sets the bit and republishes.
    s.publish(&[false, true]).await;
    rejected(
        s.check(&s.mandate(), &income, LANDLORD).await,
        "the mandate has been revoked",
    );
    // A list signed by someone other than the registry the mandate names, carrying the
    // citizen's own (genuine, clean) update: refused.
    let other = SigningKey::make_random().unwrap();
    let clean =
        sign_status_update(&s.citizen, &s.status_uri, &[false, false], 1, now_unix()).unwrap();
    let presented = s.present(
        Value::String(s.mandate().sign(&s.citizen).unwrap()),
        &s.helper,
        &income,
        LANDLORD,
    );
    let with_list = |list: &str| {
        let mut lists = kluis_core::delegation::MandateStatusLists::new();
        lists.insert(&s.status_uri, list);
        verifier::verify_with(
            &presented,
            &s.trust(),
            &Expectations::new(NONCE, LANDLORD),
            &kluis_core::delegation::DelegationContext::new(lists, None),
        )
        .map(|v| v.on_behalf.map(|o| o.mandate_id).unwrap_or_default())
        .map_err(|e| e.to_string())
    };
    let foreign = registry_list(
        &other,
        &s.registry().iss,
        &s.status_uri,
        &clean,
        now_unix(),
        900,
    );
    rejected(with_list(&foreign), "not signed by the mandate's registry");
    // A list the citizen signed itself (the format before registries signed) for a mandate that
    // names a registry: refused.
    let own = sign_status_list(&s.citizen, &s.status_uri, &[false, false], now_unix()).unwrap();
    rejected(with_list(&own), "not signed by the mandate's registry");
    // The registry's own key (a compromised registry) signing a clean list with an update the
    // citizen never signed: refused, a registry cannot un-revoke by itself.
    let forged_update =
        sign_status_update(&other, &s.status_uri, &[false, false], 99, now_unix()).unwrap();
    let registry_key = kluis_fixtures::servers::mandate_registry_key().unwrap();
    let forged = registry_list(
        &registry_key,
        &s.registry().iss,
        &s.status_uri,
        &forged_update,
        now_unix(),
        900,
    );
    rejected(
        with_list(&forged),
        "the list's update is not signed by the mandate's status key",
    );
    // ... nor change the bits under a genuine update.
    let mut tampered = kluis_fixtures_payload(&registry_list(
        &registry_key,
        &s.registry().iss,
        &s.status_uri,
        &clean,
        now_unix(),
        900,
    ));
    tampered["kluis_seq"] = json!(7);
    let tampered = kluis_core::delegation::mandate::sign_jws(
        &registry_key,
        "statuslist+jwt",
        false,
        &tampered,
    )
    .unwrap();
    rejected(
        with_list(&tampered),
        "the status list does not match the citizen's update",
    );
    // The registry itself refuses an update from another key than the first writer's.
    assert!(
        publish_status_list(&s.status_uri, &forged_update, &quick_http())
            .await
            .is_err()
    );
}

/// A `statuslist+jwt` as a registry signs it, with `key`, carrying `update`, valid `life` s.
fn registry_list(
    key: &SigningKey,
    iss: &str,
    uri: &str,
    update: &str,
    iat: i64,
    life: i64,
) -> String {
    let u = kluis_fixtures_payload(update);
    kluis_core::delegation::mandate::sign_jws(
        key,
        "statuslist+jwt",
        false,
        &json!({ "iss": iss, "sub": uri, "iat": iat, "exp": iat + life, "ttl": 300,
            "status_list": u["status_list"], "kluis_seq": u["seq"], "kluis_update": update }),
    )
    .unwrap()
}

/// The payload of a compact JWS, unverified.
fn kluis_fixtures_payload(jws: &str) -> Value {
    let p = jws.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// An unrevoked mandate keeps verifying for its whole window without the citizen (issue 13
/// item 3): the citizen's wallet published once; two days later (the registry's and the
/// verifier's clocks moved on) the registry has signed the list again by itself and the
/// helper's presentation verifies. With lists signed by the citizen (valid 24 h) it did not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrevoked_mandate_still_verifies_two_days_later_without_the_citizen() {
    let s = Scene::new().await;
    let later = now_unix() + 2 * 86_400;
    s.net.mandate_registry.set_clock_offset(2 * 86_400);
    let mut m = s.mandate();
    m.expires_at = now_unix() + 30 * 86_400;
    let presented = s
        .credential
        .present_delegated(
            &[ClaimPath::parse("/monthly_gross_income_eur").unwrap()],
            &s.helper,
            NONCE,
            LANDLORD,
            later,
            &Map::from_iter([(
                "mandate".to_string(),
                Value::String(m.sign(&s.citizen).unwrap()),
            )]),
        )
        .unwrap();
    let mut expect = Expectations::new(NONCE, LANDLORD);
    expect.now = later;
    let v = verifier::verify_online(&presented, &s.trust(), &expect, None, quick_http())
        .await
        .unwrap();
    assert_eq!(v.on_behalf.unwrap().mandate_id, "m-test-1");
    // The list served is the registry's, signed two days after the citizen's only update.
    let served = kluis_fixtures_payload(&s.served().await);
    assert!(served["iat"].as_i64().unwrap() >= later);
    assert_eq!(served["kluis_seq"], json!(1));
}

/// A revocation sticks (issue 13 item 3): the helper re-sends the older, clean update the
/// citizen once signed; the registry refuses it (409), keeps serving the revocation, and a
/// verifier that saw the newer list refuses the older one even when it is handed to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_older_list_is_refused_by_the_registry_and_by_a_verifier_that_saw_the_newer() {
    let s = Scene::new().await;
    let income = ["/monthly_gross_income_eur"];
    // Scene published update 1 (both valid); the helper kept it, and the list served then.
    let old_list = s.served().await;
    let replayed =
        sign_status_update(&s.citizen, &s.status_uri, &[false, false], 1, now_unix()).unwrap();
    assert_eq!(
        put_status(&s.status_uri, &replayed, &quick_http())
            .await
            .unwrap(),
        Publication::Superseded,
        "the registry took an update with a seq it already had"
    );
    s.publish(&[false, true]).await;
    // The helper re-PUTs the older update, and the very token sent before (either kind).
    assert_eq!(
        put_status(&s.status_uri, &replayed, &quick_http())
            .await
            .unwrap(),
        Publication::Superseded
    );
    let e = publish_status_list(&s.status_uri, &replayed, &quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("409"), "{e}");
    rejected(
        s.check(&s.mandate(), &income, LANDLORD).await,
        "the mandate has been revoked",
    );

    // A verifier keeping state (its shared status cache) saw the newer list; the older one,
    // still within its lifetime, handed to it later (a proxy, a stale cache): refused as a replay.
    let shared = kluis_core::status::StatusLists::new();
    let p = s.present(
        Value::String(s.mandate().sign(&s.citizen).unwrap()),
        &s.helper,
        &income,
        LANDLORD,
    );
    let with_list = |list: &str| {
        let mut lists = kluis_core::delegation::MandateStatusLists::new();
        lists.insert(&s.status_uri, list);
        verifier::verify_with(
            &p,
            &s.trust(),
            &Expectations::new(NONCE, LANDLORD),
            &kluis_core::delegation::DelegationContext::new(lists, None)
                .with_credential_status(shared.clone()),
        )
        .map(|v| v.on_behalf.map(|o| o.mandate_id).unwrap_or_default())
        .map_err(|e| e.to_string())
    };
    rejected(with_list(&s.served().await), "the mandate has been revoked");
    rejected(with_list(&old_list), "older than one seen before");

    // Lists written before the registry signed (signed by the citizen): an older one is
    // refused as well (their `iat` orders them).
    let legacy_uri = format!("{}/lists/01d01d", s.net.mandate_registry.base_url());
    let t = now_unix();
    let first = sign_status_list(&s.citizen, &legacy_uri, &[false], t).unwrap();
    let second = sign_status_list(&s.citizen, &legacy_uri, &[true], t + 1).unwrap();
    publish_status_list(&legacy_uri, &first, &quick_http())
        .await
        .unwrap();
    publish_status_list(&legacy_uri, &second, &quick_http())
        .await
        .unwrap();
    assert_eq!(
        put_status(&legacy_uri, &first, &quick_http())
            .await
            .unwrap(),
        Publication::Superseded
    );
}

/// The bound from revocation to refusal (docs/DELEGATION.md): a verifier that fetches refuses at
/// once; a list from before the revocation (a stale copy) is refused once it expires, at most
/// the registry's list lifetime (15 min) plus 60 s after it was signed; and no list signed for
/// longer than an hour is accepted, so a registry cannot stretch the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_revocation_the_verifier_refuses_within_the_stated_bound() {
    let s = Scene::new().await;
    let income = ["/monthly_gross_income_eur"];
    let before = s.served().await;
    let signed_at = kluis_fixtures_payload(&before)["iat"].as_i64().unwrap();
    s.publish(&[false, true]).await;
    // Fetched: refused at once.
    rejected(
        s.check(&s.mandate(), &income, LANDLORD).await,
        "the mandate has been revoked",
    );
    // The stale list, to a verifier that never saw the newer one.
    let mut m = s.mandate();
    m.expires_at = now_unix() + 86_400;
    let jwt = m.sign(&s.citizen).unwrap();
    let at = |now: i64| {
        let p = s
            .credential
            .present_delegated(
                &[ClaimPath::parse("/monthly_gross_income_eur").unwrap()],
                &s.helper,
                NONCE,
                LANDLORD,
                now,
                &Map::from_iter([("mandate".to_string(), Value::String(jwt.clone()))]),
            )
            .unwrap();
        let mut lists = kluis_core::delegation::MandateStatusLists::new();
        lists.insert(&s.status_uri, &before);
        let mut expect = Expectations::new(NONCE, LANDLORD);
        expect.now = now;
        verifier::verify_with(
            &p,
            &s.trust(),
            &expect,
            &kluis_core::delegation::DelegationContext::new(lists, None),
        )
        .map(|v| v.on_behalf.map(|o| o.mandate_id).unwrap_or_default())
        .map_err(|e| e.to_string())
    };
    let bound = kluis_fixtures::servers::MANDATE_LIST_LIFETIME_SECS + 60;
    assert!(at(signed_at + bound - 1).is_ok(), "within the bound");
    rejected(at(signed_at + bound + 1), "the status list has expired");
    // A list the registry's key signed for two days: refused whatever it says.
    let update =
        sign_status_update(&s.citizen, &s.status_uri, &[false, false], 1, signed_at).unwrap();
    let long = registry_list(
        &kluis_fixtures::servers::mandate_registry_key().unwrap(),
        &s.registry().iss,
        &s.status_uri,
        &update,
        now_unix(),
        2 * 86_400,
    );
    let mut lists = kluis_core::delegation::MandateStatusLists::new();
    lists.insert(&s.status_uri, &long);
    let p = s.present(Value::String(jwt.clone()), &s.helper, &income, LANDLORD);
    let e = verifier::verify_with(
        &p,
        &s.trust(),
        &Expectations::new(NONCE, LANDLORD),
        &kluis_core::delegation::DelegationContext::new(lists, None),
    )
    .unwrap_err();
    assert!(e.to_string().contains("valid for too long"), "{e}");
}

fn b64(s: &str) -> String {
    use base64_lite::encode;
    encode(s.as_bytes())
}

fn sign_raw(key: &SigningKey, claims: &Value) -> String {
    sign_raw_typ(key, claims, "kluis-mandate+jwt")
}

/// A compact ES256 JWS over `claims` with header `typ` (for mandates the wallet would not make).
fn sign_raw_typ(key: &SigningKey, claims: &Value, typ: &str) -> String {
    kluis_core::delegation::mandate::sign_jws(key, typ, false, claims).unwrap()
}

/// Base64url without padding (the tests crate has no base64 dependency).
mod base64_lite {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    pub fn encode(data: &[u8]) -> String {
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_answers_the_landlords_openid4vp_request_on_behalf() {
    let landlord_id = kluis_fixtures::servers::LANDLORD;
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let mut req = request(&helper, &net);
    req.parties = Some(vec![landlord_id.into()]);
    // Only for renting: the landlord's request states the purpose `rental`, and its verifier
    // checks it against the mandate.
    req.purposes = Some(vec!["rental".into()]);
    let outcome = citizen.delegate(&req, quick_http()).await.unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();

    let landlord = net.verifier(landlord_id).unwrap().shared();
    let ask = |claims: Value| {
        json!({ "credentials": [ { "id": "income", "format": "dc+sd-jwt",
            "meta": { "vct_values": [VCT] }, "claims": claims } ] })
    };
    landlord.set_dcql(Some(ask(json!([{ "path": ["monthly_gross_income_eur"] }]))));
    let s = landlord.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    let sent = helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap();
    assert_eq!(sent.disclosed[0].claims, vec!["/monthly_gross_income_eur"]);
    // The landlord's server (the kluis-verifier library) fetched the mandate's status list and
    // sees a helper acting for the citizen.
    let r = landlord.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
    let v = &r.claims.unwrap()["income"][0];
    assert_eq!(v["on_behalf"]["mandate_id"], json!(m.id));
    assert!(v["claims"].get("monthly_gross_income_eur").is_some());

    // Asking more than the mandate covers: nothing is sent.
    landlord.set_dcql(Some(ask(
        json!([{ "path": ["monthly_gross_income_eur"] }, { "path": ["given_name"] }]),
    )));
    let s = landlord.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    let e = helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("does not cover what the party asks"),
        "{e}"
    );
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "pending");

    // Revoked: the helper's wallet refuses before sending and drops the package.
    citizen.revoke_mandate(&m.id, quick_http()).await.unwrap();
    landlord.set_dcql(Some(ask(json!([{ "path": ["monthly_gross_income_eur"] }]))));
    let s = landlord.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    let e = helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
    assert!(helper.mandates(quick_http()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helper_answers_in_person_over_the_session_qr() {
    use kluis_core::openid4vp::proximity::WalletEngagement;
    use kluis_core::openid4vp::request::{ResponseMode, StatedPurpose};
    use kluis_core::openid4vp::verifier::{ResponseOutcome, VerifierConfig};
    use kluis_fixtures::servers::{requesting_party_key, trust_from_holders, LANDLORD as DESK};

    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let mut req = request(&helper, &net);
    req.parties = Some(vec![DESK.into()]);
    let outcome = citizen.delegate(&req, quick_http()).await.unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();

    // The helper's wallet shows a session QR; the landlord's desk scans it and asks for income.
    let engagement = WalletEngagement::new(net.relay.base_url()).unwrap();
    let config = VerifierConfig {
        client_id: DESK.into(),
        signing_key: requesting_party_key(DESK).unwrap(),
        attestation: None,
        x5c: Vec::new(),
        response_uri: format!("{}/response", net.verifier(DESK).unwrap().origin()),
        response_mode: ResponseMode::DirectPostJwt,
        purpose: Some(StatedPurpose {
            id: "rental".into(),
            retention_days: Some(30),
        }),
        lifetime_secs: 300,
    };
    let dcql = json!({ "credentials": [ { "id": "income",
        "format": "dc+sd-jwt", "meta": { "vct_values": [VCT] },
        "claims": [ { "path": ["monthly_gross_income_eur"] } ] } ] });
    let desk = kluis_tests::spawn_desk(
        engagement.qr_text(),
        &config,
        &dcql,
        trust_from_holders(&net.holders),
        Duration::from_secs(15),
    );
    let channel = engagement.relay().unwrap();
    let request = helper
        .receive_session_request(&engagement, &channel, Duration::from_secs(15), "en")
        .await
        .unwrap();
    let sent = helper
        .accept_session_presentation_on_behalf(&m.id, &request, &channel, quick_http())
        .await
        .unwrap();
    assert_eq!(sent[0].claims, vec!["/monthly_gross_income_eur"]);
    // The desk's verifier fetched the mandate's status list and sees the helper.
    let ResponseOutcome::Verified { credentials } = desk.await.unwrap().unwrap() else {
        panic!("not verified");
    };
    let c = &credentials["income"][0];
    assert_eq!(c.on_behalf.as_ref().unwrap().mandate_id, m.id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_registry_fails_closed_and_keeps_the_package() {
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let outcome = citizen
        .delegate(&request(&helper, &net), quick_http())
        .await
        .unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    let presentation = helper
        .present_on_behalf(
            &m.id,
            VCT,
            &["/year".into()],
            NONCE,
            LANDLORD,
            None,
            quick_http(),
        )
        .await
        .unwrap();
    let trust = verifier_trust(&net);
    let Network {
        mandate_registry, ..
    } = net;
    drop(mandate_registry);

    // The verifier cannot check revocation: rejected.
    let e = verifier::verify_online(
        &presentation,
        &trust,
        &Expectations::new(NONCE, LANDLORD),
        None,
        quick_http(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("could not be checked"), "{e}");
    // Typed: a network error (the registry is the problem), refused all the same.
    assert!(
        matches!(e, kluis_core::VerifierError::Network { .. }),
        "{e:?}"
    );
    // The helper's wallet refuses to present (a network error) and keeps the package.
    let e = helper
        .present_on_behalf(
            &m.id,
            VCT,
            &["/year".into()],
            NONCE,
            LANDLORD,
            None,
            quick_http(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), kluis_core::ErrorCode::Other, "{e}");
    let listed = helper.mandates(quick_http()).await.unwrap();
    assert_eq!(listed[0].state, MandateState::Unknown);
    assert_eq!(helper.mandates(quick_http()).await.unwrap().len(), 1);
}

/// Only a registry the scheme lists may sign a mandate's status list: `delegate` to another
/// one is refused before anything is signed, published or logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegate_refuses_a_registry_the_scheme_does_not_list() {
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let unlisted = kluis_fixtures::servers::MandateRegistryServer::start(0)
        .await
        .unwrap();
    let mut req = request(&helper, &net);
    req.registry = unlisted.base_url().to_string();
    let e = citizen.delegate(&req, quick_http()).await.unwrap_err();
    assert!(
        matches!(&e, Error::InvalidInput { reason } if reason.contains("not listed in the scheme")),
        "{e}"
    );
    assert_eq!(unlisted.list_count(), 0);
    assert!(!events(&citizen)
        .iter()
        .any(|e| matches!(e, AuditEvent::MandateIssued { .. })));
    // The listed one works, and its mandates name it.
    let outcome = citizen
        .delegate(&request(&helper, &net), quick_http())
        .await
        .unwrap();
    assert_eq!(net.mandate_registry.list_count(), 1);
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    assert_eq!(m.state, MandateState::Active);
}

/// A wallet whose list fell behind the registry's (restored from an older copy of its vault)
/// publishes again above what the registry holds and keeps every revocation it finds there: a
/// revocation made after the copy is never undone by the copy's next publication.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_restored_from_an_older_copy_never_undoes_a_revocation() {
    let net = network().await;
    let (dir, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let outcome = citizen
        .delegate(&request(&helper, &net), quick_http())
        .await
        .unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    let presented = helper
        .present_on_behalf(
            &m.id,
            VCT,
            &["/year".into()],
            NONCE,
            LANDLORD,
            None,
            quick_http(),
        )
        .await
        .unwrap();
    // The copy, taken with the mandate valid.
    let copy = tempfile::tempdir().unwrap();
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), copy.path().join(f.file_name())).unwrap();
        }
    }
    citizen.revoke_mandate(&m.id, quick_http()).await.unwrap();
    drop(citizen);

    let restored = Wallet::open(
        copy.path(),
        std::sync::Arc::new(kluis_core::SoftwareDeviceSecretStore::new(copy.path())),
    )
    .unwrap();
    restored
        .unlock(&kluis_core::Pin::new(kluis_tests::PIN))
        .unwrap();
    // Its list still has the mandate valid and the older seq: its next publication (a new
    // mandate) meets 409, takes up the registry's revocation, and publishes above it.
    restored
        .delegate(&request(&helper, &net), quick_http())
        .await
        .unwrap();
    let e = verifier::verify_online(
        &presented,
        &verifier_trust(&net),
        &Expectations::new(NONCE, LANDLORD),
        None,
        quick_http(),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("the mandate has been revoked"),
        "{e}"
    );
}

/// Revoking while the registry is unreachable: a clear network error, and the revocation is
/// already in the citizen's vault (logged, list bit set), so no later publication of the list can
/// carry the mandate as valid again. (The vault is written before the registry: docs/DELEGATION.md.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_that_cannot_be_published_is_kept_and_never_undone() {
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let outcome = citizen
        .delegate(&request(&helper, &net), quick_http())
        .await
        .unwrap();
    let id = outcome.mandate.id.clone();
    let Network {
        mandate_registry, ..
    } = net;
    drop(mandate_registry);

    let e = citizen.revoke_mandate(&id, quick_http()).await.unwrap_err();
    assert!(matches!(e, Error::Network { .. }), "{e}");
    assert!(e.to_string().contains("revoke the mandate again"), "{e}");
    // Kept: the citizen's log has the revocation, once, even after a second failed attempt.
    let e = citizen.revoke_mandate(&id, quick_http()).await.unwrap_err();
    assert!(matches!(e, Error::Network { .. }), "{e}");
    let revoked = events(&citizen)
        .into_iter()
        .filter(|ev| matches!(ev, AuditEvent::MandateRevoked { mandate_id } if *mandate_id == id))
        .count();
    assert_eq!(revoked, 1);
    let listed = citizen.mandates(quick_http()).await.unwrap();
    let mine = listed.iter().find(|m| m.id == id).expect("mandate listed");
    assert_eq!(mine.state, MandateState::Revoked);
}

/// `delegate` never packages what its holder has withdrawn (issue 13): of two income statements,
/// the one the holder revoked is left out and named; when every credential of a type in scope is
/// revoked, nothing is delegated, published or logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delegate_leaves_out_credentials_their_holder_withdrew() {
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    // A second income statement (a later offer: another credential of the same type).
    let uwv = net.holder("uwv").unwrap();
    let offer = uwv.offer(CITIZEN).unwrap();
    citizen
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap();
    let (_h, helper) = wallet_with_scheme(&net).await;
    // The holder revokes the first income statement (every copy of it).
    let first: Vec<usize> = {
        let archive = uwv.archive();
        let statements: Vec<_> = archive.iter().filter(|a| a.vct == VCT).collect();
        assert_eq!(statements.len(), 6, "two credentials, three copies each");
        statements[..3].iter().map(|a| a.idx).collect()
    };
    for idx in &first {
        assert_eq!(uwv.set_status_at(*idx, StatusValue::Revoked), 1);
    }
    let outcome = citizen
        .delegate(&request(&helper, &net), quick_http())
        .await
        .unwrap();
    assert_eq!(outcome.left_out.len(), 1, "{:?}", outcome.left_out);
    assert_eq!(outcome.left_out[0].vct, VCT);
    assert_eq!(outcome.left_out[0].state, CredentialState::Revoked);
    assert_eq!(outcome.mandate.credentials.len(), 1);
    let accepted = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    assert_eq!(accepted.credentials.len(), 1);
    // The packaged one is the valid one: the helper presents it and a verifier checking the
    // credential's own status list accepts it.
    let p = helper
        .present_on_behalf(
            &accepted.id,
            VCT,
            &["/monthly_gross_income_eur".into()],
            NONCE,
            LANDLORD,
            None,
            quick_http(),
        )
        .await
        .unwrap();
    let statuses = uwv.archive();
    let used = statuses
        .iter()
        .find(|a| p.starts_with(a.compact.split('~').next().unwrap()))
        .expect("the presented credential is in the holder's archive");
    assert!(
        !first.contains(&used.idx),
        "the revoked credential was packaged"
    );

    // Everything of the type revoked: refused, nothing published, nothing logged.
    assert!(uwv.set_status(None, StatusValue::Revoked) > 0);
    let lists_before = net.mandate_registry.list_count();
    let issued_before = events(&citizen)
        .iter()
        .filter(|e| matches!(e, AuditEvent::MandateIssued { .. }))
        .count();
    let e = citizen
        .delegate(&request(&helper, &net), quick_http())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidCredential { reason } if reason.contains("revoked at its holder")),
        "{e}"
    );
    assert_eq!(net.mandate_registry.list_count(), lists_before);
    let issued_after = events(&citizen)
        .iter()
        .filter(|e| matches!(e, AuditEvent::MandateIssued { .. }))
        .count();
    assert_eq!(issued_after, issued_before);
}

/// The helper's answer keeps to the party's registration and shows what leaves (issue 13
/// item 3): under a mandate for every claim, the landlord (rental: income, year, total) asking
/// the employers gets nothing, nothing is posted; asking the income, the helper's preview, what
/// is sent and what the helper's log records are the same claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helpers_answer_keeps_to_the_partys_registration_and_shows_what_leaves() {
    let landlord_id = kluis_fixtures::servers::LANDLORD;
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let mut req = request(&helper, &net);
    req.claims = None;
    req.parties = Some(vec![landlord_id.into()]);
    let outcome = citizen.delegate(&req, quick_http()).await.unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    let landlord = net.verifier(landlord_id).unwrap().shared();
    let ask = |path: &str| {
        json!({ "credentials": [ { "id": "income", "format": "dc+sd-jwt",
            "meta": { "vct_values": [VCT] }, "claims": [{ "path": [path] }] } ] })
    };

    landlord.set_dcql(Some(ask("employers")));
    let s = landlord.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    let posts = landlord.response_posts();
    let e = helper
        .preview_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("registration"), "{e}");
    let e = helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nothing was sent"), "{e}");
    assert_eq!(landlord.response_posts(), posts);
    assert!(!events(&helper)
        .iter()
        .any(|e| matches!(e, AuditEvent::MandateUsed { .. })));

    landlord.set_dcql(Some(ask("monthly_gross_income_eur")));
    let s = landlord.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    let preview = helper
        .preview_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap();
    let sent = helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap();
    assert_eq!(preview, sent.disclosed);
    assert_eq!(sent.disclosed[0].claims, vec!["/monthly_gross_income_eur"]);
    let logged: Vec<Vec<String>> = events(&helper)
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::MandateUsed { claims, .. } => Some(claims),
            _ => None,
        })
        .collect();
    assert_eq!(logged, vec![sent.disclosed[0].claims.clone()]);
    assert_eq!(landlord.result(&s.state).await.unwrap().status, "verified");
}

/// Review (issue 12 item 2, "Sent once"): a helper's answer is sent at most once per request,
/// like the citizen's own. Today the on-behalf path neither checks nor records the answered
/// nonce, so the same request view answers again and the full vp_token is POSTed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helpers_answer_is_sent_once() {
    let landlord_id = kluis_fixtures::servers::LANDLORD;
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let mut req = request(&helper, &net);
    req.parties = Some(vec![landlord_id.into()]);
    req.purposes = Some(vec!["rental".into()]);
    let outcome = citizen.delegate(&req, quick_http()).await.unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    let landlord = net.verifier(landlord_id).unwrap().shared();
    landlord.set_dcql(Some(json!({ "credentials": [ { "id": "income", "format": "dc+sd-jwt",
        "meta": { "vct_values": [VCT] }, "claims": [{ "path": ["monthly_gross_income_eur"] }] } ] })));
    let s = landlord.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap();
    let posts = landlord.response_posts();
    let again = helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await;
    assert_eq!(
        landlord.response_posts(),
        posts,
        "the helper's vp_token was POSTed again for an answered request ({:?})",
        again.map(|o| o.disclosed.len())
    );
}

// ---- Collecting under a mandate (Blauwe Knop Plus, issue 13 item 1; DELEGATION.md §8) ----

/// A mandate that also allows collecting (`refresh`) the income statement at its holder.
fn collect_request(helper: &Wallet, net: &Network) -> DelegateRequest {
    DelegateRequest {
        actions: vec![Action::Present, Action::Refresh],
        ..request(helper, net)
    }
}

/// Collecting under a mandate has the holder fetch the mandate's list twice, sign and tell the
/// citizen: more than quick_http's 2 s on a loaded machine.
fn collect_options() -> kluis_core::issuance::CollectOptions {
    kluis_core::issuance::CollectOptions {
        http: kluis_tests::loopback_http(Duration::from_secs(10), 2),
        ..options()
    }
}

/// The payload of a credential's issuer JWT, unverified.
fn issuer_payload(compact: &str) -> Value {
    kluis_fixtures_payload(compact.split('~').next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_collects_for_the_citizen_at_the_holder_and_presents_it() {
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let outcome = citizen
        .delegate(&collect_request(&helper, &net), quick_http())
        .await
        .unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    let uwv = net.holder("uwv").unwrap();
    let before = uwv.archive().len();

    let got = helper
        .collect_on_behalf(&m.id, uwv.base_url(), &[], collect_options())
        .await
        .unwrap();
    assert_eq!(got.mandate_id, m.id);
    assert_eq!(got.collected.len(), 1);
    assert_eq!(got.collected[0].vct, VCT);

    // The holder's archive: what, to whom, for whom, under which mandate.
    let helper_key = PublicJwk::from_json(&helper.holder_public_jwk().unwrap()).unwrap();
    let archive = uwv.archive();
    assert_eq!(archive.len(), before + 1);
    let entry = archive.last().unwrap();
    assert_eq!(entry.vct, VCT);
    assert_eq!(entry.citizen, CITIZEN);
    assert_eq!(entry.holder_key_thumbprint, helper_key.thumbprint());
    let ob = entry.on_behalf.as_ref().expect("issued under a mandate");
    assert_eq!(ob.mandate_id, m.id);
    assert_eq!(ob.helper_thumbprint, helper_key.thumbprint());
    // The credential says on whose behalf it is held, always visible.
    let payload = issuer_payload(&entry.compact);
    assert_eq!(payload["on_behalf_of"]["mandate"], json!(m.id));
    assert_eq!(payload["cnf"]["jwk"], helper_key.to_value());

    // Kept with the mandate, never as the helper's own.
    assert!(helper.credentials("nl").unwrap().is_empty());
    let listed = helper.mandates(quick_http()).await.unwrap();
    assert_eq!(listed[0].credentials.len(), 2);
    // Both logs show the collection: the helper's at once, the citizen's from the holder's
    // signed receipt (the helper's wallet reports no collection itself).
    let collected = |w: &Wallet| {
        events(w).into_iter().any(|e| {
            matches!(e, AuditEvent::MandateCollected { mandate_id, issuer, vct }
                if mandate_id == m.id && issuer == uwv.base_url() && vct == VCT)
        })
    };
    assert!(collected(&helper));
    assert!(!collected(&citizen));
    citizen.mandates(quick_http()).await.unwrap();
    assert!(collected(&citizen));

    // Presented on the citizen's behalf: the verifier sees the helper, under the mandate.
    let p = helper
        .present_on_behalf(
            &m.id,
            &got.collected[0].id,
            &["/year".into()],
            NONCE,
            LANDLORD,
            None,
            quick_http(),
        )
        .await
        .unwrap();
    let trust = verifier_trust(&net);
    let expect = Expectations::new(NONCE, LANDLORD);
    let v = verifier::verify_online(&p, &trust, &expect, None, quick_http())
        .await
        .unwrap();
    assert_eq!(v.holder_jwk.as_ref(), Some(&helper_key));
    let on_behalf = v.on_behalf.expect("on the citizen's behalf");
    assert_eq!(on_behalf.mandate_id, m.id);
    assert_eq!(on_behalf.helper_thumbprint, helper_key.thumbprint());

    // Collecting again replaces the collected copy; the packaged one stays.
    helper
        .collect_on_behalf(&m.id, uwv.base_url(), &[], collect_options())
        .await
        .unwrap();
    let listed = helper.mandates(quick_http()).await.unwrap();
    assert_eq!(listed[0].credentials.len(), 2);

    // Revoked: nothing more is issued, the package is dropped, and what was collected no
    // longer verifies.
    citizen.revoke_mandate(&m.id, quick_http()).await.unwrap();
    let n = uwv.archive().len();
    let e = helper
        .collect_on_behalf(&m.id, uwv.base_url(), &[], collect_options())
        .await
        .unwrap_err();
    assert!(reason(&e).contains("the mandate has been revoked"), "{e}");
    assert_eq!(uwv.archive().len(), n);
    assert!(helper.mandates(quick_http()).await.unwrap().is_empty());
    let e = verifier::verify_online(&p, &trust, &expect, None, quick_http())
        .await
        .unwrap_err();
    assert!(reason(e).contains("the mandate has been revoked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collecting_outside_the_mandate_is_refused_and_nothing_is_issued_or_kept() {
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let present_only = citizen
        .delegate(&request(&helper, &net), quick_http())
        .await
        .unwrap();
    let present_only = helper
        .accept_mandate(&present_only.package, quick_http())
        .await
        .unwrap();
    let collect = citizen
        .delegate(&collect_request(&helper, &net), quick_http())
        .await
        .unwrap();
    let collect = helper
        .accept_mandate(&collect.package, quick_http())
        .await
        .unwrap();
    let uwv = net.holder("uwv").unwrap().base_url().to_string();
    let duo = net.holder("duo").unwrap().base_url().to_string();
    let archived = |net: &Network| -> usize { net.holders.iter().map(|h| h.archive().len()).sum() };
    let issued = archived(&net);
    let logged = helper.audit_log().unwrap().len();

    // The action is not granted.
    let e = helper
        .collect_on_behalf(&present_only.id, &uwv, &[], collect_options())
        .await
        .unwrap_err();
    assert!(
        reason(&e).contains("does not allow the action refresh"),
        "{e}"
    );
    // A type outside the scope (the holder issues it, the mandate does not cover it).
    let e = helper
        .collect_on_behalf(
            &collect.id,
            &uwv,
            &["urn:nl:uwv:income-rental:1".into()],
            options(),
        )
        .await
        .unwrap_err();
    assert!(reason(&e).contains("outside the mandate's scope"), "{e}");
    // A holder that did not issue the credential the mandate came with.
    let e = helper
        .collect_on_behalf(&collect.id, &duo, &[], collect_options())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e:?}");
    assert_eq!(archived(&net), issued);
    assert_eq!(helper.audit_log().unwrap().len(), logged);

    // The registry unreachable: a network error, nothing issued, the package kept.
    let Network {
        mandate_registry,
        holders,
        ..
    } = net;
    drop(mandate_registry);
    let e = helper
        .collect_on_behalf(&collect.id, &uwv, &[], collect_options())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Network { .. }), "{e:?}");
    assert_eq!(
        holders.iter().map(|h| h.archive().len()).sum::<usize>(),
        issued
    );
    assert_eq!(helper.audit_log().unwrap().len(), logged);
    let listed = helper.mandates(quick_http()).await.unwrap();
    assert!(listed
        .iter()
        .all(|m| m.state == MandateState::Unknown && m.credentials.len() == 1));
}

/// A helper with its own key talking to the UWV holder directly, as a modified wallet would:
/// the citizen's key (the test's) is one the running holder bound a credential to.
struct Plus {
    s: Scene,
    base: String,
}

impl Plus {
    async fn new() -> Plus {
        let s = Scene::new().await;
        let uwv = s.net.holder("uwv").unwrap();
        uwv.issue(CITIZEN, VCT, &s.citizen.public_jwk()).unwrap();
        let base = uwv.base_url().to_string();
        Plus { s, base }
    }

    fn archived(&self) -> usize {
        self.s.net.holder("uwv").unwrap().archive().len()
    }

    /// The scene's mandate, also allowing `refresh`.
    fn mandate(&self) -> Mandate {
        let mut m = self.s.mandate();
        m.scope.actions = vec![Action::Present, Action::Refresh];
        m
    }

    fn actor(&self, key: &SigningKey) -> String {
        kluis_core::delegation::collect::sign_actor_proof(
            key,
            &format!("{}/token", self.base),
            &fresh_jti(),
            now_unix(),
        )
        .unwrap()
    }

    async fn exchange(&self, mandate: &str, actor: &str, scope: &str) -> (u16, Value) {
        raw_exchange(&self.base, mandate, actor, scope).await
    }

    /// A credential request for the income statement with one key proof by `key`.
    async fn credential(&self, token: &str, key: &SigningKey) -> (u16, Value) {
        raw_credential(&self.base, token, key).await
    }

    fn trust(&self) -> TrustList {
        verifier_trust(&self.s.net)
    }
}

/// The token exchange at holder `base`, as a modified wallet would send it.
async fn raw_exchange(base: &str, mandate: &str, actor: &str, scope: &str) -> (u16, Value) {
    use kluis_core::delegation::collect::{
        JWT_TOKEN_TYPE, MANDATE_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT,
    };
    let form = [
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("subject_token", mandate),
        ("subject_token_type", MANDATE_TOKEN_TYPE),
        ("actor_token", actor),
        ("actor_token_type", JWT_TOKEN_TYPE),
        ("scope", scope),
    ];
    let body: Vec<String> = form
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect();
    let r = reqwest::Client::new()
        .post(format!("{}/token", base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.join("&"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A credential request for the income statement at holder `base` with one key proof by `key`.
async fn raw_credential(base: &str, token: &str, key: &SigningKey) -> (u16, Value) {
    let c = reqwest::Client::new();
    let n: Value = c
        .post(format!("{}/nonce", base))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let proof = kluis_core::delegation::mandate::sign_jws(
        key,
        "openid4vci-proof+jwt",
        true,
        &json!({ "aud": base, "nonce": n["c_nonce"], "iat": now_unix() }),
    )
    .unwrap();
    let r = c
        .post(format!("{}/credential", base))
        .bearer_auth(token)
        .json(&json!({
            "credential_configuration_id": "income-statement",
            "proofs": { "jwt": [proof] }
        }))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// A fresh random id (a random key's thumbprint: the tests crate has no RNG of its own).
fn fresh_jti() -> String {
    SigningKey::make_random().unwrap().public_jwk().thumbprint()
}

/// `application/x-www-form-urlencoded` for one value.
fn form_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[track_caller]
fn refused((status, body): (u16, Value), error: &str, why: &str) {
    assert!(status >= 400, "{status} {body}");
    assert_eq!(body["error"], json!(error), "{body}");
    let d = body["error_description"].as_str().unwrap_or_default();
    assert!(d.contains(why), "expected {why:?}, got {d:?}");
}

/// Every mandate, actor proof and key a holder must turn away at the token exchange and the
/// credential endpoint, each with its reason, and nothing issued (the archive shows it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_refuses_every_bad_mandate_or_actor_and_issues_nothing() {
    let p = Plus::new().await;
    let issued = p.archived();
    let helper = &p.s.helper;
    let citizen = &p.s.citizen;
    let stranger = SigningKey::make_random().unwrap();
    let scope = "income-statement";
    let good = p.mandate().sign(citizen).unwrap();
    let signed = |m: &Mandate| m.sign(citizen).unwrap();
    let now = now_unix();

    // Foreign-signed: a key the holder never bound a credential to.
    refused(
        p.exchange(
            &p.mandate().sign(&stranger).unwrap(),
            &p.actor(helper),
            scope,
        )
        .await,
        "invalid_grant",
        "not signed by a key this holder bound a credential to",
    );
    // Forged: names the citizen's key (kid) but signed by another.
    let forged = p
        .mandate()
        .unsigned(&citizen.public_jwk())
        .unwrap()
        .sign(&stranger)
        .unwrap();
    refused(
        p.exchange(&forged, &p.actor(helper), scope).await,
        "invalid_grant",
        "not signed by the credential's holder key",
    );
    // Expired, not yet valid.
    let mut m = p.mandate();
    m.not_before = now - 7200;
    m.expires_at = now - 3600;
    refused(
        p.exchange(&signed(&m), &p.actor(helper), scope).await,
        "invalid_grant",
        "the mandate has expired",
    );
    let mut m = p.mandate();
    m.not_before = now + 3600;
    m.expires_at = now + 7200;
    refused(
        p.exchange(&signed(&m), &p.actor(helper), scope).await,
        "invalid_grant",
        "not valid yet",
    );
    // A type outside the scope; the action not granted.
    refused(
        p.exchange(&good, &p.actor(helper), "income-rental").await,
        "invalid_grant",
        "outside the mandate's scope",
    );
    let mut m = p.mandate();
    m.scope.actions = vec![Action::Present, Action::View];
    refused(
        p.exchange(&signed(&m), &p.actor(helper), scope).await,
        "invalid_grant",
        "does not allow the action refresh",
    );
    // The actor proof by another key than the mandate's helper, or for another holder.
    refused(
        p.exchange(&good, &p.actor(&stranger), scope).await,
        "invalid_grant",
        "not signed by the helper key the mandate names",
    );
    let elsewhere = kluis_core::delegation::collect::sign_actor_proof(
        helper,
        "https://other.example/token",
        "j-elsewhere",
        now,
    )
    .unwrap();
    refused(
        p.exchange(&good, &elsewhere, scope).await,
        "invalid_grant",
        "for another token endpoint",
    );
    // The registry unreachable: fail closed, as a temporary failure (the wallet: network).
    let mut m = p.mandate();
    m.status.uri = "http://127.0.0.1:9/lists/00c0ffee00c0ffee".into();
    let (status, body) = p.exchange(&signed(&m), &p.actor(helper), scope).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], json!("temporarily_unavailable"));
    assert_eq!(p.archived(), issued);

    // A good exchange (the control): bearer, no refresh token; its actor proof only once.
    let actor = p.actor(helper);
    let (status, tokens) = p.exchange(&good, &actor, scope).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        tokens["issued_token_type"],
        json!("urn:ietf:params:oauth:token-type:access_token")
    );
    assert!(tokens.get("refresh_token").is_none());
    refused(
        p.exchange(&good, &actor, scope).await,
        "invalid_grant",
        "used before (a replay)",
    );
    // Bound to anyone but the mandate's helper: refused.
    let token = tokens["access_token"].as_str().unwrap();
    refused(
        p.credential(token, &stranger).await,
        "invalid_proof",
        "the mandate's helper key only",
    );
    assert_eq!(p.archived(), issued);
    let (status, body) = p.credential(token, helper).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(p.archived(), issued + 1);

    // Revoked mid-collection: the token was granted, the credential request is refused.
    p.s.publish(&[false, true]).await;
    refused(
        p.credential(token, helper).await,
        "invalid_grant",
        "the mandate has been revoked",
    );
    refused(
        p.exchange(&good, &p.actor(helper), scope).await,
        "invalid_grant",
        "the mandate has been revoked",
    );
    assert_eq!(p.archived(), issued + 1);

    // A helper signing a mandate for itself with the key the holder bound its on-behalf
    // credential to: that key is the helper's, not one of the citizen's.
    let mut own = p.mandate();
    own.status_key = helper.public_jwk();
    refused(
        p.exchange(&own.sign(helper).unwrap(), &p.actor(helper), scope)
            .await,
        "invalid_grant",
        "not signed by a key this holder bound a credential to",
    );
}

/// A credential a holder issued to the helper on the citizen's behalf verifies only with the
/// mandate it was issued under, never as the helper's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_held_on_a_citizens_behalf_verifies_only_with_its_mandate() {
    let p = Plus::new().await;
    let helper = &p.s.helper;
    let m = p.mandate();
    let jwt = m.sign(&p.s.citizen).unwrap();
    let (_, tokens) = p.exchange(&jwt, &p.actor(helper), "income-statement").await;
    let (_, body) = p
        .credential(tokens["access_token"].as_str().unwrap(), helper)
        .await;
    let compact = body["credentials"][0]["credential"].as_str().unwrap();
    let trust = p.trust();
    let now = now_unix();
    let c = Credential::verify_issued(compact, &trust, now, &VerifyOptions::default()).unwrap();
    assert_eq!(c.holder_jwk(), Some(&helper.public_jwk()));
    let year = [ClaimPath::parse("/year").unwrap()];
    let vtrust = &trust;
    let verify = |presentation: String| async move {
        verifier::verify_online(
            &presentation,
            vtrust,
            &Expectations::new(NONCE, LANDLORD),
            None,
            quick_http(),
        )
        .await
        .map_err(|e| e.to_string())
    };
    let with = |mandate: &str| {
        let mut extra = Map::new();
        extra.insert("mandate".into(), json!(mandate));
        c.present_delegated(&year, helper, NONCE, LANDLORD, now, &extra)
            .unwrap()
    };

    // With its mandate: on the citizen's behalf.
    let v = verify(with(&jwt)).await.unwrap();
    assert_eq!(v.on_behalf.unwrap().mandate_id, m.id);
    // As the helper's own (no mandate): refused.
    let own = c.present(&year, helper, NONCE, LANDLORD, now).unwrap();
    let e = verify(own.clone()).await.unwrap_err();
    assert!(
        e.contains("presented without the mandate it was issued under"),
        "{e}"
    );
    // Nor as the helper's own in person: the offline QR verifier cannot check the mandate.
    use kluis_core::openid4vp::offline::{verify_offline, MemoryReplayCache, OfflineExpectations};
    let e = verify_offline(
        &kluis_qr::offline::encode(&own).unwrap(),
        &trust,
        &OfflineExpectations::new(LANDLORD),
        &MemoryReplayCache::default(),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("needs its mandate checked online"),
        "{e}"
    );
    // A standard SD-JWT VC verifier cannot know: it sees the claim that says so.
    let plain = verify_presentation(
        &own,
        &trust,
        &PresentationExpectations::new(NONCE, LANDLORD, now),
    )
    .unwrap();
    assert!(plain.claims.get("on_behalf_of").is_some());
    // With another valid mandate of the same citizen: not the one it was issued under.
    let mut other = p.mandate();
    other.id = "m-test-2".into();
    let e = verify(with(&other.sign(&p.s.citizen).unwrap()))
        .await
        .unwrap_err();
    assert!(e.contains("issued under another mandate"), "{e}");
    // A mandate signed by anyone but the citizen key the credential names.
    let stranger = SigningKey::make_random().unwrap();
    let e = verify(with(&m.sign(&stranger).unwrap())).await.unwrap_err();
    assert!(
        e.contains("not signed by the credential's holder key"),
        "{e}"
    );
    // The scope still holds: a claim outside it.
    let mut extra = Map::new();
    extra.insert("mandate".into(), json!(jwt));
    let wide = c
        .present_delegated(
            &[ClaimPath::parse("/given_name").unwrap()],
            helper,
            NONCE,
            LANDLORD,
            now,
            &extra,
        )
        .unwrap();
    let e = verify(wide).await.unwrap_err();
    assert!(e.contains("outside the mandate's scope"), "{e}");
    // Revoked: refused.
    p.s.publish(&[false, true]).await;
    let e = verify(with(&jwt)).await.unwrap_err();
    assert!(e.contains("the mandate has been revoked"), "{e}");
}

/// The citizen revokes while the holder is still preparing (deferred issuance): the holder had
/// issued, the helper's wallet checks the mandate again before storing, keeps nothing, drops the
/// package and tells the holder the credential was not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mandate_revoked_while_the_holder_prepares_keeps_nothing_new() {
    // UWV defers for 3 s: the wallet waits that long before it asks again, and the test revokes
    // as soon as the holder has archived what it will deliver.
    let net = Network::start(None, |id| kluis_fixtures::servers::HolderOptions {
        deferred: id == "uwv",
        deferred_delay: Duration::from_secs(3),
        ..kluis_fixtures::servers::HolderOptions::for_holder(id)
    })
    .await
    .unwrap();
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let outcome = citizen
        .delegate(&collect_request(&helper, &net), quick_http())
        .await
        .unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    let uwv = net.holder("uwv").unwrap();
    let issued = uwv.archive().len();

    let collecting = helper.collect_on_behalf(&m.id, uwv.base_url(), &[], collect_options());
    let revoking = async {
        while uwv.archive().len() == issued {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        citizen.revoke_mandate(&m.id, quick_http()).await.unwrap();
    };
    let (got, ()) = tokio::join!(collecting, revoking);
    let e = got.unwrap_err();
    assert!(reason(&e).contains("the mandate has been revoked"), "{e}");
    // The holder had issued under the mandate; the helper kept none of it.
    assert_eq!(uwv.archive().len(), issued + 1);
    let log = events(&helper);
    assert!(!log
        .iter()
        .any(|e| matches!(e, AuditEvent::MandateCollected { .. })));
    assert!(log
        .iter()
        .any(|e| matches!(e, AuditEvent::MandateDropped { reason, .. } if reason == "revoked")));
    assert!(helper.mandates(quick_http()).await.unwrap().is_empty());
    assert!(uwv
        .notifications()
        .iter()
        .any(|(_, event)| event == "credential_failure"));
}

/// Over OpenID4VP the helper answers with the copy it collected (the freshest), and its
/// `on_behalf_of` envelope is not held against the party's registration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_answers_the_landlord_with_what_it_collected() {
    let landlord_id = kluis_fixtures::servers::LANDLORD;
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let mut req = collect_request(&helper, &net);
    req.parties = Some(vec![landlord_id.into()]);
    req.purposes = Some(vec!["rental".into()]);
    let outcome = citizen.delegate(&req, quick_http()).await.unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();
    let uwv = net.holder("uwv").unwrap();
    let got = helper
        .collect_on_behalf(&m.id, uwv.base_url(), &[], collect_options())
        .await
        .unwrap();

    let landlord = net.verifier(landlord_id).unwrap().shared();
    landlord.set_dcql(Some(json!({ "credentials": [ { "id": "income", "format": "dc+sd-jwt",
        "meta": { "vct_values": [VCT] }, "claims": [{ "path": ["monthly_gross_income_eur"] }] } ] })));
    let s = landlord.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", collect_options().http)
        .await
        .unwrap();
    let sent = helper
        .accept_presentation_on_behalf(&m.id, &request, collect_options().http)
        .await
        .unwrap();
    assert_eq!(sent.disclosed[0].credential_id, got.collected[0].id);
    assert_eq!(sent.disclosed[0].claims, vec!["/monthly_gross_income_eur"]);
    let r = landlord.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
    let v = &r.claims.unwrap()["income"][0];
    assert_eq!(v["on_behalf"]["mandate_id"], json!(m.id));
    // The party's result holds the citizen's data; the envelope is not among it.
    assert!(v["claims"].get("monthly_gross_income_eur").is_some());
    assert!(v["claims"].get("on_behalf_of").is_none());
}

/// A receipt sealed to the citizen's status key, as anyone who read a mandate could post one.
fn sealed_receipt(signer: &SigningKey, citizen: &PublicJwk, claims: &Value) -> String {
    let jws = kluis_core::delegation::mandate::sign_jws(
        signer,
        "kluis-mandate-receipt+jwt",
        false,
        claims,
    )
    .unwrap();
    let Value::Object(map) = citizen.to_value() else {
        panic!("a JWK is an object")
    };
    let jwk = josekit::jwk::Jwk::from_map(map).unwrap();
    let encrypter = josekit::jwe::ECDH_ES.encrypter_from_jwk(&jwk).unwrap();
    let mut header = josekit::jwe::JweHeader::new();
    header.set_content_encryption("A256GCM");
    header.set_content_type("JWT");
    josekit::jwe::serialize_compact(jws.as_bytes(), &header, &encrypter).unwrap()
}

/// Only the holder tells the citizen of a collection: a receipt the helper signs claiming one,
/// or one in the holder's name signed by another key, is not logged; the holder's is, once,
/// though the helper (a modified wallet talking raw HTTP) reported nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_holder_can_tell_the_citizen_of_a_collection() {
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, someone) = wallet_with_scheme(&net).await;
    let helper = SigningKey::make_random().unwrap();
    let req = DelegateRequest {
        helper_jwk: helper.public_jwk().to_value().to_string(),
        ..collect_request(&someone, &net)
    };
    let outcome = citizen.delegate(&req, quick_http()).await.unwrap();
    let package = kluis_core::delegation::MandatePackage::open(&outcome.package, &helper).unwrap();
    let mandate = package.credentials[0].mandate.clone();
    let claims = Mandate::peek(&mandate).unwrap();
    let status_uri = claims["status"]["status_list"]["uri"].as_str().unwrap();
    let status_key = PublicJwk::from_value(&claims["status_key"]).unwrap();
    let uwv = net.holder("uwv").unwrap().base_url().to_string();
    let logged = |w: &Wallet| {
        events(w)
            .into_iter()
            .filter(|e| matches!(e, AuditEvent::MandateCollected { .. }))
            .count()
    };

    let claim = |iss: Option<&str>| {
        let mut c = json!({ "jti": fresh_jti(), "mandate": package.mandate_id, "iat": now_unix(),
            "aud": uwv, "vct": VCT, "claims": [], "action": "collect" });
        if let Some(iss) = iss {
            c["iss"] = json!(iss);
        }
        c
    };
    let stranger = SigningKey::make_random().unwrap();
    for forged in [
        sealed_receipt(&helper, &status_key, &claim(None)),
        sealed_receipt(&stranger, &status_key, &claim(Some(&uwv))),
        sealed_receipt(&helper, &status_key, &claim(Some(&uwv))),
    ] {
        let r = reqwest::Client::new()
            .post(format!("{status_uri}/receipts"))
            .header("content-type", "application/jose")
            .body(forged)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    citizen.mandates(quick_http()).await.unwrap();
    assert_eq!(logged(&citizen), 0);

    // The helper collects over raw HTTP and reports nothing; the holder tells the citizen.
    let actor = kluis_core::delegation::collect::sign_actor_proof(
        &helper,
        &format!("{uwv}/token"),
        &fresh_jti(),
        now_unix(),
    )
    .unwrap();
    let (status, tokens) = raw_exchange(&uwv, &mandate, &actor, "income-statement").await;
    assert_eq!(status, 200, "{tokens}");
    let (status, body) =
        raw_credential(&uwv, tokens["access_token"].as_str().unwrap(), &helper).await;
    assert_eq!(status, 200, "{body}");
    citizen.mandates(quick_http()).await.unwrap();
    citizen.mandates(quick_http()).await.unwrap();
    assert_eq!(logged(&citizen), 1);
    assert!(events(&citizen).iter().any(|e| matches!(e,
        AuditEvent::MandateCollected { issuer, vct, mandate_id }
            if *issuer == uwv && vct == VCT && *mandate_id == package.mandate_id)));
}

/// The counsellor's screen keeps what it had when a holder cannot be reached: the holder is
/// named, the packaged figures stay; once it answers, the figures come from the collected copy.
/// A figure outside the mandate's claim scope never shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_fails_at_a_holder_names_it_and_keeps_the_older_figures() {
    use kluis_core::delegation::{Clients, SourceOrigin};
    use kluis_fixtures::servers::Fault;
    let net = network().await;
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let scoped = |claims: &[&str]| DelegateRequest {
        claims: Some(claims.iter().map(|c| c.to_string()).collect()),
        actions: vec![Action::View, Action::Refresh],
        ..request(&helper, &net)
    };
    let m = citizen
        .delegate(&scoped(&["/total_gross_income_eur", "/year"]), quick_http())
        .await
        .unwrap();
    let m = helper
        .accept_mandate(&m.package, quick_http())
        .await
        .unwrap();
    let uwv = net.holder("uwv").unwrap();
    let issued = uwv.archive().len();

    uwv.set_fault(Fault::Unavailable { remaining: 1_000 });
    let h = helper
        .helper_overview(Clients::One(&m.id), "nl", true, collect_options())
        .await
        .unwrap();
    let c = &h.clients[0];
    assert_eq!(c.refresh_failures.len(), 1);
    assert_eq!(c.refresh_failures[0].issuer, uwv.base_url());
    assert_eq!(c.sources.len(), 1);
    assert_eq!(c.sources[0].origin, SourceOrigin::Packaged);
    assert_eq!(c.overview.income.len(), 1);
    assert_eq!(c.overview.income[0].amount_cents, 3_588_000);
    assert_eq!(c.overview.income[0].year, Some(2025));
    assert_eq!(uwv.archive().len(), issued);

    uwv.set_fault(Fault::None);
    let h = helper
        .helper_overview(Clients::All, "nl", true, collect_options())
        .await
        .unwrap();
    let c = &h.clients[0];
    assert!(c.refresh_failures.is_empty(), "{c:?}");
    assert_eq!(c.sources[0].origin, SourceOrigin::Collected);
    assert_eq!(c.overview.income[0].amount_cents, 3_588_000);
    assert_eq!(uwv.archive().len(), issued + 1);
    // Each overview is a `view` in the helper's log.
    let views = events(&helper)
        .into_iter()
        .filter(|e| matches!(e, AuditEvent::MandateUsed { audience, .. } if audience == "view"))
        .count();
    assert_eq!(views, 2);

    // Scoped to the monthly figure only: the year's total, which the overview shows, stays out.
    let (_h2, other) = wallet_with_scheme(&net).await;
    let narrow = citizen
        .delegate(
            &DelegateRequest {
                helper_jwk: other.holder_public_jwk().unwrap(),
                ..scoped(&["/monthly_gross_income_eur"])
            },
            quick_http(),
        )
        .await
        .unwrap();
    let narrow = other
        .accept_mandate(&narrow.package, quick_http())
        .await
        .unwrap();
    let h = other
        .helper_overview(Clients::One(&narrow.id), "nl", false, collect_options())
        .await
        .unwrap();
    assert!(h.clients[0].overview.income.is_empty());
    assert!(!serde_json::to_string(&h).unwrap().contains("35880"));
}

/// The counsellor's refresh asks every holder for every client at once and checks each mandate
/// again only once the last holder answered: a citizen who revokes while it runs (the holder
/// still preparing) gets nothing new kept under that mandate, the package is dropped and the
/// holder hears the credential was not kept; the other client's fresh copy is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mandate_revoked_during_the_counsellors_refresh_keeps_nothing_new_for_that_client() {
    use kluis_core::delegation::{Clients, SourceOrigin};
    // UWV defers for 3 s: the wallet waits that long before it asks again, and the test revokes
    // as soon as the holder has archived what it will deliver to both clients.
    let net = Network::start(None, |id| kluis_fixtures::servers::HolderOptions {
        deferred: id == "uwv",
        deferred_delay: Duration::from_secs(3),
        ..kluis_fixtures::servers::HolderOptions::for_holder(id)
    })
    .await
    .unwrap();
    let (_c, citizen) = citizen_with_income(&net).await;
    let (_h, helper) = wallet_with_scheme(&net).await;
    let req = DelegateRequest {
        actions: vec![Action::View, Action::Refresh],
        ..request(&helper, &net)
    };
    let mut ids = Vec::new();
    for label in ["client A", "client B"] {
        let req = DelegateRequest {
            label: label.into(),
            ..req.clone()
        };
        let out = citizen.delegate(&req, quick_http()).await.unwrap();
        let m = helper
            .accept_mandate(&out.package, quick_http())
            .await
            .unwrap();
        ids.push(m.id);
    }
    let (kept, revoked) = (&ids[0], &ids[1]);
    let uwv = net.holder("uwv").unwrap();
    let issued = uwv.archive().len();
    let told = |event: &str| {
        uwv.notifications()
            .iter()
            .filter(|(_, e)| e == event)
            .count()
    };
    let (accepted, failed) = (told("credential_accepted"), told("credential_failure"));

    let refreshing = helper.helper_overview(Clients::All, "nl", true, collect_options());
    let revoking = async {
        while uwv.archive().len() < issued + 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        citizen.revoke_mandate(revoked, quick_http()).await.unwrap();
    };
    let (h, ()) = tokio::join!(refreshing, revoking);
    let h = h.unwrap();
    assert_eq!(h.clients.len(), 1);
    let c = &h.clients[0];
    assert_eq!(&c.mandate_id, kept);
    assert!(c.refresh_failures.is_empty(), "{c:?}");
    assert_eq!(c.sources.len(), 1);
    assert_eq!(c.sources[0].origin, SourceOrigin::Collected);
    assert_eq!(h.left_out.len(), 1);
    assert_eq!(&h.left_out[0].mandate_id, revoked);
    assert_eq!(h.left_out[0].state, MandateState::Revoked);

    // The holder issued under both mandates; the helper kept what came under the one still
    // valid, and told the holder which it did not keep.
    assert_eq!(uwv.archive().len(), issued + 2);
    assert_eq!(told("credential_accepted"), accepted + 1);
    assert_eq!(told("credential_failure"), failed + 1);
    let log = events(&helper);
    let collected: Vec<&String> = log
        .iter()
        .filter_map(|e| match e {
            AuditEvent::MandateCollected { mandate_id, .. } => Some(mandate_id),
            _ => None,
        })
        .collect();
    assert_eq!(collected, vec![kept]);
    assert!(log.iter().any(|e| matches!(e,
        AuditEvent::MandateDropped { mandate_id, reason } if mandate_id == revoked && reason == "revoked")));
    let left: Vec<String> = helper
        .mandates(quick_http())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, vec![kept.clone()]);
}

/// The debt-counselling story end to end: the counsellor collects for the citizen at every
/// holder under the mandate (the helper's overview with refresh) and answers the municipality's
/// debt-help desk (schuldhulpverlening intake, OpenID4VP) on the citizen's behalf; the desk's
/// verifier service sees the helper under the mandate. Asking beyond the desk's registration or
/// beyond the mandate sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_counsellor_answers_the_debt_desk_for_the_citizen() {
    use kluis_core::delegation::{Clients, SourceOrigin};
    use kluis_fixtures::servers::{debt_overview_dcql, DEBT_DESK};
    let net = network().await;
    let (_c, citizen) = wallet_with_scheme(&net).await;
    for offer in net.offers_for(CITIZEN) {
        let session = citizen
            .preview_offer(&offer.offer_uri, options())
            .await
            .unwrap();
        citizen
            .accept_offer(session, Some(&offer.tx_code))
            .await
            .unwrap();
    }
    let (_h, helper) = wallet_with_scheme(&net).await;
    let types: Vec<String> = [
        "urn:nl:gemeente:brp-address:1",
        "urn:nl:duo:student-debt:1",
        "urn:nl:cak:care-arrears:1",
        "urn:nl:gemeente:municipal-debts:1",
        "urn:nl:belastingdienst:income-assessment:1",
        VCT,
    ]
    .iter()
    .map(|t| t.to_string())
    .collect();
    let req = DelegateRequest {
        types: types.clone(),
        claims: None,
        actions: vec![Action::Present, Action::View, Action::Refresh],
        parties: Some(vec![DEBT_DESK.into()]),
        purposes: Some(vec!["debt-counselling".into()]),
        ..request(&helper, &net)
    };
    let outcome = citizen.delegate(&req, quick_http()).await.unwrap();
    let m = helper
        .accept_mandate(&outcome.package, quick_http())
        .await
        .unwrap();

    // Collected fresh at every holder under the mandate.
    let h = helper
        .helper_overview(Clients::One(&m.id), "en", true, collect_options())
        .await
        .unwrap();
    let c = &h.clients[0];
    assert!(c.refresh_failures.is_empty(), "{c:?}");
    assert_eq!(c.sources.len(), types.len());
    assert!(c
        .sources
        .iter()
        .all(|s| s.origin == SourceOrigin::Collected));
    assert_eq!(c.overview.debts.total_cents, 2_093_370);

    // The desk asks for the full debt overview; the helper answers for the citizen.
    let desk = net.verifier(DEBT_DESK).unwrap().shared();
    let s = desk.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    let sent = helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap();
    assert_eq!(sent.disclosed.len(), types.len());
    let r = desk.result(&s.state).await.unwrap();
    assert_eq!(r.status, "verified", "{:?}", r.reason);
    let claims = r.claims.unwrap();
    for q in [
        "person",
        "student_debt",
        "care_arrears",
        "municipal_debts",
        "tax_debt",
        "income",
    ] {
        assert_eq!(claims[q][0]["on_behalf"]["mandate_id"], json!(m.id), "{q}");
    }
    assert_eq!(
        claims["student_debt"][0]["claims"]["debt"]["total_amount_eur"],
        json!(18650.4)
    );
    assert_eq!(
        claims["care_arrears"][0]["claims"]["arrears_eur"],
        json!(742.3)
    );

    // Beyond the desk's registration (nationalities): nothing is sent.
    let mut beyond = debt_overview_dcql();
    beyond["credentials"][0]["claims"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "path": ["nationalities"] }));
    desk.set_dcql(Some(beyond));
    let s = desk.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    let posts = desk.response_posts();
    let e = helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("nothing was sent"), "{e}");
    assert_eq!(desk.response_posts(), posts);
    assert_eq!(desk.result(&s.state).await.unwrap().status, "pending");

    // Beyond the mandate (vehicles, registered for no one here): nothing is sent.
    desk.set_dcql(Some(
        json!({ "credentials": [ { "id": "vehicles", "format": "dc+sd-jwt",
        "meta": { "vct_values": ["urn:nl:rdw:vehicles:1"] },
        "claims": [ { "path": ["vehicles"] } ] } ] }),
    ));
    let s = desk.new_session().await.unwrap();
    let request = helper
        .start_presentation_with(&s.request_uri, "en", quick_http())
        .await
        .unwrap();
    assert!(helper
        .accept_presentation_on_behalf(&m.id, &request, quick_http())
        .await
        .is_err());
    assert_eq!(desk.response_posts(), posts);
}
