//! The verifier rules for a presentation made on a citizen's behalf (docs/DELEGATION.md,
//! "Verifier rules"). A presentation whose key-binding JWT carries a `mandate` claim is accepted
//! only if the whole chain holds:
//!
//! 1. the SD-JWT VC itself (issuer trust and signature, disclosures, validity);
//! 2. the mandate: one compact JWS, `typ` `kluis-mandate+jwt`, ES256, signed by the credential's
//!    `cnf.jwk`; no `parent` (re-delegation) and not a chain;
//! 3. the key-binding JWT signed by the mandate's `cnf.jwk` (the helper), with the usual
//!    `nonce`, `aud`, `iat`, `sd_hash`;
//! 4. now inside `nbf`..`exp` (with the usual clock skew);
//! 5. the credential's `vct` in `scope.vct`; `present` in `scope.actions`; the party (`aud`) in
//!    `scope.parties` if present; the stated purpose in `scope.purposes` if present;
//! 6. every claim revealed by a disclosure inside `scope.claims` (if present);
//! 7. the mandate's status list entry (signed by `status_key`) is 0.
//!
//! Without a `mandate` claim the presentation is an ordinary one, checked against `cnf`.

use kluis_sdjwt::{
    verify_presentation_with, ArrayPositions, ClaimPath, OnBehalf, PathSegment,
    PresentationExpectations, PublicJwk, SdJwtError, VerifiedPresentation,
};
use serde_json::{json, Map, Value};

use super::mandate::{Action, Mandate};
use super::revocation::{
    is_revoked, verify_registry_status_list, verify_status_list, MandateStatusLists,
};
use super::DelegationError;
use crate::trust::TrustList;

/// Name of the key-binding JWT claim that carries the mandate.
pub const KB_MANDATE_CLAIM: &str = "mandate";

/// What a verifier knows beyond the presentation, for delegated presentations.
#[derive(Debug, Default)]
pub struct DelegationContext {
    /// The mandates' status lists, fetched before verifying (see [`MandateStatusLists::fetch`]).
    pub status_lists: MandateStatusLists,
    /// The purpose the verifier stated in its request, if any.
    pub purpose: Option<String>,
    /// The credentials' own Token Status Lists (a cache the verifier may share between
    /// verifications). A credential that names a list not in it, or one past its `ttl`, is
    /// refused as "status not checked" and its list is wanted: [`with_status`] fetches it.
    pub credential_status: crate::status::StatusLists,
    /// Status list URIs a verification needed but did not find in `status_lists` (so that a
    /// caller can fetch them and verify again: [`with_mandate_status`]).
    wanted: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Likewise for `credential_status`.
    wanted_lists: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl DelegationContext {
    /// A context with lists fetched by the caller and the purpose the verifier stated.
    pub fn new(status_lists: MandateStatusLists, purpose: Option<String>) -> Self {
        DelegationContext {
            status_lists,
            purpose,
            credential_status: Default::default(),
            wanted: Default::default(),
            wanted_lists: Default::default(),
        }
    }

    /// The same context checking credentials' status with `lists` (a shared cache).
    pub fn with_credential_status(mut self, lists: crate::status::StatusLists) -> Self {
        self.credential_status = lists;
        self
    }

    /// The same context with `purpose` when none is set (a verifier that knows the purpose it
    /// stated in its request); URIs wanted by either are seen by both.
    pub fn with_purpose_if_unset(&self, purpose: Option<&str>) -> DelegationContext {
        DelegationContext {
            status_lists: self.status_lists.clone(),
            purpose: self.purpose.clone().or_else(|| purpose.map(str::to_string)),
            credential_status: self.credential_status.clone(),
            wanted: std::sync::Arc::clone(&self.wanted),
            wanted_lists: std::sync::Arc::clone(&self.wanted_lists),
        }
    }

    /// The status list URIs verifications with this context asked for and did not find.
    pub fn wanted(&self) -> Vec<String> {
        self.wanted.lock().map(|w| w.clone()).unwrap_or_default()
    }

    fn want(&self, uri: &str) {
        push_once(&self.wanted, uri);
    }

    /// The credential status list URIs verifications with this context asked for and did not
    /// find usable in `credential_status` (each from a credential whose signature verified).
    pub fn wanted_lists(&self) -> Vec<String> {
        self.wanted_lists
            .lock()
            .map(|w| w.clone())
            .unwrap_or_default()
    }

    pub(crate) fn want_list(&self, uri: &str) {
        push_once(&self.wanted_lists, uri);
    }
}

fn push_once(to: &std::sync::Mutex<Vec<String>>, uri: &str) {
    if let Ok(mut w) = to.lock() {
        if !w.iter().any(|u| u == uri) {
            w.push(uri.to_string());
        }
    }
}

/// Runs a synchronous verification `verify` (any entry point that takes a [`DelegationContext`],
/// such as an OpenID4VP response check) and, if it was missing a mandate's status list or a
/// credential's, fetches the lists it named and runs it once more. For verifiers that cannot
/// pre-read what they verify (encrypted responses). Nothing is fetched for a presentation whose
/// signatures did not verify; one that needs no list is verified once. Each call starts with
/// an empty credential status cache: see [`with_status`] to share one.
pub async fn with_mandate_status<T, E>(
    purpose: Option<&str>,
    policy: crate::http::HttpPolicy,
    verify: impl Fn(&DelegationContext) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<crate::Error>,
{
    with_status(&crate::status::StatusLists::new(), purpose, policy, verify).await
}

/// As [`with_mandate_status`], with the credentials' status lists from (and fetched into)
/// `lists`, a cache shared between verifications.
pub async fn with_status<T, E>(
    lists: &crate::status::StatusLists,
    purpose: Option<&str>,
    policy: crate::http::HttpPolicy,
    verify: impl Fn(&DelegationContext) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<crate::Error>,
{
    with_status_at(lists, purpose, policy, crate::now_unix(), verify).await
}

/// As [`with_status`], recording fetches as made at `now` (a verifier with its own clock).
/// A mandate's list is only wanted once the presentation's signatures verified, a credential's
/// once the mandate held too: so up to three rounds, each fetching only what is newly wanted.
pub async fn with_status_at<T, E>(
    lists: &crate::status::StatusLists,
    purpose: Option<&str>,
    policy: crate::http::HttpPolicy,
    now: i64,
    verify: impl Fn(&DelegationContext) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<crate::Error>,
{
    let mut mandate_uris: Vec<String> = Vec::new();
    let mut mandates = MandateStatusLists::new();
    let mut list_uris: Vec<String> = Vec::new();
    let mut round = 0;
    loop {
        let mut ctx =
            DelegationContext::new(MandateStatusLists::new(), purpose.map(str::to_string))
                .with_credential_status(lists.clone());
        ctx.status_lists = mandates.clone();
        let result = verify(&ctx);
        round += 1;
        let new_mandates: Vec<String> = ctx
            .wanted()
            .into_iter()
            .filter(|u| !mandate_uris.contains(u))
            .collect();
        let new_lists: Vec<String> = ctx
            .wanted_lists()
            .into_iter()
            .filter(|u| !list_uris.contains(u))
            .collect();
        if result.is_ok() || round >= 3 || (new_mandates.is_empty() && new_lists.is_empty()) {
            lists.store_verified().await?;
            return result;
        }
        if !new_mandates.is_empty() {
            mandate_uris.extend(new_mandates);
            mandates = MandateStatusLists::fetch(&mandate_uris, policy.clone()).await?;
        }
        if !new_lists.is_empty() {
            lists.fetch_at(&new_lists, policy.clone(), now).await?;
            list_uris.extend(new_lists);
        }
    }
}

/// Verifies a presentation, delegated or not.
pub fn verify_presentation(
    presentation: &str,
    trust: &TrustList,
    expect: &PresentationExpectations,
    ctx: &DelegationContext,
) -> Result<VerifiedPresentation, DelegationError> {
    verify_presentation_positioned(presentation, trust, expect, ctx).map(|(v, _)| v)
}

/// As [`verify_presentation`], also returning where each presented array element sits in the
/// issuer-signed arrays (what a query's or a scope's array index names).
pub(crate) fn verify_presentation_positioned(
    presentation: &str,
    trust: &TrustList,
    expect: &PresentationExpectations,
    ctx: &DelegationContext,
) -> Result<(VerifiedPresentation, ArrayPositions), DelegationError> {
    let mut mandate: Option<Mandate> = None;
    let mut collected: Option<String> = None;
    let result = verify_presentation_with(presentation, trust, expect, |cnf, kb| {
        choose_key(cnf, kb, &mut mandate, &mut collected)
    });
    let (mut verified, kb) = match result {
        Err(DelegationError::Presentation(SdJwtError::BadKeyBindingSignature))
            if mandate.is_some() || collected.is_some() =>
        {
            return Err(DelegationError::KeyBindingSigner)
        }
        other => other?,
    };
    // A credential a holder issued to the helper on the citizen's behalf (§8): bound to the
    // helper's key, valid only with the mandate it was issued under, signed by the citizen key
    // it names. Never as the helper's own.
    let held_for = OnBehalfOf::from_claims(&verified.claims)?;
    if held_for.is_some() {
        let at = ClaimPath::parse(&format!("/{ON_BEHALF_OF_CLAIM}"))
            .map_err(|_| DelegationError::Internal("claim path"))?;
        if kb.disclosed_paths.iter().any(|d| d.is_prefix_of(&at)) {
            return Err(DelegationError::OnBehalf(
                "its on_behalf_of claim is selectively disclosable (the holder must make it always visible)",
            ));
        }
    }
    match (&held_for, collected, &mandate) {
        (None, None, _) => {}
        (Some(o), Some(jwt), None) => {
            let cnf = verified
                .holder_jwk
                .as_ref()
                .ok_or(DelegationError::Internal("holder key"))?;
            mandate = Some(verify_collected_mandate(&jwt, cnf, o)?);
        }
        (Some(_), None, _) => {
            return Err(DelegationError::OnBehalf(
                "presented without the mandate it was issued under",
            ))
        }
        (None, Some(_), _) | (Some(_), Some(_), Some(_)) => {
            return Err(DelegationError::MandateSignature)
        }
    }
    let Some(m) = mandate else {
        return Ok((verified, kb.positions));
    };
    check_use(
        &m,
        &verified.vct,
        &verified.claims,
        &kb.disclosed_paths,
        Some(&kb.positions),
        Action::Present,
        &expect.aud,
        ctx.purpose.as_deref(),
        expect.now,
        expect.skew_secs,
    )?;
    if ctx.status_lists.get(&m.status.uri).is_none() {
        ctx.want(&m.status.uri);
    }
    check_not_revoked_seen(
        &m,
        &ctx.status_lists,
        Some(&ctx.credential_status),
        expect.now,
    )?;
    verified.on_behalf = Some(OnBehalf {
        mandate_id: m.id.clone(),
        helper_thumbprint: m.helper.thumbprint(),
        helper_jwk: m.helper.clone(),
        mandate_expires_at: m.expires_at,
        scope: serde_json::to_value(&m.scope).unwrap_or(Value::Null),
    });
    Ok((verified, kb.positions))
}

/// The KB-JWT key: `cnf` for an ordinary presentation, the mandate's helper key when the KB-JWT
/// carries a mandate signed by `cnf`. A mandate that names `cnf` itself as the helper and is
/// not signed by it is one a credential held on the citizen's behalf travels with: `cnf` signs,
/// and the mandate is checked once the credential's `on_behalf_of` claim is known
/// (`collected`).
fn choose_key(
    cnf: &PublicJwk,
    kb: &serde_json::Map<String, Value>,
    out: &mut Option<Mandate>,
    collected: &mut Option<String>,
) -> Result<PublicJwk, DelegationError> {
    match kb.get(KB_MANDATE_CLAIM) {
        None => Ok(cnf.clone()),
        Some(Value::String(jwt)) => {
            let names_cnf = Mandate::peek(jwt)
                .ok()
                .and_then(|c| {
                    (!c.contains_key("parent"))
                        .then(|| peeked_helper(&c))
                        .flatten()
                })
                .is_some_and(|h| h == *cnf);
            if names_cnf && Mandate::verify(jwt, cnf).is_err() {
                *collected = Some(jwt.clone());
                return Ok(cnf.clone());
            }
            let m = verify_mandate(jwt, cnf)?;
            let helper = m.helper.clone();
            *out = Some(m);
            Ok(helper)
        }
        Some(Value::Array(_)) => Err(DelegationError::Redelegation(
            "a chain of mandates is not accepted",
        )),
        Some(_) => Err(DelegationError::Malformed(
            "the KB-JWT's mandate is not a compact JWS",
        )),
    }
}

/// Verifies a mandate's signature by `cnf`, refusing re-delegated mandates with a reason.
pub fn verify_mandate(jwt: &str, cnf: &PublicJwk) -> Result<Mandate, DelegationError> {
    let claims = Mandate::peek(jwt)?;
    if let Some(parent) = claims.get("parent") {
        // A mandate derived from another one: only meaningful if the parent allows it, and
        // kluis verifiers accept no chains at all (docs/DELEGATION.md).
        let allowed = parent
            .as_str()
            .and_then(|p| Mandate::peek(p).ok())
            .and_then(|p| p.get("redelegation").and_then(Value::as_bool))
            .unwrap_or(false);
        return Err(DelegationError::Redelegation(if allowed {
            "chains of mandates are not supported"
        } else {
            "the original mandate does not allow re-delegation"
        }));
    }
    Mandate::verify(jwt, cnf)
}

/// Scope and time checks for one use of a mandate on one credential. An index in
/// `scope.claims` names the element at that position of the issuer-signed array: with
/// `positions` (a verifier's view, where a presented array holds only the disclosed elements)
/// each revealed element is judged by its signed position; without, `claims` are the holder's.
#[allow(clippy::too_many_arguments)]
pub fn check_use(
    m: &Mandate,
    vct: &str,
    claims: &Value,
    disclosed: &[ClaimPath],
    positions: Option<&ArrayPositions>,
    action: Action,
    party: &str,
    purpose: Option<&str>,
    now: i64,
    skew: i64,
) -> Result<(), DelegationError> {
    check_time(m, now, skew)?;
    if !m.scope.vct.iter().any(|t| t == vct) {
        return Err(DelegationError::TypeOutOfScope(vct.to_string()));
    }
    if !m.scope.allows(action) {
        return Err(DelegationError::ActionNotAllowed(action.as_str()));
    }
    if let Some(parties) = &m.scope.parties {
        if !parties.iter().any(|p| p == party) {
            return Err(DelegationError::PartyNotAllowed(short(party)));
        }
    }
    if let Some(purposes) = &m.scope.purposes {
        if !purpose.is_some_and(|p| purposes.iter().any(|x| x == p)) {
            return Err(DelegationError::PurposeNotAllowed);
        }
    }
    if let Some(allowed) = &m.scope.claims {
        let allowed = parse_paths(allowed)?;
        // Every leaf revealed by a disclosure (including plain members inside a disclosed
        // object) must lie under an allowed path. Leaves no disclosure revealed are the ones
        // the issuer made always visible; the helper cannot withhold those.
        let mut leaves = Vec::new();
        collect_leaves(claims, &mut Vec::new(), &mut leaves);
        for leaf in leaves {
            let revealed = disclosed.iter().any(|d| d.is_prefix_of(&leaf));
            if !revealed {
                continue;
            }
            let signed = match positions {
                Some(p) => p.signed_path(&leaf),
                None => Some(leaf.clone()),
            };
            if !signed.is_some_and(|s| allowed.iter().any(|a| a.is_prefix_of(&s))) {
                return Err(DelegationError::ClaimOutOfScope(leaf.to_string()));
            }
        }
    }
    Ok(())
}

/// Now (with `skew`) inside the mandate's `nbf`..`exp`.
pub fn check_time(m: &Mandate, now: i64, skew: i64) -> Result<(), DelegationError> {
    if now.saturating_add(skew) < m.not_before {
        return Err(DelegationError::NotYetValid);
    }
    if now.saturating_sub(skew) >= m.expires_at {
        return Err(DelegationError::Expired);
    }
    Ok(())
}

/// Whether the mandate is revoked per its status list in `lists`: signed by the registry the
/// mandate names (with the citizen's update inside), or for older mandates by `status_key`;
/// a list that is missing or does not verify is "not checked", never "valid".
pub fn check_not_revoked(
    m: &Mandate,
    lists: &MandateStatusLists,
    now: i64,
) -> Result<(), DelegationError> {
    check_not_revoked_seen(m, lists, None, now)
}

/// As [`check_not_revoked`], refusing a list whose update is older than one `seen` there
/// before (a verifier's kept cache: a replayed list is refused once a newer one was seen).
pub fn check_not_revoked_seen(
    m: &Mandate,
    lists: &MandateStatusLists,
    seen: Option<&crate::status::StatusLists>,
    now: i64,
) -> Result<(), DelegationError> {
    let jwt = match lists.get(&m.status.uri) {
        None => {
            return Err(DelegationError::StatusUnchecked(
                "its status list was not fetched (verify online)".into(),
            ))
        }
        Some(Err(reason)) => return Err(DelegationError::StatusUnreachable(reason.clone())),
        Some(Ok(jwt)) => jwt,
    };
    let list = match &m.status_registry {
        Some(registry) => {
            let (list, seq) =
                verify_registry_status_list(jwt, &m.status.uri, registry, &m.status_key, now)
                    .map_err(DelegationError::StatusUnchecked)?;
            if seen.is_some_and(|s| !s.note_mandate_seq(&m.status.uri, seq)) {
                return Err(DelegationError::StatusUnchecked(
                    "the status list is older than one seen before (a replay)".into(),
                ));
            }
            list
        }
        None => verify_status_list(jwt, &m.status.uri, &m.status_key, now)
            .map_err(DelegationError::StatusUnchecked)?,
    };
    if is_revoked(&list, m.status.idx)? {
        return Err(DelegationError::Revoked);
    }
    Ok(())
}

/// A mandate scope's claim paths, parsed.
pub fn parse_paths(paths: &[String]) -> Result<Vec<ClaimPath>, DelegationError> {
    paths
        .iter()
        .map(|p| ClaimPath::parse(p).map_err(|_| DelegationError::Malformed("scope.claims")))
        .collect()
}

/// Leaf paths of `v` (empty objects and arrays count as leaves).
fn collect_leaves(v: &Value, at: &mut Vec<PathSegment>, out: &mut Vec<ClaimPath>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                at.push(PathSegment::from_key(k));
                collect_leaves(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                at.push(PathSegment::Index(i));
                collect_leaves(child, at, out);
                at.pop();
            }
        }
        _ => out.push(ClaimPath::from_segments(at.clone())),
    }
}

/// The status list URIs of the mandates in a presentation (unverified; only to know what to
/// fetch before verifying).
pub fn status_uris(presentation: &str) -> Vec<String> {
    let Some(kb) = presentation
        .trim()
        .rsplit('~')
        .next()
        .filter(|s| !s.is_empty())
    else {
        return Vec::new();
    };
    let Some(payload) = kb.split('.').nth(1) else {
        return Vec::new();
    };
    use base64::Engine as _;
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return Vec::new();
    };
    let Ok(Value::Object(kb)) = serde_json::from_slice::<Value>(&bytes) else {
        return Vec::new();
    };
    let Some(Value::String(jwt)) = kb.get(KB_MANDATE_CLAIM) else {
        return Vec::new();
    };
    Mandate::peek(jwt)
        .ok()
        .and_then(|c| {
            c.get("status")?
                .get("status_list")?
                .get("uri")?
                .as_str()
                .map(str::to_string)
        })
        .into_iter()
        .collect()
}

fn short(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(100).collect()
}

/// The claim of a credential a holder issued to a helper under a mandate (docs/DELEGATION.md
/// §8): on whose behalf the helper holds it.
pub const ON_BEHALF_OF_CLAIM: &str = "on_behalf_of";

/// The `on_behalf_of` claim: the citizen's key that signed the mandate and the mandate's id.
/// Always visible (never selectively disclosable), so no helper can withhold it.
#[derive(Debug, Clone, PartialEq)]
pub struct OnBehalfOf {
    /// The key the holder bound the citizen's own credential to, which signed the mandate.
    pub citizen_key: PublicJwk,
    /// The mandate it was issued under (`jti`).
    pub mandate_id: String,
}

impl OnBehalfOf {
    /// The claim's value.
    pub fn to_value(&self) -> Value {
        json!({ "jwk": self.citizen_key.to_value(), "mandate": self.mandate_id })
    }

    /// The claim in `claims`, if there is one; malformed is an error.
    pub fn from_claims(claims: &Value) -> Result<Option<OnBehalfOf>, DelegationError> {
        let Some(v) = claims.get(ON_BEHALF_OF_CLAIM) else {
            return Ok(None);
        };
        let citizen_key = v
            .get("jwk")
            .and_then(|j| PublicJwk::from_value(j).ok())
            .ok_or(DelegationError::Malformed("on_behalf_of.jwk"))?;
        let mandate_id = v
            .get("mandate")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(DelegationError::Malformed("on_behalf_of.mandate"))?
            .to_string();
        Ok(Some(OnBehalfOf {
            citizen_key,
            mandate_id,
        }))
    }
}

/// The mandate of a presentation of a credential held on the citizen's behalf (bound to the
/// helper's key `cnf`, carrying `on_behalf_of`): signed by `on_behalf_of.jwk`, naming `cnf` as
/// the helper, with the id the credential names.
pub fn verify_collected_mandate(
    jwt: &str,
    cnf: &PublicJwk,
    on_behalf: &OnBehalfOf,
) -> Result<Mandate, DelegationError> {
    let m = verify_mandate(jwt, &on_behalf.citizen_key)?;
    if m.helper != *cnf {
        return Err(DelegationError::OnBehalf(
            "the credential is bound to another key than the mandate's helper",
        ));
    }
    if m.id != on_behalf.mandate_id {
        return Err(DelegationError::OnBehalf(
            "the credential was issued under another mandate",
        ));
    }
    Ok(m)
}

/// Reads the `cnf.jwk` of a mandate without checking its signature (to tell whether a
/// presentation's mandate names the credential's own key as the helper).
fn peeked_helper(claims: &Map<String, Value>) -> Option<PublicJwk> {
    PublicJwk::from_value(claims.get("cnf")?.get("jwk")?).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::delegation::mandate::{Scope, StatusRef};
    use kluis_sdjwt::SigningKey;
    use serde_json::json;

    fn mandate(claims: Option<Vec<&str>>) -> Mandate {
        let k = SigningKey::make_random().unwrap();
        Mandate {
            id: "m".into(),
            issued_at: 0,
            not_before: 1_000,
            expires_at: 2_000,
            helper: k.public_jwk(),
            scope: Scope {
                vct: vec!["t".into()],
                claims: claims.map(|c| c.into_iter().map(str::to_string).collect()),
                actions: vec![Action::Present],
                parties: Some(vec!["party".into()]),
                purposes: None,
            },
            redelegation: false,
            status: StatusRef {
                idx: 0,
                uri: "u".into(),
            },
            status_key: k.public_jwk(),
            status_registry: None,
        }
    }

    fn p(s: &str) -> ClaimPath {
        ClaimPath::parse(s).unwrap()
    }

    #[test]
    fn claims_revealed_by_disclosures_must_be_in_scope() {
        let claims = json!({
            "iss": "x", "vct": "t",
            "address": { "locality": "Utrecht", "street": "Oudegracht" },
            "nationalities": ["NL"]
        });
        let m = mandate(Some(vec!["/address/locality", "/nationalities"]));
        let ok = |disclosed: &[&str]| {
            let d: Vec<ClaimPath> = disclosed.iter().map(|s| p(s)).collect();
            check_use(
                &m,
                "t",
                &claims,
                &d,
                None,
                Action::Present,
                "party",
                None,
                1_500,
                0,
            )
        };
        // Only the locality disclosed (street always visible would not count, but here it is
        // revealed by the /address disclosure): the object disclosure reveals the street too.
        assert!(matches!(
            ok(&["/address"]),
            Err(DelegationError::ClaimOutOfScope(c)) if c == "/address/street"
        ));
        let only_locality = json!({ "iss": "x", "address": { "locality": "Utrecht" } });
        let d = [p("/address"), p("/address/locality")];
        assert!(check_use(
            &m,
            "t",
            &only_locality,
            &d,
            None,
            Action::Present,
            "party",
            None,
            1_500,
            0
        )
        .is_ok());
        assert!(ok(&["/nationalities/0"]).is_ok());
        // Always-visible claims (not under any disclosure) do not count.
        assert!(ok(&[]).is_ok());
    }

    #[test]
    fn time_type_action_party() {
        let m = mandate(None);
        let c = json!({});
        let run = |vct: &str, a: Action, party: &str, now: i64| {
            check_use(&m, vct, &c, &[], None, a, party, None, now, 0)
        };
        assert!(run("t", Action::Present, "party", 1_500).is_ok());
        assert!(matches!(
            run("t", Action::Present, "party", 999),
            Err(DelegationError::NotYetValid)
        ));
        assert!(matches!(
            run("t", Action::Present, "party", 2_000),
            Err(DelegationError::Expired)
        ));
        assert!(matches!(
            run("u", Action::Present, "party", 1_500),
            Err(DelegationError::TypeOutOfScope(_))
        ));
        assert!(matches!(
            run("t", Action::View, "party", 1_500),
            Err(DelegationError::ActionNotAllowed("view"))
        ));
        assert!(matches!(
            run("t", Action::Present, "other", 1_500),
            Err(DelegationError::PartyNotAllowed(_))
        ));
        // The skew widens the window on both ends.
        assert!(check_use(
            &m,
            "t",
            &c,
            &[],
            None,
            Action::Present,
            "party",
            None,
            2_030,
            60
        )
        .is_ok());
    }

    #[test]
    fn status_uris_reads_only_what_it_can() {
        assert!(status_uris("").is_empty());
        assert!(status_uris("a.b.c~d~").is_empty());
        assert!(status_uris("a.b.c~not-a-jwt").is_empty());
    }
}
