//! The collecting commands: `collect`, `overview`, `refresh`, `status-check`, and
//! `trust scheme`. Printing only; the flow, checks and decisions are kluis-core's.

use std::future::Future;

use kluis_core::issuance::{CollectOptions, CollectOutcome, HttpPolicy, OfferPreview};
use kluis_core::overview::Overview;
use kluis_core::status::CredentialState;
use kluis_core::Wallet;
use kluis_fixtures::servers::{HolderOptions, Network, StatusValue};
use serde_json::json;

use crate::args::{Cli, CollectArgs};
use crate::commands::{read_text, unlocked};
use crate::output::{date, print_json, CliError};

/// Runs a future of the core on a small runtime (the CLI is otherwise synchronous).
pub fn block_on<F: Future>(f: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::other(format!("cannot start the async runtime: {}", e.kind())))?;
    Ok(rt.block_on(f))
}

/// Euros the Dutch way: `€ 1.234,56`.
pub fn euro(v: f64) -> String {
    let cents = (v * 100.0).round() as i64;
    let (sign, cents) = if cents < 0 {
        ("-", -cents)
    } else {
        ("", cents)
    };
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}€ {grouped},{:02}", cents % 100)
}

/// The human lines describing an offer (shown before anything is stored).
pub fn describe_offer(p: &OfferPreview) -> Vec<String> {
    let mut out = Vec::new();
    let who = p
        .registered_name
        .clone()
        .or_else(|| p.issuer_name.clone())
        .unwrap_or_else(|| p.issuer.clone());
    let trust = if p.listed_in_scheme {
        "listed in the scheme"
    } else if p.trusted_by_hand {
        "trusted by hand"
    } else {
        "NOT listed in the scheme"
    };
    out.push(format!("{who} ({}, {trust}) offers:", p.issuer));
    for c in &p.credentials {
        out.push(format!(
            "  - {}{}",
            c.name.as_deref().unwrap_or(&c.vct),
            if c.listed || p.trusted_by_hand {
                ""
            } else {
                "  [type not listed for this holder]"
            }
        ));
    }
    out
}

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

pub fn trust_scheme(cli: &Cli, url: &str, key_file: &std::path::Path) -> Result<(), CliError> {
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

pub fn overview(cli: &Cli, lang: &str) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let o = w.overview(lang)?;
    if cli.json {
        return print_json(&o);
    }
    print_overview(&o);
    Ok(())
}

/// Prints the integrated overview for people.
pub fn print_overview(o: &Overview) {
    println!(
        "Debts to the government: {} in total",
        euro(o.debts.total_eur)
    );
    for l in &o.debts.lines {
        let mut extra = Vec::new();
        if let Some(m) = l.monthly_payment_eur {
            extra.push(format!("{} per month", euro(m)));
        }
        if let Some(a) = l.payment_arrangement {
            extra.push(if a {
                "payment arrangement".to_string()
            } else {
                "no payment arrangement".to_string()
            });
        }
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!("  ({})", extra.join(", "))
        };
        println!(
            "  {:<40} {:<34} {:>14}{extra}",
            l.holder,
            l.kind,
            euro(l.amount_eur)
        );
    }
    if !o.income.is_empty() {
        println!("Income:");
        for i in &o.income {
            let kind = match i.kind.as_str() {
                "gross_income" => "gross income",
                "taxable_income_box1" => "taxable income (box 1)",
                other => other,
            };
            println!(
                "  {:<40} {:<22} {:<6} {:>14}",
                i.holder,
                kind,
                i.year.map(|y| y.to_string()).unwrap_or_default(),
                euro(i.amount_eur)
            );
        }
    }
    if let Some(a) = &o.address {
        println!(
            "Address: {}, {} {}{}",
            a.street,
            a.postal_code,
            a.locality,
            a.registered_since
                .as_ref()
                .map(|s| format!(" (since {s})"))
                .unwrap_or_default()
        );
    }
    for v in &o.vehicles {
        println!(
            "Vehicle: {} {}{}",
            v.license_plate,
            v.description,
            v.first_registration
                .as_ref()
                .map(|d| format!(" (first registered {d})"))
                .unwrap_or_default()
        );
    }
    if let Some(l) = &o.driving_licence {
        println!(
            "Driving licence: {}{}",
            l.categories.join(", "),
            l.expiry_date
                .as_ref()
                .map(|d| format!(", valid until {d}"))
                .unwrap_or_default()
        );
    }
    for warn in &o.warnings {
        println!("Note: {warn}");
    }
    if o.credentials.is_empty() {
        println!("No credentials yet: collect some with `kluis collect OFFER_URI`.");
    }
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

fn fixture_err(e: kluis_fixtures::FixtureError) -> CliError {
    CliError::other(format!("demo fixtures: {e}"))
}

/// Starts the six holders and the scheme on free loopback ports, served by a small runtime's
/// worker threads while the demo drives the wallet from this thread.
pub fn start_network() -> Result<(tokio::runtime::Runtime, Network), CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::other(format!("cannot start the async runtime: {}", e.kind())))?;
    let net = rt
        .block_on(Network::start(None, HolderOptions::for_holder))
        .map_err(fixture_err)?;
    Ok((rt, net))
}

/// Pins the scheme, then collects every offer the holders make to `citizen`.
pub fn collect_all(
    rt: &tokio::runtime::Runtime,
    net: &Network,
    wallet: &Wallet,
    citizen: &str,
    json: bool,
) -> Result<serde_json::Value, CliError> {
    let scheme_key = net.scheme.public_jwk().map_err(fixture_err)?;
    let s = rt.block_on(wallet.set_scheme(
        &net.scheme.list_uri(),
        &scheme_key.to_value().to_string(),
        HttpPolicy::default(),
    ))?;
    if !json {
        println!(
            "  scheme pinned (key {}): {} holders listed, list signed and valid until {}",
            &s.key_thumbprint[..12.min(s.key_thumbprint.len())],
            s.holders,
            date(Some(s.expires_at))
        );
    }
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    for offer in net.offers_for(citizen) {
        let outcome = rt.block_on(async {
            let session = wallet
                .preview_offer(&offer.offer_uri, CollectOptions::default())
                .await?;
            if !json {
                for line in describe_offer(&session.preview) {
                    println!("  {line}");
                }
                println!(
                    "    (transaction code from the letter/SMS: {})",
                    offer.tx_code
                );
            }
            wallet.accept_offer(session, Some(&offer.tx_code)).await
        })?;
        if !json {
            for s in &outcome.stored {
                println!(
                    "    stored {} ({} copies, each bound to its own key), {} HTTP requests",
                    s.name.as_deref().unwrap_or(&s.vct),
                    s.copies,
                    outcome.requests
                );
            }
            for p in &outcome.pending {
                println!("    {} will be delivered later", p.vct);
            }
        }
        rows.push(json!({
            "holder": offer.holder,
            "stored": outcome.stored.len(),
            "pending": outcome.pending.len(),
            "requests": outcome.requests,
        }));
    }
    let notified: usize = net.holders.iter().map(|h| h.notifications().len()).sum();
    if !json {
        println!(
            "  collected from {} holders in {} ms; {} credential_accepted notifications received by the holders",
            rows.len(),
            started.elapsed().as_millis(),
            notified
        );
    }
    Ok(json!(rows))
}

/// Status lists and refresh: all valid; the CAK revokes its credential; `status-check` shows it
/// revoked and the overview leaves it out; `refresh` gets a fresh one.
pub fn freshness(
    rt: &tokio::runtime::Runtime,
    net: &Network,
    wallet: &Wallet,
    report: &mut serde_json::Map<String, serde_json::Value>,
    json: bool,
) -> Result<(), CliError> {
    if !json {
        println!("\n== 3b. Freshness: every holder's signed Token Status List, then a revocation");
    }
    let first = rt.block_on(wallet.check_status(HttpPolicy::default()))?;
    let valid = first
        .iter()
        .filter(|r| r.status == CredentialState::Valid)
        .count();
    let cak = net.holder("cak").map_err(fixture_err)?;
    cak.set_status(None, StatusValue::Revoked);
    let second = rt.block_on(wallet.check_status(HttpPolicy::default()))?;
    let revoked: Vec<_> = second
        .iter()
        .filter(|r| r.status == CredentialState::Revoked)
        .collect();
    let warnings = wallet.overview("nl")?.warnings;
    let refreshed = rt.block_on(wallet.refresh(false, CollectOptions::default()))?;
    let third = rt.block_on(wallet.check_status(HttpPolicy::default()))?;
    let valid_after = third
        .iter()
        .filter(|r| r.status == CredentialState::Valid)
        .count();
    if !json {
        println!("  status-check: {valid} of {} valid", first.len());
        println!(
            "  the CAK revokes its credential; status-check: {} revoked ({})",
            revoked.len(),
            revoked
                .iter()
                .map(|r| r.vct.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for w in &warnings {
            println!("  overview: {w}");
        }
        println!(
            "  refresh: {} stale credential(s) re-issued by their holder; status-check: {valid_after} of {} valid",
            refreshed.refreshed.len(),
            third.len()
        );
    }
    if revoked.is_empty() || valid_after != third.len() {
        return Err(CliError::other(
            "demo: the revocation was not seen, or the refresh did not restore it",
        ));
    }
    report.insert(
        "status".into(),
        json!({
            "valid_before": valid,
            "revoked": revoked.len(),
            "refreshed": refreshed.refreshed.len(),
            "valid_after": valid_after,
        }),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::euro;

    #[test]
    fn euros_are_written_the_dutch_way() {
        assert_eq!(euro(23418.77), "€ 23.418,77");
        assert_eq!(euro(0.0), "€ 0,00");
        assert_eq!(euro(1234567.5), "€ 1.234.567,50");
        assert_eq!(euro(-12.3), "-€ 12,30");
    }
}
