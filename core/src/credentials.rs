//! Credentials as the wallet keeps and shows them.
//!
//! The vault stores the issued compact SD-JWT VC (all disclosures) plus the few fields the overview
//! needs, so that listing 10,000 credentials does not re-verify 10,000 signatures. Everything in the
//! record is sealed; the record id is a keyed hash of the credential, so the same credential imported
//! twice is found, and nothing about it shows in the database.

use kluis_sdjwt::{ClaimPath, Credential, MetadataRegistry};
use kluis_vault::Record;
use serde::{Deserialize, Serialize};

/// How a credential is bound to a holder key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolderBinding {
    /// `cnf.jwk` is this wallet's holder key: it can be presented with key binding.
    ThisWallet,
    /// The credential names no holder key (bearer credential).
    None,
}

/// One extra copy of a credential from batch issuance, bound to its own holder key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialCopy {
    /// The compact SD-JWT VC.
    pub compact: String,
    /// Vault record id of the holder key it is bound to.
    pub holder_key_id: String,
}

/// A credential's state after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialState {
    /// Not expired and its status list entry is 0.
    Valid,
    /// The holder revoked it (status 1, "invalid").
    Revoked,
    /// The holder suspended it (status 2).
    Suspended,
    /// Past its `exp`.
    Expired,
    /// Could not be determined (no status reference with a list the wallet could verify, or an
    /// unknown status value).
    Unknown,
}

impl CredentialState {
    /// The lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialState::Valid => "valid",
            CredentialState::Revoked => "revoked",
            CredentialState::Suspended => "suspended",
            CredentialState::Expired => "expired",
            CredentialState::Unknown => "unknown",
        }
    }
}

/// The stored result of the last check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    /// The state found.
    pub state: CredentialState,
    /// When it was checked (Unix seconds).
    pub checked_at: i64,
}

/// The sealed record of one credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredCredential {
    pub compact: String,
    pub issuer: String,
    pub vct: String,
    pub issued_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub imported_at: i64,
    pub binding: HolderBinding,
    /// The holder key record `compact` (copy 0) is bound to; `None`: the wallet key (imported
    /// by hand, or collected with the software store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder_key_id: Option<String>,
    /// Extra copies from batch issuance, each bound to its own holder key (collecting issue).
    #[serde(default)]
    pub copies: Vec<CredentialCopy>,
    /// The last status check's result (collecting issue).
    #[serde(default)]
    pub freshness: Option<Freshness>,
    /// Restored from a backup on another device, where its holder key stayed: it cannot be
    /// presented with key binding until it is collected again (docs/VAULT.md, "Backup").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_reissuance: bool,
}

impl Record for StoredCredential {
    const KIND: &'static str = "credential";

    /// What the overview and `list` need, so that listing 10,000 does not open 10,000 full
    /// credentials (docs/VAULT.md, "Summaries").
    fn summary(&self) -> Option<serde_json::Value> {
        serde_json::to_value(StoredSummary {
            issuer: self.issuer.clone(),
            vct: self.vct.clone(),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            imported_at: self.imported_at,
            binding: self.binding,
            copies: 1 + self.copies.len() as u32,
            status: self.freshness.as_ref().map(|f| f.state),
            needs_reissuance: self.needs_reissuance,
        })
        .ok()
    }
}

/// The sealed summary kept beside each credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredSummary {
    pub issuer: String,
    pub vct: String,
    pub issued_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub imported_at: i64,
    pub binding: HolderBinding,
    pub copies: u32,
    pub status: Option<CredentialState>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub needs_reissuance: bool,
}

impl StoredSummary {
    pub(crate) fn view(
        self,
        id: String,
        metadata: &MetadataRegistry,
        lang: &str,
    ) -> CredentialSummary {
        CredentialSummary {
            id,
            name: metadata.credential_name(&self.vct, lang),
            issuer: self.issuer,
            vct: self.vct,
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            imported_at: self.imported_at,
            binding: self.binding,
            copies: self.copies,
            status: self.status,
            needs_reissuance: self.needs_reissuance,
        }
    }
}

/// One line of the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialSummary {
    /// Opaque id, stable for the life of the credential in this vault.
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
    /// When it was stored in this vault.
    pub imported_at: i64,
    /// How it is bound to a holder key.
    pub binding: HolderBinding,
    /// Copies kept for unlinkable presentations (1 for an imported credential).
    #[serde(default = "one")]
    pub copies: u32,
    /// Result of the last status check (`None`: never checked).
    #[serde(default)]
    pub status: Option<CredentialState>,
    /// Restored on a device without its holder key: collect it again (`kluis refresh` does,
    /// where the holder gave a refresh token).
    #[serde(default)]
    pub needs_reissuance: bool,
}

fn one() -> u32 {
    1
}

/// One claim, as `kluis show` and the apps display it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimView {
    /// Claim path, e.g. `/address/locality`.
    pub path: String,
    /// Display label from type metadata, in the requested language.
    pub label: Option<String>,
    /// The value as JSON.
    pub value: serde_json::Value,
    /// Whether the holder can choose to disclose or withhold it.
    pub selectively_disclosable: bool,
}

/// A credential with all its claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialDetails {
    /// The overview line.
    pub summary: CredentialSummary,
    /// Every leaf claim, in document order.
    pub claims: Vec<ClaimView>,
}

impl StoredCredential {
    pub(crate) fn from_verified(c: &Credential, binding: HolderBinding, imported_at: i64) -> Self {
        StoredCredential {
            compact: c.compact().to_string(),
            issuer: c.issuer().to_string(),
            vct: c.vct().to_string(),
            issued_at: c.issued_at(),
            expires_at: c.expires_at(),
            imported_at,
            binding,
            holder_key_id: None,
            copies: Vec::new(),
            freshness: None,
            needs_reissuance: false,
        }
    }

    /// The holder key record copy 0 is bound to (`None`: the wallet key). A credential restored
    /// on a device without its key has none: collect it again first.
    pub(crate) fn key_id(&self) -> Result<Option<&str>, crate::Error> {
        if self.needs_reissuance {
            return Err(crate::Error::HolderKey {
                reason:
                    "restored on a device without this credential's key: collect it again (refresh)"
                        .into(),
            });
        }
        Ok(self.holder_key_id.as_deref())
    }

    /// The holder key records only this credential's copies are bound to (not the shared
    /// primary keys), which go with it.
    pub(crate) fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.holder_key_id
            .as_deref()
            .into_iter()
            .chain(self.copies.iter().map(|c| c.holder_key_id.as_str()))
            .filter(|id| !crate::holder_key::is_shared_key(id))
    }

    pub(crate) fn summary(
        &self,
        id: &str,
        metadata: &MetadataRegistry,
        lang: &str,
    ) -> CredentialSummary {
        CredentialSummary {
            id: id.to_string(),
            issuer: self.issuer.clone(),
            vct: self.vct.clone(),
            name: metadata.credential_name(&self.vct, lang),
            issued_at: self.issued_at,
            expires_at: self.expires_at,
            imported_at: self.imported_at,
            binding: self.binding,
            copies: 1 + self.copies.len() as u32,
            status: self.freshness.as_ref().map(|f| f.state),
            needs_reissuance: self.needs_reissuance,
        }
    }
}

/// Leaf claims of a processed claim set, with their paths, skipping the SD-JWT VC envelope claims
/// that are not the citizen's data.
pub(crate) fn claim_views(
    credential: &Credential,
    metadata: &MetadataRegistry,
    lang: &str,
) -> Vec<ClaimView> {
    const ENVELOPE: &[&str] = &[
        "iss",
        "vct",
        "iat",
        "exp",
        "nbf",
        "cnf",
        "status",
        "sub",
        "vct#integrity",
    ];
    let disclosable = credential.disclosable_paths();
    let mut out = Vec::new();
    if let serde_json::Value::Object(map) = credential.claims() {
        for (k, v) in map {
            if ENVELOPE.contains(&k.as_str()) {
                continue;
            }
            let path = format!("/{}", escape(k));
            walk(&path, v, &mut out);
        }
    }
    for view in &mut out {
        // A leaf is the holder's to withhold when it, or a claim above it, is disclosable.
        let Ok(path) = ClaimPath::parse(&view.path) else {
            continue;
        };
        view.selectively_disclosable = disclosable.iter().any(|d| d.is_prefix_of(&path));
        view.label = metadata.claim_label(credential.vct(), &path, lang);
    }
    out
}

fn walk(path: &str, v: &serde_json::Value, out: &mut Vec<ClaimView>) {
    match v {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                walk(&format!("{path}/{}", escape(k)), child, out);
            }
        }
        serde_json::Value::Array(items)
            if !items.is_empty() && items.iter().any(|i| i.is_object() || i.is_array()) =>
        {
            for (i, child) in items.iter().enumerate() {
                walk(&format!("{path}/{i}"), child, out);
            }
        }
        _ => out.push(ClaimView {
            path: path.to_string(),
            label: None,
            value: v.clone(),
            selectively_disclosable: false,
        }),
    }
}

/// JSON-pointer escaping of one path segment (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}
