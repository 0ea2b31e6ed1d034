//! `recovery-secret`, `backup` and `restore`: the wallet's portable, encrypted backup
//! (docs/VAULT.md, "Backup and restore").

use std::path::Path;

use kluis_core::backup::{RestoreReport, MAX_BACKUP_BYTES};
use kluis_core::Wallet;
use serde_json::json;
use zeroize::Zeroizing;

use crate::args::{Cli, RestoreArgs};
use crate::output::{date, print_json, CliError};
use crate::shared::{
    device_store, next_stdin_line, print_recovery_words, read_pin, unlocked, vault_dir,
    vault_options,
};

/// `kluis recovery-secret [--replace]`.
pub fn recovery_secret(cli: &Cli, replace: bool) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    if w.has_recovery_secret()? && !replace {
        return Err(CliError::usage(
            "this wallet has a recovery secret already: give --replace to make a new one (backups made before keep opening with the old words)",
        ));
    }
    let words = w.make_recovery_secret()?;
    if cli.json {
        print_json(&json!({ "recovery_words": words.as_str() }))
    } else {
        print_recovery_words(&words);
        Ok(())
    }
}

/// `kluis backup --out FILE`.
pub fn backup(cli: &Cli, out: &Path) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let info = w.backup(out)?;
    if cli.json {
        print_json(&json!({ "file": out, "backup": info }))
    } else {
        println!(
            "Backup {} written to {} ({} credentials, {} records, {} bytes).",
            info.backup_id,
            out.display(),
            info.credentials,
            info.records,
            info.bytes
        );
        if info.device_bound > 0 {
            println!(
                "{} credentials are bound to keys on this device: after a restore elsewhere they are collected again.",
                info.device_bound
            );
        }
        Ok(())
    }
}

/// `kluis restore FILE`.
pub fn restore(cli: &Cli, a: &RestoreArgs) -> Result<(), CliError> {
    let dir = vault_dir(cli)?;
    let bytes = read_backup(&a.file)?;
    let mut lines = None;
    let words = match std::env::var("KLUIS_RECOVERY_WORDS") {
        Ok(w) if !w.trim().is_empty() => Zeroizing::new(w),
        _ => Zeroizing::new(next_stdin_line(&mut lines).map_err(|_| {
            CliError::usage(
                "no recovery words given: set KLUIS_RECOVERY_WORDS or give them on stdin",
            )
        })?),
    };
    let pin = read_pin(cli, &mut lines)?;
    let (_, report) = Wallet::restore(
        &dir,
        device_store(&dir),
        &bytes,
        &words,
        &pin,
        vault_options(a.dangerous_test_kdf),
    )?;
    if cli.json {
        print_json(&json!({ "vault": dir, "restore": report }))
    } else {
        print_report(&dir, &report);
        Ok(())
    }
}

fn read_backup(path: &Path) -> Result<Vec<u8>, CliError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| CliError::other(format!("cannot read {}: {}", path.display(), e.kind())))?;
    if meta.len() > MAX_BACKUP_BYTES as u64 {
        return Err(CliError::invalid(format!(
            "{} is larger than any backup kluis makes",
            path.display()
        )));
    }
    std::fs::read(path)
        .map_err(|e| CliError::other(format!("cannot read {}: {}", path.display(), e.kind())))
}

fn print_report(dir: &Path, r: &RestoreReport) {
    if r.already_restored {
        println!(
            "The vault in {} was already restored from backup {}: nothing changed.",
            dir.display(),
            r.backup_id
        );
    } else {
        println!(
            "Restored {} credentials and {} log entries from backup {} (made {}) into {}.",
            r.credentials,
            r.audit_entries,
            r.backup_id,
            date(Some(r.created_at)),
            dir.display()
        );
    }
    if r.needs_reissuance.is_empty() {
        return;
    }
    println!("To collect again (their keys stayed on the old device):");
    for c in &r.needs_reissuance {
        let how = if c.refreshable {
            "`kluis refresh` collects it"
        } else {
            "collect it again from its holder"
        };
        println!("  {}  {} from {}: {how}", c.id, c.vct, c.issuer);
    }
}
