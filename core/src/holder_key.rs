//! Holder keys: the P-256 keys credentials are bound to (`cnf.jwk`), which sign key-binding
//! JWTs, OpenID4VCI key proofs and mandates.
//!
//! Two kinds live side by side:
//! - the **wallet key** (`holder-key-primary`): made in software at [`Wallet::create`] and sealed
//!   in the vault. It is the wallet's identity in delegation (a helper's key, the key that signs
//!   the citizen's mandate status list and opens packages and receipts, which needs ECDH-ES in
//!   software) and the key a credential imported by hand is bound to
//!   ([`Wallet::holder_public_jwk`]).
//! - **credential keys**, made by the wallet's [`HolderKeyStore`]: copy 0 of every collected
//!   credential is bound to the wallet's *primary credential key*, every further batch copy to a
//!   fresh key of its own (presentations of different copies cannot be linked through `cnf`). The
//!   primary is shared so that credentials shown together (the offline QR's three) carry one
//!   `cnf`, which the QR's compression needs (docs/PRESENTING.md); with the software store
//!   ([`SoftwareHolderKeyStore`], the default) it is the wallet key, as before. With a device
//!   store (the apps' Android Keystore or Secure Enclave through the bindings) the primary is a
//!   device key made at the first collect, and no private key ever leaves the device: the vault
//!   keeps only each key's id, public key and attestation.
//!
//! Every signature a device store returns is checked against the public key it was to be made
//! with before it is used: a store that signs with another key, over other bytes, or returns
//! garbage is refused before anything is sent ([`Error::HolderKey`]).

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use kluis_sdjwt::{PublicJwk, SdJwtError, SigningKey, UnsignedJws, UnsignedPresentation};
use kluis_vault::{Record, Vault};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, Wallet};

/// Record id of the wallet key. Not personal data.
pub(crate) const PRIMARY_HOLDER_KEY_ID: &str = "holder-key-primary";
/// Record id of the primary credential key when a device store makes credential keys.
pub(crate) const PRIMARY_DEVICE_KEY_ID: &str = "holder-key-primary-device";

/// Whether `id` is a key shared by many credentials (never deleted with one of them).
pub(crate) fn is_shared_key(id: &str) -> bool {
    id == PRIMARY_HOLDER_KEY_ID || id == PRIMARY_DEVICE_KEY_ID
}

/// Where a store keeps its private keys, which decides whether they travel with the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    /// Sealed in the vault (the software store): travels with the vault file and its backups.
    #[default]
    Vault,
    /// In the device's key store (Android Keystore, Secure Enclave): never leaves the device. A
    /// vault restored on another device cannot use these keys.
    Device,
}

/// Why a key store could not make, use or delete a key. No key material, no personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HolderKeyError {
    /// The key is bound to user authentication (biometrics or device credential) and the user
    /// has not authenticated: the app asks and tries again.
    #[error("the key needs the user to authenticate first")]
    UserAuthenticationRequired,
    /// The user or the app cancelled (a dismissed prompt, a cancelled task).
    #[error("cancelled")]
    Cancelled,
    /// The store did not answer in time.
    #[error("the key store did not answer in time")]
    Timeout,
    /// The store no longer has the key (deleted, or invalidated by a change of the screen lock).
    #[error("the key is gone from the key store")]
    KeyGone,
    /// Anything else (no secure hardware, a store failure); `reason` is for the log.
    #[error("key store unavailable: {0}")]
    Unavailable(String),
}

/// A key just made by a [`HolderKeyStore`].
pub struct NewHolderKey {
    /// Its public key.
    pub public_jwk: PublicJwk,
    /// What the vault keeps, sealed, for the store to find the key again (handed back to `sign`
    /// and `delete_key`): the PKCS#8 private key for the software store; for a device store
    /// usually empty (the key id names the key).
    pub handle: Zeroizing<Vec<u8>>,
    /// The platform's key attestation chain (DER X.509 certificates, leaf first), empty where
    /// the platform has none.
    pub attestation: Vec<Vec<u8>>,
}

/// Makes, uses and deletes credential keys. Implemented by [`SoftwareHolderKeyStore`] and, in
/// the bindings, over the app's platform key store.
///
/// Calls come from the thread running a wallet call, which is never an app's UI thread (the
/// bindings run every wallet call on a background pool): a store may block, e.g. while the app
/// shows an authentication prompt.
pub trait HolderKeyStore: Send + Sync {
    /// Where this store keeps private keys.
    fn location(&self) -> KeyLocation;

    /// Makes a new non-exportable P-256 signing key named `key_id` (unique, chosen by the
    /// wallet). `attestation_challenge`, when given, goes into the platform's key attestation.
    fn create_key(
        &self,
        key_id: &str,
        attestation_challenge: Option<&[u8]>,
    ) -> Result<NewHolderKey, HolderKeyError>;

    /// An ES256 signature (SHA-256, ECDSA P-256; ASN.1 DER or raw r‖s) over `signing_input`
    /// with the key `key_id`, whose [`NewHolderKey::handle`] is `handle`.
    fn sign(
        &self,
        key_id: &str,
        handle: &[u8],
        signing_input: &[u8],
    ) -> Result<Vec<u8>, HolderKeyError>;

    /// Deletes the key. Deleting a key that is already gone is not an error.
    fn delete_key(&self, key_id: &str, handle: &[u8]) -> Result<(), HolderKeyError>;
}

/// The software store: keys made with OpenSSL; the private key is the handle, which the vault
/// seals. For the CLI, tests, and devices without secure hardware.
#[derive(Debug, Default, Clone, Copy)]
pub struct SoftwareHolderKeyStore;

impl HolderKeyStore for SoftwareHolderKeyStore {
    fn location(&self) -> KeyLocation {
        KeyLocation::Vault
    }

    fn create_key(&self, _: &str, _: Option<&[u8]>) -> Result<NewHolderKey, HolderKeyError> {
        let key = SigningKey::make_random()
            .map_err(|_| HolderKeyError::Unavailable("making a P-256 key".into()))?;
        Ok(NewHolderKey {
            public_jwk: key.public_jwk(),
            handle: key.to_pkcs8_der(),
            attestation: Vec::new(),
        })
    }

    fn sign(&self, _: &str, handle: &[u8], input: &[u8]) -> Result<Vec<u8>, HolderKeyError> {
        let key = SigningKey::from_pkcs8_der(handle).map_err(|_| HolderKeyError::KeyGone)?;
        key.sign_es256(input)
            .map(|sig| sig.to_vec())
            .map_err(|_| HolderKeyError::Unavailable("signing".into()))
    }

    fn delete_key(&self, _: &str, _: &[u8]) -> Result<(), HolderKeyError> {
        // The key is its sealed record: deleting the record deletes the key.
        Ok(())
    }
}

/// The sealed record of one holder key. Zeroized on drop, no `Debug`.
///
/// First format: `{pkcs8_b64}` (software keys only); still read.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct HolderKeyRecord {
    #[serde(default)]
    #[zeroize(skip)]
    location: KeyLocation,
    /// The store's handle, base64: the PKCS#8 private key for software keys.
    #[serde(alias = "pkcs8_b64")]
    handle_b64: String,
    /// The key's name in its store when it is not the record id (the primary device key: a
    /// random name, unique across wallets on one device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alias: Option<String>,
    /// The public key (JWK JSON); absent in first-format records (derived from the private key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public_jwk: Option<String>,
    /// The platform's attestation chain (base64 DER, leaf first), for OpenID4VCI key attestation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    attestation_b64: Vec<String>,
}

impl Record for HolderKeyRecord {
    const KIND: &'static str = "holder_key";
}

impl HolderKeyRecord {
    /// Where the private key lives (a device key does not travel in a backup).
    pub(crate) fn location(&self) -> KeyLocation {
        self.location
    }

    /// The record of a software key (the wallet key).
    pub(crate) fn seal(key: &SigningKey) -> Self {
        HolderKeyRecord {
            location: KeyLocation::Vault,
            handle_b64: STANDARD.encode(&key.to_pkcs8_der()[..]),
            alias: None,
            public_jwk: Some(key.public_jwk().to_value().to_string()),
            attestation_b64: Vec::new(),
        }
    }

    fn handle(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        STANDARD
            .decode(&self.handle_b64)
            .map(Zeroizing::new)
            .map_err(|_| Error::Integrity {
                record: "holder_key record (encoding)".into(),
            })
    }

    fn software_key(&self) -> Result<SigningKey, Error> {
        SigningKey::from_pkcs8_der(&self.handle()?).map_err(|_| Error::Integrity {
            record: "holder_key record (key)".into(),
        })
    }

    fn public(&self) -> Result<PublicJwk, Error> {
        match (&self.public_jwk, self.location) {
            (Some(j), _) => PublicJwk::from_json(j).map_err(|_| Error::Integrity {
                record: "holder_key record (public key)".into(),
            }),
            (None, KeyLocation::Vault) => Ok(self.software_key()?.public_jwk()),
            (None, KeyLocation::Device) => Err(Error::Integrity {
                record: "holder_key record (no public key)".into(),
            }),
        }
    }

    /// The software private key, for the wallet key's uses that need it in software (ECDH).
    pub(crate) fn signing_key(&self) -> Result<SigningKey, Error> {
        if self.location != KeyLocation::Vault {
            return Err(Error::Internal {
                reason: "a device holder key has no private key here".into(),
            });
        }
        self.software_key()
    }
}

/// A holder key ready to sign: its id, public key and sealed record.
pub(crate) struct HolderKey {
    /// Its vault record id.
    pub id: String,
    pub public: PublicJwk,
    pub record: HolderKeyRecord,
    /// The platform's attestation chain (DER), for OpenID4VCI key attestation (issue 16).
    #[allow(dead_code)]
    pub attestation: Vec<Vec<u8>>,
}

impl HolderKey {
    /// Its name in its store.
    fn alias(&self) -> &str {
        self.record.alias.as_deref().unwrap_or(&self.id)
    }

    fn from_record(id: &str, record: HolderKeyRecord) -> Result<HolderKey, Error> {
        Ok(HolderKey {
            id: id.to_string(),
            public: record.public()?,
            attestation: record
                .attestation_b64
                .iter()
                .filter_map(|c| STANDARD.decode(c).ok())
                .collect(),
            record,
        })
    }
}

/// Maps a key store's failure for the citizen; `what` says what was being signed.
fn store_error(e: HolderKeyError, what: &str) -> Error {
    match e {
        HolderKeyError::UserAuthenticationRequired => Error::UserAuthenticationRequired,
        HolderKeyError::Cancelled => Error::Cancelled,
        other => Error::HolderKey {
            reason: format!("{what}: {other}"),
        },
    }
}

impl Wallet {
    /// The store new credential keys are made in (software unless the app set one).
    pub(crate) fn holder_key_store(&self) -> &Arc<dyn HolderKeyStore> {
        &self.holder_keys
    }

    /// Loads the holder key whose record is `id`.
    pub(crate) fn load_holder_key(&self, id: &str) -> Result<HolderKey, Error> {
        let rec: HolderKeyRecord = self.vault.get(id)?.ok_or_else(|| Error::Integrity {
            record: "holder_key record missing".into(),
        })?;
        HolderKey::from_record(id, rec)
    }

    /// The wallet key (software): for delegation and credentials imported by hand.
    pub(crate) fn holder_key(&self) -> Result<SigningKey, Error> {
        self.load_holder_key(PRIMARY_HOLDER_KEY_ID)?
            .record
            .signing_key()
    }

    /// The key a credential (or copy) whose record names `key_id` is bound to; `None` is the
    /// wallet key (credentials imported by hand or collected with the software store).
    pub(crate) fn credential_key(&self, key_id: Option<&str>) -> Result<HolderKey, Error> {
        self.load_holder_key(key_id.unwrap_or(PRIMARY_HOLDER_KEY_ID))
    }

    /// The key copy 0 of a collected credential is bound to: the wallet key with the software
    /// store; with a device store its primary device key, made (and its record stored, in a
    /// transaction of its own) the first time.
    pub(crate) fn primary_credential_key(&self) -> Result<HolderKey, Error> {
        if self.holder_key_store().location() == KeyLocation::Vault {
            return self.load_holder_key(PRIMARY_HOLDER_KEY_ID);
        }
        // One at a time: two collects at once must not make two primaries.
        let _one = self
            .primary_device_key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if self
            .vault
            .get::<HolderKeyRecord>(PRIMARY_DEVICE_KEY_ID)?
            .is_some()
        {
            return self.load_holder_key(PRIMARY_DEVICE_KEY_ID);
        }
        let alias = format!("holder-key-{}", Vault::new_record_id());
        let key = self.make_key(PRIMARY_DEVICE_KEY_ID, Some(alias), None)?;
        if let Err(e) = self
            .vault
            .write(|tx| tx.put(PRIMARY_DEVICE_KEY_ID, &key.record))
        {
            self.forget_holder_keys([&key]);
            return Err(e.into());
        }
        Ok(key)
    }

    /// Makes a fresh credential key in the wallet's store; nothing is written to the vault
    /// (the caller seals [`HolderKey::record`] with the credential it binds, or forgets it).
    pub(crate) fn new_credential_key(
        &self,
        attestation_challenge: Option<&[u8]>,
    ) -> Result<HolderKey, Error> {
        let id = format!("holder-key-{}", Vault::new_record_id());
        self.make_key(&id, None, attestation_challenge)
    }

    fn make_key(
        &self,
        id: &str,
        alias: Option<String>,
        attestation_challenge: Option<&[u8]>,
    ) -> Result<HolderKey, Error> {
        let store = self.holder_key_store();
        let made = store
            .create_key(alias.as_deref().unwrap_or(id), attestation_challenge)
            .map_err(|e| store_error(e, "making a holder key"))?;
        let attestation_b64 = made
            .attestation
            .iter()
            .map(|c| STANDARD.encode(c))
            .collect();
        Ok(HolderKey {
            record: HolderKeyRecord {
                location: store.location(),
                handle_b64: STANDARD.encode(&made.handle[..]),
                alias,
                public_jwk: Some(made.public_jwk.to_value().to_string()),
                attestation_b64,
            },
            public: made.public_jwk,
            attestation: made.attestation,
            id: id.to_string(),
        })
    }

    /// The keys of `ids` that load, to forget after their records are deleted.
    pub(crate) fn load_keys<S: AsRef<str>>(
        &self,
        ids: impl IntoIterator<Item = S>,
    ) -> Vec<HolderKey> {
        ids.into_iter()
            .filter_map(|id| self.load_holder_key(id.as_ref()).ok())
            .collect()
    }

    /// A ledger of the device keys one operation makes: deleted again when it is dropped,
    /// unless the operation stored them ([`MadeKeys::keep`]). A failed, cancelled or timed-out
    /// collect so leaves neither records nor keys behind.
    pub(crate) fn made_keys(&self) -> MadeKeys {
        MadeKeys {
            store: Arc::clone(&self.holder_keys),
            keys: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Deletes keys from their store after their records are gone (or were never written).
    /// Best effort: a key left behind in a device store is unusable without its record.
    pub(crate) fn forget_holder_keys<'a>(&self, keys: impl IntoIterator<Item = &'a HolderKey>) {
        for k in keys {
            if k.record.location == KeyLocation::Device {
                if let Ok(h) = k.record.handle() {
                    let _ = self.holder_key_store().delete_key(k.alias(), &h);
                }
            }
        }
    }

    /// A raw ES256 signature by `key` over `input`, checked to verify under its public key.
    fn holder_signature(
        &self,
        key: &HolderKey,
        input: &[u8],
        what: &str,
    ) -> Result<[u8; 64], Error> {
        let handle = key.record.handle()?;
        let sig = match key.record.location {
            KeyLocation::Vault => SoftwareHolderKeyStore.sign(key.alias(), &handle, input),
            KeyLocation::Device => {
                let store = self.holder_key_store();
                if store.location() != KeyLocation::Device {
                    return Err(Error::HolderKey {
                        reason: format!(
                            "{what}: the key is in the device key store, which this wallet was opened without"
                        ),
                    });
                }
                store.sign(key.alias(), &handle, input)
            }
        }
        .map_err(|e| store_error(e, what))?;
        kluis_sdjwt::es256_signature_from_platform(&sig)
            .ok()
            .filter(|raw| key.public.verify_es256(input, raw))
            .ok_or_else(|| foreign_signature(what))
    }

    /// Signs `jws` with `key`.
    pub(crate) fn sign_jws(
        &self,
        key: &HolderKey,
        jws: UnsignedJws,
        what: &str,
    ) -> Result<String, Error> {
        if key.record.location == KeyLocation::Vault {
            // In-core key: no second check needed (and no extra verify on the hot path).
            return jws
                .sign(&key.record.software_key()?)
                .map_err(|_| Error::Internal {
                    reason: format!("{what}: signing"),
                });
        }
        let sig = self.holder_signature(key, jws.signing_input(), what)?;
        jws.finish(&sig, &key.public)
            .map_err(|_| foreign_signature(what))
    }

    /// Completes a presentation with its key-binding JWT signed by `key`, which must be the key
    /// the presentation expects (the credential's `cnf.jwk`).
    pub(crate) fn sign_presentation(
        &self,
        key: &HolderKey,
        p: UnsignedPresentation,
    ) -> Result<String, Error> {
        if p.signer() != &key.public {
            return Err(Error::Integrity {
                record: format!("holder_key {} (not the credential's cnf key)", key.id),
            });
        }
        if key.record.location == KeyLocation::Vault {
            return p
                .sign(&key.record.software_key()?)
                .map_err(|e| Error::invalid_input(e.to_string()));
        }
        let sig = self.holder_signature(key, p.signing_input(), "key-binding JWT")?;
        p.finish(&sig).map_err(|e| match e {
            SdJwtError::ForeignSignature => foreign_signature("key-binding JWT"),
            other => Error::invalid_input(other.to_string()),
        })
    }
}

/// See [`Wallet::made_keys`].
pub(crate) struct MadeKeys {
    store: Arc<dyn HolderKeyStore>,
    keys: std::sync::Mutex<Vec<(String, Zeroizing<Vec<u8>>)>>,
}

impl MadeKeys {
    /// Notes a key just made.
    pub(crate) fn note(&self, key: &HolderKey) {
        if key.record.location != KeyLocation::Device {
            return;
        }
        if is_shared_key(&key.id) {
            return;
        }
        if let (Ok(handle), Ok(mut keys)) = (key.record.handle(), self.keys.lock()) {
            keys.push((key.alias().to_string(), handle));
        }
    }

    /// The keys were stored with their credentials: keep them.
    pub(crate) fn keep(&self) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.clear();
        }
    }
}

impl Drop for MadeKeys {
    fn drop(&mut self) {
        let keys = match self.keys.get_mut() {
            Ok(k) => std::mem::take(k),
            Err(p) => std::mem::take(p.into_inner()),
        };
        for (id, handle) in keys {
            // Best effort: without its record the key is unusable anyway.
            let _ = self.store.delete_key(&id, &handle);
        }
    }
}

fn foreign_signature(what: &str) -> Error {
    Error::HolderKey {
        reason: format!(
            "{what}: the key store's signature does not verify under the holder key; nothing was sent"
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn first_format_records_still_read_as_software_keys() {
        let key = SigningKey::make_random().unwrap();
        let old = serde_json::json!({"pkcs8_b64": STANDARD.encode(&key.to_pkcs8_der()[..])});
        let rec: HolderKeyRecord = serde_json::from_value(old).unwrap();
        let k = HolderKey::from_record("holder-key-x", rec).unwrap();
        assert_eq!(k.public, key.public_jwk());
        assert_eq!(k.record.location, KeyLocation::Vault);
        assert_eq!(k.alias(), "holder-key-x");
        assert_eq!(
            k.record.signing_key().unwrap().public_jwk(),
            key.public_jwk()
        );
    }

    #[test]
    fn a_device_record_holds_no_private_key_and_refuses_to_give_one() {
        let key = SigningKey::make_random().unwrap();
        let rec = HolderKeyRecord {
            location: KeyLocation::Device,
            handle_b64: String::new(),
            alias: Some("holder-key-abc".into()),
            public_jwk: Some(key.public_jwk().to_value().to_string()),
            attestation_b64: vec![STANDARD.encode(b"cert")],
        };
        let json = serde_json::to_value(&rec).unwrap();
        assert_eq!(json["location"], "device");
        assert!(rec.signing_key().is_err());
        let k = HolderKey::from_record(PRIMARY_DEVICE_KEY_ID, rec).unwrap();
        assert_eq!(k.alias(), "holder-key-abc");
        assert_eq!(k.attestation, vec![b"cert".to_vec()]);
    }
}
