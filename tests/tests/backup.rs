//! Backup and restore (issue 15 §2) over real collecting, delegation and presenting on loopback:
//! a wallet backed up, wiped and restored on a "new device" (another software device secret and
//! PIN) comes back whole — overview, trust, scheme pin, mandates, the audit log with its chain
//! intact and one "restored" entry more; keys in a device key store stay behind and their
//! credentials come back marked for re-issuance, which `refresh` collects. Every damaged,
//! foreign or wrongly opened backup is a typed error that leaves no vault behind.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use kluis_core::audit::AuditEvent;
use kluis_core::delegation::{Action, DelegateRequest};
use kluis_core::sdjwt::SigningKey;
use kluis_core::{
    Error, HolderKeyError, HolderKeyStore, KeyLocation, NewHolderKey, Pin,
    SoftwareDeviceSecretStore, Wallet,
};
use kluis_fixtures::servers::Network;
use kluis_tests::collecting::*;
use kluis_tests::test_options;
use serde_json::json;

const NEW_PIN: &str = "271828";

fn device(dir: &Path) -> Arc<SoftwareDeviceSecretStore> {
    Arc::new(SoftwareDeviceSecretStore::new(dir))
}

fn recovery(wallet: &Wallet) -> String {
    wallet.make_recovery_secret().unwrap().to_string()
}

fn restore(dir: &Path, backup: &[u8], words: &str) -> Result<Wallet, Error> {
    Wallet::restore(
        dir,
        device(dir),
        backup,
        words,
        &Pin::new(NEW_PIN),
        test_options(),
    )
    .map(|(w, _)| w)
}

/// Nothing of a vault in `dir`: no database, no device secret, no temporary file.
fn assert_no_vault(dir: &Path) {
    assert!(
        !Wallet::exists(dir),
        "a vault was left in {}",
        dir.display()
    );
    let left: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// As JSON, to compare values whose types do not implement `PartialEq`.
macro_rules! json_of {
    ($e:expr) => {
        serde_json::to_value($e).unwrap()
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_wipe_restore_on_a_new_device_brings_the_wallet_back_whole() {
    let net = network().await;
    let (old_dir, wallet) = kluis_tests::collected_wallet(&net, CITIZEN, quick_http()).await;
    let words = recovery(&wallet);
    // Trust by hand, a presentation (in the log) and a mandate given.
    let duo = kluis_fixtures::holder("duo").unwrap();
    wallet
        .add_trusted_issuer(
            "https://trusted-by-hand.example",
            &duo.public_jwk().unwrap().to_value().to_string(),
        )
        .unwrap();
    let first = wallet.credentials("nl").unwrap()[0].id.clone();
    wallet
        .present(&first, &[], "nonce-before", "https://rp.example")
        .unwrap();
    let (_h, helper) = wallet_with_scheme(&net).await;
    let income = "urn:nl:uwv:income-statement:1";
    let given = wallet
        .delegate(
            &DelegateRequest {
                helper_jwk: helper.holder_public_jwk().unwrap(),
                types: vec![income.into()],
                claims: None,
                actions: vec![Action::Present],
                not_before: None,
                until: kluis_core::now_unix() + 3600,
                parties: None,
                purposes: None,
                label: "Mama".into(),
                registry: net.mandate_registry.base_url().to_string(),
            },
            quick_http(),
        )
        .await
        .unwrap();

    let overview = wallet.overview("nl").unwrap();
    let credentials = wallet.credentials("nl").unwrap();
    let trusted = json_of!(&wallet.trusted_issuers().unwrap());
    let scheme = json_of!(&wallet.scheme().unwrap());
    let mandates = json_of!(&wallet.mandates(quick_http()).await.unwrap());
    let backup_file = old_dir
        .path()
        .parent()
        .unwrap()
        .join(format!("kluis-backup-test-{}.kbak", std::process::id()));
    let info = wallet.backup(&backup_file).unwrap();
    assert_eq!(info.credentials, credentials.len());
    assert_eq!(info.device_bound, 0);
    let log = wallet.audit_log().unwrap();
    assert!(matches!(
        log.last().unwrap().event,
        AuditEvent::BackupMade { .. }
    ));
    let bytes = std::fs::read(&backup_file).unwrap();
    std::fs::remove_file(&backup_file).unwrap();
    // Nothing readable in the file.
    for needle in [CITIZEN, income, "Mama", "trusted-by-hand", "nonce-before"] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} readable in the backup"
        );
    }
    wallet.wipe().unwrap();
    assert!(!Wallet::exists(old_dir.path()));

    let new_dir = tempfile::tempdir().unwrap();
    let (restored, report) = Wallet::restore(
        new_dir.path(),
        device(new_dir.path()),
        &bytes,
        &words,
        &Pin::new(NEW_PIN),
        test_options(),
    )
    .unwrap();
    assert!(!report.already_restored);
    assert!(report.needs_reissuance.is_empty());
    assert_eq!(report.credentials, credentials.len());
    assert_eq!(restored.overview("nl").unwrap(), overview);
    assert_eq!(restored.credentials("nl").unwrap(), credentials);
    assert_eq!(json_of!(&restored.trusted_issuers().unwrap()), trusted);
    assert_eq!(json_of!(&restored.scheme().unwrap()), scheme);
    assert_eq!(
        json_of!(&restored.mandates(quick_http()).await.unwrap()),
        mandates
    );
    // The log: every entry of the old one up to the backup, unchanged, then "restored"; the
    // chain is checked by audit_log().
    let after = restored.audit_log().unwrap();
    assert_eq!(after.len(), log.len());
    assert_eq!(after[..log.len() - 1], log[..log.len() - 1]);
    assert_eq!(after.last().unwrap().prev_hash, log[log.len() - 2].hash);
    assert!(matches!(
        &after.last().unwrap().event,
        AuditEvent::Restored { backup_id, needs_reissuance, .. }
            if *backup_id == info.backup_id && needs_reissuance.is_empty()
    ));

    // The new device: the new PIN opens it, the old one does not; software keys travelled, so
    // credentials present and the citizen can still revoke the mandate she gave.
    drop(restored);
    let reopened = Wallet::open(new_dir.path(), device(new_dir.path())).unwrap();
    assert!(matches!(
        reopened.unlock(&Pin::new(kluis_tests::PIN)),
        Err(Error::WrongPin { .. })
    ));
    reopened.unlock(&Pin::new(NEW_PIN)).unwrap();
    reopened
        .present(&first, &[], "nonce-after", "https://rp.example")
        .unwrap();
    let revoked = reopened
        .revoke_mandate(&given.mandate.id, quick_http())
        .await
        .unwrap();
    assert_eq!(json_of!(&revoked.state), json!("revoked"));
    reopened.audit_log().unwrap();
    // And it backs up again without asking for the words.
    let (again, _) = reopened.backup_bytes().unwrap();
    let third = tempfile::tempdir().unwrap();
    let w3 = restore(third.path(), &again, &words).unwrap();
    assert_eq!(w3.credentials("nl").unwrap(), credentials);
}

#[test]
fn restoring_the_same_backup_twice_changes_nothing_and_never_overwrites() {
    let tw = kluis_tests::TestWallet::new();
    tw.collect("sanne");
    let words = recovery(&tw.wallet);
    let (bytes, _) = tw.wallet.backup_bytes().unwrap();
    let new_dir = tempfile::tempdir().unwrap();
    let first = restore(new_dir.path(), &bytes, &words).unwrap();
    let log = first.audit_log().unwrap();
    let overview = first.overview("nl").unwrap();
    drop(first);

    let (second, report) = Wallet::restore(
        new_dir.path(),
        device(new_dir.path()),
        &bytes,
        &words,
        &Pin::new(NEW_PIN),
        test_options(),
    )
    .unwrap();
    assert!(report.already_restored);
    assert_eq!(second.audit_log().unwrap(), log);
    assert_eq!(second.overview("nl").unwrap(), overview);

    // A newer backup of the same wallet is not restored over it (it would lose what happened
    // since), and the original wallet's own vault is not overwritten either.
    let (newer, _) = tw.wallet.backup_bytes().unwrap();
    let e = restore(new_dir.path(), &newer, &words).err().unwrap();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    let e = Wallet::restore(
        tw.dir.path(),
        device(tw.dir.path()),
        &bytes,
        &words,
        &Pin::new(kluis_tests::PIN),
        test_options(),
    )
    .err()
    .unwrap();
    assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
    assert_eq!(second.audit_log().unwrap(), log);
}

#[test]
fn wrong_foreign_truncated_and_edited_backups_are_typed_errors_that_restore_nothing() {
    let tw = kluis_tests::TestWallet::new();
    tw.collect("sanne");
    let words = recovery(&tw.wallet);
    let (bytes, _) = tw.wallet.backup_bytes().unwrap();
    let other = kluis_tests::TestWallet::new();
    let other_words = recovery(&other.wallet);
    let (other_bytes, _) = other.wallet.backup_bytes().unwrap();
    let target = tempfile::tempdir().unwrap();
    let dir = target.path().join("vault");

    // Another wallet's words, or this wallet's words on another wallet's backup.
    for (file, w) in [(&bytes, &other_words), (&other_bytes, &words)] {
        let e = restore(&dir, file, w).err().unwrap();
        assert_eq!(e, Error::WrongRecoverySecret);
        assert_no_vault(&dir);
    }
    // Not 12 list words, or a mistyped word the checksum catches.
    let mut typo: Vec<&str> = words.split(' ').collect();
    typo.pop();
    for w in ["", "twelve words please", &typo.join(" ")] {
        let e = restore(&dir, &bytes, w).err().unwrap();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        assert_no_vault(&dir);
    }
    // Restoring into a vault of another wallet: refused, that vault untouched.
    let before = other.wallet.audit_log().unwrap();
    drop(other.wallet);
    let e = Wallet::restore(
        other.dir.path(),
        device(other.dir.path()),
        &bytes,
        &words,
        &Pin::new(kluis_tests::PIN),
        test_options(),
    )
    .err()
    .unwrap();
    assert_eq!(e, Error::BackupOfAnotherWallet);
    let still = Wallet::open(other.dir.path(), device(other.dir.path())).unwrap();
    still.unlock(&Pin::new(kluis_tests::PIN)).unwrap();
    assert_eq!(still.audit_log().unwrap(), before);

    // Cut short anywhere.
    let header_end = 13 + u32::from_be_bytes(bytes[9..13].try_into().unwrap()) as usize;
    let mut cuts: Vec<usize> = (0..header_end + 64).collect();
    cuts.extend((header_end + 64..bytes.len()).step_by(97));
    cuts.push(bytes.len() - 1);
    for n in cuts {
        let e = restore(&dir, &bytes[..n], &words).err().unwrap();
        assert!(matches!(e, Error::BackupDamaged { .. }), "cut at {n}: {e}");
        assert_no_vault(&dir);
    }
    // One byte changed anywhere (the header is the contents' associated data, so no edit gets
    // through): magic, version, header length, every header byte, the contents (every byte of the first 64 and then a sample through to the tag).
    let mut at: Vec<usize> = (0..header_end + 64).collect();
    at.extend((header_end + 64..bytes.len()).step_by(13));
    at.push(bytes.len() - 1);
    let mut kinds: HashMap<&'static str, usize> = HashMap::new();
    for i in at {
        let mut edited = bytes.clone();
        edited[i] ^= 0x01;
        let e = restore(&dir, &edited, &words).err();
        let kind = match e {
            Some(Error::BackupDamaged { .. }) => "damaged",
            // An edited salt, check or KDF parameter derives another key: indistinguishable
            // from another secret.
            Some(Error::WrongRecoverySecret) if (13..header_end).contains(&i) => "wrong secret",
            other => panic!("byte {i} edited: {other:?}"),
        };
        *kinds.entry(kind).or_default() += 1;
        assert_no_vault(&dir);
    }
    assert!(kinds["damaged"] > 100, "{kinds:?}");
    // Another format version is named as such.
    let mut v2 = bytes.clone();
    v2[8] = 2;
    let e = restore(&dir, &v2, &words).err().unwrap();
    assert!(e.to_string().contains("format 2 is not supported"), "{e}");
    // And the untouched backup still restores.
    restore(&dir, &bytes, &words).unwrap();
}

#[test]
fn a_wallet_without_a_recovery_secret_cannot_back_up_until_it_makes_one() {
    let tw = kluis_tests::TestWallet::new();
    assert!(!tw.wallet.has_recovery_secret().unwrap());
    assert_eq!(
        tw.wallet.backup_bytes().err().unwrap(),
        Error::NoRecoverySecret
    );
    let old_words = recovery(&tw.wallet);
    let (old_backup, _) = tw.wallet.backup_bytes().unwrap();
    // A new secret: new backups open with it, older ones still with the old words.
    let new_words = recovery(&tw.wallet);
    assert_ne!(old_words, new_words);
    let (new_backup, _) = tw.wallet.backup_bytes().unwrap();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    assert_eq!(
        restore(a.path(), &new_backup, &old_words).err().unwrap(),
        Error::WrongRecoverySecret
    );
    restore(a.path(), &new_backup, &new_words).unwrap();
    restore(b.path(), &old_backup, &old_words).unwrap();
}

/// The phone's key store: P-256 keys that never leave it (OpenSSL stands in for the hardware).
#[derive(Default)]
struct DeviceKeys {
    keys: Mutex<HashMap<String, SigningKey>>,
}

impl HolderKeyStore for DeviceKeys {
    fn location(&self) -> KeyLocation {
        KeyLocation::Device
    }
    fn create_key(&self, key_id: &str, _: Option<&[u8]>) -> Result<NewHolderKey, HolderKeyError> {
        let key = SigningKey::make_random().unwrap();
        let public_jwk = key.public_jwk();
        self.keys.lock().unwrap().insert(key_id.to_string(), key);
        Ok(NewHolderKey {
            public_jwk,
            handle: Default::default(),
            attestation: Vec::new(),
        })
    }
    fn sign(&self, key_id: &str, _: &[u8], input: &[u8]) -> Result<Vec<u8>, HolderKeyError> {
        let keys = self.keys.lock().unwrap();
        let key = keys.get(key_id).ok_or(HolderKeyError::KeyGone)?;
        Ok(key.sign_es256(input).unwrap().to_vec())
    }
    fn delete_key(&self, key_id: &str, _: &[u8]) -> Result<(), HolderKeyError> {
        self.keys.lock().unwrap().remove(key_id);
        Ok(())
    }
}

async fn collect_from(net: &Network, wallet: &Wallet, holder: &str) {
    let offer = net.holder(holder).unwrap().offer(CITIZEN).unwrap();
    wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_bound_credentials_come_back_marked_and_refresh_collects_them_again() {
    let net = network().await;
    let (_old, wallet) = wallet_with_scheme(&net).await;
    let old_phone = Arc::new(DeviceKeys::default());
    let wallet = wallet.with_holder_key_store(old_phone.clone());
    collect_from(&net, &wallet, "duo").await;
    collect_from(&net, &wallet, "rdw").await;
    let words = recovery(&wallet);
    let before = wallet.credentials("nl").unwrap();
    let (bytes, info) = wallet.backup_bytes().unwrap();
    assert_eq!(info.device_bound, before.len());

    let new_dir = tempfile::tempdir().unwrap();
    let new_phone = Arc::new(DeviceKeys::default());
    let (restored, report) = Wallet::restore(
        new_dir.path(),
        device(new_dir.path()),
        &bytes,
        &words,
        &Pin::new(NEW_PIN),
        test_options(),
    )
    .unwrap();
    let restored = restored.with_holder_key_store(new_phone.clone());
    // Every credential listed to collect again, with how; each marked in the list.
    let mut listed: Vec<_> = report
        .needs_reissuance
        .iter()
        .map(|r| r.id.clone())
        .collect();
    listed.sort();
    let mut ids: Vec<_> = before.iter().map(|c| c.id.clone()).collect();
    ids.sort();
    assert_eq!(listed, ids);
    assert!(report.needs_reissuance.iter().all(|r| r.refreshable));
    let marked = restored.credentials("nl").unwrap();
    assert!(marked.iter().all(|c| c.needs_reissuance));
    // Batch copies bound to keys of the old phone are gone; copy 0 cannot be presented.
    assert!(marked.iter().all(|c| c.copies == 1));
    let e = restored
        .present(&marked[0].id, &[], "n", "https://rp.example")
        .unwrap_err();
    assert!(
        matches!(&e, Error::HolderKey { reason } if reason.contains("collect it again")),
        "{e}"
    );
    assert!(matches!(
        &restored.audit_log().unwrap().last().unwrap().event,
        AuditEvent::Restored { needs_reissuance, .. } if needs_reissuance.len() == before.len()
    ));

    // The holders gave refresh tokens: refresh collects them again, bound to the new phone.
    let refreshed = restored.refresh(false, options()).await.unwrap();
    assert_eq!(
        refreshed.refreshed.len(),
        before.len(),
        "{:?}",
        refreshed.failed
    );
    let now = restored.credentials("nl").unwrap();
    assert!(now.iter().all(|c| !c.needs_reissuance));
    assert!(!new_phone.keys.lock().unwrap().is_empty());
    restored
        .present(&now[0].id, &[], "n", "https://rp.example")
        .unwrap();
}

#[test]
fn contents_that_open_but_do_not_decode_are_damaged_not_a_panic() {
    let tw = kluis_tests::TestWallet::new();
    let words = recovery(&tw.wallet);
    let framed = |b: &[u8]| [&(b.len() as u32).to_be_bytes()[..], b].concat();
    let record = |kind: &str, id: &str, value: &[u8]| {
        [
            framed(kind.as_bytes()),
            framed(id.as_bytes()),
            framed(value),
        ]
        .concat()
    };
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        u32::MAX.to_be_bytes().to_vec(),
        [
            &1u32.to_be_bytes()[..],
            &record("credential", "a", b"\x01{}"),
        ]
        .concat(),
        [&1u32.to_be_bytes()[..], &record("Bad Kind", "a", b"\x01{}")].concat(),
        [&1u32.to_be_bytes()[..], &record("note", "a", b"\x07{}")].concat(),
        [
            &1u32.to_be_bytes()[..],
            &record("note", "a", b"\x01{}"),
            b"trailing",
        ]
        .concat(),
        [
            &1u32.to_be_bytes()[..],
            &record("audit", "1", b"\x01{\"seq\":1}"),
        ]
        .concat(),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, plain) in cases.iter().enumerate() {
        let file = tw.wallet.dangerous_backup_of_contents(plain).unwrap();
        let e = restore(dir.path(), &file, &words).err().unwrap();
        assert!(matches!(e, Error::BackupDamaged { .. }), "case {i}: {e}");
        assert_no_vault(dir.path());
    }
}
