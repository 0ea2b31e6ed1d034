//! The helper accepts a package: opened with its key, every credential and mandate verified,
//! stored apart from its own credentials.

use kluis_sdjwt::{Credential, VerifyOptions};
use kluis_vault::Record;

use super::records::{state_at, ReceivedCredential, ReceivedMandate};
use super::{delegation_err, short_id, MandateSummary};
use crate::audit::{self, Actor, AuditEvent};
use crate::delegation::mandate::Mandate;
use crate::delegation::package::MandatePackage;
use crate::delegation::revocation::MandateStatusLists;
use crate::delegation::verify::{self, check_not_revoked};
use crate::delegation::DelegationError;
use crate::http::HttpPolicy;
use crate::{now_unix, Error, Wallet};

impl Wallet {
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
                    || f.status_registry != m.status_registry
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
                collected_at: None,
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
            status_registry: m
                .status_registry
                .as_ref()
                .map(|r| (r.iss.clone(), r.key.to_value())),
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
}
