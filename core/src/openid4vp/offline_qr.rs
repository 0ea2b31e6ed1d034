//! In person without network: the offline QR, made by the wallet. The format and the party's
//! checks (`aud`, the two-minute window, the replay cache) are kluis-verifier's
//! ([`kluis_verifier::openid4vp::offline`]); docs/PRESENTING.md "In person".

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kluis_sdjwt::ClaimPath;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::association;
use super::dcql::{self, Candidate, DcqlQuery};
use crate::audit::{self, Actor, AuditEvent, Channel};
use crate::credentials::{HolderBinding, StoredCredential};
use crate::{now_unix, Error, Wallet};

/// One credential and the claims to disclose from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineItem {
    /// The wallet's credential id.
    pub credential_id: String,
    /// Claim paths, e.g. `/address`.
    pub claims: Vec<String>,
}

/// An offline QR the wallet made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfflineQr {
    /// The QR text (`KL2:...`).
    pub payload: String,
    /// The party it is bound to (`aud`).
    pub audience: String,
    /// The nonce the wallet picked.
    pub nonce: String,
    /// `iat` of the key-binding JWTs; the QR is stale
    /// [`MAX_AGE_SECS`](super::offline::MAX_AGE_SECS) later.
    pub issued_at: i64,
    /// What it discloses, per credential: every claim the party will read from it (the chosen
    /// ones and the credential's always-visible ones), as logged.
    pub items: Vec<OfflineItem>,
}

fn fresh_nonce() -> String {
    // 128 bits: a collision with another wallet's QR within two minutes is out of reach.
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

impl Wallet {
    /// Chooses, for each credential query of `query` the wallet should answer, the stored
    /// credential whose presentation is smallest (the QR must stay small), and the claims to
    /// disclose. Fails when the vault cannot answer the query.
    pub fn offline_items_for(&self, query: &DcqlQuery) -> Result<Vec<OfflineItem>, Error> {
        // Only credentials of a type some query names are re-verified (a signature check each).
        let any_type = query.credentials.iter().any(|q| q.vct_values.is_empty());
        let wanted = |vct: &str| {
            any_type
                || query
                    .credentials
                    .iter()
                    .any(|q| q.vct_values.iter().any(|v| v == vct))
        };
        let mut stored: Vec<(String, StoredCredential, Value)> = Vec::new();
        for (id, r) in self.vault.list::<StoredCredential>()? {
            let s = r?;
            if s.binding != HolderBinding::ThisWallet || !wanted(&s.vct) {
                continue;
            }
            let claims = self.parsed(&s)?.claims().clone();
            stored.push((id, s, claims));
        }
        let candidates: Vec<Candidate<'_>> = stored
            .iter()
            .map(|(id, s, claims)| Candidate {
                id,
                vct: &s.vct,
                claims,
                holder_bound: true,
            })
            .collect();
        let m = dcql::match_query(query, &candidates);
        let selection = m.selection.clone().ok_or_else(|| Error::NotFound {
            what: "credentials that answer the request".into(),
        })?;
        let size_of = |id: &str| {
            stored
                .iter()
                .find(|(i, _, _)| i == id)
                .map(|(_, s, _)| s.compact.len())
                .unwrap_or(usize::MAX)
        };
        let mut items = Vec::new();
        for qid in selection {
            let Some(best) = m
                .candidates
                .get(&qid)
                .and_then(|c| c.iter().min_by_key(|c| size_of(&c.credential_id)))
            else {
                continue;
            };
            items.push(OfflineItem {
                credential_id: best.credential_id.clone(),
                claims: best.claims.iter().map(ClaimPath::to_string).collect(),
            });
        }
        Ok(items)
    }

    /// Makes the offline QR disclosing `items` to `audience` (the party's client identifier), with a
    /// fresh nonce and `iat` = now, and logs each disclosure (channel `offline-qr`).
    pub fn offline_presentation(
        &self,
        items: &[OfflineItem],
        audience: &str,
        purpose: Option<&str>,
    ) -> Result<OfflineQr, Error> {
        if audience.trim().is_empty() {
            return Err(Error::invalid_input(
                "an offline QR must name the party it is for",
            ));
        }
        if items.is_empty() || items.len() > kluis_qr::offline::MAX_PRESENTATIONS {
            return Err(Error::invalid_input(format!(
                "an offline QR carries 1 to {} credentials",
                kluis_qr::offline::MAX_PRESENTATIONS
            )));
        }
        let nonce = fresh_nonce();
        let now = now_unix();
        // Every credential and key first: each KB-JWT names all the QR's keys (association).
        let mut chosen = Vec::with_capacity(items.len());
        for item in items {
            let paths = item
                .claims
                .iter()
                .map(|p| {
                    ClaimPath::parse(p)
                        .map_err(|e| Error::invalid_input(format!("claim path {p:?}: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let stored = self.stored(&item.credential_id)?;
            if stored.binding != HolderBinding::ThisWallet {
                return Err(Error::InvalidCredential {
                    reason: "the credential is not bound to this wallet's key".into(),
                });
            }
            let credential = self.parsed(&stored)?;
            let key = self.credential_key(stored.key_id()?)?;
            chosen.push((paths, credential, key));
        }
        let signers: Vec<&kluis_sdjwt::PublicJwk> =
            chosen.iter().map(|(_, _, k)| &k.public).collect();
        let extra = association::kb_claims(&signers);
        let mut presentations = Vec::with_capacity(items.len());
        let mut accounted_claims: Vec<Vec<String>> = Vec::with_capacity(items.len());
        for (paths, credential, key) in &chosen {
            let unsigned = credential
                .prepare_presentation_with(paths, &nonce, audience, now, &extra)
                .map_err(|e| Error::invalid_input(e.to_string()))?;
            let presentation = self.sign_presentation(key, unsigned)?;
            accounted_claims.push(crate::disclosure::accounted(credential, &presentation)?);
            presentations.push(presentation);
        }
        let refs: Vec<&str> = presentations.iter().map(String::as_str).collect();
        // The association claim is not carried: the verifier's decoder recomputes it.
        let payload = kluis_qr::offline::encode_set_deriving(
            &refs,
            kluis_qr::offline::EncodeOptions::default(),
            Some(&association::qr_claim()),
        )
        .map_err(|e| Error::invalid_input(format!("offline QR: {e}")))?;
        self.vault.write(|tx| {
            for ((item, claims), (_, _, key)) in items.iter().zip(&accounted_claims).zip(&chosen) {
                audit::append(
                    tx,
                    now,
                    Actor::Citizen,
                    AuditEvent::Disclosed {
                        credential_id: item.credential_id.clone(),
                        audience: audience.to_string(),
                        claims: claims.clone(),
                        purpose: purpose.map(str::to_string),
                        retention_days: None,
                        channel: Some(Channel::OfflineQr),
                        delivery: None,
                        holder_key: Some(key.id.clone()),
                    },
                )?;
            }
            Ok(())
        })?;
        Ok(OfflineQr {
            payload,
            audience: audience.to_string(),
            nonce,
            issued_at: now,
            items: items
                .iter()
                .zip(accounted_claims)
                .map(|(item, claims)| OfflineItem {
                    credential_id: item.credential_id.clone(),
                    claims,
                })
                .collect(),
        })
    }
}
