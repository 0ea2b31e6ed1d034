//! The verifier library for requesting parties (landlords, banks, the simulated verifiers).
//!
//! A presentation is accepted only when every check holds: issuer signature by a trusted key,
//! every disclosure, key binding to the credential's `cnf.jwk`, `sd_hash`, the expected `nonce` and
//! `aud`, the freshness of the key-binding JWT, the credential's validity period and, after all of
//! those, its own Token Status List entry (revoked or suspended credentials are refused; a list
//! that could not be fetched means "not checked", which online verification refuses too). Each
//! rejection says which check failed.

use std::time::Instant;

use kluis_sdjwt::{PresentationExpectations, VerifiedPresentation};
use serde::{Deserialize, Serialize};

use crate::delegation::DelegationContext;
use crate::status::{ListAge, StatusCheck, StatusLists};
use crate::trust::TrustList;
use crate::Error;

/// How old a key-binding JWT may be when it arrives (seconds). Presentations are made on demand.
pub const DEFAULT_MAX_AGE_SECS: i64 = 300;
/// Tolerated clock difference between wallet and verifier (seconds).
pub const DEFAULT_SKEW_SECS: i64 = 60;

/// What the verifier expects of a presentation.
#[derive(Debug, Clone)]
pub struct Expectations {
    /// The nonce this verifier gave the wallet.
    pub nonce: String,
    /// This verifier's identifier (the `aud` of the key-binding JWT).
    pub audience: String,
    /// Verification time, Unix seconds.
    pub now: i64,
    /// Maximum age of the key-binding JWT.
    pub max_age_secs: i64,
    /// Clock skew allowed.
    pub skew_secs: i64,
}

impl Expectations {
    /// Expectations with the default freshness window, at the current time.
    pub fn new(nonce: &str, audience: &str) -> Self {
        Expectations {
            nonce: nonce.to_string(),
            audience: audience.to_string(),
            now: crate::now_unix(),
            max_age_secs: DEFAULT_MAX_AGE_SECS,
            skew_secs: DEFAULT_SKEW_SECS,
        }
    }

    fn to_sdjwt(&self) -> PresentationExpectations {
        PresentationExpectations {
            max_age_secs: self.max_age_secs,
            skew_secs: self.skew_secs,
            require_key_binding: true,
            ..PresentationExpectations::new(self.nonce.clone(), self.audience.clone(), self.now)
        }
    }
}

/// Verifies one presentation (compact SD-JWT with key-binding JWT) and returns what it discloses.
/// A presentation made by a helper under a mandate (docs/DELEGATION.md) is checked end to end
/// too, but its revocation can only be checked with the mandate's status list: without one it is
/// rejected ("verify online"); use [`verify_online`] or [`verify_with`].
pub fn verify(
    presentation: &str,
    trust: &TrustList,
    expect: &Expectations,
) -> Result<VerifiedPresentation, Error> {
    verify_with(presentation, trust, expect, &DelegationContext::default())
}

/// As [`verify`], with what the network gives: the mandates' status lists, the credentials'
/// status lists (`ctx.credential_status`) and the purpose this verifier stated. `on_behalf` in
/// the result names the helper and the mandate when a helper presented. A credential whose
/// status list is not in `ctx` is refused as "not checked" and its list recorded as wanted
/// ([`crate::delegation::with_status`] fetches it and verifies again).
pub fn verify_with(
    presentation: &str,
    trust: &TrustList,
    expect: &Expectations,
    ctx: &DelegationContext,
) -> Result<VerifiedPresentation, Error> {
    let (v, _) = verify_before_status(presentation, trust, expect, ctx)?;
    check_status_online(&v, trust, expect.now, ctx)?;
    Ok(v)
}

/// Every check of [`verify_with`] but the credential's status list (which may need a fetch),
/// with where each presented array element sits in the issuer-signed arrays.
pub(crate) fn verify_before_status(
    presentation: &str,
    trust: &TrustList,
    expect: &Expectations,
    ctx: &DelegationContext,
) -> Result<(VerifiedPresentation, kluis_sdjwt::ArrayPositions), Error> {
    let presentation = presentation.trim();
    crate::delegation::verify::verify_presentation_positioned(
        presentation,
        trust,
        &expect.to_sdjwt(),
        ctx,
    )
    .map_err(|e| e.into_presentation_error(presentation))
}

/// The status check of [`verify_with`], for a presentation whose signatures verified: only then
/// may its status URI lead to a fetch (recorded in `ctx` as wanted).
pub(crate) fn check_status_online(
    v: &VerifiedPresentation,
    trust: &TrustList,
    now: i64,
    ctx: &DelegationContext,
) -> Result<(), Error> {
    let (check, wanted) =
        ctx.credential_status
            .check(&v.issuer, v.status.as_ref(), trust, now, ListAge::Online)?;
    if let Some(uri) = wanted {
        ctx.want_list(&uri);
    }
    refuse_unchecked(check)
}

/// Online, a credential whose status could not be checked is not accepted.
fn refuse_unchecked(check: StatusCheck) -> Result<(), Error> {
    match check {
        StatusCheck::NotChecked { reason } => Err(Error::InvalidPresentation {
            reason: format!("the credential's status could not be checked: {reason}"),
        }),
        StatusCheck::NoReference | StatusCheck::Valid { .. } => Ok(()),
    }
}

/// As [`verify`], fetching the status list of a mandate the presentation carries (https, or http
/// to loopback per `policy`), so that a helper's presentation can be accepted, and the
/// credential's own status list (from `lists`, fetched into it when missing or past its `ttl`);
/// each only once the signatures it depends on verified.
pub async fn verify_online(
    presentation: &str,
    trust: &TrustList,
    expect: &Expectations,
    purpose: Option<&str>,
    policy: crate::http::HttpPolicy,
) -> Result<VerifiedPresentation, Error> {
    verify_online_cached(
        presentation,
        trust,
        expect,
        purpose,
        &StatusLists::new(),
        policy,
    )
    .await
}

/// As [`verify_online`] with a status list cache shared between verifications.
pub async fn verify_online_cached(
    presentation: &str,
    trust: &TrustList,
    expect: &Expectations,
    purpose: Option<&str>,
    lists: &StatusLists,
    policy: crate::http::HttpPolicy,
) -> Result<VerifiedPresentation, Error> {
    // Nothing from the presentation is fetched before its signatures verified: a first
    // verification learns which lists it wants (a mandate's only once the issuer signature, the
    // mandate's signature and scope held; a credential's only after that), then they are fetched.
    crate::delegation::with_status(lists, purpose, policy, |ctx| {
        verify_with(presentation, trust, expect, ctx)
    })
    .await
}

/// The outcome of a batch verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Presentations read.
    pub count: usize,
    /// Presentations that passed every check.
    pub valid: usize,
    /// Presentations rejected.
    pub invalid: usize,
    /// Wall-clock time for the verification, milliseconds.
    pub elapsed_ms: f64,
    /// For each rejected one: its line number (from 1) and the reason.
    pub rejections: Vec<BatchRejection>,
}

/// One rejected presentation in a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchRejection {
    /// Line number in the input, from 1.
    pub line: usize,
    /// Which check failed.
    pub reason: String,
    /// Status lists it needed and did not find (fetched by [`verify_batch_online`]).
    #[serde(skip)]
    wanted: Vec<String>,
}

/// Verifies many presentations (one per non-empty line), spreading them over the available cores.
/// Checks the credentials' status with the lists in `lists` only: a credential whose list is
/// not there is rejected as "not checked"; [`verify_batch_online`] fetches them.
pub fn verify_batch(
    lines: &[&str],
    trust: &TrustList,
    expect: &Expectations,
    lists: &StatusLists,
) -> BatchSummary {
    verify_batch_in(lines, trust, expect, lists).0
}

/// As [`verify_batch`], fetching each status list the batch's credentials name once (only for
/// credentials whose signatures verified), then checking every one against it.
pub async fn verify_batch_online(
    lines: &[&str],
    trust: &TrustList,
    expect: &Expectations,
    lists: &StatusLists,
    policy: crate::http::HttpPolicy,
) -> Result<BatchSummary, Error> {
    let start = Instant::now();
    let (summary, wanted) = verify_batch_in(lines, trust, expect, lists);
    if wanted.is_empty() {
        return Ok(summary);
    }
    lists.fetch(&wanted, policy).await?;
    // Only the lines refused for want of a list are verified again.
    let again: Vec<usize> = summary
        .rejections
        .iter()
        .filter(|r| !r.wanted.is_empty())
        .map(|r| r.line)
        .collect();
    let redo: Vec<&str> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| if again.contains(&(i + 1)) { *l } else { "" })
        .collect();
    let (second, _) = verify_batch_in(&redo, trust, expect, lists);
    let mut rejections: Vec<BatchRejection> = summary
        .rejections
        .into_iter()
        .filter(|r| r.wanted.is_empty())
        .chain(second.rejections)
        .collect();
    rejections.sort_by_key(|r| r.line);
    lists.store_verified().await?;
    Ok(BatchSummary {
        count: summary.count,
        valid: summary.count - rejections.len(),
        invalid: rejections.len(),
        elapsed_ms: start.elapsed().as_secs_f64() * 1000.0,
        rejections,
    })
}

fn verify_batch_in(
    lines: &[&str],
    trust: &TrustList,
    expect: &Expectations,
    lists: &StatusLists,
) -> (BatchSummary, Vec<String>) {
    let start = Instant::now();
    let items: Vec<(usize, &str)> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| (i + 1, *l))
        .collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(items.len().max(1));
    let chunk = items.len().div_ceil(workers).max(1);
    let mut rejections: Vec<BatchRejection> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let handle = s.spawn(move || {
                    part.iter()
                        .filter_map(|(line, p)| {
                            let ctx =
                                DelegationContext::default().with_credential_status(lists.clone());
                            verify_with(p, trust, expect, &ctx)
                                .err()
                                .map(|e| BatchRejection {
                                    line: *line,
                                    reason: e.to_string(),
                                    wanted: ctx.wanted_lists(),
                                })
                        })
                        .collect::<Vec<_>>()
                });
                (part, handle)
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|(part, h)| {
                // A worker that died verified nothing: count its whole share as rejected, never as valid.
                h.join().unwrap_or_else(|_| {
                    part.iter()
                        .map(|(line, _)| BatchRejection {
                            line: *line,
                            reason: "internal error while verifying".into(),
                            wanted: Vec::new(),
                        })
                        .collect()
                })
            })
            .collect()
    });
    rejections.sort_by_key(|r| r.line);
    let mut wanted: Vec<String> = Vec::new();
    for r in &rejections {
        for u in &r.wanted {
            if !wanted.contains(u) {
                wanted.push(u.clone());
            }
        }
    }
    let summary = BatchSummary {
        count: items.len(),
        valid: items.len() - rejections.len(),
        invalid: rejections.len(),
        elapsed_ms: start.elapsed().as_secs_f64() * 1000.0,
        rejections,
    };
    (summary, wanted)
}
