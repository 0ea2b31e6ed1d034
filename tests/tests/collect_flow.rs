//! Collecting over real OpenID4VCI on loopback: all six holders, batch copies bound to their own
//! keys, deferred issuance, notifications, offers by reference, the scheme's trust decisions,
//! status lists (revoked, suspended, expired), refresh, and the integrated overview.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use kluis_core::audit::AuditEvent;
use kluis_core::issuance::CollectOptions;
use kluis_core::overview::OverviewWarning;
use kluis_core::status::CredentialState;
use kluis_core::{Error, ErrorCode};
use kluis_fixtures::servers::{
    holder_entry, participant_list, scheme_key, sign_participant_list, HolderOptions, HolderServer,
    SchemeServer, StatusValue,
};
use kluis_tests::collecting::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collects_from_all_six_holders_with_batches_deferred_and_notifications() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let offers = net.offers_for(CITIZEN);
    assert_eq!(offers.len(), 6);
    let mut stored = 0;
    for offer in &offers {
        let session = wallet
            .preview_offer(&offer.offer_uri, options())
            .await
            .unwrap();
        // The citizen sees who offers what before anything is stored.
        assert!(session.preview.listed_in_scheme && session.preview.trusted());
        assert!(session.preview.issuer_name.is_some());
        assert!(session
            .preview
            .credentials
            .iter()
            .all(|c| c.listed && c.name.is_some()));
        assert_eq!(session.preview.tx_code.as_ref().unwrap().length, Some(6));
        assert!(wallet.credentials("nl").unwrap().len() == stored);
        let outcome = wallet
            .accept_offer(session, Some(&offer.tx_code))
            .await
            .unwrap();
        assert!(
            outcome.pending.is_empty(),
            "deferred must be delivered within the wait"
        );
        for s in &outcome.stored {
            assert_eq!(s.copies, 3);
        }
        stored += outcome.stored.len();
    }
    assert_eq!(stored, 8);
    let primary = wallet.holder_public_jwk().unwrap();
    let primary = kluis_core::sdjwt::PublicJwk::from_json(&primary)
        .unwrap()
        .thumbprint();
    for h in &net.holders {
        let archive = h.archive();
        // Each copy is bound to its own key; copy 0 to the wallet's primary key.
        let keys: HashSet<_> = archive
            .iter()
            .map(|a| a.holder_key_thumbprint.clone())
            .collect();
        // n credentials × 3 copies: copy 0 shares the primary key, the others are all distinct.
        let n = archive.len() / 3;
        assert_eq!(keys.len(), 2 * n + 1, "{}", h.holder().id);
        assert!(keys.contains(&primary));
        // credential_accepted arrived for every credential (not every copy).
        assert_eq!(
            h.notifications().len(),
            archive.len() / 3,
            "{}",
            h.holder().id
        );
        assert!(h
            .notifications()
            .iter()
            .all(|(_, e)| e == "credential_accepted"));
    }
    let log = wallet.audit_log().unwrap();
    let collected = log
        .iter()
        .filter(|e| matches!(e.event, AuditEvent::CredentialCollected { copies: 3, .. }))
        .count();
    assert_eq!(collected, 8);
    assert!(log
        .iter()
        .any(|e| matches!(e.event, AuditEvent::SchemePinned { .. })));

    let o = wallet.overview("en").unwrap();
    assert_eq!(o.debts.lines.len(), 4);
    assert_eq!(o.debts.total_cents, 2_093_370);
    assert_eq!(o.income.len(), 2);
    assert_eq!(o.address.as_ref().unwrap().locality, "Utrecht");
    assert_eq!(o.vehicles.len(), 1);
    assert_eq!(
        o.driving_licence.as_ref().unwrap().categories,
        ["AM", "B", "BE"]
    );
    assert!(o.warnings.is_empty());
    // Holder names come from the scheme's registration.
    assert!(o
        .debts
        .lines
        .iter()
        .any(|l| l.holder == "Education Executive Agency (DUO)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_copies_match_the_requested_count_and_issuer_cap() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let duo = net.holder("duo").unwrap();
    let offer = duo.offer(CITIZEN).unwrap();
    let opts = CollectOptions {
        copies: 10,
        ..options()
    };
    let out = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), opts)
        .await
        .unwrap();
    assert_eq!(out.stored[0].copies, 10);
    let archive = duo.archive();
    assert_eq!(archive.len(), 10);
    let keys: HashSet<_> = archive.iter().map(|a| &a.holder_key_thumbprint).collect();
    assert_eq!(keys.len(), 10, "every copy has its own holder key");
    // Token, nonce, credential, notification and the two metadata documents.
    assert_eq!(out.requests, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offer_by_reference() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let offer = net
        .holder("uwv")
        .unwrap()
        .offer_with(CITIZEN, true, 600)
        .unwrap();
    assert!(offer.offer_uri.contains("credential_offer_uri="));
    let out = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap();
    assert_eq!(out.stored.len(), 1);
    assert_eq!(out.stored[0].vct, "urn:nl:uwv:income-statement:1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_credential_is_kept_pending_then_delivered_by_refresh() {
    let mut h = kluis_fixtures::holder("belastingdienst").unwrap();
    h.validity_days = 60;
    let (server, _scheme, _dir, wallet) = one_holder(
        h,
        HolderOptions {
            deferred: true,
            deferred_delay: Duration::from_millis(1200),
            ..HolderOptions::default()
        },
    )
    .await;
    let offer = server.offer(CITIZEN).unwrap();
    let opts = CollectOptions {
        deferred_wait: Duration::ZERO,
        ..options()
    };
    let out = wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), opts.clone())
        .await
        .unwrap();
    assert!(out.stored.is_empty());
    assert_eq!(out.pending.len(), 1);
    assert_eq!(wallet.pending_issuances().unwrap().len(), 1);
    // Too early: still pending.
    let early = wallet.refresh(false, opts.clone()).await.unwrap();
    assert_eq!(early.pending.len(), 1);
    assert!(early.delivered.is_empty());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let later = wallet.refresh(false, opts).await.unwrap();
    assert_eq!(later.delivered.len(), 1);
    assert_eq!(later.delivered[0].copies, 3);
    assert!(wallet.pending_issuances().unwrap().is_empty());
    assert_eq!(wallet.credentials("nl").unwrap().len(), 1);
    assert_eq!(server.notifications().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_check_marks_revoked_and_suspended_and_the_overview_leaves_them_out() {
    let (net, _dir, wallet) = network_and_wallet().await;
    for id in ["duo", "cak", "gemeente-utrecht"] {
        let o = net.holder(id).unwrap().offer(CITIZEN).unwrap();
        wallet
            .collect(&o.offer_uri, Some(&o.tx_code), options())
            .await
            .unwrap();
    }
    let first = wallet.check_status(quick_http()).await.unwrap();
    assert_eq!(first.len(), 4);
    assert!(
        first.iter().all(|r| r.status == CredentialState::Valid),
        "{first:?}"
    );
    net.holder("duo")
        .unwrap()
        .set_status(None, StatusValue::Revoked);
    net.holder("cak")
        .unwrap()
        .set_status(None, StatusValue::Suspended);
    let second = wallet.check_status(quick_http()).await.unwrap();
    let state = |vct: &str| second.iter().find(|r| r.vct == vct).unwrap().status;
    assert_eq!(state("urn:nl:duo:student-debt:1"), CredentialState::Revoked);
    assert_eq!(
        state("urn:nl:cak:care-arrears:1"),
        CredentialState::Suspended
    );
    assert_eq!(
        state("urn:nl:gemeente:municipal-debts:1"),
        CredentialState::Valid
    );
    // Stored with the credential: the list shows it without another check.
    let listed = wallet.credentials("nl").unwrap();
    let duo = listed
        .iter()
        .find(|c| c.vct == "urn:nl:duo:student-debt:1")
        .unwrap();
    assert_eq!(duo.status, Some(CredentialState::Revoked));
    let o = wallet.overview("nl").unwrap();
    // Two codes with their parameters (the app words them), nothing left in the total.
    let mut left_out: Vec<_> = o
        .warnings
        .iter()
        .map(|w| match w {
            OverviewWarning::LeftOut { state, .. } => *state,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    left_out.sort_by_key(|s| s.as_str());
    assert_eq!(
        left_out,
        [CredentialState::Revoked, CredentialState::Suspended]
    );
    assert_eq!(o.debts.total_cents, 35_600);
    let changes = wallet
        .audit_log()
        .unwrap()
        .iter()
        .filter(|e| matches!(e.event, AuditEvent::CredentialStatusChanged { .. }))
        .count();
    assert_eq!(changes, 2);

    // The holder lifts the suspension; a refresh replaces the revoked credential.
    net.holder("cak")
        .unwrap()
        .set_status(None, StatusValue::Valid);
    let refreshed = wallet.refresh(false, options()).await.unwrap();
    assert_eq!(refreshed.refreshed.len(), 2, "{refreshed:?}");
    assert!(refreshed.failed.is_empty());
    let third = wallet.check_status(quick_http()).await.unwrap();
    assert!(
        third.iter().all(|r| r.status == CredentialState::Valid),
        "{third:?}"
    );
    // Same ids: the refreshed credential replaced the stale one.
    let ids_after: HashSet<_> = wallet
        .credentials("nl")
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert!(ids_after.contains(&duo.id));
    assert_eq!(ids_after.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_credential_is_marked_expired() {
    let mut h = kluis_fixtures::holder("cak").unwrap();
    h.validity_days = 0; // exp = iat: accepted within the clock skew, expired a moment later
    let (server, _scheme, _dir, wallet) = one_holder(h, HolderOptions::default()).await;
    let o = server.offer(CITIZEN).unwrap();
    wallet
        .collect(&o.offer_uri, Some(&o.tx_code), options())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = wallet.check_status(quick_http()).await.unwrap();
    assert_eq!(r[0].status, CredentialState::Expired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheme_decides_whom_to_trust() {
    let net = network().await;
    // A list signed by another key is refused; nothing is pinned.
    let (_dir, wallet) = new_wallet();
    let other = kluis_core::sdjwt::SigningKey::make_random().unwrap();
    let list = participant_list(
        net.scheme.base_url(),
        net.holders.iter().map(holder_entry).collect(),
        kluis_core::now_unix(),
    )
    .unwrap();
    net.scheme
        .publish(sign_participant_list(&other, &list).unwrap());
    let key = net.scheme.public_jwk().unwrap().to_value().to_string();
    let err = wallet
        .set_scheme(&net.scheme.list_uri(), &key, quick_http())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidCredential, "{err}");
    assert!(wallet.scheme().unwrap().is_none());
    // An expired list is refused too.
    let mut expired = list.clone();
    expired["exp"] = serde_json::json!(kluis_core::now_unix() - 10);
    net.scheme
        .publish(sign_participant_list(&scheme_key().unwrap(), &expired).unwrap());
    assert!(wallet
        .set_scheme(&net.scheme.list_uri(), &key, quick_http())
        .await
        .is_err());

    // A list without the RDW: its offer is refused before anything is requested.
    let without_rdw: Vec<_> = net
        .holders
        .iter()
        .filter(|h| h.holder().id != "rdw")
        .map(holder_entry)
        .collect();
    let list =
        participant_list(net.scheme.base_url(), without_rdw, kluis_core::now_unix()).unwrap();
    net.scheme
        .publish(sign_participant_list(&scheme_key().unwrap(), &list).unwrap());
    let s = wallet
        .set_scheme(&net.scheme.list_uri(), &key, quick_http())
        .await
        .unwrap();
    assert_eq!(s.holders, 5);
    assert_eq!(s.requesting_parties, 3);
    let rdw = net.holder("rdw").unwrap();
    let o = rdw.offer(CITIZEN).unwrap();
    let session = wallet.preview_offer(&o.offer_uri, options()).await.unwrap();
    assert!(!session.preview.listed_in_scheme && !session.preview.trusted());
    let err = wallet
        .accept_offer(session, Some(&o.tx_code))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UntrustedIssuer { .. }), "{err}");
    assert!(
        rdw.archive().is_empty(),
        "nothing was requested from an unlisted holder"
    );
    assert!(wallet.credentials("nl").unwrap().is_empty());

    // Trusting the RDW by hand still works (tests and `kluis import`).
    wallet
        .add_trusted_issuer(rdw.base_url(), &rdw.public_jwk().to_value().to_string())
        .unwrap();
    let o = rdw.offer(CITIZEN).unwrap();
    let out = wallet
        .collect(&o.offer_uri, Some(&o.tx_code), options())
        .await
        .unwrap();
    assert_eq!(out.stored.len(), 2);

    // The requesting parties' registrations are there for the presenting flow.
    let p = wallet.participant_list().unwrap().unwrap();
    let landlord = p.requesting_party("woningcorporatie-eemland").unwrap();
    assert_eq!(
        landlord.purposes[0].claims["urn:nl:gemeente:brp-address:1"],
        ["/given_name", "/family_name", "/address"]
    );
    assert_eq!(landlord.public_keys().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_refuses_a_type_the_scheme_does_not_list_for_the_issuer() {
    let (net, _dir, wallet) = network_and_wallet().await;
    // The DUO's key, but a credential type the scheme lists only for the UWV.
    let duo = net.holder("duo").unwrap();
    let key =
        kluis_core::sdjwt::PublicJwk::from_json(&wallet.holder_public_jwk().unwrap()).unwrap();
    let citizen = kluis_fixtures::citizen(CITIZEN).unwrap();
    let mut as_uwv = duo.holder().clone();
    as_uwv
        .credential_types
        .push("urn:nl:uwv:income-statement:1".into());
    let compact = as_uwv
        .issue(
            &citizen,
            "urn:nl:uwv:income-statement:1",
            &key,
            kluis_core::now_unix(),
        )
        .unwrap();
    let err = wallet.import_credential(&compact).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidCredential { reason } if reason.contains("does not list type")),
        "{err}"
    );
    // The listed type from the same issuer imports fine.
    let ok = duo
        .holder()
        .issue(
            &citizen,
            "urn:nl:duo:student-debt:1",
            &key,
            kluis_core::now_unix(),
        )
        .unwrap();
    wallet.import_credential(&ok).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holder_keeps_an_archive_of_what_it_issued() {
    let archive_dir = tempfile::tempdir().unwrap();
    let (server, _scheme, _dir, wallet) = one_holder(
        kluis_fixtures::holder("uwv").unwrap(),
        HolderOptions {
            archive_dir: Some(archive_dir.path().to_path_buf()),
            ..HolderOptions::default()
        },
    )
    .await;
    let o = server.offer(CITIZEN).unwrap();
    wallet
        .collect(&o.offer_uri, Some(&o.tx_code), options())
        .await
        .unwrap();
    let text = std::fs::read_to_string(archive_dir.path().join("uwv.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "one entry per copy");
    let memory = server.archive();
    for (line, entry) in lines.iter().zip(&memory) {
        assert_eq!(line["credential_sha256"], entry.credential_sha256.as_str());
        assert_eq!(line["citizen"], CITIZEN);
        assert_eq!(line["vct"], "urn:nl:uwv:income-statement:1");
        assert_eq!(line["compact"], entry.compact.as_str());
    }
    let idxs: HashSet<_> = lines.iter().map(|l| l["idx"].as_u64().unwrap()).collect();
    assert_eq!(idxs.len(), 3, "each copy has its own status list entry");
}

/// One deferring Belastingdienst and its scheme; the wallet has pinned the scheme.
async fn deferring_holder(
    opts: HolderOptions,
) -> (
    HolderServer,
    SchemeServer,
    tempfile::TempDir,
    kluis_core::Wallet,
) {
    one_holder(
        kluis_fixtures::holder("belastingdienst").unwrap(),
        HolderOptions {
            deferred: true,
            ..opts
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_pickup_renews_an_expired_access_token() {
    let (server, _scheme, _dir, wallet) = deferring_holder(HolderOptions {
        deferred_delay: Duration::from_millis(200),
        token_ttl_secs: 1,
        ..HolderOptions::default()
    })
    .await;
    let o = server.offer(CITIZEN).unwrap();
    let opts = CollectOptions {
        deferred_wait: Duration::ZERO,
        ..options()
    };
    let out = wallet
        .collect(&o.offer_uri, Some(&o.tx_code), opts.clone())
        .await
        .unwrap();
    assert_eq!(out.pending.len(), 1);
    tokio::time::sleep(Duration::from_millis(2100)).await; // the access token has expired
    let r = wallet.refresh(false, opts).await.unwrap();
    assert_eq!(r.delivered.len(), 1, "{r:?}");
    assert!(r.failed.is_empty() && r.pending.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferring_holder_that_is_down_stays_pending_without_failing_the_refresh() {
    let (server, _scheme, _dir, wallet) = deferring_holder(HolderOptions {
        deferred_delay: Duration::from_millis(100),
        ..HolderOptions::default()
    })
    .await;
    let o = server.offer(CITIZEN).unwrap();
    let opts = CollectOptions {
        deferred_wait: Duration::ZERO,
        ..options()
    };
    wallet
        .collect(&o.offer_uri, Some(&o.tx_code), opts.clone())
        .await
        .unwrap();
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = wallet.refresh(false, opts).await.unwrap();
    assert!(r.delivered.is_empty());
    assert_eq!(r.pending.len(), 1);
    assert!(
        r.pending[0].note.as_deref().unwrap().contains("attempts"),
        "{r:?}"
    );
    assert_eq!(
        wallet.pending_issuances().unwrap().len(),
        1,
        "kept for later"
    );
}

/// One offer, one authorization: the municipality's BRP address and municipal debts share a
/// refresh token, which the holder rotates on use. Refreshing both, twice, must work: the wallet
/// moves every grant of that offer to the new token in the same vault transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_credentials_of_one_offer_refresh_twice_with_a_rotating_refresh_token() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let o = net
        .holder("gemeente-utrecht")
        .unwrap()
        .offer(CITIZEN)
        .unwrap();
    let out = wallet
        .collect(&o.offer_uri, Some(&o.tx_code), options())
        .await
        .unwrap();
    assert_eq!(out.stored.len(), 2);
    let before: HashSet<String> = out.stored.iter().map(|c| c.id.clone()).collect();
    for round in 0..2 {
        let r = wallet.refresh(true, options()).await.unwrap();
        assert!(r.failed.is_empty(), "round {round}: {:?}", r.failed);
        assert_eq!(r.refreshed.len(), 2, "round {round}: {r:?}");
        let vcts: HashSet<&str> = r.refreshed.iter().map(|c| c.vct.as_str()).collect();
        assert!(vcts.contains("urn:nl:gemeente:brp-address:1"));
        assert!(vcts.contains("urn:nl:gemeente:municipal-debts:1"));
    }
    // Replaced under the same ids, and the holder issued each type three times (collect + 2).
    let after: HashSet<String> = wallet
        .credentials("nl")
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(before, after);
    let archive = net.holder("gemeente-utrecht").unwrap().archive();
    for vct in [
        "urn:nl:gemeente:brp-address:1",
        "urn:nl:gemeente:municipal-debts:1",
    ] {
        let copies = archive.iter().filter(|a| a.vct == vct).count();
        assert_eq!(copies, 3 * 3, "{vct}: 3 copies per issuance");
    }
}

/// The holders offer their small rental-purpose credentials over OpenID4VCI, in an offer of
/// their own: display names from the issuer metadata, listed in the scheme, verified and stored
/// like every other credential, and refreshable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_holders_offer_the_rental_purpose_credentials() {
    let (net, _dir, wallet) = network_and_wallet().await;
    let offers = net.purpose_offers(CITIZEN, "rental");
    let holders: Vec<&str> = offers.iter().map(|o| o.holder.as_str()).collect();
    assert_eq!(holders, ["uwv", "cak", "gemeente-utrecht"]);
    let mut vcts = Vec::new();
    for o in &offers {
        let session = wallet.preview_offer(&o.offer_uri, options()).await.unwrap();
        assert!(session.preview.trusted(), "{:?}", session.preview);
        assert_eq!(session.preview.credentials.len(), 1);
        let offered = &session.preview.credentials[0];
        assert!(offered.vct.ends_with("-rental:1"), "{}", offered.vct);
        assert!(
            offered.name.is_some(),
            "no display name for {}",
            offered.vct
        );
        let out = wallet
            .accept_offer(session, Some(&o.tx_code))
            .await
            .unwrap();
        assert_eq!(out.stored.len(), 1);
        assert_eq!(out.stored[0].copies, 3);
        vcts.push(out.stored[0].vct.clone());
    }
    vcts.sort();
    assert_eq!(
        vcts,
        [
            "urn:nl:cak:arrears-rental:1",
            "urn:nl:gemeente:brp-rental:1",
            "urn:nl:uwv:income-rental:1"
        ]
    );
    // Only what the purpose needs, none of it selectively disclosable.
    let arrears = net
        .holder("cak")
        .unwrap()
        .archive()
        .into_iter()
        .find(|a| a.vct == "urn:nl:cak:arrears-rental:1")
        .unwrap();
    assert!(!arrears.compact.trim_end_matches('~').contains('~'));
    // What they are for: the offline rental QR fits version 25 at level M.
    let items = wallet
        .offline_items_for(&kluis_core::openid4vp::offline::rental_query())
        .unwrap();
    assert_eq!(items.len(), 3);
    let qr = wallet
        .offline_presentation(&items, kluis_fixtures::servers::LANDLORD, Some("rental"))
        .unwrap();
    let v = kluis_qr::render::Qr::new(&qr.payload, kluis_qr::render::Ec::M)
        .unwrap()
        .version();
    println!(
        "offline rental QR from collected purpose credentials: {} chars, v{v} at M",
        qr.payload.len()
    );
    assert!(v <= 25, "v{v}");
    let r = wallet.refresh(true, options()).await.unwrap();
    assert!(r.failed.is_empty(), "{:?}", r.failed);
    assert_eq!(r.refreshed.len(), 3);
}

/// Records the core's progress events.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<kluis_core::issuance::CollectEvent>>);

impl kluis_core::issuance::CollectProgress for Recorder {
    fn event(&self, e: &kluis_core::issuance::CollectEvent) {
        self.0.lock().unwrap().push(e.clone());
    }
}

impl Recorder {
    fn take(&self) -> Vec<kluis_core::issuance::CollectEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Progress per holder (what an app shows and the CLI prints): a deferring holder is started,
/// waited for and left pending; picking it up later is started and stored; a holder whose
/// credential fails verification is started and failed with that error, nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collecting_reports_started_waiting_stored_and_failed_per_holder() {
    use kluis_core::issuance::CollectEvent as E;
    let (server, _scheme, _dir, wallet) = deferring_holder(HolderOptions {
        deferred_delay: Duration::from_millis(200),
        ..HolderOptions::default()
    })
    .await;
    let iss = server.base_url().to_string();
    let opts = CollectOptions {
        deferred_wait: Duration::ZERO,
        ..options()
    };
    let rec = Recorder::default();
    let o = server.offer(CITIZEN).unwrap();
    let session = wallet
        .preview_offer(&o.offer_uri, opts.clone())
        .await
        .unwrap();
    let out = wallet
        .accept_offer_reporting(session, Some(&o.tx_code), &rec)
        .await
        .unwrap();
    let events = rec.take();
    assert!(
        matches!(&events[..], [
        E::Started { issuer: a },
        E::WaitingForDeferred { issuer: b, vct },
        E::Stored { issuer: c, stored, pending },
    ] if [a, b, c].iter().all(|i| **i == iss)
        && vct == "urn:nl:belastingdienst:income-assessment:1"
        && stored.is_empty()
        && pending.len() == 1 && pending[0].id == out.pending[0].id),
        "{events:?}"
    );

    let mut delivered = Vec::new();
    for _ in 0..40 {
        delivered = wallet
            .poll_deferred_reporting(opts.clone(), &rec)
            .await
            .unwrap()
            .delivered;
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let events = rec.take();
    assert_eq!(delivered.len(), 1);
    assert!(
        matches!(events.last(), Some(E::Stored { issuer, stored, .. })
        if *issuer == iss && stored[0].id == delivered[0].id),
        "{events:?}"
    );

    // The holder now signs badly: started, then failed with the verification error.
    server.set_fault(kluis_fixtures::servers::Fault::BadSignature);
    let o = server.offer(CITIZEN).unwrap();
    let session = wallet.preview_offer(&o.offer_uri, options()).await.unwrap();
    let before = wallet.credentials("nl").unwrap().len();
    let err = wallet
        .accept_offer_reporting(session, Some(&o.tx_code), &rec)
        .await
        .unwrap_err();
    let events = rec.take();
    assert!(
        matches!(&events[..], [E::Started { .. }, E::WaitingForDeferred { .. }, E::Failed { issuer, error }]
        if *issuer == iss && *error == err),
        "{events:?}"
    );
    assert!(matches!(err, Error::InvalidCredential { .. }), "{err:?}");
    assert_eq!(wallet.credentials("nl").unwrap().len(), before);
}
