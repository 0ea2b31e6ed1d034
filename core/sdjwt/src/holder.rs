//! Holder side: a fully verified issued SD-JWT VC ([`Credential`]) and building a
//! presentation that discloses exactly the chosen claim paths, bound to the holder key.
//!
//! Selection rule (see docs/SDJWT.md): choosing a path discloses the claim at that path
//! *with everything beneath it*, plus the disclosures of its ancestors (without which it
//! could not be placed), and nothing else. Sibling claims of an ancestor stay hidden.

use serde_json::{json, Value};

use crate::keys::{b64, UnsignedJws};
use crate::path::ClaimPath;
use crate::process::{self, ArrayPositions, Disclosure, Node, TYP_KB_JWT};
use crate::{IssuerKeys, Mode, PublicJwk, SdJwtError, SigningKey};
use sha2::{Digest, Sha256};

/// How an issued SD-JWT is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// SD-JWT VC (default: `typ` `dc+sd-jwt`, `vct` required) or plain SD-JWT.
    pub mode: Mode,
    /// Clock skew allowed on `exp`/`nbf`, in seconds.
    pub skew_secs: i64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            mode: Mode::SdJwtVc,
            skew_secs: 60,
        }
    }
}

impl VerifyOptions {
    /// Plain SD-JWT (no `typ`/`vct` requirement), e.g. for the IETF reference vectors.
    pub fn plain_sd_jwt() -> Self {
        VerifyOptions {
            mode: Mode::PlainSdJwt,
            ..Self::default()
        }
    }
}

/// A fully verified issued SD-JWT VC, as the holder keeps it.
pub struct Credential {
    compact: String,
    issuer: String,
    vct: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    holder_jwk: Option<PublicJwk>,
    status: Option<Value>,
    claims: Value,
    /// Length of the issuer-signed JWT prefix of `compact`.
    jwt_len: usize,
    disclosures: Vec<Disclosure>,
    nodes: Vec<Node>,
    positions: ArrayPositions,
    mode: Mode,
}

/// Top-level claims that describe the credential rather than its subject (who issued it, its
/// type, validity, holder key and status entry). Every other claim a receiver sees is personal
/// data and is accounted for by [`Credential::visible_paths`].
pub const ENVELOPE_CLAIMS: &[&str] = &[
    "iss",
    "vct",
    "vct#integrity",
    "iat",
    "exp",
    "nbf",
    "cnf",
    "status",
];

impl std::fmt::Debug for Credential {
    // Claims are personal data: only the envelope is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("issuer", &self.issuer)
            .field("vct", &self.vct)
            .field("disclosures", &self.disclosures.len())
            .finish_non_exhaustive()
    }
}

impl Credential {
    /// Parses and fully verifies an issued SD-JWT (`<jwt>~<d>~…~`, no key-binding JWT):
    /// issuer signature against `keys`, `typ`/`vct` (VC mode), `_sd_alg`, every disclosure
    /// and digest rule, and `exp`/`nbf` at `now`.
    pub fn verify_issued(
        compact: &str,
        keys: &dyn IssuerKeys,
        now: i64,
        options: &VerifyOptions,
    ) -> Result<Credential, SdJwtError> {
        let split = process::split(compact)?;
        if split.kb.is_some() {
            return Err(SdJwtError::UnexpectedKeyBinding);
        }
        let jwt =
            process::verify_issuer_jwt(split.jwt, keys, now, options.skew_secs, options.mode)?;
        let disclosures = process::parse_disclosures(&split.disclosures)?;
        let (claims, nodes, positions) =
            process::apply_disclosures_positioned(&jwt.payload, &disclosures, options.mode, true)?;
        Ok(Credential {
            compact: compact.to_owned(),
            jwt_len: split.jwt.len(),
            issuer: jwt.iss,
            vct: jwt.vct,
            iat: jwt.iat,
            exp: jwt.exp,
            nbf: jwt.nbf,
            holder_jwk: jwt.holder_jwk,
            status: jwt.status,
            claims,
            disclosures,
            nodes,
            positions,
            mode: options.mode,
        })
    }

    /// The issuer (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
    /// The credential type (`vct`); empty for a plain SD-JWT without one.
    pub fn vct(&self) -> &str {
        self.vct.as_deref().unwrap_or_default()
    }
    /// Issued at (`iat`).
    pub fn issued_at(&self) -> Option<i64> {
        self.iat
    }
    /// Expiry (`exp`).
    pub fn expires_at(&self) -> Option<i64> {
        self.exp
    }
    /// Not before (`nbf`).
    pub fn not_before(&self) -> Option<i64> {
        self.nbf
    }
    /// The holder key the credential is bound to (`cnf.jwk`).
    pub fn holder_jwk(&self) -> Option<&PublicJwk> {
        self.holder_jwk.as_ref()
    }
    /// The status reference (`status`), e.g. a Token Status List entry.
    pub fn status(&self) -> Option<&Value> {
        self.status.as_ref()
    }
    /// All claims, fully processed: every disclosure applied, no `_sd`, `_sd_alg` or `...`.
    /// Registered claims (`iss`, `vct`, `cnf`, …) are included as the issuer signed them.
    pub fn claims(&self) -> &Value {
        &self.claims
    }
    /// The compact issued form, which is what to store.
    pub fn compact(&self) -> &str {
        &self.compact
    }

    /// `path` with each array index replaced by the element's position in the issuer-signed
    /// array (where undisclosed elements and decoys also count): what identifies an array
    /// element to a verifier, who sees only the disclosed ones ([`ArrayPositions`]). `None`
    /// if the path names an element the credential does not have.
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

    /// Every claim a receiver of `presentation` (a presentation of this credential, with or
    /// without key binding) sees, as leaf paths: the disclosed claims and the
    /// always-visible claims of the issuer-signed JWT, without [`ENVELOPE_CLAIMS`], sorted. Computed
    /// from the presentation's own bytes, so it is what leaves the phone, not what was asked;
    /// array indexes are as the receiver sees them (disclosed elements only).
    pub fn visible_paths(&self, presentation: &str) -> Result<Vec<ClaimPath>, SdJwtError> {
        let split = process::split(presentation)?;
        if split.jwt != &self.compact[..self.jwt_len] {
            return Err(SdJwtError::Malformed(
                "the presentation is not of this credential",
            ));
        }
        let payload = self
            .claims_of_jwt()
            .ok_or(SdJwtError::Malformed("issuer-signed JWT payload"))?;
        let disclosures = process::parse_disclosures(&split.disclosures)?;
        let (claims, _) = process::apply_disclosures(&payload, &disclosures, self.mode, false)?;
        let mut out = Vec::new();
        if let Value::Object(top) = &claims {
            for (k, v) in top {
                if !ENVELOPE_CLAIMS.contains(&k.as_str()) {
                    leaves(v, &mut vec![crate::PathSegment::from_key(k)], &mut out);
                }
            }
        }
        // Sorted, so the order does not depend on how serde_json keeps maps in this build.
        out.sort();
        Ok(out)
    }

    /// The issuer-signed JWT's payload (already verified when this credential was made).
    fn claims_of_jwt(&self) -> Option<serde_json::Map<String, Value>> {
        use base64::Engine;
        let payload = self.compact[..self.jwt_len].split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The paths the holder can choose to disclose, in document order. Paths not listed
    /// (such as `/iss`) are always disclosed.
    pub fn disclosable_paths(&self) -> Vec<ClaimPath> {
        self.nodes.iter().map(|n| n.path.clone()).collect()
    }

    /// The presented SD-JWT without key binding (`<jwt>~<chosen disclosures>~`), for
    /// credentials without `cnf` or test vectors with `key_binding: false`.
    pub fn present_without_key_binding(&self, paths: &[ClaimPath]) -> Result<String, SdJwtError> {
        let chosen = self.select(paths)?;
        let jwt = &self.compact[..self.jwt_len];
        let mut out = String::with_capacity(
            jwt.len()
                + 1
                + chosen
                    .iter()
                    .map(|&i| self.disclosures[i].encoded.len() + 1)
                    .sum::<usize>(),
        );
        out.push_str(jwt);
        out.push('~');
        for i in chosen {
            out.push_str(&self.disclosures[i].encoded);
            out.push('~');
        }
        Ok(out)
    }

    /// A presentation of exactly `paths` with a key-binding JWT (`typ` `kb+jwt`; `nonce`,
    /// `aud`, `iat`, `sd_hash`) signed by `holder_key`, which must be the `cnf.jwk` key.
    pub fn present(
        &self,
        paths: &[ClaimPath],
        holder_key: &SigningKey,
        nonce: &str,
        aud: &str,
        iat: i64,
    ) -> Result<String, SdJwtError> {
        let bound = self.holder_jwk.as_ref().ok_or(SdJwtError::NoHolderKey)?;
        if *bound != holder_key.public_jwk() {
            return Err(SdJwtError::HolderKeyMismatch);
        }
        self.prepare_presentation(paths, nonce, aud, iat)?
            .sign(holder_key)
    }

    /// The presentation of exactly `paths` up to its key-binding JWT, for a holder key kluis
    /// does not hold (a phone's secure hardware): sign [`UnsignedPresentation::signing_input`]
    /// with the `cnf.jwk` key and hand the signature to [`UnsignedPresentation::finish`].
    pub fn prepare_presentation(
        &self,
        paths: &[ClaimPath],
        nonce: &str,
        aud: &str,
        iat: i64,
    ) -> Result<UnsignedPresentation, SdJwtError> {
        self.prepare_presentation_with(paths, nonce, aud, iat, &serde_json::Map::new())
    }

    /// As [`Credential::prepare_presentation`], with `extra_claims` in the key-binding JWT
    /// payload, before the registered ones (which they cannot override). A KB-JWT is a JWT:
    /// claims a verifier does not understand it ignores (RFC 7519 §4), so a standard verifier
    /// still accepts the presentation; kluis uses this for the association of one answer's
    /// presentations (docs/PRESENTING.md).
    pub fn prepare_presentation_with(
        &self,
        paths: &[ClaimPath],
        nonce: &str,
        aud: &str,
        iat: i64,
        extra_claims: &serde_json::Map<String, Value>,
    ) -> Result<UnsignedPresentation, SdJwtError> {
        let bound = self.holder_jwk.as_ref().ok_or(SdJwtError::NoHolderKey)?;
        self.prepare_signed_by(paths, bound, nonce, aud, iat, extra_claims)
    }

    /// A presentation of exactly `paths` whose key-binding JWT is signed by `signer`, a key
    /// other than `cnf.jwk`, with `extra_claims` added to the KB-JWT payload. This is the
    /// delegation extension (docs/DELEGATION.md): a helper signs with their own key and puts the
    /// citizen's mandate in the KB-JWT. A standard verifier rejects such a presentation (the
    /// KB-JWT is not signed by `cnf`); only a verifier that understands the extra claims accepts
    /// it. The registered KB claims (`iat`, `aud`, `nonce`, `sd_hash`) cannot be overridden.
    pub fn present_delegated(
        &self,
        paths: &[ClaimPath],
        signer: &SigningKey,
        nonce: &str,
        aud: &str,
        iat: i64,
        extra_claims: &serde_json::Map<String, Value>,
    ) -> Result<String, SdJwtError> {
        self.prepare_delegated(paths, &signer.public_jwk(), nonce, aud, iat, extra_claims)?
            .sign(signer)
    }

    /// As [`Credential::present_delegated`], up to the helper's signature: `signer` is the
    /// helper's public key, which [`UnsignedPresentation::finish`] checks the signature against.
    pub fn prepare_delegated(
        &self,
        paths: &[ClaimPath],
        signer: &PublicJwk,
        nonce: &str,
        aud: &str,
        iat: i64,
        extra_claims: &serde_json::Map<String, Value>,
    ) -> Result<UnsignedPresentation, SdJwtError> {
        self.holder_jwk.as_ref().ok_or(SdJwtError::NoHolderKey)?;
        self.prepare_signed_by(paths, signer, nonce, aud, iat, extra_claims)
    }

    /// The presentation of `paths` up to a KB-JWT that `signer` is to sign: `extra_claims` first,
    /// then the registered KB claims (`iat`, `aud`, `nonce`, `sd_hash`), which they cannot override.
    fn prepare_signed_by(
        &self,
        paths: &[ClaimPath],
        signer: &PublicJwk,
        nonce: &str,
        aud: &str,
        iat: i64,
        extra_claims: &serde_json::Map<String, Value>,
    ) -> Result<UnsignedPresentation, SdJwtError> {
        let sd_part = self.present_without_key_binding(paths)?;
        let mut payload = serde_json::Map::new();
        for (k, v) in extra_claims {
            if !matches!(k.as_str(), "iat" | "aud" | "nonce" | "sd_hash") {
                payload.insert(k.clone(), v.clone());
            }
        }
        payload.insert("iat".into(), json!(iat));
        payload.insert("aud".into(), json!(aud));
        payload.insert("nonce".into(), json!(nonce));
        payload.insert("sd_hash".into(), json!(sd_hash(&sd_part)));
        let header = json!({"alg": "ES256", "typ": TYP_KB_JWT});
        Ok(UnsignedPresentation {
            kb: UnsignedJws::new(&header, &Value::Object(payload))?,
            sd_part,
            signer: signer.clone(),
        })
    }

    /// Indexes (in issued order) of the disclosures that `paths` need.
    fn select(&self, paths: &[ClaimPath]) -> Result<Vec<usize>, SdJwtError> {
        let mut chosen = vec![false; self.disclosures.len()];
        for path in paths {
            if path.resolve(&self.claims).is_none() {
                return Err(SdJwtError::UnknownClaimPath(path.to_string()));
            }
            for node in &self.nodes {
                // Ancestors (and the claim itself) and everything beneath the claim.
                if node.path.is_prefix_of(path) || path.is_prefix_of(&node.path) {
                    chosen[node.disclosure] = true;
                }
            }
        }
        Ok(chosen
            .iter()
            .enumerate()
            .filter_map(|(i, &c)| c.then_some(i))
            .collect())
    }
}

/// `sd_hash`: base64url SHA-256 over the presentation up to and including the last `~`.
pub(crate) fn sd_hash(sd_part: &str) -> String {
    b64(&Sha256::digest(sd_part.as_bytes()))
}

/// A presentation built up to its key-binding JWT ([`Credential::prepare_presentation`]).
pub struct UnsignedPresentation {
    sd_part: String,
    kb: UnsignedJws,
    /// The key whose signature completes it: `cnf.jwk`, or the helper's key when delegated.
    signer: PublicJwk,
}

impl UnsignedPresentation {
    /// The KB-JWT's signing input, for the holder key to sign (ES256).
    pub fn signing_input(&self) -> &[u8] {
        self.kb.signing_input()
    }

    /// The key that must have made the signature.
    pub fn signer(&self) -> &PublicJwk {
        &self.signer
    }

    /// The finished presentation, if `signature` (raw r‖s or DER) verifies under the expected
    /// key; otherwise [`SdJwtError::ForeignSignature`] and nothing to send.
    pub fn finish(self, signature: &[u8]) -> Result<String, SdJwtError> {
        let kb = self.kb.finish(signature, &self.signer)?;
        Ok(self.sd_part + &kb)
    }

    /// Signs with a key held here; it must be the expected key.
    pub fn sign(self, key: &SigningKey) -> Result<String, SdJwtError> {
        if key.public_jwk() != self.signer {
            return Err(SdJwtError::HolderKeyMismatch);
        }
        let kb = self.kb.sign(key)?;
        Ok(self.sd_part + &kb)
    }
}

/// The leaf paths under `v` (scalars, and empty objects or arrays, which a receiver also sees).
fn leaves(v: &Value, at: &mut Vec<crate::PathSegment>, out: &mut Vec<ClaimPath>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                at.push(crate::PathSegment::from_key(k));
                leaves(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, child) in a.iter().enumerate() {
                at.push(crate::PathSegment::Index(i));
                leaves(child, at, out);
                at.pop();
            }
        }
        _ => out.push(ClaimPath::from_segments(at.clone())),
    }
}
