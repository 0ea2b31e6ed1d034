//! The vault's life: create, open, records, transactions, lookup ids, change PIN, device
//! secret, KDF parameters, wipe.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::*;
use kluis_vault::*;
use zeroize::Zeroizing;

#[test]
fn create_open_exists_and_errors() {
    let root = tempfile::tempdir().unwrap();
    let dir = vault_dir(root.path());
    assert!(!Vault::exists(&dir));
    assert_eq!(
        Vault::open(&dir, store(root.path())).err(),
        Some(VaultError::NotFound)
    );
    let v = new_vault(root.path(), test_options());
    assert!(v.is_unlocked());
    assert!(Vault::exists(&dir));
    assert_eq!(
        Vault::create(&dir, &pin(), test_options(), store(root.path())).err(),
        Some(VaultError::AlreadyExists)
    );
    // Only the database (and SQLite's side files) in the vault dir: no leftovers of creation.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.starts_with("vault.sqlite3"), "unexpected file {name}");
    }
    drop(v);
    let v = reopen(root.path());
    assert!(!v.is_unlocked());
    assert_eq!(v.get::<Credential>("abc").err(), Some(VaultError::Locked));
    assert_eq!(v.put("abc", &credential(1)).err(), Some(VaultError::Locked));
    assert_eq!(v.list::<Credential>().err(), Some(VaultError::Locked));
    assert_eq!(
        v.lookup_id("trusted_issuer", "x").err(),
        Some(VaultError::Locked)
    );
    v.unlock(&pin()).unwrap();
    assert!(v.is_unlocked());
}

#[test]
fn put_get_list_delete_in_insertion_order() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    let ids: Vec<RecordId> = (0..5).map(|_| Vault::new_record_id()).collect();
    for (i, id) in ids.iter().enumerate() {
        v.put(id, &credential(i)).unwrap();
    }
    v.put("language", &Setting { value: "nl".into() }).unwrap();
    // Replacing keeps the record's place.
    v.put(&ids[1], &credential(100)).unwrap();
    assert_eq!(v.get::<Credential>(&ids[1]).unwrap(), Some(credential(100)));
    assert_eq!(v.get::<Credential>("missing").unwrap(), None);
    // Same id, other kind: a different record.
    assert_eq!(v.get::<Setting>(&ids[0]).unwrap(), None);

    let listed: Vec<RecordId> = v
        .list::<Credential>()
        .unwrap()
        .into_iter()
        .map(|(id, r)| {
            r.unwrap();
            id
        })
        .collect();
    assert_eq!(listed, ids);

    assert!(v.delete::<Credential>(&ids[2]).unwrap());
    assert!(!v.delete::<Credential>(&ids[2]).unwrap());
    let new_id = Vault::new_record_id();
    v.put(&new_id, &credential(7)).unwrap();
    let listed: Vec<RecordId> = v
        .list::<Credential>()
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        listed,
        vec![
            ids[0].clone(),
            ids[1].clone(),
            ids[3].clone(),
            ids[4].clone(),
            new_id
        ]
    );

    let st = v.status().unwrap();
    assert_eq!(st.record_counts.get("credential"), Some(&5));
    assert_eq!(st.record_counts.get("setting"), Some(&1));
    assert!(st.unlocked);

    // Survives a restart.
    drop(v);
    let v = reopen(root.path());
    v.unlock(&pin()).unwrap();
    assert_eq!(v.list::<Credential>().unwrap().len(), 5);
    assert_eq!(v.get::<Setting>("language").unwrap().unwrap().value, "nl");
}

#[test]
fn invalid_names_refused() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    assert_eq!(
        v.put("has space", &credential(1)).err(),
        Some(VaultError::InvalidId)
    );
    assert_eq!(v.put("", &credential(1)).err(), Some(VaultError::InvalidId));
    assert_eq!(
        v.lookup_id("Bad Kind", "x").err(),
        Some(VaultError::InvalidKind)
    );
}

#[test]
fn write_transaction_is_atomic() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    v.put("keep", &credential(0)).unwrap();
    let r: Result<(), VaultError> = v.write(|tx| {
        tx.put("a", &credential(1))?;
        tx.delete::<Credential>("keep")?;
        assert_eq!(tx.get::<Credential>("a")?, Some(credential(1)));
        Err(VaultError::Encoding("caller gave up".into()))
    });
    assert!(r.is_err());
    assert_eq!(v.get::<Credential>("a").unwrap(), None);
    assert!(v.get::<Credential>("keep").unwrap().is_some());

    let n = v
        .write(|tx| {
            tx.put("a", &credential(1))?;
            tx.put("b", &credential(2))?;
            tx.put("s", &Setting { value: "x".into() })?;
            Ok(tx.list::<Credential>()?.len())
        })
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(v.list::<Credential>().unwrap().len(), 3);
}

#[test]
fn lookup_ids_are_stable_keyed_and_opaque() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    let a = v
        .lookup_id("trusted_issuer", "https://duo.example")
        .unwrap();
    assert_eq!(
        a,
        v.lookup_id("trusted_issuer", "https://duo.example")
            .unwrap()
    );
    assert_ne!(
        a,
        v.lookup_id("trusted_issuer", "https://uwv.example")
            .unwrap()
    );
    assert_ne!(a, v.lookup_id("credential", "https://duo.example").unwrap());
    assert_eq!(a.len(), 32);
    assert!(!a.contains("duo"));
    // Stable across lock/unlock and restart.
    drop(v);
    let v = reopen(root.path());
    v.unlock(&pin()).unwrap();
    assert_eq!(
        a,
        v.lookup_id("trusted_issuer", "https://duo.example")
            .unwrap()
    );
    // Another vault gives another id for the same natural key.
    let root2 = tempfile::tempdir().unwrap();
    let w = new_vault(root2.path(), test_options());
    assert_ne!(
        a,
        w.lookup_id("trusted_issuer", "https://duo.example")
            .unwrap()
    );
    // And it works as a record id.
    v.put(&a, &Setting { value: "x".into() }).unwrap();
}

#[test]
fn lock_drops_keys() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    v.put("a", &credential(1)).unwrap();
    v.lock();
    assert!(!v.is_unlocked());
    assert_eq!(v.get::<Credential>("a").err(), Some(VaultError::Locked));
    v.unlock(&pin()).unwrap();
    assert_eq!(v.get::<Credential>("a").unwrap(), Some(credential(1)));
}

#[test]
fn change_pin_rewraps_dek_only() {
    let root = tempfile::tempdir().unwrap();
    let v = new_vault(root.path(), test_options());
    for i in 0..3 {
        v.put(&format!("r{i}"), &credential(i)).unwrap();
    }
    let sealed_before: Vec<Vec<u8>> = raw(root.path())
        .prepare("SELECT sealed FROM records ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let (salt_before, wrapped_before): (Vec<u8>, Vec<u8>) = raw(root.path())
        .query_row("SELECT salt, wrapped_dek FROM header", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();

    let new_pin = Pin::new("13579-nieuw");
    assert!(matches!(
        v.change_pin(&Pin::new("000000"), &new_pin),
        Err(VaultError::WrongPin { .. })
    ));
    v.change_pin(&pin(), &new_pin).unwrap();

    let sealed_after: Vec<Vec<u8>> = raw(root.path())
        .prepare("SELECT sealed FROM records ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let (salt_after, wrapped_after): (Vec<u8>, Vec<u8>) = raw(root.path())
        .query_row("SELECT salt, wrapped_dek FROM header", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(sealed_before, sealed_after, "records must not be rewritten");
    assert_ne!(salt_before, salt_after, "a PIN change takes a fresh salt");
    assert_ne!(wrapped_before, wrapped_after);

    drop(v);
    let v = reopen(root.path());
    assert!(matches!(v.unlock(&pin()), Err(VaultError::WrongPin { .. })));
    v.unlock(&new_pin).unwrap();
    assert_eq!(v.status().unwrap().failed_attempts, 0);
    for i in 0..3 {
        assert_eq!(
            v.get::<Credential>(&format!("r{i}")).unwrap(),
            Some(credential(i))
        );
    }
}

struct FixedStore(Result<Vec<u8>, DeviceSecretError>);
impl DeviceSecretStore for FixedStore {
    fn device_secret(&self, _vault_id: &str) -> Result<Zeroizing<Vec<u8>>, DeviceSecretError> {
        self.0.clone().map(Zeroizing::new)
    }
    fn delete_device_secret(&self, _vault_id: &str) -> Result<(), DeviceSecretError> {
        Ok(())
    }
}

#[test]
fn device_secret_missing_or_different_is_a_typed_key_error() {
    let root = tempfile::tempdir().unwrap();
    let dir = vault_dir(root.path());
    let v = new_vault(root.path(), test_options());
    v.put("a", &credential(1)).unwrap();
    let vault_id = v.status().unwrap().vault_id;
    drop(v);

    // Another device's secret.
    let other = tempfile::tempdir().unwrap();
    let v = Vault::open(&dir, store(other.path())).unwrap();
    assert_eq!(v.unlock(&pin()).err(), Some(VaultError::DeviceKeyMismatch));
    assert_eq!(
        v.status().unwrap().failed_attempts,
        0,
        "not counted as a PIN attempt"
    );

    // The secret file lost: the software store makes a new one, which does not match.
    std::fs::remove_file(
        root.path()
            .join("keys")
            .join(format!("{vault_id}.device.key")),
    )
    .unwrap();
    let v = reopen(root.path());
    assert_eq!(v.unlock(&pin()).err(), Some(VaultError::DeviceKeyMismatch));

    // A key store that fails or returns too little.
    let fail: Arc<dyn DeviceSecretStore> = Arc::new(FixedStore(Err(
        DeviceSecretError::Unavailable("locked".into()),
    )));
    let v = Vault::open(&dir, fail).unwrap();
    assert!(matches!(
        v.unlock(&pin()),
        Err(VaultError::DeviceSecret(DeviceSecretError::Unavailable(_)))
    ));
    let short: Arc<dyn DeviceSecretStore> = Arc::new(FixedStore(Ok(vec![1; 8])));
    let v = Vault::open(&dir, short).unwrap();
    assert_eq!(
        v.unlock(&pin()).err(),
        Some(VaultError::DeviceSecret(DeviceSecretError::TooShort))
    );
    let short: Arc<dyn DeviceSecretStore> = Arc::new(FixedStore(Ok(vec![1; 8])));
    let other_dir = root.path().join("v2");
    assert_eq!(
        Vault::create(&other_dir, &pin(), test_options(), short).err(),
        Some(VaultError::DeviceSecret(DeviceSecretError::TooShort))
    );
    assert!(!Vault::exists(&other_dir));
}

#[test]
fn weak_kdf_params_refused_and_params_read_back() {
    let root = tempfile::tempdir().unwrap();
    let dir = vault_dir(root.path());
    for weak in [
        KdfParams {
            m_kib: 1024,
            t: 3,
            p: 1,
        },
        KdfParams {
            m_kib: 64 * 1024,
            t: 1,
            p: 4,
        },
        KdfParams {
            m_kib: 256,
            t: 1,
            p: 2,
        },
    ] {
        let opts = VaultOptions {
            kdf: weak,
            ..test_options()
        };
        assert!(matches!(
            Vault::create(&dir, &pin(), opts, store(root.path())),
            Err(VaultError::KdfParams(_))
        ));
        assert!(!Vault::exists(&dir));
    }
    let bad_policy = VaultOptions {
        policy: VaultPolicy {
            max_attempts: Some(0),
            ..VaultPolicy::default()
        },
        ..test_options()
    };
    assert!(matches!(
        Vault::create(&dir, &pin(), bad_policy, store(root.path())),
        Err(VaultError::InvalidPolicy(_))
    ));

    // The floor itself is accepted, and the vault remembers what it was made with.
    let floor = KdfParams {
        m_kib: KdfParams::MIN_M_KIB,
        t: KdfParams::MIN_T,
        p: 1,
    };
    let opts = VaultOptions {
        kdf: floor,
        ..test_options()
    };
    drop(Vault::create(&dir, &pin(), opts, store(root.path())).unwrap());
    let v = reopen(root.path());
    assert_eq!(v.status().unwrap().kdf, floor);
    assert_eq!(v.status().unwrap().policy, test_options().policy);
    v.unlock(&pin()).unwrap();
    drop(v);

    // A header edited to weak parameters is refused when opened.
    raw(root.path())
        .execute("UPDATE header SET kdf_m_kib = 1024", [])
        .unwrap();
    assert!(matches!(
        Vault::open(&dir, store(root.path())),
        Err(VaultError::Corrupt(_))
    ));
    // Edited within range: the file seal no longer matches, refused before the PIN is tried
    // (format 1 got WrongPin here: the parameters are also bound to the DEK wrap).
    raw(root.path())
        .execute(
            "UPDATE header SET kdf_m_kib = ?1",
            [KdfParams::MIN_M_KIB + 8],
        )
        .unwrap();
    let v = reopen(root.path());
    assert!(matches!(v.unlock(&pin()), Err(VaultError::Tampered(_))));
    assert_eq!(v.status().unwrap().failed_attempts, 0, "no attempt counted");
}

#[test]
fn wipe_deletes_files_and_device_secret() {
    let root = tempfile::tempdir().unwrap();
    let dir = vault_dir(root.path());
    let v = new_vault(root.path(), test_options());
    v.put("a", &credential(1)).unwrap();
    let vault_id = v.status().unwrap().vault_id;
    let key_file = root
        .path()
        .join("keys")
        .join(format!("{vault_id}.device.key"));
    assert!(key_file.exists());
    v.wipe().unwrap();
    assert!(!Vault::exists(&dir));
    assert!(!key_file.exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(
        Vault::open(&dir, store(root.path())).err(),
        Some(VaultError::NotFound)
    );
    // A new vault can be made in the same place.
    new_vault(root.path(), test_options());
}

#[test]
fn vault_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Vault>();
}
