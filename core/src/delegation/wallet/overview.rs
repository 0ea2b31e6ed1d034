//! The helper's overview (the debt counsellor's screen): for each client, the integrated
//! overview (debts, income, arrears) built from the credentials under the client's mandate —
//! packaged by the citizen or collected at the holders — with how old each source is, and
//! refreshed at the holders under the mandate when asked.

use std::collections::BTreeMap;

use kluis_sdjwt::ClaimPath;
use serde::Serialize;
use serde_json::Value;

use futures_util::future::join_all;

use super::collect::{keep_delivered, Delivery};
use super::records::{ReceivedCredential, ReceivedMandate};
use super::usage::append_use;
use super::{delegation_err, MandateCredential, MandateState};
use crate::delegation::mandate::Action;
use crate::delegation::revocation::MandateStatusLists;
use crate::delegation::DelegationError;
use crate::error::FailureCode;
use crate::http::Http;
use crate::issuance::{CollectOptions, IssuerMetadata};
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
    /// Why, as a code for the app to word.
    pub failure: FailureCode,
    /// The error's English text for developers: not for display (no claim values).
    pub detail: String,
}

/// What [`Wallet::refresh_on_behalf`] did at the holders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnBehalfRefresh {
    /// The credentials collected now and kept under the mandate.
    pub collected: Vec<MandateCredential>,
    /// Holders that did not deliver (their older credentials stay).
    pub failures: Vec<RefreshFailure>,
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
        // One client for the run: its connections are kept, at most Http::PER_HOST requests in
        // flight to one holder or registry.
        let http = Http::new(options.http.clone())?;
        let now = now_unix();
        let uris: Vec<String> = mandates.iter().map(|(_, r)| r.status.uri.clone()).collect();
        let lists = MandateStatusLists::fetch_with(&http, &uris).await;
        let mut out = HelperOverview {
            made_at: now,
            clients: Vec::new(),
            left_out: Vec::new(),
        };
        let mut usable = Vec::new();
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
                out.left_out.push(left_out(&r, state));
                continue;
            }
            usable.push(Client {
                record_id,
                mandate: r,
                refresh_failures: Vec::new(),
            });
        }
        if refresh {
            let dropped;
            (usable, dropped) = self.refresh_clients(usable, &options, &http).await?;
            if let (Clients::One(_), Some(d)) = (clients, dropped.first()) {
                return Err(delegation_err(unusable(d.state)));
            }
            out.left_out.extend(dropped);
        }

        let mut shown = Vec::new();
        for c in usable {
            let (overview, sources, used) = self.client_overview(&c.mandate, lang, now)?;
            shown.push((c, overview, sources, used));
        }
        // Each client's view logged as a use (one commit for all), then reported to its
        // citizen.
        let uses: Vec<Vec<(String, &Vec<ClaimPath>)>> = shown
            .iter()
            .map(|(_, _, _, used)| used.iter().map(|(v, p)| (v.clone(), p)).collect())
            .collect();
        self.vault.write(|tx| {
            for ((c, ..), used) in shown.iter().zip(&uses) {
                append_use(tx, &c.mandate, used, "view", None, now)?;
            }
            Ok(())
        })?;
        join_all(shown.iter().zip(&uses).map(|((c, ..), used)| {
            self.report_use_with(&http, &c.mandate, used, "view", None, now)
        }))
        .await;
        for (c, overview, sources, _) in shown {
            out.clients.push(ClientOverview {
                mandate_id: c.mandate.id.clone(),
                label: c.mandate.label.clone(),
                overview,
                sources,
                refresh_failures: c.refresh_failures,
            });
        }
        Ok(out)
    }

    /// Collects again for the citizen at every holder of mandate `mandate_id`'s credentials (the
    /// helper's refresh without the overview; as [`Wallet::helper_overview`] with `refresh` does
    /// it, all holders at once). Needs `refresh` in the scope and the mandate valid and not
    /// revoked, before and after: one revoked or expired meanwhile keeps nothing new and its
    /// package is dropped (an error). A holder that fails is named in `failures` and its older
    /// credentials stay.
    pub async fn refresh_on_behalf(
        &self,
        mandate_id: &str,
        options: CollectOptions,
    ) -> Result<OnBehalfRefresh, Error> {
        let (record_id, r) = self.received_mandate(mandate_id)?;
        if !r.scope.allows(Action::Refresh) {
            return Err(delegation_err(DelegationError::ActionNotAllowed(
                Action::Refresh.as_str(),
            )));
        }
        self.ensure_usable(&record_id, &r, options.http.clone())
            .await?;
        let http = Http::new(options.http.clone())?;
        let started = now_unix();
        let client = Client {
            record_id,
            mandate: r,
            refresh_failures: Vec::new(),
        };
        let (kept, dropped) = self.refresh_clients(vec![client], &options, &http).await?;
        if let Some(d) = dropped.first() {
            return Err(delegation_err(unusable(d.state)));
        }
        let c = kept.into_iter().next().ok_or_else(|| Error::Internal {
            reason: "refresh lost its client".into(),
        })?;
        Ok(OnBehalfRefresh {
            collected: c
                .mandate
                .credentials
                .iter()
                .filter(|x| x.collected_at.is_some_and(|t| t >= started))
                .map(|x| MandateCredential {
                    id: x.id.clone(),
                    vct: x.vct.clone(),
                    issuer: x.issuer.clone(),
                })
                .collect(),
            failures: c.refresh_failures,
        })
    }

    /// Collects again under each client's mandate at every holder of its credentials, all at
    /// once (bounded per holder by `http`): each holder's metadata fetched once for the run,
    /// the mandates' status checked once more after the last collection ended (a client whose
    /// mandate was revoked meanwhile keeps nothing new and is dropped), then everything kept
    /// in one commit. A holder that fails is named in its client's `refresh_failures`.
    async fn refresh_clients(
        &self,
        mut clients: Vec<Client>,
        options: &CollectOptions,
        http: &Http,
    ) -> Result<(Vec<Client>, Vec<ClientLeftOut>), Error> {
        let holders_of = |r: &ReceivedMandate| {
            let mut issuers: Vec<String> = r.credentials.iter().map(|c| c.issuer.clone()).collect();
            issuers.sort();
            issuers.dedup();
            issuers
        };
        let mut holders: Vec<String> = clients
            .iter()
            .flat_map(|c| holders_of(&c.mandate))
            .collect();
        holders.sort();
        holders.dedup();
        // The same for every client: asked once.
        let metadata: Vec<Result<IssuerMetadata, Error>> = join_all(
            holders
                .iter()
                .map(|h| IssuerMetadata::fetch(http, h.trim_end_matches('/'))),
        )
        .await;
        let jobs = clients.iter().enumerate().flat_map(|(n, c)| {
            holders_of(&c.mandate)
                .into_iter()
                .map(move |issuer| (n, &c.mandate, issuer))
        });
        let fetched = join_all(jobs.map(|(n, r, issuer)| {
            let meta = holders
                .iter()
                .position(|h| *h == issuer)
                .map(|i| &metadata[i]);
            async move {
                let got = match meta {
                    Some(Ok(meta)) => {
                        self.fetch_on_behalf(
                            r,
                            issuer.trim_end_matches('/'),
                            meta,
                            &[],
                            options,
                            http,
                        )
                        .await
                    }
                    Some(Err(e)) => Err(e.clone()),
                    None => Err(Error::Internal {
                        reason: "holder metadata missing".into(),
                    }),
                };
                (n, issuer, got)
            }
        }))
        .await;
        let mut deliveries: Vec<Vec<Delivery>> = clients.iter().map(|_| Vec::new()).collect();
        for (n, issuer, got) in fetched {
            match got {
                Ok(d) => deliveries[n].push(d),
                Err(e) => clients[n].refresh_failures.push(RefreshFailure {
                    issuer,
                    failure: e.failure(),
                    detail: e.to_string(),
                }),
            }
        }

        // Revoked (or expired) while collecting: keep nothing new. One fetch after all ended.
        let uris: Vec<String> = clients
            .iter()
            .zip(&deliveries)
            .filter(|(_, d)| !d.is_empty())
            .map(|(c, _)| c.mandate.status.uri.clone())
            .collect();
        let lists = MandateStatusLists::fetch_with(http, &uris).await;
        let now = now_unix();
        let mut kept = Vec::new();
        let mut not_kept = Vec::new();
        let mut dropped = Vec::new();
        for (mut c, d) in clients.into_iter().zip(deliveries) {
            if d.is_empty() {
                kept.push((c, d));
                continue;
            }
            match self.received_state(&c.mandate, &lists, now)? {
                MandateState::Active => kept.push((c, d)),
                state @ (MandateState::Revoked | MandateState::Expired) => {
                    self.drop_received(&c.record_id, &c.mandate, state, now)?;
                    not_kept.extend(d);
                    dropped.push(left_out(&c.mandate, state));
                }
                MandateState::Unknown | MandateState::NotYetValid => {
                    let e = delegation_err(unusable(MandateState::Unknown));
                    for delivery in &d {
                        c.refresh_failures.push(RefreshFailure {
                            issuer: delivery.issuer.clone(),
                            failure: e.failure(),
                            detail: e.to_string(),
                        });
                    }
                    not_kept.extend(d);
                    kept.push((c, Vec::new()));
                }
            }
        }
        join_all(not_kept.iter().map(|d| d.not_kept(http))).await;

        // Kept in one commit, each mandate's record as it is now in the vault.
        let mut fresh = Vec::new();
        for (c, d) in &kept {
            if !d.is_empty() {
                fresh.push((self.received_mandate(&c.mandate.id)?, d));
            }
        }
        self.vault.write(|tx| {
            for ((record_id, r), d) in fresh.iter_mut() {
                let d: Vec<&Delivery> = d.iter().collect();
                keep_delivered(tx, record_id, r, &d, now)?;
            }
            Ok(())
        })?;
        join_all(
            kept.iter()
                .flat_map(|(_, d)| d.iter())
                .map(|d| d.accepted(http)),
        )
        .await;
        let mut updated: BTreeMap<String, ReceivedMandate> = fresh
            .into_iter()
            .map(|((_, r), _)| (r.id.clone(), r))
            .collect();
        let kept = kept
            .into_iter()
            .map(|(mut c, _)| {
                if let Some(r) = updated.remove(&c.mandate.id) {
                    c.mandate = r;
                }
                c
            })
            .collect();
        Ok((kept, dropped))
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

/// A client in the run: its mandate, and the holders that did not refresh.
struct Client {
    record_id: String,
    mandate: ReceivedMandate,
    refresh_failures: Vec<RefreshFailure>,
}

fn left_out(r: &ReceivedMandate, state: MandateState) -> ClientLeftOut {
    ClientLeftOut {
        mandate_id: r.id.clone(),
        label: r.label.clone(),
        state,
        view_allowed: r.scope.allows(Action::View),
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
