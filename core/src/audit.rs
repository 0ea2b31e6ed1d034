//! The consent and audit log: an append-only, hash-chained list of everything the wallet did with
//! the citizen's data — issuance, disclosure (to whom, which claims, why), deletion, trust and PIN
//! changes. Entries are sealed vault records like any other; the chain makes a removed, reordered
//! or edited entry detectable even by someone holding the data key.

use kluis_vault::{Record, VaultError, WriteTxn};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// The wallet's owner.
    Citizen,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AuditEvent {
    /// The vault was created.
    VaultCreated,
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
        status: String,
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
        /// How long the party said it keeps the data (days), when it said so. Absent in entries
        /// written before OpenID4VP presenting (skipped when empty, so their hashes still hold).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retention_days: Option<u32>,
        /// How the presentation travelled: `remote`, `session-qr` or `offline-qr`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<Channel>,
        /// Whether the party confirmed it received the data; absent where no answer is expected
        /// (offline QR, a file) and in entries written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        delivery: Option<Delivery>,
        /// The vault id of the holder key that signed the key-binding JWT: what a later deletion
        /// request must be signed with ([`crate::Wallet::forget`]). Absent for a helper's
        /// presentations and in entries written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        holder_key: Option<String>,
    },
    /// The party confirmed, with a receipt it signed, that it deleted what it received in the
    /// disclosure logged as entry `entry` ([`crate::Wallet::forget`]).
    DeletedByParty {
        /// The audit entry of the disclosure.
        entry: u64,
        /// The party's client identifier.
        audience: String,
        /// When the party says it deleted (Unix seconds).
        deleted_at: i64,
        /// How many results it deleted (0: it no longer held any).
        deleted: u32,
        /// The receipt (`typ` `kluis-deletion-receipt+jwt`), signed by the party's registered key.
        receipt: String,
    },
    /// A presentation request was declined (the party was told `access_denied`).
    PresentationDeclined {
        /// The requesting party's client identifier.
        audience: String,
        /// The purpose the party stated.
        purpose: Option<String>,
        /// How the request arrived.
        channel: Channel,
        /// Who decided; absent in entries written before it was recorded (the citizen).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<DeclineReason>,
    },
    /// The wallet refused a presentation request as invalid or untrusted; nothing was sent.
    PresentationRefused {
        /// The client identifier the request claimed (not verified; shortened).
        audience: String,
        /// A short reason code (e.g. `bad_signature`), no personal data.
        reason: String,
        /// How the request arrived.
        channel: Channel,
    },
    /// The citizen gave a helper a mandate (delegation).
    MandateIssued {
        mandate_id: String,
        /// Thumbprint of the helper's key.
        helper: String,
        /// Credential types in scope.
        types: Vec<String>,
        /// Actions allowed (`present`, `view`, `refresh`).
        actions: Vec<String>,
        /// The mandate's `exp`.
        expires_at: i64,
    },
    /// This wallet accepted a mandate package from a citizen (helper's side).
    MandateAccepted {
        mandate_id: String,
        /// Thumbprint of the citizen's status key (their main holder key).
        citizen: String,
        /// Credential types received.
        types: Vec<String>,
    },
    /// This wallet presented on a citizen's behalf under a mandate (helper's side).
    MandateUsed {
        mandate_id: String,
        /// The requesting party (`aud`).
        audience: String,
        /// The credential type presented.
        vct: String,
        /// The claim paths disclosed.
        claims: Vec<String>,
        /// The purpose the party stated.
        purpose: Option<String>,
    },
    /// A holder issued credentials of type `vct` to the helper under a mandate (the helper's
    /// log; the citizen's from the helper's receipt).
    MandateCollected {
        mandate_id: String,
        /// The holder (its issuer identifier).
        issuer: String,
        /// The credential type collected.
        vct: String,
    },
    /// The citizen revoked a mandate (published in its status list).
    MandateRevoked { mandate_id: String },
    /// A recovery secret was made (shown once); backups are sealed for it.
    RecoverySecretMade,
    /// A backup was written.
    BackupMade {
        backup_id: String,
        /// Credentials in it.
        credentials: u32,
    },
    /// This vault was restored from a backup on this device (the entries before it are the
    /// backup's, chain intact).
    Restored {
        backup_id: String,
        /// When the backup was made.
        backup_made_at: i64,
        /// Credentials whose keys stayed on the old device, to collect again.
        needs_reissuance: Vec<String>,
    },
    /// The helper's wallet dropped a mandate package (revoked or expired).
    MandateDropped {
        mandate_id: String,
        /// `revoked` or `expired`.
        reason: String,
    },
}

/// What became of a presentation sent to a party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    /// The party acknowledged it.
    Received,
    /// The party received it and refused it: it has seen the data all the same.
    Rejected,
    /// It may have been shared: the party failed or the connection broke after sending. It is
    /// never re-sent by itself.
    Uncertain,
}

impl Delivery {
    /// The name used in the log and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Received => "received",
            Delivery::Rejected => "rejected",
            Delivery::Uncertain => "uncertain",
        }
    }
}

/// Why a request was declined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeclineReason {
    /// The citizen said no.
    Citizen,
    /// The wallet holds nothing that answers the query (e.g. `--yes` could not answer).
    NothingToAnswer,
}

impl DeclineReason {
    /// The name used in the log and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineReason::Citizen => "citizen",
            DeclineReason::NothingToAnswer => "nothing-to-answer",
        }
    }
}

/// How a presentation travelled to the requesting party.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// OpenID4VP cross-device: the party's QR or link, answered over HTTPS.
    Remote,
    /// In person, through the citizen's session QR and the session channel.
    SessionQr,
    /// In person, a self-contained offline QR.
    OfflineQr,
    /// A web page through the Digital Credentials API (the phone's platform hands the request
    /// over and the answer back).
    DcApi,
}

impl Channel {
    /// The name used in the log and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Remote => "remote",
            Channel::SessionQr => "session-qr",
            Channel::OfflineQr => "offline-qr",
            Channel::DcApi => "dc-api",
        }
    }
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// When (Unix seconds).
    pub at: i64,
    /// Who acted.
    pub actor: Actor,
    /// What happened.
    pub event: AuditEvent,
    /// Hash of the previous entry (hex); all zeros for the first.
    pub prev_hash: String,
    /// SHA-256 over `prev_hash` and this entry's content (hex).
    pub hash: String,
}

impl Record for AuditEntry {
    const KIND: &'static str = "audit";
}

/// The head of the chain, kept so an append need not read the whole log.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuditHead {
    seq: u64,
    hash: String,
}

impl Record for AuditHead {
    const KIND: &'static str = "audit_head";
}

const HEAD_ID: &str = "head";
/// The head's record kind (a backup carries it with the entries).
pub(crate) const HEAD_KIND: &str = AuditHead::KIND;

/// The head as a backup carries it.
pub(crate) fn decode_head(r: &kluis_vault::PlainRecord) -> Result<(u64, String), VaultError> {
    let h: AuditHead = r.decode()?;
    Ok((h.seq, h.hash))
}
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn entry_hash(
    prev_hash: &str,
    seq: u64,
    at: i64,
    actor: &Actor,
    event: &AuditEvent,
) -> Result<String, VaultError> {
    // serde_json output of these types is deterministic (struct field order, no maps).
    let body = serde_json::to_vec(&(seq, at, actor, event))
        .map_err(|e| VaultError::Encoding(e.to_string()))?;
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(&body);
    Ok(hex::encode(h.finalize()))
}

/// Appends an entry inside the caller's write transaction, so the event and its record land together.
pub(crate) fn append(
    tx: &mut WriteTxn<'_>,
    at: i64,
    actor: Actor,
    event: AuditEvent,
) -> Result<AuditEntry, VaultError> {
    let head: Option<AuditHead> = tx.get(HEAD_ID)?;
    let (seq, prev_hash) = match head {
        Some(h) => (h.seq + 1, h.hash),
        None => (1, GENESIS.to_string()),
    };
    let hash = entry_hash(&prev_hash, seq, at, &actor, &event)?;
    let entry = AuditEntry {
        seq,
        at,
        actor,
        event,
        prev_hash,
        hash: hash.clone(),
    };
    tx.put(&format!("{seq:016}"), &entry)?;
    tx.put(HEAD_ID, &AuditHead { seq, hash })?;
    Ok(entry)
}

/// Checks the chain: consecutive `seq`, each `prev_hash` the previous `hash`, each hash recomputed,
/// and the last entry equal to the stored head. Returns the entries in order.
pub(crate) fn verify_chain(
    entries: Vec<AuditEntry>,
    head: Option<(u64, String)>,
) -> Result<Vec<AuditEntry>, crate::Error> {
    let broken = |seq: u64| crate::Error::Integrity {
        record: format!("audit log chain broken at entry {seq}"),
    };
    let mut prev = GENESIS.to_string();
    for (i, e) in entries.iter().enumerate() {
        let expected_seq = i as u64 + 1;
        if e.seq != expected_seq || e.prev_hash != prev {
            return Err(broken(expected_seq));
        }
        let h =
            entry_hash(&e.prev_hash, e.seq, e.at, &e.actor, &e.event).map_err(|_| broken(e.seq))?;
        if h != e.hash {
            return Err(broken(e.seq));
        }
        prev = h;
    }
    let last = entries.last().map(|e| (e.seq, e.hash.clone()));
    if last != head {
        return Err(broken(entries.len() as u64 + 1));
    }
    Ok(entries)
}

/// Reads the head of the chain from the vault.
pub(crate) fn read_head(vault: &kluis_vault::Vault) -> Result<Option<(u64, String)>, VaultError> {
    Ok(vault.get::<AuditHead>(HEAD_ID)?.map(|h| (h.seq, h.hash)))
}
