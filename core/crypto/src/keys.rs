//! Key handles: [`Pin`], [`Kek`], [`Dek`] and the [`DataKeys`] derived from a DEK.
//!
//! None of these implement `Debug`, `Display`, `Clone` or `Serialize`; their bytes stay in
//! this crate and are zeroized on drop. The only bytes that leave are sealed envelopes and
//! keyed hashes, which are safe to store.

use chacha20poly1305::XChaCha20Poly1305;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::hazmat;
use crate::kdf::{KdfParams, Salt};
use crate::CryptoError;

/// A PIN or passphrase. Zeroized on drop; no `Debug`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Pin(String);

impl Pin {
    /// Wrap a PIN. The caller's `String` is moved in, so no unzeroized copy is left behind by us.
    pub fn new(s: impl Into<String>) -> Self {
        Pin(s.into())
    }

    /// Number of characters (for a PIN policy); the PIN itself never leaves.
    pub fn char_count(&self) -> usize {
        self.0.chars().count()
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// How much stack [`scrub_stack`] overwrites: more than the deepest key-handling call chain
/// (Argon2id, HKDF, AEAD, SQLite) uses.
const SCRUB_STACK_BYTES: usize = 64 * 1024;

/// Overwrites the stack just below the caller's frame. Key handles are moved by value
/// (`memcpy`), and a moved-from copy is not dropped, so it is not zeroized either: after a
/// function that derived or unwrapped keys returns, its dead frames may still hold key bytes.
/// Call this right after such a function returns, from a frame that holds no key itself.
/// Found by core/vault/tests/memory.rs (the DEK stayed on the stack after `lock()`).
#[inline(never)]
pub fn scrub_stack() {
    let mut area = [0u8; SCRUB_STACK_BYTES];
    area.zeroize(); // volatile writes: not optimised away
    std::hint::black_box(&area);
}

/// Minimum length of a device secret, in bytes.
pub const DEVICE_SECRET_MIN_LEN: usize = 32;

const KEK_LABEL: &[u8] = b"kluis/v1/kek";
const RECORD_KEY_LABEL: &[u8] = b"kluis/v1/record-key";
const LOOKUP_KEY_LABEL: &[u8] = b"kluis/v1/lookup-key";
const DEVICE_CHECK_LABEL: &[u8] = b"kluis/v1/device-check";
const FILE_SEAL_LABEL: &[u8] = b"kluis/v2/file-seal";

/// The key that seals the vault file's plaintext parts (wrong-PIN policy, attempt counter, key
/// header, write sequence): HMAC-SHA256 under a key derived from the device secret alone, so it
/// can be checked *before* a PIN attempt and cannot be recomputed by someone who can edit the
/// file but not use the device's key store.
#[derive(ZeroizeOnDrop)]
pub struct SealKey(Zeroizing<[u8; 32]>);

impl SealKey {
    /// Derive the seal key for one vault from its device secret.
    pub fn derive(device_secret: &[u8], vault_id: &str) -> Result<SealKey, CryptoError> {
        if device_secret.len() < DEVICE_SECRET_MIN_LEN {
            return Err(CryptoError::InvalidSecretLength);
        }
        Ok(SealKey(hazmat::hkdf_32(
            vault_id.as_bytes(),
            device_secret,
            FILE_SEAL_LABEL,
        )))
    }

    /// The seal (HMAC-SHA256) of length-prefixed `parts`.
    pub fn seal(&self, parts: &[&[u8]]) -> [u8; 32] {
        let lens: Vec<[u8; 8]> = parts
            .iter()
            .map(|p| (p.len() as u64).to_be_bytes())
            .collect();
        let mut framed: Vec<&[u8]> = Vec::with_capacity(parts.len() * 2);
        for (p, l) in parts.iter().zip(lens.iter()) {
            framed.push(l);
            framed.push(p);
        }
        *hazmat::hmac_32(self.0.as_ref(), &framed)
    }

    /// Does `tag` seal `parts`? Constant-time comparison.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let expected = self.seal(parts);
        tag.len() == expected.len()
            && expected
                .iter()
                .zip(tag.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// Key-encryption key: PIN (stretched by Argon2id) combined with the device secret.
/// It only wraps and unwraps the [`Dek`].
#[derive(ZeroizeOnDrop)]
pub struct Kek {
    cipher: XChaCha20Poly1305,
}

impl Kek {
    /// Derive the KEK: Argon2id(PIN, salt, params) is the input key material of HKDF-SHA256
    /// whose salt is the device secret. Without the device secret, a copied vault file cannot
    /// be attacked by guessing PINs alone.
    pub fn derive(
        pin: &Pin,
        salt: &Salt,
        params: &KdfParams,
        device_secret: &[u8],
    ) -> Result<Kek, CryptoError> {
        if device_secret.len() < DEVICE_SECRET_MIN_LEN {
            return Err(CryptoError::InvalidSecretLength);
        }
        let stretched = params.stretch(pin.as_bytes(), salt)?;
        let kek = hazmat::hkdf_32(device_secret, stretched.as_ref(), KEK_LABEL);
        Ok(Kek {
            cipher: hazmat::cipher(&kek),
        })
    }

    /// Memory tests only: the bytes of the Argon2id output and of the KEK that [`Kek::derive`]
    /// would make from these inputs, to search a memory dump for them. Never use otherwise.
    #[doc(hidden)]
    #[allow(clippy::type_complexity)]
    pub fn dangerous_derive_bytes(
        pin: &Pin,
        salt: &Salt,
        params: &KdfParams,
        device_secret: &[u8],
    ) -> Result<(Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>), CryptoError> {
        if device_secret.len() < DEVICE_SECRET_MIN_LEN {
            return Err(CryptoError::InvalidSecretLength);
        }
        let stretched = params.stretch(pin.as_bytes(), salt)?;
        let kek = hazmat::hkdf_32(device_secret, stretched.as_ref(), KEK_LABEL);
        Ok((stretched, kek))
    }

    /// Seal the DEK. `aad` should bind the vault id and everything the KEK was derived with.
    pub fn wrap_dek(&self, dek: &Dek, aad: &[u8]) -> Vec<u8> {
        hazmat::seal(&self.cipher, dek.0.as_ref(), aad)
    }

    /// Open a wrapped DEK. Fails with [`CryptoError::Authentication`] for a wrong PIN, a wrong
    /// device secret or a changed header.
    pub fn unwrap_dek(&self, wrapped: &[u8], aad: &[u8]) -> Result<Dek, CryptoError> {
        let bytes = hazmat::open(&self.cipher, wrapped, aad)?;
        let arr =
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::MalformedEnvelope)?;
        Ok(Dek(Zeroizing::new(arr)))
    }
}

/// The data-encryption key: random, made once per vault, never changes (a PIN change only
/// rewraps it). Everything in the vault hangs off it through [`DataKeys`].
#[derive(ZeroizeOnDrop)]
pub struct Dek(Zeroizing<[u8; 32]>);

impl Dek {
    /// A fresh random DEK.
    pub fn make() -> Self {
        Dek(hazmat::random_32())
    }

    /// A key kept outside any vault and shared by its users (a verifier server's state key,
    /// from its configuration). The caller must have made it at random.
    pub fn from_secret(bytes: Zeroizing<[u8; 32]>) -> Self {
        Dek(bytes)
    }

    pub(crate) fn secret(&self) -> &[u8] {
        self.0.as_ref()
    }

    /// Memory tests only: a copy of the key bytes, to search a memory dump for them.
    #[doc(hidden)]
    pub fn dangerous_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.to_vec())
    }
}

/// Keys derived from the DEK: the record sealing key and the lookup-id key. Held by an
/// unlocked vault; dropping it (lock) zeroizes all three.
#[derive(ZeroizeOnDrop)]
pub struct DataKeys {
    dek: Dek,
    record: hazmat::RecordCipher,
    lookup: Zeroizing<[u8; 32]>,
}

impl DataKeys {
    /// Derive the record and lookup keys from a DEK (HKDF with distinct labels, so the two
    /// uses never share a key).
    pub fn from_dek(dek: Dek) -> Self {
        let record = hazmat::hkdf_32(&[], dek.0.as_ref(), RECORD_KEY_LABEL);
        let lookup = hazmat::hkdf_32(&[], dek.0.as_ref(), LOOKUP_KEY_LABEL);
        DataKeys {
            dek,
            record: hazmat::RecordCipher::new(&record),
            lookup,
        }
    }

    /// The DEK these keys came from (to rewrap it under a new KEK).
    pub fn dek(&self) -> &Dek {
        &self.dek
    }

    /// Seal a record: XChaCha20-Poly1305, random 24-byte nonce, `aad` bound.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.record.seal(plaintext, aad)
    }

    /// Open a sealed record; the plaintext comes back in a zeroizing buffer.
    pub fn open(&self, envelope: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut buf = Zeroizing::new(Vec::new());
        self.record.open_into(envelope, aad, &mut buf)?;
        Ok(buf)
    }

    /// Open a sealed record into `buf` (reused across records: no allocation per record). `buf`
    /// holds the plaintext afterwards, nothing on an error; zeroize it after reading.
    pub fn open_into(
        &self,
        envelope: &[u8],
        aad: &[u8],
        buf: &mut Zeroizing<Vec<u8>>,
    ) -> Result<(), CryptoError> {
        self.record.open_into(envelope, aad, buf)
    }

    /// A keyed hash (HMAC-SHA256 under the lookup key) of length-prefixed parts. Deterministic
    /// per vault, meaningless without the DEK: it lets a caller find a record by a natural key
    /// without the key being stored.
    pub fn lookup_tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut framed: Vec<&[u8]> = Vec::with_capacity(parts.len() * 2);
        let lens: Vec<[u8; 8]> = parts
            .iter()
            .map(|p| (p.len() as u64).to_be_bytes())
            .collect();
        for (p, l) in parts.iter().zip(lens.iter()) {
            framed.push(l);
            framed.push(p);
        }
        *hazmat::hmac_32(self.lookup.as_ref(), &framed)
    }
}

/// Bytes added by sealing (version, nonce, tag).
pub const ENVELOPE_OVERHEAD: usize = hazmat::ENVELOPE_OVERHEAD;

/// A short public check value of a device secret for one vault: lets the vault tell "this is
/// not the device secret this vault was made with" apart from "wrong PIN" without counting a
/// PIN attempt. A 32-byte random secret cannot be recovered from it.
pub fn device_secret_check(device_secret: &[u8], vault_id: &str) -> [u8; 16] {
    let full = hazmat::hmac_32(device_secret, &[DEVICE_CHECK_LABEL, vault_id.as_bytes()]);
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn kek(pin: &str, device: &[u8]) -> Kek {
        Kek::derive(
            &Pin::new(pin),
            &Salt([7; 16]),
            &KdfParams::dangerous_test_profile(),
            device,
        )
        .unwrap()
    }

    #[test]
    fn wrap_unwrap_needs_pin_and_device_secret() {
        let dek = Dek::make();
        let wrapped = kek("1234", &[1; 32]).wrap_dek(&dek, b"hdr");
        let keys = DataKeys::from_dek(kek("1234", &[1; 32]).unwrap_dek(&wrapped, b"hdr").unwrap());
        let sealed = DataKeys::from_dek(dek).seal(b"record", b"aad");
        assert_eq!(keys.open(&sealed, b"aad").unwrap().as_slice(), b"record");
        assert!(matches!(
            kek("1235", &[1; 32]).unwrap_dek(&wrapped, b"hdr"),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            kek("1234", &[2; 32]).unwrap_dek(&wrapped, b"hdr"),
            Err(CryptoError::Authentication)
        ));
        assert!(matches!(
            kek("1234", &[1; 32]).unwrap_dek(&wrapped, b"other"),
            Err(CryptoError::Authentication)
        ));
    }

    #[test]
    fn short_device_secret_refused() {
        let r = Kek::derive(
            &Pin::new("1"),
            &Salt([0; 16]),
            &KdfParams::dangerous_test_profile(),
            &[0; 8],
        );
        assert!(matches!(r, Err(CryptoError::InvalidSecretLength)));
    }

    #[test]
    fn weak_params_refused_by_derive() {
        let weak = KdfParams {
            m_kib: 4096,
            t: 1,
            p: 1,
        };
        let r = Kek::derive(&Pin::new("1"), &Salt([0; 16]), &weak, &[0; 32]);
        assert!(matches!(r, Err(CryptoError::WeakKdfParams(_))));
    }

    #[test]
    fn seal_key_needs_the_device_secret_and_vault_id() {
        let a = SealKey::derive(&[1; 32], "v1").unwrap();
        let tag = a.seal(&[b"policy", b"3"]);
        assert!(a.verify(&[b"policy", b"3"], &tag));
        assert!(!a.verify(&[b"policy", b"4"], &tag));
        assert!(!a.verify(&[b"policy3"], &tag));
        assert!(!a.verify(&[b"policy", b"3"], &tag[..31]));
        assert!(!SealKey::derive(&[2; 32], "v1")
            .unwrap()
            .verify(&[b"policy", b"3"], &tag));
        assert!(!SealKey::derive(&[1; 32], "v2")
            .unwrap()
            .verify(&[b"policy", b"3"], &tag));
        assert!(SealKey::derive(&[1; 8], "v1").is_err());
    }

    #[test]
    fn lookup_tags_are_framed_and_keyed() {
        let a = DataKeys::from_dek(Dek::make());
        let b = DataKeys::from_dek(Dek::make());
        assert_eq!(a.lookup_tag(&[b"k", b"v"]), a.lookup_tag(&[b"k", b"v"]));
        assert_ne!(a.lookup_tag(&[b"k", b"v"]), b.lookup_tag(&[b"k", b"v"]));
        // Framing: ("ab","c") and ("a","bc") differ.
        assert_ne!(a.lookup_tag(&[b"ab", b"c"]), a.lookup_tag(&[b"a", b"bc"]));
    }
}
