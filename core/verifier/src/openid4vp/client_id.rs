//! Client identifier prefixes (OpenID4VP 1.0 §5.9): how the wallet finds the key that must have
//! signed a request object, and the response origins the party may use.
//!
//! Accepted: no prefix (pre-registered: the party is in the scheme's participant list with its
//! keys and origins), `verifier_attestation:` (a Verifier Attestation JWT in the request's
//! JOSE header `jwt`, signed by the pinned scheme key) and `x509_hash:` (HAIP 1.0: the hash of
//! the access certificate in the request's `x5c`, which chains to the scheme's certificate
//! authority, [`crate::x509`]). Everything else is refused: this wallet answers only signed
//! requests from parties the scheme vouches for (docs/PRESENTING.md).

use kluis_sdjwt::PublicJwk;
use serde::Serialize;
use serde_json::Value;

use crate::jws::{header as jws_header, verify as jws_verify};
use crate::{Error, RequestRefusal};

/// `typ` of a Verifier Attestation JWT.
pub const VERIFIER_ATTESTATION_TYP: &str = "verifier-attestation+jwt";

/// The prefix of the `verifier_attestation` client identifier scheme.
pub const VERIFIER_ATTESTATION_PREFIX: &str = "verifier_attestation:";

/// Tolerated clock difference (seconds) for `exp`/`iat` checks.
pub const SKEW_SECS: i64 = 60;

/// How the client identifier binds the party to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientIdPrefix {
    /// No prefix: pre-registered in the scheme's participant list.
    PreRegistered,
    /// `verifier_attestation:`: vouched for by a scheme-signed attestation.
    VerifierAttestation,
    /// `x509_hash:`: the hash of an access certificate issued by the scheme's CA.
    X509Hash,
    /// `origin:`, reserved (OpenID4VP 1.0 §5.9.3): never accepted in a request. An unsigned
    /// Digital Credentials API request has no client identifier; the web origin the platform
    /// names is the party, shown as such and used as the audience.
    Origin,
}

/// A parsed client identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientId {
    /// As sent (with prefix): the KB-JWT `aud`.
    pub full: String,
    /// The prefix.
    pub prefix: ClientIdPrefix,
    /// Without prefix: the party's id in the participant list.
    pub id: String,
}

/// The audience prefix of an answer over the Digital Credentials API (OpenID4VP 1.0 A.4).
pub const ORIGIN_PREFIX: &str = "origin:";

impl ClientId {
    /// The party of an unsigned Digital Credentials API request: the calling web origin.
    pub fn origin(origin: &str) -> ClientId {
        ClientId {
            full: format!("{ORIGIN_PREFIX}{origin}"),
            prefix: ClientIdPrefix::Origin,
            id: origin.to_string(),
        }
    }
}

pub(crate) fn refused(code: RequestRefusal, reason: impl Into<String>) -> Error {
    Error::refused(code, reason)
}

/// Text from a request fit for an error message: no control characters, at most 80 chars.
pub fn clean(s: &str) -> String {
    let t: String = s.chars().filter(|c| !c.is_control()).take(80).collect();
    if s.chars().count() > 80 {
        format!("{t}…")
    } else {
        t
    }
}

/// Parses a client identifier; unsupported prefixes are refused.
pub fn parse_client_id(client_id: &str) -> Result<ClientId, Error> {
    if client_id.is_empty() || client_id.len() > 255 {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the client_id is empty or too long",
        ));
    }
    if let Some(id) = client_id.strip_prefix(VERIFIER_ATTESTATION_PREFIX) {
        if id.is_empty() {
            return Err(refused(
                RequestRefusal::InvalidRequest,
                "the verifier_attestation client_id names no party",
            ));
        }
        return Ok(ClientId {
            full: client_id.to_string(),
            prefix: ClientIdPrefix::VerifierAttestation,
            id: id.to_string(),
        });
    }
    if let Some(hash) = client_id.strip_prefix(crate::x509::X509_HASH_PREFIX) {
        // base64url (no padding) of a SHA-256 digest: 43 characters.
        let decoded = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(hash)
        };
        if !matches!(decoded, Ok(d) if d.len() == 32) {
            return Err(refused(
                RequestRefusal::InvalidRequest,
                "the x509_hash client_id is not the base64url SHA-256 hash of a certificate",
            ));
        }
        return Ok(ClientId {
            full: client_id.to_string(),
            prefix: ClientIdPrefix::X509Hash,
            id: hash.to_string(),
        });
    }
    if let Some((prefix, _)) = client_id.split_once(':') {
        return Err(refused(RequestRefusal::UnsupportedClientId, format!(
            "client identifier prefix '{}' is not accepted: only pre-registered parties, verifier_attestation and x509_hash",
            clean(prefix)
        )));
    }
    Ok(ClientId {
        full: client_id.to_string(),
        prefix: ClientIdPrefix::PreRegistered,
        id: client_id.to_string(),
    })
}

/// A verified Verifier Attestation.
#[derive(Debug, Clone)]
pub struct Attestation {
    /// The party it vouches for (`sub`).
    pub sub: String,
    /// The key that signs the party's request objects (`cnf.jwk`).
    pub cnf: PublicJwk,
    /// Response URIs the party may use (`redirect_uris`).
    pub redirect_uris: Vec<String>,
    /// Valid until.
    pub exp: i64,
}

/// Verifies a Verifier Attestation JWT: `typ`, ES256 signature by `scheme_key`, `iss` equal to
/// the scheme's identifier (when known), `sub` equal to `party_id`, not expired, `cnf.jwk`.
pub fn verify_attestation(
    jwt: &str,
    scheme_key: &PublicJwk,
    scheme_iss: Option<&str>,
    party_id: &str,
    now: i64,
) -> Result<Attestation, Error> {
    let header = jws_header(jwt).ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "the verifier attestation is not a JWT",
        )
    })?;
    if header.get("typ").and_then(Value::as_str) != Some(VERIFIER_ATTESTATION_TYP) {
        return Err(refused(
            RequestRefusal::WrongTyp,
            "the verifier attestation has the wrong typ",
        ));
    }
    let v = jws_verify(jwt, std::slice::from_ref(scheme_key)).ok_or_else(|| {
        refused(
            RequestRefusal::BadSignature,
            "the verifier attestation is not signed by the pinned scheme key",
        )
    })?;
    let p = v.payload;
    if let Some(iss) = scheme_iss {
        if p.get("iss").and_then(Value::as_str) != Some(iss) {
            return Err(refused(
                RequestRefusal::InvalidRequest,
                "the verifier attestation is not issued by the scheme",
            ));
        }
    }
    let sub = p.get("sub").and_then(Value::as_str).unwrap_or_default();
    if sub != party_id {
        return Err(refused(
            RequestRefusal::InvalidRequest,
            "the verifier attestation is for another party than the client_id",
        ));
    }
    let exp = p.get("exp").and_then(Value::as_i64).ok_or_else(|| {
        refused(
            RequestRefusal::InvalidRequest,
            "the verifier attestation has no exp",
        )
    })?;
    if exp.saturating_add(SKEW_SECS) < now {
        return Err(refused(
            RequestRefusal::Expired,
            "the verifier attestation has expired",
        ));
    }
    // §12 (Verifier Attestation JWT): `nbf` is honoured like `exp`.
    match p.get("nbf") {
        None => {}
        Some(nbf) => {
            let nbf = nbf.as_i64().ok_or_else(|| {
                refused(
                    RequestRefusal::InvalidRequest,
                    "the verifier attestation's nbf is not a number",
                )
            })?;
            if nbf > now.saturating_add(SKEW_SECS) {
                return Err(refused(
                    RequestRefusal::NotYetValid,
                    "the verifier attestation is not valid yet (nbf)",
                ));
            }
        }
    }
    let cnf = p
        .get("cnf")
        .and_then(|c| c.get("jwk"))
        .and_then(|j| PublicJwk::from_value(j).ok())
        .ok_or_else(|| {
            refused(
                RequestRefusal::InvalidRequest,
                "the verifier attestation has no usable cnf.jwk",
            )
        })?;
    let redirect_uris = p
        .get("redirect_uris")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Attestation {
        sub: sub.to_string(),
        cnf,
        redirect_uris,
        exp,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn prefixes() {
        let c = parse_client_id("woningcorporatie-eemland").unwrap();
        assert_eq!(c.prefix, ClientIdPrefix::PreRegistered);
        let c = parse_client_id("verifier_attestation:bank-utrecht").unwrap();
        assert_eq!(c.prefix, ClientIdPrefix::VerifierAttestation);
        assert_eq!(c.id, "bank-utrecht");
        let hash = crate::x509::x509_hash(b"a certificate");
        let c = parse_client_id(&format!("x509_hash:{hash}")).unwrap();
        assert_eq!(
            (c.prefix, c.id.as_str()),
            (ClientIdPrefix::X509Hash, hash.as_str())
        );
        for bad in [
            "redirect_uri:https://x.example/cb",
            "x509_san_dns:x.example",
            "x509_hash:abc",
            "x509_hash:",
            // A SHA-384 digest is not what the prefix names.
            "x509_hash:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "decentralized_identifier:did:web:x",
            "openid_federation:https://x",
            "https://x.example",
            "verifier_attestation:",
            "",
        ] {
            assert!(
                matches!(parse_client_id(bad), Err(Error::InvalidRequest { .. })),
                "{bad}"
            );
        }
    }
}
