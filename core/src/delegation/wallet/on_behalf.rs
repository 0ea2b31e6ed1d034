//! The helper acts on the citizen's behalf: presents or views a credential under a received
//! mandate, after checking the mandate locally (a revoked or expired package is dropped).

use kluis_sdjwt::{ClaimPath, Credential, SigningKey, VerifyOptions};
use kluis_vault::Record;
use serde_json::Value;

use super::records::{ReceivedCredential, ReceivedMandate};
use super::{delegation_err, short_id, MandateState};
use crate::delegation::collect::{verify_collected_mandate, OnBehalfOf};
use crate::delegation::mandate::{Action, Mandate};
use crate::delegation::revocation::MandateStatusLists;
use crate::delegation::verify::{self, check_time, parse_paths};
use crate::delegation::DelegationError;
use crate::http::HttpPolicy;
use crate::{now_unix, Error, Wallet};

impl Wallet {
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
            &serde_json::Map::new(),
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
        // Collected at its holder: bound to this wallet's key, its mandate signed by the
        // citizen key the credential names.
        let mandate = match OnBehalfOf::from_claims(credential.claims()).map_err(delegation_err)? {
            Some(o) => verify_collected_mandate(&rc.mandate, cnf, &o),
            None => verify::verify_mandate(&rc.mandate, cnf),
        }
        .map_err(delegation_err)?;
        Ok(OnBehalfCredential {
            credential,
            mandate,
            mandate_jwt: rc.mandate.clone(),
        })
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
    /// disclosed) and makes the presentation with the helper's key and the mandate in the KB-JWT,
    /// with `extra` KB claims besides (the answer's association).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn present(
        &self,
        paths: &[ClaimPath],
        nonce: &str,
        aud: &str,
        purpose: Option<&str>,
        helper_key: &SigningKey,
        now: i64,
        extra: &serde_json::Map<String, Value>,
    ) -> Result<String, Error> {
        check_time(&self.mandate, now, 0).map_err(delegation_err)?;
        if let Some(allowed) = self.allowed_paths()? {
            // Judged by signed-array position, as the party's verifier judges it.
            for p in paths {
                let signed = self.credential.signed_path(p);
                if !signed.is_some_and(|s| allowed.iter().any(|a| a.is_prefix_of(&s))) {
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
            None,
            Action::Present,
            aud,
            purpose,
            now,
            0,
        )
        .map_err(delegation_err)?;
        let mut extra = extra.clone();
        extra.insert(
            verify::KB_MANDATE_CLAIM.to_string(),
            Value::String(self.mandate_jwt.clone()),
        );
        self.credential
            .present_delegated(paths, helper_key, nonce, aud, now, &extra)
            .map_err(|e| Error::invalid_input(e.to_string()))
    }
}
