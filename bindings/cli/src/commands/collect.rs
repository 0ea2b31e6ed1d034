//! The collecting commands: `collect`, `overview`, `refresh`, `status-check`, and
//! `trust scheme`. Printing only; the flow, checks and decisions are kluis-core's.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use kluis_core::delegation::Clients;
use kluis_core::issuance::{
    CollectEvent, CollectOptions, CollectOutcome, CollectProgress, HttpPolicy, NoProgress,
    OfferSession,
};
use kluis_core::status::CredentialState;
use kluis_core::Wallet;
use serde_json::json;

use crate::args::{Cli, CollectArgs, OverviewArgs};
use crate::output::{date, print_json, CliError};
use crate::shared::{block_on, unlocked};
use crate::views::{describe_offer, print_helper_overview, print_overview};

/// `collect --on-behalf-of M HOLDER`: the helper collects for the citizen under mandate M.
fn collect_on_behalf(cli: &Cli, w: &Wallet, m: &str, a: &CollectArgs) -> Result<(), CliError> {
    let options = CollectOptions {
        copies: 1,
        ..CollectOptions::default()
    };
    if !cli.json {
        eprintln!("Collecting from {} under mandate {m} ...", a.offer_uri);
    }
    let got = block_on(w.collect_on_behalf(m, &a.offer_uri, &a.types, options))??;
    if cli.json {
        return print_json(&json!(got));
    }
    for c in &got.collected {
        println!(
            "Stored {} as {} under mandate {} (held on the citizen's behalf).",
            c.vct, c.id, got.mandate_id
        );
    }
    Ok(())
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

/// The core's progress events on stderr; what was stored goes to stdout after, and a failure
/// is the command's error.
struct PrintProgress;

impl CollectProgress for PrintProgress {
    fn event(&self, event: &CollectEvent) {
        match event {
            CollectEvent::Started { issuer } => eprintln!("Collecting from {issuer} ..."),
            CollectEvent::WaitingForDeferred { issuer, vct } => {
                eprintln!("{issuer} is still preparing {vct}; waiting a little ...")
            }
            CollectEvent::Stored { .. } | CollectEvent::Failed { .. } => {}
        }
    }
}

pub fn collect(cli: &Cli, a: &CollectArgs) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    if let Some(m) = &a.on_behalf_of {
        return collect_on_behalf(cli, &w, m, a);
    }
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
        if session.needs_authorization() {
            return collect_with_login(&w, session).await;
        }
        let progress: &dyn CollectProgress = if cli.json {
            &NoProgress
        } else {
            &PrintProgress
        };
        Ok(
            w.accept_offer_reporting(session, a.tx_code.as_deref(), progress)
                .await?,
        )
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

/// How long the loopback listener waits for the browser to come back.
const LOGIN_WAIT: Duration = Duration::from_secs(600);

/// The authorization code flow from a terminal (RFC 8252 §7.3): a loopback redirect URI on a
/// free port, the login URL on stderr (and to `$KLUIS_BROWSER URL` when set), then the first
/// request to `/cb` finishes the collect.
async fn collect_with_login(w: &Wallet, session: OfferSession) -> Result<CollectOutcome, CliError> {
    let io =
        |e: std::io::Error| CliError::other(format!("loopback redirect listener: {}", e.kind()));
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(io)?;
    let port = listener.local_addr().map_err(io)?.port();
    let redirect = format!("http://127.0.0.1:{port}/cb");
    let pending = w.start_authorization(session, &redirect).await?;
    eprintln!(
        "Log in at the holder to collect: open this address in your browser
{}",
        pending.authorization_url()
    );
    if let Some(browser) = std::env::var_os("KLUIS_BROWSER").filter(|b| !b.is_empty()) {
        // Best effort: the URL is printed above either way.
        let _ = std::process::Command::new(browser)
            .arg(pending.authorization_url())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
    let wait = tokio::task::spawn_blocking(move || wait_for_redirect(&listener));
    let target = match tokio::time::timeout(LOGIN_WAIT, wait).await {
        Err(_) => {
            return Err(CliError::other(
                "no login at the holder within 10 minutes: nothing was collected",
            ))
        }
        Ok(Err(_)) => return Err(CliError::other("the loopback redirect listener stopped")),
        Ok(Ok(r)) => r.map_err(io)?,
    };
    Ok(
        w.finish_authorization(pending, &format!("http://127.0.0.1:{port}{target}"))
            .await?,
    )
}

/// Answers requests on the loopback listener until one for `/cb` arrives; returns its target
/// (path and query). Only the request line is read: the answer is in the query.
fn wait_for_redirect(listener: &std::net::TcpListener) -> std::io::Result<String> {
    loop {
        let (mut stream, _) = listener.accept()?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut head = Vec::new();
        let mut chunk = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        let text = String::from_utf8_lossy(&head);
        let target = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("GET "))
            .and_then(|l| l.split(' ').next())
            .filter(|t| *t == "/cb" || t.starts_with("/cb?"))
            .map(str::to_string);
        let (status, body) = match &target {
            Some(_) => ("200 OK", "<!doctype html><meta charset=\"utf-8\"><title>kluis</title><p>Klaar: terug naar kluis. Done: you can close this window.</p>"),
            None => ("404 Not Found", "not here"),
        };
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        if let Some(t) = target {
            return Ok(t);
        }
    }
}

pub fn overview(cli: &Cli, a: &OverviewArgs) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    if let Some(m) = &a.on_behalf_of {
        let clients = match m.as_str() {
            "all" => Clients::All,
            one => Clients::One(one),
        };
        let options = CollectOptions {
            copies: 1,
            lang: a.lang.clone(),
            ..CollectOptions::default()
        };
        let h = block_on(w.helper_overview(clients, &a.lang, a.refresh, options))??;
        if cli.json {
            return print_json(&h);
        }
        print_helper_overview(&h);
        return Ok(());
    }
    let o = w.overview(&a.lang)?;
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
        println!("Not refreshed: {}: {}", f.id, f.detail);
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
