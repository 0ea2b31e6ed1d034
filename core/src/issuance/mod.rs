//! The wallet's OpenID4VCI 1.0 client: collect credentials from data holders.
//!
//! 1. [`Wallet::preview_offer`]: parse the offer (QR / deep link, by value or by reference),
//!    fetch and check the issuer's and authorization server's metadata, and say who offers what
//!    (display names, whether the scheme lists the holder and each type) — nothing is stored.
//! 2. [`Wallet::accept_offer`]: pre-authorized code + `tx_code` at the token endpoint, a
//!    `c_nonce` from the nonce endpoint, one `jwt` key proof per copy (batch issuance: copy 0 is
//!    bound to the wallet's primary credential key, every other copy to a fresh key of its own,
//!    all made in the wallet's holder key store, holder_key.rs),
//!    the credential request, deferred issuance (poll within a short wait, else keep the
//!    transaction for [`Wallet::poll_deferred`]), full verification of every credential
//!    received, one vault transaction for everything with its audit entries, and finally
//!    `credential_accepted` at the notification endpoint.
//!
//! Any failure before the vault write leaves the vault unchanged. Departures from the spec are
//! written down in docs/COLLECTING.md.

mod authorization;
mod client_attestation;
mod dpop;
#[doc(hidden)]
pub mod fuzz_hooks;
mod metadata;
mod offer;
mod progress;
mod protocol;
mod refresh;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use kluis_sdjwt::{Credential, PublicJwk, VerifyOptions};
use kluis_vault::{Record, Vault};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

// Moved to the HTTP seam below every protocol; re-exported so the bindings keep their paths.
pub use crate::http::HttpPolicy;
use crate::http::{self, Http};
pub use authorization::{PendingAuthorization, WALLET_CLIENT_ID};
pub use client_attestation::{
    CLIENT_ATTESTATION_POP_TYP, WALLET_ATTESTATION_TYP, WALLET_KEY_PROOF_TYP,
};
pub use dpop::DPOP_TYP;
pub use metadata::ATTEST_JWT_CLIENT_AUTH;
pub use offer::{CredentialOffer, TxCodeSpec, TxInputMode};
pub use progress::{CollectEvent, CollectProgress, NoProgress};
pub use refresh::{RefreshFailure, RefreshReport};

use metadata::pick_display;
pub(crate) use metadata::IssuerMetadata;
pub(crate) use protocol::{
    deferred_once, key_proof, notify, poll_until, pre_authorized_token, refresh_token_grant,
    request_credential, token_reply, CredentialReply, DeferredReply, Tokens,
};
pub(crate) use protocol::{ACCEPTED, FAILURE};

use crate::audit::{self, Actor, AuditEvent};
pub use crate::credentials::CredentialCopy;
use crate::credentials::{CredentialSummary, HolderBinding, StoredCredential};
use crate::holder_key::{is_shared_key, HolderKey, HolderKeyRecord, MadeKeys};
use crate::{now_unix, Error, IssuanceFailure, Wallet};

/// `typ` of an OpenID4VCI key proof JWT.
pub const PROOF_TYP: &str = "openid4vci-proof+jwt";

/// Largest batch the wallet asks for, whatever the issuer allows.
pub const MAX_COPIES: usize = 10;

/// How to collect.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Copies to ask for per credential (capped by the issuer's batch size and [`MAX_COPIES`]).
    pub copies: usize,
    /// Timeouts, retries, size cap.
    pub http: HttpPolicy,
    /// How long to keep polling a deferred credential before leaving it for later.
    pub deferred_wait: Duration,
    /// Language for display names.
    pub lang: String,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            copies: 3,
            http: HttpPolicy::default(),
            deferred_wait: Duration::from_secs(5),
            lang: "nl".into(),
        }
    }
}

/// One credential type in an offer, as shown to the citizen before accepting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferedCredential {
    /// The issuer's configuration id.
    pub configuration_id: String,
    /// The credential type.
    pub vct: String,
    /// Display name from the issuer metadata (or type metadata) in the chosen language.
    pub name: Option<String>,
    /// Whether the scheme lists this type for this holder.
    pub listed: bool,
}

/// Who offers what: shown to the citizen before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferPreview {
    /// The issuer identifier.
    pub issuer: String,
    /// The issuer's display name from its metadata.
    pub issuer_name: Option<String>,
    /// The holder's name as registered in the scheme, when the scheme lists it.
    pub registered_name: Option<String>,
    /// Whether the scheme lists this holder (with its key).
    pub listed_in_scheme: bool,
    /// Whether a key for this issuer was trusted by hand.
    pub trusted_by_hand: bool,
    /// The credentials offered.
    pub credentials: Vec<OfferedCredential>,
    /// Present when the holder asks for a transaction code.
    pub tx_code: Option<TxCodeSpec>,
    /// The citizen logs in at the holder in a browser (authorization code flow).
    pub needs_login: bool,
    /// The issuer's batch size (copies per request).
    pub batch_size: u32,
}

impl OfferPreview {
    /// Whether the wallet would accept credentials from this offer (every type listed, or the
    /// issuer trusted by hand).
    pub fn trusted(&self) -> bool {
        self.trusted_by_hand || (self.listed_in_scheme && self.credentials.iter().all(|c| c.listed))
    }
}

/// A credential left with the holder for now (deferred issuance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingSummary {
    /// Opaque id of the pending transaction.
    pub id: String,
    /// The issuer.
    pub issuer: String,
    /// The type.
    pub vct: String,
    /// Why it is still pending, when polling it failed (holder down, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What [`Wallet::poll_deferred`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeferredPoll {
    /// Credentials delivered, verified and stored now.
    pub delivered: Vec<CredentialSummary>,
    /// Transactions still pending.
    pub pending: Vec<PendingSummary>,
    /// Transactions dropped: unknown to the holder, or the delivery failed verification.
    pub failed: Vec<RefreshFailure>,
}

enum Polled {
    Delivered(CredentialSummary),
    Pending,
}

/// What [`Wallet::accept_offer`] did.
#[derive(Debug, Clone, Serialize)]
pub struct CollectOutcome {
    /// What was offered.
    pub offer: OfferPreview,
    /// Credentials verified and stored.
    pub stored: Vec<CredentialSummary>,
    /// Credentials the holder will deliver later ([`Wallet::poll_deferred`]).
    pub pending: Vec<PendingSummary>,
    /// HTTP requests sent (attempts, including retries).
    pub requests: u64,
}

/// An offer being looked at: what the citizen sees, plus what accepting it needs.
pub struct OfferSession {
    /// What the citizen is shown.
    pub preview: OfferPreview,
    offer: CredentialOffer,
    metadata: IssuerMetadata,
    http: Arc<Http>,
    options: CollectOptions,
}

/// What the wallet keeps to refresh a credential or pick up a deferred one later: the endpoints
/// and the refresh token (a bearer secret: sealed in the vault, no `Debug`).
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct IssuanceGrant {
    pub credential_issuer: String,
    pub configuration_id: String,
    pub vct: String,
    pub refresh_token: Option<String>,
    pub copies: u32,
}

impl Record for IssuanceGrant {
    const KIND: &'static str = "issuance_grant";
}

/// A deferred credential: the transaction and the keys its copies will be bound to.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct PendingIssuance {
    pub credential_issuer: String,
    pub configuration_id: String,
    pub vct: String,
    pub transaction_id: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    /// Holder key record ids, copy 0 first (the primary key's id for copy 0).
    pub holder_key_ids: Vec<String>,
    pub created_at: i64,
}

impl Record for PendingIssuance {
    const KIND: &'static str = "pending_issuance";
}

/// Holder keys for one credential request, one per copy, copy 0 first.
pub(crate) struct CopyKeys {
    pub keys: Vec<HolderKey>,
}

/// A verified set of copies of one credential, ready to store.
pub(crate) struct Received {
    pub primary: Credential,
    /// The extra copies (compact, holder key record id).
    pub copies: Vec<(String, String)>,
    pub keys: CopyKeys,
    pub configuration_id: String,
    pub notification_id: Option<String>,
}

/// Refuses an offer whose holder or types the scheme does not list (unless trusted by hand).
pub(crate) fn check_trusted(preview: &OfferPreview) -> Result<(), Error> {
    if preview.trusted_by_hand {
        return Ok(());
    }
    if !preview.listed_in_scheme {
        return Err(Error::UntrustedIssuer {
            issuer: preview.issuer.clone(),
        });
    }
    if let Some(c) = preview.credentials.iter().find(|c| !c.listed) {
        return Err(Error::InvalidCredential {
            reason: format!(
                "the scheme does not list type {} for issuer {}",
                c.vct, preview.issuer
            ),
        });
    }
    Ok(())
}

/// Reports a whole collect from `issuer`: started, then stored (what was stored and what the
/// holder will deliver later) or failed with the error. Both grants report through this.
pub(crate) async fn reporting(
    issuer: String,
    progress: &dyn CollectProgress,
    collect: impl std::future::Future<Output = Result<CollectOutcome, Error>>,
) -> Result<CollectOutcome, Error> {
    progress.event(&CollectEvent::Started {
        issuer: issuer.clone(),
    });
    match collect.await {
        Ok(outcome) => {
            progress.event(&CollectEvent::Stored {
                issuer,
                stored: outcome.stored.clone(),
                pending: outcome.pending.clone(),
            });
            Ok(outcome)
        }
        Err(error) => {
            progress.event(&CollectEvent::Failed {
                issuer,
                error: error.clone(),
            });
            Err(error)
        }
    }
}

impl OfferSession {
    /// Whether this offer is collected with the authorization code flow (a login at the
    /// holder in a browser: [`Wallet::start_authorization`]) instead of [`Wallet::accept_offer`].
    pub fn needs_authorization(&self) -> bool {
        matches!(
            self.offer.grant,
            offer::OfferGrant::AuthorizationCode { .. }
        )
    }
}

impl Wallet {
    /// Reads an offer and shows who offers what, without storing anything. The scheme's list is
    /// refreshed first if it is due.
    pub async fn preview_offer(
        &self,
        offer_uri: &str,
        options: CollectOptions,
    ) -> Result<OfferSession, Error> {
        let http = Arc::new(Http::new(options.http.clone())?);
        let offer_json = match offer::parse_offer_uri(offer_uri)? {
            offer::OfferSource::ByValue(v) => v,
            offer::OfferSource::ByReference(url) => {
                let reply = http.get(&url, "application/json").await?;
                if !reply.status.is_success() {
                    return Err(Error::Issuance {
                        kind: IssuanceFailure::refused(&reply),
                        reason: format!(
                            "the credential offer at {} is unavailable (HTTP {})",
                            http::shorten(url.as_str()),
                            reply.status.as_u16()
                        ),
                    });
                }
                reply.json("credential offer")?
            }
        };
        let offer = CredentialOffer::from_json(&offer_json)?;
        let metadata = IssuerMetadata::fetch(&http, &offer.credential_issuer).await?;
        self.refresh_scheme_if_due(&http).await?;
        let preview = self.describe(&offer, &metadata, &options.lang)?;
        Ok(OfferSession {
            preview,
            offer,
            metadata,
            http,
            options,
        })
    }

    fn describe(
        &self,
        offer: &CredentialOffer,
        meta: &IssuerMetadata,
        lang: &str,
    ) -> Result<OfferPreview, Error> {
        let listed = self.listed_holder(&meta.credential_issuer)?;
        let trusted_by_hand = self
            .trusted_issuers()?
            .iter()
            .any(|t| t.issuer_id == meta.credential_issuer);
        let type_names = self.metadata();
        let mut credentials = Vec::new();
        for id in &offer.credential_configuration_ids {
            let vct = meta.vct_of(id)?.to_string();
            let name = meta
                .configs
                .get(id)
                .and_then(|c| pick_display(&c.display, lang))
                .or_else(|| type_names.credential_name(&vct, lang));
            credentials.push(OfferedCredential {
                configuration_id: id.clone(),
                listed: listed
                    .as_ref()
                    .is_some_and(|h| h.credential_types.contains(&vct)),
                vct,
                name,
            });
        }
        Ok(OfferPreview {
            issuer: meta.credential_issuer.clone(),
            issuer_name: pick_display(&meta.display, lang),
            registered_name: listed.as_ref().map(|h| h.name.get(lang).to_string()),
            listed_in_scheme: listed.is_some(),
            trusted_by_hand,
            credentials,
            tx_code: offer.tx_code.clone(),
            needs_login: matches!(offer.grant, offer::OfferGrant::AuthorizationCode { .. }),
            batch_size: meta.batch_size as u32,
        })
    }

    /// Parses, previews and accepts an offer in one go (the CLI prints the preview after).
    pub async fn collect(
        &self,
        offer_uri: &str,
        tx_code: Option<&str>,
        options: CollectOptions,
    ) -> Result<CollectOutcome, Error> {
        let session = self.preview_offer(offer_uri, options).await?;
        self.accept_offer(session, tx_code).await
    }

    /// Accepts an offer the citizen has seen: gets every offered credential, verifies each copy
    /// fully, and stores them all in one vault transaction. On any failure nothing is stored.
    pub async fn accept_offer(
        &self,
        session: OfferSession,
        tx_code: Option<&str>,
    ) -> Result<CollectOutcome, Error> {
        self.accept_offer_reporting(session, tx_code, &NoProgress)
            .await
    }

    /// As [`Wallet::accept_offer`], reporting each step to `progress` (started, waiting for a
    /// deferred credential, stored, or failed with the error).
    pub async fn accept_offer_reporting(
        &self,
        session: OfferSession,
        tx_code: Option<&str>,
        progress: &dyn CollectProgress,
    ) -> Result<CollectOutcome, Error> {
        let issuer = session.preview.issuer.clone();
        reporting(
            issuer,
            progress,
            self.accept_offer_inner(session, tx_code, progress),
        )
        .await
    }

    async fn accept_offer_inner(
        &self,
        session: OfferSession,
        tx_code: Option<&str>,
        progress: &dyn CollectProgress,
    ) -> Result<CollectOutcome, Error> {
        // Refuse before asking the holder for anything: it would issue credentials for nothing.
        check_trusted(&session.preview)?;
        if session.needs_authorization() {
            return Err(Error::invalid_input(
                "this offer needs a login at the holder: use the authorization code flow (start_authorization)",
            ));
        }
        if session.offer.tx_code.is_some() && tx_code.is_none_or(str::is_empty) {
            return Err(Error::invalid_input(
                "this offer needs the transaction code the holder sent you (by letter or SMS)",
            ));
        }
        let tokens =
            pre_authorized_token(&session.http, &session.metadata, &session.offer, tx_code).await?;
        self.collect_with(session, tokens, progress).await
    }

    /// Everything after the token request, for both grants: credential requests, verification,
    /// one vault transaction, notifications; deferred waits reported to `progress`.
    pub(crate) async fn collect_with(
        &self,
        session: OfferSession,
        tokens: Tokens,
        progress: &dyn CollectProgress,
    ) -> Result<CollectOutcome, Error> {
        let OfferSession {
            preview,
            offer,
            metadata,
            http,
            options,
        } = session;
        // Keys made below are deleted from a device key store again unless stored.
        let made = self.made_keys();
        let copies = options.copies.clamp(1, MAX_COPIES).min(metadata.batch_size);
        // First everything the holder sends, then verification of all of it: an offer is stored
        // all or nothing.
        let mut delivered = Vec::new();
        let mut pending = Vec::new();
        for config in &offer.credential_configuration_ids {
            let vct = metadata.vct_of(config)?.to_string();
            let conf = metadata.configs.get(config);
            let attestation_only = conf.is_some_and(|c| c.attestation_proof_only);
            let attested = attestation_only || conf.is_some_and(|c| c.key_attestation_required);
            // A batch to be attested gets only fresh keys (copy 0 too), made with the wallet
            // provider's nonce as platform attestation challenge.
            let provider_nonce = match attested {
                true => Some(self.key_attestation_nonce(&http).await?),
                false => None,
            };
            let keys = match &provider_nonce {
                Some(pn) => self.make_fresh_keys(copies, &made, pn.nonce.as_bytes())?,
                None => self.make_copy_keys(copies, &made)?,
            };
            let reply = if let Some(pn) = &provider_nonce {
                // One key attestation from the wallet provider for the whole batch, for the
                // holder's c_nonce, in the header of one proof.
                let nonce = protocol::fresh_nonce(&http, &metadata).await?;
                let attestation = self
                    .key_attestation(&http, pn, &keys.keys, nonce.as_deref())
                    .await?;
                let (proof_type, proof) = if attestation_only {
                    // The `attestation` proof type: the key attestation itself (Appendix F.3).
                    ("attestation", attestation)
                } else {
                    let p =
                        self.attested_key_proof(&metadata, &keys, &attestation, nonce.as_deref())?;
                    ("jwt", p)
                };
                protocol::send_credential_request(
                    &http,
                    &metadata,
                    &tokens,
                    config,
                    proof_type,
                    vec![proof],
                )
                .await?
            } else {
                let proofs = |nonce: Option<&str>| self.key_proofs(&metadata, &keys, nonce);
                request_credential(&http, &metadata, &tokens, config, &proofs).await?
            };
            match reply {
                CredentialReply::Issued {
                    credentials,
                    notification_id,
                } => delivered.push((config.clone(), vct, credentials, keys, notification_id)),
                CredentialReply::Deferred {
                    transaction_id,
                    interval,
                } => {
                    progress.event(&CollectEvent::WaitingForDeferred {
                        issuer: metadata.credential_issuer.clone(),
                        vct: vct.clone(),
                    });
                    match poll_until(
                        &http,
                        &metadata,
                        &tokens,
                        &transaction_id,
                        interval,
                        options.deferred_wait,
                    )
                    .await?
                    {
                        Some((credentials, notification_id)) => delivered.push((
                            config.clone(),
                            vct,
                            credentials,
                            keys,
                            notification_id,
                        )),
                        // A DPoP-bound token needs its key later; the wallet keeps none.
                        None if tokens.dpop.is_some() => {
                            return Err(Error::Issuance {
                                kind: IssuanceFailure::Unsupported,
                                reason: "the holder defers a DPoP-bound issuance, which kluis cannot pick up later".into(),
                            })
                        }
                        None => pending.push((config.clone(), vct, transaction_id, keys)),
                    }
                }
            }
        }
        let notification_ids: Vec<Option<String>> = delivered.iter().map(|d| d.4.clone()).collect();
        let verified = delivered
            .into_iter()
            .map(|(config, vct, credentials, keys, notification_id)| {
                self.verify_received(
                    &metadata.credential_issuer,
                    &vct,
                    &config,
                    credentials,
                    keys,
                    notification_id,
                )
            })
            .collect::<Result<Vec<_>, _>>();
        let received = match verified {
            Ok(r) => r,
            Err(e) => {
                // Tell the holder nothing it sent was kept (best effort), then the citizen why.
                for id in &notification_ids {
                    notify(&http, &metadata, &tokens, id.as_deref(), FAILURE).await;
                }
                return Err(e);
            }
        };
        let now = now_unix();
        let mut pending_out = Vec::new();
        let mut stored_ids = Vec::new();
        let grant_copies = copies as u32;
        let ids = received
            .iter()
            .map(|r| self.record_ids(r))
            .collect::<Result<Vec<_>, _>>()?;
        self.vault.write(|tx| {
            for (r, ids) in received.iter().zip(&ids) {
                store_received(tx, r, ids, now, &tokens, grant_copies, &metadata)?;
                stored_ids.push(ids.0.clone());
            }
            for (config, vct, transaction_id, keys) in &pending {
                let ids = seal_new_keys(tx, keys)?;
                let id = Vault::new_record_id();
                tx.put(
                    &id,
                    &PendingIssuance {
                        credential_issuer: metadata.credential_issuer.clone(),
                        configuration_id: config.clone(),
                        vct: vct.clone(),
                        transaction_id: transaction_id.clone(),
                        access_token: tokens.access.clone(),
                        refresh_token: tokens.refresh.clone(),
                        holder_key_ids: ids,
                        created_at: now,
                    },
                )?;
                pending_out.push(PendingSummary {
                    id,
                    issuer: metadata.credential_issuer.clone(),
                    vct: vct.clone(),
                    note: None,
                });
            }
            Ok(())
        })?;
        made.keep();
        // Tell the holder, after storing: failures here change nothing for the citizen.
        for r in &received {
            notify(
                &http,
                &metadata,
                &tokens,
                r.notification_id.as_deref(),
                ACCEPTED,
            )
            .await;
        }
        let meta = self.metadata();
        let mut stored = Vec::new();
        for id in &stored_ids {
            stored.push(self.stored(id)?.summary(id, &meta, &options.lang));
        }
        Ok(CollectOutcome {
            offer: preview,
            stored,
            pending: pending_out,
            requests: http.requests.load(Ordering::Relaxed),
        })
    }

    /// Copy 0 is bound to the primary credential key (holder_key.rs); every further copy to a
    /// fresh key made in the wallet's holder key store, so that presentations of different
    /// copies cannot be linked through `cnf`. `made` deletes the fresh keys again from a device
    /// store unless the caller keeps them.
    pub(crate) fn make_copy_keys(&self, copies: usize, made: &MadeKeys) -> Result<CopyKeys, Error> {
        let mut keys = Vec::with_capacity(copies);
        keys.push(self.primary_credential_key()?);
        for _ in 1..copies {
            let key = self.new_credential_key(None)?;
            made.note(&key);
            keys.push(key);
        }
        Ok(CopyKeys { keys })
    }

    /// `copies` fresh keys in the holder key store, each made with attestation `challenge`.
    pub(crate) fn make_fresh_keys(
        &self,
        copies: usize,
        made: &MadeKeys,
        challenge: &[u8],
    ) -> Result<CopyKeys, Error> {
        let mut keys = Vec::with_capacity(copies);
        for _ in 0..copies {
            let key = self.new_credential_key(Some(challenge))?;
            made.note(&key);
            keys.push(key);
        }
        Ok(CopyKeys { keys })
    }

    /// One signed key proof per copy for the holder of `meta`.
    pub(crate) fn key_proofs(
        &self,
        meta: &IssuerMetadata,
        keys: &CopyKeys,
        nonce: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        let now = now_unix();
        keys.keys
            .iter()
            .map(|k| {
                let proof = protocol::key_proof(meta, &k.public, nonce, now)?;
                self.sign_jws(k, proof, "key proof")
            })
            .collect()
    }

    /// The one proof of a batch covered by `key_attestation`, signed by its first key.
    pub(crate) fn attested_key_proof(
        &self,
        meta: &IssuerMetadata,
        keys: &CopyKeys,
        key_attestation: &str,
        nonce: Option<&str>,
    ) -> Result<String, Error> {
        let first = keys.keys.first().ok_or_else(|| Error::Internal {
            reason: "a batch without keys".into(),
        })?;
        let proof =
            protocol::attested_key_proof(meta, &first.public, key_attestation, nonce, now_unix())?;
        self.sign_jws(first, proof, "key proof")
    }

    /// Verifies every copy: issuer trust and signature, every disclosure, validity, `iss` equal
    /// to the issuer the offer came from, the requested `vct` (and that the scheme lists it), and
    /// `cnf.jwk` equal to the key of the proof for that copy.
    pub(crate) fn verify_received(
        &self,
        issuer: &str,
        vct: &str,
        config: &str,
        credentials: Vec<String>,
        keys: CopyKeys,
        notification_id: Option<String>,
    ) -> Result<Received, Error> {
        if credentials.len() != keys.keys.len() {
            return Err(Error::Issuance {
                kind: IssuanceFailure::Malformed,
                reason: format!(
                    "asked for {} copies, the holder sent {}",
                    keys.keys.len(),
                    credentials.len()
                ),
            });
        }
        let trust = self.trust_list()?;
        let now = now_unix();
        let mut verified = Vec::new();
        for (compact, key) in credentials.iter().zip(&keys.keys) {
            if compact.len() > crate::sdjwt::MAX_COMPACT_LEN {
                return Err(Error::InvalidCredential {
                    reason: "the credential is too large".into(),
                });
            }
            let c = Credential::verify_issued(compact, &trust, now, &VerifyOptions::default())
                .map_err(|e| Error::from_credential(e, compact))?;
            if c.issuer() != issuer {
                return Err(Error::InvalidCredential {
                    reason: format!(
                        "the credential's iss {} is not the issuer that offered it ({issuer})",
                        http::shorten(c.issuer())
                    ),
                });
            }
            if c.vct() != vct {
                return Err(Error::InvalidCredential {
                    reason: format!(
                        "the holder sent type {} where {vct} was offered",
                        http::shorten(c.vct())
                    ),
                });
            }
            self.check_listed_type(&c)?;
            let bound: Option<&PublicJwk> = c.holder_jwk();
            if bound != Some(&key.public) {
                return Err(Error::InvalidCredential {
                    reason: "the credential is bound to another holder key (cnf.jwk is not the key this wallet proved)".into(),
                });
            }
            verified.push(c);
        }
        let mut it = verified.into_iter();
        let primary = it.next().ok_or_else(|| Error::Issuance {
            kind: IssuanceFailure::Malformed,
            reason: "the holder sent no credential".into(),
        })?;
        let copies = it
            .zip(keys.keys.iter().skip(1))
            .map(|(c, k)| (c.compact().to_string(), k.id.clone()))
            .collect();
        Ok(Received {
            primary,
            copies,
            keys,
            configuration_id: config.to_string(),
            notification_id,
        })
    }

    /// The record ids of a received credential and of its refresh grant (computed before the
    /// write transaction: the vault's lookup key is not available inside one).
    pub(crate) fn record_ids(&self, r: &Received) -> Result<(String, String), Error> {
        let id = self.vault.lookup_id(
            StoredCredential::KIND,
            &hex::encode(Sha256::digest(r.primary.compact().as_bytes())),
        )?;
        let grant = self.vault.lookup_id(IssuanceGrant::KIND, &id)?;
        Ok((id, grant))
    }

    /// Picks up deferred credentials that are ready. Each transaction is handled on its own: a
    /// holder that is down leaves its transaction pending (with a note) without stopping the
    /// others; an expired access token is renewed with the refresh token; a transaction the
    /// holder no longer knows, or a delivery that fails verification, is dropped with its keys
    /// and reported in `failed`.
    pub async fn poll_deferred(&self, options: CollectOptions) -> Result<DeferredPoll, Error> {
        self.poll_deferred_reporting(options, &NoProgress).await
    }

    /// As [`Wallet::poll_deferred`], reporting each transaction to `progress`: started, then
    /// stored, still waiting, or failed.
    pub async fn poll_deferred_reporting(
        &self,
        options: CollectOptions,
        progress: &dyn CollectProgress,
    ) -> Result<DeferredPoll, Error> {
        let http = Http::new(options.http.clone())?;
        let mut out = DeferredPoll::default();
        for (pid, p) in self.vault.list::<PendingIssuance>()? {
            let p = p?;
            let summary = |note: Option<String>| PendingSummary {
                id: pid.clone(),
                issuer: p.credential_issuer.clone(),
                vct: p.vct.clone(),
                note,
            };
            let issuer = p.credential_issuer.clone();
            progress.event(&CollectEvent::Started {
                issuer: issuer.clone(),
            });
            match self.poll_one(&http, &pid, &p, &options.lang).await {
                Ok(Polled::Delivered(s)) => {
                    progress.event(&CollectEvent::Stored {
                        issuer,
                        stored: vec![s.clone()],
                        pending: Vec::new(),
                    });
                    out.delivered.push(s)
                }
                Ok(Polled::Pending) => {
                    progress.event(&CollectEvent::WaitingForDeferred {
                        issuer,
                        vct: p.vct.clone(),
                    });
                    out.pending.push(summary(None))
                }
                Err(e @ (Error::Network { .. } | Error::Issuance { .. })) => {
                    progress.event(&CollectEvent::Failed {
                        issuer,
                        error: e.clone(),
                    });
                    out.pending.push(summary(Some(e.to_string())))
                }
                Err(e) => {
                    progress.event(&CollectEvent::Failed {
                        issuer,
                        error: e.clone(),
                    });
                    self.drop_pending(&pid, &p)?;
                    out.failed.push(RefreshFailure::new(pid.clone(), &e));
                }
            }
        }
        Ok(out)
    }

    fn drop_pending(&self, pid: &str, p: &PendingIssuance) -> Result<(), Error> {
        let own = || p.holder_key_ids.iter().filter(|k| !is_shared_key(k));
        let keys = self.load_keys(own());
        self.vault.write(|tx| {
            tx.delete::<PendingIssuance>(pid)?;
            for k in own() {
                tx.delete::<HolderKeyRecord>(k)?;
            }
            Ok(())
        })?;
        self.forget_holder_keys(&keys);
        Ok(())
    }

    async fn poll_one(
        &self,
        http: &Http,
        pid: &str,
        p: &PendingIssuance,
        lang: &str,
    ) -> Result<Polled, Error> {
        let metadata = IssuerMetadata::fetch(http, &p.credential_issuer).await?;
        let mut tokens = Tokens::bearer(p.access_token.clone(), p.refresh_token.clone());
        let mut reply = deferred_once(http, &metadata, &tokens, &p.transaction_id).await?;
        if matches!(reply, DeferredReply::Unauthorized) {
            // The access token expired while the holder worked: renew it once.
            let Some(refresh) = p.refresh_token.as_deref() else {
                return Err(Error::InvalidCredential {
                    reason: "the holder's access token expired and it gave no refresh token".into(),
                });
            };
            tokens = refresh_token_grant(http, &metadata, refresh).await?;
            reply = deferred_once(http, &metadata, &tokens, &p.transaction_id).await?;
        }
        let (credentials, notification_id) = match reply {
            DeferredReply::Ready(c, n) => (c, n),
            DeferredReply::Pending => return Ok(Polled::Pending),
            DeferredReply::Unknown | DeferredReply::Unauthorized => {
                return Err(Error::InvalidCredential {
                    reason: "the holder no longer knows this deferred transaction".into(),
                })
            }
        };
        let keys = CopyKeys {
            keys: p
                .holder_key_ids
                .iter()
                .map(|k| self.load_holder_key(k))
                .collect::<Result<_, _>>()?,
        };
        let received = match self.verify_received(
            &p.credential_issuer,
            &p.vct,
            &p.configuration_id,
            credentials,
            keys,
            notification_id.clone(),
        ) {
            Ok(r) => r,
            Err(e) => {
                notify(
                    http,
                    &metadata,
                    &tokens,
                    notification_id.as_deref(),
                    FAILURE,
                )
                .await;
                return Err(e);
            }
        };
        let now = now_unix();
        let copies = p.holder_key_ids.len() as u32;
        let ids = self.record_ids(&received)?;
        self.vault.write(|tx| {
            if let (Some(old), Some(new)) = (p.refresh_token.as_deref(), tokens.refresh.as_deref())
            {
                rotate_refresh_token(tx, old, new)?;
            }
            store_received(tx, &received, &ids, now, &tokens, copies, &metadata)?;
            tx.delete::<PendingIssuance>(pid)?;
            Ok(())
        })?;
        notify(
            http,
            &metadata,
            &tokens,
            received.notification_id.as_deref(),
            ACCEPTED,
        )
        .await;
        Ok(Polled::Delivered(self.stored(&ids.0)?.summary(
            &ids.0,
            &self.metadata(),
            lang,
        )))
    }

    /// Deferred credentials not yet delivered.
    pub fn pending_issuances(&self) -> Result<Vec<PendingSummary>, Error> {
        let mut out = Vec::new();
        for (id, p) in self.vault.list::<PendingIssuance>()? {
            let p = p?;
            out.push(PendingSummary {
                id,
                issuer: p.credential_issuer.clone(),
                vct: p.vct.clone(),
                note: None,
            });
        }
        Ok(out)
    }
}

/// Writes one verified credential (its copies, their new keys, the refresh grant and the audit
/// entry) inside the caller's transaction.
fn store_received(
    tx: &mut kluis_vault::WriteTxn<'_>,
    r: &Received,
    (id, grant_id): &(String, String),
    now: i64,
    tokens: &Tokens,
    copies: u32,
    meta: &IssuerMetadata,
) -> Result<(), kluis_vault::VaultError> {
    seal_new_keys(tx, &r.keys)?;
    let stored = r.to_stored(now);
    tx.put(id, &stored)?;
    tx.put(
        grant_id,
        &IssuanceGrant {
            credential_issuer: meta.credential_issuer.clone(),
            configuration_id: r.configuration_id.clone(),
            vct: stored.vct.clone(),
            refresh_token: tokens.refresh.clone(),
            copies,
        },
    )?;
    audit::append(
        tx,
        now,
        Actor::Citizen,
        AuditEvent::CredentialCollected {
            credential_id: id.clone(),
            issuer: stored.issuer.clone(),
            vct: stored.vct.clone(),
            copies: 1 + stored.copies.len() as u32,
        },
    )?;
    Ok(())
}

/// One offer is one authorization: every credential it delivered (and every transaction it left
/// pending) holds the same refresh token, and holders rotate it on use (RFC 6749 §6, RFC 9700
/// §4.14). When a refresh returns a new token, every record that held the old one moves to the
/// new one in the caller's transaction, so the next credential of that offer still refreshes.
pub(crate) fn rotate_refresh_token(
    tx: &mut kluis_vault::WriteTxn<'_>,
    old: &str,
    new: &str,
) -> Result<usize, kluis_vault::VaultError> {
    if old == new {
        return Ok(0);
    }
    let mut moved = 0;
    for (id, grant) in tx.list::<IssuanceGrant>()? {
        let mut grant = grant?;
        if grant.refresh_token.as_deref() == Some(old) {
            grant.refresh_token = Some(new.to_string());
            tx.put(&id, &grant)?;
            moved += 1;
        }
    }
    for (id, pending) in tx.list::<PendingIssuance>()? {
        let mut pending = pending?;
        if pending.refresh_token.as_deref() == Some(old) {
            pending.refresh_token = Some(new.to_string());
            tx.put(&id, &pending)?;
            moved += 1;
        }
    }
    Ok(moved)
}

/// Seals the records of the fresh keys of `keys` (the shared primary's is already there);
/// returns all key ids.
fn seal_new_keys(
    tx: &mut kluis_vault::WriteTxn<'_>,
    keys: &CopyKeys,
) -> Result<Vec<String>, kluis_vault::VaultError> {
    let mut ids = Vec::new();
    for key in &keys.keys {
        if !is_shared_key(&key.id) {
            tx.put(&key.id, &key.record)?;
        }
        ids.push(key.id.clone());
    }
    Ok(ids)
}

impl Received {
    /// The credential record: copy 0 with its key, the other copies with theirs.
    pub(crate) fn to_stored(&self, now: i64) -> StoredCredential {
        let mut stored =
            StoredCredential::from_verified(&self.primary, HolderBinding::ThisWallet, now);
        stored.holder_key_id = self
            .keys
            .keys
            .first()
            .map(|k| k.id.clone())
            .filter(|id| id != crate::holder_key::PRIMARY_HOLDER_KEY_ID);
        stored.copies = self
            .copies
            .iter()
            .map(|(compact, key_id)| CredentialCopy {
                compact: compact.clone(),
                holder_key_id: key_id.clone(),
            })
            .collect();
        stored
    }
}
