//! Issuer side: turn a JSON claims object and a [`DisclosurePolicy`] into an SD-JWT VC.
//! Used by the simulated data holders in `fixtures/` and by tests; the wallet never issues.

use rand::seq::SliceRandom as _;
use rand::{Rng as _, RngCore as _};
use serde_json::{json, Map, Value};

use crate::keys::{b64, sign_compact};
use crate::path::{ClaimPath, PathSegment};
use crate::process::{digest_of, MAX_DEPTH, TYP_SD_JWT_VC, VC_NEVER_DISCLOSABLE};
use crate::{PublicJwk, SdJwtError, SigningKey};

/// Claim names the issuer sets from [`IssuerInput`] fields; they may not appear in `claims`.
const REGISTERED: &[&str] = &[
    "iss",
    "iat",
    "nbf",
    "exp",
    "cnf",
    "vct",
    "vct#integrity",
    "status",
    "_sd",
    "_sd_alg",
    "...",
];

/// What the issuer puts into one SD-JWT VC.
#[derive(Debug, Clone)]
pub struct IssuerInput {
    /// Issuer identifier (`iss`).
    pub iss: String,
    /// Credential type (`vct`).
    pub vct: String,
    /// The subject's claims (no registered claims such as `iss`/`exp` in here).
    pub claims: Map<String, Value>,
    /// Holder binding: the holder's public key, put into `cnf.jwk`.
    pub holder_jwk: Option<PublicJwk>,
    /// Status reference, e.g. `{"status_list": {"idx": 12, "uri": "https://…"}}`.
    pub status: Option<Value>,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry (seconds since the epoch).
    pub exp: Option<i64>,
    /// Not before (seconds since the epoch).
    pub nbf: Option<i64>,
    /// Key id for the JWS header.
    pub kid: Option<String>,
}

#[derive(Debug, Clone)]
enum Rule {
    Nothing,
    Everything,
    Leaves,
    Paths(Vec<ClaimPath>),
}

/// Which claims are selectively disclosable, and how many decoy digests to add.
///
/// Decoys: for every object that gets an `_sd` array and every array with a disclosable
/// element (after its elements), a random number of decoys in `[min, max]` is added, so a verifier cannot count
/// the undisclosed claims. Registered SD-JWT VC claims are never disclosable.
#[derive(Debug, Clone)]
pub struct DisclosurePolicy {
    rule: Rule,
    decoys_min: usize,
    decoys_max: usize,
}

impl DisclosurePolicy {
    const DEFAULT_DECOYS: (usize, usize) = (1, 3);

    fn with_rule(rule: Rule) -> Self {
        DisclosurePolicy {
            rule,
            decoys_min: Self::DEFAULT_DECOYS.0,
            decoys_max: Self::DEFAULT_DECOYS.1,
        }
    }

    /// Every object member and every array element, at every level, is disclosable on its
    /// own (containers too: the holder can hide an address entirely or show only a locality).
    pub fn all() -> Self {
        Self::with_rule(Rule::Everything)
    }

    /// Only leaves (strings, numbers, booleans, null, empty containers) are disclosable;
    /// objects and arrays stay visible as structure.
    pub fn all_leaves() -> Self {
        Self::with_rule(Rule::Leaves)
    }

    /// Exactly the claims named by `paths` are disclosable (a parent is disclosable only if
    /// it is listed itself).
    pub fn from_paths(paths: &[ClaimPath]) -> Self {
        Self::with_rule(Rule::Paths(paths.to_vec()))
    }

    /// Nothing is disclosable: a plain signed credential.
    pub fn none() -> Self {
        Self::with_rule(Rule::Nothing)
    }

    /// Sets the number of decoy digests per level to a random count in `[min, max]`.
    pub fn with_decoys(mut self, min: usize, max: usize) -> Self {
        self.decoys_min = min.min(max);
        self.decoys_max = max.max(min);
        self
    }

    fn is_disclosable(&self, path: &[PathSegment], value: &Value) -> bool {
        match &self.rule {
            Rule::Nothing => false,
            Rule::Everything => true,
            Rule::Leaves => match value {
                Value::Object(m) => m.is_empty(),
                Value::Array(a) => a.is_empty(),
                _ => true,
            },
            Rule::Paths(paths) => paths.iter().any(|p| p.segments() == path),
        }
    }

    fn decoy_count(&self) -> usize {
        rand::thread_rng().gen_range(self.decoys_min..=self.decoys_max)
    }
}

fn random_salt() -> String {
    let mut salt = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt);
    b64(&salt)
}

fn decoy_digest() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    b64(&bytes)
}

fn make_disclosure(parts: Value, out: &mut Vec<String>) -> Result<String, SdJwtError> {
    let json = serde_json::to_vec(&parts).map_err(|_| SdJwtError::BadJson("disclosure"))?;
    let encoded = b64(&json);
    let digest = digest_of(&encoded);
    out.push(encoded);
    Ok(digest)
}

struct Encoder<'p> {
    policy: &'p DisclosurePolicy,
    disclosures: Vec<String>,
    path: Vec<PathSegment>,
}

impl Encoder<'_> {
    fn value(&mut self, v: &Value, depth: usize) -> Result<Value, SdJwtError> {
        if depth > MAX_DEPTH {
            return Err(SdJwtError::InputTooLarge("claims nested too deeply"));
        }
        match v {
            Value::Object(m) => Ok(Value::Object(self.object(m, depth, false)?)),
            Value::Array(a) => self.array(a, depth),
            other => Ok(other.clone()),
        }
    }

    fn object(
        &mut self,
        m: &Map<String, Value>,
        depth: usize,
        top: bool,
    ) -> Result<Map<String, Value>, SdJwtError> {
        let mut out = Map::new();
        let mut sd = Vec::new();
        for (k, v) in m {
            if k == "_sd" || k == "..." || (top && REGISTERED.contains(&k.as_str())) {
                return Err(SdJwtError::ReservedClaimName(k.clone()));
            }
            self.path.push(PathSegment::from_key(k));
            let encoded = self.value(v, depth + 1);
            let disclosable = !(top && VC_NEVER_DISCLOSABLE.contains(&k.as_str()))
                && self.policy.is_disclosable(&self.path, v);
            self.path.pop();
            let encoded = encoded?;
            if disclosable {
                sd.push(make_disclosure(
                    json!([random_salt(), k, encoded]),
                    &mut self.disclosures,
                )?);
            } else {
                out.insert(k.clone(), encoded);
            }
        }
        if !sd.is_empty() {
            sd.extend((0..self.policy.decoy_count()).map(|_| decoy_digest()));
            // Sorted, so the order of digests says nothing about the order of claims.
            sd.sort_unstable();
            out.insert(
                "_sd".into(),
                Value::Array(sd.into_iter().map(Value::String).collect()),
            );
        }
        Ok(out)
    }

    fn array(&mut self, a: &[Value], depth: usize) -> Result<Value, SdJwtError> {
        let mut out = Vec::with_capacity(a.len());
        let mut any_sd = false;
        for (i, v) in a.iter().enumerate() {
            self.path.push(PathSegment::Index(i));
            let encoded = self.value(v, depth + 1);
            let disclosable = self.policy.is_disclosable(&self.path, v);
            self.path.pop();
            let encoded = encoded?;
            if disclosable {
                any_sd = true;
                let digest =
                    make_disclosure(json!([random_salt(), encoded]), &mut self.disclosures)?;
                out.push(json!({ "...": digest }));
            } else {
                out.push(encoded);
            }
        }
        if any_sd {
            // After the elements, so that an element's position in the signed array is its index
            // in the credential: what a verifier checks a DCQL index against (it sees only the
            // disclosed elements and their signed positions). The count stays hidden.
            for _ in 0..self.policy.decoy_count() {
                out.push(json!({ "...": decoy_digest() }));
            }
        }
        Ok(Value::Array(out))
    }
}

/// Issues an SD-JWT VC: `<issuer-signed JWT>~<disclosure>~…~` (typ `dc+sd-jwt`, ES256).
///
/// Refuses registered claim names inside `input.claims`, `_sd`/`...` anywhere, and policy
/// paths that name no claim ([`SdJwtError::UnknownClaimPath`]), so a typo in a policy cannot
/// silently make a claim always visible.
pub fn issue(
    key: &SigningKey,
    input: &IssuerInput,
    policy: &DisclosurePolicy,
) -> Result<String, SdJwtError> {
    if let Rule::Paths(paths) = &policy.rule {
        let claims = Value::Object(input.claims.clone());
        if let Some(missing) = paths.iter().find(|p| p.resolve(&claims).is_none()) {
            return Err(SdJwtError::UnknownClaimPath(missing.to_string()));
        }
    }
    let mut enc = Encoder {
        policy,
        disclosures: Vec::new(),
        path: Vec::new(),
    };
    let body = enc.object(&input.claims, 0, true)?;

    let mut payload = Map::new();
    payload.insert("iss".into(), json!(input.iss));
    payload.insert("iat".into(), json!(input.iat));
    if let Some(nbf) = input.nbf {
        payload.insert("nbf".into(), json!(nbf));
    }
    if let Some(exp) = input.exp {
        payload.insert("exp".into(), json!(exp));
    }
    payload.insert("vct".into(), json!(input.vct));
    if let Some(jwk) = &input.holder_jwk {
        payload.insert("cnf".into(), json!({ "jwk": jwk.to_value() }));
    }
    if let Some(status) = &input.status {
        if !status.is_object() {
            return Err(SdJwtError::InvalidClaim("status"));
        }
        payload.insert("status".into(), status.clone());
    }
    payload.extend(body);
    payload.insert("_sd_alg".into(), json!("sha-256"));

    let mut header = json!({"alg": "ES256", "typ": TYP_SD_JWT_VC});
    if let Some(kid) = &input.kid {
        header["kid"] = json!(kid);
    }
    let jwt = sign_compact(key, &header, &Value::Object(payload))?;

    // Disclosure order is shuffled too; it would otherwise mirror the claims' order.
    let mut disclosures = enc.disclosures;
    disclosures.shuffle(&mut rand::thread_rng());
    let mut out = String::with_capacity(
        jwt.len() + disclosures.iter().map(|d| d.len() + 1).sum::<usize>() + 1,
    );
    out.push_str(&jwt);
    out.push('~');
    for d in &disclosures {
        out.push_str(d);
        out.push('~');
    }
    Ok(out)
}
