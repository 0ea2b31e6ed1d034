//! The mandate: a JWT (`typ` `kluis-mandate+jwt`, ES256) signed by a credential's holder key
//! (`cnf.jwk`), naming the helper's key (`cnf.jwk` of the mandate), the scope, the validity
//! window and where its revocation is published. See docs/DELEGATION.md for the format.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use josekit::jws::{JwsHeader, ES256};
use kluis_sdjwt::{PublicJwk, SigningKey, UnsignedJws};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::DelegationError;

/// `typ` of a mandate JWT.
pub const MANDATE_TYP: &str = "kluis-mandate+jwt";

/// Largest mandate JWT accepted (a mandate is a few hundred bytes; this bounds parsing).
pub const MAX_MANDATE_BYTES: usize = 16 * 1024;

/// What a helper may do with the credentials in scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Present (selected claims of) the credentials to requesting parties.
    Present,
    /// See the citizen's data in the helper's wallet.
    View,
    /// Re-fetch the in-scope credentials from their holders, when holders allow it.
    Refresh,
}

impl Action {
    /// The name used in the mandate and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Present => "present",
            Action::View => "view",
            Action::Refresh => "refresh",
        }
    }

    /// Parses `present`, `view` or `refresh`.
    pub fn parse(s: &str) -> Option<Action> {
        match s.trim() {
            "present" => Some(Action::Present),
            "view" => Some(Action::View),
            "refresh" => Some(Action::Refresh),
            _ => None,
        }
    }
}

/// What a mandate allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Credential types (`vct`) the helper may use.
    pub vct: Vec<String>,
    /// Claim paths (`/address/locality`) the helper may disclose; absent: every claim of the
    /// types in `vct`. A path covers everything beneath it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Vec<String>>,
    /// The actions allowed.
    pub actions: Vec<Action>,
    /// Requesting parties (their OpenID4VP `client_id`, the KB-JWT `aud`) the helper may present
    /// to; absent: any party.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parties: Option<Vec<String>>,
    /// Purposes (the ids requesting parties state) the helper may present for; absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purposes: Option<Vec<String>>,
}

impl Scope {
    /// Whether `action` is allowed.
    pub fn allows(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }
}

/// Where the mandate's revocation bit lives: a Token Status List entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRef {
    /// Index of the mandate's bit.
    pub idx: usize,
    /// URI of the `statuslist+jwt`.
    pub uri: String,
}

/// The registry that signs the mandate's status list (`status_registry`): a participant the
/// scheme lists, named by the citizen in the mandate so that a verifier needs no scheme to check
/// the list. Absent in mandates issued before registries signed lists (their list is signed by
/// `status_key`).
#[derive(Debug, Clone, PartialEq)]
pub struct StatusRegistry {
    /// Its identifier (its base URL): the list's `iss`.
    pub iss: String,
    /// The key it signs status lists with.
    pub key: PublicJwk,
}

/// A mandate's claims, as signed.
#[derive(Debug, Clone, PartialEq)]
pub struct Mandate {
    /// Mandate id (`jti`); the same for every credential of one package.
    pub id: String,
    /// `iat`.
    pub issued_at: i64,
    /// `nbf`.
    pub not_before: i64,
    /// `exp`.
    pub expires_at: i64,
    /// The helper's public key (`cnf.jwk`): the key that must sign the key-binding JWT.
    pub helper: PublicJwk,
    /// What the helper may do.
    pub scope: Scope,
    /// Whether the helper may delegate further (`redelegation`, default false).
    pub redelegation: bool,
    /// The revocation entry (`status.status_list`).
    pub status: StatusRef,
    /// The citizen wallet's main holder key (`status_key`): signs the updates of the status
    /// list (and, without `status_registry`, the list itself); receipts are encrypted to it.
    pub status_key: PublicJwk,
    /// Who signs the status list (`status_registry`); `None`: `status_key` does (older mandates).
    pub status_registry: Option<StatusRegistry>,
}

impl Mandate {
    /// The JWT payload.
    pub fn to_claims(&self) -> Value {
        let mut claims = json!({
            "jti": self.id,
            "iat": self.issued_at,
            "nbf": self.not_before,
            "exp": self.expires_at,
            "cnf": { "jwk": self.helper.to_value() },
            "scope": self.scope,
            "redelegation": self.redelegation,
            "status": { "status_list": self.status },
            "status_key": self.status_key.to_value(),
        });
        if let Some(r) = &self.status_registry {
            claims["status_registry"] = json!({ "iss": r.iss, "jwk": r.key.to_value() });
        }
        claims
    }

    /// Signs the mandate with `key` (the credential's `cnf` key) as a compact JWS.
    pub fn sign(&self, key: &SigningKey) -> Result<String, DelegationError> {
        self.unsigned(&key.public_jwk())?
            .sign(key)
            .map_err(|_| DelegationError::Internal("signing"))
    }

    /// The mandate as a compact JWS waiting for the signature of `signer` (the credential's
    /// `cnf` key), for a key kluis does not hold (a phone's key store). The header's `kid` is
    /// the signer's RFC 7638 thumbprint: a holder asked to issue under the mandate finds the
    /// key it bound by it, without trying every key (docs/DELEGATION.md §8).
    pub fn unsigned(&self, signer: &PublicJwk) -> Result<UnsignedJws, DelegationError> {
        UnsignedJws::new(
            &json!({"alg": "ES256", "typ": MANDATE_TYP, "kid": signer.thumbprint()}),
            &self.to_claims(),
        )
        .map_err(|_| DelegationError::Internal("payload"))
    }

    /// Parses a mandate JWT and verifies its signature with `signer` (the credential's `cnf.jwk`).
    /// Checks `typ`, `alg`, the signature and the shape of every claim; not the time window,
    /// the scope against a use, or revocation (see [`super::verify`]).
    pub fn verify(jwt: &str, signer: &PublicJwk) -> Result<Mandate, DelegationError> {
        let payload = verified_payload(jwt, signer)?;
        Mandate::from_claims(&payload)
    }

    /// Reads the claims of a mandate JWT without checking its signature: only to find where to
    /// fetch its status list before verifying, or to tell a re-delegated mandate apart.
    pub fn peek(jwt: &str) -> Result<Map<String, Value>, DelegationError> {
        if jwt.len() > MAX_MANDATE_BYTES {
            return Err(DelegationError::Malformed("the mandate is too large"));
        }
        let mut parts = jwt.split('.');
        let (Some(_), Some(p), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(DelegationError::Malformed(
                "the mandate is not a compact JWS",
            ));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| DelegationError::Malformed("the mandate payload is not base64url"))?;
        serde_json::from_slice(&bytes)
            .map_err(|_| DelegationError::Malformed("the mandate payload is not a JSON object"))
    }

    fn from_claims(p: &Map<String, Value>) -> Result<Mandate, DelegationError> {
        let int = |name: &'static str| {
            p.get(name)
                .and_then(Value::as_i64)
                .ok_or(DelegationError::MissingClaim(name))
        };
        let id = p
            .get("jti")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .ok_or(DelegationError::MissingClaim("jti"))?
            .to_string();
        let helper = p
            .get("cnf")
            .and_then(|c| c.get("jwk"))
            .ok_or(DelegationError::MissingClaim("cnf.jwk"))
            .and_then(|j| {
                PublicJwk::from_value(j).map_err(|_| DelegationError::Malformed("cnf.jwk"))
            })?;
        let scope: Scope = p
            .get("scope")
            .cloned()
            .ok_or(DelegationError::MissingClaim("scope"))
            .and_then(|s| {
                serde_json::from_value(s).map_err(|_| DelegationError::Malformed("scope"))
            })?;
        if scope.vct.is_empty() || scope.actions.is_empty() {
            return Err(DelegationError::Malformed(
                "scope needs at least one type and one action",
            ));
        }
        let redelegation = match p.get("redelegation") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(DelegationError::Malformed("redelegation")),
        };
        let status: StatusRef = p
            .get("status")
            .and_then(|s| s.get("status_list"))
            .cloned()
            .ok_or(DelegationError::MissingClaim("status.status_list"))
            .and_then(|s| {
                serde_json::from_value(s).map_err(|_| DelegationError::Malformed("status"))
            })?;
        let status_key = p
            .get("status_key")
            .ok_or(DelegationError::MissingClaim("status_key"))
            .and_then(|j| {
                PublicJwk::from_value(j).map_err(|_| DelegationError::Malformed("status_key"))
            })?;
        let status_registry = match p.get("status_registry") {
            None => None,
            Some(r) => {
                let iss = r
                    .get("iss")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .ok_or(DelegationError::Malformed("status_registry.iss"))?;
                let key = r
                    .get("jwk")
                    .and_then(|j| PublicJwk::from_value(j).ok())
                    .ok_or(DelegationError::Malformed("status_registry.jwk"))?;
                Some(StatusRegistry {
                    iss: iss.to_string(),
                    key,
                })
            }
        };
        let m = Mandate {
            id,
            issued_at: int("iat")?,
            not_before: int("nbf")?,
            expires_at: int("exp")?,
            helper,
            scope,
            redelegation,
            status,
            status_key,
            status_registry,
        };
        if m.expires_at <= m.not_before {
            return Err(DelegationError::Malformed("exp is not after nbf"));
        }
        Ok(m)
    }
}

/// Signs `payload` as a compact ES256 JWS with header `typ` and, if asked, the public `jwk`
/// (josekit over OpenSSL). Public for tests and tools that build mandates by hand.
pub fn sign_jws(
    key: &SigningKey,
    typ: &str,
    with_jwk: bool,
    payload: &Value,
) -> Result<String, DelegationError> {
    let signer = ES256
        .signer_from_der(&key.to_pkcs8_der()[..])
        .map_err(|_| DelegationError::Internal("signing key"))?;
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    if with_jwk {
        let Value::Object(map) = key.public_jwk().to_value() else {
            return Err(DelegationError::Internal("public key"));
        };
        let jwk = josekit::jwk::Jwk::from_map(map)
            .map_err(|_| DelegationError::Internal("public key"))?;
        header.set_jwk(jwk);
    }
    let body = serde_json::to_vec(payload).map_err(|_| DelegationError::Internal("payload"))?;
    josekit::jws::serialize_compact(&body, &header, &signer)
        .map_err(|_| DelegationError::Internal("signing"))
}

/// Checks `typ` and the ES256 signature of a mandate JWT by `signer`; returns the payload.
fn verified_payload(jwt: &str, signer: &PublicJwk) -> Result<Map<String, Value>, DelegationError> {
    if jwt.len() > MAX_MANDATE_BYTES {
        return Err(DelegationError::Malformed("the mandate is too large"));
    }
    let header = crate::jws::header(jwt).ok_or(DelegationError::Malformed("the mandate header"))?;
    if header.get("typ").and_then(Value::as_str) != Some(MANDATE_TYP) {
        return Err(DelegationError::WrongTyp);
    }
    kluis_sdjwt::verify_compact_es256(jwt, signer)
        .map(|(_, payload)| payload)
        .ok_or(DelegationError::MandateSignature)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(helper: &SigningKey, status_key: &SigningKey) -> Mandate {
        Mandate {
            id: "m-1".into(),
            issued_at: 100,
            not_before: 100,
            expires_at: 200,
            helper: helper.public_jwk(),
            scope: Scope {
                vct: vec!["urn:t:1".into()],
                claims: Some(vec!["/a/b".into()]),
                actions: vec![Action::Present, Action::View],
                parties: None,
                purposes: Some(vec!["rent".into()]),
            },
            redelegation: false,
            status: StatusRef {
                idx: 7,
                uri: "https://r.example/lists/ab".into(),
            },
            status_key: status_key.public_jwk(),
            status_registry: Some(StatusRegistry {
                iss: "https://r.example".into(),
                key: helper.public_jwk(),
            }),
        }
    }

    #[test]
    fn signs_and_verifies_with_the_cnf_key_only() {
        let cnf = SigningKey::make_random().unwrap();
        let helper = SigningKey::make_random().unwrap();
        let m = sample(&helper, &cnf);
        let jwt = m.sign(&cnf).unwrap();
        assert_eq!(Mandate::verify(&jwt, &cnf.public_jwk()).unwrap(), m);
        assert!(matches!(
            Mandate::verify(&jwt, &helper.public_jwk()),
            Err(DelegationError::MandateSignature)
        ));
        // Absent optional members stay absent on the wire.
        let claims = Mandate::peek(&jwt).unwrap();
        assert!(claims["scope"].get("parties").is_none());
        assert_eq!(claims["scope"]["actions"], json!(["present", "view"]));
    }

    #[test]
    fn refuses_bad_shapes() {
        let cnf = SigningKey::make_random().unwrap();
        let helper = SigningKey::make_random().unwrap();
        let good = sample(&helper, &cnf).to_claims();
        let check = |edit: &dyn Fn(&mut Value)| {
            let mut c = good.clone();
            edit(&mut c);
            let jwt = sign_jws(&cnf, MANDATE_TYP, false, &c).unwrap();
            Mandate::verify(&jwt, &cnf.public_jwk()).unwrap_err()
        };
        assert!(matches!(
            check(&|c| c["exp"] = json!(50)),
            DelegationError::Malformed(_)
        ));
        assert!(matches!(
            check(&|c| c["scope"]["actions"] = json!(["delete"])),
            DelegationError::Malformed(_)
        ));
        assert!(matches!(
            check(&|c| c["scope"]["vct"] = json!([])),
            DelegationError::Malformed(_)
        ));
        assert!(matches!(
            check(&|c| {
                c.as_object_mut().unwrap().remove("status_key");
            }),
            DelegationError::MissingClaim("status_key")
        ));
        assert!(matches!(
            check(&|c| c["redelegation"] = json!("no")),
            DelegationError::Malformed(_)
        ));
        let other_typ = sign_jws(&cnf, "JWT", false, &good).unwrap();
        assert!(matches!(
            Mandate::verify(&other_typ, &cnf.public_jwk()),
            Err(DelegationError::WrongTyp)
        ));
        assert!(Mandate::peek("a.b").is_err());
        assert!(Mandate::peek(&"x".repeat(MAX_MANDATE_BYTES + 1)).is_err());
    }
}
