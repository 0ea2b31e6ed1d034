//! The delegation commands: `delegate`, `accept-mandate`, `mandates`, `revoke-mandate`, and
//! presenting `--on-behalf-of` a citizen. Printing only; every check is kluis-core's.

use kluis_core::delegation::{Action, DelegateRequest, MandateRole, MandateSummary};
use kluis_core::issuance::HttpPolicy;
use kluis_core::sdjwt::VerifiedPresentation;
use kluis_core::trust::TrustList;
use kluis_core::verifier::{self, Expectations};
use serde_json::json;

use crate::args::{Cli, DelegateArgs, PresentArgs};
use crate::collect::block_on;
use crate::commands::{read_text, unlocked};
use crate::output::{date, print_json, CliError};

/// `kluis delegate`: mandate + encrypted package for the helper, written to `--out`.
pub fn delegate(cli: &Cli, a: &DelegateArgs) -> Result<(), CliError> {
    let helper_jwk = read_text(&a.to)?;
    let actions = a
        .actions
        .iter()
        .map(|s| {
            Action::parse(s).ok_or_else(|| {
                CliError::usage(format!(
                    "unknown action {s:?}: use present, view or refresh"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let until = parse_until(&a.until)?;
    let req = DelegateRequest {
        helper_jwk,
        types: a.types.clone(),
        claims: a.claims.clone(),
        actions,
        not_before: None,
        until,
        parties: a.parties.clone(),
        purposes: a.purposes.clone(),
        label: a.label.clone().unwrap_or_else(|| "helper".into()),
        registry: a.registry.clone(),
    };
    let w = unlocked(cli)?;
    let outcome = block_on(w.delegate(&req, HttpPolicy::default()))??;
    std::fs::write(&a.out, format!("{}\n", outcome.package))
        .map_err(|e| CliError::other(format!("cannot write {}: {}", a.out.display(), e.kind())))?;
    if cli.json {
        let mut v = serde_json::to_value(&outcome.mandate)
            .map_err(|e| CliError::other(format!("output: {e}")))?;
        v["out"] = json!(a.out);
        print_json(&v)
    } else {
        let m = &outcome.mandate;
        println!(
            "Mandate {} for {} (helper key {}): {} credential(s), actions {}, until {}.",
            m.id,
            m.label,
            m.counterpart,
            m.credentials.len(),
            actions_text(m),
            date(Some(m.expires_at))
        );
        println!(
            "Package encrypted to the helper written to {}. Revoke with: kluis revoke-mandate {}",
            a.out.display(),
            m.id
        );
        Ok(())
    }
}

/// `kluis accept-mandate FILE`.
pub fn accept(cli: &Cli, file: &std::path::Path) -> Result<(), CliError> {
    let package = read_text(file)?;
    let w = unlocked(cli)?;
    let m = block_on(w.accept_mandate(&package, HttpPolicy::default()))??;
    if cli.json {
        print_json(&m)
    } else {
        println!(
            "Accepted mandate {} for {}: {} credential(s), actions {}, until {}.",
            m.id,
            m.label,
            m.credentials.len(),
            actions_text(&m),
            date(Some(m.expires_at))
        );
        Ok(())
    }
}

/// `kluis mandates`: given and received; received ones that are revoked or expired are dropped.
pub fn list(cli: &Cli) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let list = block_on(w.mandates(HttpPolicy::default()))??;
    if cli.json {
        return print_json(&list);
    }
    if list.is_empty() {
        println!("No mandates.");
    }
    for m in &list {
        let role = match m.role {
            MandateRole::Issued => "given to",
            MandateRole::Received => "received for",
        };
        let state = serde_json::to_value(m.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "{}  {role} {}  [{state}]  until {}  actions {}  types {}",
            m.id,
            m.label,
            date(Some(m.expires_at)),
            actions_text(m),
            m.types.join(",")
        );
        if m.role == MandateRole::Received {
            for c in &m.credentials {
                println!("    credential {}  {}  {}", c.id, c.vct, c.issuer);
            }
        }
    }
    Ok(())
}

/// `kluis revoke-mandate ID`.
pub fn revoke(cli: &Cli, id: &str) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let m = block_on(w.revoke_mandate(id, HttpPolicy::default()))??;
    if cli.json {
        print_json(&m)
    } else {
        println!(
            "Revoked mandate {} for {}; the revocation is published.",
            m.id, m.label
        );
        Ok(())
    }
}

/// `kluis present ... --on-behalf-of MANDATE_ID`: ID names a credential under the mandate (its
/// id from `kluis mandates`, or its type).
pub fn present_on_behalf(cli: &Cli, a: &PresentArgs, mandate_id: &str) -> Result<String, CliError> {
    let w = unlocked(cli)?;
    Ok(block_on(w.present_on_behalf(
        mandate_id,
        &a.id,
        &a.claims,
        &a.nonce,
        &a.aud,
        a.purpose.as_deref(),
        HttpPolicy::default(),
    ))??)
}

/// `kluis show ID --on-behalf-of MANDATE_ID`: the claims a `view` mandate covers.
pub fn view(cli: &Cli, mandate_id: &str, credential: &str, lang: &str) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let claims = block_on(w.view_on_behalf(mandate_id, credential, lang, HttpPolicy::default()))??;
    if cli.json {
        return print_json(&claims);
    }
    println!("Under mandate {mandate_id} (viewed as a helper; logged):");
    for c in &claims {
        let label = c.label.clone().unwrap_or_else(|| c.path.clone());
        let value = match &c.value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("  {label:<32} {value}");
    }
    Ok(())
}

/// Verifies one presentation, fetching a mandate's status list when it carries one.
pub fn verify_one(
    text: &str,
    trust: &TrustList,
    expect: &Expectations,
) -> Result<VerifiedPresentation, CliError> {
    if kluis_core::delegation::verify::status_uris(text).is_empty() {
        return Ok(verifier::verify(text, trust, expect)?);
    }
    Ok(block_on(verifier::verify_online(
        text,
        trust,
        expect,
        None,
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

/// A sentence for people when a helper presented.
pub fn on_behalf_text(v: &VerifiedPresentation) -> Option<String> {
    v.on_behalf.as_ref().map(|o| {
        format!(
            "Presented by a helper acting for the citizen: mandate {}, helper key {}, valid until {}.",
            o.mandate_id,
            o.helper_thumbprint,
            date(Some(o.mandate_expires_at))
        )
    })
}

fn actions_text(m: &MandateSummary) -> String {
    m.actions
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// `YYYY-MM-DD` (valid through the end of that day, UTC), `YYYY-MM-DDTHH:MM:SSZ`, or Unix seconds.
fn parse_until(s: &str) -> Result<i64, CliError> {
    let bad = || {
        CliError::usage(format!(
            "--until {s:?}: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix seconds"
        ))
    };
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map_err(|_| bad());
    }
    let (day, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z').ok_or_else(bad)?)),
        None => (s, None),
    };
    let mut it = day.split('-');
    let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    let secs = match time {
        None => 86_400, // the whole day
        Some(t) => {
            let mut it = t.split(':');
            let (Some(h), Some(mi), Some(se), None) = (it.next(), it.next(), it.next(), it.next())
            else {
                return Err(bad());
            };
            let (h, mi, se): (i64, i64, i64) = (
                h.parse().map_err(|_| bad())?,
                mi.parse().map_err(|_| bad())?,
                se.parse().map_err(|_| bad())?,
            );
            if h > 23 || mi > 59 || se > 59 {
                return Err(bad());
            }
            h * 3600 + mi * 60 + se
        }
    };
    Ok(days * 86_400 + secs)
}

/// Howard Hinnant's civil-to-days algorithm (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

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
        crate::commands::device_store(dir),
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
    helper.wipe()?;
    Ok(json!({
        "mandate_id": accepted.id,
        "accepted_on_behalf": v.on_behalf.is_some(),
        "rejected_after_revocation": after,
        "helper_log": helper_log,
        "citizen_log": citizen_log,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn until_dates() {
        assert_eq!(parse_until("1970-01-01").unwrap(), 86_400);
        assert_eq!(parse_until("2026-11-23T12:00:00Z").unwrap(), 1_795_435_200);
        assert_eq!(parse_until("1795435200").unwrap(), 1_795_435_200);
        assert!(parse_until("2026-13-01").is_err());
        assert!(parse_until("tomorrow").is_err());
        assert!(parse_until("2026-11-23T12:00:00").is_err());
    }
}
