//! Every mandate this wallet gave or received, with received packages that expired or were
//! revoked dropped (and logged).

use super::records::{IssuedMandate, ReceivedMandate};
use super::{MandateState, MandateSummary};
use crate::delegation::revocation::MandateStatusLists;
use crate::http::HttpPolicy;
use crate::{now_unix, Error, Wallet};

impl Wallet {
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
}
