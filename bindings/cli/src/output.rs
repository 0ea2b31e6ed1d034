//! Errors and printing. One function maps core errors to the CLI's exit codes.

use kluis_core::{Error, ErrorCode};

/// A failure of one command: the sentence for stderr and the exit code.
#[derive(Debug)]
pub struct CliError {
    message: String,
    code: u8,
}

pub const EXIT_OTHER: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_AUTH: u8 = 3;
pub const EXIT_INTEGRITY: u8 = 4;
pub const EXIT_INVALID: u8 = 5;

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }

    pub fn other(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_OTHER,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: EXIT_INVALID,
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    pub fn exit_code(&self) -> u8 {
        self.code
    }
}

impl From<Error> for CliError {
    fn from(e: Error) -> Self {
        let code = match e.code() {
            ErrorCode::Authentication => EXIT_AUTH,
            ErrorCode::Integrity => EXIT_INTEGRITY,
            ErrorCode::InvalidCredential => EXIT_INVALID,
            ErrorCode::InvalidInput => EXIT_USAGE,
            ErrorCode::Other => EXIT_OTHER,
        };
        CliError {
            message: sentence(&e.to_string()),
            code,
        }
    }
}

impl From<kluis_core::VerifierError> for CliError {
    fn from(e: kluis_core::VerifierError) -> Self {
        Error::from(e).into()
    }
}

/// Makes one sentence: a capital letter and a full stop.
fn sentence(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    let mut chars = s.chars();
    if let Some(first) = chars.next() {
        out.extend(first.to_uppercase());
        out.push_str(chars.as_str());
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::other(format!("cannot format output: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A Unix time as an ISO date (UTC), for human output.
pub fn date(t: Option<i64>) -> String {
    match t {
        None => "-".to_string(),
        Some(t) => {
            let days = t.div_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            format!("{y:04}-{m:02}-{d:02}")
        }
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_gregorian() {
        assert_eq!(date(Some(0)), "1970-01-01");
        assert_eq!(date(Some(1_795_392_000)), "2026-11-23");
        assert_eq!(date(None), "-");
    }

    #[test]
    fn errors_become_sentences() {
        assert_eq!(sentence("wrong PIN"), "Wrong PIN.");
    }
}
