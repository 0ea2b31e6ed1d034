//! The backup file parser and the decoder behind its AEAD (core/src/backup.rs). First byte odd:
//! the rest is a backup file as found on a USB stick or cloud drive, parsed and, when it parses,
//! opened with the fixture wallet's words (only under the cheap test KDF: the parameter ceiling
//! is the KDF's own test). Even: the rest is taken as the sealed contents of a backup the fixture
//! wallet makes around them, so the record decoder and the audit chain check see them. Either
//! way the outcome is a typed error or a backup that opened — never a panic.
#![no_main]

use std::sync::{Arc, OnceLock};

use kluis_core::backup::parse_backup;
use kluis_core::{Error, KdfParams, OnLimit, Pin, SoftwareDeviceSecretStore, VaultOptions, VaultPolicy, Wallet};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    _dir: tempfile::TempDir,
    wallet: Wallet,
    words: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = VaultOptions {
            kdf: KdfParams::dangerous_test_profile(),
            policy: VaultPolicy {
                on_limit: OnLimit::Lockout,
                ..VaultPolicy::default()
            },
        };
        let wallet = Wallet::create(
            dir.path(),
            &Pin::new("123456"),
            options,
            Arc::new(SoftwareDeviceSecretStore::new(dir.path())),
        )
        .expect("create wallet");
        let words = wallet
            .make_recovery_secret()
            .expect("recovery secret")
            .to_string();
        Fixture {
            _dir: dir,
            wallet,
            words,
        }
    })
}

fn check(file: &[u8], words: &str) {
    let parsed = match parse_backup(file) {
        Ok(p) => p,
        Err(Error::BackupDamaged { .. }) => return,
        Err(e) => panic!("unexpected error class from the parser: {e}"),
    };
    if !parsed.header.kdf.is_dangerous_test_profile() {
        return;
    }
    match parsed.open(words) {
        Ok(opened) => {
            let report = opened.report(&parsed.header);
            assert!(report.needs_reissuance.len() <= report.credentials);
        }
        Err(Error::BackupDamaged { .. }) | Err(Error::WrongRecoverySecret) => {}
        Err(e) => panic!("unexpected error class from opening: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    if flag & 1 == 1 {
        check(rest, &f.words);
    } else {
        let file = f
            .wallet
            .dangerous_backup_of_contents(rest)
            .expect("seal contents");
        check(&file, &f.words);
    }
});
