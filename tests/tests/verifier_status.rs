//! Verifiers honour the credentials' own Token Status Lists (issue 12, item 6): a credential its
//! holder revoked or suspended is refused by the verifier library (remote responses, the fixture
//! landlord), by the offline QR verifier and by `kluis verify`; lists are cached for their `ttl`
//! (one fetch per list in a batch), and an offline desk says when it could not check.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::openid4vp::offline::{
    verify_offline_checked, verify_offline_fetching, MemoryReplayCache, OfflineExpectations,
    OfflineItem, OfflineStatus,
};
use kluis_core::status::{ListAge, StatusCheck, StatusLists};
use kluis_core::verifier::{self, Expectations};
use kluis_core::{Pin, SoftwareDeviceSecretStore, Wallet};
use kluis_fixtures::servers::{
    trust_from_holders, HolderOptions, HolderServer, Network, StatusValue, LANDLORD,
};

const BRP: &str = "urn:nl:gemeente:brp-address:1";

fn quick_http() -> HttpPolicy {
    kluis_tests::loopback_http(Duration::from_millis(2000), 0)
}

async fn network() -> Network {
    Network::start(None, |_| HolderOptions::default())
        .await
        .unwrap()
}

async fn collected_wallet(net: &Network, citizen: &str) -> (tempfile::TempDir, Wallet) {
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::create(
        dir.path(),
        &Pin::new(kluis_tests::PIN),
        kluis_tests::test_options(),
        Arc::new(SoftwareDeviceSecretStore::new(dir.path())),
    )
    .unwrap();
    wallet.set_type_metadata(
        kluis_core::sdjwt::MetadataRegistry::from_json_documents(
            kluis_fixtures::TYPE_METADATA.iter().copied(),
        )
        .unwrap(),
    );
    let key = net.scheme.public_jwk().unwrap().to_value().to_string();
    wallet
        .set_scheme(&net.scheme.list_uri(), &key, quick_http())
        .await
        .unwrap();
    for offer in net.offers_for(citizen) {
        wallet
            .collect(
                &offer.offer_uri,
                Some(&offer.tx_code),
                CollectOptions {
                    http: quick_http(),
                    ..CollectOptions::default()
                },
            )
            .await
            .unwrap();
    }
    (dir, wallet)
}

fn brp_id(w: &Wallet) -> String {
    w.credentials("nl")
        .unwrap()
        .into_iter()
        .find(|c| c.vct == BRP)
        .unwrap()
        .id
}

fn brp_holder(net: &Network) -> &HolderServer {
    net.holders
        .iter()
        .find(|h| h.archive().iter().any(|a| a.vct == BRP))
        .unwrap()
}

fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join(name)
}

/// Remote: the landlord (fixture, the verifier library over HTTP) and the library's
/// `verify_online` accept the credential while it is valid and refuse it once its holder
/// revoked it; in person the offline QR verifier refuses it too.
#[tokio::test]
async fn a_revoked_credential_is_refused_remotely_and_in_person() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, "daan").await;
    let trust = trust_from_holders(&net.holders);
    let names = vec!["/given_name".to_string()];

    // Valid: accepted, with the list fetched once.
    let lists = StatusLists::new();
    let p = wallet
        .present(&brp_id(&wallet), &names, "n-1", "rp")
        .unwrap();
    let expect = Expectations::new("n-1", "rp");
    verifier::verify_online_cached(&p, &trust.issuers, &expect, None, &lists, quick_http())
        .await
        .unwrap();
    assert_eq!(lists.fetches(), 1);
    // Without any list the library does not accept it silently.
    let e = verifier::verify(&p, &trust.issuers, &expect).unwrap_err();
    assert!(e.to_string().contains("status could not be checked"), "{e}");

    // The holder revokes every BRP credential it issued.
    let holder = brp_holder(&net);
    for a in holder.archive().iter().filter(|a| a.vct == BRP) {
        assert_eq!(holder.set_status_at(a.idx, StatusValue::Revoked), 1);
    }
    let e = verifier::verify_online(&p, &trust.issuers, &expect, None, quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");

    // The landlord, remotely: the wallet (which did not check) answers, the landlord refuses.
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    let session = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&session.request_uri, "en", quick_http())
        .await
        .unwrap();
    let _ = wallet
        .accept_presentation_with(&req, &req.default_choice(), quick_http())
        .await;
    let result = landlord.result(&session.state).await.unwrap();
    assert_eq!(result.status, "rejected", "{result:?}");
    assert!(
        result.reason.as_deref().unwrap_or("").contains("revoked"),
        "{result:?}"
    );

    // In person, offline QR: refused as revoked when the desk can fetch the list.
    let item = OfflineItem {
        credential_id: brp_id(&wallet),
        claims: names.clone(),
    };
    let qr = wallet
        .offline_presentation(std::slice::from_ref(&item), LANDLORD, None)
        .unwrap();
    let status = OfflineStatus::default();
    let e = verify_offline_fetching(
        &qr.payload,
        &trust,
        &OfflineExpectations::new(LANDLORD),
        &MemoryReplayCache::default(),
        &status,
        quick_http(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");

    // Suspended is refused as well; valid again is accepted again.
    for a in holder.archive().iter().filter(|a| a.vct == BRP) {
        holder.set_status_at(a.idx, StatusValue::Suspended);
    }
    let e = verifier::verify_online(&p, &trust.issuers, &expect, None, quick_http())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("suspended"), "{e}");
}

/// Offline: a list held by the desk is used (past its ttl) while it is younger than the
/// configured age; without one the QR is accepted and says the status was NOT checked; a
/// revoked entry in a held list refuses the QR without any network.
#[tokio::test]
async fn offline_desk_uses_a_recent_list_and_says_when_it_could_not_check() {
    let net = network().await;
    let (_d, wallet) = collected_wallet(&net, "daan").await;
    let trust = trust_from_holders(&net.holders);
    let item = OfflineItem {
        credential_id: brp_id(&wallet),
        claims: vec!["/given_name".to_string()],
    };
    let qr = || {
        wallet
            .offline_presentation(std::slice::from_ref(&item), LANDLORD, None)
            .unwrap()
    };
    let expect = OfflineExpectations::new(LANDLORD);

    // No list at hand: accepted, and the result says so.
    let out = verify_offline_checked(
        &qr().payload,
        &trust,
        &expect,
        &MemoryReplayCache::default(),
        &OfflineStatus::default(),
    )
    .unwrap();
    assert!(
        matches!(&out[0].status, StatusCheck::NotChecked { reason } if reason.contains("not been fetched")),
        "{:?}",
        out[0].status
    );

    // The desk fetched the list earlier (a revoked entry), then lost its network.
    let holder = brp_holder(&net);
    for a in holder.archive().iter().filter(|a| a.vct == BRP) {
        holder.set_status_at(a.idx, StatusValue::Revoked);
    }
    let uri = format!("{}/status", holder.base_url());
    let held = StatusLists::new();
    held.fetch(std::slice::from_ref(&uri), quick_http())
        .await
        .unwrap();
    let offline = OfflineStatus {
        lists: held.clone(),
        max_list_age_secs: 3600,
    };
    let e = verify_offline_checked(
        &qr().payload,
        &trust,
        &expect,
        &MemoryReplayCache::default(),
        &offline,
    )
    .unwrap_err();
    assert!(e.to_string().contains("revoked"), "{e}");
    // Checked as if 10 minutes later (past the list's 60 s ttl, within the allowed hour): still
    // used; 2 hours later: too old, "not checked", and the list is wanted again.
    let issuer = holder.base_url().to_string();
    let status_claim = serde_json::json!({"status_list": {"uri": uri, "idx": 0}});
    let now = kluis_core::now_unix();
    let r = held.check(
        &issuer,
        Some(&status_claim),
        &trust.issuers,
        now + 600,
        ListAge::Offline { max_age_secs: 3600 },
    );
    assert!(r.is_err(), "revoked entry 0 still read from the held list");
    let (check, wanted) = held
        .check(
            &issuer,
            Some(&status_claim),
            &trust.issuers,
            now + 7200,
            ListAge::Offline { max_age_secs: 3600 },
        )
        .unwrap();
    assert!(
        matches!(&check, StatusCheck::NotChecked { reason } if reason.contains("more than")),
        "{check:?}"
    );
    assert_eq!(wanted.as_deref(), Some(uri.as_str()));
    // Online the same held list is too old after its ttl: it is wanted again.
    let (check, wanted) = held
        .check(
            &issuer,
            Some(&status_claim),
            &trust.issuers,
            now + 120,
            ListAge::Online,
        )
        .unwrap();
    assert!(matches!(check, StatusCheck::NotChecked { .. }));
    assert!(wanted.is_some());
    // A list signed by another issuer's key does not vouch for this one's credentials.
    let other = net.holders.iter().find(|h| h.base_url() != issuer).unwrap();
    let (check, _) = held
        .check(
            other.base_url(),
            Some(&status_claim),
            &trust.issuers,
            now,
            ListAge::Online,
        )
        .unwrap();
    assert!(
        matches!(&check, StatusCheck::NotChecked { reason } if reason.contains("not usable")),
        "{check:?}"
    );
}

/// `kluis verify --batch`: N presentations of credentials sharing one status list make one
/// fetch of it (counted at the holder); once the holder revoked them, every line is refused.
#[tokio::test]
async fn batch_verification_fetches_each_list_once_and_refuses_revoked() {
    let net = network().await;
    let (_d1, w1) = collected_wallet(&net, "daan").await;
    let (_d2, w2) = collected_wallet(&net, "sanne").await;
    let holder = brp_holder(&net);
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for w in [&w1, &w2] {
        for _ in 0..3 {
            lines.push(
                w.present(&brp_id(w), &["/given_name".to_string()], "b-n", "rp")
                    .unwrap(),
            );
        }
    }
    let batch = tmp.path().join("batch.txt");
    std::fs::write(&batch, lines.join("\n")).unwrap();
    let key = tmp.path().join("brp.jwk");
    std::fs::write(&key, holder.public_jwk().to_value().to_string()).unwrap();
    let issuer = holder.base_url().to_string();
    let issuer2 = issuer.clone();
    let run = || {
        let batch = batch.clone();
        let key = key.clone();
        let issuer = issuer.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new(bin("kluis"))
                    .args(["--json", "verify", "--batch"])
                    .arg(&batch)
                    .args(["--nonce", "b-n", "--aud", "rp", "--trust"])
                    .arg(format!("{}={}", issuer, key.display()))
                    .env_remove("KLUIS_PIN")
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let before = holder.request_count();
    let out = run().await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["valid"], 6, "{summary}");
    assert_eq!(holder.request_count() - before, 1, "one fetch for 6 lines");

    for a in holder.archive().iter().filter(|a| a.vct == BRP) {
        holder.set_status_at(a.idx, StatusValue::Revoked);
    }
    let before = holder.request_count();
    let out = run().await;
    assert_eq!(out.status.code(), Some(5));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["invalid"], 6, "{summary}");
    assert!(summary["rejections"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    assert_eq!(holder.request_count() - before, 1);

    // One presentation, `kluis verify`: refused as revoked.
    let one = tmp.path().join("one.txt");
    std::fs::write(&one, &lines[0]).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin("kluis"))
            .args(["verify"])
            .arg(&one)
            .args(["--nonce", "b-n", "--aud", "rp", "--trust"])
            .arg(format!("{}={}", issuer2, key.display()))
            .env_remove("KLUIS_PIN")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));
}

/// Issue 12, item 9: nothing a presentation names is fetched before its signatures verify. A
/// forged presentation (no valid issuer signature) whose KB-JWT carries a mandate and whose
/// credential names a status list, both pointing at a loopback listener, makes zero connections
/// there, through `kluis verify` and through the library.
#[tokio::test]
async fn a_forged_presentation_makes_no_outbound_request() {
    use base64::Engine as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let key = kluis_core::sdjwt::SigningKey::make_random().unwrap();
    let status = |path: &str| serde_json::json!({"status_list": {"uri": format!("http://127.0.0.1:{port}/{path}"), "idx": 0}});
    let issuer_jwt = format!(
        "{}.{}.{}",
        b64(serde_json::json!({"alg": "ES256", "typ": "dc+sd-jwt"})),
        b64(
            serde_json::json!({"iss": "https://gemeente.example", "vct": BRP, "_sd_alg": "sha-256",
            "cnf": {"jwk": key.public_jwk().to_value()}, "status": status("credential")})
        ),
        "c2lnbmF0dXJl"
    );
    let mandate = format!(
        "{}.{}.{}",
        b64(serde_json::json!({"alg": "ES256", "typ": "kluis-mandate+jwt"})),
        b64(serde_json::json!({"status": status("mandate")})),
        "c2ln"
    );
    let kb = format!(
        "{}.{}.{}",
        b64(serde_json::json!({"alg": "ES256", "typ": "kb+jwt"})),
        b64(
            serde_json::json!({"nonce": "n", "aud": "rp", "iat": kluis_core::now_unix(),
            "sd_hash": "x", "mandate": mandate})
        ),
        "c2ln"
    );
    let forged = format!("{issuer_jwt}~{kb}");
    assert_eq!(
        kluis_core::delegation::verify::status_uris(&forged).len(),
        1,
        "the forgery names a mandate status list"
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("forged.txt");
    std::fs::write(&file, &forged).unwrap();
    let trusted = tmp.path().join("k.jwk");
    std::fs::write(&trusted, key.public_jwk().to_value().to_string()).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(bin("kluis"))
            .args(["verify"])
            .arg(&file)
            .args(["--nonce", "n", "--aud", "rp", "--trust"])
            .arg(format!("https://gemeente.example={}", trusted.display()))
            .env_remove("KLUIS_PIN")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let mut trust = kluis_core::trust::TrustList::new();
    trust.add("https://gemeente.example", key.public_jwk());
    let r = verifier::verify_online(
        &forged,
        &trust,
        &Expectations::new("n", "rp"),
        None,
        quick_http(),
    )
    .await;
    assert!(r.is_err());
    let mut connections = 0;
    while listener.accept().is_ok() {
        connections += 1;
    }
    assert_eq!(
        connections, 0,
        "a forged presentation made the verifier connect"
    );
}
