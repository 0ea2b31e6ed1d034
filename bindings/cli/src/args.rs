//! The command contract (see docs/CLI.md in shared docs): names, flags and exit codes are relied on
//! by scripts and checks outside this repository.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// kluis: your own data wallet. Collect verified data, keep it encrypted, share only what is needed.
#[derive(Debug, Parser)]
#[command(name = "kluis", version, about, long_about = None)]
pub struct Cli {
    /// Vault directory (default: the platform data dir, e.g. ~/.local/share/kluis).
    #[arg(long, global = true, value_name = "DIR")]
    pub vault: Option<PathBuf>,
    /// Machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// Read the PIN from the first line of stdin instead of $KLUIS_PIN.
    #[arg(long, global = true)]
    pub pin_stdin: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new vault protected by the PIN.
    Init(InitArgs),
    /// Show whether the vault is locked, its KDF parameters and counts.
    Status,
    /// Change the PIN (new PIN from $KLUIS_NEW_PIN or stdin); only the data key is rewrapped.
    ChangePin,
    /// Make a new recovery secret (12 words, shown once) for a wallet made before backups, or
    /// replace the current one with --replace (older backups keep opening with the old words).
    RecoverySecret {
        /// Replace an existing recovery secret.
        #[arg(long)]
        replace: bool,
    },
    /// Write an encrypted backup of the whole wallet to FILE (sealed for the recovery secret).
    Backup {
        /// Where to write the backup (replaced only by a complete one).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into a new vault on this device: the recovery words from
    /// $KLUIS_RECOVERY_WORDS or the first stdin line, the new PIN from $KLUIS_PIN (or the next
    /// stdin line with --pin-stdin). Lists the credentials to collect again.
    Restore(RestoreArgs),
    /// Destroy the vault and its device secret.
    Wipe {
        /// Confirm: this cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Manage trusted issuers.
    #[command(subcommand)]
    Trust(TrustCommand),
    /// Verify credentials (compact SD-JWT VCs; FILE or - for stdin) and store them. With several
    /// files, each is stored as soon as it is verified and reported on its own line; the first
    /// failure stops the run.
    Import {
        /// Files with one credential each, or - for stdin.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List stored credentials (id, issuer, type, issued, expires).
    List(LangArg),
    /// Delete a credential.
    Delete {
        /// Credential id (from `kluis list`).
        id: String,
    },
    /// This wallet's holder public key as a JWK.
    Key,
    /// Show all claims of a credential, with display names.
    Show {
        /// Credential id (with --on-behalf-of: a credential under the mandate, or its type).
        id: String,
        #[command(flatten)]
        lang: LangArg,
        /// As a helper: the claims the mandate covers (needs `view` in its actions).
        #[arg(long, value_name = "MANDATE_ID")]
        on_behalf_of: Option<String>,
    },
    /// Make a presentation disclosing only the given claims, key-bound to NONCE and AUD.
    Present(PresentArgs),
    /// Verify a presentation (as a requesting party) and print the disclosed claims.
    Verify(VerifyArgs),
    /// Show the audit log (every issuance, disclosure, deletion), after checking its hash chain.
    Log,
    /// Ask the party of a disclosure (ENTRY: its id in `kluis log`) to delete what it received;
    /// its signed receipt is checked and added to the log.
    Forget {
        /// The audit log entry of the disclosure.
        entry: u64,
    },
    /// Run the main job end to end in a temporary vault: collect, keep, show, share, verify.
    Demo,
    /// Collect credentials from a data holder's offer (QR / deep link); shows who offers what.
    Collect(CollectArgs),
    /// One integrated overview: debts per holder and in total, income, address, vehicles; as a
    /// helper, each client's under their mandate (--on-behalf-of M, or all).
    Overview(OverviewArgs),
    /// Refresh stale credentials from their holders and pick up deferred ones.
    Refresh {
        /// Refresh every collected credential, stale or not.
        #[arg(long)]
        force: bool,
    },
    /// Check expiry and the holders' status lists; mark credentials revoked/suspended/expired.
    StatusCheck,
    /// Give a helper a mandate: the credentials in scope, encrypted to the helper's key.
    Delegate(DelegateArgs),
    /// Accept a mandate package (as the helper): verified, stored apart from your own credentials.
    AcceptMandate {
        /// The package file from `kluis delegate`.
        file: PathBuf,
    },
    /// Mandates given and received; received ones that are revoked or expired are dropped.
    Mandates,
    /// Revoke a mandate you gave; the revocation is published at once.
    RevokeMandate {
        /// Mandate id (from `kluis mandates`).
        id: String,
    },
    /// Answer a requesting party's OpenID4VP request (their QR / openid4vp:// link): shows who
    /// asks, why, for how long and which claims; shares only that, or declines.
    PresentRequest(PresentRequestArgs),
    /// Show your QR code to a party in person: a session QR (replay-safe; the party sends its
    /// request over the relay and you consent) or an offline QR (no network; valid 2 minutes).
    Qr(QrArgs),
    /// As a requesting party: verify a citizen's QR (payload text, a text file or a PNG).
    VerifyQr(VerifyQrArgs),
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["session", "offline"])))]
pub struct QrArgs {
    /// A session QR: the party scans it and sends its own request (the default to prefer).
    #[arg(long)]
    pub session: bool,
    /// An offline QR: the whole presentation in the code, for one party, valid 2 minutes.
    #[arg(long)]
    pub offline: bool,
    /// What to disclose (offline): a DCQL query file, or the party's openid4vp:// link.
    #[arg(long, value_name = "FILE_OR_URI", conflicts_with = "preset")]
    pub request: Option<String>,
    /// A standard disclosure (offline): `rental` = name, current address, monthly income,
    /// no registered payment arrears.
    #[arg(long, value_parser = ["rental"])]
    pub preset: Option<String>,
    /// The party the offline QR is for (its client identifier, the key-binding `aud`).
    #[arg(long, value_name = "CLIENT_ID")]
    pub to: Option<String>,
    /// Also write the QR as a PNG image.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Draw the QR on stderr even when it is not a terminal.
    #[arg(long)]
    pub show: bool,
    /// The relay that carries the session (base URL).
    #[arg(long, env = "KLUIS_RELAY", value_name = "URL")]
    pub relay: Option<String>,
    /// Session: share without asking.
    #[arg(long)]
    pub yes: bool,
    /// Session: decline without asking (the party is told).
    #[arg(long)]
    pub decline: bool,
    /// Session: how long to wait for the party, in seconds.
    #[arg(long, default_value_t = 120)]
    pub wait: u64,
    /// Language for names: nl or en.
    #[arg(long, default_value = "nl", value_parser = ["nl", "en"])]
    pub lang: String,
    /// Session: answer as a helper under this mandate (`kluis mandates`). Not with --offline:
    /// an offline verifier cannot check a mandate's revocation.
    #[arg(long, value_name = "MANDATE_ID")]
    pub on_behalf_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyQrArgs {
    /// The QR: its text, a file with the text or a PNG image, or - for stdin.
    pub input: String,
    /// This party's client identifier: the audience an offline QR must carry; the client_id a
    /// session request is signed as.
    #[arg(long, value_name = "CLIENT_ID")]
    pub aud: Option<String>,
    /// A trusted issuer key, bound to its issuer id: ISSUER=JWK_FILE (or a JWK file with an
    /// "iss" member).
    #[arg(long, value_name = "ISSUER=JWK_FILE")]
    pub trust: Vec<String>,
    /// Trust the scheme's participant list at URL (its holders, for their listed types).
    #[arg(long, value_name = "URL")]
    pub scheme: Option<String>,
    /// The scheme's public key, pinned.
    #[arg(long, value_name = "JWK_FILE")]
    pub scheme_key: Option<PathBuf>,
    /// Offline: remember accepted QR codes in this file, so a replay is seen across runs.
    #[arg(long, value_name = "FILE")]
    pub replay_cache: Option<PathBuf>,
    /// Offline: keep the issuers' status lists in this file, so a desk without network can
    /// still check revocation with the lists it fetched earlier.
    #[arg(long, value_name = "FILE")]
    pub status_cache: Option<PathBuf>,
    /// Offline: the oldest status list accepted (seconds since its issuer made it) once the
    /// list's own ttl has run out; older means "status not checked".
    #[arg(long, value_name = "SECS", default_value_t = kluis_core::status::DEFAULT_OFFLINE_LIST_AGE_SECS)]
    pub status_max_age: i64,
    /// Session: the private JWK that signs this party's request objects.
    #[arg(long, value_name = "JWK_FILE")]
    pub key: Option<PathBuf>,
    /// Session: the request's response_uri (on this party's registered origin).
    #[arg(long, value_name = "URL")]
    pub response_uri: Option<String>,
    /// Session: the DCQL query file to ask.
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    pub request: Option<String>,
    /// Session: a standard query (`rental`).
    #[arg(long, value_parser = ["rental"])]
    pub preset: Option<String>,
    /// Session: the purpose id to state with --request.
    #[arg(long, value_name = "ID")]
    pub purpose: Option<String>,
    /// Session: how long to wait for the citizen, in seconds.
    #[arg(long, default_value_t = 120)]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct PresentRequestArgs {
    /// The request: openid4vp://?client_id=...&request_uri=...
    pub uri: String,
    /// Share only these claim paths (and what is under them), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub select: Option<Vec<String>>,
    /// Share without asking.
    #[arg(long)]
    pub yes: bool,
    /// Decline without asking (the party is told).
    #[arg(long)]
    pub decline: bool,
    /// Language for names: nl or en.
    #[arg(long, default_value = "nl", value_parser = ["nl", "en"])]
    pub lang: String,
    /// Answer as a helper under this mandate (`kluis mandates`): the credentials under it
    /// answer the queries the mandate fully covers; --select does not apply.
    #[arg(long, value_name = "MANDATE_ID")]
    pub on_behalf_of: Option<String>,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// The credential offer: openid-credential-offer://?credential_offer=... or ...credential_offer_uri=...;
    /// with --on-behalf-of, the holder's issuer identifier (https://...).
    pub offer_uri: String,
    /// The transaction code the holder sent (by letter or SMS).
    #[arg(long, conflicts_with = "on_behalf_of")]
    pub tx_code: Option<String>,
    /// As a helper: collect for the citizen under received mandate M (its id from `mandates`),
    /// at the holder named instead of an offer; kept with the mandate (docs/DELEGATION.md §8).
    #[arg(long, value_name = "M")]
    pub on_behalf_of: Option<String>,
    /// With --on-behalf-of: only these types (comma-separated); default every type of the
    /// mandate's scope the holder issues.
    #[arg(long, value_delimiter = ',', requires = "on_behalf_of")]
    pub types: Vec<String>,
    /// Copies per credential (batch issuance, each bound to its own key); at most 10.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=10))]
    pub copies: u8,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Cheap Argon2id and short back-off, for automated tests only. Never for real use.
    #[arg(long, hide = true)]
    pub dangerous_test_kdf: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file from `kluis backup`.
    pub file: PathBuf,
    /// Cheap Argon2id and short back-off for the new vault, for automated tests only.
    #[arg(long, hide = true)]
    pub dangerous_test_kdf: bool,
}

#[derive(Debug, Args)]
pub struct OverviewArgs {
    /// As a helper: the overview of the client under received mandate M (its id from
    /// `mandates`), or `all`: one section per client; from the mandate's credentials, with how
    /// old each source is.
    #[arg(long, value_name = "M")]
    pub on_behalf_of: Option<String>,
    /// With --on-behalf-of: collect again at every holder under the mandate first.
    #[arg(long, requires = "on_behalf_of")]
    pub refresh: bool,
    /// Language for display names: nl or en.
    #[arg(long, default_value = "nl", value_parser = ["nl", "en"])]
    pub lang: String,
}

#[derive(Debug, Args)]
pub struct LangArg {
    /// Language for display names: nl or en.
    #[arg(long, default_value = "nl", value_parser = ["nl", "en"])]
    pub lang: String,
}

#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a public P-256 JWK for credentials whose `iss` is ISSUER_ID.
    AddIssuer {
        /// Issuer identifier, as in the credentials' `iss`.
        issuer_id: String,
        /// File with the issuer's public JWK.
        jwk_file: PathBuf,
    },
    /// List trusted issuers.
    List,
    /// Pin the scheme key and fetch its signed participant list from URL.
    Scheme {
        /// Where the participant list is published.
        url: String,
        /// File with the scheme's public JWK.
        #[arg(long, value_name = "JWK_FILE")]
        key: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct PresentArgs {
    /// Credential id.
    pub id: String,
    /// Claim paths to disclose, comma-separated: /given_name,/address/locality,/nationalities/0
    #[arg(long, value_delimiter = ',', required = true)]
    pub claims: Vec<String>,
    /// The requesting party's nonce.
    #[arg(long)]
    pub nonce: String,
    /// The requesting party's identifier (audience).
    #[arg(long)]
    pub aud: String,
    /// Write the presentation here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Present as a helper under this mandate; ID is then a credential under it (its id from
    /// `kluis mandates`, or its type).
    #[arg(long, value_name = "MANDATE_ID")]
    pub on_behalf_of: Option<String>,
    /// The purpose the requesting party stated (logged; checked against a mandate's purposes).
    #[arg(long)]
    pub purpose: Option<String>,
}

#[derive(Debug, Args)]
pub struct DelegateArgs {
    /// File with the helper's public key (their `kluis key --json`).
    #[arg(long, value_name = "KEY_FILE")]
    pub to: PathBuf,
    /// Credential types in scope, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub types: Vec<String>,
    /// Claim paths in scope, comma-separated (default: every claim of those types).
    #[arg(long, value_delimiter = ',')]
    pub claims: Option<Vec<String>>,
    /// Actions allowed, comma-separated: present, view, refresh.
    #[arg(long, value_delimiter = ',', required = true)]
    pub actions: Vec<String>,
    /// Last day of validity (YYYY-MM-DD, through the end of that day UTC), or YYYY-MM-DDTHH:MM:SSZ.
    #[arg(long)]
    pub until: String,
    /// Requesting parties (client ids) the helper may present to, comma-separated (default: any).
    #[arg(long, value_delimiter = ',')]
    pub parties: Option<Vec<String>>,
    /// Purposes the helper may present for, comma-separated (default: any).
    #[arg(long, value_delimiter = ',')]
    pub purposes: Option<Vec<String>>,
    /// Whom the package is for, shown in both wallets (e.g. "Mama").
    #[arg(long)]
    pub label: Option<String>,
    /// The mandate registry where the revocation list is published.
    #[arg(long, env = "KLUIS_MANDATE_REGISTRY", value_name = "URL")]
    pub registry: String,
    /// Where to write the encrypted package.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Presentation file (- for stdin); with --batch, one presentation per line.
    pub file: PathBuf,
    /// The file holds one presentation per line; print a JSON summary.
    #[arg(long)]
    pub batch: bool,
    /// The nonce the verifier gave.
    #[arg(long)]
    pub nonce: String,
    /// The verifier's identifier.
    #[arg(long)]
    pub aud: String,
    /// A trusted issuer key, bound to its issuer id: ISSUER=JWK_FILE (or a JWK file with an
    /// "iss" member); without any (and no --scheme), the vault's trusted issuers are used (needs
    /// the PIN).
    #[arg(long, value_name = "ISSUER=JWK_FILE")]
    pub trust: Vec<String>,
    /// Trust the scheme's participant list at URL (its holders, for their listed types).
    #[arg(long, value_name = "URL")]
    pub scheme: Option<String>,
    /// The scheme's public key, pinned.
    #[arg(long, value_name = "JWK_FILE")]
    pub scheme_key: Option<PathBuf>,
}
