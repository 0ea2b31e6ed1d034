//! `kluis verify`: the requesting party's check of a presentation (or a batch).

use kluis_core::issuance::HttpPolicy;
use kluis_core::openid4vp::offline::scheme_trust;
use kluis_core::openid4vp::verifier::VerifierTrust;
use kluis_core::sdjwt::PublicJwk;
use kluis_core::sdjwt::VerifiedPresentation;
use kluis_core::status::StatusLists;
use kluis_core::trust::TrustList;
use kluis_core::verifier::{self, Expectations};
use serde_json::json;

use crate::args::{Cli, VerifyArgs};
use crate::output::{date, print_json, CliError};
use crate::shared::{block_on, read_text, unlocked};
use crate::views::on_behalf_text;

pub fn verify(cli: &Cli, a: &VerifyArgs) -> Result<(), CliError> {
    let trust = if a.scheme.is_some() || !a.trust.is_empty() {
        verifier_trust(&a.trust, a.scheme.as_deref(), a.scheme_key.as_deref())?.issuers
    } else {
        TrustList::from_entries(&unlocked(cli)?.trusted_issuers()?)
    };
    let text = read_text(&a.file)?;
    let expect = Expectations::new(&a.nonce, &a.aud);
    // One cache for the run: in a batch every status list is fetched once.
    let lists = StatusLists::new();
    if a.batch {
        let lines: Vec<&str> = text.lines().collect();
        let summary = block_on(verifier::verify_batch_online(
            &lines,
            &trust,
            &expect,
            &lists,
            HttpPolicy::default(),
        ))??;
        print_json(&summary)?;
        return if summary.invalid == 0 && summary.count > 0 {
            Ok(())
        } else {
            Err(CliError::invalid(format!(
                "{} of {} presentations are invalid",
                summary.invalid, summary.count
            )))
        };
    }
    // A helper's presentation needs its mandate's status list: fetched when it carries one.
    let v = verify_one(&text, &trust, &expect, &lists)?;
    if cli.json {
        print_json(
            &json!({ "valid": true, "issuer": v.issuer, "vct": v.vct, "claims": v.claims, "on_behalf": on_behalf_json(&v) }),
        )
    } else {
        if let Some(line) = on_behalf_text(&v) {
            println!("{line}");
        }
        println!(
            "Valid presentation from issuer {} of type {}. Disclosed claims:",
            v.issuer, v.vct
        );
        println!(
            "{}",
            serde_json::to_string_pretty(&v.claims).unwrap_or_default()
        );
        Ok(())
    }
}

/// Whom a party trusts: the scheme's list (`--scheme URL --scheme-key FILE`, each holder for
/// its listed types) and/or keys each bound to one issuer id (`--trust ISSUER=JWK_FILE`, or a
/// JWK file with an `iss` member). A key without an issuer is refused: it would vouch for any
/// `iss` a credential claims.
pub fn verifier_trust(
    keys: &[String],
    scheme: Option<&str>,
    scheme_key: Option<&std::path::Path>,
) -> Result<VerifierTrust, CliError> {
    let mut trust = match (scheme, scheme_key) {
        (Some(url), Some(key)) => {
            let key = PublicJwk::from_json(&read_text(key)?).map_err(|e| {
                CliError::usage(format!("{} is not a P-256 public JWK: {e}", key.display()))
            })?;
            block_on(scheme_trust(url, &key, Default::default()))??
        }
        (Some(_), None) => return Err(CliError::usage("--scheme needs --scheme-key JWK_FILE")),
        (None, Some(_)) => return Err(CliError::usage("--scheme-key needs --scheme URL")),
        (None, None) => VerifierTrust::default(),
    };
    for arg in keys {
        let (issuer, file) = match arg.rsplit_once('=') {
            Some((iss, f)) if !iss.is_empty() && !f.is_empty() => (Some(iss), f),
            _ => (None, arg.as_str()),
        };
        let path = std::path::Path::new(file);
        let text = read_text(path)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| CliError::usage(format!("{} is not a JWK", path.display())))?;
        let jwk = PublicJwk::from_value(&value).map_err(|e| {
            CliError::usage(format!("{} is not a P-256 public JWK: {e}", path.display()))
        })?;
        let issuer = issuer
            .map(str::to_string)
            .or_else(|| value.get("iss").and_then(|v| v.as_str()).map(str::to_string))
            .ok_or_else(|| {
                CliError::usage(format!(
                    "--trust {arg}: say whose key it is, --trust ISSUER=JWK_FILE (a key counts only for the issuer it is bound to)"
                ))
            })?;
        trust.issuers.add(&issuer, jwk);
        // A key given by hand vouches for any type of its issuer, unless the scheme lists it.
        if !trust.types.is_empty() && !trust.types.contains_key(&issuer) {
            return Err(CliError::usage(format!(
                "--trust {arg}: {issuer} is not in the scheme's list; give --scheme or --trust, not both for it"
            )));
        }
    }
    Ok(trust)
}

/// Verifies one presentation, fetching a mandate's status list when it carries one and the
/// credential's own status list.
pub fn verify_one(
    text: &str,
    trust: &TrustList,
    expect: &Expectations,
    lists: &StatusLists,
) -> Result<VerifiedPresentation, CliError> {
    Ok(block_on(verifier::verify_online_cached(
        text,
        trust,
        expect,
        None,
        lists,
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
