//! The wallet's trust store: which issuers (data holders) and keys it accepts credentials from.
//!
//! Entries live in the vault (kind `trusted_issuer`), keyed by a keyed hash of the issuer id so the
//! database holds no issuer names. The scheme's signed participant list arrives with the collecting
//! issue; until then `kluis trust add-issuer` adds keys by hand, as DESIGN.md's "Trust" allows.

use kluis_sdjwt::PublicJwk;
use kluis_vault::Record;
use serde::{Deserialize, Serialize};

pub use kluis_verifier::trust::TrustList;

/// An issuer this wallet trusts, with the key its credentials must be signed with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustedIssuer {
    /// The issuer identifier as it appears in credentials' `iss` (e.g. `https://duo.holders.kluis.test`).
    pub issuer_id: String,
    /// The issuer's public P-256 JWK, as JSON.
    pub jwk: String,
    /// RFC 7638 thumbprint of the key, to show and compare.
    pub thumbprint: String,
    /// When it was added (Unix seconds).
    pub added_at: i64,
}

impl Record for TrustedIssuer {
    const KIND: &'static str = "trusted_issuer";
}

impl TrustedIssuer {
    /// Validates the JWK (a public P-256 key, no private part) and makes an entry.
    pub fn new(issuer_id: &str, jwk_json: &str, added_at: i64) -> Result<Self, crate::Error> {
        if issuer_id.trim().is_empty() || issuer_id.len() > 2048 {
            return Err(crate::Error::invalid_input(
                "issuer id must be 1 to 2048 characters",
            ));
        }
        let value: serde_json::Value = serde_json::from_str(jwk_json)
            .map_err(|_| crate::Error::invalid_input("the issuer key is not JSON"))?;
        if value.get("d").is_some() {
            return Err(crate::Error::invalid_input(
                "the issuer key contains a private part ('d'): give the public JWK only",
            ));
        }
        let jwk = PublicJwk::from_value(&value).map_err(|e| {
            crate::Error::invalid_input(format!("the issuer key is not a P-256 public JWK: {e}"))
        })?;
        Ok(TrustedIssuer {
            issuer_id: issuer_id.to_string(),
            jwk: jwk.to_value().to_string(),
            thumbprint: jwk.thumbprint(),
            added_at,
        })
    }
}

/// A [`TrustList`] of stored entries; entries whose key no longer parses are skipped.
pub fn list_of(entries: &[TrustedIssuer]) -> TrustList {
    let mut list = TrustList::new();
    for e in entries {
        if let Ok(jwk) = PublicJwk::from_json(&e.jwk) {
            list.add(&e.issuer_id, jwk);
        }
    }
    list
}
