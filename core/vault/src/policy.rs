//! Wrong-PIN policy: free attempts, then doubling waits, then the limit action.
//!
//! The counter lives in the database (it survives restarts). An attempt is counted *before*
//! the slow key derivation, so killing the app mid-check does not give a free guess.

use serde::{Deserialize, Serialize};

/// What happens when the attempt limit is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnLimit {
    /// Destroy the vault: delete the files and the device secret.
    Wipe,
    /// Refuse every further attempt; the data stays on disk, unreadable.
    Lockout,
}

impl OnLimit {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OnLimit::Wipe => "wipe",
            OnLimit::Lockout => "lockout",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "wipe" => Some(OnLimit::Wipe),
            "lockout" => Some(OnLimit::Lockout),
            _ => None,
        }
    }
}

/// The app's wrong-PIN policy, stored with the vault at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultPolicy {
    /// Wrong PINs in a row after which `on_limit` applies; `None` = no limit (back-off only).
    pub max_attempts: Option<u32>,
    /// Wrong PINs in a row that cost no wait.
    pub free_attempts: u32,
    /// First wait after the free attempts, in seconds; each further wrong PIN doubles it.
    pub backoff_base_secs: u64,
    /// Longest wait, in seconds.
    pub backoff_max_secs: u64,
    /// What the limit does.
    pub on_limit: OnLimit,
}

impl Default for VaultPolicy {
    /// 3 free attempts, then 30 s, 60 s, … up to 1 h; wipe after 10 wrong PINs in a row.
    fn default() -> Self {
        Self {
            max_attempts: Some(10),
            free_attempts: 3,
            backoff_base_secs: 30,
            backoff_max_secs: 3600,
            on_limit: OnLimit::Wipe,
        }
    }
}

impl VaultPolicy {
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        if self.max_attempts == Some(0) {
            return Err("max_attempts must be at least 1");
        }
        if self.backoff_max_secs < self.backoff_base_secs {
            return Err("backoff_max_secs below backoff_base_secs");
        }
        Ok(())
    }

    /// The wait owed after `failed` wrong PINs in a row.
    pub fn backoff_secs(&self, failed: u32) -> u64 {
        if failed <= self.free_attempts || self.backoff_base_secs == 0 {
            return 0;
        }
        let doublings = failed - self.free_attempts - 1;
        let factor = 1u64.checked_shl(doublings.min(62)).unwrap_or(u64::MAX);
        self.backoff_base_secs
            .saturating_mul(factor)
            .min(self.backoff_max_secs)
    }

    /// Seconds still to wait at `now`, given the last failure time. A clock set back does not
    /// shorten the wait below the full back-off.
    pub fn retry_after(&self, failed: u32, last_failure_unix: i64, now_unix: i64) -> u64 {
        let wait = self.backoff_secs(failed);
        let elapsed = u64::try_from(now_unix.saturating_sub(last_failure_unix)).unwrap_or(0);
        wait.saturating_sub(elapsed)
    }

    /// Attempts left before the limit, after `failed` wrong PINs.
    pub fn attempts_left(&self, failed: u32) -> Option<u32> {
        self.max_attempts.map(|m| m.saturating_sub(failed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubling_backoff_with_cap() {
        let p = VaultPolicy::default();
        let waits: Vec<u64> = (0..=12).map(|n| p.backoff_secs(n)).collect();
        assert_eq!(
            waits,
            vec![0, 0, 0, 0, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
        );
        assert_eq!(p.backoff_secs(u32::MAX), 3600);
    }

    #[test]
    fn retry_after_counts_down_and_ignores_clock_set_back() {
        let p = VaultPolicy::default();
        assert_eq!(p.retry_after(4, 1000, 1000), 30);
        assert_eq!(p.retry_after(4, 1000, 1010), 20);
        assert_eq!(p.retry_after(4, 1000, 1100), 0);
        assert_eq!(p.retry_after(4, 1000, 900), 30);
    }

    #[test]
    fn attempts_left_and_validation() {
        let p = VaultPolicy::default();
        assert_eq!(p.attempts_left(3), Some(7));
        assert_eq!(p.attempts_left(12), Some(0));
        let none = VaultPolicy {
            max_attempts: None,
            ..p
        };
        assert_eq!(none.attempts_left(100), None);
        assert!(VaultPolicy {
            max_attempts: Some(0),
            ..p
        }
        .validate()
        .is_err());
        assert!(VaultPolicy {
            backoff_base_secs: 10,
            backoff_max_secs: 5,
            ..p
        }
        .validate()
        .is_err());
    }
}
