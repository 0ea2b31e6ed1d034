//! Test helper for the foreign-language tests (Kotlin, Python): issues the fixture holders'
//! sample credentials for a fictional citizen to a wallet's holder key, so those tests import
//! real, freshly signed SD-JWT VCs through the binding.
//!
//! `sample_issuer CITIZEN HOLDER_JWK_JSON` prints one JSON object:
//! `{"issuers": [{"issuer_id", "jwk"}], "credentials": [{"issuer_id", "vct", "compact"}]}`.

use std::process::ExitCode;

use kluis_core::sdjwt::PublicJwk;
use serde_json::json;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [citizen, holder_jwk] = args.as_slice() else {
        eprintln!("usage: sample_issuer CITIZEN HOLDER_JWK_JSON");
        return ExitCode::from(2);
    };
    match run(citizen, holder_jwk) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sample_issuer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(citizen: &str, holder_jwk: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    let holder_jwk = PublicJwk::from_json(holder_jwk)?;
    let samples = kluis_fixtures::issue_all_for(citizen, &holder_jwk, kluis_core::now_unix())?;
    let mut issuers = Vec::new();
    for h in kluis_fixtures::holders()? {
        issuers.push(json!({ "issuer_id": h.iss, "jwk": h.public_jwk()?.to_value().to_string() }));
    }
    let credentials: Vec<_> = samples
        .iter()
        .map(|s| json!({ "issuer_id": s.holder.iss, "vct": s.vct, "compact": s.compact }))
        .collect();
    Ok(json!({ "issuers": issuers, "credentials": credentials }))
}
