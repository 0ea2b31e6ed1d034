//! The wallet's holder key: the P-256 key that credentials are bound to (`cnf.jwk`) and that signs
//! key-binding JWTs. Made in software and sealed in the vault; a hardware key store implementation
//! arrives through the bindings' foreign interface.

use kluis_sdjwt::SigningKey;
use kluis_vault::Record;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Record id of the wallet's own (primary) holder key. Not personal data.
pub(crate) const PRIMARY_HOLDER_KEY_ID: &str = "holder-key-primary";

/// The sealed form of a holder key: PKCS#8 DER, base64. Zeroized on drop, no `Debug`.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct HolderKeyRecord {
    pkcs8_b64: String,
}

impl Record for HolderKeyRecord {
    const KIND: &'static str = "holder_key";
}

impl HolderKeyRecord {
    pub(crate) fn seal(key: &SigningKey) -> Self {
        use base64::Engine;
        let der = key.to_pkcs8_der();
        HolderKeyRecord {
            pkcs8_b64: base64::engine::general_purpose::STANDARD.encode(&der[..]),
        }
    }

    pub(crate) fn signing_key(&self) -> Result<SigningKey, crate::Error> {
        use base64::Engine;
        let der = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(&self.pkcs8_b64)
                .map_err(|_| crate::Error::Integrity {
                    record: "holder_key record (encoding)".into(),
                })?,
        );
        SigningKey::from_pkcs8_der(&der).map_err(|_| crate::Error::Integrity {
            record: "holder_key record (key)".into(),
        })
    }
}
