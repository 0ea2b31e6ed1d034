//! `kluis log`: the audit log, its hash chain checked.

use kluis_core::audit::AuditEvent;
use serde_json::json;

use crate::args::Cli;
use crate::output::{date, print_json, CliError};
use crate::shared::{block_on, unlocked};

/// `kluis log`.
pub fn show(cli: &Cli) -> Result<(), CliError> {
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
            if let AuditEvent::DeletedByParty {
                entry,
                audience,
                deleted_at,
                ..
            } = &e.event
            {
                println!(
                    "{:>4}  {}  entry {entry}: deleted by the party {audience} on {} (signed receipt kept)",
                    e.seq,
                    date(Some(e.at)),
                    date(Some(*deleted_at))
                );
                continue;
            }
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

/// `kluis forget ENTRY`.
pub fn forget(cli: &Cli, entry: u64) -> Result<(), CliError> {
    let w = unlocked(cli)?;
    let done = block_on(w.forget(entry, kluis_core::issuance::HttpPolicy::default()))??;
    if cli.json {
        print_json(&done)
    } else {
        println!(
            "Entry {}: deleted by the party {} on {} ({} result(s)); receipt logged as entry {}.",
            done.entry,
            done.audience,
            date(Some(done.deleted_at)),
            done.deleted,
            done.logged_as
        );
        Ok(())
    }
}
