//! The citizen revokes a mandate it gave: the bit set in the vault first, then published.

use kluis_vault::Record;

use super::mandate_list::MandateStatusListRecord;
use super::records::IssuedMandate;
use super::{short_id, MandateSummary};
use crate::audit::{self, Actor, AuditEvent};
use crate::http::HttpPolicy;
use crate::{now_unix, Error, Wallet};

impl Wallet {
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
        let key = self.holder_key()?;
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
        list.publish(&key, now, &policy)
            .await
            .map_err(|e| match e {
                Error::Network { kind, reason } => Error::Network {
                    kind,
                    reason: format!(
                    "{reason} (the revocation is kept in this wallet; revoke the mandate again to \
                     publish it)"
                ),
                },
                other => other,
            })?;
        // The `seq` just used; if this write is lost, the next publication catches up.
        self.vault.put(&issued.list_record, &list)?;
        Ok(issued.summary(now))
    }
}
