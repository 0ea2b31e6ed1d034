//! The citizen gives a helper a mandate: one copy of each credential in scope, one mandate per
//! credential, the revocation bit published, the package encrypted to the helper.

use kluis_sdjwt::{Credential, PublicJwk, VerifyOptions};
use kluis_vault::Record;

use super::mandate_list::MandateStatusListRecord;
use super::records::IssuedMandate;
use super::{
    delegation_err, DelegateRequest, DelegationOutcome, LeftOutCredential, MAX_MANDATE_SECS,
};
use crate::audit::{self, Actor, AuditEvent};
use crate::credentials::{CredentialState, HolderBinding, StoredCredential};
use crate::delegation::mandate::{Mandate, Scope, StatusRef};
use crate::delegation::package::{MandatePackage, PackagedCredential};
use crate::delegation::verify::parse_paths;
use crate::holder_key::HolderKey;
use crate::http::HttpPolicy;
use crate::{now_unix, Error, Wallet};

impl Wallet {
    /// Gives a helper a mandate: picks one copy of each stored credential whose type is in
    /// scope, signs one mandate per credential with that copy's `cnf` key (same id and scope),
    /// allocates and publishes the mandate's revocation bit, logs it, and returns the package
    /// encrypted to the helper's key.
    pub async fn delegate(
        &self,
        req: &DelegateRequest,
        policy: HttpPolicy,
    ) -> Result<DelegationOutcome, Error> {
        let now = now_unix();
        let helper = PublicJwk::from_json(req.helper_jwk.trim())
            .map_err(|e| Error::invalid_input(format!("the helper's key: {e}")))?;
        let primary = self.holder_key()?;
        if helper == primary.public_jwk() {
            return Err(Error::invalid_input(
                "the helper's key is this wallet's own key",
            ));
        }
        if req.types.is_empty() || req.types.iter().any(|t| t.trim().is_empty()) {
            return Err(Error::invalid_input("a mandate needs at least one type"));
        }
        if req.actions.is_empty() {
            return Err(Error::invalid_input("a mandate needs at least one action"));
        }
        if let Some(claims) = &req.claims {
            if claims.is_empty() {
                return Err(Error::invalid_input("--claims is empty"));
            }
            parse_paths(claims).map_err(|_| Error::invalid_input("a claim path is malformed"))?;
        }
        let not_before = req.not_before.unwrap_or(now);
        if req.until <= now || req.until <= not_before {
            return Err(Error::invalid_input("the mandate must end in the future"));
        }
        if req.until - not_before > MAX_MANDATE_SECS {
            return Err(Error::invalid_input("a mandate may last at most two years"));
        }
        let label = req.label.trim();
        if label.is_empty() || label.len() > 100 {
            return Err(Error::invalid_input(
                "the label must be 1 to 100 characters",
            ));
        }
        // The registry must be one the scheme lists: it signs the mandate's status list.
        let registry = self.listed_mandate_registry(&req.registry, &policy).await?;
        let mut actions = req.actions.clone();
        actions.sort();
        actions.dedup();
        let scope = Scope {
            vct: req.types.iter().map(|t| t.trim().to_string()).collect(),
            claims: req.claims.clone(),
            actions,
            parties: req.parties.clone().filter(|p| !p.is_empty()),
            purposes: req.purposes.clone().filter(|p| !p.is_empty()),
        };

        // Nothing its holder has withdrawn goes into a package: the status of every credential
        // is checked first (stored and logged as by `check_status`). A status that cannot be
        // established (holder down, no status entry) does not stop delegation: verifiers check
        // the credential's status at every presentation anyway.
        let states: std::collections::HashMap<String, CredentialState> = self
            .check_status(policy.clone())
            .await?
            .into_iter()
            .map(|r| (r.id, r.status))
            .collect();
        let mut left_out = Vec::new();

        // One copy of each credential in scope, with the key it is bound to.
        let trust = self.trust_list()?;
        let mut chosen: Vec<(String, String, HolderKey, String)> = Vec::new();
        for (id, rec) in self.vault.list::<StoredCredential>()? {
            let stored = rec?;
            if !scope.vct.contains(&stored.vct) || stored.binding != HolderBinding::ThisWallet {
                continue;
            }
            if let Some(
                state @ (CredentialState::Revoked
                | CredentialState::Suspended
                | CredentialState::Expired),
            ) = states.get(&id).copied()
            {
                left_out.push(LeftOutCredential {
                    credential_id: id,
                    vct: stored.vct.clone(),
                    state,
                });
                continue;
            }
            // The last batch copy, when there is one: the helper's presentations then show a
            // `cnf` the citizen's own presentations (copy 0 first) are least likely to use.
            let (compact, key) = match stored.copies.last() {
                Some(copy) => (
                    copy.compact.clone(),
                    self.load_holder_key(&copy.holder_key_id)?,
                ),
                None => (
                    stored.compact.clone(),
                    self.credential_key(stored.key_id()?)?,
                ),
            };
            let c = Credential::verify_issued(
                &compact,
                &trust,
                stored.imported_at,
                &VerifyOptions::default(),
            )
            .map_err(|e| Error::from_credential(e, &compact))?;
            if c.holder_jwk() != Some(&key.public) {
                return Err(Error::Integrity {
                    record: format!("credential {id} (copy key)"),
                });
            }
            chosen.push((id, compact, key, stored.vct.clone()));
        }
        for t in &scope.vct {
            if chosen.iter().any(|(_, _, _, v)| v == t) {
                continue;
            }
            if let Some(l) = left_out.iter().find(|l| l.vct == *t) {
                return Err(Error::InvalidCredential {
                    reason: format!(
                        "delegation: every credential of type {t} is {} at its holder; nothing \
                         was delegated",
                        l.state.as_str()
                    ),
                });
            }
            return Err(Error::not_found(format!("a credential of type {t}")));
        }

        // The revocation bit: allocate, publish, then store (a failed publication stores nothing).
        // One list per registry and registry key: lists this wallet signed itself (older
        // mandates) and lists under a key the scheme no longer lists get no new mandates.
        let list_id = self.vault.lookup_id(
            MandateStatusListRecord::KIND,
            &format!(
                "{} {}",
                req.registry.trim_end_matches('/'),
                registry.key.thumbprint()
            ),
        )?;
        let mut list = match self.vault.get::<MandateStatusListRecord>(&list_id)? {
            Some(l) => l,
            None => MandateStatusListRecord::new(&req.registry, &registry)?,
        };
        let idx = list.allocate();
        let mandate = Mandate {
            id: format!("m-{}", kluis_vault::Vault::new_record_id()),
            issued_at: now,
            not_before,
            expires_at: req.until,
            helper: helper.clone(),
            scope: scope.clone(),
            redelegation: false,
            status: StatusRef {
                idx,
                uri: list.uri.clone(),
            },
            status_key: primary.public_jwk(),
            status_registry: list.status_registry()?,
        };
        let mut credentials = Vec::new();
        for (_, compact, key, _) in &chosen {
            credentials.push(PackagedCredential {
                credential: compact.clone(),
                mandate: self.sign_jws(
                    key,
                    mandate.unsigned(&key.public).map_err(delegation_err)?,
                    "mandate",
                )?,
            });
        }
        let package = MandatePackage {
            mandate_id: mandate.id.clone(),
            label: label.to_string(),
            credentials,
        }
        .seal(&helper)
        .map_err(delegation_err)?;
        list.publish(&primary, now, &policy).await?;

        let issued = IssuedMandate {
            id: mandate.id.clone(),
            label: label.to_string(),
            helper_thumbprint: helper.thumbprint(),
            helper_jwk: Some(helper.to_value()),
            receipts_seen: Vec::new(),
            scope: scope.clone(),
            issued_at: now,
            not_before,
            expires_at: req.until,
            status: mandate.status.clone(),
            list_record: list_id.clone(),
            credential_ids: chosen.iter().map(|(id, ..)| id.clone()).collect(),
            vcts: chosen.iter().map(|(.., v)| v.clone()).collect(),
            revoked_at: None,
        };
        let record_id = self.vault.lookup_id(IssuedMandate::KIND, &issued.id)?;
        self.vault.write(|tx| {
            tx.put(&list_id, &list)?;
            tx.put(&record_id, &issued)?;
            audit::append(
                tx,
                now,
                Actor::Citizen,
                AuditEvent::MandateIssued {
                    mandate_id: issued.id.clone(),
                    helper: issued.helper_thumbprint.clone(),
                    types: scope.vct.clone(),
                    actions: scope
                        .actions
                        .iter()
                        .map(|a| a.as_str().to_string())
                        .collect(),
                    expires_at: issued.expires_at,
                },
            )?;
            Ok(())
        })?;
        Ok(DelegationOutcome {
            mandate: issued.summary(now),
            package,
            left_out,
        })
    }
}
