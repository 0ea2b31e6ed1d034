//! The file itself as the attacker's: someone who can write the vault file (a rooted phone, a
//! restored device backup, the CLI's data directory) edits the wrong-PIN policy and counter, or
//! puts back an older copy of the whole file. Each is refused before any PIN is tried, as an
//! integrity failure that names what happened.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use kluis_vault::*;
use zeroize::Zeroizing;

fn guarded_policy() -> VaultOptions {
    VaultOptions {
        kdf: KdfParams::dangerous_test_profile(),
        policy: VaultPolicy {
            max_attempts: Some(5),
            free_attempts: 1,
            backoff_base_secs: 3600,
            backoff_max_secs: 3600,
            on_limit: OnLimit::Lockout,
        },
    }
}

/// Spend the free attempt and one more: the vault is then in an hour's back-off.
fn into_backoff(v: &Vault) {
    let wrong = Pin::new("000000");
    assert!(matches!(v.unlock(&wrong), Err(VaultError::WrongPin { .. })));
    assert!(matches!(
        v.unlock(&wrong),
        Err(VaultError::WrongPin {
            retry_after_secs: 3600,
            ..
        })
    ));
    assert!(matches!(
        v.unlock(&pin()),
        Err(VaultError::LockedOut { .. })
    ));
}

fn vault_files(root: &Path) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", db_file(root).display())))
        .collect()
}

/// A copy of the vault's database files (not the device key store).
fn snapshot(root: &Path) -> Vec<(PathBuf, Option<Vec<u8>>)> {
    vault_files(root)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).ok();
            (p, bytes)
        })
        .collect()
}

fn put_back(snap: &[(PathBuf, Option<Vec<u8>>)]) {
    for (p, bytes) in snap {
        match bytes {
            Some(b) => std::fs::write(p, b).unwrap(),
            None => {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

#[test]
fn unlimited_guesses_by_sql_edit_are_refused_before_any_attempt() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), guarded_policy());
    v.put("a", &credential(1)).unwrap();
    v.lock();
    into_backoff(&v);
    drop(v);

    // The reproduction from issue 15: no limit, a thousand free attempts, counter reset.
    raw(root.path())
        .execute_batch(
            "update header set max_attempts=NULL, free_attempts=1000; update pin_guard set failed_attempts=0",
        )
        .unwrap();
    let v = reopen(root.path());
    for p in [Pin::new("111111"), Pin::new("222222"), pin()] {
        let e = v.unlock(&p).unwrap_err();
        assert!(matches!(e, VaultError::Tampered(_)), "{e:?}");
        assert!(e.to_string().contains("policy"), "names what: {e}");
    }
    assert!(!v.is_unlocked());
    // Nothing was counted or changed by the refused attempts.
    assert_eq!(v.status().unwrap().failed_attempts, 0);
}

#[test]
fn each_policy_field_and_the_counter_alone_are_sealed() {
    let edits = [
        "UPDATE pin_guard SET failed_attempts = 0",
        "UPDATE pin_guard SET last_failure_unix = 0",
        "UPDATE header SET max_attempts = NULL",
        "UPDATE header SET max_attempts = 1000",
        "UPDATE header SET free_attempts = 1000",
        "UPDATE header SET backoff_base_secs = 0",
        "UPDATE header SET backoff_max_secs = 0, backoff_base_secs = 0",
        "UPDATE header SET on_limit = 'lockout'",
        "UPDATE file_seal SET seq = seq + 100",
    ];
    for edit in edits {
        let root = tempfile::tempdir().unwrap();
        let mut opts = guarded_policy();
        opts.policy.on_limit = OnLimit::Wipe;
        let v = new_vault(root.path(), opts);
        v.lock();
        into_backoff(&v);
        drop(v);
        raw(root.path()).execute_batch(edit).unwrap();
        let v = reopen(root.path());
        let e = v.unlock(&pin()).unwrap_err();
        assert!(matches!(e, VaultError::Tampered(_)), "{edit}: {e:?}");
    }
}

#[test]
fn putting_back_the_guard_from_before_the_wrong_pins_is_a_rollback() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), guarded_policy());
    v.put("a", &credential(1)).unwrap();
    v.lock();
    v.checkpoint().unwrap();
    drop(v);
    // The attacker keeps the rows as they were with no failures, seal included ...
    let rows: (Vec<u8>, i64) = raw(root.path())
        .query_row("SELECT mac, seq FROM file_seal", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    let v = reopen(root.path());
    into_backoff(&v);
    drop(v);
    // ... and puts them back after two wrong PINs: a valid seal, but an old one.
    let db = raw(root.path());
    db.execute_batch("UPDATE pin_guard SET failed_attempts = 0, last_failure_unix = 0")
        .unwrap();
    db.execute(
        "UPDATE file_seal SET mac = ?1, seq = ?2",
        rusqlite::params![rows.0, rows.1],
    )
    .unwrap();
    drop(db);
    let v = reopen(root.path());
    let e = v.unlock(&pin()).unwrap_err();
    match &e {
        VaultError::RolledBack {
            file_seq,
            device_seq,
        } => assert!(file_seq < device_seq),
        other => panic!("expected RolledBack, got {other:?}"),
    }
    assert!(e.to_string().contains("rolled back"), "{e}");
}

#[test]
fn whole_file_put_back_to_an_older_copy_is_detected() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    v.put("a", &credential(1)).unwrap();
    v.checkpoint().unwrap();
    drop(v);
    let old = snapshot(root.path());

    let v = reopen(root.path());
    v.unlock(&pin()).unwrap();
    v.put("b", &credential(2)).unwrap();
    assert!(v.delete::<Credential>("a").unwrap());
    drop(v);
    let newer = snapshot(root.path());

    // The older copy: "a" back, "b" gone. Refused, with both sequences named.
    put_back(&old);
    let v = reopen(root.path());
    let e = v.unlock(&pin()).unwrap_err();
    assert!(matches!(e, VaultError::RolledBack { .. }), "{e:?}");
    assert!(!v.is_unlocked());
    assert_eq!(v.status().unwrap().failed_attempts, 0);
    drop(v);

    // The current file still opens, with its contents.
    put_back(&newer);
    let v = reopen(root.path());
    v.unlock(&pin()).unwrap();
    assert_eq!(v.get::<Credential>("b").unwrap(), Some(credential(2)));
    assert_eq!(v.get::<Credential>("a").unwrap(), None);
}

#[test]
fn removing_the_seal_or_the_counter_is_detected() {
    // The seal row deleted (to look like a format-1 vault whose policy is taken on trust).
    let root = tempfile::tempdir().unwrap();
    drop(new_vault(root.path(), guarded_policy()));
    raw(root.path())
        .execute_batch("DELETE FROM file_seal; UPDATE header SET max_attempts = NULL")
        .unwrap();
    let v = reopen(root.path());
    assert!(matches!(v.unlock(&pin()), Err(VaultError::Tampered(_))));

    // The device's counter deleted (the seal still there): refused too.
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), guarded_policy());
    let id = v.status().unwrap().vault_id;
    drop(v);
    let counter = root.path().join("keys").join(format!("{id}.counter"));
    assert!(counter.is_file());
    std::fs::remove_file(&counter).unwrap();
    let v = reopen(root.path());
    let e = v.unlock(&pin()).unwrap_err();
    assert!(matches!(e, VaultError::Tampered(_)), "{e:?}");
    assert!(e.to_string().contains("counter"), "{e}");
}

#[test]
fn seal_and_counter_both_removed_gives_no_guessing_oracle() {
    // What remains: someone who can delete the device's counter and the seal gets a vault
    // taken for an old format-1 file, with their policy. But the DEK of a sealed vault does
    // not unwrap as an unsealed one: the right PIN fails like every other, so guessing learns
    // nothing, and nothing is decrypted.
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), guarded_policy());
    v.put("a", &credential(1)).unwrap();
    let id = v.status().unwrap().vault_id;
    drop(v);
    std::fs::remove_file(root.path().join("keys").join(format!("{id}.counter"))).unwrap();
    raw(root.path())
        .execute_batch(
            "DELETE FROM file_seal; UPDATE header SET max_attempts = NULL, free_attempts = 1000",
        )
        .unwrap();
    let v = reopen(root.path());
    assert!(matches!(
        v.unlock(&Pin::new("999999")),
        Err(VaultError::WrongPin { .. })
    ));
    assert!(matches!(v.unlock(&pin()), Err(VaultError::WrongPin { .. })));
    assert!(!v.is_unlocked());
}

/// A platform store without a rollback counter (the default of the trait).
struct NoCounterStore(SoftwareDeviceSecretStore);
impl DeviceSecretStore for NoCounterStore {
    fn device_secret(&self, vault_id: &str) -> Result<Zeroizing<Vec<u8>>, DeviceSecretError> {
        self.0.device_secret(vault_id)
    }
    fn delete_device_secret(&self, vault_id: &str) -> Result<(), DeviceSecretError> {
        self.0.delete_device_secret(vault_id)
    }
}

#[test]
fn without_a_device_counter_the_policy_is_still_sealed() {
    let root = tempfile::tempdir().unwrap();
    let dir = vault_dir(root.path());
    let device = || -> Arc<dyn DeviceSecretStore> {
        Arc::new(NoCounterStore(SoftwareDeviceSecretStore::new(
            root.path().join("keys"),
        )))
    };
    let v = Vault::create(&dir, &pin(), guarded_policy(), device()).unwrap();
    v.put("a", &credential(1)).unwrap();
    v.lock();
    into_backoff(&v);
    drop(v);
    raw(root.path())
        .execute_batch("update header set max_attempts=NULL, free_attempts=1000; update pin_guard set failed_attempts=0")
        .unwrap();
    let v = Vault::open(&dir, device()).unwrap();
    assert!(matches!(v.unlock(&pin()), Err(VaultError::Tampered(_))));
}

#[test]
fn writes_refuse_to_reseal_an_edited_file() {
    // Edited while the app has the vault unlocked: the next write does not launder the edit.
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), guarded_policy());
    raw(root.path())
        .execute_batch("UPDATE header SET max_attempts = NULL")
        .unwrap();
    assert!(matches!(
        v.put("a", &credential(1)),
        Err(VaultError::Tampered(_))
    ));
    assert_eq!(raw_count(root.path()), 0, "the write was rolled back");
}

fn raw_count(root: &Path) -> i64 {
    raw(root)
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .unwrap()
}

#[cfg(unix)]
#[test]
fn directory_and_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    v.put("a", &credential(1)).unwrap();
    assert_eq!(mode(&vault_dir(root.path())), 0o700);
    for f in vault_files(root.path()) {
        assert!(f.exists(), "{}", f.display());
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    drop(v);

    // A vault made by an older version (0644 file, 0755 directory) is made private on open.
    for f in vault_files(root.path()).iter().filter(|f| f.exists()) {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(
        vault_dir(root.path()),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    drop(reopen(root.path()));
    assert_eq!(mode(&vault_dir(root.path())), 0o700);
    assert_eq!(mode(&db_file(root.path())), 0o600);
}

/// Any credential record of the fixture, read as JSON (its type lives in kluis-core).
#[derive(serde::Serialize, serde::Deserialize)]
struct AnyCredential(serde_json::Value);
impl Record for AnyCredential {
    const KIND: &'static str = "credential";
}

/// The vault file format 1 wrote (`kluis init` + 10 imports on main before this change, PIN
/// 271828, the CLI's layout: device key beside the database).
fn format_1_copy() -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format-1");
    let root = tempfile::tempdir().unwrap();
    let dir = vault_dir(root.path());
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    root
}

#[test]
fn format_1_vault_is_sealed_at_its_first_unlock_then_guarded() {
    let root = format_1_copy();
    let dir = vault_dir(root.path());
    let device =
        || -> Arc<dyn DeviceSecretStore> { Arc::new(SoftwareDeviceSecretStore::new(&dir)) };
    let v = Vault::open(&dir, device()).unwrap();
    assert_eq!(v.status().unwrap().format_version, 5);
    // A wrong PIN on the unsealed file is counted as before.
    assert!(matches!(
        v.unlock(&Pin::new("000000")),
        Err(VaultError::WrongPin { .. })
    ));
    v.unlock(&Pin::new("271828")).unwrap();
    let creds = v.list::<AnyCredential>().unwrap();
    assert_eq!(creds.len(), 10);
    assert!(creds.iter().all(|(_, r)| r.is_ok()));
    drop(v);

    // Sealed now: the SQL edit is refused, and so is the unsealed copy put back.
    let sealed = snapshot(root.path());
    raw(root.path())
        .execute_batch("update header set max_attempts=NULL, free_attempts=1000")
        .unwrap();
    let v = Vault::open(&dir, device()).unwrap();
    assert!(matches!(
        v.unlock(&Pin::new("271828")),
        Err(VaultError::Tampered(_))
    ));
    drop(v);
    put_back(&sealed);
    let v = Vault::open(&dir, device()).unwrap();
    v.unlock(&Pin::new("271828")).unwrap();
    v.change_pin(&Pin::new("271828"), &pin()).unwrap();
    v.lock();
    v.unlock(&pin()).unwrap();
    assert_eq!(v.list::<AnyCredential>().unwrap().len(), 10);
}

#[test]
fn the_unsealed_format_1_copy_put_back_after_migration_is_refused() {
    let root = format_1_copy();
    let dir = vault_dir(root.path());
    let device =
        || -> Arc<dyn DeviceSecretStore> { Arc::new(SoftwareDeviceSecretStore::new(&dir)) };
    let original = std::fs::read(db_file(root.path())).unwrap();
    let v = Vault::open(&dir, device()).unwrap();
    v.unlock(&Pin::new("271828")).unwrap();
    drop(v);
    for f in vault_files(root.path()) {
        let _ = std::fs::remove_file(f);
    }
    std::fs::write(db_file(root.path()), original).unwrap();
    let v = Vault::open(&dir, device()).unwrap();
    let e = v.unlock(&Pin::new("271828")).unwrap_err();
    assert!(matches!(e, VaultError::Tampered(_)), "{e:?}");
}

/// A vault sealed while the app's store kept no counter (every foreign store before they could)
/// takes one up when the store starts keeping them; from then on the seal says so, and neither
/// an older copy nor a removed counter passes.
#[test]
fn a_vault_from_before_the_store_kept_counters_takes_one_up() {
    let root = tempfile::tempdir().unwrap();
    let dir = vault_dir(root.path());
    let keys = root.path().join("keys");
    let without: Arc<dyn DeviceSecretStore> =
        Arc::new(NoCounterStore(SoftwareDeviceSecretStore::new(&keys)));
    let v = Vault::create(&dir, &pin(), guarded_policy(), without).unwrap();
    v.put("a", &credential(1)).unwrap();
    let id = v.status().unwrap().vault_id;
    drop(v);
    let counter = keys.join(format!("{id}.counter"));
    assert!(!counter.exists());
    let older = snapshot(root.path());

    // The same secret, now from a store that keeps counters: opens, and the counter is set.
    let v = reopen(root.path());
    v.unlock(&pin()).unwrap();
    v.put("b", &credential(2)).unwrap();
    drop(v);
    assert!(counter.is_file());
    let newer = snapshot(root.path());

    put_back(&older);
    let e = reopen(root.path()).unlock(&pin()).unwrap_err();
    assert!(matches!(e, VaultError::RolledBack { .. }), "{e:?}");

    // The counter removed after it was taken up: tampering, not a vault from before counters.
    put_back(&newer);
    std::fs::remove_file(&counter).unwrap();
    let e = reopen(root.path()).unlock(&pin()).unwrap_err();
    assert!(matches!(e, VaultError::Tampered(_)), "{e:?}");
    assert!(e.to_string().contains("counter"), "{e}");

    // What remains (docs/VAULT.md): a copy from before the counter was taken up, put back with
    // the counter removed, is taken for what it was then. Only that window: after the first
    // unlock with a keeping store, every copy carries the flag.
    put_back(&older);
    let v = reopen(root.path());
    v.unlock(&pin()).unwrap();
    assert_eq!(v.get::<Credential>("b").unwrap(), None);
}
