//! The helper's overview (the debt counsellor's screen): for each client, the integrated
//! overview (debts, income, arrears) built from the credentials under the client's mandate —
//! packaged by the citizen or collected at the holders — with how old each source is, and
//! refreshed at the holders under the mandate when asked.

use std::collections::BTreeMap;

use kluis_sdjwt::ClaimPath;
use serde::Serialize;
use serde_json::Value;

use super::records::{ReceivedCredential, ReceivedMandate};
use super::{delegation_err, MandateState};
use crate::delegation::mandate::Action;
use crate::delegation::revocation::MandateStatusLists;
use crate::delegation::DelegationError;
use crate::issuance::CollectOptions;
use crate::overview::{Overview, Source};
use crate::{now_unix, Error, Wallet};

/// Claims of the credential envelope: not the citizen's data, not in a use's paths.
const ENVELOPE: &[&str] = &[
    "iss",
    "vct",
    "iat",
    "exp",
    "nbf",
    "cnf",
    "status",
    "sub",
    "vct#integrity",
    "on_behalf_of",
];

/// Which mandates [`Wallet::helper_overview`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clients<'a> {
    /// One received mandate, by id.
    One(&'a str),
    /// Every received mandate (a counsellor with several clients).
    All,
}

/// How the helper got a credential under the mandate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceOrigin {
    /// In the citizen's package (as the citizen's wallet had it then).
    Packaged,
    /// Collected at its holder under the mandate.
    Collected,
}

/// One credential a client's overview is built from, and how old it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverviewSource {
    /// Its id within the mandate (as in the overview's lines).
    pub credential_id: String,
    /// The holder.
    pub issuer: String,
    /// Its type.
    pub vct: String,
    /// Packaged by the citizen or collected at the holder.
    pub origin: SourceOrigin,
    /// When the helper got it (the package accepted, or collected), Unix seconds.
    pub obtained_at: i64,
    /// When the holder issued it (`iat`), when it says.
    pub issued_at: Option<i64>,
    /// How old the data is now, in seconds (since `iat`, else since obtained).
    pub age_secs: i64,
}

/// A holder that could not be refreshed: its older credentials stay in the overview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshFailure {
    /// The holder.
    pub issuer: String,
    /// Why (the error's text: no claim values).
    pub reason: String,
}

/// One client's section of the helper's overview.
#[derive(Clone, PartialEq, Serialize)]
pub struct ClientOverview {
    /// The mandate.
    pub mandate_id: String,
    /// Whom it is for, as the citizen named it.
    pub label: String,
    /// The overview of the mandate's credentials, within its claim scope (`credentials` is
    /// empty: the mandate's credentials are in `sources`).
    pub overview: Overview,
    /// The credentials it is built from (newest of each type per holder), with their age.
    pub sources: Vec<OverviewSource>,
    /// Holders asked to refresh that did not (nothing lost: the older data stays).
    pub refresh_failures: Vec<RefreshFailure>,
}

/// A mandate [`Wallet::helper_overview`] with [`Clients::All`] could not show.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ClientLeftOut {
    /// The mandate.
    pub mandate_id: String,
    /// Whom it is for.
    pub label: String,
    /// Why: revoked or expired (the package is dropped), not yet valid, status unknown.
    pub state: MandateState,
    /// Or the mandate does not allow `view`.
    pub view_allowed: bool,
}

/// The helper's overview: one section per client.
#[derive(Clone, PartialEq, Serialize)]
pub struct HelperOverview {
    /// Unix seconds it was made.
    pub made_at: i64,
    /// One section per usable mandate.
    pub clients: Vec<ClientOverview>,
    /// Mandates left out and why.
    pub left_out: Vec<ClientLeftOut>,
}

impl Wallet {
    /// The helper's overview of `clients`: for each received mandate that is valid, not revoked
    /// and allows `view`, the integrated overview of its credentials (within its claim scope),
    /// with each source's age. With `refresh`, first collects again at every holder of the
    /// mandate's credentials (needs `refresh` in the scope; a holder that fails is named and its
    /// older data kept). A revoked or expired package is dropped. One mandate that cannot be
    /// used is an error; with [`Clients::All`] it is listed in `left_out`. Each client's
    /// overview is logged as a `view` use and reported to the citizen.
    pub async fn helper_overview(
        &self,
        clients: Clients<'_>,
        lang: &str,
        refresh: bool,
        options: CollectOptions,
    ) -> Result<HelperOverview, Error> {
        let mut mandates = Vec::new();
        match clients {
            Clients::One(id) => mandates.push(self.received_mandate(id)?),
            Clients::All => {
                for (id, rec) in self.vault.list::<ReceivedMandate>()? {
                    mandates.push((id, rec?));
                }
            }
        }
        let now = now_unix();
        let uris: Vec<String> = mandates.iter().map(|(_, r)| r.status.uri.clone()).collect();
        let lists = MandateStatusLists::fetch(&uris, options.http.clone()).await?;
        let mut out = HelperOverview {
            made_at: now,
            clients: Vec::new(),
            left_out: Vec::new(),
        };
        for (record_id, r) in mandates {
            let state = self.received_state(&r, &lists, now)?;
            if matches!(state, MandateState::Revoked | MandateState::Expired) {
                self.drop_received(&record_id, &r, state, now)?;
            }
            let view_allowed = r.scope.allows(Action::View);
            if state != MandateState::Active || !view_allowed {
                if let Clients::One(_) = clients {
                    return Err(delegation_err(unusable(state)));
                }
                out.left_out.push(ClientLeftOut {
                    mandate_id: r.id.clone(),
                    label: r.label.clone(),
                    state,
                    view_allowed,
                });
                continue;
            }
            let mut refresh_failures = Vec::new();
            let r = if refresh {
                let mut issuers: Vec<&str> =
                    r.credentials.iter().map(|c| c.issuer.as_str()).collect();
                issuers.sort();
                issuers.dedup();
                for issuer in issuers {
                    if let Err(e) = self
                        .collect_on_behalf(&r.id, issuer, &[], options.clone())
                        .await
                    {
                        refresh_failures.push(RefreshFailure {
                            issuer: issuer.to_string(),
                            reason: e.to_string(),
                        });
                    }
                }
                // Collecting may have dropped the package (revoked meanwhile).
                match self.received_mandate(&r.id) {
                    Ok((_, fresh)) => fresh,
                    Err(Error::NotFound { .. }) => {
                        if let Clients::One(_) = clients {
                            return Err(delegation_err(DelegationError::Revoked));
                        }
                        out.left_out.push(ClientLeftOut {
                            mandate_id: r.id.clone(),
                            label: r.label.clone(),
                            state: MandateState::Revoked,
                            view_allowed,
                        });
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            } else {
                r
            };
            let (overview, sources, used) = self.client_overview(&r, lang, now)?;
            let used: Vec<(String, &Vec<ClaimPath>)> =
                used.iter().map(|(v, p)| (v.clone(), p)).collect();
            self.log_use(&r, &used, "view", None, now)?;
            self.report_use(&r, &used, "view", None, now, &options.http)
                .await;
            out.clients.push(ClientOverview {
                mandate_id: r.id.clone(),
                label: r.label.clone(),
                overview,
                sources,
                refresh_failures,
            });
        }
        Ok(out)
    }

    /// One client's overview from the newest credential of each type per holder, each verified
    /// with its mandate and cut to the mandate's claim scope; with what it read, per type.
    #[allow(clippy::type_complexity)]
    fn client_overview(
        &self,
        r: &ReceivedMandate,
        lang: &str,
        now: i64,
    ) -> Result<(Overview, Vec<OverviewSource>, Vec<(String, Vec<ClaimPath>)>), Error> {
        let obtained = |c: &ReceivedCredential| c.collected_at.unwrap_or(r.accepted_at);
        let mut newest: BTreeMap<(&str, &str), &ReceivedCredential> = BTreeMap::new();
        for c in &r.credentials {
            let key = (c.issuer.as_str(), c.vct.as_str());
            if newest.get(&key).is_none_or(|n| obtained(n) <= obtained(c)) {
                newest.insert(key, c);
            }
        }
        let mut sources = Vec::new();
        let mut inputs = Vec::new();
        let mut used = Vec::new();
        for c in newest.into_values() {
            let (claims, issued_at, paths) = match self.on_behalf(r, c) {
                Ok(ob) => {
                    let allowed = ob.allowed_paths()?;
                    let claims = within(ob.credential.claims(), "", allowed.as_deref())
                        .unwrap_or(Value::Null);
                    let paths = read_paths(&claims);
                    (Some(claims), ob.credential.issued_at(), paths)
                }
                Err(_) => (None, None, Vec::new()),
            };
            if !paths.is_empty() {
                used.push((c.vct.clone(), paths));
            }
            sources.push(OverviewSource {
                credential_id: c.id.clone(),
                issuer: c.issuer.clone(),
                vct: c.vct.clone(),
                origin: if c.collected_at.is_some() {
                    SourceOrigin::Collected
                } else {
                    SourceOrigin::Packaged
                },
                obtained_at: obtained(c),
                issued_at,
                age_secs: (now - issued_at.unwrap_or(obtained(c))).max(0),
            });
            // Nothing of it in the mandate's claim scope: no figures (not an empty address).
            if claims
                .as_ref()
                .is_some_and(|c| c.as_object().is_some_and(|o| o.is_empty()))
            {
                continue;
            }
            inputs.push(Source {
                id: c.id.clone(),
                issuer: c.issuer.clone(),
                vct: c.vct.clone(),
                state: None,
                claims,
            });
        }
        let overview = self.assemble_overview(&inputs, Vec::new(), lang)?;
        Ok((overview, sources, used))
    }
}

// The label may name a person, the overview is personal data: left out of Debug.
impl std::fmt::Debug for ClientOverview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOverview")
            .field("mandate_id", &self.mandate_id)
            .field("sources", &self.sources)
            .field("refresh_failures", &self.refresh_failures)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ClientLeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientLeftOut")
            .field("mandate_id", &self.mandate_id)
            .field("state", &self.state)
            .field("view_allowed", &self.view_allowed)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for HelperOverview {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HelperOverview")
            .field("made_at", &self.made_at)
            .field("clients", &self.clients)
            .field("left_out", &self.left_out)
            .finish()
    }
}

/// Why a mandate cannot be used for the overview.
fn unusable(state: MandateState) -> DelegationError {
    match state {
        MandateState::Revoked => DelegationError::Revoked,
        MandateState::Expired => DelegationError::Expired,
        MandateState::NotYetValid => DelegationError::NotYetValid,
        MandateState::Unknown => DelegationError::StatusUnchecked(
            "the mandate registry could not be reached or its list did not verify".into(),
        ),
        MandateState::Active => DelegationError::ActionNotAllowed(Action::View.as_str()),
    }
}

/// The part of `v` (at `path`, "" for the root) the mandate's claim scope covers (`None`:
/// all). Array elements are judged by their position in the signed array, as the party's
/// verifier judges them.
fn within(v: &Value, path: &str, allowed: Option<&[ClaimPath]>) -> Option<Value> {
    let Some(allowed) = allowed else {
        return Some(v.clone());
    };
    if !path.is_empty() {
        let p = ClaimPath::parse(path).ok()?;
        if allowed.iter().any(|a| a.is_prefix_of(&p)) {
            return Some(v.clone());
        }
        if !allowed.iter().any(|a| p.is_prefix_of(a)) {
            return None;
        }
    }
    match v {
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter_map(|(k, c)| {
                    within(c, &format!("{path}/{}", escape(k)), Some(allowed))
                        .map(|c| (k.clone(), c))
                })
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, c)| within(c, &format!("{path}/{i}"), Some(allowed)))
                .collect(),
        )),
        _ => None,
    }
}

/// JSON Pointer escaping of one key (RFC 6901).
fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

/// The top-level claims an overview read (what the use is logged and reported as).
fn read_paths(claims: &Value) -> Vec<ClaimPath> {
    claims
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !ENVELOPE.contains(&k.as_str()))
        .filter_map(|(k, _)| ClaimPath::parse(&format!("/{}", escape(k))).ok())
        .collect()
}
