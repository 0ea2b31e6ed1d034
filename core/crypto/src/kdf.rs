//! Argon2id parameters and the PIN-stretching step.
//!
//! Parameters are stored with each vault and read back from it; they are checked against a
//! documented floor both when a vault is created and when it is opened, so a weak profile can
//! neither be chosen by accident nor slipped in later.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::CryptoError;

/// Argon2id cost parameters: memory in KiB, iterations, lanes. Not secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub m_kib: u32,
    /// Time cost (passes over memory).
    pub t: u32,
    /// Parallelism (lanes).
    pub p: u32,
}

impl KdfParams {
    /// Floor for memory (19 MiB, the OWASP minimum for Argon2id).
    pub const MIN_M_KIB: u32 = 19 * 1024;
    /// Floor for iterations (with the memory floor above, as OWASP recommends).
    pub const MIN_T: u32 = 2;
    /// Ceiling for memory (1 GiB): a tampered header must not make the phone allocate more.
    pub const MAX_M_KIB: u32 = 1024 * 1024;
    /// Ceiling for iterations, for the same reason.
    pub const MAX_T: u32 = 16;
    /// Ceiling for lanes.
    pub const MAX_P: u32 = 16;

    /// RFC 9106 section 4, second recommended option: m = 64 MiB, t = 3, p = 4.
    pub fn recommended() -> Self {
        Self {
            m_kib: 64 * 1024,
            t: 3,
            p: 4,
        }
    }

    /// A cheap profile for tests only. It is far below the floor and accepted only because it
    /// is exactly this value; never use it for a real vault.
    pub fn dangerous_test_profile() -> Self {
        Self {
            m_kib: 256,
            t: 1,
            p: 1,
        }
    }

    /// Is this exactly the test profile?
    pub fn is_dangerous_test_profile(&self) -> bool {
        *self == Self::dangerous_test_profile()
    }

    /// Refuse parameters below the floor (unless exactly the test profile) or above the ceiling.
    pub fn validate(&self) -> Result<(), CryptoError> {
        if self.p == 0 || self.p > Self::MAX_P {
            return Err(CryptoError::InvalidKdfParams("lanes must be 1..=16"));
        }
        if self.m_kib > Self::MAX_M_KIB || self.t > Self::MAX_T {
            return Err(CryptoError::InvalidKdfParams("cost above the ceiling"));
        }
        if self.is_dangerous_test_profile() {
            return Ok(());
        }
        if self.m_kib < Self::MIN_M_KIB {
            return Err(CryptoError::WeakKdfParams("memory below 19 MiB"));
        }
        if self.t < Self::MIN_T {
            return Err(CryptoError::WeakKdfParams("fewer than 2 iterations"));
        }
        if self.m_kib < 8 * self.p {
            return Err(CryptoError::InvalidKdfParams("memory below 8 KiB per lane"));
        }
        Ok(())
    }

    /// Stretch a PIN into 32 bytes. Slow on purpose.
    pub(crate) fn stretch(
        &self,
        pin: &[u8],
        salt: &Salt,
    ) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        self.validate()?;
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|_| CryptoError::InvalidKdfParams("rejected by Argon2"))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(pin, &salt.0, out.as_mut())
            .map_err(|_| CryptoError::InvalidKdfParams("rejected by Argon2"))?;
        Ok(out)
    }
}

impl Default for KdfParams {
    /// [`KdfParams::recommended`].
    fn default() -> Self {
        Self::recommended()
    }
}

/// A per-vault random Argon2id salt (16 bytes). Not secret; stored in the vault header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Salt(pub [u8; 16]);

impl Salt {
    /// A fresh random salt.
    pub fn make() -> Self {
        let mut s = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut s);
        Salt(s)
    }

    /// Read a stored salt; `None` if it has the wrong length.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        <[u8; 16]>::try_from(b).ok().map(Salt)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn floor_and_ceiling() {
        assert!(KdfParams::recommended().validate().is_ok());
        assert!(KdfParams::dangerous_test_profile().validate().is_ok());
        let weak = KdfParams {
            m_kib: 1024,
            t: 3,
            p: 1,
        };
        assert_eq!(
            weak.validate(),
            Err(CryptoError::WeakKdfParams("memory below 19 MiB"))
        );
        let few = KdfParams {
            m_kib: 64 * 1024,
            t: 1,
            p: 1,
        };
        assert!(matches!(few.validate(), Err(CryptoError::WeakKdfParams(_))));
        // Close to the test profile is not the test profile.
        let near = KdfParams {
            m_kib: 256,
            t: 2,
            p: 1,
        };
        assert!(matches!(
            near.validate(),
            Err(CryptoError::WeakKdfParams(_))
        ));
        let huge = KdfParams {
            m_kib: u32::MAX,
            t: 3,
            p: 4,
        };
        assert!(matches!(
            huge.validate(),
            Err(CryptoError::InvalidKdfParams(_))
        ));
        let no_lanes = KdfParams {
            m_kib: 64 * 1024,
            t: 3,
            p: 0,
        };
        assert!(matches!(
            no_lanes.validate(),
            Err(CryptoError::InvalidKdfParams(_))
        ));
    }

    #[test]
    fn stretch_is_deterministic_per_salt() {
        let p = KdfParams::dangerous_test_profile();
        let s1 = Salt([1; 16]);
        let s2 = Salt([2; 16]);
        let a = p.stretch(b"1234", &s1).unwrap();
        let b = p.stretch(b"1234", &s1).unwrap();
        let c = p.stretch(b"1234", &s2).unwrap();
        let d = p.stretch(b"1235", &s1).unwrap();
        assert_eq!(a.as_ref(), b.as_ref());
        assert_ne!(a.as_ref(), c.as_ref());
        assert_ne!(a.as_ref(), d.as_ref());
    }
}
