//! The mandate package: the credentials in scope (one copy each, with all their disclosures) and
//! their mandates, as JSON, encrypted to the helper's public key as a compact JWE (`alg`
//! `ECDH-ES`, `enc` `A256GCM`, josekit). Only the holder of the helper's private key opens it.

use josekit::jwe::{JweHeader, ECDH_ES};
use josekit::jwk::Jwk;
use kluis_sdjwt::{PublicJwk, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DelegationError;

/// `typ` of the package JWE.
pub const PACKAGE_TYP: &str = "kluis-mandate-package+jwe";

/// Largest package accepted (ten credentials of the largest size the wallet stores, roughly).
pub const MAX_PACKAGE_BYTES: usize = 4 * 1024 * 1024;

/// One credential in a package.
#[derive(Clone, Serialize, Deserialize)]
pub struct PackagedCredential {
    /// The issued SD-JWT VC, with all its disclosures.
    pub credential: String,
    /// The mandate for it, signed by its `cnf` key.
    pub mandate: String,
}

/// The package's plaintext.
#[derive(Clone, Serialize, Deserialize)]
pub struct MandatePackage {
    /// The mandate id (`jti` of every mandate inside).
    pub mandate_id: String,
    /// Whom it is for, as the citizen named it (shown in the helper's wallet).
    pub label: String,
    /// The credentials in scope.
    pub credentials: Vec<PackagedCredential>,
}

impl std::fmt::Debug for MandatePackage {
    // The credentials hold personal data; the label may name a person.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MandatePackage")
            .field("mandate_id", &self.mandate_id)
            .field("credentials", &self.credentials.len())
            .finish_non_exhaustive()
    }
}

impl MandatePackage {
    /// Encrypts the package to `helper` (compact JWE, ECDH-ES + A256GCM).
    pub fn seal(&self, helper: &PublicJwk) -> Result<String, DelegationError> {
        let Value::Object(map) = helper.to_value() else {
            return Err(DelegationError::Internal("helper key"));
        };
        let jwk = Jwk::from_map(map).map_err(|_| DelegationError::Internal("helper key"))?;
        let encrypter = ECDH_ES
            .encrypter_from_jwk(&jwk)
            .map_err(|_| DelegationError::Internal("package encrypter"))?;
        let mut header = JweHeader::new();
        header.set_token_type(PACKAGE_TYP);
        header.set_content_encryption("A256GCM");
        let body =
            serde_json::to_vec(self).map_err(|_| DelegationError::Internal("package encoding"))?;
        josekit::jwe::serialize_compact(&body, &header, &encrypter)
            .map_err(|_| DelegationError::Internal("package encryption"))
    }

    /// Decrypts a package with the helper's private key. Any other key fails.
    pub fn open(jwe: &str, key: &SigningKey) -> Result<MandatePackage, DelegationError> {
        let jwe = jwe.trim();
        if jwe.len() > MAX_PACKAGE_BYTES {
            return Err(DelegationError::Package("too large"));
        }
        if jwe.split('.').count() != 5 {
            return Err(DelegationError::Package("not a compact JWE"));
        }
        let decrypter = ECDH_ES
            .decrypter_from_der(&key.to_pkcs8_der()[..])
            .map_err(|_| DelegationError::Internal("package decrypter"))?;
        let (body, header) = josekit::jwe::deserialize_compact(jwe, &decrypter).map_err(|_| {
            DelegationError::Package(
                "it does not decrypt with this wallet's key (not for this helper, or altered)",
            )
        })?;
        if header.token_type() != Some(PACKAGE_TYP) {
            return Err(DelegationError::Package("wrong typ"));
        }
        let package: MandatePackage = serde_json::from_slice(&body)
            .map_err(|_| DelegationError::Package("the contents are not a mandate package"))?;
        if package.credentials.is_empty() {
            return Err(DelegationError::Package("it holds no credentials"));
        }
        Ok(package)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_the_helper_opens_it() {
        let helper = SigningKey::make_random().unwrap();
        let other = SigningKey::make_random().unwrap();
        let p = MandatePackage {
            mandate_id: "m-1".into(),
            label: "test".into(),
            credentials: vec![PackagedCredential {
                credential: "a~".into(),
                mandate: "b".into(),
            }],
        };
        let jwe = p.seal(&helper.public_jwk()).unwrap();
        let opened = MandatePackage::open(&jwe, &helper).unwrap();
        assert_eq!(opened.mandate_id, "m-1");
        assert_eq!(opened.credentials[0].credential, "a~");
        assert!(matches!(
            MandatePackage::open(&jwe, &other),
            Err(DelegationError::Package(_))
        ));
        // A flipped byte in the ciphertext: refused.
        let mut parts: Vec<String> = jwe.split('.').map(str::to_string).collect();
        let c = parts[3].clone();
        let flipped = if c.starts_with('A') { "B" } else { "A" };
        parts[3] = format!("{flipped}{}", &c[1..]);
        assert!(MandatePackage::open(&parts.join("."), &helper).is_err());
    }
}
