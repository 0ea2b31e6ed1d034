//! The credentials in the vault: `import`, `list`, `delete`, `key`, `show` (also under a mandate,
//! `show --on-behalf-of`).

use std::path::PathBuf;

use kluis_core::issuance::HttpPolicy;
use serde_json::json;

use crate::args::Cli;
use crate::output::{date, print_json, CliError};
use crate::shared::{block_on, read_text, unlocked};

/// `kluis import FILE...`.
pub fn import(cli: &Cli, files: &[PathBuf]) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    for file in files {
        let text = read_text(file)?;
        let s = w.import_credential(&text)?;
        if cli.json && files.len() == 1 {
            print_json(&s)?;
        } else if cli.json {
            // One line per stored credential, flushed at once: a caller that is cut off
            // knows exactly which imports were saved.
            println!("{}", serde_json::to_string(&s).unwrap_or_default());
        } else {
            println!(
                "Imported {} from {} as {}.",
                s.name.as_deref().unwrap_or(&s.vct),
                s.issuer,
                s.id
            );
        }
        std::io::Write::flush(&mut std::io::stdout())
            .map_err(|e| CliError::other(format!("stdout: {}", e.kind())))?;
    }
    Ok(())
}

/// `kluis list`.
pub fn list(cli: &Cli, lang: &str) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let list = w.credentials(lang)?;
    if cli.json {
        print_json(&list)
    } else {
        if list.is_empty() {
            println!("No credentials.");
        }
        for c in &list {
            println!(
                "{}  {}  {}  issued {}  expires {}{}",
                c.id,
                c.issuer,
                c.name.as_deref().unwrap_or(&c.vct),
                date(c.issued_at),
                date(c.expires_at),
                // The last `kluis status-check` result, when there was one.
                c.status
                    .map(|s| format!("  [{}]", s.as_str()))
                    .unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// `kluis delete ID`.
pub fn delete(cli: &Cli, id: &str) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    w.delete_credential(id)?;
    if cli.json {
        print_json(&json!({ "id": id, "deleted": true }))
    } else {
        println!("Deleted {id}.");
        Ok(())
    }
}

/// `kluis key`: the holder key issuers bind credentials to.
pub fn key(cli: &Cli) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let jwk: serde_json::Value = serde_json::from_str(&w.holder_public_jwk()?)
        .map_err(|e| CliError::other(format!("holder key: {e}")))?;
    if cli.json {
        println!("{jwk}");
    } else {
        println!("This wallet's holder key (give it to issuers to bind credentials to):\n{jwk}");
    }
    Ok(())
}

/// `kluis show ID`.
pub fn show(cli: &Cli, id: &str, lang: &str) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let d = w.credential(id, lang)?;
    if cli.json {
        print_json(&d)
    } else {
        let s = &d.summary;
        println!("{} ({})", s.name.as_deref().unwrap_or(&s.vct), s.vct);
        println!(
            "issuer {}  issued {}  expires {}",
            s.issuer,
            date(s.issued_at),
            date(s.expires_at)
        );
        for c in &d.claims {
            let label = c.label.clone().unwrap_or_else(|| c.path.clone());
            let value = match &c.value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("  {label:<32} {value}");
        }
        Ok(())
    }
}

/// `kluis show ID --on-behalf-of MANDATE_ID`: the claims a `view` mandate covers.
pub fn show_on_behalf(
    cli: &Cli,
    mandate_id: &str,
    credential: &str,
    lang: &str,
) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let claims = block_on(w.view_on_behalf(mandate_id, credential, lang, HttpPolicy::default()))??;
    if cli.json {
        return print_json(&claims);
    }
    println!("Under mandate {mandate_id} (viewed as a helper; logged):");
    for c in &claims {
        let label = c.label.clone().unwrap_or_else(|| c.path.clone());
        let value = match &c.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("  {label:<32} {value}");
    }
    Ok(())
}
