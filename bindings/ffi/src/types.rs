//! The wallet's records and enums at the FFI.
//!
//! Where the core's type is what an app should see, it crosses as is: `#[uniffi::remote]` states
//! its shape for the bindings (and the doc comments apps read), the compiler checks that shape
//! against the core's fields, and there is no copy and no conversion. The core stays free of
//! uniffi (DESIGN.md); a uniffi derive in kluis-core would make it a second uniffi component, with
//! its own Kotlin file, Swift module and FFI header to package. A mirror remains where the app
//! must see less or another shape: [`AuditEvent`] (no receipts or key ids; string codes of old
//! entries as enums), [`ClaimView`] (claim values as JSON text, which every platform parses),
//! [`WalletOptions`]/[`WalletStatus`] (named for apps, not for Argon2's letters).

use kluis_core::audit::{DeclineReason, Delivery};
use kluis_core::delegation::{Action, MandateState};

use crate::{MandateAction, PresentationChannel};
use kluis_core::status::CredentialState;
use kluis_core::{CredentialSummary, HolderBinding, KdfParams, OnLimit, VaultOptions, VaultPolicy};

/// Choices made when a wallet is created; stored in the vault.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WalletOptions {
    /// Argon2id cost of turning the PIN into a key.
    pub kdf: KdfSettings,
    /// What wrong PINs cost.
    pub pin_policy: PinPolicy,
}

/// Argon2id parameters. Values below the core's floor are refused (`InvalidInput`), except the
/// exact test profile of `dangerousTestWalletOptions()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct KdfSettings {
    /// Memory cost in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Parallel lanes.
    pub lanes: u32,
}

/// The wrong-PIN policy: free attempts, then doubling waits, then `on_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct PinPolicy {
    /// Wrong PINs in a row after which `on_limit` applies; absent: no limit (back-off only).
    pub max_attempts: Option<u32>,
    /// Wrong PINs in a row that cost no wait.
    pub free_attempts: u32,
    /// First wait after the free attempts, in seconds; each further wrong PIN doubles it.
    pub backoff_base_secs: u64,
    /// Longest wait, in seconds.
    pub backoff_max_secs: u64,
    /// What reaching the limit does.
    pub on_limit: LimitAction,
}

/// What reaching the wrong-PIN limit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LimitAction {
    /// Destroy the vault and its device secret.
    Wipe,
    /// Refuse every further attempt; the data stays on disk, unreadable.
    Lockout,
}

/// The recommended options: Argon2id 64 MiB, 3 passes, 4 lanes; 3 free PIN attempts, then 30 s
/// doubling to 1 h, wipe after 10 wrong PINs in a row.
#[uniffi::export]
pub fn recommended_wallet_options() -> WalletOptions {
    VaultOptions::default().into()
}

/// Options for tests only: a KDF far below the floor (fast, and unsafe for real PINs) with the
/// recommended PIN policy.
#[uniffi::export]
pub fn dangerous_test_wallet_options() -> WalletOptions {
    VaultOptions {
        kdf: KdfParams::dangerous_test_profile(),
        policy: VaultPolicy::default(),
    }
    .into()
}

impl From<VaultOptions> for WalletOptions {
    fn from(o: VaultOptions) -> Self {
        WalletOptions {
            kdf: KdfSettings {
                memory_kib: o.kdf.m_kib,
                iterations: o.kdf.t,
                lanes: o.kdf.p,
            },
            pin_policy: PinPolicy {
                max_attempts: o.policy.max_attempts,
                free_attempts: o.policy.free_attempts,
                backoff_base_secs: o.policy.backoff_base_secs,
                backoff_max_secs: o.policy.backoff_max_secs,
                on_limit: match o.policy.on_limit {
                    OnLimit::Wipe => LimitAction::Wipe,
                    OnLimit::Lockout => LimitAction::Lockout,
                },
            },
        }
    }
}

impl From<WalletOptions> for VaultOptions {
    fn from(o: WalletOptions) -> Self {
        let p = o.pin_policy;
        VaultOptions {
            kdf: KdfParams {
                m_kib: o.kdf.memory_kib,
                t: o.kdf.iterations,
                p: o.kdf.lanes,
            },
            policy: VaultPolicy {
                max_attempts: p.max_attempts,
                free_attempts: p.free_attempts,
                backoff_base_secs: p.backoff_base_secs,
                backoff_max_secs: p.backoff_max_secs,
                on_limit: match p.on_limit {
                    LimitAction::Wipe => OnLimit::Wipe,
                    LimitAction::Lockout => OnLimit::Lockout,
                },
            },
        }
    }
}

/// The wallet's state, for the lock screen and settings.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct WalletStatus {
    /// Whether the data key is in memory.
    pub unlocked: bool,
    /// Wrong PINs since the last right one.
    pub failed_attempts: u32,
    /// Seconds until the next PIN attempt is accepted (0: now).
    pub retry_after_secs: u64,
    /// The vault's Argon2id settings.
    pub kdf: KdfSettings,
    /// Number of stored credentials (0 while locked).
    pub credentials: u64,
    /// Number of audit log entries (0 while locked).
    pub audit_entries: u64,
}

impl From<kluis_core::WalletStatus> for WalletStatus {
    fn from(s: kluis_core::WalletStatus) -> Self {
        WalletStatus {
            unlocked: s.unlocked,
            failed_attempts: s.failed_attempts,
            retry_after_secs: s.retry_after_secs,
            kdf: KdfSettings {
                memory_kib: s.kdf_m_kib,
                iterations: s.kdf_t,
                lanes: s.kdf_p,
            },
            credentials: s.credentials,
            audit_entries: s.audit_entries,
        }
    }
}

/// An issuer this wallet trusts, with the key its credentials must be signed with.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TrustedIssuer {
    /// The issuer identifier as in credentials' `iss`.
    pub issuer_id: String,
    /// The issuer's public P-256 JWK, as JSON.
    pub jwk: String,
    /// RFC 7638 thumbprint of the key, to show and compare.
    pub thumbprint: String,
    /// When it was added (Unix seconds).
    pub added_at: i64,
}

impl From<kluis_core::trust::TrustedIssuer> for TrustedIssuer {
    fn from(t: kluis_core::trust::TrustedIssuer) -> Self {
        TrustedIssuer {
            issuer_id: t.issuer_id,
            jwk: t.jwk,
            thumbprint: t.thumbprint,
            added_at: t.added_at,
        }
    }
}

/// How a credential is bound to a holder key.
#[uniffi::remote(Enum)]
pub enum HolderBinding {
    /// Bound to this wallet's holder key: it can be presented with key binding.
    ThisWallet,
    /// Names no holder key (a bearer credential).
    None,
}

/// One line of the overview.
#[uniffi::remote(Record)]
pub struct CredentialSummary {
    /// Opaque id, stable for the life of the credential in this wallet.
    pub id: String,
    /// The issuer (`iss`).
    pub issuer: String,
    /// The credential type (`vct`).
    pub vct: String,
    /// Display name of the type in the requested language, when type metadata names it.
    pub name: Option<String>,
    /// `iat`, Unix seconds.
    pub issued_at: Option<i64>,
    /// `exp`, Unix seconds.
    pub expires_at: Option<i64>,
    /// When it was stored in this wallet (Unix seconds).
    pub imported_at: i64,
    /// How it is bound to a holder key.
    pub binding: HolderBinding,
    /// Copies kept for unlinkable presentations (1 for an imported credential).
    pub copies: u32,
    /// Result of the last status check (null/nil: never checked).
    pub status: Option<CredentialState>,
    /// Restored on a device without its holder key: collect it again (`refresh` does, where
    /// the holder gave a refresh token).
    pub needs_reissuance: bool,
}

/// A credential's state after a status check.
#[uniffi::remote(Enum)]
pub enum CredentialState {
    /// Not expired and its status list entry is 0.
    Valid,
    /// The holder revoked it.
    Revoked,
    /// The holder suspended it.
    Suspended,
    /// Past its expiry.
    Expired,
    /// Could not be determined.
    Unknown,
}

/// One claim as the app shows it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClaimView {
    /// Claim path, e.g. `/address/locality`: what `Wallet.present` takes.
    pub path: String,
    /// Display label from type metadata, in the requested language.
    pub label: Option<String>,
    /// The value as JSON text (a string value keeps its quotes).
    pub value_json: String,
    /// Whether the citizen can choose to disclose or withhold it.
    pub selectively_disclosable: bool,
}

impl From<kluis_core::ClaimView> for ClaimView {
    fn from(c: kluis_core::ClaimView) -> Self {
        ClaimView {
            path: c.path,
            label: c.label,
            value_json: c.value.to_string(),
            selectively_disclosable: c.selectively_disclosable,
        }
    }
}

/// A credential with all its claims.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CredentialDetails {
    /// The overview line.
    pub summary: CredentialSummary,
    /// Every leaf claim, in document order.
    pub claims: Vec<ClaimView>,
}

impl From<kluis_core::CredentialDetails> for CredentialDetails {
    fn from(d: kluis_core::CredentialDetails) -> Self {
        CredentialDetails {
            summary: d.summary,
            claims: d.claims.into_iter().map(ClaimView::from).collect(),
        }
    }
}

/// Who acted, in an audit entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum AuditActor {
    /// The wallet's owner.
    Citizen,
}

impl From<kluis_core::audit::Actor> for AuditActor {
    fn from(a: kluis_core::audit::Actor) -> Self {
        match a {
            kluis_core::audit::Actor::Citizen => AuditActor::Citizen,
        }
    }
}

/// What happened, in an audit entry. A mirror: the core's entry also holds what the app has no
/// use for (the deletion receipt, the holder key's vault id), and codes that older entries keep
/// as text (a status, a mandate's actions) cross as enums.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AuditEvent {
    /// The wallet was created.
    WalletCreated,
    /// The PIN was changed.
    PinChanged,
    /// An issuer key was trusted by hand.
    TrustedIssuerAdded {
        issuer_id: String,
        thumbprint: String,
    },
    /// A credential was verified and stored.
    CredentialImported {
        credential_id: String,
        issuer: String,
        vct: String,
    },
    /// A credential was deleted.
    CredentialDeleted { credential_id: String },
    /// A credential was collected from a data holder over OpenID4VCI, verified and stored.
    CredentialCollected {
        credential_id: String,
        issuer: String,
        vct: String,
        /// Copies stored (batch issuance), each bound to its own holder key.
        copies: u32,
    },
    /// A stored credential was replaced by a fresh one from its holder.
    CredentialRefreshed {
        credential_id: String,
        issuer: String,
        vct: String,
    },
    /// A status check found a credential revoked, suspended, expired or valid again.
    CredentialStatusChanged {
        credential_id: String,
        status: CredentialState,
    },
    /// The scheme's key was pinned and its participant list fetched.
    SchemePinned {
        list_uri: String,
        thumbprint: String,
    },
    /// Claims were disclosed in a presentation.
    Disclosed {
        credential_id: String,
        /// The requesting party (`aud` of the key-binding JWT).
        audience: String,
        /// The claim paths disclosed, nothing else.
        claims: Vec<String>,
        /// The purpose the party stated, when it stated one.
        purpose: Option<String>,
        /// How long the party said it keeps the data (days), when it said so.
        retention_days: Option<u32>,
        /// How it travelled; null/nil for presentations made with `Wallet.present` (no
        /// requesting party session).
        channel: Option<PresentationChannel>,
        /// Whether the party confirmed it; null/nil where no answer is expected.
        delivery: Option<Delivery>,
    },
    /// The citizen declined a presentation request.
    PresentationDeclined {
        /// The requesting party's client identifier.
        audience: String,
        /// The purpose it stated.
        purpose: Option<String>,
        /// How the request arrived.
        channel: PresentationChannel,
        /// Who decided; null/nil in entries written before it was recorded (the citizen).
        reason: Option<DeclineReason>,
    },
    /// The wallet refused an invalid or untrusted presentation request; nothing was sent.
    PresentationRefused {
        /// The client identifier the request claimed.
        audience: String,
        /// Short reason code (e.g. `bad_signature`), no personal data.
        reason: String,
        /// How the request arrived.
        channel: PresentationChannel,
    },
    /// The citizen gave a helper a mandate.
    MandateIssued {
        mandate_id: String,
        /// Thumbprint of the helper's key.
        helper: String,
        types: Vec<String>,
        actions: Vec<MandateAction>,
        /// Unix seconds.
        expires_at: i64,
    },
    /// This wallet accepted a mandate package (helper's side).
    MandateAccepted {
        mandate_id: String,
        /// Thumbprint of the citizen's status key.
        citizen: String,
        types: Vec<String>,
    },
    /// This wallet presented on a citizen's behalf (helper's side).
    MandateUsed {
        mandate_id: String,
        audience: String,
        vct: String,
        claims: Vec<String>,
        purpose: Option<String>,
    },
    /// A holder issued credentials to the helper under a mandate.
    MandateCollected {
        mandate_id: String,
        issuer: String,
        vct: String,
    },
    /// The citizen revoked a mandate.
    MandateRevoked { mandate_id: String },
    /// A received mandate package was dropped; `reason` is `Revoked` or `Expired`.
    MandateDropped {
        mandate_id: String,
        reason: MandateState,
    },
    /// A recovery secret was made.
    RecoverySecretMade,
    /// A backup was written.
    BackupMade { backup_id: String, credentials: u32 },
    /// The wallet was restored from a backup on this device.
    Restored {
        backup_id: String,
        /// Unix seconds.
        backup_made_at: i64,
        /// Credentials to collect again (their keys stayed on the old device).
        needs_reissuance: Vec<String>,
    },
    /// The party confirmed, with a receipt it signed, that it deleted what it received in the
    /// disclosure logged as entry `entry` (`forget`).
    DeletedByParty {
        entry: u64,
        audience: String,
        /// Unix seconds.
        deleted_at: i64,
        deleted: u32,
    },
}

/// What became of a presentation sent to a party.
#[uniffi::remote(Enum)]
pub enum Delivery {
    /// The party acknowledged it.
    Received,
    /// The party received it and refused it: it has seen the data all the same.
    Rejected,
    /// It may have been shared: the party failed or the connection broke after sending. It is
    /// never re-sent by itself.
    Uncertain,
}

/// Why a presentation request was declined.
#[uniffi::remote(Enum)]
pub enum DeclineReason {
    /// The citizen said no.
    Citizen,
    /// The wallet holds nothing that answers the query.
    NothingToAnswer,
}

impl From<kluis_core::audit::AuditEvent> for AuditEvent {
    fn from(e: kluis_core::audit::AuditEvent) -> Self {
        use kluis_core::audit::AuditEvent as E;
        match e {
            E::VaultCreated => AuditEvent::WalletCreated,
            E::PinChanged => AuditEvent::PinChanged,
            E::TrustedIssuerAdded {
                issuer_id,
                thumbprint,
            } => AuditEvent::TrustedIssuerAdded {
                issuer_id,
                thumbprint,
            },
            E::CredentialImported {
                credential_id,
                issuer,
                vct,
            } => AuditEvent::CredentialImported {
                credential_id,
                issuer,
                vct,
            },
            E::CredentialDeleted { credential_id } => {
                AuditEvent::CredentialDeleted { credential_id }
            }
            E::CredentialCollected {
                credential_id,
                issuer,
                vct,
                copies,
            } => AuditEvent::CredentialCollected {
                credential_id,
                issuer,
                vct,
                copies,
            },
            E::CredentialRefreshed {
                credential_id,
                issuer,
                vct,
            } => AuditEvent::CredentialRefreshed {
                credential_id,
                issuer,
                vct,
            },
            E::CredentialStatusChanged {
                credential_id,
                status,
            } => AuditEvent::CredentialStatusChanged {
                credential_id,
                // The log keeps the state's JSON name; one the wallet never writes is Unknown.
                status: serde_json::from_value(serde_json::Value::String(status))
                    .unwrap_or(CredentialState::Unknown),
            },
            E::SchemePinned {
                list_uri,
                thumbprint,
            } => AuditEvent::SchemePinned {
                list_uri,
                thumbprint,
            },
            E::Disclosed {
                credential_id,
                audience,
                claims,
                purpose,
                retention_days,
                channel,
                delivery,
                ..
            } => AuditEvent::Disclosed {
                credential_id,
                audience,
                claims,
                purpose,
                retention_days,
                channel,
                delivery,
            },
            E::PresentationDeclined {
                audience,
                purpose,
                channel,
                reason,
            } => AuditEvent::PresentationDeclined {
                audience,
                purpose,
                channel,
                reason,
            },
            E::PresentationRefused {
                audience,
                reason,
                channel,
            } => AuditEvent::PresentationRefused {
                audience,
                reason,
                channel,
            },
            E::MandateIssued {
                mandate_id,
                helper,
                types,
                actions,
                expires_at,
            } => AuditEvent::MandateIssued {
                mandate_id,
                helper,
                types,
                actions: actions.iter().filter_map(|a| Action::parse(a)).collect(),
                expires_at,
            },
            E::MandateAccepted {
                mandate_id,
                citizen,
                types,
            } => AuditEvent::MandateAccepted {
                mandate_id,
                citizen,
                types,
            },
            E::MandateUsed {
                mandate_id,
                audience,
                vct,
                claims,
                purpose,
            } => AuditEvent::MandateUsed {
                mandate_id,
                audience,
                vct,
                claims,
                purpose,
            },
            E::MandateCollected {
                mandate_id,
                issuer,
                vct,
            } => AuditEvent::MandateCollected {
                mandate_id,
                issuer,
                vct,
            },
            E::MandateRevoked { mandate_id } => AuditEvent::MandateRevoked { mandate_id },
            E::MandateDropped { mandate_id, reason } => AuditEvent::MandateDropped {
                mandate_id,
                reason: if reason == "revoked" {
                    MandateState::Revoked
                } else {
                    MandateState::Expired
                },
            },
            E::RecoverySecretMade => AuditEvent::RecoverySecretMade,
            E::BackupMade {
                backup_id,
                credentials,
            } => AuditEvent::BackupMade {
                backup_id,
                credentials,
            },
            E::Restored {
                backup_id,
                backup_made_at,
                needs_reissuance,
            } => AuditEvent::Restored {
                backup_id,
                backup_made_at,
                needs_reissuance,
            },
            E::DeletedByParty {
                entry,
                audience,
                deleted_at,
                deleted,
                ..
            } => AuditEvent::DeletedByParty {
                entry,
                audience,
                deleted_at,
                deleted,
            },
        }
    }
}

/// One entry of the hash-chained consent and audit log.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When (Unix seconds).
    pub at: i64,
    /// Who acted.
    pub actor: AuditActor,
    /// What happened.
    pub event: AuditEvent,
    /// Hash of the previous entry (hex); all zeros for the first.
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this entry's content (hex).
    pub hash: String,
}

impl From<kluis_core::audit::AuditEntry> for AuditEntry {
    fn from(a: kluis_core::audit::AuditEntry) -> Self {
        AuditEntry {
            seq: a.seq,
            at: a.at,
            actor: a.actor.into(),
            event: a.event.into(),
            prev_hash: a.prev_hash,
            hash: a.hash,
        }
    }
}
