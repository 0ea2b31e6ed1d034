//! `kluis verify`: the requesting party's check of a presentation (or a batch).

use kluis_core::issuance::HttpPolicy;
use kluis_core::sdjwt::VerifiedPresentation;
use kluis_core::status::StatusLists;
use kluis_core::trust::TrustList;
use kluis_core::verifier::{self, Expectations};
use serde_json::json;

use crate::args::{Cli, VerifyArgs};
use crate::output::{date, print_json, CliError};
use crate::shared::{block_on, read_text, unlocked, verifier_trust};
use crate::views::on_behalf_text;

pub fn verify(cli: &Cli, a: &VerifyArgs) -> Result<(), CliError> {
    let trust = if a.scheme.is_some() || !a.trust.is_empty() {
        verifier_trust(&a.trust, a.scheme.as_deref(), a.scheme_key.as_deref())?.issuers
    } else {
        kluis_core::trust::list_of(&unlocked(cli)?.trusted_issuers()?)
    };
    let text = read_text(&a.file)?;
    let expect = Expectations::new(&a.nonce, &a.aud);
    // One cache for the run: in a batch every status list is fetched once.
    let lists = StatusLists::new();
    if a.batch {
        let lines: Vec<&str> = text.lines().collect();
        let summary = block_on(verifier::verify_batch_online(
            &lines,
            &trust,
            &expect,
            &lists,
            HttpPolicy::default(),
        ))??;
        print_json(&summary)?;
        return if summary.invalid == 0 && summary.count > 0 {
            Ok(())
        } else {
            Err(CliError::invalid(format!(
                "{} of {} presentations are invalid",
                summary.invalid, summary.count
            )))
        };
    }
    // A helper's presentation needs its mandate's status list: fetched when it carries one.
    let v = verify_one(&text, &trust, &expect, &lists)?;
    if cli.json {
        print_json(
            &json!({ "valid": true, "issuer": v.issuer, "vct": v.vct, "claims": v.claims, "on_behalf": on_behalf_json(&v) }),
        )
    } else {
        if let Some(line) = on_behalf_text(&v) {
            println!("{line}");
        }
        println!(
            "Valid presentation from issuer {} of type {}. Disclosed claims:",
            v.issuer, v.vct
        );
        println!(
            "{}",
            serde_json::to_string_pretty(&v.claims).unwrap_or_default()
        );
        Ok(())
    }
}

/// Verifies one presentation, fetching a mandate's status list when it carries one and the
/// credential's own status list.
pub fn verify_one(
    text: &str,
    trust: &TrustList,
    expect: &Expectations,
    lists: &StatusLists,
) -> Result<VerifiedPresentation, CliError> {
    Ok(block_on(verifier::verify_online_cached(
        text,
        trust,
        expect,
        None,
        lists,
        HttpPolicy::default(),
    ))??)
}

/// The `on_behalf` member of `kluis verify --json`, and its line for people.
pub fn on_behalf_json(v: &VerifiedPresentation) -> serde_json::Value {
    match &v.on_behalf {
        None => serde_json::Value::Null,
        Some(o) => json!({
            "mandate_id": o.mandate_id,
            "helper_thumbprint": o.helper_thumbprint,
            "mandate_expires": date(Some(o.mandate_expires_at)),
            "scope": o.scope,
        }),
    }
}
