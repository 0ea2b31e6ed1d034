//! What the vault keeps of mandates: the citizen's record of each mandate it gave, the helper's
//! record of each package it received (apart from its own credentials), and their state.

use kluis_sdjwt::PublicJwk;
use kluis_vault::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{MandateCredential, MandateRole, MandateState, MandateSummary};
use crate::audit::{self, Actor, AuditEvent};
use crate::delegation::mandate::{Mandate, Scope, StatusRef};
use crate::delegation::revocation::MandateStatusLists;
use crate::delegation::verify::check_not_revoked;
use crate::delegation::DelegationError;
use crate::{Error, Wallet};

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
    /// The registry that signs the status list (`iss`, key); `None` for older mandates.
    #[serde(default)]
    pub(crate) status_registry: Option<(String, Value)>,
    pub(crate) credentials: Vec<ReceivedCredential>,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ReceivedCredential {
    pub(crate) id: String,
    pub(crate) vct: String,
    pub(crate) issuer: String,
    pub(crate) compact: String,
    pub(crate) mandate: String,
    /// When the helper collected it at its holder under the mandate (bound to the helper's
    /// key, `on_behalf_of`); `None`: it came in the citizen's package.
    #[serde(default)]
    pub(crate) collected_at: Option<i64>,
}

impl Record for ReceivedMandate {
    const KIND: &'static str = "mandate_received";
}

pub(super) fn state_at(not_before: i64, expires_at: i64, revoked: bool, now: i64) -> MandateState {
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
    pub(super) fn summary(&self, now: i64) -> MandateSummary {
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
    pub(super) fn status_key(&self) -> Result<PublicJwk, Error> {
        PublicJwk::from_value(&self.status_key).map_err(|_| Error::Integrity {
            record: "mandate_received record (status key)".into(),
        })
    }

    pub(super) fn summary(&self, state: MandateState) -> MandateSummary {
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

impl Wallet {
    pub(super) fn received_state(
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
            status_registry: match &r.status_registry {
                None => None,
                Some((iss, jwk)) => Some(crate::delegation::StatusRegistry {
                    iss: iss.clone(),
                    key: PublicJwk::from_value(jwk).map_err(|_| Error::Integrity {
                        record: "mandate_received record (registry key)".into(),
                    })?,
                }),
            },
        };
        Ok(match check_not_revoked(&m, lists, now) {
            Ok(()) => state_at(r.not_before, r.expires_at, false, now),
            Err(DelegationError::Revoked) => MandateState::Revoked,
            Err(_) => MandateState::Unknown,
        })
    }

    pub(super) fn drop_received(
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
}
