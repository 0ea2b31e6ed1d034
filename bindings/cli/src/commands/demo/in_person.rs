//! `kluis demo` step 6c: sharing in person.

use std::time::Duration;

use kluis_core::openid4vp::offline::{
    disclosed_json, rental_query, verify_offline_fetching, verify_offline_with, MemoryReplayCache,
    OfflineExpectations, OfflineStatus, MAX_AGE_SECS,
};
use kluis_core::openid4vp::proximity::{
    run_verifier_session, start_verifier_session, HttpRelay, WalletEngagement,
};
use kluis_core::openid4vp::rental_dcql;
use kluis_core::openid4vp::request::{ResponseMode, StatedPurpose};
use kluis_core::openid4vp::verifier::{ResponseOutcome, VerifierConfig};
use kluis_core::Wallet;
use serde_json::{json, Value};

use crate::output::CliError;
use crate::views::code_for;

/// `kluis demo` step 6c: the citizen's QR in person, both modes, against the loopback landlord
/// and relay: the session QR (the landlord's request over the relay, consent, encrypted answer)
/// and the offline rental QR from the holders' small rental-purpose credentials (verified once,
/// its replay refused).
pub fn demo_in_person(
    rt: &tokio::runtime::Runtime,
    net: &kluis_fixtures::servers::Network,
    wallet: &Wallet,
    json: bool,
) -> Result<Value, CliError> {
    use kluis_fixtures::servers::{requesting_party_key, trust_from_holders, LANDLORD};
    let fixture = |e: kluis_fixtures::FixtureError| CliError::other(format!("demo fixtures: {e}"));
    if !json {
        println!("\n== 6c. Share in person: the citizen's session QR, then an offline QR");
    }
    let trust = trust_from_holders(&net.holders);

    // Session QR: the landlord's desk scans it and sends its signed request over the relay.
    let eng = WalletEngagement::new(net.relay.base_url())?;
    let code = code_for(eng.qr_text())?;
    let config = VerifierConfig {
        client_id: LANDLORD.into(),
        signing_key: requesting_party_key(LANDLORD).map_err(fixture)?,
        attestation: None,
        response_uri: format!(
            "{}/response",
            net.verifier(LANDLORD).map_err(fixture)?.origin()
        ),
        response_mode: ResponseMode::DirectPostJwt,
        purpose: Some(StatedPurpose {
            id: "rental".into(),
            retention_days: Some(30),
        }),
        lifetime_secs: 300,
    };
    let v = start_verifier_session(
        eng.qr_text(),
        &config,
        &rental_dcql(),
        kluis_core::now_unix(),
    )?;
    let desk_trust = trust.clone();
    let desk = rt.spawn(async move {
        let relay = HttpRelay::for_engagement(&v.engagement)?;
        run_verifier_session(&v, &relay, &desk_trust, Duration::from_secs(30)).await
    });
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
    let outcome = rt
        .block_on(desk)
        .map_err(|_| CliError::other("demo: the landlord's desk stopped"))??;
    let ResponseOutcome::Verified { credentials } = &outcome else {
        return Err(CliError::other(
            "demo: the landlord did not verify the session answer",
        ));
    };
    if !json {
        println!("  the landlord's desk verified the encrypted answer:");
        for (query, creds) in credentials {
            for c in creds {
                println!("    {query:<12} from {}: {}", c.issuer, c.claims);
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
    let cache = MemoryReplayCache::default();
    let expect = OfflineExpectations::new(LANDLORD);
    // The desk here has network: each credential's status list is fetched and checked.
    let status = OfflineStatus::default();
    let verified: Vec<_> = rt
        .block_on(verify_offline_fetching(
            &qr.payload,
            &trust,
            &expect,
            &cache,
            &status,
            Default::default(),
        ))?
        .into_iter()
        .map(|c| c.presentation)
        .collect();
    let replay = verify_offline_with(&qr.payload, &trust, &expect, &cache)
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
        for v in &verified {
            println!(
                "    from {}: {}",
                v.issuer,
                disclosed_json(std::slice::from_ref(v))[0]["claims"]
            );
        }
        println!("  the same QR shown again: rejected ({replay})");
    }
    Ok(json!({
        "session_qr": { "payload": eng.qr_text(), "qr_version": code_for(eng.qr_text())?.version(), "disclosed": disclosed, "landlord": outcome },
        "offline_qr": { "chars": qr.payload.len(), "qr_version": code.version(), "ec": code.ec.to_string(), "verified": disclosed_json(&verified), "replay": replay },
    }))
}
