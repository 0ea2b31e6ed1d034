//! `kluis qr` (the citizen's QR code, in person) and `kluis verify-qr` (the requesting party's
//! side). The payload goes to stdout (first line; with `--json` a JSON object per line), the
//! terminal drawing to stderr when it is a terminal or `--show` asks, a PNG file with `--png`.
//!
//! - `qr --offline (--request FILE_OR_URI | --preset rental) --to CLIENT_ID`: one `KL2:` payload
//!   with the presentations, valid for two minutes, for that party only.
//! - `qr --session --relay URL`: a `KS1:` engagement; then waits for the party's request on the
//!   relay, shows who asks and what, and shares after consent (`--yes`/`--decline`).
//! - `verify-qr PAYLOAD_OR_PNG`: an offline payload is verified (`--aud` = this party); a session
//!   payload starts the party's side (`--aud`, `--key`, `--response-uri`, the query), sends the
//!   request over the relay and verifies the answer. Exit 5 on rejection, with the reason.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::time::Duration;

use kluis_core::openid4vp::dcql::DcqlQuery;
use kluis_core::openid4vp::offline::{
    disclosed_json_checked, rental_query, verify_offline_fetching, FileReplayCache,
    MemoryReplayCache, OfflineExpectations, OfflineStatus, ReplayCache, MAX_AGE_SECS,
};
use kluis_core::openid4vp::proximity::{
    run_verifier_session, start_verifier_session, HttpRelay, WalletEngagement,
};
use kluis_core::openid4vp::request::{ResponseMode, StatedPurpose};
use kluis_core::openid4vp::verifier::{ResponseOutcome, VerifierConfig, VerifierTrust};
use kluis_core::openid4vp::{rental_dcql, PresentationChoice};
use kluis_core::qr::render::{read_png, Ec};
use kluis_core::sdjwt::SigningKey;
use kluis_core::status::{StatusCheck, StatusLists};
use kluis_core::Wallet;
use serde_json::{json, Value};

use crate::args::{Cli, QrArgs, VerifyQrArgs};
use crate::output::{print_json, CliError};
use crate::shared::{block_on, consent_to_share, read_text, unlocked, Prompt};
use crate::views::{code_for, describe};

/// Prints the payload (stdout), the drawing (stderr) and the PNG; `extra` joins the JSON line.
fn show(cli: &Cli, a: &QrArgs, kind: &str, payload: &str, extra: Value) -> Result<(), CliError> {
    let code = code_for(payload)?;
    // The image first: whoever reads the payload line may open the PNG at once.
    if let Some(path) = &a.png {
        let png = code
            .to_png(8)
            .map_err(|e| CliError::other(format!("PNG: {e}")))?;
        std::fs::write(path, png).map_err(|e| {
            CliError::other(format!("cannot write {}: {}", path.display(), e.kind()))
        })?;
    }
    if cli.json {
        let mut line = json!({
            "kind": kind,
            "payload": payload,
            "chars": payload.len(),
            "qr_version": code.version(),
            "ec": code.ec.to_string(),
        });
        if let (Value::Object(l), Value::Object(e)) = (&mut line, extra) {
            l.extend(e);
        }
        println!("{line}");
    } else {
        println!("{payload}");
    }
    std::io::stdout()
        .flush()
        .map_err(|e| CliError::other(format!("stdout: {}", e.kind())))?;
    if a.show || std::io::stderr().is_terminal() {
        eprint!("{}", code.to_terminal());
    }
    eprintln!(
        "{kind} QR: {} characters, QR version {} at level {}{}",
        payload.len(),
        code.version(),
        code.ec,
        if code.ec == Ec::M {
            ""
        } else {
            " (too dense for level M)"
        }
    );
    Ok(())
}

/// The DCQL query of `--request FILE` (a DCQL object, or a request object's claims with
/// `dcql_query`) as JSON.
fn dcql_file(path: &str) -> Result<Value, CliError> {
    let text = read_text(Path::new(path))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|_| CliError::usage(format!("{path} is not JSON (a DCQL query)")))?;
    Ok(v.get("dcql_query").cloned().unwrap_or(v))
}

fn parse_dcql(v: &Value) -> Result<DcqlQuery, CliError> {
    DcqlQuery::parse(v).map_err(|e| CliError::usage(format!("the DCQL query: {e}")))
}

fn is_link(s: &str) -> bool {
    s.starts_with("openid4vp:") || s.starts_with("haip-vp:")
}

pub fn run(cli: &Cli, a: &QrArgs) -> Result<(), CliError> {
    if a.yes && a.decline {
        return Err(CliError::usage("--yes and --decline exclude each other"));
    }
    if a.offline && a.on_behalf_of.is_some() {
        return Err(CliError::usage(
            "--on-behalf-of needs --session: an offline QR's verifier cannot check whether the mandate is revoked",
        ));
    }
    let w = unlocked(cli)?;
    if a.offline {
        offline(cli, a, &w)
    } else {
        if a.request.is_some() || a.preset.is_some() {
            eprintln!(
                "kluis: with --session the party sends its own request; --request/--preset are not used"
            );
        }
        session(cli, a, &w)
    }
}

fn offline(cli: &Cli, a: &QrArgs, w: &Wallet) -> Result<(), CliError> {
    let (query, party, purpose) = match (&a.request, &a.preset) {
        (Some(r), _) if is_link(r) => {
            // A party's link: its verified request decides the query and the audience.
            let req = block_on(w.start_presentation(r, &a.lang))??;
            (
                req.request.dcql.clone(),
                Some(req.request.client_id.full.clone()),
                req.stated_purpose.clone(),
            )
        }
        (Some(r), _) => (parse_dcql(&dcql_file(r)?)?, None, None),
        (None, Some(_)) => (rental_query(), None, Some("rental".to_string())),
        (None, None) => {
            return Err(CliError::usage(
                "--offline needs --request FILE_OR_URI or --preset rental",
            ))
        }
    };
    let to = a.to.clone().or(party).ok_or_else(|| {
        CliError::usage("--offline needs --to CLIENT_ID: the party the QR is for")
    })?;
    let items = w.offline_items_for(&query)?;
    let qr = w.offline_presentation(&items, &to, purpose.as_deref())?;
    show(
        cli,
        a,
        "offline",
        &qr.payload,
        json!({
            "audience": qr.audience,
            "issued_at": qr.issued_at,
            "valid_until": qr.issued_at + MAX_AGE_SECS,
            "items": qr.items,
        }),
    )?;
    let n: usize = qr.items.iter().map(|i| i.claims.len()).sum();
    eprintln!(
        "For {to} only, valid for {} s; discloses {n} claims from {} credentials (logged in `kluis log`).",
        MAX_AGE_SECS,
        qr.items.len()
    );
    Ok(())
}

fn session(cli: &Cli, a: &QrArgs, w: &Wallet) -> Result<(), CliError> {
    let relay = a
        .relay
        .as_deref()
        .ok_or_else(|| CliError::usage("--session needs --relay URL (or $KLUIS_RELAY)"))?;
    let eng = WalletEngagement::new(relay)?;
    show(cli, a, "session", eng.qr_text(), json!({ "relay": relay }))?;
    eprintln!("Waiting up to {} s for the party to scan it ...", a.wait);
    block_on(async {
        let channel = eng.relay()?;
        let req = w
            .receive_session_request(&eng, &channel, Duration::from_secs(a.wait), &a.lang)
            .await?;
        let choice: PresentationChoice = req.default_choice();
        if !cli.json {
            for line in describe(&req, &choice) {
                eprintln!("{line}");
            }
        }
        let share = consent_to_share(a.decline, a.yes, cli.json, Prompt::Stderr);
        if !share {
            w.decline_session_presentation(&req, &channel).await?;
            if cli.json {
                println!(
                    "{}",
                    json!({ "decision": "declined", "party": req.party.client_id })
                );
            } else {
                eprintln!("Declined; {} was told.", req.party.client_id);
            }
            return Ok(());
        }
        let disclosed = match &a.on_behalf_of {
            Some(mandate) => {
                w.accept_session_presentation_on_behalf(
                    mandate,
                    &req,
                    &channel,
                    kluis_core::issuance::HttpPolicy::default(),
                )
                .await?
            }
            None => {
                w.accept_session_presentation(&req, &choice, &channel)
                    .await?
            }
        };
        if cli.json {
            println!(
                "{}",
                json!({ "decision": "shared", "party": req.party.client_id, "disclosed": disclosed })
            );
        } else {
            let n: usize = disclosed.iter().map(|d| d.claims.len()).sum();
            eprintln!(
                "Shared {n} claims from {} credentials with {} (logged in `kluis log`).",
                disclosed.len(),
                req.party.client_id
            );
        }
        Ok::<(), CliError>(())
    })?
}

/// The QR text from the argument: `-` (stdin), a PNG file (read with rqrr), a text file, or the
/// payload itself.
fn input_text(arg: &str) -> Result<String, CliError> {
    if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(1024 * 1024)
            .read_to_string(&mut s)
            .map_err(|e| CliError::usage(format!("stdin: {}", e.kind())))?;
        return Ok(s.trim().to_string());
    }
    let path = Path::new(arg);
    if !arg.starts_with("KL") && !arg.starts_with("KS") && path.is_file() {
        let bytes = std::fs::read(path).map_err(|e| {
            CliError::usage(format!("cannot read {}: {}", path.display(), e.kind()))
        })?;
        if bytes.starts_with(b"\x89PNG") {
            return read_png(&bytes).map_err(|e| CliError::invalid(format!("{e}")));
        }
        return String::from_utf8(bytes)
            .map(|s| s.trim().to_string())
            .map_err(|_| CliError::usage(format!("{} is neither a PNG nor text", path.display())));
    }
    Ok(arg.trim().to_string())
}

fn verifier_trust(a: &VerifyQrArgs) -> Result<VerifierTrust, CliError> {
    if a.scheme.is_none() && a.trust.is_empty() {
        return Err(CliError::usage(
            "say whom to trust: --trust ISSUER=JWK_FILE... or --scheme URL --scheme-key JWK_FILE",
        ));
    }
    crate::shared::verifier_trust(&a.trust, a.scheme.as_deref(), a.scheme_key.as_deref())
}

/// Reads a status list cache file (`[[uri, token, fetched_at], ...]`); a missing file is an
/// empty cache. Tokens are verified when used, like fetched ones.
fn load_status_cache(path: &Path, lists: &StatusLists) -> Result<(), CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read {}: {}",
                path.display(),
                e.kind()
            )))
        }
    };
    let entries: Vec<(String, String, i64)> = serde_json::from_str(&text)
        .map_err(|_| CliError::usage(format!("{} is not a kluis status cache", path.display())))?;
    for (uri, token, fetched_at) in entries {
        lists.insert(&uri, &token, fetched_at);
    }
    Ok(())
}

fn save_status_cache(path: &Path, lists: &StatusLists) -> Result<(), CliError> {
    let body = serde_json::to_vec(&lists.tokens()).unwrap_or_default();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::other(format!("cannot write {}: {}", path.display(), e.kind())))
}

fn print_verified(cli: &Cli, kind: &str, credentials: Value) -> Result<(), CliError> {
    if cli.json {
        print_json(&json!({ "valid": true, "kind": kind, "credentials": credentials }))
    } else {
        println!("Valid {kind} QR. Disclosed claims:");
        println!(
            "{}",
            serde_json::to_string_pretty(&credentials).unwrap_or_default()
        );
        Ok(())
    }
}

pub fn verify(cli: &Cli, a: &VerifyQrArgs) -> Result<(), CliError> {
    let text = input_text(&a.input)?;
    let trust = verifier_trust(a)?;
    let aud = a
        .aud
        .as_deref()
        .ok_or_else(|| CliError::usage("--aud CLIENT_ID: this party's client identifier"))?;
    if kluis_core::qr::offline::is_offline_payload(&text) {
        let memory = MemoryReplayCache::default();
        let file;
        let cache: &dyn ReplayCache = match &a.replay_cache {
            Some(p) => {
                file = FileReplayCache::open(p)?;
                &file
            }
            None => &memory,
        };
        let status = OfflineStatus {
            lists: StatusLists::new(),
            max_list_age_secs: a.status_max_age.max(0),
        };
        if let Some(p) = &a.status_cache {
            load_status_cache(p, &status.lists)?;
        }
        let verified = block_on(verify_offline_fetching(
            &text,
            &trust,
            &OfflineExpectations::new(aud),
            cache,
            &status,
            Default::default(),
        ))??;
        if let Some(p) = &a.status_cache {
            save_status_cache(p, &status.lists)?;
        }
        if !cli.json {
            for v in &verified {
                if let StatusCheck::NotChecked { reason } = &v.status {
                    eprintln!(
                        "WARNING: the status (revocation) of the {} credential from {} was NOT checked: {reason}",
                        v.presentation.vct, v.presentation.issuer
                    );
                }
            }
        }
        return print_verified(cli, "offline", disclosed_json_checked(&verified));
    }
    if !text.starts_with(kluis_core::qr::engagement::PREFIX) {
        return Err(CliError::invalid(
            "not a kluis QR payload (neither offline KL1/KL2 nor session KS1)",
        ));
    }
    // The party's side of a session: sign a request, send it over the relay, verify the answer.
    let key_file = a.key.as_ref().ok_or_else(|| {
        CliError::usage("a session QR needs --key JWK_FILE (the request-signing key)")
    })?;
    let key: Value = serde_json::from_str(&read_text(key_file)?)
        .map_err(|_| CliError::usage(format!("{} is not a JWK", key_file.display())))?;
    let signing_key = SigningKey::from_jwk(&key).map_err(|e| {
        CliError::usage(format!(
            "{} is not a P-256 private JWK: {e}",
            key_file.display()
        ))
    })?;
    let response_uri = a.response_uri.clone().ok_or_else(|| {
        CliError::usage("a session QR needs --response-uri URL (on this party's registered origin)")
    })?;
    let (dcql, purpose) = match (&a.request, &a.preset) {
        (Some(r), _) => (
            dcql_file(r)?,
            a.purpose.clone().map(|id| StatedPurpose {
                id,
                retention_days: None,
            }),
        ),
        (None, Some(_)) => (
            rental_dcql(),
            Some(StatedPurpose {
                id: "rental".into(),
                retention_days: Some(30),
            }),
        ),
        (None, None) => {
            return Err(CliError::usage(
                "a session QR needs the query: --request DCQL_FILE or --preset rental",
            ))
        }
    };
    let config = VerifierConfig {
        client_id: aud.to_string(),
        signing_key,
        attestation: None,
        x5c: Vec::new(),
        response_uri,
        response_mode: ResponseMode::DirectPostJwt,
        purpose,
        lifetime_secs: a.wait.clamp(60, 600) as i64,
    };
    let v = start_verifier_session(&text, &config, &dcql, kluis_core::now_unix())?;
    eprintln!(
        "Sent the request; waiting up to {} s for the citizen ...",
        a.wait
    );
    let outcome = block_on(async {
        let relay = HttpRelay::for_engagement(&v.engagement)?;
        run_verifier_session(&v, &relay, &trust, Duration::from_secs(a.wait)).await
    })??;
    match outcome {
        ResponseOutcome::Verified { credentials } => print_verified(
            cli,
            "session",
            serde_json::to_value(&credentials).unwrap_or(Value::Null),
        ),
        ResponseOutcome::Declined { error } => {
            if cli.json {
                print_json(&json!({ "valid": false, "kind": "session", "declined": error }))?;
            }
            Err(CliError::other(format!("the citizen declined ({error})")))
        }
    }
}
