//! `kluis qr` and `kluis verify-qr` as a citizen and a landlord's desk run them, against the
//! simulated holders, scheme, landlord and relay on loopback (started in this process): the
//! offline rental QR (PNG read back with rqrr, verified once, refused when replayed, for another
//! party, or truncated: exit 5) and the session QR (two processes meeting over the relay).
//!
//! Needs the `kluis` binary built in the same target directory (`cargo build -p kluis-cli`; a
//! workspace `cargo test` builds it).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use kluis_fixtures::servers::{HolderOptions, Network, LANDLORD};
use kluis_tests::fixtures_cli::KluisVault;
use serde_json::Value;

fn landlord_key_file() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/data/keys/verifier-woningcorporatie-eemland.private.jwk.json")
        .display()
        .to_string()
}

#[test]
fn qr_and_verify_qr_from_the_command_line() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = rt
        .block_on(Network::start(None, |_| HolderOptions::default()))
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let scheme_key = work.path().join("scheme.jwk");
    std::fs::write(
        &scheme_key,
        net.scheme.public_jwk().unwrap().to_value().to_string(),
    )
    .unwrap();
    let scheme_key = scheme_key.display().to_string();
    let list = net.scheme.list_uri();

    // The citizen: a vault, the scheme pinned, everything collected, the holders' small
    // rental-purpose credentials too (their own offers).
    let cli = KluisVault::init();
    cli.ok(&["trust", "scheme", &list, "--key", &scheme_key]);
    let rental = net.purpose_offers("daan", "rental");
    assert_eq!(rental.len(), 3);
    for offer in net.offers_for("daan").iter().chain(&rental) {
        cli.ok(&["collect", &offer.offer_uri, "--tx-code", &offer.tx_code]);
    }

    // Offline: payload on stdout, a PNG; the landlord's desk reads the PNG and verifies it once.
    let png = work.path().join("offline.png");
    let out = cli.ok(&[
        "--json",
        "qr",
        "--offline",
        "--preset",
        "rental",
        "--to",
        LANDLORD,
        "--png",
        png.to_str().unwrap(),
    ]);
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    println!(
        "offline rental QR from collected purpose credentials: {} chars, v{} at {}",
        line["chars"], line["qr_version"], line["ec"]
    );
    assert_eq!(line["kind"], "offline");
    assert_eq!(line["ec"], "M");
    assert!(line["qr_version"].as_i64().unwrap() <= 25, "{line}");
    let payload = line["payload"].as_str().unwrap().to_string();
    let cache = work.path().join("replay.json");
    let desk = |input: &str, aud: &str| {
        cli.run(&[
            "--json",
            "verify-qr",
            input,
            "--aud",
            aud,
            "--scheme",
            &list,
            "--scheme-key",
            &scheme_key,
            "--replay-cache",
            cache.to_str().unwrap(),
        ])
    };
    let out = desk(png.to_str().unwrap(), LANDLORD);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    let text = v["credentials"].to_string();
    assert!(text.contains("Visser") && text.contains("registered_payment_arrears"));
    // The same QR again (another run of the desk: the replay cache file remembers): exit 5.
    let out = desk(&payload, LANDLORD);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("replay"));
    // For another party, or cut short: exit 5 with the reason.
    let out = desk(&payload, "bank-utrecht");
    assert_eq!(out.status.code(), Some(5));
    let out = desk(&payload[..payload.len() - 30], LANDLORD);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("offline QR"));
    // Not a kluis payload.
    assert_eq!(desk("HC1:NCFOXN", LANDLORD).status.code(), Some(5));

    // --request with a DCQL file: only the income, for the bank.
    let dcql = work.path().join("income.json");
    std::fs::write(
        &dcql,
        r#"{"credentials":[{"id":"income","format":"dc+sd-jwt","meta":{"vct_values":["urn:nl:uwv:income-statement:1"]},"claims":[{"path":["monthly_gross_income_eur"]}]}]}"#,
    )
    .unwrap();
    let out = cli.ok(&[
        "qr",
        "--offline",
        "--request",
        dcql.to_str().unwrap(),
        "--to",
        "bank-utrecht",
    ]);
    let payload = String::from_utf8(out.stdout).unwrap();
    let out = desk(payload.trim(), "bank-utrecht");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let creds = v["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert!(
        creds[0]["claims"]["monthly_gross_income_eur"].is_number(),
        "{v}"
    );
    assert!(creds[0]["claims"].get("employers").is_none());

    // --request with the landlord's openid4vp:// link: its verified request decides the query
    // and the audience (no --to).
    let link = rt
        .block_on(net.verifier(LANDLORD).unwrap().shared().new_session())
        .unwrap()
        .request_uri;
    let out = cli.ok(&["--json", "qr", "--offline", "--request", &link]);
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["audience"], LANDLORD);
    let out = desk(line["payload"].as_str().unwrap(), LANDLORD);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Session: the citizen shows a session QR and waits; the desk scans it (here: reads the PNG),
    // sends the landlord's request over the relay and verifies the answer.
    let session_png = work.path().join("session.png");
    let mut citizen = cli
        .command(&[
            "--json",
            "qr",
            "--session",
            "--relay",
            net.relay.base_url(),
            "--yes",
            "--wait",
            "30",
            "--png",
            session_png.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(citizen.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let shown: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(shown["kind"], "session");
    assert!(shown["chars"].as_u64().unwrap() <= 200);
    assert!(shown["qr_version"].as_i64().unwrap() <= 10);
    let response_uri = format!("{}/response", net.verifier(LANDLORD).unwrap().origin());
    let key = landlord_key_file();
    let out = cli.run(&[
        "--json",
        "verify-qr",
        session_png.to_str().unwrap(),
        "--aud",
        LANDLORD,
        "--key",
        &key,
        "--response-uri",
        &response_uri,
        "--preset",
        "rental",
        "--scheme",
        &list,
        "--scheme-key",
        &scheme_key,
        "--wait",
        "30",
    ]);
    let mut rest = String::new();
    stdout.read_line(&mut rest).unwrap();
    let status = citizen.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut citizen.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "citizen: {err}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "desk: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["kind"], "session");
    assert!(v["credentials"].to_string().contains("Visser"));
    let decided: Value = serde_json::from_str(&rest).unwrap();
    assert_eq!(decided["decision"], "shared");

    // Usage errors: no mode, both answers, offline without a party.
    assert_eq!(
        cli.run(&["qr", "--preset", "rental"]).status.code(),
        Some(2)
    );
    assert_eq!(
        cli.run(&["qr", "--offline", "--preset", "rental"])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        cli.run(&["qr", "--session", "--yes", "--decline"])
            .status
            .code(),
        Some(2)
    );
    drop(net);
}
