//! Collecting under a mandate ("Blauwe Knop Plus"): a helper asks a data holder for fresh
//! credentials about the citizen, with the mandate as the subject token and a proof of the
//! helper's key as the actor token of an OAuth 2.0 Token Exchange (RFC 8693) at the holder's
//! token endpoint. What travels, what a holder checks, and the claim the credentials it issues
//! then carry (`on_behalf_of`) are here, for both sides: the helper's wallet (kluis-core) and
//! holders (the fixtures). See docs/DELEGATION.md §8.

use kluis_sdjwt::{PublicJwk, SigningKey, UnsignedJws};
use serde_json::{json, Value};

use super::mandate::{Action, Mandate};
// What a verifier checks of a credential held on a citizen's behalf is a verifier rule; it is
// named here too, for holders and wallets.
use super::verify::{check_time, verify_mandate};
pub use super::verify::{verify_collected_mandate, OnBehalfOf, ON_BEHALF_OF_CLAIM};
use super::DelegationError;

/// RFC 8693 §2.1 `grant_type`.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// `subject_token_type` of a mandate (a kluis URN: the mandate is not a token type RFC 8693
/// registers; `urn:ietf:params:oauth:token-type:jwt` would not tell a holder what to check).
pub const MANDATE_TOKEN_TYPE: &str = "urn:kluis:params:oauth:token-type:mandate";
/// `actor_token_type` of the helper's proof (RFC 8693 §3: a JWT).
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// `issued_token_type` of the answer: an access token for the credential endpoint.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// `typ` of the helper's actor proof.
pub const ACTOR_TYP: &str = "kluis-actor+jwt";
/// How old (or far ahead) an actor proof's `iat` may be.
pub const MAX_ACTOR_AGE_SECS: i64 = 300;

/// The helper's actor proof, unsigned: `aud` the holder's token endpoint, a fresh `jti`, `iat`.
/// Signed by the helper's key (the mandate's `cnf.jwk`), whose `jwk` the header carries.
pub fn actor_proof(
    helper: &PublicJwk,
    token_endpoint: &str,
    jti: &str,
    now: i64,
) -> Result<UnsignedJws, DelegationError> {
    UnsignedJws::new(
        &json!({"alg": "ES256", "typ": ACTOR_TYP, "jwk": helper.to_value()}),
        &json!({"aud": token_endpoint, "jti": jti, "iat": now}),
    )
    .map_err(|_| DelegationError::Internal("actor proof"))
}

/// As [`actor_proof`], signed with `key`.
pub fn sign_actor_proof(
    key: &SigningKey,
    token_endpoint: &str,
    jti: &str,
    now: i64,
) -> Result<String, DelegationError> {
    actor_proof(&key.public_jwk(), token_endpoint, jti, now)?
        .sign(key)
        .map_err(|_| DelegationError::Internal("signing"))
}

/// Checks an actor proof against the mandate's helper key: `typ`, ES256 signature by `helper`
/// (never by the key its header names), `aud` = `token_endpoint`, `iat` within
/// [`MAX_ACTOR_AGE_SECS`] of `now`; returns its `jti` (the caller refuses one it saw before).
pub fn verify_actor_proof(
    jwt: &str,
    helper: &PublicJwk,
    token_endpoint: &str,
    now: i64,
) -> Result<String, DelegationError> {
    let header = crate::jws::header(jwt).ok_or(DelegationError::ActorProof("not a JWS"))?;
    if header.get("typ").and_then(Value::as_str) != Some(ACTOR_TYP) {
        return Err(DelegationError::ActorProof(
            "its typ is not kluis-actor+jwt",
        ));
    }
    let (_, p) = kluis_sdjwt::verify_compact_es256(jwt, helper).ok_or(
        DelegationError::ActorProof("it is not signed by the helper key the mandate names"),
    )?;
    if p.get("aud").and_then(Value::as_str) != Some(token_endpoint) {
        return Err(DelegationError::ActorProof(
            "it is for another token endpoint",
        ));
    }
    let iat = p
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or(DelegationError::ActorProof("it has no iat"))?;
    if (now - iat).abs() > MAX_ACTOR_AGE_SECS {
        return Err(DelegationError::ActorProof("its iat is not recent"));
    }
    p.get("jti")
        .and_then(Value::as_str)
        .filter(|j| !j.is_empty() && j.len() <= 128)
        .map(str::to_string)
        .ok_or(DelegationError::ActorProof("it has no jti"))
}

/// The `kid` of a mandate's header: the thumbprint of the key that signed it (unverified; only
/// to find that key).
pub fn mandate_kid(jwt: &str) -> Option<String> {
    crate::jws::header(jwt)?
        .get("kid")?
        .as_str()
        .map(str::to_string)
}

/// What a holder checks of a mandate before issuing under it, given the key it bound one of the
/// citizen's credentials to (`citizen_key`, found by [`mandate_kid`]): the signature and shape
/// (no re-delegation), the window, every type asked for in scope, and `refresh` among the
/// actions. Revocation is the caller's (it needs the registry's list).
pub fn check_collect(
    jwt: &str,
    citizen_key: &PublicJwk,
    types: &[String],
    now: i64,
    skew: i64,
) -> Result<Mandate, DelegationError> {
    let m = verify_mandate(jwt, citizen_key)?;
    check_time(&m, now, skew)?;
    if let Some(t) = types.iter().find(|t| !m.scope.vct.contains(t)) {
        return Err(DelegationError::TypeOutOfScope(t.clone()));
    }
    if !m.scope.allows(Action::Refresh) {
        return Err(DelegationError::ActionNotAllowed(Action::Refresh.as_str()));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn actor_proof_is_checked_against_the_helper_key_and_endpoint() {
        let helper = SigningKey::make_random().unwrap();
        let other = SigningKey::make_random().unwrap();
        let jwt = sign_actor_proof(&helper, "https://h/token", "j1", 1_000).unwrap();
        assert_eq!(
            verify_actor_proof(&jwt, &helper.public_jwk(), "https://h/token", 1_100).unwrap(),
            "j1"
        );
        let by_other = sign_actor_proof(&other, "https://h/token", "j1", 1_000).unwrap();
        for (jwt, endpoint, now) in [
            (&by_other, "https://h/token", 1_000),
            (&jwt, "https://other/token", 1_000),
            (&jwt, "https://h/token", 1_000 + MAX_ACTOR_AGE_SECS + 1),
        ] {
            assert!(matches!(
                verify_actor_proof(jwt, &helper.public_jwk(), endpoint, now),
                Err(DelegationError::ActorProof(_))
            ));
        }
    }

    #[test]
    fn on_behalf_of_round_trips_and_refuses_bad_shapes() {
        let k = SigningKey::make_random().unwrap();
        let o = OnBehalfOf {
            citizen_key: k.public_jwk(),
            mandate_id: "m-1".into(),
        };
        let claims = json!({ ON_BEHALF_OF_CLAIM: o.to_value() });
        assert_eq!(OnBehalfOf::from_claims(&claims).unwrap(), Some(o));
        assert_eq!(OnBehalfOf::from_claims(&json!({})).unwrap(), None);
        assert!(OnBehalfOf::from_claims(&json!({ "on_behalf_of": { "mandate": "m" } })).is_err());
    }
}
