//! Raw primitives. Private to this crate: callers use the key handles in `keys`.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::CryptoError;

/// Envelope layout: version (1) || nonce (24) || ciphertext || tag (16).
pub(crate) const ENVELOPE_VERSION: u8 = 1;
pub(crate) const NONCE_LEN: usize = 24;
pub(crate) const TAG_LEN: usize = 16;
/// Bytes an envelope adds to its plaintext.
pub(crate) const ENVELOPE_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// 32 random bytes from the OS generator.
pub(crate) fn random_32() -> Zeroizing<[u8; 32]> {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(k.as_mut());
    k
}

/// HKDF-SHA256 (RFC 5869) with a single 32-byte output block:
/// PRK = HMAC(salt, ikm); OKM = HMAC(PRK, info || 0x01).
pub(crate) fn hkdf_32(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = hmac_32(salt, &[ikm]);
    hmac_32(prk.as_ref(), &[info, &[1u8]])
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_32(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    // HMAC takes keys of any length, so this cannot fail; keep the fallback total anyway.
    let mut mac = match <HmacSha256 as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Zeroizing::new([0u8; 32]),
    };
    for p in parts {
        mac.update(p);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// Seal with a fresh random nonce.
pub(crate) fn seal(cipher: &XChaCha20Poly1305, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(ENVELOPE_OVERHEAD + plaintext.len());
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&nonce);
    // Encryption with a 24-byte nonce and a buffer this size cannot fail.
    match cipher.encrypt(
        XNonce::from_slice(&nonce),
        Payload {
            msg: plaintext,
            aad,
        },
    ) {
        Ok(ct) => out.extend_from_slice(&ct),
        Err(_) => out.clear(),
    }
    out
}

/// Open an envelope made by [`seal`]. The version byte is authenticated through the AAD.
pub(crate) fn open(
    cipher: &XChaCha20Poly1305,
    envelope: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if envelope.len() < ENVELOPE_OVERHEAD || envelope[0] != ENVELOPE_VERSION {
        return Err(CryptoError::MalformedEnvelope);
    }
    let nonce = XNonce::from_slice(&envelope[1..1 + NONCE_LEN]);
    cipher
        .decrypt(
            nonce,
            Payload {
                msg: &envelope[1 + NONCE_LEN..],
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Authentication)
}

/// A cipher instance; the crate zeroizes its key copy on drop.
pub(crate) fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.into())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hkdf_matches_rfc5869_case_1_first_block() {
        // RFC 5869 A.1 (first 32 bytes of OKM; L=42 uses a second block we never need).
        let ikm = hex_lit("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
        let salt = hex_lit("000102030405060708090a0b0c");
        let info = hex_lit("f0f1f2f3f4f5f6f7f8f9");
        let okm = hkdf_32(&salt, &ikm, &info);
        assert_eq!(
            okm.as_ref(),
            hex_lit("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf").as_slice()
        );
    }

    #[test]
    fn seal_open_roundtrip_and_aad_binding() {
        let key = random_32();
        let c = cipher(&key);
        let env = seal(&c, b"hello", b"aad-1");
        assert_eq!(env.len(), 5 + ENVELOPE_OVERHEAD);
        assert_eq!(open(&c, &env, b"aad-1").unwrap().as_slice(), b"hello");
        assert_eq!(open(&c, &env, b"aad-2"), Err(CryptoError::Authentication));
        let mut bad = env.clone();
        bad[0] = 9;
        assert_eq!(
            open(&c, &bad, b"aad-1"),
            Err(CryptoError::MalformedEnvelope)
        );
        assert_eq!(
            open(&c, &env[..10], b"aad-1"),
            Err(CryptoError::MalformedEnvelope)
        );
        // Two seals of the same plaintext differ (random nonce).
        assert_ne!(seal(&c, b"hello", b"a"), seal(&c, b"hello", b"a"));
    }

    fn hex_lit(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
