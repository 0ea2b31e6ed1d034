//! The recovery secret and the keys of a backup (docs/VAULT.md, "Backup and restore").
//!
//! The [`RecoverySecret`] is 128 random bits shown once as 12 BIP-39 words (the checksum catches
//! a mistyped word before any key is derived). Stretched by Argon2id and HKDF it gives a
//! [`RecoveryKek`], which wraps the vault's [`Dek`]: a second way to the data key, beside the PIN
//! and device secret, that needs neither. A backup is sealed under a [`BackupKey`] derived from
//! the DEK, so the wallet can make backups later without asking for the words again.

use chacha20poly1305::XChaCha20Poly1305;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::hazmat;
use crate::kdf::{KdfParams, Salt};
use crate::keys::Dek;
use crate::CryptoError;

const RECOVERY_KEK_LABEL: &[u8] = b"kluis/v1/recovery-kek";
const RECOVERY_CHECK_LABEL: &[u8] = b"kluis/v1/recovery-check";
const BACKUP_KEY_LABEL: &[u8] = b"kluis/v1/backup-key";

/// Number of words the citizen writes down (128 bits of entropy, 4 bits of checksum).
pub const RECOVERY_WORDS: usize = 12;

/// The citizen's recovery secret: 16 random bytes. Zeroized on drop; no `Debug`, no `Clone`.
#[derive(ZeroizeOnDrop)]
pub struct RecoverySecret(Zeroizing<[u8; 16]>);

impl RecoverySecret {
    /// A fresh random secret.
    pub fn make() -> Self {
        let full = hazmat::random_32();
        let mut s = Zeroizing::new([0u8; 16]);
        s.copy_from_slice(&full[..16]);
        RecoverySecret(s)
    }

    /// Reads the words back: case and spacing do not matter; an unknown word, a wrong count or
    /// a failed checksum is [`CryptoError::InvalidRecoverySecret`].
    pub fn from_words(words: &str) -> Result<Self, CryptoError> {
        let normalized = Zeroizing::new(
            words
                .split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
                .join(" "),
        );
        if normalized.split(' ').count() != RECOVERY_WORDS {
            return Err(CryptoError::InvalidRecoverySecret);
        }
        let m = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized)
            .map_err(|_| CryptoError::InvalidRecoverySecret)?;
        let (bytes, len) = m.to_entropy_array();
        let bytes = Zeroizing::new(bytes);
        if len != 16 {
            return Err(CryptoError::InvalidRecoverySecret);
        }
        let mut s = Zeroizing::new([0u8; 16]);
        s.copy_from_slice(&bytes[..16]);
        Ok(RecoverySecret(s))
    }

    /// The 12 words, space-separated, to show the citizen once.
    pub fn words(&self) -> Zeroizing<String> {
        match bip39::Mnemonic::from_entropy_in(bip39::Language::English, self.0.as_ref()) {
            Ok(m) => Zeroizing::new(m.words().collect::<Vec<_>>().join(" ")),
            // 16 bytes is a valid entropy length; unreachable.
            Err(_) => Zeroizing::new(String::new()),
        }
    }
}

/// The key a recovery secret opens: wraps and unwraps the vault's DEK.
#[derive(ZeroizeOnDrop)]
pub struct RecoveryKek {
    cipher: XChaCha20Poly1305,
    #[zeroize(skip)]
    check: [u8; 16],
}

impl RecoveryKek {
    /// Argon2id(secret, salt, params) through HKDF. The secret is random and 128 bits long, so
    /// Argon2id is a second line, not the first: the parameters are checked like the PIN's.
    pub fn derive(
        secret: &RecoverySecret,
        salt: &Salt,
        params: &KdfParams,
    ) -> Result<RecoveryKek, CryptoError> {
        let stretched = params.stretch(secret.0.as_ref(), salt)?;
        let key = hazmat::hkdf_32(&[], stretched.as_ref(), RECOVERY_KEK_LABEL);
        let full = hazmat::hmac_32(stretched.as_ref(), &[RECOVERY_CHECK_LABEL]);
        let mut check = [0u8; 16];
        check.copy_from_slice(&full[..16]);
        Ok(RecoveryKek {
            cipher: hazmat::cipher(&key),
            check,
        })
    }

    /// A public check value: tells a wrong recovery secret apart from a changed backup before
    /// anything is unwrapped. Says nothing about a 128-bit secret.
    pub fn check(&self) -> [u8; 16] {
        self.check
    }

    /// Seal the DEK under the recovery key; `aad` binds where it belongs.
    pub fn wrap_dek(&self, dek: &Dek, aad: &[u8]) -> Vec<u8> {
        hazmat::seal(&self.cipher, dek.secret(), aad)
    }

    /// Open a wrapped DEK; [`CryptoError::Authentication`] if it or its `aad` was changed.
    pub fn unwrap_dek(&self, wrapped: &[u8], aad: &[u8]) -> Result<Dek, CryptoError> {
        let bytes = hazmat::open(&self.cipher, wrapped, aad)?;
        let arr =
            <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::MalformedEnvelope)?;
        Ok(Dek::from_secret(Zeroizing::new(arr)))
    }
}

/// Seals and opens a backup's contents. Derived from the DEK (HKDF, its own label), so it never
/// needs storing and never equals a key the vault uses.
#[derive(ZeroizeOnDrop)]
pub struct BackupKey {
    cipher: XChaCha20Poly1305,
}

impl BackupKey {
    /// The backup key of a vault's data key.
    pub fn derive(dek: &Dek) -> BackupKey {
        let key = hazmat::hkdf_32(&[], dek.secret(), BACKUP_KEY_LABEL);
        BackupKey {
            cipher: hazmat::cipher(&key),
        }
    }

    /// XChaCha20-Poly1305, random nonce, `aad` bound (the backup's header).
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        hazmat::seal(&self.cipher, plaintext, aad)
    }

    /// Open what [`BackupKey::seal`] made.
    pub fn open(&self, envelope: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        hazmat::open(&self.cipher, envelope, aad)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn words_round_trip_and_typos_are_caught() {
        let s = RecoverySecret::make();
        let words = s.words();
        assert_eq!(words.split(' ').count(), RECOVERY_WORDS);
        let back = RecoverySecret::from_words(&format!("  {}\n", words.to_uppercase())).unwrap();
        assert_eq!(back.0.as_ref(), s.0.as_ref());
        // One word replaced by another list word: the checksum fails (15 in 16 cases; try until
        // a replacement the checksum catches, the words stay in the list).
        let mut list: Vec<&str> = words.split(' ').collect();
        list[3] = if list[3] == "abandon" {
            "ability"
        } else {
            "abandon"
        };
        let typo = list.join(" ");
        if let Ok(t) = RecoverySecret::from_words(&typo) {
            assert_ne!(t.0.as_ref(), s.0.as_ref());
        }
        assert!(matches!(
            RecoverySecret::from_words("not a recovery secret"),
            Err(CryptoError::InvalidRecoverySecret)
        ));
        assert!(matches!(
            RecoverySecret::from_words(&words.replace(' ', "  ").replacen(' ', " zzzz ", 1)),
            Err(CryptoError::InvalidRecoverySecret)
        ));
    }

    #[test]
    fn the_recovery_key_unwraps_only_with_the_right_secret_and_binding() {
        let p = KdfParams::dangerous_test_profile();
        let salt = Salt([3; 16]);
        let s = RecoverySecret::make();
        let k = RecoveryKek::derive(&s, &salt, &p).unwrap();
        let dek = Dek::make();
        let wrapped = k.wrap_dek(&dek, b"wallet-1");
        let back = RecoveryKek::derive(&s, &salt, &p)
            .unwrap()
            .unwrap_dek(&wrapped, b"wallet-1")
            .unwrap();
        let sealed = BackupKey::derive(&dek).seal(b"records", b"hdr");
        assert_eq!(
            BackupKey::derive(&back)
                .open(&sealed, b"hdr")
                .unwrap()
                .as_slice(),
            b"records"
        );
        assert!(BackupKey::derive(&back).open(&sealed, b"other").is_err());
        let other = RecoveryKek::derive(&RecoverySecret::make(), &salt, &p).unwrap();
        assert_ne!(other.check(), k.check());
        assert_eq!(
            other.unwrap_dek(&wrapped, b"wallet-1").err(),
            Some(CryptoError::Authentication)
        );
        assert_eq!(
            k.unwrap_dek(&wrapped, b"wallet-2").err(),
            Some(CryptoError::Authentication)
        );
        // Weak parameters are refused like the PIN's.
        let weak = KdfParams {
            m_kib: 1024,
            t: 1,
            p: 1,
        };
        assert!(RecoveryKek::derive(&s, &salt, &weak).is_err());
    }
}
