//! Test helper for the foreign-language tests (Kotlin, Python): issues the fixture holders'
//! sample credentials for a fictional citizen to a wallet's holder key, so those tests import
//! real, freshly signed SD-JWT VCs through the binding.
//!
//! `sample_issuer CITIZEN HOLDER_JWK_JSON` prints tab-separated lines (no JSON parser needed on
//! the JVM; none of the fields can hold a tab or newline):
//! `issuer <TAB> ISSUER_ID <TAB> PUBLIC_JWK_JSON` for every simulated holder, then
//! `credential <TAB> ISSUER_ID <TAB> VCT <TAB> COMPACT_SD_JWT_VC` for every sample.

use std::process::ExitCode;

use kluis_core::sdjwt::PublicJwk;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [citizen, holder_jwk] = args.as_slice() else {
        eprintln!("usage: sample_issuer CITIZEN HOLDER_JWK_JSON");
        return ExitCode::from(2);
    };
    match run(citizen, holder_jwk) {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sample_issuer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(citizen: &str, holder_jwk: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let holder_jwk = PublicJwk::from_json(holder_jwk)?;
    let samples = kluis_fixtures::issue_all_for(citizen, &holder_jwk, kluis_core::now_unix())?;
    let mut lines = Vec::new();
    for h in kluis_fixtures::holders()? {
        lines.push(format!("issuer\t{}\t{}", h.iss, h.public_jwk()?.to_value()));
    }
    for s in samples {
        lines.push(format!(
            "credential\t{}\t{}\t{}",
            s.holder.iss, s.vct, s.compact
        ));
    }
    Ok(lines)
}
