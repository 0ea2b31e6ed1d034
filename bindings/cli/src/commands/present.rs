//! `kluis present`: a presentation of chosen claims for a nonce and audience (also as a helper,
//! `--on-behalf-of MANDATE`).

use kluis_core::issuance::HttpPolicy;
use serde_json::json;

use crate::args::{Cli, PresentArgs};
use crate::output::{print_json, CliError};
use crate::shared::{block_on, unlocked};

pub fn present(cli: &Cli, a: &PresentArgs) -> Result<(), CliError> {
    let presentation = match &a.on_behalf_of {
        Some(mandate) => present_on_behalf(cli, a, mandate)?,
        None => {
            unlocked(cli)?.present_for(&a.id, &a.claims, &a.nonce, &a.aud, a.purpose.as_deref())?
        }
    };
    match &a.out {
        Some(path) => {
            std::fs::write(path, format!("{presentation}\n")).map_err(|e| {
                CliError::other(format!("cannot write {}: {}", path.display(), e.kind()))
            })?;
            if cli.json {
                print_json(&json!({ "out": path, "claims": a.claims }))
            } else {
                println!(
                    "Presentation of {} claim(s) written to {}.",
                    a.claims.len(),
                    path.display()
                );
                Ok(())
            }
        }
        None => {
            println!("{presentation}");
            Ok(())
        }
    }
}

/// `kluis present ... --on-behalf-of MANDATE_ID`: ID names a credential under the mandate (its
/// id from `kluis mandates`, or its type).
pub fn present_on_behalf(cli: &Cli, a: &PresentArgs, mandate_id: &str) -> Result<String, CliError> {
    let w = unlocked(cli)?;
    Ok(block_on(w.present_on_behalf(
        mandate_id,
        &a.id,
        &a.claims,
        &a.nonce,
        &a.aud,
        a.purpose.as_deref(),
        HttpPolicy::default(),
    ))??)
}
