//! The citizen wallet's mandate status lists (one per registry), sealed in the vault; their
//! format and publication are kluis-verifier's ([`crate::delegation::revocation`]).

use kluis_sdjwt::SigningKey;
use kluis_vault::Record;
use serde::{Deserialize, Serialize};

use crate::delegation::{publish_status_list, sign_status_list, DelegationError};
use crate::http::{checked_url, HttpPolicy};
use crate::Error;

/// The citizen wallet's mandate status list for one registry, sealed in the vault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MandateStatusListRecord {
    /// The registry's base URL.
    pub registry: String,
    /// The URI the list is published at (`{registry}/lists/{id}`), its `sub`.
    pub uri: String,
    /// Revoked flags, one per index handed out.
    pub revoked: Vec<bool>,
}

impl Record for MandateStatusListRecord {
    const KIND: &'static str = "mandate_status_list";
}

impl MandateStatusListRecord {
    pub(crate) fn new(registry: &str) -> Result<Self, Error> {
        let base = registry.trim_end_matches('/');
        checked_url(base)?;
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        Ok(MandateStatusListRecord {
            registry: base.to_string(),
            uri: format!("{base}/lists/{}", hex::encode(id)),
            revoked: Vec::new(),
        })
    }

    /// Hands out the next index (valid).
    pub(crate) fn allocate(&mut self) -> usize {
        self.revoked.push(false);
        self.revoked.len() - 1
    }

    /// The signed `statuslist+jwt` (header `jwk`: the registry pins the first writer's key).
    pub(crate) fn to_jwt(&self, key: &SigningKey, now: i64) -> Result<String, DelegationError> {
        sign_status_list(key, &self.uri, &self.revoked, now)
    }

    /// Publishes the signed list at its URI (`PUT`).
    pub(crate) async fn publish(&self, jwt: &str, policy: &HttpPolicy) -> Result<(), Error> {
        Ok(publish_status_list(&self.uri, jwt, policy).await?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::delegation::revocation::verify_status_list;

    #[test]
    fn the_record_signs_the_flags_it_handed_out() {
        let key = SigningKey::make_random().unwrap();
        let mut rec = MandateStatusListRecord::new("http://127.0.0.1:9/").unwrap();
        assert!(rec.uri.starts_with("http://127.0.0.1:9/lists/"));
        for i in 0..10 {
            assert_eq!(rec.allocate(), i);
        }
        rec.revoked[3] = true;
        let jwt = rec.to_jwt(&key, 1_000).unwrap();
        let list = verify_status_list(&jwt, &rec.uri, &key.public_jwk(), 1_000).unwrap();
        let got: Vec<bool> = (0..10).map(|i| list.get(i) == Some(1)).collect();
        assert_eq!(got, rec.revoked);
    }
}
