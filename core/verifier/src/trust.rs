//! Which issuers (data holders) and keys credentials are accepted from: a [`TrustList`] of
//! issuer keys by `iss`, built from the scheme's participant list or from keys given by hand.

use kluis_sdjwt::{IssuerKeys, PublicJwk};

/// A set of trusted issuer keys, looked up by `iss`.
#[derive(Debug, Clone, Default)]
pub struct TrustList {
    entries: Vec<(String, PublicJwk)>,
    /// Keys trusted for any `iss` (a verifier given bare JWK files).
    any_issuer: Vec<PublicJwk>,
}

impl TrustList {
    /// An empty list: trusts nobody.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts `jwk` for credentials whose `iss` is `issuer_id`.
    pub fn add(&mut self, issuer_id: &str, jwk: PublicJwk) {
        self.entries.push((issuer_id.to_string(), jwk));
    }

    /// Trusts `jwk` for any `iss` (used by `kluis verify --trust FILE`: the key file names no issuer).
    pub fn add_for_any_issuer(&mut self, jwk: PublicJwk) {
        self.any_issuer.push(jwk);
    }

    /// True when nothing is trusted.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.any_issuer.is_empty()
    }
}

impl IssuerKeys for TrustList {
    fn keys_for(&self, iss: &str, _kid: Option<&str>) -> Vec<PublicJwk> {
        self.entries
            .iter()
            .filter(|(id, _)| id == iss)
            .map(|(_, k)| k.clone())
            .chain(self.any_issuer.iter().cloned())
            .collect()
    }
}
