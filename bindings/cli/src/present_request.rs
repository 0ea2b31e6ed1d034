//! `kluis present-request URI [--select PATH,...] [--yes|--decline] [--json]`: answer a
//! requesting party's OpenID4VP request (their QR or link). Shows who asks, the purpose and
//! retention, the claims and the candidate credentials; then shares exactly the default choice
//! (only what was asked and registered, first valid credential), restricted to `--select`, or
//! declines. Without `--yes`/`--decline` it asks on the terminal; a stdin that is not a terminal
//! declines. Exit 5: invalid or untrusted request; 1: network.

use std::io::{BufRead, IsTerminal, Write};

use kluis_core::openid4vp::{CandidateStatus, Flag, PresentationChoice, PresentationRequest};
use kluis_core::sdjwt::ClaimPath;
use serde_json::json;

use crate::args::{Cli, PresentRequestArgs};
use crate::collect::block_on;
use crate::commands::unlocked;
use crate::output::{print_json, CliError};

fn flag_text(f: Flag) -> &'static str {
    match f {
        Flag::Unregistered => "the party is NOT registered in the scheme",
        Flag::OutsideRegistration => {
            "it asks claims outside its registration for this purpose (left out)"
        }
        Flag::LongerRetention => "it states a longer retention than it registered",
        Flag::UnknownPurpose => "it states no registered purpose",
        Flag::NothingMatches => "nothing in your wallet answers what is required",
        Flag::StaleCredentials => "some credentials were not status-checked in the last 24 h",
        Flag::InvalidCredentials => "some credentials are revoked, suspended or expired",
        Flag::UnsupportedFormats => "it also asks formats this wallet does not hold",
    }
}

fn status_text(s: CandidateStatus) -> &'static str {
    match s {
        CandidateStatus::Valid => "valid",
        CandidateStatus::Stale => "not recently checked",
        CandidateStatus::Revoked => "REVOKED",
        CandidateStatus::Suspended => "SUSPENDED",
        CandidateStatus::Expired => "EXPIRED",
    }
}

/// The screen the citizen sees before deciding (no claim values: those stay in the wallet).
pub fn describe(req: &PresentationRequest, choice: &PresentationChoice) -> Vec<String> {
    let mut out = Vec::new();
    let name = req.party.name.as_deref().unwrap_or("(unknown party)");
    out.push(format!(
        "{name} ({}) {}",
        req.party.client_id,
        if req.party.registered {
            "— registered in the scheme"
        } else {
            "— NOT registered in the scheme"
        }
    ));
    let purpose = req
        .purpose
        .as_ref()
        .map(|p| p.name.clone())
        .or_else(|| req.stated_purpose.clone())
        .unwrap_or_else(|| "(no purpose stated)".into());
    let registered = req.purpose.as_ref().and_then(|p| p.retention_days);
    out.push(format!(
        "asks for: {purpose}; keeps the data {} (registered: {})",
        req.retention_days
            .map(|d| format!("{d} days"))
            .unwrap_or_else(|| "for an unstated time".into()),
        registered
            .map(|d| format!("{d} days"))
            .unwrap_or_else(|| "none".into())
    ));
    for q in &req.queries {
        let chosen = choice.queries.get(&q.query_id);
        out.push(format!(
            "  {} ({}{}):",
            q.query_id,
            if q.required { "required" } else { "optional" },
            if chosen.is_some() {
                ", will be shared"
            } else {
                ", not shared"
            }
        ));
        for c in &q.claims {
            let shared = chosen.is_some_and(|x| x.claims.contains(&c.path));
            out.push(format!(
                "    [{}] {}{}{}",
                if shared { "x" } else { " " },
                c.label.as_deref().unwrap_or(&c.path),
                if c.label.is_some() {
                    format!(" ({})", c.path)
                } else {
                    String::new()
                },
                if c.within_registration {
                    ""
                } else {
                    "  — outside its registration"
                }
            ));
        }
        if q.candidates.is_empty() {
            out.push("    no credential in your wallet answers this".into());
        }
        for c in &q.candidates {
            let picked = chosen.is_some_and(|x| x.credential_ids.contains(&c.credential_id));
            out.push(format!(
                "    {} from {}: {} [{}] {}",
                if picked { "->" } else { "  " },
                c.issuer,
                c.title.as_deref().unwrap_or(&c.vct),
                status_text(c.status),
                c.credential_id
            ));
        }
    }
    for f in &req.flags {
        out.push(format!("  ! {}", flag_text(*f)));
    }
    out
}

/// Keeps only claims equal to or under one of `select`; queries left without claims are dropped.
fn restrict(choice: &mut PresentationChoice, select: &[String]) -> Result<(), CliError> {
    let sel = select
        .iter()
        .map(|s| ClaimPath::parse(s).map_err(|e| CliError::usage(format!("--select {s:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    for q in choice.queries.values_mut() {
        q.claims
            .retain(|c| ClaimPath::parse(c).is_ok_and(|p| sel.iter().any(|s| s.is_prefix_of(&p))));
    }
    choice.queries.retain(|_, q| !q.claims.is_empty());
    Ok(())
}

fn ask(question: &str) -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!("kluis: stdin is not a terminal: declining (use --yes to share)");
        return false;
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if stdin.lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes" | "ja" | "j")
}

pub fn run(cli: &Cli, a: &PresentRequestArgs) -> Result<(), CliError> {
    if a.yes && a.decline {
        return Err(CliError::usage("--yes and --decline exclude each other"));
    }
    let w = unlocked(cli)?;
    block_on(async {
        let req = w.start_presentation(&a.uri, &a.lang).await?;
        let mut choice = req.default_choice();
        if let Some(sel) = &a.select {
            restrict(&mut choice, sel)?;
        }
        if !cli.json {
            for line in describe(&req, &choice) {
                println!("{line}");
            }
        }
        let share = if a.decline {
            false
        } else if a.yes {
            true
        } else if cli.json {
            // JSON output is for scripts: they decide with --yes or --decline.
            false
        } else {
            ask("Share exactly the claims marked [x]?")
        };
        if !share {
            let ack = w.decline_presentation(&req).await;
            if cli.json {
                print_json(&json!({
                    "request": req,
                    "decision": "declined",
                    "party_told": ack.is_ok(),
                }))?;
            } else {
                match ack {
                    Ok(_) => println!("Declined; {} was told.", req.party.client_id),
                    Err(e) => println!(
                        "Declined (logged); telling {} failed: {e}",
                        req.party.client_id
                    ),
                }
            }
            return Ok(());
        }
        let out = match &a.on_behalf_of {
            Some(mandate) => {
                w.accept_presentation_on_behalf(
                    mandate,
                    &req,
                    kluis_core::issuance::HttpPolicy::default(),
                )
                .await?
            }
            None => w.accept_presentation(&req, &choice).await?,
        };
        if cli.json {
            print_json(&json!({
                "request": req,
                "decision": "shared",
                "choice": choice,
                "outcome": out,
            }))?;
        } else {
            let n: usize = out.disclosed.iter().map(|d| d.claims.len()).sum();
            println!(
                "Shared {n} claims from {} credentials with {} (logged in `kluis log`).",
                out.disclosed.len(),
                out.client_id
            );
        }
        Ok::<(), CliError>(())
    })?
}
