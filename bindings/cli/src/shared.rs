//! What every command shares: the vault directory and device store, opening and unlocking the
//! vault (PIN from `--pin-stdin` or `$KLUIS_PIN`), reading inputs, the consent prompt, and the
//! small async runtime the core's futures run on. Commands use these; no command module uses
//! another.

use std::future::Future;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kluis_core::openid4vp::offline::scheme_trust;
use kluis_core::openid4vp::verifier::VerifierTrust;
use kluis_core::sdjwt::{MetadataRegistry, PublicJwk, TypeMetadata};
use kluis_core::{
    DeviceSecretStore, KdfParams, OnLimit, Pin, SoftwareDeviceSecretStore, VaultOptions,
    VaultPolicy, Wallet,
};
use zeroize::Zeroizing;

use crate::args::Cli;
use crate::output::CliError;

/// Largest input file the command reads (credentials, keys, presentation batches).
const MAX_INPUT_BYTES: u64 = 64 * 1024 * 1024;

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

/// The options of a new vault (`init`, `restore`): the defaults, or with `dangerous_test_kdf`
/// (automated tests only) a cheap KDF and a back-off of seconds, so suites run quickly.
pub fn vault_options(dangerous_test_kdf: bool) -> VaultOptions {
    if dangerous_test_kdf {
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
    }
}

/// Shows a new recovery secret once (`init`, `recovery-secret`).
pub fn print_recovery_words(words: &str) {
    println!("Recovery secret: write these 12 words down and keep them apart from this device.");
    println!("They are shown only now, and they are the only way to restore a backup:");
    println!("  {words}");
}

/// The PIN from --pin-stdin (first line) or $KLUIS_PIN.
pub fn read_pin(
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

pub fn next_stdin_line(
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

pub fn open(cli: &Cli) -> Result<Wallet, CliError> {
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
    w.set_type_metadata(type_metadata());
    Ok(w)
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

/// Runs a future of the core on a small runtime (the CLI is otherwise synchronous).
pub fn block_on<F: Future>(f: F) -> Result<F::Output, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::other(format!("cannot start the async runtime: {}", e.kind())))?;
    Ok(rt.block_on(f))
}

/// Display names for the simulated holders' credential types.
pub fn type_metadata() -> MetadataRegistry {
    let mut registry = MetadataRegistry::default();
    for doc in kluis_fixtures::TYPE_METADATA {
        if let Ok(m) = TypeMetadata::from_json(doc) {
            registry.insert(m);
        }
    }
    registry
}

/// Where a consent question is asked: stdout, or stderr when stdout carries the payload.
#[derive(Clone, Copy)]
pub enum Prompt {
    Stdout,
    Stderr,
}

/// Whether the citizen shares the presentation shown: `--decline` or `--yes` when given; JSON
/// output is for scripts, so without either it declines; otherwise asked on the terminal.
pub fn consent_to_share(decline: bool, yes: bool, json: bool, prompt: Prompt) -> bool {
    if decline {
        false
    } else if yes {
        true
    } else if json {
        false
    } else {
        ask("Share exactly the claims marked [x]?", prompt)
    }
}

/// Asks `question` on the terminal; a stdin that is not a terminal declines.
pub fn ask(question: &str, prompt: Prompt) -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        eprintln!("kluis: stdin is not a terminal: declining (use --yes to share)");
        return false;
    }
    match prompt {
        Prompt::Stdout => {
            print!("{question} [y/N] ");
            let _ = std::io::stdout().flush();
        }
        Prompt::Stderr => eprint!("{question} [y/N] "),
    }
    let mut line = String::new();
    if stdin.lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes" | "ja" | "j")
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
