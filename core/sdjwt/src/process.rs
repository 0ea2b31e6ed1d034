//! The part holder and verifier share: split the compact form, verify the issuer-signed JWT,
//! and apply disclosures to the payload (RFC 9901 §7.1), enforcing every structural rule:
//! digests unique, every disclosure referenced exactly once, shapes, reserved names, clashes.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::keys::{b64, parse_compact, unb64};
use crate::path::{ClaimPath, PathSegment};
use crate::{IssuerKeys, Mode, PublicJwk, SdJwtError};

/// Hard limit on a compact SD-JWT (issued or presented).
pub const MAX_COMPACT_LEN: usize = 1024 * 1024;
/// Hard limit on the number of disclosures in one SD-JWT.
pub const MAX_DISCLOSURES: usize = 1024;
/// Hard limit on claim nesting depth (objects and arrays, counted from the payload).
pub const MAX_DEPTH: usize = 32;

/// `typ` of an SD-JWT VC issuer-signed JWT.
pub const TYP_SD_JWT_VC: &str = "dc+sd-jwt";
/// `typ` of a key-binding JWT.
pub const TYP_KB_JWT: &str = "kb+jwt";

/// Top-level claims of an SD-JWT VC that must never be selectively disclosable.
pub(crate) const VC_NEVER_DISCLOSABLE: &[&str] = &[
    "iss",
    "nbf",
    "exp",
    "cnf",
    "vct",
    "vct#integrity",
    "status",
    "_sd_alg",
];

/// A decoded disclosure.
pub(crate) struct Disclosure {
    pub encoded: String,
    pub digest: String,
    pub name: Option<String>,
    pub value: Value,
}

pub(crate) fn digest_of(encoded: &str) -> String {
    b64(&Sha256::digest(encoded.as_bytes()))
}

pub(crate) fn parse_disclosure(encoded: &str) -> Result<Disclosure, SdJwtError> {
    let bytes = unb64(encoded, "disclosure")?;
    let arr: Vec<Value> =
        serde_json::from_slice(&bytes).map_err(|_| SdJwtError::BadJson("disclosure"))?;
    let mut it = arr.into_iter();
    let (salt, name, value) = match (it.next(), it.next(), it.next(), it.next()) {
        (Some(salt), Some(value), None, None) => (salt, None, value),
        (Some(salt), Some(name), Some(value), None) => (salt, Some(name), value),
        _ => {
            return Err(SdJwtError::DisclosureShape(
                "must be an array of 2 or 3 elements",
            ))
        }
    };
    if !salt.is_string() {
        return Err(SdJwtError::DisclosureShape("salt must be a string"));
    }
    let name = match name {
        None => None,
        Some(Value::String(n)) => Some(n),
        Some(_) => return Err(SdJwtError::DisclosureShape("claim name must be a string")),
    };
    Ok(Disclosure {
        digest: digest_of(encoded),
        encoded: encoded.to_owned(),
        name,
        value,
    })
}

/// The compact form split at `~`.
pub(crate) struct Split<'a> {
    pub jwt: &'a str,
    pub disclosures: Vec<&'a str>,
    /// The key-binding JWT, if the last part is non-empty.
    pub kb: Option<&'a str>,
    /// Everything up to and including the last `~`: the `sd_hash` input.
    pub sd_part: &'a str,
}

pub(crate) fn split(compact: &str) -> Result<Split<'_>, SdJwtError> {
    if compact.len() > MAX_COMPACT_LEN {
        return Err(SdJwtError::InputTooLarge("SD-JWT larger than 1 MiB"));
    }
    let last_tilde = compact
        .rfind('~')
        .ok_or(SdJwtError::Malformed("no ~ separator"))?;
    let sd_part = &compact[..=last_tilde];
    let kb = &compact[last_tilde + 1..];
    let mut parts = compact[..last_tilde].split('~');
    let jwt = parts.next().unwrap_or_default();
    if jwt.is_empty() {
        return Err(SdJwtError::Malformed("empty issuer-signed JWT"));
    }
    let mut disclosures = Vec::new();
    for d in parts {
        if d.is_empty() {
            return Err(SdJwtError::Malformed("empty disclosure"));
        }
        if disclosures.len() == MAX_DISCLOSURES {
            return Err(SdJwtError::InputTooLarge("more than 1024 disclosures"));
        }
        disclosures.push(d);
    }
    Ok(Split {
        jwt,
        disclosures,
        kb: (!kb.is_empty()).then_some(kb),
        sd_part,
    })
}

/// The verified issuer-signed JWT: registered claims pulled out, payload kept for processing.
pub(crate) struct IssuerJwt {
    pub payload: Map<String, Value>,
    pub iss: String,
    pub vct: Option<String>,
    pub iat: Option<i64>,
    pub exp: Option<i64>,
    pub nbf: Option<i64>,
    pub holder_jwk: Option<PublicJwk>,
    pub status: Option<Value>,
}

fn numeric(payload: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, SdJwtError> {
    match payload.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(SdJwtError::InvalidClaim(name)),
    }
}

/// Verifies the issuer-signed JWT: alg, typ, signature against a trusted key, `_sd_alg`,
/// registered claim types, and the validity window at `now` with `skew` seconds of leeway.
pub(crate) fn verify_issuer_jwt(
    jwt: &str,
    keys: &dyn IssuerKeys,
    now: i64,
    skew: i64,
    mode: Mode,
) -> Result<IssuerJwt, SdJwtError> {
    let jws = parse_compact(jwt, "issuer-signed JWT")?;
    if mode == Mode::SdJwtVc && jws.header.get("typ").and_then(Value::as_str) != Some(TYP_SD_JWT_VC)
    {
        return Err(SdJwtError::WrongTyp {
            expected: TYP_SD_JWT_VC,
        });
    }
    let payload = jws.payload;
    let iss = match payload.get("iss") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(SdJwtError::InvalidClaim("iss")),
        None => return Err(SdJwtError::MissingClaim("iss")),
    };
    let kid = jws.header.get("kid").and_then(Value::as_str);
    let candidates = keys.keys_for(&iss, kid);
    if candidates.is_empty() {
        return Err(SdJwtError::UntrustedIssuer);
    }
    if !candidates
        .iter()
        .any(|k| k.verify_es256(jws.signing_input.as_bytes(), &jws.signature))
    {
        return Err(SdJwtError::BadIssuerSignature);
    }
    match payload.get("_sd_alg") {
        None => {} // RFC 9901 §4.1.1: absent means sha-256
        Some(Value::String(a)) if a == "sha-256" => {}
        Some(_) => return Err(SdJwtError::UnsupportedSdAlg),
    }
    let iat = numeric(&payload, "iat")?;
    let exp = numeric(&payload, "exp")?;
    let nbf = numeric(&payload, "nbf")?;
    if let Some(exp) = exp {
        if now >= exp.saturating_add(skew) {
            return Err(SdJwtError::Expired);
        }
    }
    if let Some(nbf) = nbf {
        if now.saturating_add(skew) < nbf {
            return Err(SdJwtError::NotYetValid);
        }
    }
    let vct = match payload.get("vct") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => return Err(SdJwtError::InvalidClaim("vct")),
        None if mode == Mode::SdJwtVc => return Err(SdJwtError::MissingClaim("vct")),
        None => None,
    };
    let holder_jwk = match payload.get("cnf") {
        None => None,
        Some(cnf) => {
            let jwk = cnf.get("jwk").ok_or(SdJwtError::InvalidClaim("cnf"))?;
            Some(PublicJwk::from_value(jwk)?)
        }
    };
    let status = match payload.get("status") {
        None => None,
        Some(s @ Value::Object(_)) => Some(s.clone()),
        Some(_) => return Err(SdJwtError::InvalidClaim("status")),
    };
    Ok(IssuerJwt {
        payload,
        iss,
        vct,
        iat,
        exp,
        nbf,
        holder_jwk,
        status,
    })
}

/// Parses disclosures and refuses a disclosure attached twice.
pub(crate) fn parse_disclosures(encoded: &[&str]) -> Result<Vec<Disclosure>, SdJwtError> {
    let mut seen = HashSet::with_capacity(encoded.len());
    let mut out = Vec::with_capacity(encoded.len());
    for e in encoded {
        if !seen.insert(*e) {
            return Err(SdJwtError::DuplicateDisclosure);
        }
        out.push(parse_disclosure(e)?);
    }
    Ok(out)
}

/// Where one disclosure ended up in the processed claims (holder side only).
pub(crate) struct Node {
    /// Index into the disclosure list.
    pub disclosure: usize,
    pub path: ClaimPath,
}

/// Applies `disclosures` to `payload`, returning the processed claims (without `_sd`,
/// `_sd_alg` and `...`), and, when `track` is set, where each disclosure landed.
pub(crate) fn apply_disclosures(
    payload: &Map<String, Value>,
    disclosures: &[Disclosure],
    mode: Mode,
    track: bool,
) -> Result<(Value, Vec<Node>), SdJwtError> {
    apply_disclosures_positioned(payload, disclosures, mode, track).map(|(c, n, _)| (c, n))
}

/// As [`apply_disclosures`], also returning where each array element of the processed claims
/// sits in the issuer-signed array (empty unless `track` is set).
pub(crate) fn apply_disclosures_positioned(
    payload: &Map<String, Value>,
    disclosures: &[Disclosure],
    mode: Mode,
    track: bool,
) -> Result<(Value, Vec<Node>, ArrayPositions), SdJwtError> {
    let mut p = Processor {
        by_digest: disclosures
            .iter()
            .enumerate()
            .map(|(i, d)| (d.digest.as_str(), i))
            .collect(),
        disclosures,
        used: 0,
        seen: HashSet::new(),
        nodes: Vec::new(),
        path: Vec::new(),
        signed: Vec::new(),
        positions: ArrayPositions::default(),
        mode,
        track,
    };
    let claims = p.object(payload, 0)?;
    if p.used != disclosures.len() {
        return Err(SdJwtError::DigestNotFound);
    }
    Ok((Value::Object(claims), p.nodes, p.positions))
}

/// Where array elements sit in the issuer-signed payload. A processed array holds only the
/// elements that were disclosed (and the plain ones), so `/nationalities/0` in what a holder
/// or verifier sees can be any element of the signed array: its position there (counting the
/// digests of undisclosed elements and decoys) is what identifies the element itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArrayPositions {
    /// Path of each array element as seen → the same path with signed-array positions.
    signed: BTreeMap<ClaimPath, ClaimPath>,
}

impl ArrayPositions {
    /// `path` (as seen after processing) with every array index replaced by the element's
    /// position in the issuer-signed array; `None` if it names an element that is not there.
    /// A path without array indexes is returned as it is.
    pub fn signed_path(&self, path: &ClaimPath) -> Option<ClaimPath> {
        let segs = path.segments();
        // The deepest array element on the path carries the positions of all above it.
        let Some(deepest) = segs
            .iter()
            .rposition(|s| matches!(s, PathSegment::Index(_)))
        else {
            return Some(path.clone());
        };
        let element = ClaimPath::from_segments(segs[..=deepest].to_vec());
        let mut out = self.signed.get(&element)?.segments().to_vec();
        out.extend_from_slice(&segs[deepest + 1..]);
        Some(ClaimPath::from_segments(out))
    }
}

struct Processor<'a> {
    by_digest: HashMap<&'a str, usize>,
    disclosures: &'a [Disclosure],
    used: usize,
    seen: HashSet<&'a str>,
    nodes: Vec<Node>,
    path: Vec<PathSegment>,
    /// `path` with signed-array positions instead of processed indexes (when tracking).
    signed: Vec<PathSegment>,
    positions: ArrayPositions,
    mode: Mode,
    track: bool,
}

impl<'a> Processor<'a> {
    /// Marks a digest as seen and returns its disclosure, if the holder/verifier has it.
    fn take(&mut self, digest: &'a str) -> Result<Option<&'a Disclosure>, SdJwtError> {
        if !self.seen.insert(digest) {
            return Err(SdJwtError::DuplicateDigest);
        }
        Ok(self.by_digest.get(digest).map(|&i| {
            self.used += 1;
            if self.track {
                self.nodes.push(Node {
                    disclosure: i,
                    path: ClaimPath::default(), // filled in by the caller once the path is known
                });
            }
            &self.disclosures[i]
        }))
    }

    fn record_path(&mut self, node_at: usize) {
        if self.track {
            if let Some(n) = self.nodes.get_mut(node_at) {
                n.path = ClaimPath::from_segments(self.path.clone());
            }
        }
    }

    /// Runs `f` one level down; the path is only kept when tracking (the holder side), so
    /// the verifier's hot path allocates no path segments.
    fn child<T>(
        &mut self,
        segment: impl FnOnce() -> PathSegment,
        f: impl FnOnce(&mut Self) -> Result<T, SdJwtError>,
    ) -> Result<T, SdJwtError> {
        if !self.track {
            return f(self);
        }
        let seg = segment();
        self.signed.push(seg.clone());
        self.path.push(seg);
        let r = f(self);
        self.path.pop();
        self.signed.pop();
        r
    }

    /// As [`Processor::child`] for array element `at` (processed index) found at position
    /// `signed_at` of the signed array; records the pair of paths.
    fn element<T>(
        &mut self,
        at: usize,
        signed_at: usize,
        f: impl FnOnce(&mut Self) -> Result<T, SdJwtError>,
    ) -> Result<T, SdJwtError> {
        if !self.track {
            return f(self);
        }
        self.path.push(PathSegment::Index(at));
        self.signed.push(PathSegment::Index(signed_at));
        self.positions.signed.insert(
            ClaimPath::from_segments(self.path.clone()),
            ClaimPath::from_segments(self.signed.clone()),
        );
        let r = f(self);
        self.path.pop();
        self.signed.pop();
        r
    }

    fn value(&mut self, v: &'a Value, depth: usize) -> Result<Value, SdJwtError> {
        match v {
            Value::Object(m) => Ok(Value::Object(self.object(m, depth + 1)?)),
            Value::Array(a) => self.array(a, depth + 1),
            other => Ok(other.clone()),
        }
    }

    fn object(
        &mut self,
        m: &'a Map<String, Value>,
        depth: usize,
    ) -> Result<Map<String, Value>, SdJwtError> {
        if depth > MAX_DEPTH {
            return Err(SdJwtError::InputTooLarge("claims nested too deeply"));
        }
        let mut out = Map::with_capacity(m.len());
        for (k, v) in m {
            // `_sd_alg` belongs to the envelope, not to the claims.
            if k == "_sd" || (depth == 0 && k == "_sd_alg") {
                continue;
            }
            let processed = self.child(|| PathSegment::from_key(k), |p| p.value(v, depth))?;
            out.insert(k.clone(), processed);
        }
        let Some(sd) = m.get("_sd") else {
            return Ok(out);
        };
        let sd = sd
            .as_array()
            .ok_or(SdJwtError::Malformed("_sd must be an array of digests"))?;
        for d in sd {
            let d = d
                .as_str()
                .ok_or(SdJwtError::Malformed("_sd must be an array of digests"))?;
            let node_at = self.nodes.len();
            let Some(disclosure) = self.take(d)? else {
                continue; // a decoy, or a disclosure not presented
            };
            let Some(name) = disclosure.name.as_deref() else {
                return Err(SdJwtError::DisclosureShape(
                    "array-element disclosure referenced from an object",
                ));
            };
            if name == "_sd" || name == "..." {
                return Err(SdJwtError::ReservedClaimName(name.to_owned()));
            }
            if depth == 0
                && (name == "_sd_alg"
                    || (self.mode == Mode::SdJwtVc && VC_NEVER_DISCLOSABLE.contains(&name)))
            {
                return Err(SdJwtError::ReservedClaimName(name.to_owned()));
            }
            if out.contains_key(name) {
                return Err(SdJwtError::ClaimNameClash(name.to_owned()));
            }
            let processed = self.child(
                || PathSegment::from_key(name),
                |p| {
                    p.record_path(node_at);
                    p.value(&disclosure.value, depth)
                },
            )?;
            out.insert(name.to_owned(), processed);
        }
        Ok(out)
    }

    fn array(&mut self, a: &'a [Value], depth: usize) -> Result<Value, SdJwtError> {
        if depth > MAX_DEPTH {
            return Err(SdJwtError::InputTooLarge("claims nested too deeply"));
        }
        let mut out = Vec::with_capacity(a.len());
        for (signed_at, item) in a.iter().enumerate() {
            if let Some(digest) = array_digest(item)? {
                let node_at = self.nodes.len();
                let Some(disclosure) = self.take(digest)? else {
                    continue;
                };
                if disclosure.name.is_some() {
                    return Err(SdJwtError::DisclosureShape(
                        "object-property disclosure referenced from an array",
                    ));
                }
                let at = out.len();
                let processed = self.element(at, signed_at, |p| {
                    p.record_path(node_at);
                    p.value(&disclosure.value, depth)
                })?;
                out.push(processed);
            } else {
                let at = out.len();
                out.push(self.element(at, signed_at, |p| p.value(item, depth))?);
            }
        }
        Ok(Value::Array(out))
    }
}

/// `{"...": "<digest>"}` — an array element that stands for a disclosure.
fn array_digest(item: &Value) -> Result<Option<&str>, SdJwtError> {
    match item {
        Value::Object(m) if m.len() == 1 => match m.get("...") {
            Some(Value::String(d)) => Ok(Some(d)),
            Some(_) => Err(SdJwtError::Malformed(
                "array element digest must be a string",
            )),
            None => Ok(None),
        },
        _ => Ok(None),
    }
}
