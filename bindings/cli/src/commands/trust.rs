//! `kluis trust add-issuer | list | scheme`: whom the wallet trusts.

use std::path::Path;

use kluis_core::issuance::HttpPolicy;
use serde_json::json;

use crate::args::Cli;
use crate::output::{date, print_json, CliError};
use crate::shared::{block_on, read_text, unlocked};

/// `kluis trust add-issuer ISSUER_ID JWK_FILE`.
pub fn add_issuer(cli: &Cli, issuer_id: &str, jwk_file: &Path) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let jwk = read_text(jwk_file)?;
    let entry = w.add_trusted_issuer(issuer_id, &jwk)?;
    if cli.json {
        print_json(
            &json!({ "id": entry.issuer_id, "issuer_id": entry.issuer_id, "thumbprint": entry.thumbprint }),
        )
    } else {
        println!(
            "Trusted issuer {} (key {}).",
            entry.issuer_id, entry.thumbprint
        );
        Ok(())
    }
}

/// `kluis trust list`.
pub fn list(cli: &Cli) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let list = w.trusted_issuers()?;
    if cli.json {
        let rows: Vec<_> = list
            .iter()
            .map(|t| json!({ "id": t.issuer_id, "issuer_id": t.issuer_id, "thumbprint": t.thumbprint, "added": date(Some(t.added_at)) }))
            .collect();
        print_json(&rows)
    } else {
        for t in &list {
            println!(
                "{}  key {}  added {}",
                t.issuer_id,
                t.thumbprint,
                date(Some(t.added_at))
            );
        }
        if list.is_empty() {
            println!("No trusted issuers.");
        }
        Ok(())
    }
}

pub fn scheme(cli: &Cli, url: &str, key_file: &std::path::Path) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let jwk = read_text(key_file)?;
    let s = block_on(w.set_scheme(url, &jwk, HttpPolicy::default()))??;
    if cli.json {
        let mut v = serde_json::to_value(&s).unwrap_or_default();
        v["id"] = json!(s.list_uri);
        print_json(&v)
    } else {
        println!(
            "Scheme pinned (key {}): {} holders and {} requesting parties listed, list valid until {}.",
            s.key_thumbprint,
            s.holders,
            s.requesting_parties,
            date(Some(s.expires_at))
        );
        Ok(())
    }
}
