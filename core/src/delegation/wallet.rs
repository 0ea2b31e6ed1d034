//! The delegation use cases on [`Wallet`], both sides:
//! - citizen: [`Wallet::delegate`] (mandates + encrypted package), [`Wallet::revoke_mandate`];
//! - helper: [`Wallet::accept_mandate`], [`Wallet::present_on_behalf`];
//! - both: [`Wallet::mandates`] (the helper's side drops revoked and expired packages there).
//!
//! Received packages are records of their own kind, separate from the helper's own credentials:
//! they never show in the overview and are never presented as the helper's own.

use kluis_sdjwt::{ClaimPath, Credential, PublicJwk, SigningKey, VerifyOptions};
use kluis_vault::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::mandate::{Action, Mandate, Scope, StatusRef};
use super::package::{MandatePackage, PackagedCredential};
use super::receipts;
use super::revocation::{MandateStatusListRecord, MandateStatusLists};
use super::verify::{self, check_not_revoked, check_time, parse_paths};
use super::DelegationError;
use crate::audit::{self, Actor, AuditEvent};
use crate::credentials::{CredentialState, HolderBinding, StoredCredential};
use crate::holder_key::HolderKey;
use crate::http::HttpPolicy;
use crate::{now_unix, Error, Wallet};

/// Longest mandate the wallet issues (a mandate should be renewed, not forgotten).
pub const MAX_MANDATE_SECS: i64 = 2 * 366 * 24 * 3600;

/// What the citizen decides when delegating.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegateRequest {
    /// The helper's public key (JWK JSON, from the helper's `kluis key --json`).
    pub helper_jwk: String,
    /// Credential types in scope.
    pub types: Vec<String>,
    /// Claim paths in scope; `None`: every claim of those types.
    pub claims: Option<Vec<String>>,
    /// Actions allowed.
    pub actions: Vec<Action>,
    /// Start of validity (Unix seconds); `None`: now.
    pub not_before: Option<i64>,
    /// End of validity (Unix seconds).
    pub until: i64,
    /// Requesting parties (client ids) allowed; `None`: any.
    pub parties: Option<Vec<String>>,
    /// Purposes allowed; `None`: any.
    pub purposes: Option<Vec<String>>,
    /// Whom the package is for (shown in both wallets).
    pub label: String,
    /// The mandate registry's base URL, where the status list is published.
    pub registry: String,
}

/// Which side of a mandate this wallet is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MandateRole {
    /// This wallet gave the mandate (the citizen).
    Issued,
    /// This wallet received it (the helper).
    Received,
}

/// A mandate's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MandateState {
    /// Valid now.
    Active,
    /// Not valid yet (`nbf` in the future).
    NotYetValid,
    /// Past `exp` (a received package is dropped).
    Expired,
    /// Revoked by the citizen (a received package is dropped).
    Revoked,
    /// The status list could not be fetched (a received package is kept).
    Unknown,
}

/// One credential under a received mandate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MandateCredential {
    /// Id within the mandate (for `present_on_behalf`).
    pub id: String,
    /// Credential type.
    pub vct: String,
    /// Issuer.
    pub issuer: String,
}

/// One line of `kluis mandates`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MandateSummary {
    /// Mandate id.
    pub id: String,
    /// Given or received.
    pub role: MandateRole,
    /// Whom it is for, as the citizen named it.
    pub label: String,
    /// Thumbprint of the other side's key (the helper's, or the citizen's status key).
    pub counterpart: String,
    /// Types in scope.
    pub types: Vec<String>,
    /// Claim paths in scope (`None`: all).
    pub claims: Option<Vec<String>>,
    /// Actions allowed.
    pub actions: Vec<Action>,
    /// Parties allowed (`None`: any).
    pub parties: Option<Vec<String>>,
    /// Purposes allowed (`None`: any).
    pub purposes: Option<Vec<String>>,
    /// `nbf`.
    pub not_before: i64,
    /// `exp`.
    pub expires_at: i64,
    /// State now.
    pub state: MandateState,
    /// The credentials (received side; given side: their types only, ids empty).
    pub credentials: Vec<MandateCredential>,
}

/// The package and what it says, after [`Wallet::delegate`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DelegationOutcome {
    /// The mandate.
    pub mandate: MandateSummary,
    /// The encrypted package (compact JWE) to hand to the helper.
    pub package: String,
    /// Credentials in scope that were not packaged because their holder withdrew them.
    #[serde(default)]
    pub left_out: Vec<LeftOutCredential>,
}

/// A credential in a mandate's scope that [`Wallet::delegate`] did not package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOutCredential {
    /// The credential's id in this wallet.
    pub credential_id: String,
    /// Its type.
    pub vct: String,
    /// Why: revoked, suspended or expired (as the status check just found).
    pub state: CredentialState,
}

// The label may name a person: left out of Debug (no personal data in logs).
impl std::fmt::Debug for DelegateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegateRequest")
            .field("types", &self.types)
            .field("actions", &self.actions)
            .field("until", &self.until)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for MandateSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MandateSummary")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("state", &self.state)
            .field("types", &self.types)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for DelegationOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DelegationOutcome")
            .field("mandate", &self.mandate)
            .field("package_bytes", &self.package.len())
            .field("left_out", &self.left_out)
            .finish()
    }
}

/// The citizen's record of a mandate it gave.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct IssuedMandate {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) helper_thumbprint: String,
    /// The helper's key, to check its usage receipts.
    #[serde(default)]
    pub(crate) helper_jwk: Option<Value>,
    pub(crate) scope: Scope,
    pub(crate) issued_at: i64,
    pub(crate) not_before: i64,
    pub(crate) expires_at: i64,
    pub(crate) status: StatusRef,
    pub(crate) list_record: String,
    pub(crate) credential_ids: Vec<String>,
    pub(crate) vcts: Vec<String>,
    pub(crate) revoked_at: Option<i64>,
    /// Ids of the usage receipts already logged.
    #[serde(default)]
    pub(crate) receipts_seen: Vec<String>,
}

impl Record for IssuedMandate {
    const KIND: &'static str = "mandate_issued";
}

/// The helper's record of a received package: separate from its own credentials.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ReceivedMandate {
    pub(crate) id: String,
    pub(crate) label: String,
    pub(crate) accepted_at: i64,
    pub(crate) not_before: i64,
    pub(crate) expires_at: i64,
    pub(crate) scope: Scope,
    pub(crate) status: StatusRef,
    pub(crate) status_key: Value,
    pub(crate) credentials: Vec<ReceivedCredential>,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ReceivedCredential {
    pub(crate) id: String,
    pub(crate) vct: String,
    pub(crate) issuer: String,
    pub(crate) compact: String,
    pub(crate) mandate: String,
}

impl Record for ReceivedMandate {
    const KIND: &'static str = "mandate_received";
}

fn state_at(not_before: i64, expires_at: i64, revoked: bool, now: i64) -> MandateState {
    if revoked {
        MandateState::Revoked
    } else if now >= expires_at {
        MandateState::Expired
    } else if now < not_before {
        MandateState::NotYetValid
    } else {
        MandateState::Active
    }
}

impl IssuedMandate {
    fn summary(&self, now: i64) -> MandateSummary {
        MandateSummary {
            id: self.id.clone(),
            role: MandateRole::Issued,
            label: self.label.clone(),
            counterpart: self.helper_thumbprint.clone(),
            types: self.scope.vct.clone(),
            claims: self.scope.claims.clone(),
            actions: self.scope.actions.clone(),
            parties: self.scope.parties.clone(),
            purposes: self.scope.purposes.clone(),
            not_before: self.not_before,
            expires_at: self.expires_at,
            state: state_at(
                self.not_before,
                self.expires_at,
                self.revoked_at.is_some(),
                now,
            ),
            credentials: self
                .vcts
                .iter()
                .map(|v| MandateCredential {
                    id: String::new(),
                    vct: v.clone(),
                    issuer: String::new(),
                })
                .collect(),
        }
    }
}

impl ReceivedMandate {
    fn status_key(&self) -> Result<PublicJwk, Error> {
        PublicJwk::from_value(&self.status_key).map_err(|_| Error::Integrity {
            record: "mandate_received record (status key)".into(),
        })
    }

    fn summary(&self, state: MandateState) -> MandateSummary {
        MandateSummary {
            id: self.id.clone(),
            role: MandateRole::Received,
            label: self.label.clone(),
            counterpart: self
                .status_key()
                .map(|k| k.thumbprint())
                .unwrap_or_default(),
            types: self.scope.vct.clone(),
            claims: self.scope.claims.clone(),
            actions: self.scope.actions.clone(),
            parties: self.scope.parties.clone(),
            purposes: self.scope.purposes.clone(),
            not_before: self.not_before,
            expires_at: self.expires_at,
            state,
            credentials: self
                .credentials
                .iter()
                .map(|c| MandateCredential {
                    id: c.id.clone(),
                    vct: c.vct.clone(),
                    issuer: c.issuer.clone(),
                })
                .collect(),
        }
    }
}

fn delegation_err(e: DelegationError) -> Error {
    e.into_mandate_error()
}

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
                    self.credential_key(stored.holder_key_id.as_deref())?,
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
        let list_id = self.vault.lookup_id(
            MandateStatusListRecord::KIND,
            req.registry.trim_end_matches('/'),
        )?;
        let mut list = match self.vault.get::<MandateStatusListRecord>(&list_id)? {
            Some(l) => l,
            None => MandateStatusListRecord::new(&req.registry)?,
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
        };
        let mut credentials = Vec::new();
        for (_, compact, key, _) in &chosen {
            credentials.push(PackagedCredential {
                credential: compact.clone(),
                mandate: self.sign_jws(
                    key,
                    mandate.unsigned().map_err(delegation_err)?,
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
        let list_jwt = list.to_jwt(&primary, now).map_err(delegation_err)?;
        list.publish(&list_jwt, &policy).await?;

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

    /// Revokes a mandate this wallet gave: sets its bit, republishes the signed list, logs it.
    /// Revoking twice is harmless.
    pub async fn revoke_mandate(
        &self,
        mandate_id: &str,
        policy: HttpPolicy,
    ) -> Result<MandateSummary, Error> {
        let now = now_unix();
        let record_id = self.vault.lookup_id(IssuedMandate::KIND, mandate_id)?;
        let mut issued: IssuedMandate = self
            .vault
            .get(&record_id)?
            .ok_or_else(|| Error::not_found(format!("mandate {}", short_id(mandate_id))))?;
        let mut list: MandateStatusListRecord =
            self.vault
                .get(&issued.list_record)?
                .ok_or_else(|| Error::Integrity {
                    record: "mandate_status_list record missing".into(),
                })?;
        let slot = list
            .revoked
            .get_mut(issued.status.idx)
            .ok_or_else(|| Error::Integrity {
                record: "mandate_status_list record (index)".into(),
            })?;
        *slot = true;
        let jwt = list
            .to_jwt(&self.holder_key()?, now)
            .map_err(delegation_err)?;
        let first = issued.revoked_at.is_none();
        issued.revoked_at.get_or_insert(now);
        // The vault first, then the registry: a crash or a failed publication between the two
        // leaves the bit set here, so the next publication (a retry, or the list republished for
        // a new mandate) carries the revocation. The other order could un-revoke a mandate.
        self.vault.write(|tx| {
            tx.put(&issued.list_record, &list)?;
            tx.put(&record_id, &issued)?;
            if first {
                audit::append(
                    tx,
                    now,
                    Actor::Citizen,
                    AuditEvent::MandateRevoked {
                        mandate_id: issued.id.clone(),
                    },
                )?;
            }
            Ok(())
        })?;
        list.publish(&jwt, &policy).await.map_err(|e| match e {
            Error::Network { reason } => Error::Network {
                reason: format!(
                    "{reason} (the revocation is kept in this wallet; revoke the mandate again to \
                     publish it)"
                ),
            },
            other => other,
        })?;
        Ok(issued.summary(now))
    }

    /// Opens a mandate package with this wallet's key, verifies every credential (against this
    /// wallet's trust) and its mandate (signed by the credential's `cnf`, naming this wallet's
    /// key, one id, type in scope, not expired, not revoked), and stores it apart from this
    /// wallet's own credentials.
    pub async fn accept_mandate(
        &self,
        package: &str,
        policy: HttpPolicy,
    ) -> Result<MandateSummary, Error> {
        let now = now_unix();
        let key = self.holder_key()?;
        let package = MandatePackage::open(package, &key).map_err(delegation_err)?;
        let trust = self.trust_list()?;
        let me = key.public_jwk();
        let mut first: Option<Mandate> = None;
        let mut received = Vec::new();
        for pc in &package.credentials {
            let c =
                Credential::verify_issued(&pc.credential, &trust, now, &VerifyOptions::default())
                    .map_err(|e| Error::from_credential(e, &pc.credential))?;
            let cnf = c.holder_jwk().ok_or_else(|| Error::InvalidCredential {
                reason: "delegation: a credential in the package has no holder key".into(),
            })?;
            let m = verify::verify_mandate(&pc.mandate, cnf).map_err(delegation_err)?;
            if m.id != package.mandate_id {
                return Err(delegation_err(DelegationError::Package(
                    "the mandates do not all carry the package's id",
                )));
            }
            if m.helper != me {
                return Err(delegation_err(DelegationError::Package(
                    "the mandate names another helper key",
                )));
            }
            if !m.scope.vct.iter().any(|t| t == c.vct()) {
                return Err(delegation_err(DelegationError::TypeOutOfScope(
                    c.vct().to_string(),
                )));
            }
            if let Some(f) = &first {
                if f.scope != m.scope
                    || f.status != m.status
                    || f.expires_at != m.expires_at
                    || f.status_key != m.status_key
                {
                    return Err(delegation_err(DelegationError::Package(
                        "the mandates in the package differ",
                    )));
                }
            }
            if now >= m.expires_at {
                return Err(delegation_err(DelegationError::Expired));
            }
            received.push(ReceivedCredential {
                id: hex::encode(
                    &<sha2::Sha256 as sha2::Digest>::digest(pc.credential.as_bytes())[..8],
                ),
                vct: c.vct().to_string(),
                issuer: c.issuer().to_string(),
                compact: pc.credential.clone(),
                mandate: pc.mandate.clone(),
            });
            first.get_or_insert(m);
        }
        let m = first.ok_or_else(|| delegation_err(DelegationError::Package("empty")))?;
        let lists = MandateStatusLists::fetch(std::slice::from_ref(&m.status.uri), policy).await?;
        check_not_revoked(&m, &lists, now).map_err(delegation_err)?;

        let record = ReceivedMandate {
            id: m.id.clone(),
            label: package.label.clone(),
            accepted_at: now,
            not_before: m.not_before,
            expires_at: m.expires_at,
            scope: m.scope.clone(),
            status: m.status.clone(),
            status_key: m.status_key.to_value(),
            credentials: received,
        };
        let record_id = self.vault.lookup_id(ReceivedMandate::KIND, &record.id)?;
        if self.vault.get::<ReceivedMandate>(&record_id)?.is_some() {
            return Err(Error::AlreadyExists {
                what: format!("mandate {}", short_id(&record.id)),
            });
        }
        self.vault.write(|tx| {
            tx.put(&record_id, &record)?;
            audit::append(
                tx,
                now,
                Actor::Citizen,
                AuditEvent::MandateAccepted {
                    mandate_id: record.id.clone(),
                    citizen: m.status_key.thumbprint(),
                    types: record.credentials.iter().map(|c| c.vct.clone()).collect(),
                },
            )?;
            Ok(())
        })?;
        Ok(record.summary(state_at(m.not_before, m.expires_at, false, now)))
    }

    /// Every mandate this wallet gave or received. Received packages are checked against their
    /// status lists and expiry; revoked or expired ones are dropped (and logged) and listed one
    /// last time with that state.
    pub async fn mandates(&self, policy: HttpPolicy) -> Result<Vec<MandateSummary>, Error> {
        // What the helpers reported since the last time (citizen's side).
        self.collect_receipts(&policy).await?;
        let now = now_unix();
        let mut out = Vec::new();
        for (_, rec) in self.vault.list::<IssuedMandate>()? {
            out.push(rec?.summary(now));
        }
        let mut received = Vec::new();
        for (id, rec) in self.vault.list::<ReceivedMandate>()? {
            received.push((id, rec?));
        }
        let uris: Vec<String> = received
            .iter()
            .filter(|(_, r)| now < r.expires_at)
            .map(|(_, r)| r.status.uri.clone())
            .collect();
        let lists = if uris.is_empty() {
            MandateStatusLists::new()
        } else {
            MandateStatusLists::fetch(&uris, policy).await?
        };
        for (record_id, r) in received {
            let state = self.received_state(&r, &lists, now)?;
            if matches!(state, MandateState::Revoked | MandateState::Expired) {
                self.drop_received(&record_id, &r, state, now)?;
            }
            out.push(r.summary(state));
        }
        Ok(out)
    }

    fn received_state(
        &self,
        r: &ReceivedMandate,
        lists: &MandateStatusLists,
        now: i64,
    ) -> Result<MandateState, Error> {
        if now >= r.expires_at {
            return Ok(MandateState::Expired);
        }
        let m = Mandate {
            id: r.id.clone(),
            issued_at: r.accepted_at,
            not_before: r.not_before,
            expires_at: r.expires_at,
            helper: self.holder_key()?.public_jwk(),
            scope: r.scope.clone(),
            redelegation: false,
            status: r.status.clone(),
            status_key: r.status_key()?,
        };
        Ok(match check_not_revoked(&m, lists, now) {
            Ok(()) => state_at(r.not_before, r.expires_at, false, now),
            Err(DelegationError::Revoked) => MandateState::Revoked,
            Err(_) => MandateState::Unknown,
        })
    }

    fn drop_received(
        &self,
        record_id: &str,
        r: &ReceivedMandate,
        state: MandateState,
        now: i64,
    ) -> Result<(), Error> {
        self.vault.write(|tx| {
            tx.delete::<ReceivedMandate>(record_id)?;
            audit::append(
                tx,
                now,
                Actor::Citizen,
                AuditEvent::MandateDropped {
                    mandate_id: r.id.clone(),
                    reason: match state {
                        MandateState::Revoked => "revoked",
                        _ => "expired",
                    }
                    .to_string(),
                },
            )?;
            Ok(())
        })?;
        Ok(())
    }

    /// Presents a credential received under a mandate, on the citizen's behalf: checks the
    /// mandate locally (time, type, `present`, party, purpose, claims in scope, not revoked —
    /// a revoked or expired package is dropped), then discloses exactly `claim_paths` with a
    /// key-binding JWT signed by this wallet's key carrying the mandate. Logged.
    #[allow(clippy::too_many_arguments)]
    pub async fn present_on_behalf(
        &self,
        mandate_id: &str,
        credential: &str,
        claim_paths: &[String],
        nonce: &str,
        aud: &str,
        purpose: Option<&str>,
        policy: HttpPolicy,
    ) -> Result<String, Error> {
        if nonce.is_empty() || aud.is_empty() {
            return Err(Error::invalid_input(
                "a presentation needs a nonce and an audience",
            ));
        }
        let paths = claim_paths
            .iter()
            .map(|p| {
                ClaimPath::parse(p)
                    .map_err(|e| Error::invalid_input(format!("claim path {p:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (record_id, r) = self.received_mandate(mandate_id)?;
        let matching: Vec<&ReceivedCredential> = r
            .credentials
            .iter()
            .filter(|c| c.id == credential || c.vct == credential)
            .collect();
        let rc = match matching.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::not_found(format!(
                    "credential {} under mandate {}",
                    short_id(credential),
                    short_id(mandate_id)
                )))
            }
            _ => {
                return Err(Error::invalid_input(
                    "several credentials of that type: name one by its id (kluis mandates)",
                ))
            }
        };
        self.ensure_usable(&record_id, &r, policy.clone()).await?;
        let now = now_unix();
        let presentation = self.on_behalf(&r, rc)?.present(
            &paths,
            nonce,
            aud,
            purpose,
            &self.holder_key()?,
            now,
        )?;
        let used = [(rc.vct.clone(), &paths)];
        self.log_use(&r, &used, aud, purpose, now)?;
        self.report_use(&r, &used, aud, purpose, now, &policy).await;
        Ok(presentation)
    }

    /// The `view` action: the claims of a credential under a received mandate that the mandate
    /// covers, with display names in `lang`, for the helper to read. Needs `view` in the scope and
    /// the mandate valid and not revoked; logged as a use with the audience `view`.
    pub async fn view_on_behalf(
        &self,
        mandate_id: &str,
        credential: &str,
        lang: &str,
        policy: HttpPolicy,
    ) -> Result<Vec<crate::ClaimView>, Error> {
        let (record_id, r) = self.received_mandate(mandate_id)?;
        let rc = r
            .credentials
            .iter()
            .find(|c| c.id == credential || c.vct == credential)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "credential {} under mandate {}",
                    short_id(credential),
                    short_id(mandate_id)
                ))
            })?;
        self.ensure_usable(&record_id, &r, policy.clone()).await?;
        let c = self.on_behalf(&r, rc)?;
        let now = now_unix();
        check_time(&c.mandate, now, 0).map_err(delegation_err)?;
        if !c.mandate.scope.allows(Action::View) {
            return Err(delegation_err(DelegationError::ActionNotAllowed("view")));
        }
        let allowed = c.allowed_paths()?;
        let views: Vec<crate::ClaimView> =
            crate::credentials::claim_views(&c.credential, &self.metadata(), lang)
                .into_iter()
                .filter(|v| match (&allowed, ClaimPath::parse(&v.path)) {
                    (None, _) => true,
                    (Some(a), Ok(p)) => a.iter().any(|x| x.is_prefix_of(&p)),
                    (Some(_), Err(_)) => false,
                })
                .collect();
        let paths: Vec<ClaimPath> = views
            .iter()
            .filter_map(|v| ClaimPath::parse(&v.path).ok())
            .collect();
        let used = [(rc.vct.clone(), &paths)];
        self.log_use(&r, &used, "view", None, now)?;
        self.report_use(&r, &used, "view", None, now, &policy).await;
        Ok(views)
    }

    /// The received mandate `mandate_id` and its record id.
    pub(crate) fn received_mandate(
        &self,
        mandate_id: &str,
    ) -> Result<(String, ReceivedMandate), Error> {
        let record_id = self.vault.lookup_id(ReceivedMandate::KIND, mandate_id)?;
        let r: ReceivedMandate = self
            .vault
            .get(&record_id)?
            .ok_or_else(|| Error::not_found(format!("mandate {}", short_id(mandate_id))))?;
        Ok((record_id, r))
    }

    /// Fails (and drops the package) when the mandate has expired or been revoked; fails when
    /// its status cannot be checked.
    pub(crate) async fn ensure_usable(
        &self,
        record_id: &str,
        r: &ReceivedMandate,
        policy: HttpPolicy,
    ) -> Result<(), Error> {
        let now = now_unix();
        if now >= r.expires_at {
            self.drop_received(record_id, r, MandateState::Expired, now)?;
            return Err(delegation_err(DelegationError::Expired));
        }
        let lists = MandateStatusLists::fetch(std::slice::from_ref(&r.status.uri), policy).await?;
        match self.received_state(r, &lists, now)? {
            MandateState::Revoked => {
                self.drop_received(record_id, r, MandateState::Revoked, now)?;
                Err(delegation_err(DelegationError::Revoked))
            }
            MandateState::Unknown => Err(delegation_err(DelegationError::StatusUnchecked(
                "the mandate registry could not be reached or its list did not verify".into(),
            ))),
            _ => Ok(()),
        }
    }

    /// One credential under a received mandate, re-verified with its mandate.
    pub(crate) fn on_behalf(
        &self,
        r: &ReceivedMandate,
        rc: &ReceivedCredential,
    ) -> Result<OnBehalfCredential, Error> {
        let trust = self.trust_list()?;
        let credential = Credential::verify_issued(
            &rc.compact,
            &trust,
            r.accepted_at,
            &VerifyOptions::default(),
        )
        .map_err(|e| Error::from_credential(e, &rc.compact))?;
        let cnf = credential.holder_jwk().ok_or(Error::Integrity {
            record: "mandate_received record (credential)".into(),
        })?;
        let mandate = verify::verify_mandate(&rc.mandate, cnf).map_err(delegation_err)?;
        Ok(OnBehalfCredential {
            credential,
            mandate,
            mandate_jwt: rc.mandate.clone(),
        })
    }

    /// Reports uses to the citizen as sealed receipts (best effort: the use happened whether or
    /// not the registry takes the receipt; the helper's own log has it).
    pub(crate) async fn report_use(
        &self,
        r: &ReceivedMandate,
        used: &[(String, &Vec<ClaimPath>)],
        aud: &str,
        purpose: Option<&str>,
        now: i64,
        policy: &HttpPolicy,
    ) {
        let (Ok(key), Ok(citizen)) = (self.holder_key(), r.status_key()) else {
            return;
        };
        for (vct, paths) in used {
            let receipt = receipts::Receipt {
                id: kluis_vault::Vault::new_record_id(),
                mandate_id: r.id.clone(),
                at: now,
                audience: aud.to_string(),
                vct: vct.clone(),
                claims: paths.iter().map(|p| p.to_string()).collect(),
                purpose: purpose.map(str::to_string),
            };
            if let Ok(sealed) = receipts::seal_receipt(&key, &citizen, &receipt) {
                let _ = receipts::post_receipt(&r.status.uri, &sealed, policy).await;
            }
        }
    }

    /// The citizen's side: fetches the helpers' receipts for every mandate this wallet gave,
    /// and logs each new one (checked against the helper's key) as `MandateUsed`. Best effort:
    /// an unreachable registry leaves them for the next time.
    async fn collect_receipts(&self, policy: &HttpPolicy) -> Result<(), Error> {
        let mut issued: Vec<(String, IssuedMandate)> = Vec::new();
        for (id, rec) in self.vault.list::<IssuedMandate>()? {
            issued.push((id, rec?));
        }
        let mut uris: Vec<String> = issued.iter().map(|(_, m)| m.status.uri.clone()).collect();
        uris.sort();
        uris.dedup();
        let key = self.holder_key()?;
        let mut new: Vec<receipts::Receipt> = Vec::new();
        for uri in uris {
            let Ok(sealed) = receipts::fetch_receipts(&uri, policy.clone()).await else {
                continue;
            };
            for jwe in sealed {
                let Ok(jws) = receipts::open_receipt(&jwe, &key) else {
                    continue;
                };
                let Some(mid) = receipts::claimed_mandate(&jws) else {
                    continue;
                };
                let Some((_, m)) = issued.iter().find(|(_, m)| m.id == mid) else {
                    continue;
                };
                let Some(helper) = m
                    .helper_jwk
                    .as_ref()
                    .and_then(|j| PublicJwk::from_value(j).ok())
                else {
                    continue;
                };
                let Ok(receipt) = receipts::verify_receipt(&jws, &helper) else {
                    continue;
                };
                if receipt.mandate_id == m.id
                    && !m.receipts_seen.contains(&receipt.id)
                    && !new.iter().any(|n| n.id == receipt.id)
                {
                    new.push(receipt);
                }
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        new.sort_by_key(|r| r.at);
        self.vault.write(|tx| {
            for (record_id, m) in issued.iter_mut() {
                let mine: Vec<&receipts::Receipt> =
                    new.iter().filter(|r| r.mandate_id == m.id).collect();
                if mine.is_empty() {
                    continue;
                }
                for r in mine {
                    m.receipts_seen.push(r.id.clone());
                    audit::append(
                        tx,
                        r.at,
                        Actor::Citizen,
                        AuditEvent::MandateUsed {
                            mandate_id: m.id.clone(),
                            audience: r.audience.clone(),
                            vct: r.vct.clone(),
                            claims: r.claims.clone(),
                            purpose: r.purpose.clone(),
                        },
                    )?;
                }
                tx.put(record_id, &*m)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Logs one use of a mandate (one entry per credential presented).
    pub(crate) fn log_use(
        &self,
        r: &ReceivedMandate,
        used: &[(String, &Vec<ClaimPath>)],
        aud: &str,
        purpose: Option<&str>,
        now: i64,
    ) -> Result<(), Error> {
        self.vault.write(|tx| {
            for (vct, paths) in used {
                audit::append(
                    tx,
                    now,
                    Actor::Citizen,
                    AuditEvent::MandateUsed {
                        mandate_id: r.id.clone(),
                        audience: aud.to_string(),
                        vct: vct.clone(),
                        claims: paths.iter().map(|p| p.to_string()).collect(),
                        purpose: purpose.map(str::to_string),
                    },
                )?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// A credential under a received mandate, with its verified mandate.
pub(crate) struct OnBehalfCredential {
    pub credential: Credential,
    pub mandate: Mandate,
    pub mandate_jwt: String,
}

impl OnBehalfCredential {
    /// The scope paths the mandate allows (`None`: all).
    pub(crate) fn allowed_paths(&self) -> Result<Option<Vec<ClaimPath>>, Error> {
        self.mandate
            .scope
            .claims
            .as_ref()
            .map(|c| parse_paths(c).map_err(delegation_err))
            .transpose()
    }

    /// Checks the use against the mandate (the same rules as the verifier, on what would be
    /// disclosed) and makes the presentation with the helper's key and the mandate in the KB-JWT.
    pub(crate) fn present(
        &self,
        paths: &[ClaimPath],
        nonce: &str,
        aud: &str,
        purpose: Option<&str>,
        helper_key: &SigningKey,
        now: i64,
    ) -> Result<String, Error> {
        check_time(&self.mandate, now, 0).map_err(delegation_err)?;
        if let Some(allowed) = self.allowed_paths()? {
            for p in paths {
                if !allowed.iter().any(|a| a.is_prefix_of(p)) {
                    return Err(delegation_err(DelegationError::ClaimOutOfScope(
                        p.to_string(),
                    )));
                }
            }
        }
        verify::check_use(
            &self.mandate,
            self.credential.vct(),
            &Value::Null,
            &[],
            Action::Present,
            aud,
            purpose,
            now,
            0,
        )
        .map_err(delegation_err)?;
        let mut extra = serde_json::Map::new();
        extra.insert(
            verify::KB_MANDATE_CLAIM.to_string(),
            Value::String(self.mandate_jwt.clone()),
        );
        self.credential
            .present_delegated(paths, helper_key, nonce, aud, now, &extra)
            .map_err(|e| Error::invalid_input(e.to_string()))
    }
}

pub(crate) fn short_id(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(80).collect()
}
