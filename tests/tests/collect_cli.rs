//! The collecting commands end to end, as a user runs them: `kluis-fixtures holders --json` as a
//! child process serving the six holders and the scheme, and `kluis` collecting from each,
//! showing the overview, checking status after a revocation at the holder, and refreshing.
//!
//! Needs the `kluis` and `kluis-fixtures` binaries built in the same target directory
//! (`cargo build -p kluis-cli -p kluis-fixtures`; a workspace `cargo test` builds them).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

use kluis_tests::fixtures_cli::{bin, Fixtures, KluisVault};

use serde_json::Value;

/// POSTs JSON to a loopback admin URL (plain HTTP/1.1, no client library needed).
fn post(url: &str, body: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "POST /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

#[test]
fn collect_overview_status_check_and_refresh_from_the_fixture_holders() {
    let mut child = Command::new(bin("kluis-fixtures"))
        .args(["holders", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = Fixtures(child);
    let mut lines = BufReader::new(stdout).lines();
    let offers: Vec<Value> = (0..6)
        .map(|_| serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap())
        .collect();
    for o in &offers {
        assert!(o["offer_uri"]
            .as_str()
            .unwrap()
            .starts_with("openid-credential-offer://?credential_offer="));
        assert_eq!(o["tx_code"].as_str().unwrap().len(), 6);
    }
    let holders: Vec<&str> = offers
        .iter()
        .map(|o| o["holder"].as_str().unwrap())
        .collect();
    assert_eq!(
        holders,
        [
            "duo",
            "uwv",
            "cak",
            "rdw",
            "gemeente-utrecht",
            "belastingdienst"
        ]
    );

    let cli = KluisVault::new();
    cli.json(&["init", "--dangerous-test-kdf"]);
    let scheme = cli.json(&[
        "trust",
        "scheme",
        offers[0]["scheme"].as_str().unwrap(),
        "--key",
        offers[0]["scheme_key_file"].as_str().unwrap(),
    ]);
    assert_eq!(scheme["holders"], 6);

    // A wrong transaction code: exit 1, one sentence, nothing stored.
    let duo = &offers[0];
    let out = cli.run(&[
        "collect",
        duo["offer_uri"].as_str().unwrap(),
        "--tx-code",
        "12345x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("wrong transaction code") && err.trim_end().ends_with('.'),
        "{err}"
    );
    assert_eq!(cli.json(&["list"]).as_array().unwrap().len(), 0);

    // Human output shows who offers what before it says what was stored.
    let out = cli.run(&[
        "collect",
        duo["offer_uri"].as_str().unwrap(),
        "--tx-code",
        duo["tx_code"].as_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let offered = text.find("listed in the scheme) offers:").unwrap();
    let stored = text.find("Stored Studieschuld").unwrap();
    assert!(offered < stored, "{text}");

    let mut stored_ids = 1;
    for o in &offers[1..] {
        let r = cli.json(&[
            "collect",
            o["offer_uri"].as_str().unwrap(),
            "--tx-code",
            o["tx_code"].as_str().unwrap(),
        ]);
        assert_eq!(r["offer"]["issuer"], o["issuer"]);
        assert_eq!(r["offer"]["listed_in_scheme"], true);
        stored_ids += r["stored_ids"].as_array().unwrap().len();
    }
    assert_eq!(stored_ids, 8);

    let overview = cli.json(&["overview"]);
    assert_eq!(overview["debts"]["total_cents"], 2_093_370);
    assert_eq!(overview["debts"]["lines"].as_array().unwrap().len(), 4);
    assert_eq!(overview["address"]["locality"], "Utrecht");
    let text = String::from_utf8_lossy(&cli.run(&["overview"]).stdout).to_string();
    assert!(
        text.contains("Debts to the government: € 20.933,70 in total"),
        "{text}"
    );

    let checked = cli.json(&["status-check"]);
    assert!(
        checked
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "valid"),
        "{checked}"
    );

    // The CAK revokes everything it issued; status-check shows it.
    let cak = offers.iter().find(|o| o["holder"] == "cak").unwrap();
    let resp = post(
        &format!("{}/status", cak["admin"].as_str().unwrap()),
        r#"{"status":"revoked"}"#,
    );
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let checked = cli.json(&["status-check"]);
    let revoked: Vec<_> = checked
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "revoked")
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["vct"], "urn:nl:cak:care-arrears:1");
    let listed = cli.json(&["list"]);
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["status"] == "revoked"));

    // refresh re-issues the revoked one from its holder.
    let refreshed = cli.json(&["refresh"]);
    assert_eq!(refreshed["refreshed"].as_array().unwrap().len(), 1);
    assert_eq!(refreshed["fresh"], 7);
    let checked = cli.json(&["status-check"]);
    assert!(
        checked
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "valid"),
        "{checked}"
    );

    // Plain http outside loopback: a usage error (exit 2).
    let out = cli.run(&[
        "collect",
        "openid-credential-offer://?credential_offer_uri=http%3A%2F%2Fduo.example.nl%2Fo",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
