//! One answer, one wallet: the association of an answer's presentations (docs/PRESENTING.md
//! "One answer, one wallet").
//!
//! Each presentation's key-binding JWT proves only that its own key signed it. Batch copies use a
//! fresh key each, so two honest wallets' presentations made for the same request (same `nonce`,
//! same `aud`) would splice into one `vp_token` that verifies. When an answer holds two or more
//! presentations, every KB-JWT carries [`CLAIM`] = [`value`] of the keys that sign the answer's
//! KB-JWTs (the credentials' `cnf` keys, or the helper's key under a mandate): each key signs for
//! the whole set, and a kluis wallet names only keys it holds. A verifier recomputes the value
//! from the presented credentials and refuses an answer where any KB-JWT lacks it or names other
//! keys. Nothing new is revealed: the keys are in the credentials already, and the value changes
//! whenever the keys do.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kluis_sdjwt::PublicJwk;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::Error;

/// The key-binding JWT claim that names the answer's keys.
pub const CLAIM: &str = "kluis_assoc";

/// Domain separation: the value cannot be mistaken for another SHA-256 over thumbprints.
const DOMAIN: &str = "kluis-assoc-v1";

/// base64url(SHA-256(`kluis-assoc-v1` then, for each distinct RFC 7638 thumbprint of `keys` in
/// sorted order, `.` and the thumbprint)). Order and repeats do not matter: two credentials bound
/// to one key name it once.
pub fn value<'a>(keys: impl IntoIterator<Item = &'a PublicJwk>) -> String {
    let mut prints: Vec<String> = keys.into_iter().map(PublicJwk::thumbprint).collect();
    prints.sort();
    prints.dedup();
    let mut h = Sha256::new();
    h.update(DOMAIN.as_bytes());
    for p in &prints {
        h.update(b".");
        h.update(p.as_bytes());
    }
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// The extra KB-JWT claims for an answer whose presentations are signed by `signers` (one entry
/// per presentation): [`CLAIM`] when there are two or more, nothing for a single presentation.
pub fn kb_claims(signers: &[&PublicJwk]) -> Map<String, Value> {
    let mut m = Map::new();
    if signers.len() >= 2 {
        m.insert(
            CLAIM.to_string(),
            Value::String(value(signers.iter().copied())),
        );
    }
    m
}

/// [`value`] from the `cnf.jwk` keys of issuer-signed JWTs (compact, not verified here): what
/// the offline QR codec recomputes instead of carrying the claim. `None` for fewer than two, or
/// when a JWT has no readable `cnf.jwk`.
fn from_issuer_jwts(jwts: &[&str]) -> Option<String> {
    if jwts.len() < 2 {
        return None;
    }
    let keys = jwts
        .iter()
        .map(|jwt| {
            let payload = URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1)?).ok()?;
            let claims: Value = serde_json::from_slice(&payload).ok()?;
            PublicJwk::from_value(claims.pointer("/cnf/jwk")?).ok()
        })
        .collect::<Option<Vec<_>>>()?;
    Some(value(&keys))
}

/// The association claim as the offline QR codec (`KL2:` bit 3) leaves it out and puts it back.
pub fn qr_claim() -> kluis_qr::offline::DerivedClaim<'static> {
    kluis_qr::offline::DerivedClaim {
        name: CLAIM,
        derive: &from_issuer_jwts,
    }
}

/// Why an answer's presentations do not hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssociationError {
    /// A presentation of a multi-credential answer whose KB-JWT names no set of keys.
    #[error("presentation {index} of {count} in this answer has no {CLAIM} claim: an answer's credentials must come from one wallet")]
    Missing {
        /// Its position in the answer, from 1.
        index: usize,
        /// Presentations in the answer.
        count: usize,
    },
    /// A presentation whose KB-JWT names a set other than the keys that signed this answer:
    /// spliced from another answer, or a key added or left out.
    #[error("presentation {index} of {count} in this answer names other keys than the answer's ({CLAIM}): its credentials do not come from one wallet")]
    Mismatch {
        /// Its position in the answer, from 1.
        index: usize,
        /// Presentations in the answer.
        count: usize,
    },
}

impl From<AssociationError> for Error {
    fn from(e: AssociationError) -> Error {
        Error::InvalidPresentation {
            reason: e.to_string(),
        }
    }
}

/// Checks that an answer's presentations come from one wallet: `answer` holds each presentation
/// (compact, its key binding already verified) with the key that signed its KB-JWT. One
/// presentation needs nothing; with more, every KB-JWT must carry [`CLAIM`] equal to [`value`]
/// of all the signing keys.
pub fn check(answer: &[(&str, &PublicJwk)]) -> Result<(), AssociationError> {
    let count = answer.len();
    if count < 2 {
        return Ok(());
    }
    let expected = value(answer.iter().map(|(_, k)| *k));
    for (i, (presentation, _)) in answer.iter().enumerate() {
        let index = i + 1;
        let named = kb_claim(presentation).ok_or(AssociationError::Missing { index, count })?;
        if named != expected {
            return Err(AssociationError::Mismatch { index, count });
        }
    }
    Ok(())
}

/// [`CLAIM`] of the KB-JWT at the end of `presentation` (whose signature was verified).
fn kb_claim(presentation: &str) -> Option<String> {
    let kb = presentation.trim().rsplit('~').next()?;
    let payload = URL_SAFE_NO_PAD.decode(kb.split('.').nth(1)?).ok()?;
    let claims: Value = serde_json::from_slice(&payload).ok()?;
    claims.get(CLAIM)?.as_str().map(str::to_string)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use kluis_sdjwt::SigningKey;

    #[test]
    fn the_value_is_the_set_of_keys() {
        let (a, b, c) = (
            SigningKey::make_random().unwrap().public_jwk(),
            SigningKey::make_random().unwrap().public_jwk(),
            SigningKey::make_random().unwrap().public_jwk(),
        );
        assert_eq!(value([&a, &b]), value([&b, &a]));
        assert_eq!(value([&a, &b, &a]), value([&a, &b]));
        assert_ne!(value([&a, &b]), value([&a, &c]));
        assert_ne!(value([&a, &b]), value([&a, &b, &c]));
        assert_eq!(value([&a]).len(), 43);
        assert!(
            kb_claims(&[&a]).is_empty(),
            "one presentation: nothing added"
        );
        assert_eq!(kb_claims(&[&a, &a])[CLAIM], value([&a]));
    }
}
