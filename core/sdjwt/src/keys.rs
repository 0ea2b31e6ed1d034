//! ES256 keys: the issuer's and holder's private [`SigningKey`] and the validated P-256
//! [`PublicJwk`], plus the compact-JWS sign/verify primitives everything else uses.
//!
//! JWS is done directly on OpenSSL (the library josekit wraps) rather than through josekit's
//! JWS objects: verification is the verifier's hot path, and a [`PublicJwk`] keeps its parsed
//! OpenSSL key, so a verify is one header parse, one hash and one `ECDSA_do_verify` — no key
//! re-import, no header re-serialisation. josekit is the independent check in the tests.

use std::sync::{Arc, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey, EcPoint};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::SdJwtError;

fn p256() -> Result<&'static EcGroup, SdJwtError> {
    static GROUP: OnceLock<Option<EcGroup>> = OnceLock::new();
    // P-256 is built into every OpenSSL; failing here means a broken libcrypto.
    GROUP
        .get_or_init(|| EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).ok())
        .as_ref()
        .ok_or(SdJwtError::Crypto)
}

pub(crate) fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

pub(crate) fn unb64(s: &str, what: &'static str) -> Result<Vec<u8>, SdJwtError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| SdJwtError::BadBase64(what))
}

fn coordinate(v: &Value, name: &str) -> Result<[u8; 32], SdJwtError> {
    let s = v
        .get(name)
        .and_then(Value::as_str)
        .ok_or(SdJwtError::BadJwk("missing coordinate or private scalar"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| SdJwtError::BadJwk("coordinate is not base64url"))?;
    bytes
        .try_into()
        .map_err(|_| SdJwtError::BadJwk("coordinate is not 32 bytes"))
}

fn check_ec_p256(v: &Value) -> Result<(), SdJwtError> {
    if !v.is_object() {
        return Err(SdJwtError::BadJwk("not a JSON object"));
    }
    if v.get("kty").and_then(Value::as_str) != Some("EC") {
        return Err(SdJwtError::BadJwk("kty must be EC"));
    }
    if v.get("crv").and_then(Value::as_str) != Some("P-256") {
        return Err(SdJwtError::BadJwk("crv must be P-256"));
    }
    Ok(())
}

/// A validated P-256 public key in JWK form (`kty`, `crv`, `x`, `y`).
///
/// Construction checks the point lies on the curve and keeps the parsed key, so verifying
/// with a `PublicJwk` never re-parses it. Clones share the parsed key.
#[derive(Clone)]
pub struct PublicJwk {
    x: String,
    y: String,
    key: Arc<EcKey<Public>>,
}

impl PublicJwk {
    /// Parses a public JWK from JSON text.
    pub fn from_json(s: &str) -> Result<Self, SdJwtError> {
        let v: Value = serde_json::from_str(s).map_err(|_| SdJwtError::BadJson("JWK"))?;
        Self::from_value(&v)
    }

    /// Validates a public JWK given as a JSON value. Refuses JWKs carrying a private `d`:
    /// a public key slot holding private material is a leak waiting to happen.
    pub fn from_value(v: &Value) -> Result<Self, SdJwtError> {
        check_ec_p256(v)?;
        if v.get("d").is_some() {
            return Err(SdJwtError::BadJwk(
                "public JWK carries private key material",
            ));
        }
        let x = coordinate(v, "x")?;
        let y = coordinate(v, "y")?;
        Self::from_coordinates(&x, &y)
    }

    /// Reads a P-256 public key as a platform key store hands it out: X.509
    /// SubjectPublicKeyInfo DER (Java's `PublicKey.getEncoded()`, CryptoKit's
    /// `derRepresentation`) or the 65-byte uncompressed SEC1 point (`x963Representation`).
    pub fn from_platform_encoding(bytes: &[u8]) -> Result<Self, SdJwtError> {
        if bytes.len() == 65 && bytes[0] == 0x04 {
            let (x, y) = bytes[1..].split_at(32);
            let (Ok(x), Ok(y)) = (x.try_into(), y.try_into()) else {
                return Err(SdJwtError::BadKey("not an uncompressed P-256 point"));
            };
            return Self::from_coordinates(&x, &y);
        }
        let pkey = PKey::public_key_from_der(bytes)
            .map_err(|_| SdJwtError::BadKey("neither SubjectPublicKeyInfo DER nor a SEC1 point"))?;
        let key = pkey
            .ec_key()
            .map_err(|_| SdJwtError::BadKey("not an EC key"))?;
        if key.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
            return Err(SdJwtError::BadKey("curve is not P-256"));
        }
        let mut ctx = BigNumContext::new()?;
        let sec1 = key.public_key().to_bytes(
            p256()?,
            openssl::ec::PointConversionForm::UNCOMPRESSED,
            &mut ctx,
        )?;
        Self::from_platform_encoding(&sec1)
    }

    fn from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Result<Self, SdJwtError> {
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(x);
        sec1[33..].copy_from_slice(y);
        let mut ctx = BigNumContext::new()?;
        // oct2point rejects points that are not on the curve; P-256 has cofactor 1, so an
        // on-curve point is in the prime-order group and no costlier check is needed.
        let point = EcPoint::from_bytes(p256()?, &sec1, &mut ctx)
            .map_err(|_| SdJwtError::BadJwk("point is not on P-256"))?;
        let key = EcKey::from_public_key(p256()?, &point)?;
        Ok(PublicJwk {
            x: b64(x),
            y: b64(y),
            key: Arc::new(key),
        })
    }

    fn from_ec_key(key: &EcKey<Private>) -> Result<Self, SdJwtError> {
        let mut ctx = BigNumContext::new()?;
        let mut bx = BigNum::new()?;
        let mut by = BigNum::new()?;
        key.public_key()
            .affine_coordinates(p256()?, &mut bx, &mut by, &mut ctx)?;
        let x: [u8; 32] = bx
            .to_vec_padded(32)?
            .try_into()
            .map_err(|_| SdJwtError::Crypto)?;
        let y: [u8; 32] = by
            .to_vec_padded(32)?
            .try_into()
            .map_err(|_| SdJwtError::Crypto)?;
        Self::from_coordinates(&x, &y)
    }

    /// The JWK as a JSON object `{"kty","crv","x","y"}`.
    pub fn to_value(&self) -> Value {
        serde_json::json!({"kty": "EC", "crv": "P-256", "x": self.x, "y": self.y})
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url).
    pub fn thumbprint(&self) -> String {
        // Members in lexicographic order, no whitespace, as RFC 7638 prescribes.
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            self.x, self.y
        );
        b64(&Sha256::digest(canonical.as_bytes()))
    }

    /// Verifies a raw (r‖s, 64-byte) ES256 signature over `message`.
    pub fn verify_es256(&self, message: &[u8], signature: &[u8]) -> bool {
        if signature.len() != 64 {
            return false;
        }
        let digest = Sha256::digest(message);
        let (Ok(r), Ok(s)) = (
            BigNum::from_slice(&signature[..32]),
            BigNum::from_slice(&signature[32..]),
        ) else {
            return false;
        };
        let Ok(sig) = EcdsaSig::from_private_components(r, s) else {
            return false;
        };
        sig.verify(&digest, &self.key).unwrap_or(false)
    }
}

impl std::fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicJwk")
            .field("crv", &"P-256")
            .field("x", &self.x)
            .field("y", &self.y)
            .finish()
    }
}

impl PartialEq for PublicJwk {
    fn eq(&self, other: &Self) -> bool {
        self.x == other.x && self.y == other.y
    }
}
impl Eq for PublicJwk {}

impl Serialize for PublicJwk {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PublicJwk {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(deserializer)?;
        PublicJwk::from_value(&v).map_err(serde::de::Error::custom)
    }
}

/// An ES256 (P-256) private key for signing issuer JWTs or key-binding JWTs.
///
/// Holds its PKCS#8 encoding in zeroized memory (OpenSSL clears its own copy of the scalar
/// on free). Deliberately has no `Debug`, `Display` or `Clone`.
pub struct SigningKey {
    pkcs8: Zeroizing<Vec<u8>>,
    key: EcKey<Private>,
    public: PublicJwk,
}

impl SigningKey {
    /// Makes a fresh random P-256 key.
    pub fn make_random() -> Result<Self, SdJwtError> {
        let key = EcKey::generate(p256()?)?;
        Self::from_ec_key(key)
    }

    /// Loads a P-256 key from PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SdJwtError> {
        let pkey = PKey::private_key_from_pkcs8(der)
            .map_err(|_| SdJwtError::BadKey("not a PKCS#8 private key"))?;
        let key = pkey
            .ec_key()
            .map_err(|_| SdJwtError::BadKey("not an EC key"))?;
        if key.group().curve_name() != Some(Nid::X9_62_PRIME256V1) {
            return Err(SdJwtError::BadKey("curve is not P-256"));
        }
        Self::from_ec_key(key)
    }

    /// Loads a P-256 key from a private JWK (`kty`, `crv`, `x`, `y`, `d`), as used by test
    /// vectors and fixture holders. Checks that `x`/`y` belong to `d`.
    pub fn from_jwk(jwk: &Value) -> Result<Self, SdJwtError> {
        check_ec_p256(jwk)?;
        let d = Zeroizing::new(coordinate(jwk, "d")?);
        let expected = PublicJwk::from_value(&public_part(jwk))?;
        let scalar = BigNum::from_slice(d.as_slice())?;
        let key = EcKey::from_private_components(p256()?, &scalar, expected.key.public_key())
            .map_err(|_| SdJwtError::BadJwk("invalid private scalar"))?;
        key.check_key()
            .map_err(|_| SdJwtError::BadJwk("private and public parts do not match"))?;
        Self::from_ec_key(key)
    }

    fn from_ec_key(key: EcKey<Private>) -> Result<Self, SdJwtError> {
        let public = PublicJwk::from_ec_key(&key)?;
        let pkcs8 = Zeroizing::new(PKey::from_ec_key(key.clone())?.private_key_to_pkcs8()?);
        Ok(SigningKey { pkcs8, key, public })
    }

    /// The PKCS#8 DER encoding, for sealing in the vault.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    /// The matching public key.
    pub fn public_jwk(&self) -> PublicJwk {
        self.public.clone()
    }

    /// Signs `message` with ES256, returning the raw 64-byte r‖s signature (JWS form).
    pub fn sign_es256(&self, message: &[u8]) -> Result<[u8; 64], SdJwtError> {
        let digest = Sha256::digest(message);
        let sig = EcdsaSig::sign(&digest, &self.key)?;
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&sig.r().to_vec_padded(32)?);
        out[32..].copy_from_slice(&sig.s().to_vec_padded(32)?);
        Ok(out)
    }
}

/// An ES256 signature as a platform key store returns it, in JWS form (raw r‖s, 64 bytes).
/// Android's `SHA256withECDSA` gives ASN.1 DER, CryptoKit gives either: both are accepted.
pub fn es256_signature_from_platform(signature: &[u8]) -> Result<[u8; 64], SdJwtError> {
    if let Ok(raw) = <[u8; 64]>::try_from(signature) {
        return Ok(raw);
    }
    let sig = EcdsaSig::from_der(signature).map_err(|_| SdJwtError::ForeignSignature)?;
    let (Ok(r), Ok(s)) = (sig.r().to_vec_padded(32), sig.s().to_vec_padded(32)) else {
        // r or s longer than 32 bytes: not a P-256 signature.
        return Err(SdJwtError::ForeignSignature);
    };
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&r);
    out[32..].copy_from_slice(&s);
    Ok(out)
}

/// A compact JWS waiting for its ES256 signature, for keys kluis does not hold: a phone's
/// secure hardware signs [`UnsignedJws::signing_input`], and [`UnsignedJws::finish`] attaches
/// the signature only after checking it verifies under the key that was to make it.
pub struct UnsignedJws {
    signing_input: String,
}

impl UnsignedJws {
    /// `b64(header).b64(payload)`.
    pub fn new(header: &Value, payload: &Value) -> Result<Self, SdJwtError> {
        let header = serde_json::to_vec(header).map_err(|_| SdJwtError::BadJson("JWS header"))?;
        let payload =
            serde_json::to_vec(payload).map_err(|_| SdJwtError::BadJson("JWS payload"))?;
        let mut signing_input = b64(&header);
        signing_input.push('.');
        signing_input.push_str(&b64(&payload));
        Ok(UnsignedJws { signing_input })
    }

    /// The bytes to sign (ES256: SHA-256, then ECDSA P-256).
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// Signs with a key held here (software).
    pub fn sign(self, key: &SigningKey) -> Result<String, SdJwtError> {
        let sig = key.sign_es256(self.signing_input.as_bytes())?;
        Ok(self.attach(&sig))
    }

    /// Attaches `signature` (raw r‖s or DER) if it verifies under `key`; a signature from
    /// another key, over other bytes, or garbage is [`SdJwtError::ForeignSignature`].
    pub fn finish(self, signature: &[u8], key: &PublicJwk) -> Result<String, SdJwtError> {
        let sig = es256_signature_from_platform(signature)?;
        if !key.verify_es256(self.signing_input.as_bytes(), &sig) {
            return Err(SdJwtError::ForeignSignature);
        }
        Ok(self.attach(&sig))
    }

    fn attach(self, sig: &[u8; 64]) -> String {
        let mut jws = self.signing_input;
        jws.push('.');
        jws.push_str(&b64(sig));
        jws
    }
}

fn public_part(jwk: &Value) -> Value {
    serde_json::json!({"kty": jwk["kty"], "crv": jwk["crv"], "x": jwk["x"], "y": jwk["y"]})
}

/// Signs a JWS in compact form: `b64(header).b64(payload).b64(sig)`.
pub(crate) fn sign_compact(
    key: &SigningKey,
    header: &Value,
    payload: &Value,
) -> Result<String, SdJwtError> {
    UnsignedJws::new(header, payload)?.sign(key)
}

/// A compact JWS split and decoded, signature not yet checked.
pub(crate) struct ParsedJws<'a> {
    /// `header.payload`, the signing input.
    pub signing_input: &'a str,
    pub header: serde_json::Map<String, Value>,
    pub payload: serde_json::Map<String, Value>,
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS; checks `alg` is ES256 and there are no `crit` headers.
pub(crate) fn parse_compact<'a>(
    jws: &'a str,
    what: &'static str,
) -> Result<ParsedJws<'a>, SdJwtError> {
    let mut parts = jws.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SdJwtError::Malformed(
            "a JWT must have three dot-separated parts",
        ));
    };
    let header: serde_json::Map<String, Value> =
        serde_json::from_slice(&unb64(h, what)?).map_err(|_| SdJwtError::BadJson(what))?;
    if header.get("alg").and_then(Value::as_str) != Some("ES256") {
        return Err(SdJwtError::UnsupportedAlg);
    }
    if header.contains_key("crit") {
        return Err(SdJwtError::UnsupportedCritical);
    }
    let payload: serde_json::Map<String, Value> =
        serde_json::from_slice(&unb64(p, what)?).map_err(|_| SdJwtError::BadJson(what))?;
    let signature = unb64(s, what)?;
    Ok(ParsedJws {
        signing_input: &jws[..h.len() + 1 + p.len()],
        header,
        payload,
        signature,
    })
}
