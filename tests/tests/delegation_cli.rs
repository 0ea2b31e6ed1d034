//! Delegation as people run it: `kluis-fixtures verifiers --json` as a child process (holders,
//! scheme, landlord, bank, mandate registry), a citizen's and a helper's `kluis` vaults:
//! `key` → `delegate` → `accept-mandate` → `mandates` → `present --on-behalf-of` → `verify`
//! (helper acting for the citizen) → `present-request --on-behalf-of` to the landlord →
//! `revoke-mandate` → `verify` rejected (exit 5) → the helper's `mandates` drops it.
//!
//! Needs the `kluis` and `kluis-fixtures` binaries built in the same target directory
//! (`cargo build -p kluis-cli -p kluis-fixtures`; a workspace `cargo test` builds them).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use kluis_tests::fixtures_cli::{bin, get_json, Fixtures, KluisVault, Verifiers};

use serde_json::Value;

const NONCE: &str = "cli-n0nce-4711";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The simulated world as a child process: the landlord's announced line and the citizen's offers
/// (URI, transaction code), one per holder with data about the citizen.
fn world() -> (Fixtures, Value, String, Vec<(String, String)>) {
    let world = Verifiers::start("daan");
    let landlord = world.party("woningcorporatie-eemland");
    let registry = landlord["mandate_registry"].as_str().unwrap().to_string();
    assert!(registry.starts_with("http://127.0.0.1:"));
    (world.fixtures, landlord, registry, world.offers)
}

#[test]
fn delegation_from_the_command_line() {
    let (_guard, landlord, registry, offers) = world();
    let scheme = landlord["scheme"].as_str().unwrap();
    let scheme_key = landlord["scheme_key_file"].as_str().unwrap();

    let citizen = KluisVault::init();
    citizen.ok(&["trust", "scheme", scheme, "--key", scheme_key]);
    for (uri, code) in &offers {
        citizen.ok(&["collect", uri, "--tx-code", code]);
    }
    let types: Vec<String> = citizen
        .json(&["list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["vct"].as_str().unwrap().to_string())
        .collect();
    let helper = KluisVault::init();
    helper.ok(&["trust", "scheme", scheme, "--key", scheme_key]);

    // The helper shows its key; the citizen delegates everything, present only, to the landlord.
    let key_file = citizen.path("helper.jwk");
    std::fs::write(&key_file, &helper.ok(&["key", "--json"]).stdout).unwrap();
    let package = citizen.path("package.jwe");
    let until = (kluis_core::now_unix() + 300 * 86_400).to_string();
    let m = citizen.json(&[
        "delegate",
        "--to",
        s(&key_file),
        "--types",
        &types.join(","),
        "--actions",
        "present",
        "--until",
        &until,
        "--parties",
        "woningcorporatie-eemland",
        "--label",
        "Daan",
        "--registry",
        &registry,
        "--out",
        s(&package),
    ]);
    let id = m["id"].as_str().unwrap().to_string();
    assert_eq!(m["role"], "issued");

    // Another wallet cannot open the package (exit 5: invalid).
    let stranger = KluisVault::init();
    let out = stranger.run(&["accept-mandate", s(&package)]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not decrypt"));

    let accepted = helper.json(&["accept-mandate", s(&package)]);
    assert_eq!(accepted["id"], id.as_str());
    assert_eq!(accepted["label"], "Daan");
    let listed = helper.json(&["mandates"]);
    assert_eq!(listed[0]["state"], "active");
    assert!(helper.json(&["list"]).as_array().unwrap().is_empty());

    // A present-only mandate does not let the helper view the data (exit 5).
    let out = helper.run(&[
        "show",
        "urn:nl:uwv:income-statement:1",
        "--on-behalf-of",
        &id,
    ]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not allow the action view"));

    // present --on-behalf-of, verified as a helper acting for the citizen.
    let p = helper.path("p.txt");
    helper.ok(&[
        "present",
        "urn:nl:uwv:income-statement:1",
        "--on-behalf-of",
        &id,
        "--claims",
        "/monthly_gross_income_eur",
        "--nonce",
        NONCE,
        "--aud",
        "woningcorporatie-eemland",
        "--out",
        s(&p),
    ]);
    let verify = |file: &Path| {
        Command::new(bin("kluis"))
            .args([
                "--json",
                "verify",
                s(file),
                "--nonce",
                NONCE,
                "--aud",
                "woningcorporatie-eemland",
                "--scheme",
                scheme,
                "--scheme-key",
                scheme_key,
            ])
            .output()
            .unwrap()
    };
    let out = verify(&p);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["on_behalf"]["mandate_id"], id.as_str());

    // present-request --on-behalf-of: the landlord's own request, answered by the helper.
    let base = landlord["new_session_url"].as_str().unwrap();
    let session = get_json(base);
    let out = helper.ok(&[
        "--json",
        "present-request",
        session["request_uri"].as_str().unwrap(),
        "--on-behalf-of",
        &id,
        "--yes",
    ]);
    let shared: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shared["decision"], "shared");
    // The helper's answer comes from the package: the helper's own (empty) choice is not shown.
    assert!(shared["choice"].is_null(), "{}", shared["choice"]);
    assert!(!shared["outcome"]["disclosed"][0]["claims"]
        .as_array()
        .unwrap()
        .is_empty());
    let result_url = base.replace(
        "/api/session/new",
        &format!("/api/result/{}", session["state"].as_str().unwrap()),
    );
    let r = get_json(&result_url);
    assert_eq!(r["status"], "verified", "{r}");
    // For people: the screen lists what leaves under the mandate, nothing as "not shared".
    let session = get_json(base);
    let out = helper.ok(&[
        "present-request",
        session["request_uri"].as_str().unwrap(),
        "--on-behalf-of",
        &id,
        "--yes",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("this leaves the phone"), "{text}");
    for c in shared["outcome"]["disclosed"][0]["claims"]
        .as_array()
        .unwrap()
    {
        assert!(text.contains(c.as_str().unwrap()), "{c} not shown: {text}");
    }
    assert!(!text.contains("[ ]"), "{text}");

    // Revoke: the same presentation is now rejected (exit 5), and the helper's wallet drops it.
    let revoked = citizen.json(&["revoke-mandate", &id]);
    assert_eq!(revoked["state"], "revoked");
    let out = verify(&p);
    assert_eq!(out.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));
    assert_eq!(helper.json(&["mandates"])[0]["state"], "revoked");
    assert!(helper.json(&["mandates"]).as_array().unwrap().is_empty());
    let log = String::from_utf8_lossy(&helper.ok(&["--json", "log"]).stdout).to_string();
    assert!(log.contains("mandate_used") && log.contains("mandate_dropped"));
    // The citizen's `mandates` picks up the helper's usage receipts into the citizen's log.
    assert_eq!(citizen.json(&["mandates"])[0]["state"], "revoked");
    let log = String::from_utf8_lossy(&citizen.ok(&["--json", "log"]).stdout).to_string();
    assert!(log.contains("mandate_issued") && log.contains("mandate_revoked"));
    assert!(log.contains("mandate_used"), "{log}");
}

/// SIGKILL at varying moments of `revoke-mandate`: whatever moment the process dies, running it
/// again succeeds, the verifier then rejects the helper's presentation as revoked, and the
/// citizen's log holds exactly one revocation per mandate (the vault is written before the list
/// is published: docs/DELEGATION.md §5).
/// `collect --on-behalf-of M HOLDER`: the helper collects the income statement for the citizen
/// at UWV under a mandate with `refresh`; both logs show it. A present-only mandate is refused
/// (exit 5) and nothing is stored.
#[test]
fn collecting_on_behalf_from_the_command_line() {
    let (_guard, landlord, registry, offers) = world();
    let scheme = landlord["scheme"].as_str().unwrap();
    let scheme_key = landlord["scheme_key_file"].as_str().unwrap();
    let citizen = KluisVault::init();
    citizen.ok(&["trust", "scheme", scheme, "--key", scheme_key]);
    for (uri, code) in &offers {
        citizen.ok(&["collect", uri, "--tx-code", code]);
    }
    let helper = KluisVault::init();
    helper.ok(&["trust", "scheme", scheme, "--key", scheme_key]);
    let key_file = citizen.path("helper.jwk");
    std::fs::write(&key_file, &helper.ok(&["key", "--json"]).stdout).unwrap();
    let until = (kluis_core::now_unix() + 30 * 86_400).to_string();
    let delegate = |actions: &str, out: &str| {
        let package = citizen.path(out);
        let m = citizen.json(&[
            "delegate",
            "--to",
            s(&key_file),
            "--types",
            "urn:nl:uwv:income-statement:1",
            "--actions",
            actions,
            "--until",
            &until,
            "--registry",
            &registry,
            "--out",
            s(&package),
        ]);
        helper.json(&["accept-mandate", s(&package)]);
        m["id"].as_str().unwrap().to_string()
    };
    let present_only = delegate("present", "p1.jwe");
    let collect = delegate("present,refresh", "p2.jwe");
    let listed = helper.json(&["mandates"]);
    let uwv = listed[0]["credentials"][0]["issuer"]
        .as_str()
        .unwrap()
        .to_string();

    let out = helper.run(&["collect", "--on-behalf-of", &present_only, &uwv]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not allow the action refresh"));

    let got = helper.json(&["collect", "--on-behalf-of", &collect, &uwv]);
    assert_eq!(got["mandate_id"], collect.as_str());
    assert_eq!(got["collected"].as_array().unwrap().len(), 1);
    assert_eq!(got["collected"][0]["vct"], "urn:nl:uwv:income-statement:1");
    // Kept with the mandate, not among the helper's own credentials.
    assert!(helper.json(&["list"]).as_array().unwrap().is_empty());
    let m = helper.json(&["mandates"]);
    let m = m
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == collect.as_str())
        .unwrap();
    assert_eq!(m["credentials"].as_array().unwrap().len(), 2);

    let collected = |log: Value| {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["event"]["type"] == "mandate_collected")
            .count()
    };
    assert_eq!(collected(helper.json(&["log"])), 1);
    citizen.ok(&["mandates"]);
    assert_eq!(collected(citizen.json(&["log"])), 1);
}

/// The counsellor's screen: `overview --on-behalf-of M|all` shows each client's debts and income
/// from the mandate's credentials, within the mandate's claim scope, with each source's age;
/// `--refresh` collects again at every holder first; a mandate without `view` or revoked shows
/// nothing.
#[test]
fn helper_overview_from_the_command_line() {
    let (_guard, landlord, registry, offers) = world();
    let scheme = landlord["scheme"].as_str().unwrap();
    let scheme_key = landlord["scheme_key_file"].as_str().unwrap();
    let citizen = KluisVault::init();
    citizen.ok(&["trust", "scheme", scheme, "--key", scheme_key]);
    for (uri, code) in &offers {
        citizen.ok(&["collect", uri, "--tx-code", code]);
    }
    let helper = KluisVault::init();
    helper.ok(&["trust", "scheme", scheme, "--key", scheme_key]);
    let key_file = citizen.path("helper.jwk");
    std::fs::write(&key_file, &helper.ok(&["key", "--json"]).stdout).unwrap();
    let until = (kluis_core::now_unix() + 30 * 86_400).to_string();
    let delegate = |types: &str, claims: Option<&str>, actions: &str, label: &str| {
        let package = citizen.path(&format!("{label}.jwe"));
        let mut args = vec![
            "delegate",
            "--to",
            s(&key_file),
            "--types",
            types,
            "--actions",
            actions,
            "--until",
            &until,
            "--registry",
            &registry,
            "--label",
            label,
            "--out",
            s(&package),
        ];
        if let Some(c) = claims {
            args.extend(["--claims", c]);
        }
        let m = citizen.json(&args);
        helper.json(&["accept-mandate", s(&package)]);
        m["id"].as_str().unwrap().to_string()
    };
    let debts = delegate(
        "urn:nl:duo:student-debt:1,urn:nl:cak:care-arrears:1,urn:nl:gemeente:municipal-debts:1,\
         urn:nl:belastingdienst:income-assessment:1,urn:nl:uwv:income-statement:1",
        None,
        "view,refresh",
        "Daan",
    );
    let narrow = delegate(
        "urn:nl:duo:student-debt:1,urn:nl:gemeente:brp-address:1",
        Some("/debt/total_amount_eur"),
        "view",
        "Daan (DUO only)",
    );
    let present_only = delegate(
        "urn:nl:duo:student-debt:1",
        None,
        "present",
        "Daan (present)",
    );
    let own = citizen.json(&["overview"]);
    assert_eq!(own["debts"]["total_cents"], 2_093_370);

    let one = helper.json(&["overview", "--on-behalf-of", &debts]);
    assert_eq!(one["clients"].as_array().unwrap().len(), 1);
    let c = &one["clients"][0];
    assert_eq!(c["mandate_id"], debts.as_str());
    assert_eq!(c["label"], "Daan");
    let lines = |d: &Value| {
        let mut l: Vec<(String, String)> = d["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["holder"].to_string(), l["amount_cents"].to_string()))
            .collect();
        l.sort();
        l
    };
    assert_eq!(c["overview"]["debts"]["total_cents"], 2_093_370);
    assert_eq!(lines(&c["overview"]["debts"]), lines(&own["debts"]));
    assert_eq!(c["overview"]["income"].as_array().unwrap().len(), 2);
    // Outside the mandate's types: not shown.
    assert!(c["overview"]["address"].is_null());
    assert!(c["overview"]["vehicles"].as_array().unwrap().is_empty());
    let sources = c["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 5);
    for src in sources {
        assert_eq!(src["origin"], "packaged");
        assert!(src["issued_at"].as_i64().is_some());
        assert!(src["age_secs"].as_i64().unwrap() >= 0);
    }

    // Refreshed at the five holders under the mandate: the same figures, now collected.
    let fresh = helper.json(&["overview", "--on-behalf-of", &debts, "--refresh"]);
    let c = &fresh["clients"][0];
    assert!(c["refresh_failures"].as_array().unwrap().is_empty(), "{c}");
    assert_eq!(c["overview"]["debts"]["total_cents"], 2_093_370);
    let sources = c["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 5);
    assert!(sources.iter().all(|s| s["origin"] == "collected"), "{c}");

    // The claim scope holds on the screen too: the DUO total, not the monthly payment or the
    // address of the same citizen.
    let n = helper.json(&["overview", "--on-behalf-of", &narrow]);
    let o = &n["clients"][0]["overview"];
    assert_eq!(o["debts"]["total_cents"], 1_865_040);
    assert_eq!(o["debts"]["lines"][0]["amount_cents"], 1_865_040);
    assert!(o["debts"]["lines"][0]["monthly_payment_eur"].is_null());
    assert!(o["address"].is_null(), "{o}");
    assert!(!n.to_string().contains("Biltstraat"));

    // Without `view` in the mandate: refused alone, left out of `all`.
    let out = helper.run(&["overview", "--on-behalf-of", &present_only]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not allow the action view"));
    let all = helper.json(&["overview", "--on-behalf-of", "all"]);
    let ids: Vec<&str> = all["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["mandate_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&debts.as_str()) && ids.contains(&narrow.as_str()));
    assert_eq!(all["left_out"][0]["mandate_id"], present_only.as_str());
    assert_eq!(all["left_out"][0]["view_allowed"], false);
    let text = helper.ok(&["overview", "--on-behalf-of", "all"]).stdout;
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("== Daan (mandate"), "{text}");
    assert!(text.contains("collected under the mandate"), "{text}");

    // Each overview is a `view` the citizen sees; a revoked mandate shows nothing.
    citizen.ok(&["mandates"]);
    let log = citizen.json(&["log"]);
    let views = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"]["type"] == "mandate_used" && e["event"]["audience"] == "view")
        .count();
    assert!(views >= 5, "{log}");
    citizen.ok(&["revoke-mandate", &debts]);
    let out = helper.run(&["overview", "--on-behalf-of", &debts]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = helper.json(&["overview", "--on-behalf-of", "all"]);
    assert!(!all.to_string().contains(&debts));
}

#[test]
fn sigkill_during_revoke_mandate_never_loses_the_revocation() {
    let (_guard, landlord, registry, offers) = world();
    let scheme = landlord["scheme"].as_str().unwrap();
    let scheme_key = landlord["scheme_key_file"].as_str().unwrap();
    let uwv = offers
        .iter()
        .find(|(uri, _)| uri.contains("income-statement"))
        .unwrap();
    let citizen = KluisVault::init();
    citizen.ok(&["trust", "scheme", scheme, "--key", scheme_key]);
    citizen.ok(&["collect", &uwv.0, "--tx-code", &uwv.1]);
    let helper = KluisVault::init();
    helper.ok(&["trust", "scheme", scheme, "--key", scheme_key]);
    let key_file = citizen.path("helper.jwk");
    std::fs::write(&key_file, &helper.ok(&["key", "--json"]).stdout).unwrap();
    let until = (kluis_core::now_unix() + 30 * 86_400).to_string();
    let mut killed = 0;
    let mut ids = Vec::new();
    for round in 0..12u64 {
        let package = citizen.path(&format!("package-{round}.jwe"));
        let m = citizen.json(&[
            "delegate",
            "--to",
            s(&key_file),
            "--types",
            "urn:nl:uwv:income-statement:1",
            "--actions",
            "present",
            "--until",
            &until,
            "--registry",
            &registry,
            "--out",
            s(&package),
        ]);
        let id = m["id"].as_str().unwrap().to_string();
        helper.ok(&["accept-mandate", s(&package)]);
        let p = helper.path(&format!("p-{round}.txt"));
        helper.ok(&[
            "present",
            "urn:nl:uwv:income-statement:1",
            "--on-behalf-of",
            &id,
            "--claims",
            "/year",
            "--nonce",
            NONCE,
            "--aud",
            "woningcorporatie-eemland",
            "--out",
            s(&p),
        ]);

        let mut child = Command::new(bin("kluis"))
            .arg("--vault")
            .arg(citizen.dir())
            .args(["revoke-mandate", &id])
            .env("KLUIS_PIN", "271828")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(round * 25));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed += 1;
        }
        let verify = || {
            Command::new(bin("kluis"))
                .args([
                    "verify",
                    s(&p),
                    "--nonce",
                    NONCE,
                    "--aud",
                    "woningcorporatie-eemland",
                    "--scheme",
                    scheme,
                    "--scheme-key",
                    scheme_key,
                ])
                .output()
                .unwrap()
        };
        // A revocation the registry already shows is never undone by the next publication of
        // the list (here: the list republished for a new mandate).
        let before = verify().status.code();
        citizen.ok(&[
            "delegate",
            "--to",
            s(&key_file),
            "--types",
            "urn:nl:uwv:income-statement:1",
            "--actions",
            "view",
            "--until",
            &until,
            "--registry",
            &registry,
            "--out",
            s(&citizen.path("other.jwe")),
        ]);
        if before == Some(5) {
            assert_eq!(verify().status.code(), Some(5), "round {round}: un-revoked");
        }
        // Whatever happened, running it again revokes (and publishes) the mandate.
        assert_eq!(citizen.json(&["revoke-mandate", &id])["state"], "revoked");
        let out = verify();
        assert_eq!(out.status.code(), Some(5), "round {round}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("revoked"));
        ids.push(id);
    }
    assert!(killed > 0, "no run was killed");
    let log = citizen.json(&["log"]);
    for id in &ids {
        let revocations = log
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["event"]["type"] == "mandate_revoked" && e["event"]["mandate_id"] == id.as_str()
            })
            .count();
        assert_eq!(revocations, 1, "mandate {id}");
    }
    eprintln!(
        "SIGKILL during revoke-mandate: {killed} of 12 runs killed, {} completed",
        12 - killed
    );
}
