//! `kluis demo`'s collecting steps: the six holders and the scheme on loopback.

use kluis_core::issuance::{CollectOptions, HttpPolicy};
use kluis_core::status::CredentialState;
use kluis_core::Wallet;
use kluis_fixtures::servers::{HolderOptions, Network, StatusValue, TEST_PASSWORD};
use serde_json::json;

use crate::output::{date, CliError};
use crate::views::describe_offer;

fn fixture_err(e: kluis_fixtures::FixtureError) -> CliError {
    CliError::other(format!("demo fixtures: {e}"))
}

/// Starts the six holders and the scheme on free loopback ports, served by a small runtime's
/// worker threads while the demo drives the wallet from this thread. DUO offers only the
/// authorization code flow (in life it needs a DigiD login).
pub fn start_network() -> Result<(tokio::runtime::Runtime, Network), CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::other(format!("cannot start the async runtime: {}", e.kind())))?;
    let net = rt
        .block_on(Network::start(None, |id| HolderOptions {
            authorization_code: id == "duo",
            ..HolderOptions::for_holder(id)
        }))
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
            }
            if session.needs_authorization() {
                return collect_with_login(net, wallet, session, citizen, json).await;
            }
            if !json {
                println!(
                    "    (transaction code from the letter/SMS: {})",
                    offer.tx_code
                );
            }
            Ok(wallet.accept_offer(session, Some(&offer.tx_code)).await?)
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

/// The authorization code flow without a browser: the demo plays the citizen on the holder's
/// simulated login page (in process) and hands the redirect back to the wallet.
async fn collect_with_login(
    net: &Network,
    wallet: &Wallet,
    session: kluis_core::issuance::OfferSession,
    citizen: &str,
    json: bool,
) -> Result<kluis_core::issuance::CollectOutcome, CliError> {
    let issuer = session.preview.issuer.clone();
    let pending = wallet
        .start_authorization(session, "http://127.0.0.1:1/cb")
        .await?;
    let holder = net
        .holders
        .iter()
        .find(|h| h.base_url() == issuer)
        .ok_or_else(|| CliError::other("demo fixtures: the login holder is not running"))?;
    let back = holder
        .log_in(pending.authorization_url(), citizen, TEST_PASSWORD)
        .map_err(fixture_err)?;
    if !json {
        println!("    login needed (authorization code, HAIP 1.0): PAR with PKCE S256, then the browser opens");
        println!("      {}", pending.authorization_url());
        println!("    the demo logs in as {citizen} on the simulated DigiD page; the redirect back carries code, state and iss");
        println!("    the wallet checks state and iss, exchanges the code with PKCE and a DPoP proof (DPoP-Nonce retry), DPoP-bound token");
    }
    Ok(wallet.finish_authorization(pending, &back).await?)
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
            println!("  overview: {}", crate::views::warning_text(w));
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
