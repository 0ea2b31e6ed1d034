//! The citizen's wallet: the use cases the apps and the `kluis` command drive.
//!
//! One [`Wallet`] wraps one vault. Every change that matters to the citizen is written in the same
//! vault transaction as its audit entry, so the log never misses an event and never records one that
//! did not happen.

use std::path::Path;
use std::sync::{Arc, RwLock};

use kluis_crypto::Pin;
use kluis_sdjwt::{ClaimPath, Credential, MetadataRegistry, SigningKey, VerifyOptions};
use kluis_vault::{DeviceSecretStore, Record, Vault, VaultOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::audit::{self, Actor, AuditEntry, AuditEvent};
use crate::credentials::{
    claim_views, CredentialDetails, CredentialSummary, HolderBinding, StoredCredential,
    StoredSummary,
};
use crate::holder_key::{
    HolderKeyRecord, HolderKeyStore, SoftwareHolderKeyStore, PRIMARY_HOLDER_KEY_ID,
};
use crate::trust::{TrustList, TrustedIssuer};
use crate::{now_unix, Error};

/// Largest credential the wallet accepts (the SD-JWT layer has its own, finer limits).
const MAX_CREDENTIAL_BYTES: usize = 256 * 1024;

/// The state of a wallet, for `kluis status` and the apps' lock screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WalletStatus {
    /// Whether the data key is in memory.
    pub unlocked: bool,
    /// Wrong PINs since the last right one.
    pub failed_attempts: u32,
    /// Seconds until the next PIN attempt is allowed (0: now).
    pub retry_after_secs: u64,
    /// Argon2id memory cost (KiB), iterations and lanes of this vault.
    pub kdf_m_kib: u32,
    /// Argon2id iterations.
    pub kdf_t: u32,
    /// Argon2id lanes.
    pub kdf_p: u32,
    /// Number of stored credentials.
    pub credentials: u64,
    /// Number of audit log entries.
    pub audit_entries: u64,
}

/// A citizen's wallet over one encrypted vault.
pub struct Wallet {
    pub(crate) vault: Vault,
    metadata: RwLock<Arc<MetadataRegistry>>,
    /// Where new credential keys are made (holder_key.rs).
    pub(crate) holder_keys: Arc<dyn HolderKeyStore>,
    /// Held while the primary device key is looked up or made.
    pub(crate) primary_device_key: std::sync::Mutex<()>,
    /// Held from the answered-nonce check until the answer is recorded, so two answers to one
    /// request (a double tap, two screens) cannot both be sent.
    pub(crate) answering: tokio::sync::Mutex<()>,
}

impl Wallet {
    /// Creates a new vault in `dir` protected by `pin`, makes the holder key, and returns it unlocked.
    pub fn create(
        dir: &Path,
        pin: &Pin,
        opts: VaultOptions,
        device: Arc<dyn DeviceSecretStore>,
    ) -> Result<Wallet, Error> {
        let vault = Vault::create(dir, pin, opts, device)?;
        let key = SigningKey::make_random().map_err(|e| Error::Internal {
            reason: format!("holder key: {e}"),
        })?;
        vault.write(|tx| {
            tx.put(PRIMARY_HOLDER_KEY_ID, &HolderKeyRecord::seal(&key))?;
            audit::append(tx, now_unix(), Actor::Citizen, AuditEvent::VaultCreated)?;
            Ok(())
        })?;
        Ok(Wallet::from_vault(vault))
    }

    /// Opens an existing vault, locked.
    pub fn open(dir: &Path, device: Arc<dyn DeviceSecretStore>) -> Result<Wallet, Error> {
        Ok(Wallet::from_vault(Vault::open(dir, device)?))
    }

    pub(crate) fn from_vault(vault: Vault) -> Wallet {
        Wallet {
            vault,
            metadata: RwLock::new(Arc::new(MetadataRegistry::default())),
            holder_keys: Arc::new(SoftwareHolderKeyStore),
            primary_device_key: std::sync::Mutex::new(()),
            answering: tokio::sync::Mutex::new(()),
        }
    }

    /// Makes every new credential key in `store` (an app's Android Keystore or Secure Enclave
    /// through the bindings) instead of in software. Pass the same store on every open: keys
    /// it made can only be used through it. The wallet key stays in software (holder_key.rs).
    pub fn with_holder_key_store(mut self, store: Arc<dyn HolderKeyStore>) -> Wallet {
        self.holder_keys = store;
        self
    }

    /// Whether a vault exists in `dir`.
    pub fn exists(dir: &Path) -> bool {
        Vault::exists(dir)
    }

    /// Unlocks with the PIN; wrong PINs are counted with back-off (see [`Error::WrongPin`]).
    pub fn unlock(&self, pin: &Pin) -> Result<(), Error> {
        Ok(self.vault.unlock(pin)?)
    }

    /// Drops the data key and every derived key from memory.
    pub fn lock(&self) {
        self.vault.lock()
    }

    /// Whether the wallet is unlocked.
    pub fn is_unlocked(&self) -> bool {
        self.vault.is_unlocked()
    }

    /// Changes the PIN; only the wrapped data key is rewritten.
    pub fn change_pin(&self, old: &Pin, new: &Pin) -> Result<(), Error> {
        self.vault.change_pin(old, new)?;
        // The PIN change itself is atomic in the vault; the log entry follows it. If the process dies
        // between the two, the log misses one "PIN changed" line, never a data change.
        self.vault.write(|tx| {
            audit::append(tx, now_unix(), Actor::Citizen, AuditEvent::PinChanged).map(|_| ())
        })?;
        Ok(())
    }

    /// Destroys the vault: database, journal and the device secret.
    pub fn wipe(self) -> Result<(), Error> {
        Ok(self.vault.wipe()?)
    }

    /// The wallet's state (works while locked; counts need the vault unlocked and are 0 otherwise).
    pub fn status(&self) -> Result<WalletStatus, Error> {
        let s = self.vault.status()?;
        let count = |kind: &str| s.record_counts.get(kind).copied().unwrap_or(0);
        Ok(WalletStatus {
            unlocked: s.unlocked,
            failed_attempts: s.failed_attempts,
            retry_after_secs: s.retry_after_secs,
            kdf_m_kib: s.kdf.m_kib,
            kdf_t: s.kdf.t,
            kdf_p: s.kdf.p,
            credentials: count(StoredCredential::KIND),
            audit_entries: count(AuditEntry::KIND),
        })
    }

    /// Sets the type metadata used for display names (replaces the previous registry).
    pub fn set_type_metadata(&self, registry: MetadataRegistry) {
        if let Ok(mut m) = self.metadata.write() {
            *m = Arc::new(registry);
        }
    }

    pub(crate) fn metadata(&self) -> Arc<MetadataRegistry> {
        self.metadata
            .read()
            .map(|m| Arc::clone(&m))
            .unwrap_or_default()
    }

    /// This wallet's holder public key as a JWK (JSON), for issuers to bind credentials to.
    pub fn holder_public_jwk(&self) -> Result<String, Error> {
        Ok(self.holder_key()?.public_jwk().to_value().to_string())
    }

    /// Trusts `jwk_json` (a public P-256 JWK) for credentials from `issuer_id`.
    pub fn add_trusted_issuer(
        &self,
        issuer_id: &str,
        jwk_json: &str,
    ) -> Result<TrustedIssuer, Error> {
        let entry = TrustedIssuer::new(issuer_id, jwk_json, now_unix())?;
        let id = self.vault.lookup_id(TrustedIssuer::KIND, issuer_id)?;
        self.vault.write(|tx| {
            tx.put(&id, &entry)?;
            audit::append(
                tx,
                entry.added_at,
                Actor::Citizen,
                AuditEvent::TrustedIssuerAdded {
                    issuer_id: entry.issuer_id.clone(),
                    thumbprint: entry.thumbprint.clone(),
                },
            )?;
            Ok(())
        })?;
        Ok(entry)
    }

    /// The issuers this wallet trusts.
    pub fn trusted_issuers(&self) -> Result<Vec<TrustedIssuer>, Error> {
        let mut out = Vec::new();
        for (_, r) in self.vault.list::<TrustedIssuer>()? {
            out.push(r?);
        }
        Ok(out)
    }

    pub(crate) fn trust_list(&self) -> Result<TrustList, Error> {
        let mut list = crate::trust::list_of(&self.trusted_issuers()?);
        // The scheme's participant list (collecting issue): its holders' keys count too.
        self.add_scheme_holders(&mut list)?;
        Ok(list)
    }

    /// Verifies an issued SD-JWT VC fully (issuer signature against the trust store, every
    /// disclosure, validity) and stores it. A credential bound to another holder's key is refused.
    pub fn import_credential(&self, compact: &str) -> Result<CredentialSummary, Error> {
        let compact = compact.trim();
        if compact.len() > MAX_CREDENTIAL_BYTES {
            return Err(Error::InvalidCredential {
                reason: format!("larger than {MAX_CREDENTIAL_BYTES} bytes"),
            });
        }
        let trust = self.trust_list()?;
        let now = now_unix();
        let credential = Credential::verify_issued(compact, &trust, now, &VerifyOptions::default())
            .map_err(|e| Error::from_credential(e, compact))?;
        self.check_listed_type(&credential)?;
        let binding = match credential.holder_jwk() {
            None => HolderBinding::None,
            Some(jwk) if *jwk == self.holder_key()?.public_jwk() => HolderBinding::ThisWallet,
            Some(_) => {
                return Err(Error::InvalidCredential {
                    reason: "the credential is bound to another holder key (cnf.jwk is not this wallet's key)".into(),
                })
            }
        };
        let id = self.vault.lookup_id(
            StoredCredential::KIND,
            &hex::encode(Sha256::digest(compact.as_bytes())),
        )?;
        if self.vault.get::<StoredCredential>(&id)?.is_some() {
            return Err(Error::AlreadyExists {
                what: format!("credential {id}"),
            });
        }
        let stored = StoredCredential::from_verified(&credential, binding, now);
        self.vault.write(|tx| {
            tx.put(&id, &stored)?;
            audit::append(
                tx,
                now,
                Actor::Citizen,
                AuditEvent::CredentialImported {
                    credential_id: id.clone(),
                    issuer: stored.issuer.clone(),
                    vct: stored.vct.clone(),
                },
            )?;
            Ok(())
        })?;
        Ok(stored.summary(&id, &self.metadata(), "nl"))
    }

    /// The overview: every stored credential, oldest import first. Display names in `lang`.
    pub fn credentials(&self, lang: &str) -> Result<Vec<CredentialSummary>, Error> {
        let metadata = self.metadata();
        let listed = self.credential_summaries()?;
        let mut out = Vec::with_capacity(listed.len());
        for (id, r) in listed {
            out.push(r?.view(id, &metadata, lang));
        }
        Ok(out)
    }

    /// Every credential's sealed summary, oldest import first, without opening the full
    /// credentials. A vault written before summaries gets them here, once, in one transaction.
    pub(crate) fn credential_summaries(&self) -> Result<kluis_vault::Listed<StoredSummary>, Error> {
        if let Some(all) = self.vault.list_summaries(StoredCredential::KIND)? {
            return Ok(all);
        }
        self.vault.rebuild_summaries::<StoredCredential>()?;
        match self.vault.list_summaries(StoredCredential::KIND)? {
            Some(all) => Ok(all),
            // A credential that does not open has no summary: the full list names it.
            None => Ok(self
                .vault
                .list::<StoredCredential>()?
                .into_iter()
                .map(|(id, r)| {
                    let s = r.and_then(|c| {
                        Record::summary(&c)
                            .and_then(|v| serde_json::from_value(v).ok())
                            .ok_or_else(|| kluis_vault::VaultError::Encoding("summary".into()))
                    });
                    (id, s)
                })
                .collect()),
        }
    }

    pub(crate) fn stored(&self, id: &str) -> Result<StoredCredential, Error> {
        self.vault
            .get::<StoredCredential>(id)?
            .ok_or_else(|| Error::not_found(format!("credential {id}")))
    }

    /// Re-verifies a stored credential as at its import time: its signature and disclosures must
    /// still hold, but an expired credential can still be shown (freshness is a separate check).
    pub(crate) fn parsed(&self, stored: &StoredCredential) -> Result<Credential, Error> {
        let trust = self.trust_list()?;
        Credential::verify_issued(
            &stored.compact,
            &trust,
            stored.imported_at,
            &VerifyOptions::default(),
        )
        .map_err(|e| Error::from_credential(e, &stored.compact))
    }

    /// One credential with all its claims and their display labels in `lang`.
    pub fn credential(&self, id: &str, lang: &str) -> Result<CredentialDetails, Error> {
        let stored = self.stored(id)?;
        let credential = self.parsed(&stored)?;
        let metadata = self.metadata();
        Ok(CredentialDetails {
            summary: stored.summary(id, &metadata, lang),
            claims: claim_views(&credential, &metadata, lang),
        })
    }

    /// Deletes a credential with the holder keys of its copies.
    pub fn delete_credential(&self, id: &str) -> Result<(), Error> {
        let stored = self.stored(id)?;
        let keys = self.load_keys(stored.key_ids());
        self.vault.write(|tx| {
            tx.delete::<StoredCredential>(id)?;
            for k in stored.key_ids() {
                tx.delete::<HolderKeyRecord>(k)?;
            }
            audit::append(
                tx,
                now_unix(),
                Actor::Citizen,
                AuditEvent::CredentialDeleted {
                    credential_id: id.to_string(),
                },
            )?;
            Ok(())
        })?;
        // After the records: a key left in a device store without its record is unusable.
        self.forget_holder_keys(&keys);
        Ok(())
    }

    /// Builds a presentation of credential `id` disclosing exactly `claim_paths` (and the
    /// disclosures they depend on), with a key-binding JWT for `nonce` and `aud`. Logged.
    pub fn present(
        &self,
        id: &str,
        claim_paths: &[String],
        nonce: &str,
        aud: &str,
    ) -> Result<String, Error> {
        self.present_for(id, claim_paths, nonce, aud, None)
    }

    /// As [`Wallet::present`], recording the purpose the requesting party stated.
    pub fn present_for(
        &self,
        id: &str,
        claim_paths: &[String],
        nonce: &str,
        aud: &str,
        purpose: Option<&str>,
    ) -> Result<String, Error> {
        if nonce.is_empty() || aud.is_empty() {
            return Err(Error::invalid_input(
                "a presentation needs a nonce and an audience",
            ));
        }
        let paths = claim_paths
            .iter()
            .map(|p| {
                ClaimPath::parse(p)
                    .map_err(|e| Error::invalid_input(format!("claim path {p:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let stored = self.stored(id)?;
        if stored.binding != HolderBinding::ThisWallet {
            return Err(Error::InvalidCredential {
                reason: "the credential is not bound to this wallet's key".into(),
            });
        }
        let credential = self.parsed(&stored)?;
        let key = self.credential_key(stored.key_id()?)?;
        let now = now_unix();
        let unsigned = credential
            .prepare_presentation(&paths, nonce, aud, now)
            .map_err(|e| Error::invalid_input(e.to_string()))?;
        let presentation = self.sign_presentation(&key, unsigned)?;
        let claims = crate::disclosure::accounted(&credential, &presentation)?;
        self.vault.write(|tx| {
            audit::append(
                tx,
                now,
                Actor::Citizen,
                AuditEvent::Disclosed {
                    credential_id: id.to_string(),
                    audience: aud.to_string(),
                    claims: claims.clone(),
                    purpose: purpose.map(str::to_string),
                    retention_days: None,
                    channel: None,
                    delivery: None,
                    holder_key: None,
                },
            )?;
            Ok(())
        })?;
        Ok(presentation)
    }

    /// The audit log, oldest first, after checking its hash chain.
    pub fn audit_log(&self) -> Result<Vec<AuditEntry>, Error> {
        let mut entries = Vec::new();
        for (_, r) in self.vault.list::<AuditEntry>()? {
            entries.push(r?);
        }
        audit::verify_chain(entries, audit::read_head(&self.vault)?)
    }
}
