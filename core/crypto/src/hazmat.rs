//! Raw primitives. Private to this crate: callers use the key handles in `keys`.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

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

/// The record AEAD: the same XChaCha20-Poly1305 envelopes as [`seal`]/[`open`], computed as the
/// construction defines it (draft-irtf-cfrg-xchacha §2.3): HChaCha20 of the key and the nonce's
/// first 16 bytes gives a subkey for ChaCha20-Poly1305 (RFC 8439) with the nonce
/// `0^4 || nonce[16..24]`. ring's ChaCha20-Poly1305 (assembly) does the bulk: for a 2 KB record it
/// runs ~4x fewer instructions than RustCrypto's, whose Poly1305 alone cost as much as ChaCha20
/// (docs/VAULT.md, "Performance"). Byte-identical to `chacha20poly1305::XChaCha20Poly1305`
/// (tests below seal with one and open with the other).
pub(crate) struct RecordCipher {
    key: Zeroizing<[u8; 32]>,
}

/// Its only field zeroizes itself on drop.
impl zeroize::ZeroizeOnDrop for RecordCipher {}

impl RecordCipher {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        RecordCipher {
            key: Zeroizing::new(*key),
        }
    }

    /// ring's key for one envelope's nonce. The HChaCha20 output is zeroized here; ring's copy in
    /// the returned key is not (docs/VAULT.md "File layout": it opens this one record only).
    fn subkey(&self, nonce: &[u8]) -> Option<(ring::aead::LessSafeKey, ring::aead::Nonce)> {
        let (head, tail) = nonce.split_at(16);
        let mut out = chacha20::hchacha::<chacha20::cipher::consts::U10>(
            chacha20::Key::from_slice(self.key.as_ref()),
            chacha20::cipher::generic_array::GenericArray::from_slice(head),
        );
        let mut sub = Zeroizing::new([0u8; 32]);
        sub.copy_from_slice(&out);
        out.as_mut_slice().zeroize();
        let key = ring::aead::UnboundKey::new(&ring::aead::CHACHA20_POLY1305, sub.as_ref()).ok()?;
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(tail);
        Some((
            ring::aead::LessSafeKey::new(key),
            ring::aead::Nonce::assume_unique_for_key(n),
        ))
    }

    /// Seal with a fresh random nonce; the envelope layout of [`seal`].
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(ENVELOPE_OVERHEAD + plaintext.len());
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        // A 32-byte key and a 12-byte nonce cannot fail; an empty envelope never opens.
        let Some((key, n)) = self.subkey(&nonce) else {
            out.clear();
            return out;
        };
        match key.seal_in_place_separate_tag(
            n,
            ring::aead::Aad::from(aad),
            &mut out[1 + NONCE_LEN..],
        ) {
            Ok(tag) => out.extend_from_slice(tag.as_ref()),
            Err(_) => out.clear(),
        }
        out
    }

    /// Open an envelope into `buf`, which holds the plaintext afterwards (and nothing on an
    /// error). `buf` is the caller's reused buffer: no allocation per record once it is large
    /// enough; the caller zeroizes what it read before reusing or dropping it.
    pub(crate) fn open_into(
        &self,
        envelope: &[u8],
        aad: &[u8],
        buf: &mut Zeroizing<Vec<u8>>,
    ) -> Result<(), CryptoError> {
        buf.zeroize();
        if envelope.len() < ENVELOPE_OVERHEAD || envelope[0] != ENVELOPE_VERSION {
            return Err(CryptoError::MalformedEnvelope);
        }
        let (key, n) = self
            .subkey(&envelope[1..1 + NONCE_LEN])
            .ok_or(CryptoError::Authentication)?;
        let body = &envelope[1 + NONCE_LEN..];
        if buf.capacity() < body.len() {
            // A new buffer, so the old one goes through Zeroizing's drop, not a bare realloc.
            *buf = Zeroizing::new(Vec::with_capacity(body.len()));
        }
        buf.extend_from_slice(body);
        match key.open_in_place(n, ring::aead::Aad::from(aad), buf.as_mut_slice()) {
            Ok(plain) => {
                let len = plain.len();
                buf.truncate(len);
                Ok(())
            }
            Err(_) => {
                // ring leaves the buffer unspecified on failure: it may hold a decryption.
                buf.zeroize();
                Err(CryptoError::Authentication)
            }
        }
    }
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

    /// The record cipher's envelopes are RustCrypto's XChaCha20-Poly1305 envelopes, byte for
    /// byte, in both directions (vaults sealed before it open, and the other way round), for
    /// every length around the block sizes and a record's size.
    #[test]
    fn record_cipher_is_xchacha20poly1305() {
        let key = random_32();
        let fast = RecordCipher::new(&key);
        let reference = cipher(&key);
        let mut buf = Zeroizing::new(Vec::new());
        let lens = (0..=300).chain([1023, 1024, 1025, 2047, 2048, 4096, 20_000]);
        for len in lens {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            let aad = format!("aad-{len}");
            let a = fast.seal(&plain, aad.as_bytes());
            assert_eq!(
                open(&reference, &a, aad.as_bytes()).unwrap().as_slice(),
                plain
            );
            let b = seal(&reference, &plain, aad.as_bytes());
            fast.open_into(&b, aad.as_bytes(), &mut buf).unwrap();
            assert_eq!(buf.as_slice(), plain);
            // Same nonce, same bytes: the ciphertext and tag of `a` re-made by the reference.
            let nonce = XNonce::from_slice(&a[1..1 + NONCE_LEN]);
            let ct = reference
                .encrypt(
                    nonce,
                    Payload {
                        msg: &plain,
                        aad: aad.as_bytes(),
                    },
                )
                .unwrap();
            assert_eq!(&a[1 + NONCE_LEN..], ct.as_slice());
        }
    }

    #[test]
    fn record_cipher_refuses_and_leaves_nothing() {
        let fast = RecordCipher::new(&random_32());
        let env = fast.seal(b"geheim record", b"aad-1");
        let mut buf = Zeroizing::new(Vec::new());
        assert_eq!(
            fast.open_into(&env, b"aad-2", &mut buf),
            Err(CryptoError::Authentication)
        );
        assert!(buf.is_empty() && buf.iter().all(|b| *b == 0));
        for i in 0..env.len() {
            let mut bad = env.clone();
            bad[i] ^= 1;
            assert!(
                fast.open_into(&bad, b"aad-1", &mut buf).is_err(),
                "byte {i}"
            );
            assert!(buf.is_empty());
        }
        assert_eq!(
            fast.open_into(&env[..ENVELOPE_OVERHEAD - 1], b"aad-1", &mut buf),
            Err(CryptoError::MalformedEnvelope)
        );
        let other = RecordCipher::new(&random_32());
        assert_eq!(
            other.open_into(&env, b"aad-1", &mut buf),
            Err(CryptoError::Authentication)
        );
        fast.open_into(&env, b"aad-1", &mut buf).unwrap();
        assert_eq!(buf.as_slice(), b"geheim record");
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
