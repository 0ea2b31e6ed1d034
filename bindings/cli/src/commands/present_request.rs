//! `kluis present-request URI [--select PATH,...] [--yes|--decline] [--json]`: answer a
//! requesting party's OpenID4VP request (their QR or link). Shows who asks, the purpose and
//! retention, the claims and the candidate credentials; then shares exactly the default choice
//! (only what was asked and registered, first valid credential), restricted to `--select`, or
//! declines. Without `--yes`/`--decline` it asks on the terminal; a stdin that is not a terminal
//! declines. Exit 5: invalid or untrusted request; 1: network.

use kluis_core::openid4vp::PresentationChoice;
use kluis_core::sdjwt::ClaimPath;
use serde_json::json;

use crate::args::{Cli, PresentRequestArgs};
use crate::output::{print_json, CliError};
use crate::shared::{block_on, consent_to_share, unlocked, Prompt};
use crate::views::describe;

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

pub fn run(cli: &Cli, a: &PresentRequestArgs) -> Result<(), CliError> {
    if a.yes && a.decline {
        return Err(CliError::usage("--yes and --decline exclude each other"));
    }
    let w = unlocked(cli)?;
    block_on(async {
        let req = w.start_presentation(&a.uri, &a.lang).await?;
        let mut choice = req.default_choice();
        // Whether the wallet can answer at all, within the party's registration.
        let answerable = req.satisfiable
            && req
                .queries
                .iter()
                .filter(|q| q.required)
                .all(|q| choice.queries.contains_key(&q.query_id));
        if let Some(sel) = &a.select {
            restrict(&mut choice, sel)?;
        }
        // A helper's screen shows what the mandate's package would send (the candidates above
        // are the helper's own credentials, which a helper's answer never uses).
        let on_behalf = match &a.on_behalf_of {
            Some(m) if !a.decline => Some(
                w.preview_presentation_on_behalf(
                    m,
                    &req,
                    kluis_core::issuance::HttpPolicy::default(),
                )
                .await?,
            ),
            _ => None,
        };
        if !cli.json {
            match (&on_behalf, &a.on_behalf_of) {
                (Some(preview), Some(m)) => {
                    println!(
                        "{} asks; on behalf of mandate {m}, this leaves the phone:",
                        req.party.client_id
                    );
                    for d in preview {
                        println!(
                            "  [x] {} ({}): {}",
                            d.query_id,
                            d.credential_id,
                            d.claims.join(", ")
                        );
                    }
                }
                _ => {
                    for line in describe(&req, &choice) {
                        println!("{line}");
                    }
                }
            }
        }
        // A helper answers from the mandate's package, not from the candidates matched here.
        if a.yes && a.on_behalf_of.is_none() && !answerable {
            // OpenID4VP 1.0 §5.6: the party is told the wallet cannot answer; nothing is shared.
            let told = w
                .decline_unanswerable(&req, kluis_core::issuance::HttpPolicy::default())
                .await;
            return Err(CliError::usage(format!(
                "nothing in the wallet answers what {} requires within its registration: nothing was shared; {}",
                req.party.client_id,
                match told {
                    Ok(_) => "the party was told (access_denied)".to_string(),
                    Err(e) => format!("telling the party failed: {e}"),
                }
            )));
        }
        let share = consent_to_share(a.decline, a.yes, cli.json, Prompt::Stdout);
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
                "choice": if a.on_behalf_of.is_some() { json!(null) } else { json!(choice) },
                "outcome": out,
            }))?;
        } else {
            // Counted from what the presentations show, always-visible claims included.
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
