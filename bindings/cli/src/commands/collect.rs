//! The collecting commands: `collect`, `overview`, `refresh`, `status-check`, and
//! `trust scheme`. Printing only; the flow, checks and decisions are kluis-core's.

use kluis_core::issuance::{CollectOptions, CollectOutcome, HttpPolicy};
use kluis_core::status::CredentialState;
use serde_json::json;

use crate::args::{Cli, CollectArgs};
use crate::output::{date, print_json, CliError};
use crate::shared::{block_on, unlocked};
use crate::views::{describe_offer, print_overview};

fn outcome_json(o: &CollectOutcome) -> serde_json::Value {
    json!({
        "offer": o.offer,
        "stored": o.stored,
        "stored_ids": o.stored.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        "pending": o.pending,
        "requests": o.requests,
    })
}

pub fn collect(cli: &Cli, a: &CollectArgs) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let options = CollectOptions {
        copies: a.copies as usize,
        ..CollectOptions::default()
    };
    let outcome = block_on(async {
        let session = w.preview_offer(&a.offer_uri, options).await?;
        if !cli.json {
            for line in describe_offer(&session.preview) {
                println!("{line}");
            }
        }
        w.accept_offer(session, a.tx_code.as_deref()).await
    })??;
    if cli.json {
        return print_json(&outcome_json(&outcome));
    }
    for s in &outcome.stored {
        println!(
            "Stored {} as {} ({} copies, expires {}).",
            s.name.as_deref().unwrap_or(&s.vct),
            s.id,
            s.copies,
            date(s.expires_at)
        );
    }
    for p in &outcome.pending {
        println!(
            "The holder will deliver {} later: run `kluis refresh` (transaction {}).",
            p.vct, p.id
        );
    }
    Ok(())
}

pub fn overview(cli: &Cli, lang: &str) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let o = w.overview(lang)?;
    if cli.json {
        return print_json(&o);
    }
    print_overview(&o);
    Ok(())
}

pub fn status_check(cli: &Cli) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let reports = block_on(w.check_status(HttpPolicy::default()))??;
    if cli.json {
        return print_json(&reports);
    }
    for r in &reports {
        println!(
            "{}  {:<9}  {}  {}{}",
            r.id,
            r.status.as_str(),
            r.vct,
            r.issuer,
            r.note
                .as_ref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default()
        );
    }
    let bad = reports
        .iter()
        .filter(|r| r.status != CredentialState::Valid)
        .count();
    println!(
        "{} credential(s) checked, {} valid, {} not.",
        reports.len(),
        reports.len() - bad,
        bad
    );
    Ok(())
}

pub fn refresh(cli: &Cli, force: bool) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let report = block_on(w.refresh(force, CollectOptions::default()))??;
    if cli.json {
        return print_json(&report);
    }
    for s in &report.refreshed {
        println!(
            "Refreshed {} ({}), now valid until {}.",
            s.name.as_deref().unwrap_or(&s.vct),
            s.id,
            date(s.expires_at)
        );
    }
    for s in &report.delivered {
        println!(
            "Delivered {} ({}).",
            s.name.as_deref().unwrap_or(&s.vct),
            s.id
        );
    }
    for p in &report.pending {
        println!(
            "Still pending at the holder: {} ({}){}.",
            p.vct,
            p.id,
            p.note
                .as_ref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        );
    }
    for f in &report.failed {
        println!("Not refreshed: {}: {}", f.id, f.reason);
    }
    println!(
        "{} refreshed, {} delivered, {} pending, {} still fresh, {} failed.",
        report.refreshed.len(),
        report.delivered.len(),
        report.pending.len(),
        report.fresh,
        report.failed.len()
    );
    Ok(())
}

// ---- `kluis demo`'s collecting steps: the six holders and the scheme on loopback ----
