//! `kluis log`: the audit log, its hash chain checked.

use serde_json::json;

use crate::args::Cli;
use crate::output::{date, print_json, CliError};
use crate::shared::unlocked;

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
