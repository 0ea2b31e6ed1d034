//! Holder keys in a device key store (issue 14 item 1) over real OpenID4VCI and OpenID4VP on
//! loopback. `DeviceKeys` stands in for the Android Keystore / Secure Enclave the apps pass
//! through the bindings: it makes P-256 keys with OpenSSL and never hands out a private key;
//! the core only sees public keys and signatures. Each fault a real key store shows (fails,
//! needs the user, is cancelled, times out, signs with another key, returns garbage) is a
//! typed error that leaves the vault as it was, with no key left behind and nothing sent.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kluis_core::audit::AuditEvent;
use kluis_core::sdjwt::{PublicJwk, SigningKey};
use kluis_core::verifier::{self, Expectations};
use kluis_core::{
    Error, HolderKeyError, HolderKeyStore, KeyLocation, NewHolderKey, SoftwareDeviceSecretStore,
    Wallet,
};
use kluis_fixtures::servers::{trust_from_holders, Network, LANDLORD};
use kluis_tests::collecting::*;

/// What the stand-in key store does wrong, if anything.
#[derive(Clone, Debug, PartialEq)]
enum StoreFault {
    None,
    /// `create_key` fails from the n-th key on (0-based).
    CreateFailsFrom(usize, HolderKeyError),
    /// Every `sign` fails with this error.
    SignFails(HolderKeyError),
    /// Signs with a key of its own, not the one it returned at creation.
    WrongKey,
    /// Returns bytes that are no signature.
    Garbage,
}

#[derive(Default)]
struct DeviceKeys {
    keys: Mutex<HashMap<String, SigningKey>>,
    fault: Mutex<Option<StoreFault>>,
    created: AtomicUsize,
    signed: AtomicUsize,
    deleted: AtomicUsize,
}

impl DeviceKeys {
    fn set(&self, f: StoreFault) {
        *self.fault.lock().unwrap() = Some(f);
    }
    fn fault(&self) -> StoreFault {
        self.fault
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(StoreFault::None)
    }
    fn key_count(&self) -> usize {
        self.keys.lock().unwrap().len()
    }
    fn publics(&self) -> Vec<String> {
        let keys = self.keys.lock().unwrap();
        keys.values().map(|k| k.public_jwk().thumbprint()).collect()
    }
}

impl HolderKeyStore for DeviceKeys {
    fn location(&self) -> KeyLocation {
        KeyLocation::Device
    }

    fn create_key(
        &self,
        key_id: &str,
        _challenge: Option<&[u8]>,
    ) -> Result<NewHolderKey, HolderKeyError> {
        let n = self.created.fetch_add(1, Ordering::SeqCst);
        if let StoreFault::CreateFailsFrom(from, e) = self.fault() {
            if n >= from {
                return Err(e);
            }
        }
        let key = SigningKey::make_random().unwrap();
        let public = key.public_jwk();
        self.keys.lock().unwrap().insert(key_id.to_string(), key);
        Ok(NewHolderKey {
            public_jwk: public,
            handle: Default::default(),
            attestation: vec![b"leaf certificate".to_vec(), b"root".to_vec()],
        })
    }

    fn sign(&self, key_id: &str, handle: &[u8], input: &[u8]) -> Result<Vec<u8>, HolderKeyError> {
        assert!(handle.is_empty(), "a device store's handle is what it gave");
        self.signed.fetch_add(1, Ordering::SeqCst);
        match self.fault() {
            StoreFault::SignFails(e) => return Err(e),
            StoreFault::WrongKey => {
                return Ok(SigningKey::make_random()
                    .unwrap()
                    .sign_es256(input)
                    .unwrap()
                    .to_vec())
            }
            StoreFault::Garbage => return Ok(vec![0x30, 0x03, 0x02, 0x01, 0x00]),
            _ => {}
        }
        let keys = self.keys.lock().unwrap();
        let key = keys.get(key_id).ok_or(HolderKeyError::KeyGone)?;
        Ok(key.sign_es256(input).unwrap().to_vec())
    }

    fn delete_key(&self, key_id: &str, _handle: &[u8]) -> Result<(), HolderKeyError> {
        self.deleted.fetch_add(1, Ordering::SeqCst);
        self.keys.lock().unwrap().remove(key_id);
        Ok(())
    }
}

fn device_wallet() -> (tempfile::TempDir, Wallet, Arc<DeviceKeys>) {
    let (dir, wallet) = new_wallet();
    let store = Arc::new(DeviceKeys::default());
    (dir, wallet.with_holder_key_store(store.clone()), store)
}

async fn device_wallet_with_scheme(net: &Network) -> (tempfile::TempDir, Wallet, Arc<DeviceKeys>) {
    let (dir, wallet, store) = device_wallet();
    kluis_tests::pin_scheme(&wallet, &net.scheme, quick_http()).await;
    (dir, wallet, store)
}

async fn collect(net: &Network, wallet: &Wallet, holder: &str) -> Result<(), Error> {
    let offer = net.holder(holder).unwrap().offer(CITIZEN).unwrap();
    wallet
        .collect(&offer.offer_uri, Some(&offer.tx_code), options())
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_copy_is_bound_to_its_own_device_key_which_signs_proofs_and_presentations() {
    let net = network().await;
    let (_dir, wallet, store) = device_wallet_with_scheme(&net).await;
    collect(&net, &wallet, "duo").await.unwrap();
    let duo = net.holder("duo").unwrap();
    let archive = duo.archive();
    let copies = archive.len();
    assert!(copies >= 2, "the DUO issues batches");
    // One device key per copy (copy 0: the wallet's primary device key), each the cnf of
    // exactly one copy; none is the (software) wallet key.
    assert_eq!(store.key_count(), copies);
    let mut publics = store.publics();
    publics.sort();
    let mut bound: Vec<String> = archive
        .iter()
        .map(|a| a.holder_key_thumbprint.clone())
        .collect();
    bound.sort();
    assert_eq!(publics, bound);
    let wallet_key = PublicJwk::from_json(&wallet.holder_public_jwk().unwrap()).unwrap();
    assert!(!bound.contains(&wallet_key.thumbprint()));
    // The key proofs were signed by the store: one signature per copy.
    assert_eq!(store.signed.load(Ordering::SeqCst), copies);

    // A presentation's KB-JWT is signed by the device key and verifies at a party.
    let id = wallet.credentials("nl").unwrap()[0].id.clone();
    let p = wallet
        .present(&id, &[], "n-1", "https://rp.example")
        .unwrap();
    let v = verifier::verify_online(
        &p,
        &trust_from_holders(&net.holders).issuers,
        &Expectations::new("n-1", "https://rp.example"),
        None,
        Default::default(),
    )
    .await
    .unwrap();
    assert!(bound.contains(&v.holder_jwk.as_ref().unwrap().thumbprint()));
    assert_eq!(store.signed.load(Ordering::SeqCst), copies + 1);

    // Deleting the credential deletes its copies' device keys; the primary stays for the
    // next credential, which is bound to it too.
    let primary = v.holder_jwk.unwrap().thumbprint();
    wallet.delete_credential(&id).unwrap();
    assert_eq!(store.publics(), vec![primary.clone()]);
    collect(&net, &wallet, "uwv").await.unwrap();
    let uwv = net.holder("uwv").unwrap().archive();
    assert!(uwv.iter().any(|a| a.holder_key_thumbprint == primary));
    assert_eq!(store.key_count(), uwv.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_key_store_mid_collect_leaves_the_vault_and_the_store_as_they_were() {
    let net = network().await;
    let (_dir, wallet, store) = device_wallet_with_scheme(&net).await;
    let duo = net.holder("duo").unwrap();
    let cases = [
        (
            StoreFault::CreateFailsFrom(1, HolderKeyError::Unavailable("no StrongBox".into())),
            "making a holder key",
        ),
        (
            StoreFault::SignFails(HolderKeyError::Timeout),
            "did not answer in time",
        ),
        (StoreFault::SignFails(HolderKeyError::KeyGone), "gone"),
        (StoreFault::WrongKey, "does not verify"),
        (StoreFault::Garbage, "does not verify"),
    ];
    // The primary device key is made at the first collect (in its own transaction) and kept;
    // every other key made by a failed collect is deleted again.
    let mut primary: Option<Vec<String>> = None;
    for (fault, reason) in cases {
        let before = wallet.audit_log().unwrap().len();
        store.set(fault.clone());
        let err = collect(&net, &wallet, "duo").await.unwrap_err();
        assert!(
            matches!(&err, Error::HolderKey { reason: r } if r.contains(reason)),
            "{fault:?}: {err}"
        );
        assert_unchanged(&wallet, before);
        let left = store.publics();
        assert_eq!(left.len(), 1, "{fault:?}: keys left in the store");
        assert_eq!(primary.get_or_insert(left.clone()), &left);
        // Refused before the credential request: the holder issued nothing.
        assert!(duo.archive().is_empty(), "{fault:?}");
    }
    for (e, want) in [
        (
            HolderKeyError::UserAuthenticationRequired,
            Error::UserAuthenticationRequired,
        ),
        (HolderKeyError::Cancelled, Error::Cancelled),
    ] {
        let before = wallet.audit_log().unwrap().len();
        store.set(StoreFault::SignFails(e));
        assert_eq!(collect(&net, &wallet, "duo").await.unwrap_err(), want);
        assert_unchanged(&wallet, before);
        assert_eq!(store.key_count(), 1);
    }
    assert_eq!(
        Error::UserAuthenticationRequired.code(),
        kluis_core::ErrorCode::Authentication
    );
    // The same store, behaving again: the collect works.
    store.set(StoreFault::None);
    collect(&net, &wallet, "duo").await.unwrap();
    assert_eq!(store.key_count(), duo.archive().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_signature_at_presentation_time_is_refused_before_anything_is_sent() {
    let net = network().await;
    let (_dir, wallet, store) = device_wallet_with_scheme(&net).await;
    for h in ["gemeente-utrecht", "uwv", "cak"] {
        collect(&net, &wallet, h).await.unwrap();
    }
    let landlord = net.verifier(LANDLORD).unwrap().shared();
    let disclosed = |w: &Wallet| {
        w.audit_log()
            .unwrap()
            .iter()
            .filter(|e| matches!(e.event, AuditEvent::Disclosed { .. }))
            .count()
    };
    for fault in [
        StoreFault::WrongKey,
        StoreFault::Garbage,
        StoreFault::SignFails(HolderKeyError::UserAuthenticationRequired),
    ] {
        store.set(fault.clone());
        let session = landlord.new_session().await.unwrap();
        let req = wallet
            .start_presentation_with(&session.request_uri, "en", quick_http())
            .await
            .unwrap();
        let err = wallet
            .accept_presentation_with(&req, &req.default_choice(), quick_http())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::HolderKey { .. } | Error::UserAuthenticationRequired
            ),
            "{fault:?}: {err}"
        );
        assert_eq!(
            landlord.result(&session.state).await.unwrap().status,
            "pending"
        );
        assert_eq!(disclosed(&wallet), 0);
    }
    // Behaving again: the landlord verifies the presentation signed in the device store.
    store.set(StoreFault::None);
    let session = landlord.new_session().await.unwrap();
    let req = wallet
        .start_presentation_with(&session.request_uri, "en", quick_http())
        .await
        .unwrap();
    wallet
        .accept_presentation_with(&req, &req.default_choice(), quick_http())
        .await
        .unwrap();
    assert_eq!(
        landlord.result(&session.state).await.unwrap().status,
        "verified"
    );
    assert_eq!(disclosed(&wallet), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_keys_do_not_work_without_their_store_and_software_keys_keep_working() {
    let net = network().await;
    let (dir, wallet, _store) = device_wallet_with_scheme(&net).await;
    collect(&net, &wallet, "duo").await.unwrap();
    let id = wallet.credentials("nl").unwrap()[0].id.clone();
    drop(wallet);
    // Reopened without the device store (a restored backup on another phone): the key is not
    // in software, so presenting is a clear error, not a signature by some other key.
    let again = Wallet::open(
        dir.path(),
        Arc::new(SoftwareDeviceSecretStore::new(dir.path())),
    )
    .unwrap();
    again
        .unlock(&kluis_core::Pin::new(kluis_tests::PIN))
        .unwrap();
    let err = again
        .present(&id, &[], "n", "https://rp.example")
        .unwrap_err();
    assert!(
        matches!(&err, Error::HolderKey { reason } if reason.contains("device key store")),
        "{err}"
    );
    // A software wallet next to it collects and presents as before (keys sealed in the vault).
    let (_d2, soft) = wallet_with_scheme(&net).await;
    collect(&net, &soft, "duo").await.unwrap();
    let id = soft.credentials("nl").unwrap()[0].id.clone();
    soft.present(&id, &[], "n", "https://rp.example").unwrap();
}
