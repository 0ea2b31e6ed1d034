//! The vault's own commands: `init`, `status`, `change-pin`, `wipe`.

use kluis_core::{Pin, Wallet};
use serde_json::json;

use crate::args::Cli;
use crate::output::{print_json, CliError};
use crate::shared::{
    device_store, next_stdin_line, open, print_recovery_words, read_pin, unlocked, vault_dir,
    vault_options,
};

pub fn init(cli: &Cli, dangerous_test_kdf: bool) -> Result<(), CliError> {
    let dir = vault_dir(cli)?;
    let pin = read_pin(cli, &mut None)?;
    let opts = vault_options(dangerous_test_kdf);
    // The vault makes its directory itself, private (0700).
    let w = Wallet::create(&dir, &pin, opts, device_store(&dir))?;
    // Made with the wallet, shown once: the only way into its backups (docs/VAULT.md).
    let words = w.make_recovery_secret()?;
    let st = w.status()?;
    if cli.json {
        print_json(&json!({
            "vault": dir,
            "kdf": { "m_kib": st.kdf_m_kib, "t": st.kdf_t, "p": st.kdf_p },
            "recovery_words": words.as_str(),
        }))
    } else {
        println!(
            "Vault created in {} (Argon2id m={} KiB, t={}, p={}).",
            dir.display(),
            st.kdf_m_kib,
            st.kdf_t,
            st.kdf_p
        );
        print_recovery_words(&words);
        Ok(())
    }
}

pub fn status(cli: &Cli) -> Result<(), CliError> {
    let w = open(cli)?;
    // With a PIN, unlock to count records; without one, report what a locked vault can tell.
    let have_pin = cli.pin_stdin || std::env::var("KLUIS_PIN").is_ok_and(|p| !p.is_empty());
    if have_pin {
        w.unlock(&read_pin(cli, &mut None)?)?;
    }
    let s = w.status()?;
    if cli.json {
        print_json(&s)
    } else {
        println!(
            "Vault {}: {}",
            vault_dir(cli)?.display(),
            if s.unlocked { "unlocked" } else { "locked" }
        );
        println!(
            "KDF: Argon2id m={} KiB, t={}, p={}",
            s.kdf_m_kib, s.kdf_t, s.kdf_p
        );
        println!(
            "Wrong PIN attempts: {} (retry after {} s)",
            s.failed_attempts, s.retry_after_secs
        );
        if s.unlocked {
            println!(
                "Credentials: {}  Audit entries: {}",
                s.credentials, s.audit_entries
            );
        }
        Ok(())
    }
}

pub fn change_pin(cli: &Cli) -> Result<(), CliError> {
    let w = open(cli)?;
    let mut lines = None;
    let old = read_pin(cli, &mut lines)?;
    let new = match std::env::var("KLUIS_NEW_PIN") {
        Ok(p) if !p.is_empty() => Pin::new(p),
        _ => Pin::new(next_stdin_line(&mut lines)?),
    };
    w.change_pin(&old, &new)?;
    if cli.json {
        print_json(&json!({ "changed": true }))
    } else {
        println!("PIN changed.");
        Ok(())
    }
}

pub fn wipe(cli: &Cli, yes: bool) -> Result<(), CliError> {
    if !yes {
        return Err(CliError::usage(
            "wipe destroys the vault and everything in it: confirm with --yes",
        ));
    }
    let w = unlocked(cli)?;
    let dir = vault_dir(cli)?;
    w.wipe()?;
    if cli.json {
        print_json(&json!({ "wiped": dir }))
    } else {
        println!("Vault in {} wiped.", dir.display());
        Ok(())
    }
}
