//! The FFI layer from Rust: the async wrappers, the error mapping and the key-store adapter.
//! (The same story runs from Kotlin and Python in bindings/test-foreign.sh.)
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kluis_ffi::{
    dangerous_test_wallet_options, software_key_store, wallet_exists, DeviceKeyStore,
    DeviceKeyStoreError, KluisError, Wallet, DEFAULT_HOLDER_KEY_TIMEOUT_MS,
};

const PIN: &str = "246810";

/// A "platform" key store written against the foreign trait, as an app would.
#[derive(Default)]
struct MapKeyStore {
    secrets: Mutex<HashMap<String, Vec<u8>>>,
    unavailable: Mutex<bool>,
}

impl DeviceKeyStore for MapKeyStore {
    fn device_secret(&self, vault_id: String) -> Result<Vec<u8>, DeviceKeyStoreError> {
        if *self.unavailable.lock().unwrap() {
            return Err(DeviceKeyStoreError::Unavailable {
                reason: "locked device".into(),
            });
        }
        let mut m = self.secrets.lock().unwrap();
        Ok(m.entry(vault_id).or_insert_with(|| vec![7u8; 32]).clone())
    }

    fn delete_device_secret(&self, vault_id: String) -> Result<(), DeviceKeyStoreError> {
        self.secrets.lock().unwrap().remove(&vault_id);
        Ok(())
    }

    // A store that keeps no rollback counter: the wallet checks the file's seal only.
    fn keeps_rollback_counter(&self) -> bool {
        false
    }

    fn rollback_counter(&self, _vault_id: String) -> Result<Option<u64>, DeviceKeyStoreError> {
        Ok(None)
    }

    fn raise_rollback_counter(
        &self,
        _vault_id: String,
        _value: u64,
    ) -> Result<(), DeviceKeyStoreError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pin_maps_with_attempts_left_and_wipe_retires_the_handle() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault").to_string_lossy().into_owned();
    let keys = software_key_store(tmp.path().join("keys").to_string_lossy().into_owned());
    let wallet = Wallet::create(
        dir.clone(),
        PIN.into(),
        dangerous_test_wallet_options(),
        keys,
        None,
        DEFAULT_HOLDER_KEY_TIMEOUT_MS,
    )
    .await
    .unwrap();
    wallet.lock();
    assert_eq!(
        wallet.unlock("000000".into()).await,
        Err(KluisError::WrongPin {
            attempts_left: Some(9),
            retry_after_secs: 0
        })
    );
    wallet.unlock(PIN.into()).await.unwrap();
    assert!(wallet.is_unlocked());
    wallet.wipe().await.unwrap();
    assert!(!wallet_exists(dir));
    assert_eq!(wallet.status().await, Err(KluisError::Wiped));
    assert_eq!(wallet.wipe().await, Err(KluisError::Wiped));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_key_store_supplies_and_deletes_the_device_secret() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("vault").to_string_lossy().into_owned();
    let store = Arc::new(MapKeyStore::default());
    let wallet = Wallet::create(
        dir.clone(),
        PIN.into(),
        dangerous_test_wallet_options(),
        store.clone(),
        None,
        DEFAULT_HOLDER_KEY_TIMEOUT_MS,
    )
    .await
    .unwrap();
    assert_eq!(store.secrets.lock().unwrap().len(), 1);
    wallet.lock();
    *store.unavailable.lock().unwrap() = true;
    assert!(matches!(
        wallet.unlock(PIN.into()).await,
        Err(KluisError::Internal { .. })
    ));
    *store.unavailable.lock().unwrap() = false;
    wallet.unlock(PIN.into()).await.unwrap();
    wallet.wipe().await.unwrap();
    assert!(store.secrets.lock().unwrap().is_empty());
}
