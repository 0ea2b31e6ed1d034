//! The citizen wallet's mandate status lists (one per registry), sealed in the vault; their
//! format and publication are kluis-verifier's ([`crate::delegation::revocation`]).
//!
//! Each change goes to the registry as an update with the next `seq`; the registry refuses an
//! update not above the last it holds (409). A wallet whose `seq` fell behind (an update
//! published but its vault write lost, or a vault restored from an older state) takes up what
//! the registry holds that this wallet signed — revocations are only ever added — and sends
//! again above it.

use kluis_sdjwt::{PublicJwk, SigningKey};
use kluis_vault::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::delegation::revocation::{put_status, Publication};
use crate::delegation::{
    sign_status_list, sign_status_update, DelegationError, StatusRegistry, STATUS_UPDATE_TYP,
};
use crate::http::{checked_url, Http, HttpPolicy};
use crate::status::StatusList;
use crate::{Error, NetworkFailure};
use kluis_verifier::status::get_status_list_token;

/// The citizen wallet's mandate status list for one registry, sealed in the vault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MandateStatusListRecord {
    /// The registry's base URL.
    pub registry: String,
    /// The URI the list is published at (`{registry}/lists/{id}`), its `sub`.
    pub uri: String,
    /// Revoked flags, one per index handed out.
    pub revoked: Vec<bool>,
    /// The registry that signs the list (`iss`, key), as the scheme listed it when the list was
    /// made; `None`: a list this wallet signs itself (mandates issued before registries signed).
    #[serde(default)]
    pub signer: Option<(String, Value)>,
    /// The last update's `seq` (for a list this wallet signs: the last `iat`).
    #[serde(default)]
    pub seq: i64,
}

impl Record for MandateStatusListRecord {
    const KIND: &'static str = "mandate_status_list";
}

impl MandateStatusListRecord {
    /// A new list at `registry`, signed by `signer` (the registry's listed identity).
    pub(crate) fn new(registry: &str, signer: &StatusRegistry) -> Result<Self, Error> {
        let base = registry.trim_end_matches('/');
        checked_url(base)?;
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        Ok(MandateStatusListRecord {
            registry: base.to_string(),
            uri: format!("{base}/lists/{}", hex::encode(id)),
            revoked: Vec::new(),
            signer: Some((signer.iss.clone(), signer.key.to_value())),
            seq: 0,
        })
    }

    /// The registry that signs this list, for the mandates on it.
    pub(crate) fn status_registry(&self) -> Result<Option<StatusRegistry>, Error> {
        self.signer
            .as_ref()
            .map(|(iss, jwk)| {
                PublicJwk::from_value(jwk)
                    .map(|key| StatusRegistry {
                        iss: iss.clone(),
                        key,
                    })
                    .map_err(|_| Error::Integrity {
                        record: "mandate_status_list record (registry key)".into(),
                    })
            })
            .transpose()
    }

    /// Hands out the next index (valid).
    pub(crate) fn allocate(&mut self) -> usize {
        self.revoked.push(false);
        self.revoked.len() - 1
    }

    /// The next publication, numbered above the last: an update for the registry to sign, or
    /// (a list this wallet signs) the list itself with an `iat` above the last.
    fn next_jwt(&mut self, key: &SigningKey, now: i64) -> Result<String, DelegationError> {
        if self.signer.is_some() {
            self.seq += 1;
            sign_status_update(key, &self.uri, &self.revoked, self.seq, now)
        } else {
            self.seq = now.max(self.seq + 1);
            sign_status_list(key, &self.uri, &self.revoked, self.seq)
        }
    }

    /// Publishes the flags with the next `seq` (`PUT`); the caller stores the record after. If
    /// the registry holds a later publication, takes up its revocations and `seq` (only what this
    /// wallet's `key` signed) and publishes once more above it.
    pub(crate) async fn publish(
        &mut self,
        key: &SigningKey,
        now: i64,
        policy: &HttpPolicy,
    ) -> Result<(), Error> {
        let jwt = self.next_jwt(key, now).map_err(super::delegation_err)?;
        if put_status(&self.uri, &jwt, policy).await? == Publication::Published {
            return Ok(());
        }
        self.catch_up(key, policy).await?;
        let jwt = self.next_jwt(key, now).map_err(super::delegation_err)?;
        match put_status(&self.uri, &jwt, policy).await? {
            Publication::Published => Ok(()),
            Publication::Superseded => Err(Error::Network {
                kind: NetworkFailure::HttpStatus { status: 409 },
                reason:
                    "the mandate registry keeps refusing this wallet's list as older (HTTP 409)"
                        .into(),
            }),
        }
    }

    /// Reads what the registry serves, keeps it only if this wallet's key signed it, and takes
    /// up its `seq` and every revocation in it.
    async fn catch_up(&mut self, key: &SigningKey, policy: &HttpPolicy) -> Result<(), Error> {
        let http = Http::new(policy.clone())?;
        let served = get_status_list_token(&http, &self.uri)
            .await
            .map_err(|reason| Error::network(NetworkFailure::BadAnswer, reason))?;
        let served = String::from_utf8(served).unwrap_or_default();
        let own = key.public_jwk();
        let ours = if self.signer.is_some() {
            payload(served.trim())
                .and_then(|p| p.get("kluis_update")?.as_str().map(str::to_string))
                .filter(|u| header_typ(u).as_deref() == Some(STATUS_UPDATE_TYP))
                .and_then(|u| kluis_sdjwt::verify_compact_es256(&u, &own))
        } else {
            kluis_sdjwt::verify_compact_es256(served.trim(), &own)
        };
        let Some((_, p)) = ours else {
            return Err(Error::Network {
                kind: NetworkFailure::BadAnswer,
                reason: "the mandate registry holds a newer list that this wallet did not sign"
                    .into(),
            });
        };
        let order = p
            .get(if self.signer.is_some() { "seq" } else { "iat" })
            .and_then(Value::as_i64)
            .unwrap_or_default();
        let list = p
            .get("status_list")
            .and_then(|l| {
                StatusList::decode(l.get("bits")?.as_u64()? as u8, l.get("lst")?.as_str()?).ok()
            })
            .ok_or_else(|| Error::Network {
                kind: NetworkFailure::BadAnswer,
                reason: "the mandate registry's list does not decode".into(),
            })?;
        for (i, r) in self.revoked.iter_mut().enumerate() {
            *r |= list.get(i) == Some(1);
        }
        self.seq = self.seq.max(order);
        Ok(())
    }
}

fn payload(jws: &str) -> Option<serde_json::Map<String, Value>> {
    use base64::Engine as _;
    let p = jws.split('.').nth(1)?;
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .ok()?,
    )
    .ok()
}

fn header_typ(jws: &str) -> Option<String> {
    crate::jws::header(jws)?
        .get("typ")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::delegation::revocation::verify_status_list;

    #[test]
    fn each_publication_is_numbered_above_the_last() {
        let key = SigningKey::make_random().unwrap();
        let registry = StatusRegistry {
            iss: "http://127.0.0.1:9".into(),
            key: SigningKey::make_random().unwrap().public_jwk(),
        };
        let mut rec = MandateStatusListRecord::new("http://127.0.0.1:9/", &registry).unwrap();
        assert!(rec.uri.starts_with("http://127.0.0.1:9/lists/"));
        assert_eq!(rec.status_registry().unwrap(), Some(registry));
        for i in 0..10 {
            assert_eq!(rec.allocate(), i);
        }
        rec.revoked[3] = true;
        let first = rec.next_jwt(&key, 1_000).unwrap();
        let second = rec.next_jwt(&key, 1_000).unwrap();
        let seq = |jwt: &str| {
            let (_, p) = kluis_sdjwt::verify_compact_es256(jwt, &key.public_jwk()).unwrap();
            p["seq"].as_i64().unwrap()
        };
        assert_eq!((seq(&first), seq(&second)), (1, 2));
        assert_eq!(header_typ(&first).as_deref(), Some(STATUS_UPDATE_TYP));

        // A list this wallet signs itself (older mandates): `iat` rises within one second too.
        let mut legacy = rec.clone();
        legacy.signer = None;
        let a = legacy.next_jwt(&key, 5_000).unwrap();
        let b = legacy.next_jwt(&key, 5_000).unwrap();
        let iat = |jwt: &str| payload(jwt).unwrap()["iat"].as_i64().unwrap();
        assert!(iat(&b) > iat(&a));
        let list = verify_status_list(&b, &rec.uri, &key.public_jwk(), 5_000).unwrap();
        let got: Vec<bool> = (0..10).map(|i| list.get(i) == Some(1)).collect();
        assert_eq!(got, rec.revoked);
    }
}
