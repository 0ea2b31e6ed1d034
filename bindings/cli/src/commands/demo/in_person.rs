//! `kluis demo` step 6c: sharing in person.

use std::time::Duration;

use kluis_core::openid4vp::offline::{rental_query, MAX_AGE_SECS};
use kluis_core::openid4vp::proximity::WalletEngagement;
use kluis_core::Wallet;
use serde_json::{json, Value};

use crate::output::CliError;
use crate::views::code_for;

/// `kluis demo` step 6c: the citizen's QR in person, both modes, against the loopback landlord's
/// desk (its verifier service) and relay: the session QR (the landlord's request over the relay, consent, encrypted answer)
/// and the offline rental QR from the holders' small rental-purpose credentials (verified once,
/// its replay refused).
pub fn demo_in_person(
    rt: &tokio::runtime::Runtime,
    net: &kluis_fixtures::servers::Network,
    wallet: &Wallet,
    json: bool,
) -> Result<Value, CliError> {
    use kluis_fixtures::servers::LANDLORD;
    let fixture = |e: kluis_fixtures::FixtureError| CliError::other(format!("demo fixtures: {e}"));
    let desk_err =
        |e: &dyn std::fmt::Display| CliError::other(format!("demo: the landlord's desk: {e}"));
    if !json {
        println!("\n== 6c. Share in person: the citizen's session QR, then an offline QR");
    }
    // The landlord's desk is its verifier service (what `POST /v1/qr` does).
    let desk = std::sync::Arc::clone(net.verifier(LANDLORD).map_err(fixture)?.shared().verifier());

    // Session QR: the desk scans it and sends the landlord's signed request over the relay; the
    // answer is verified in the background and read back as the request's result.
    let eng = WalletEngagement::new(net.relay.base_url())?;
    let code = code_for(eng.qr_text())?;
    let started = rt
        .block_on(desk.verify_qr(eng.qr_text()))
        .map_err(|e| desk_err(&e))?;
    let channel = eng.relay()?;
    let req =
        rt.block_on(wallet.receive_session_request(&eng, &channel, Duration::from_secs(30), "en"))?;
    let choice = req.default_choice();
    if !json {
        println!(
            "  session QR: {} ({} characters, QR version {} at {})",
            eng.qr_text(),
            eng.qr_text().len(),
            code.version(),
            code.ec
        );
        println!("  the landlord's desk scanned it; its request arrived over the relay:");
        for line in crate::views::describe(&req, &choice) {
            println!("  {line}");
        }
    }
    let disclosed = rt.block_on(wallet.accept_session_presentation(&req, &choice, &channel))?;
    let outcome = rt.block_on(async {
        // The desk records the answer as soon as it verified it; a few seconds at most.
        for _ in 0..300 {
            let r = desk.result(&started.state).await?;
            if r.status != "pending" {
                return Ok(r);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        desk.result(&started.state).await
    });
    let outcome = outcome.map_err(|e| desk_err(&e))?;
    if outcome.status != "verified" {
        return Err(CliError::other(format!(
            "demo: the landlord did not verify the session answer: {}",
            outcome.reason.clone().unwrap_or_default()
        )));
    }
    if !json {
        println!("  the landlord's desk verified the encrypted answer:");
        if let Some(Value::Object(by_query)) = &outcome.claims {
            for (query, creds) in by_query {
                for c in creds.as_array().into_iter().flatten() {
                    let issuer = c["issuer"].as_str().unwrap_or_default();
                    println!("    {query:<12} from {issuer}: {}", c["claims"]);
                }
            }
        }
    }

    // Offline QR: the holders' rental-purpose credentials make it fit a version-25 code. Each
    // holder offers them over OpenID4VCI in an offer of their own; the wallet collects them.
    for offer in net.purpose_offers("daan", "rental") {
        let out = rt.block_on(wallet.collect(
            &offer.offer_uri,
            Some(&offer.tx_code),
            kluis_core::issuance::CollectOptions::default(),
        ))?;
        if !json {
            for s in &out.stored {
                println!("  collected {} from {}", s.vct, offer.holder);
            }
        }
    }
    let items = wallet.offline_items_for(&rental_query())?;
    let qr = wallet.offline_presentation(&items, LANDLORD, Some("rental"))?;
    let code = code_for(&qr.payload)?;
    // The desk has network: each credential's status list is fetched and checked; its replay
    // cache is the service's state.
    let verified = rt
        .block_on(desk.verify_qr(&qr.payload))
        .map_err(|e| desk_err(&e))?;
    let verified = verified
        .claims
        .map(|c| c["offline"].clone())
        .unwrap_or_default();
    let replay = rt
        .block_on(desk.verify_qr(&qr.payload))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_else(|| "ACCEPTED (unexpected)".into());
    if !json {
        println!(
            "  offline QR for {LANDLORD}: {} characters, QR version {} at {} (rental-purpose credentials; valid {MAX_AGE_SECS} s)",
            qr.payload.len(),
            code.version(),
            code.ec
        );
        println!("  the landlord's desk verified it offline:");
        for v in verified.as_array().into_iter().flatten() {
            let issuer = v["issuer"].as_str().unwrap_or_default();
            println!("    from {issuer}: {}", v["claims"]);
        }
        println!("  the same QR shown again: rejected ({replay})");
    }
    Ok(json!({
        "session_qr": { "payload": eng.qr_text(), "qr_version": code_for(eng.qr_text())?.version(), "disclosed": disclosed, "landlord": outcome },
        "offline_qr": { "chars": qr.payload.len(), "qr_version": code.version(), "ec": code.ec.to_string(), "verified": verified, "replay": replay },
    }))
}
