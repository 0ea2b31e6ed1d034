//! One module per command (or family of commands); [`run`] only dispatches. Each command opens
//! the wallet it needs through [`crate::shared`], calls the core, and prints (views that several
//! commands print are in [`crate::views`]). No command module uses another.
//!
//! Adding a command: a variant in `args.rs`, a module here with a `pub fn` taking `&Cli` and its
//! arguments, and one arm below.

mod backup;
mod collect;
mod credentials;
mod delegate;
mod demo;
mod log;
mod present;
mod present_request;
mod qr;
mod trust;
mod vault;
mod verify;

use crate::args::{Cli, Command, TrustCommand};
use crate::output::CliError;

pub fn run(cli: &Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Init(a) => vault::init(cli, a.dangerous_test_kdf),
        Command::Status => vault::status(cli),
        Command::ChangePin => vault::change_pin(cli),
        Command::Wipe { yes } => vault::wipe(cli, *yes),
        Command::RecoverySecret { replace } => backup::recovery_secret(cli, *replace),
        Command::Backup { out } => backup::backup(cli, out),
        Command::Restore(a) => backup::restore(cli, a),
        Command::Trust(TrustCommand::AddIssuer {
            issuer_id,
            jwk_file,
        }) => trust::add_issuer(cli, issuer_id, jwk_file),
        Command::Trust(TrustCommand::List) => trust::list(cli),
        Command::Trust(TrustCommand::Scheme { url, key }) => trust::scheme(cli, url, key),
        Command::Import { files } => credentials::import(cli, files),
        Command::List(lang) => credentials::list(cli, &lang.lang),
        Command::Delete { id } => credentials::delete(cli, id),
        Command::Key => credentials::key(cli),
        Command::Show {
            id,
            lang,
            on_behalf_of: Some(mandate),
        } => credentials::show_on_behalf(cli, mandate, id, &lang.lang),
        Command::Show { id, lang, .. } => credentials::show(cli, id, &lang.lang),
        Command::Present(a) => present::present(cli, a),
        Command::Verify(a) => verify::verify(cli, a),
        Command::Log => log::show(cli),
        Command::Forget { entry } => log::forget(cli, *entry),
        Command::Demo => demo::run(cli.json),
        Command::Collect(a) => collect::collect(cli, a),
        Command::Overview(a) => collect::overview(cli, a),
        Command::Refresh { force } => collect::refresh(cli, *force),
        Command::StatusCheck => collect::status_check(cli),
        Command::Delegate(a) => delegate::delegate(cli, a),
        Command::AcceptMandate { file } => delegate::accept(cli, file),
        Command::Mandates => delegate::list(cli),
        Command::RevokeMandate { id } => delegate::revoke(cli, id),
        Command::PresentRequest(a) => present_request::run(cli, a),
        Command::Qr(a) => qr::run(cli, a),
        Command::VerifyQr(a) => qr::verify(cli, a),
    }
}
