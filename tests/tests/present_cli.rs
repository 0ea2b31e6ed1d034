//! `kluis present-request` as a user runs it: `kluis-fixtures verifiers --json` as a child process
//! (holders, scheme, landlord, bank), `kluis` collecting from the holders, then answering the
//! landlord's and the bank's requests: share, decline, a replay, a bad signature, a network
//! failure, `--select`, and a non-interactive stdin (which declines). Exit codes per the contract.
//!
//! Needs the `kluis` and `kluis-fixtures` binaries built in the same target directory
//! (`cargo build -p kluis-cli -p kluis-fixtures`; a workspace `cargo test` builds them).
#![allow(clippy::unwrap_used)]

use std::process::Stdio;

use kluis_tests::fixtures_cli::{get_json, http, KluisVault, Verifiers};

use serde_json::Value;

#[test]
fn present_request_from_the_command_line() {
    let world = Verifiers::start("daan");
    let landlord = world.party("woningcorporatie-eemland");
    let bank = world.party("bank-utrecht");
    assert!(landlord["page_url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(landlord["request_uri"]
        .as_str()
        .unwrap()
        .starts_with("openid4vp://?client_id=woningcorporatie-eemland&request_uri="));

    // The holders' offers are on stderr: one per holder with data about daan.
    let offers = world.offers.clone();

    let cli = KluisVault::init();
    cli.ok(&[
        "trust",
        "scheme",
        landlord["scheme"].as_str().unwrap(),
        "--key",
        landlord["scheme_key_file"].as_str().unwrap(),
    ]);
    for (uri, code) in &offers {
        cli.ok(&["collect", uri, "--tx-code", code]);
    }

    // Share with the landlord (--yes): exit 0, the landlord verified it.
    let link = landlord["request_uri"].as_str().unwrap();
    let out = cli.ok(&["--json", "present-request", link, "--yes", "--lang", "en"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "shared");
    assert_eq!(v["request"]["party"]["name"], "Eemland Housing Association");
    assert_eq!(v["outcome"]["disclosed"].as_array().unwrap().len(), 3);
    let result = get_json(landlord["result_url"].as_str().unwrap());
    assert_eq!(result["status"], "verified", "{result}");

    // The same link again: the landlord's service no longer hands out an answered request;
    // nothing is sent (exit 1, the reason on stderr). A copy with the same nonce served
    // elsewhere the wallet refuses itself (present_remote: RequestFault::ReplayNonce).
    let out = cli.run(&["present-request", link, "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did not hand out its request (HTTP 404)")
    );

    // Text output and an explicit decline: the landlord is told.
    let base = landlord["page_url"].as_str().unwrap().trim_end_matches('/');
    let s = get_json(&format!("{base}/api/session/new"));
    let out = cli.ok(&[
        "present-request",
        s["request_uri"].as_str().unwrap(),
        "--decline",
        "--lang",
        "en",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Eemland Housing Association"), "{text}");
    assert!(text.contains("keeps the data 30 days"), "{text}");
    assert!(text.contains("Declined"), "{text}");
    let r = get_json(&format!(
        "{base}/api/result/{}",
        s["state"].as_str().unwrap()
    ));
    assert_eq!(r["status"], "declined");

    // No --yes / --decline and a stdin that is not a terminal: declines.
    let s = get_json(&format!("{base}/api/session/new"));
    let out = cli.run_with(
        &["present-request", s["request_uri"].as_str().unwrap()],
        Stdio::piped(),
    );
    assert_eq!(out.status.code(), Some(0));
    let r = get_json(&format!(
        "{base}/api/result/{}",
        s["state"].as_str().unwrap()
    ));
    assert_eq!(r["status"], "declined");

    // --select leaving out a required query: refused (usage), nothing sent.
    let s = get_json(&format!("{base}/api/session/new"));
    let out = cli.run(&[
        "present-request",
        s["request_uri"].as_str().unwrap(),
        "--select",
        "/given_name,/family_name,/address",
        "--yes",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = get_json(&format!(
        "{base}/api/result/{}",
        s["state"].as_str().unwrap()
    ));
    assert_eq!(r["status"], "pending");

    // The bank (x509_hash: its access certificate from the scheme's CA), sharing only the
    // person and income with --select.
    let bank_link = bank["request_uri"].as_str().unwrap();
    let out = cli.ok(&[
        "--json",
        "present-request",
        bank_link,
        "--select",
        "/given_name,/family_name,/birthdate,/address,/year,/total_gross_income_eur",
        "--yes",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["request"]["party"]["client_id"]
            .as_str()
            .unwrap()
            .starts_with("x509_hash:"),
        "{v}"
    );
    assert_eq!(v["request"]["party"]["registered"], true, "{v}");
    let r = get_json(bank["result_url"].as_str().unwrap());
    assert_eq!(r["status"], "verified", "{r}");

    // --yes and nothing in the wallet answers: the party is told (OpenID4VP 1.0 §5.6), exit 2,
    // nothing shared, the decline logged with its reason.
    http(
        "POST",
        &format!("{base}/admin/fault"),
        r#"{"fault":"nothing_matches"}"#,
    );
    let s = get_json(&format!("{base}/api/session/new"));
    let out = cli.run(&[
        "present-request",
        s["request_uri"].as_str().unwrap(),
        "--yes",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the party was told"), "{err}");
    let r = get_json(&format!(
        "{base}/api/result/{}",
        s["state"].as_str().unwrap()
    ));
    assert_eq!(r["status"], "declined", "{r}");
    let out = cli.ok(&["--json", "log"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing-to-answer"));

    // A bad signature: exit 5.
    http(
        "POST",
        &format!("{base}/admin/fault"),
        r#"{"fault":"bad_signature"}"#,
    );
    let s = get_json(&format!("{base}/api/session/new"));
    let out = cli.run(&[
        "present-request",
        s["request_uri"].as_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    http(
        "POST",
        &format!("{base}/admin/fault"),
        r#"{"fault":"none"}"#,
    );

    // Nobody listening at the request_uri: exit 1 (network).
    let out = cli.run(&[
        "present-request",
        "openid4vp://?client_id=woningcorporatie-eemland&request_uri=http%3A%2F%2F127.0.0.1%3A9%2Frequest%2Fx",
        "--yes",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The log shows the disclosures, the decline and the refusals.
    let out = cli.ok(&["--json", "log"]);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("presentation_declined"));
    assert!(log.contains("presentation_refused"));
    assert!(log.contains("\"channel\":\"remote\"") || log.contains("\"channel\": \"remote\""));
}
