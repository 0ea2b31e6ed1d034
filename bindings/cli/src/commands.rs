//! One function per command. Each opens the wallet it needs, calls the core, and prints.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kluis_core::trust::TrustList;
use kluis_core::verifier::{self, Expectations};
use kluis_core::{
    sdjwt::PublicJwk, DeviceSecretStore, KdfParams, OnLimit, Pin, SoftwareDeviceSecretStore,
    VaultOptions, VaultPolicy, Wallet,
};
use serde_json::json;
use zeroize::Zeroizing;

use crate::args::{Cli, Command, PresentArgs, TrustCommand, VerifyArgs};
use crate::output::{date, print_json, CliError};

/// Largest input file the command reads (credentials, keys, presentation batches).
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

pub fn run(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Demo => crate::demo::run(cli.json),
        Command::Delegate(a) => crate::delegate::delegate(cli, a),
        Command::AcceptMandate { file } => crate::delegate::accept(cli, file),
        Command::Mandates => crate::delegate::list(cli),
        Command::RevokeMandate { id } => crate::delegate::revoke(cli, id),
        Command::Init(a) => init(cli, a.dangerous_test_kdf),
        Command::Status => status(cli),
        Command::ChangePin => change_pin(cli),
        Command::Wipe { yes } => wipe(cli, *yes),
        Command::Trust(TrustCommand::AddIssuer {
            issuer_id,
            jwk_file,
        }) => {
            let w = unlocked(cli)?;
            let jwk = read_text(jwk_file)?;
            let entry = w.add_trusted_issuer(issuer_id, &jwk)?;
            if cli.json {
                print_json(
                    &json!({ "id": entry.issuer_id, "issuer_id": entry.issuer_id, "thumbprint": entry.thumbprint }),
                )
            } else {
                println!(
                    "Trusted issuer {} (key {}).",
                    entry.issuer_id, entry.thumbprint
                );
                Ok(())
            }
        }
        Command::Trust(TrustCommand::List) => {
            let w = unlocked(cli)?;
            let list = w.trusted_issuers()?;
            if cli.json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|t| json!({ "id": t.issuer_id, "issuer_id": t.issuer_id, "thumbprint": t.thumbprint, "added": date(Some(t.added_at)) }))
                    .collect();
                print_json(&rows)
            } else {
                for t in &list {
                    println!(
                        "{}  key {}  added {}",
                        t.issuer_id,
                        t.thumbprint,
                        date(Some(t.added_at))
                    );
                }
                if list.is_empty() {
                    println!("No trusted issuers.");
                }
                Ok(())
            }
        }
        Command::Import { files } => {
            let w = unlocked(cli)?;
            for file in files {
                let text = read_text(file)?;
                let s = w.import_credential(&text)?;
                if cli.json && files.len() == 1 {
                    print_json(&s)?;
                } else if cli.json {
                    // One line per stored credential, flushed at once: a caller that is cut off
                    // knows exactly which imports were saved.
                    println!("{}", serde_json::to_string(&s).unwrap_or_default());
                } else {
                    println!(
                        "Imported {} from {} as {}.",
                        s.name.as_deref().unwrap_or(&s.vct),
                        s.issuer,
                        s.id
                    );
                }
                std::io::Write::flush(&mut std::io::stdout())
                    .map_err(|e| CliError::other(format!("stdout: {}", e.kind())))?;
            }
            Ok(())
        }
        Command::List(lang) => {
            let w = unlocked(cli)?;
            let list = w.credentials(&lang.lang)?;
            if cli.json {
                print_json(&list)
            } else {
                if list.is_empty() {
                    println!("No credentials.");
                }
                for c in &list {
                    println!(
                        "{}  {}  {}  issued {}  expires {}{}",
                        c.id,
                        c.issuer,
                        c.name.as_deref().unwrap_or(&c.vct),
                        date(c.issued_at),
                        date(c.expires_at),
                        // The last `kluis status-check` result, when there was one.
                        c.status
                            .map(|s| format!("  [{}]", s.as_str()))
                            .unwrap_or_default()
                    );
                }
                Ok(())
            }
        }
        Command::Delete { id } => {
            let w = unlocked(cli)?;
            w.delete_credential(id)?;
            if cli.json {
                print_json(&json!({ "id": id, "deleted": true }))
            } else {
                println!("Deleted {id}.");
                Ok(())
            }
        }
        Command::Key => {
            let w = unlocked(cli)?;
            let jwk: serde_json::Value = serde_json::from_str(&w.holder_public_jwk()?)
                .map_err(|e| CliError::other(format!("holder key: {e}")))?;
            if cli.json {
                println!("{jwk}");
            } else {
                println!(
                    "This wallet's holder key (give it to issuers to bind credentials to):\n{jwk}"
                );
            }
            Ok(())
        }
        Command::Show {
            id,
            lang,
            on_behalf_of: Some(mandate),
        } => crate::delegate::view(cli, mandate, id, &lang.lang),
        Command::Show { id, lang, .. } => {
            let w = unlocked(cli)?;
            let d = w.credential(id, &lang.lang)?;
            if cli.json {
                print_json(&d)
            } else {
                let s = &d.summary;
                println!("{} ({})", s.name.as_deref().unwrap_or(&s.vct), s.vct);
                println!(
                    "issuer {}  issued {}  expires {}",
                    s.issuer,
                    date(s.issued_at),
                    date(s.expires_at)
                );
                for c in &d.claims {
                    let label = c.label.clone().unwrap_or_else(|| c.path.clone());
                    let value = match &c.value {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    println!("  {label:<32} {value}");
                }
                Ok(())
            }
        }
        Command::Collect(a) => crate::collect::collect(cli, a),
        Command::Overview(lang) => crate::collect::overview(cli, &lang.lang),
        Command::Refresh { force } => crate::collect::refresh(cli, *force),
        Command::StatusCheck => crate::collect::status_check(cli),
        Command::PresentRequest(a) => crate::present_request::run(cli, a),
        Command::Qr(a) => crate::qr::run(cli, a),
        Command::VerifyQr(a) => crate::qr::verify(cli, a),
        Command::Trust(TrustCommand::Scheme { url, key }) => {
            crate::collect::trust_scheme(cli, url, key)
        }
        Command::Present(a) => present(cli, a),
        Command::Verify(a) => verify(cli, a),
        Command::Log => {
            let w = unlocked(cli)?;
            let log = w.audit_log()?;
            if cli.json {
                let rows: Vec<_> = log
                    .iter()
                    .map(|e| {
                        let mut v = serde_json::to_value(e).unwrap_or_default();
                        v["id"] = json!(e.seq);
                        v
                    })
                    .collect();
                print_json(&rows)
            } else {
                for e in &log {
                    println!(
                        "{:>4}  {}  {}",
                        e.seq,
                        date(Some(e.at)),
                        serde_json::to_string(&e.event).unwrap_or_default()
                    );
                }
                println!("Audit log: {} entries, hash chain intact.", log.len());
                Ok(())
            }
        }
    }
}

/// The vault directory: `--vault`, else the platform data dir.
pub fn vault_dir(cli: &Cli) -> Result<PathBuf, CliError> {
    match &cli.vault {
        Some(d) => Ok(d.clone()),
        None => dirs::data_dir()
            .map(|d| d.join("kluis"))
            .ok_or_else(|| CliError::usage("no platform data directory: give --vault DIR")),
    }
}

/// The software device secret, kept beside (not inside) the database file.
pub fn device_store(dir: &Path) -> Arc<dyn DeviceSecretStore> {
    Arc::new(SoftwareDeviceSecretStore::new(dir))
}

/// The PIN from --pin-stdin (first line) or $KLUIS_PIN.
fn read_pin(
    cli: &Cli,
    stdin_lines: &mut Option<std::io::Lines<std::io::StdinLock<'static>>>,
) -> Result<Pin, CliError> {
    if cli.pin_stdin {
        return next_stdin_line(stdin_lines).map(Pin::new);
    }
    match std::env::var("KLUIS_PIN") {
        Ok(p) if !p.is_empty() => Ok(Pin::new(p)),
        _ => Err(CliError::usage(
            "no PIN given: set KLUIS_PIN or use --pin-stdin",
        )),
    }
}

fn next_stdin_line(
    lines: &mut Option<std::io::Lines<std::io::StdinLock<'static>>>,
) -> Result<String, CliError> {
    let it = lines.get_or_insert_with(|| std::io::stdin().lock().lines());
    match it.next() {
        Some(Ok(l)) if !l.trim_end_matches('\r').is_empty() => {
            let l = Zeroizing::new(l);
            Ok(l.trim_end_matches('\r').to_string())
        }
        Some(Err(_)) => Err(CliError::usage("cannot read the PIN from stdin")),
        _ => Err(CliError::usage("no PIN on stdin")),
    }
}

fn open(cli: &Cli) -> Result<Wallet, CliError> {
    let dir = vault_dir(cli)?;
    if !Wallet::exists(&dir) {
        return Err(CliError::other(format!(
            "no vault in {}: run `kluis init` first",
            dir.display()
        )));
    }
    Ok(Wallet::open(&dir, device_store(&dir))?)
}

/// Opens the vault and unlocks it with the PIN, and loads the display-name metadata.
pub(crate) fn unlocked(cli: &Cli) -> Result<Wallet, CliError> {
    let w = open(cli)?;
    let pin = read_pin(cli, &mut None)?;
    w.unlock(&pin)?;
    w.set_type_metadata(crate::demo::type_metadata());
    Ok(w)
}

fn init(cli: &Cli, dangerous_test_kdf: bool) -> Result<(), CliError> {
    let dir = vault_dir(cli)?;
    let pin = read_pin(cli, &mut None)?;
    let opts = if dangerous_test_kdf {
        // Automated tests only: a cheap KDF and a back-off of seconds, so suites run quickly.
        VaultOptions {
            kdf: KdfParams::dangerous_test_profile(),
            policy: VaultPolicy {
                max_attempts: Some(20),
                free_attempts: 2,
                backoff_base_secs: 1,
                backoff_max_secs: 2,
                on_limit: OnLimit::Lockout,
            },
        }
    } else {
        VaultOptions::default()
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::other(format!("cannot create {}: {}", dir.display(), e.kind())))?;
    let w = Wallet::create(&dir, &pin, opts, device_store(&dir))?;
    let st = w.status()?;
    if cli.json {
        print_json(
            &json!({ "vault": dir, "kdf": { "m_kib": st.kdf_m_kib, "t": st.kdf_t, "p": st.kdf_p } }),
        )
    } else {
        println!(
            "Vault created in {} (Argon2id m={} KiB, t={}, p={}).",
            dir.display(),
            st.kdf_m_kib,
            st.kdf_t,
            st.kdf_p
        );
        Ok(())
    }
}

fn status(cli: &Cli) -> Result<(), CliError> {
    let w = open(cli)?;
    // With a PIN, unlock to count records; without one, report what a locked vault can tell.
    let have_pin = cli.pin_stdin || std::env::var("KLUIS_PIN").is_ok_and(|p| !p.is_empty());
    if have_pin {
        w.unlock(&read_pin(cli, &mut None)?)?;
    }
    let s = w.status()?;
    if cli.json {
        print_json(&s)
    } else {
        println!(
            "Vault {}: {}",
            vault_dir(cli)?.display(),
            if s.unlocked { "unlocked" } else { "locked" }
        );
        println!(
            "KDF: Argon2id m={} KiB, t={}, p={}",
            s.kdf_m_kib, s.kdf_t, s.kdf_p
        );
        println!(
            "Wrong PIN attempts: {} (retry after {} s)",
            s.failed_attempts, s.retry_after_secs
        );
        if s.unlocked {
            println!(
                "Credentials: {}  Audit entries: {}",
                s.credentials, s.audit_entries
            );
        }
        Ok(())
    }
}

fn change_pin(cli: &Cli) -> Result<(), CliError> {
    let w = open(cli)?;
    let mut lines = None;
    let old = read_pin(cli, &mut lines)?;
    let new = match std::env::var("KLUIS_NEW_PIN") {
        Ok(p) if !p.is_empty() => Pin::new(p),
        _ => Pin::new(next_stdin_line(&mut lines)?),
    };
    w.change_pin(&old, &new)?;
    if cli.json {
        print_json(&json!({ "changed": true }))
    } else {
        println!("PIN changed.");
        Ok(())
    }
}

fn wipe(cli: &Cli, yes: bool) -> Result<(), CliError> {
    if !yes {
        return Err(CliError::usage(
            "wipe destroys the vault and everything in it: confirm with --yes",
        ));
    }
    let w = unlocked(cli)?;
    let dir = vault_dir(cli)?;
    w.wipe()?;
    if cli.json {
        print_json(&json!({ "wiped": dir }))
    } else {
        println!("Vault in {} wiped.", dir.display());
        Ok(())
    }
}

fn present(cli: &Cli, a: &PresentArgs) -> Result<(), CliError> {
    let presentation = match &a.on_behalf_of {
        Some(mandate) => crate::delegate::present_on_behalf(cli, a, mandate)?,
        None => {
            unlocked(cli)?.present_for(&a.id, &a.claims, &a.nonce, &a.aud, a.purpose.as_deref())?
        }
    };
    match &a.out {
        Some(path) => {
            std::fs::write(path, format!("{presentation}\n")).map_err(|e| {
                CliError::other(format!("cannot write {}: {}", path.display(), e.kind()))
            })?;
            if cli.json {
                print_json(&json!({ "out": path, "claims": a.claims }))
            } else {
                println!(
                    "Presentation of {} claim(s) written to {}.",
                    a.claims.len(),
                    path.display()
                );
                Ok(())
            }
        }
        None => {
            println!("{presentation}");
            Ok(())
        }
    }
}

fn verify(cli: &Cli, a: &VerifyArgs) -> Result<(), CliError> {
    let mut trust = TrustList::new();
    for f in &a.trust {
        let jwk = PublicJwk::from_json(&read_text(f)?).map_err(|e| {
            CliError::usage(format!("{} is not a P-256 public JWK: {e}", f.display()))
        })?;
        trust.add_for_any_issuer(jwk);
    }
    if a.trust.is_empty() {
        trust = TrustList::from_entries(&unlocked(cli)?.trusted_issuers()?);
    }
    let text = read_text(&a.file)?;
    let expect = Expectations::new(&a.nonce, &a.aud);
    if a.batch {
        let lines: Vec<&str> = text.lines().collect();
        let summary = verifier::verify_batch(&lines, &trust, &expect);
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
    let v = crate::delegate::verify_one(&text, &trust, &expect)?;
    if cli.json {
        print_json(
            &json!({ "valid": true, "issuer": v.issuer, "vct": v.vct, "claims": v.claims, "on_behalf": crate::delegate::on_behalf_json(&v) }),
        )
    } else {
        if let Some(line) = crate::delegate::on_behalf_text(&v) {
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

/// Reads a text file (or stdin for `-`), bounded in size.
pub fn read_text(path: &Path) -> Result<String, CliError> {
    let mut buf = String::new();
    let res = if path == Path::new("-") {
        std::io::stdin()
            .lock()
            .take(MAX_INPUT_BYTES + 1)
            .read_to_string(&mut buf)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_string(&mut buf))
    };
    match res {
        Ok(n) if n as u64 > MAX_INPUT_BYTES => Err(CliError::invalid(format!(
            "{} is larger than {} MiB",
            path.display(),
            MAX_INPUT_BYTES >> 20
        ))),
        Ok(_) => Ok(buf),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(CliError::invalid(format!(
            "{} is not UTF-8 text",
            path.display()
        ))),
        Err(e) => Err(CliError::other(format!(
            "cannot read {}: {}",
            path.display(),
            e.kind()
        ))),
    }
}
