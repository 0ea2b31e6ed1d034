//! The delegation commands: `delegate`, `accept-mandate`, `mandates`, `revoke-mandate`, and
//! presenting `--on-behalf-of` a citizen. Printing only; every check is kluis-core's.

use kluis_core::delegation::{Action, DelegateRequest, MandateRole, MandateSummary};
use kluis_core::issuance::HttpPolicy;
use serde_json::json;

use crate::args::{Cli, DelegateArgs};
use crate::output::{date, print_json, CliError};
use crate::shared::{block_on, read_text, unlocked};

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
        v["left_out"] = json!(outcome.left_out);
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
        for l in &outcome.left_out {
            println!(
                "Left out: credential {} ({}), {} at its holder.",
                l.credential_id,
                l.vct,
                l.state.as_str()
            );
        }
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
