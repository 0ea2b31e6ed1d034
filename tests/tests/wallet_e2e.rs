//! End to end through kluis-core: collect every sample credential, keep it across reopen and PIN
//! change, and for every single disclosable claim, present exactly that claim and verify it as a
//! requesting party would.
#![allow(clippy::unwrap_used)]

use kluis_core::sdjwt::ClaimPath;
use kluis_core::verifier::{self, Expectations};
use kluis_core::{Error, Pin};
use kluis_tests::{TestWallet, PIN};

const ENVELOPE: &[&str] = &["iss", "vct", "iat", "exp", "nbf", "cnf", "status"];

/// The leaf paths present in a JSON value (objects and arrays descended).
fn leaf_paths(v: &serde_json::Value, prefix: String, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                if prefix.is_empty() && ENVELOPE.contains(&k.as_str()) {
                    continue;
                }
                leaf_paths(c, format!("{prefix}/{k}"), out);
            }
        }
        serde_json::Value::Array(a) if !a.is_empty() => {
            for (i, c) in a.iter().enumerate() {
                leaf_paths(c, format!("{prefix}/{i}"), out);
            }
        }
        _ => out.push(prefix),
    }
}

#[test]
fn every_single_claim_can_be_shared_alone() {
    let t = TestWallet::new();
    let trust = TestWallet::verifier_trust();
    let mut checked = 0;
    for citizen in ["sanne", "mohamed", "joke"] {
        for summary in t.collect(citizen) {
            let details = t.wallet.credential(&summary.id, "en").unwrap();
            for claim in details.claims.iter().filter(|c| c.selectively_disclosable) {
                // Leaves inside arrays of scalars are addressed by index in the issued array.
                let paths: Vec<String> = match &claim.value {
                    serde_json::Value::Array(a) if !a.is_empty() => (0..a.len())
                        .map(|i| format!("{}/{i}", claim.path))
                        .collect(),
                    _ => vec![claim.path.clone()],
                };
                for path in paths {
                    let nonce = format!("n-{checked}");
                    let p = t
                        .wallet
                        .present(
                            &summary.id,
                            std::slice::from_ref(&path),
                            &nonce,
                            "https://rp.example",
                        )
                        .unwrap();
                    let v = verifier::verify(
                        &p,
                        &trust,
                        &Expectations::new(&nonce, "https://rp.example"),
                    )
                    .unwrap();
                    let mut got = Vec::new();
                    leaf_paths(&v.claims, String::new(), &mut got);
                    // Array elements come back re-indexed (only disclosed elements remain).
                    let want = ClaimPath::parse(&path).unwrap();
                    assert_eq!(
                        got.len(),
                        1,
                        "{citizen} {} {path}: disclosed {got:?}",
                        summary.vct
                    );
                    let got_path = ClaimPath::parse(&got[0]).unwrap();
                    assert_eq!(
                        got_path.segments().len(),
                        want.segments().len(),
                        "{path} vs {got:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 80, "only {checked} claims checked");
}

#[test]
fn data_survives_reopen_pin_change_and_lock() {
    let t = TestWallet::new();
    let collected = t.collect("mohamed");
    let log_len = t.wallet.audit_log().unwrap().len();
    t.wallet
        .change_pin(&Pin::new(PIN), &Pin::new("8642"))
        .unwrap();
    t.wallet.lock();
    assert_eq!(t.wallet.credentials("nl").unwrap_err(), Error::Locked);

    let w = t.reopen();
    assert!(!w.is_unlocked());
    assert!(matches!(
        w.unlock(&Pin::new(PIN)),
        Err(Error::WrongPin {
            attempts_left: Some(4),
            ..
        })
    ));
    w.unlock(&Pin::new("8642")).unwrap();
    let ids: Vec<_> = w
        .credentials("nl")
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(
        ids,
        collected.iter().map(|c| c.id.clone()).collect::<Vec<_>>()
    );
    let log = w.audit_log().unwrap();
    assert_eq!(log.len(), log_len + 1, "PIN change logged");
    assert_eq!(w.status().unwrap().failed_attempts, 0);
}

#[test]
fn wrong_pin_limit_wipes_the_vault_when_the_policy_says_so() {
    let t = TestWallet::new();
    t.collect("joke");
    t.wallet.lock();
    let mut last = None;
    for _ in 0..5 {
        let w = t.reopen();
        // Wait out any back-off so each attempt is really counted.
        let wait = w.status().unwrap().retry_after_secs;
        std::thread::sleep(std::time::Duration::from_secs(wait));
        last = Some(w.unlock(&Pin::new("0000")).unwrap_err());
    }
    assert_eq!(last, Some(Error::Wiped));
    assert!(!kluis_core::Wallet::exists(t.dir.path()));
}
