//! `kluis demo`'s helper part: a mandate, a helper's presentation, a revocation; the debt
//! counsellor collecting for the citizen and answering the debt-help desk.

use kluis_core::delegation::{Action, DelegateRequest};
use kluis_core::issuance::HttpPolicy;
use kluis_core::trust::TrustList;
use kluis_core::verifier::{self, Expectations};
use serde_json::json;

use crate::output::{date, CliError};
use crate::shared::device_store;
use crate::views::on_behalf_text;

/// The helper part of `kluis demo`: a second wallet (the helper's) in `dir` receives a mandate for
/// one claim of the citizen's income statement, presents it to the landlord, who accepts it as a
/// helper acting for the citizen; the citizen revokes; the landlord rejects; the helper's wallet
/// drops the package.
pub fn demo(
    rt: &tokio::runtime::Runtime,
    net: &kluis_fixtures::servers::Network,
    citizen: &kluis_core::Wallet,
    landlord_trust: &TrustList,
    landlord: &str,
    dir: &std::path::Path,
    json: bool,
) -> Result<serde_json::Value, CliError> {
    const VCT: &str = "urn:nl:uwv:income-statement:1";
    const CLAIM: &str = "/monthly_gross_income_eur";
    let say = |s: String| {
        if !json {
            println!("  {s}");
        }
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::other(format!(
            "cannot create the helper's vault dir: {}",
            e.kind()
        ))
    })?;
    let pin = kluis_core::Pin::new("730512");
    let helper = kluis_core::Wallet::create(
        dir,
        &pin,
        kluis_core::VaultOptions::default(),
        device_store(dir),
    )?;
    let scheme_key = net
        .scheme
        .public_jwk()
        .map_err(|e| CliError::other(format!("demo fixtures: {e}")))?;
    rt.block_on(helper.set_scheme(
        &net.scheme.list_uri(),
        &scheme_key.to_value().to_string(),
        HttpPolicy::default(),
    ))?;
    let helper_key = helper.holder_public_jwk()?;
    say(format!(
        "helper's wallet created; its key (kluis key): {}",
        kluis_core::sdjwt::PublicJwk::from_json(&helper_key)
            .map(|k| k.thumbprint())
            .unwrap_or_default()
    ));

    let req = DelegateRequest {
        helper_jwk: helper_key,
        types: vec![VCT.into()],
        claims: Some(vec![CLAIM.into()]),
        actions: vec![Action::Present],
        not_before: None,
        until: kluis_core::now_unix() + 30 * 86_400,
        parties: Some(vec![landlord.into()]),
        purposes: None,
        label: "Daan (demo)".into(),
        registry: net.mandate_registry.base_url().to_string(),
    };
    let outcome = rt.block_on(citizen.delegate(&req, HttpPolicy::default()))?;
    say(format!(
        "citizen: mandate {} — {CLAIM} of the income statement, present only, to the landlord only, until {}; package: {} bytes of JWE (ECDH-ES, A256GCM)",
        outcome.mandate.id,
        date(Some(outcome.mandate.expires_at)),
        outcome.package.len()
    ));
    let accepted = rt.block_on(helper.accept_mandate(&outcome.package, HttpPolicy::default()))?;
    say(format!(
        "helper: accepted the package for {:?}, kept apart from its own credentials ({} of its own)",
        accepted.label,
        helper.credentials("nl")?.len()
    ));

    let nonce = format!("demo-{}", kluis_core::now_unix());
    let presentation = rt.block_on(helper.present_on_behalf(
        &accepted.id,
        VCT,
        &[CLAIM.into()],
        &nonce,
        landlord,
        None,
        HttpPolicy::default(),
    ))?;
    let expect = Expectations::new(&nonce, landlord);
    let v = rt.block_on(verifier::verify_online(
        &presentation,
        landlord_trust,
        &expect,
        None,
        HttpPolicy::default(),
    ))?;
    say(format!(
        "landlord: valid. {} Disclosed: {}",
        on_behalf_text(&v).unwrap_or_default(),
        v.claims
            .get("monthly_gross_income_eur")
            .cloned()
            .unwrap_or_default()
    ));
    let plain = verifier::verify(&presentation, landlord_trust, &expect)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    say(format!(
        "without fetching the status list: rejected ({plain})"
    ));

    rt.block_on(citizen.revoke_mandate(&accepted.id, HttpPolicy::default()))?;
    let after = rt
        .block_on(verifier::verify_online(
            &presentation,
            landlord_trust,
            &expect,
            None,
            HttpPolicy::default(),
        ))
        .err()
        .map(|e| e.to_string());
    say(format!(
        "citizen revoked it; landlord now: rejected ({})",
        after.as_deref().unwrap_or("ACCEPTED — wrong")
    ));
    let listed = rt.block_on(helper.mandates(HttpPolicy::default()))?;
    let dropped = listed
        .iter()
        .any(|m| m.id == accepted.id && m.state == kluis_core::delegation::MandateState::Revoked);
    say(format!(
        "helper's wallet: the package is {}",
        if dropped {
            "dropped (revoked)"
        } else {
            "still there — wrong"
        }
    ));
    let helper_log: Vec<String> = helper
        .audit_log()?
        .iter()
        .filter_map(|e| {
            let v = serde_json::to_value(&e.event).ok()?;
            let t = v.get("type")?.as_str()?.to_string();
            t.starts_with("mandate").then_some(t)
        })
        .collect();
    say(format!("helper's log: {}", helper_log.join(", ")));
    // The citizen's wallet picks up the helper's sealed usage receipts.
    rt.block_on(citizen.mandates(HttpPolicy::default()))?;
    let citizen_log: Vec<String> = citizen
        .audit_log()?
        .iter()
        .filter_map(|e| match &e.event {
            kluis_core::audit::AuditEvent::MandateIssued { .. } => Some("mandate_issued".into()),
            kluis_core::audit::AuditEvent::MandateRevoked { .. } => Some("mandate_revoked".into()),
            kluis_core::audit::AuditEvent::MandateUsed {
                audience, claims, ..
            } => Some(format!("mandate_used ({audience}: {})", claims.join(","))),
            _ => None,
        })
        .collect();
    say(format!("citizen's log: {}", citizen_log.join(", ")));
    if after.is_none() || !dropped {
        return Err(CliError::other(
            "demo: a revoked mandate was still accepted",
        ));
    }
    let counselling = counsellor(rt, net, citizen, &helper, json)?;
    helper.wipe()?;
    Ok(json!({
        "counsellor": counselling,
        "mandate_id": accepted.id,
        "accepted_on_behalf": v.on_behalf.is_some(),
        "rejected_after_revocation": after,
        "helper_log": helper_log,
        "citizen_log": citizen_log,
    }))
}

/// The debt counsellor (the same helper wallet): under a mandate for the six debt and income
/// types, collects for the citizen at every holder (the helper's overview with refresh), then
/// answers the municipality's debt-help desk over OpenID4VP on the citizen's behalf.
fn counsellor(
    rt: &tokio::runtime::Runtime,
    net: &kluis_fixtures::servers::Network,
    citizen: &kluis_core::Wallet,
    helper: &kluis_core::Wallet,
    json: bool,
) -> Result<serde_json::Value, CliError> {
    use kluis_core::delegation::Clients;
    use kluis_fixtures::servers::DEBT_DESK;
    let say = |s: String| {
        if !json {
            println!("  {s}");
        }
    };
    let fixture = |e: kluis_fixtures::FixtureError| CliError::other(format!("demo fixtures: {e}"));
    let req = DelegateRequest {
        helper_jwk: helper.holder_public_jwk()?,
        types: [
            "urn:nl:gemeente:brp-address:1",
            "urn:nl:duo:student-debt:1",
            "urn:nl:cak:care-arrears:1",
            "urn:nl:gemeente:municipal-debts:1",
            "urn:nl:belastingdienst:income-assessment:1",
            "urn:nl:uwv:income-statement:1",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect(),
        claims: None,
        actions: vec![Action::Present, Action::View, Action::Refresh],
        not_before: None,
        until: kluis_core::now_unix() + 90 * 86_400,
        parties: Some(vec![DEBT_DESK.into()]),
        purposes: Some(vec!["debt-counselling".into()]),
        label: "Daan (schuldhulp)".into(),
        registry: net.mandate_registry.base_url().to_string(),
    };
    let outcome = rt.block_on(citizen.delegate(&req, HttpPolicy::default()))?;
    let m = rt.block_on(helper.accept_mandate(&outcome.package, HttpPolicy::default()))?;
    say(format!(
        "debt counselling: mandate {} — six debt and income types, present/view/refresh, to the debt-help desk only",
        m.id
    ));
    let options = kluis_core::issuance::CollectOptions {
        copies: 1,
        ..Default::default()
    };
    let h = rt.block_on(helper.helper_overview(Clients::One(&m.id), "en", true, options))?;
    let c = h
        .clients
        .first()
        .ok_or_else(|| CliError::other("demo: the counsellor's overview is empty"))?;
    let collected = c
        .sources
        .iter()
        .filter(|s| s.origin == kluis_core::delegation::SourceOrigin::Collected)
        .count();
    say(format!(
        "counsellor: collected at the holders under the mandate ({collected} of {} sources fresh); debts in total {}, {} income figure(s)",
        c.sources.len(),
        crate::views::euro(c.overview.debts.total_cents),
        c.overview.income.len()
    ));
    for f in &c.refresh_failures {
        say(format!("  not refreshed: {} ({})", f.issuer, f.detail));
    }
    let desk = net.verifier(DEBT_DESK).map_err(fixture)?.shared();
    let session = rt.block_on(desk.new_session()).map_err(fixture)?;
    let request = rt.block_on(helper.start_presentation(&session.request_uri, "en"))?;
    let sent =
        rt.block_on(helper.accept_presentation_on_behalf(&m.id, &request, HttpPolicy::default()))?;
    let result = rt
        .block_on(desk.result(&session.state))
        .ok_or_else(|| CliError::other("demo: the debt-help desk lost the request"))?;
    say(format!(
        "debt-help desk (schuldhulpverlening intake): asked the full debt overview; the counsellor answered for the citizen with {} credential(s); the desk: {}",
        sent.disclosed.len(),
        result.status
    ));
    if result.status != "verified" {
        return Err(CliError::other(format!(
            "demo: the debt-help desk did not verify the counsellor's answer: {}",
            result.reason.unwrap_or_default()
        )));
    }
    Ok(json!({
        "mandate_id": m.id,
        "sources": c.sources.len(),
        "collected": collected,
        "debts_total_cents": c.overview.debts.total_cents,
        "desk": result.status,
        "credentials_sent": sent.disclosed.len(),
    }))
}
