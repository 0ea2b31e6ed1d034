//! Verifier side: check a presentation end to end and return only what was disclosed.
//! Order of checks: size and shape → issuer JWT (alg, typ, trust, signature, `_sd_alg`,
//! validity) → disclosures → key binding (typ, signature against `cnf.jwk`, `sd_hash`,
//! `nonce`, `aud`, freshness). Every rejection names the failed check.

use serde_json::{Map, Value};

use crate::holder::sd_hash;
use crate::keys::{parse_compact, ParsedJws};
use crate::process::{self, TYP_KB_JWT};
use crate::{ArrayPositions, ClaimPath, IssuerKeys, Mode, PublicJwk, SdJwtError};

/// What the verifier expects of a presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationExpectations {
    /// The nonce the verifier sent.
    pub nonce: String,
    /// The verifier's own identifier, expected as KB-JWT `aud`.
    pub aud: String,
    /// Current time (seconds since the epoch).
    pub now: i64,
    /// Maximum age of the key-binding JWT's `iat`.
    pub max_age_secs: i64,
    /// Allowed clock skew (KB `iat` in the future, credential `exp`/`nbf`).
    pub skew_secs: i64,
    /// Whether a key-binding JWT is required (it always is for SD-JWT VCs with `cnf`).
    pub require_key_binding: bool,
    /// SD-JWT VC (default) or plain SD-JWT.
    pub mode: Mode,
}

impl PresentationExpectations {
    /// SD-JWT VC with key binding required, 5 minutes maximum KB age, 60 s skew.
    pub fn new(nonce: impl Into<String>, aud: impl Into<String>, now: i64) -> Self {
        PresentationExpectations {
            nonce: nonce.into(),
            aud: aud.into(),
            now,
            max_age_secs: 300,
            skew_secs: 60,
            require_key_binding: true,
            mode: Mode::SdJwtVc,
        }
    }
}

/// A presentation that passed every check: who issued what, and the disclosed claims.
#[derive(Clone, PartialEq)]
pub struct VerifiedPresentation {
    /// Issuer (`iss`).
    pub issuer: String,
    /// Credential type (`vct`); empty for a plain SD-JWT without one.
    pub vct: String,
    /// The disclosed claims, processed (plus always-visible claims such as `iss`, `vct`).
    pub claims: Value,
    /// The holder key (`cnf.jwk`), if the credential is bound.
    pub holder_jwk: Option<PublicJwk>,
    /// Status reference, for the caller's status-list check.
    pub status: Option<Value>,
    /// Credential `iat`.
    pub issued_at: Option<i64>,
    /// Credential `exp`.
    pub expires_at: Option<i64>,
    /// Whether a key-binding JWT was present and verified.
    pub key_bound: bool,
    /// Set when a helper presented on the citizen's behalf (delegation, docs/DELEGATION.md).
    /// kluis-sdjwt never sets it: kluis-core's delegation verifier fills it once the whole chain
    /// (mandate, scope, revocation) holds, so every caller of the core verifier sees who acted.
    pub on_behalf: Option<OnBehalf>,
}

/// Who presented, when it was not the holder: a helper under a mandate.
#[derive(Debug, Clone, PartialEq)]
pub struct OnBehalf {
    /// The mandate's id (`jti`).
    pub mandate_id: String,
    /// The helper's key (the mandate's `cnf.jwk`, which signed the key-binding JWT).
    pub helper_jwk: PublicJwk,
    /// RFC 7638 thumbprint of the helper's key.
    pub helper_thumbprint: String,
    /// The mandate's `exp`.
    pub mandate_expires_at: i64,
    /// The mandate's `scope`, as signed.
    pub scope: Value,
}

/// What [`verify_presentation_with`] returns besides the presentation: the verified key-binding
/// JWT and what the presentation disclosed.
#[derive(Debug, Clone)]
pub struct KeyBindingDetails {
    /// The key that signed the key-binding JWT (the one the chooser named).
    pub signer: PublicJwk,
    /// The KB-JWT payload, signature verified (standard and extra claims).
    pub claims: Map<String, Value>,
    /// The paths of the claims revealed by disclosures in this presentation (not the claims the
    /// issuer left always visible), in document order.
    pub disclosed_paths: Vec<ClaimPath>,
    /// Where each array element of the presented claims sits in the issuer-signed array: the
    /// presented array holds only what was disclosed, so its indexes are not the element's.
    pub positions: ArrayPositions,
}

impl KeyBindingDetails {
    /// `path` (as presented) with signed-array positions for its indexes
    /// ([`ArrayPositions::signed_path`]); a path without indexes as it is.
    pub fn signed_path(&self, path: &ClaimPath) -> Option<ClaimPath> {
        if !path
            .segments()
            .iter()
            .any(|s| matches!(s, crate::PathSegment::Index(_)))
        {
            return Some(path.clone());
        }
        self.positions.signed_path(path)
    }
}

impl std::fmt::Debug for VerifiedPresentation {
    // Claims are personal data: left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedPresentation")
            .field("issuer", &self.issuer)
            .field("vct", &self.vct)
            .field("key_bound", &self.key_bound)
            .finish_non_exhaustive()
    }
}

/// Verifies a presentation (`<jwt>~<disclosures>~[<kb-jwt>]`) against trusted issuer keys
/// and the verifier's expectations.
pub fn verify_presentation(
    presentation: &str,
    keys: &dyn IssuerKeys,
    expect: &PresentationExpectations,
) -> Result<VerifiedPresentation, SdJwtError> {
    let split = process::split(presentation)?;
    let jwt =
        process::verify_issuer_jwt(split.jwt, keys, expect.now, expect.skew_secs, expect.mode)?;
    let disclosures = process::parse_disclosures(&split.disclosures)?;
    let (claims, _) = process::apply_disclosures(&jwt.payload, &disclosures, expect.mode, false)?;

    let key_bound = match split.kb {
        None if expect.require_key_binding => return Err(SdJwtError::KeyBindingMissing),
        None => false,
        Some(kb) => {
            let holder = jwt.holder_jwk.as_ref().ok_or(SdJwtError::NoHolderKey)?;
            verify_key_binding(kb, holder, split.sd_part, expect)?;
            true
        }
    };
    Ok(VerifiedPresentation {
        issuer: jwt.iss,
        vct: jwt.vct.unwrap_or_default(),
        claims,
        holder_jwk: jwt.holder_jwk,
        status: jwt.status,
        issued_at: jwt.iat,
        expires_at: jwt.exp,
        key_bound,
        on_behalf: None,
    })
}

/// As [`verify_presentation`], but the caller chooses the key that must have signed the
/// key-binding JWT: `choose_kb_key` gets the credential's `cnf.jwk` and the KB-JWT payload
/// (not yet verified) and returns the key, or its own rejection. Every other check is the same;
/// key binding is required. This is the hook for delegated presentations, where a helper's key
/// named in a mandate inside the KB-JWT signs it (docs/DELEGATION.md).
pub fn verify_presentation_with<E, F>(
    presentation: &str,
    keys: &dyn IssuerKeys,
    expect: &PresentationExpectations,
    choose_kb_key: F,
) -> Result<(VerifiedPresentation, KeyBindingDetails), E>
where
    E: From<SdJwtError>,
    F: FnOnce(&PublicJwk, &Map<String, Value>) -> Result<PublicJwk, E>,
{
    let split = process::split(presentation)?;
    let jwt =
        process::verify_issuer_jwt(split.jwt, keys, expect.now, expect.skew_secs, expect.mode)?;
    let disclosures = process::parse_disclosures(&split.disclosures)?;
    // Tracking paths costs a little; only this entry point needs them (for scope checks).
    let (claims, nodes, positions) =
        process::apply_disclosures_positioned(&jwt.payload, &disclosures, expect.mode, true)?;
    let kb = split.kb.ok_or(SdJwtError::KeyBindingMissing)?;
    let holder = jwt.holder_jwk.as_ref().ok_or(SdJwtError::NoHolderKey)?;
    let jws = parse_kb(kb)?;
    let signer = choose_kb_key(holder, &jws.payload)?;
    check_key_binding(&jws, &signer, split.sd_part, expect)?;
    let details = KeyBindingDetails {
        signer,
        claims: jws.payload,
        disclosed_paths: nodes.into_iter().map(|n| n.path).collect(),
        positions,
    };
    Ok((
        VerifiedPresentation {
            issuer: jwt.iss,
            vct: jwt.vct.unwrap_or_default(),
            claims,
            holder_jwk: jwt.holder_jwk,
            status: jwt.status,
            issued_at: jwt.iat,
            expires_at: jwt.exp,
            key_bound: true,
            on_behalf: None,
        },
        details,
    ))
}

/// Verifies a compact ES256 JWS (no `crit`) with `key` and returns its header and payload, or
/// `None` if it does not parse or the signature does not verify. For the JWTs that travel with
/// SD-JWT VCs (mandates, status lists) with a key already parsed, which is several times faster
/// than building a JOSE verifier from the JWK each time.
#[allow(clippy::type_complexity)]
pub fn verify_compact_es256(
    jws: &str,
    key: &PublicJwk,
) -> Option<(Map<String, Value>, Map<String, Value>)> {
    let parsed = parse_compact(jws, "JWS").ok()?;
    key.verify_es256(parsed.signing_input.as_bytes(), &parsed.signature)
        .then_some((parsed.header, parsed.payload))
}

fn verify_key_binding(
    kb: &str,
    holder: &PublicJwk,
    sd_part: &str,
    expect: &PresentationExpectations,
) -> Result<(), SdJwtError> {
    check_key_binding(&parse_kb(kb)?, holder, sd_part, expect)
}

fn parse_kb(kb: &str) -> Result<ParsedJws<'_>, SdJwtError> {
    let jws = parse_compact(kb, "key-binding JWT")?;
    if jws.header.get("typ").and_then(Value::as_str) != Some(TYP_KB_JWT) {
        return Err(SdJwtError::KeyBindingTyp);
    }
    Ok(jws)
}

fn check_key_binding(
    jws: &ParsedJws<'_>,
    holder: &PublicJwk,
    sd_part: &str,
    expect: &PresentationExpectations,
) -> Result<(), SdJwtError> {
    if !holder.verify_es256(jws.signing_input.as_bytes(), &jws.signature) {
        return Err(SdJwtError::BadKeyBindingSignature);
    }
    let p = &jws.payload;
    let str_claim = |name: &'static str| {
        p.get(name)
            .and_then(Value::as_str)
            .ok_or(SdJwtError::KeyBindingClaim(name))
    };
    if str_claim("sd_hash")? != sd_hash(sd_part) {
        return Err(SdJwtError::SdHashMismatch);
    }
    if str_claim("nonce")? != expect.nonce {
        return Err(SdJwtError::NonceMismatch);
    }
    if str_claim("aud")? != expect.aud {
        return Err(SdJwtError::AudienceMismatch);
    }
    let iat = p
        .get("iat")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
        })
        .ok_or(SdJwtError::KeyBindingClaim("iat"))?;
    if iat > expect.now.saturating_add(expect.skew_secs) {
        return Err(SdJwtError::KeyBindingInFuture);
    }
    if expect.now.saturating_sub(iat) > expect.max_age_secs {
        return Err(SdJwtError::KeyBindingStale);
    }
    Ok(())
}
