//! `kluis demo` runs the main job end to end with nothing set up, and says what it proved.
#![allow(clippy::unwrap_used)]

#[test]
fn demo_runs_end_to_end() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kluis"))
        .args(["--json", "demo"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["credentials"].as_array().unwrap().len(), 8);
    assert_eq!(report["collected"].as_array().unwrap().len(), 6);
    assert_eq!(report["status"]["revoked"], 1);
    assert_eq!(report["status"]["valid_after"], 8);
    let disclosed = report["disclosed"].as_array().unwrap();
    assert_eq!(
        disclosed[0]["address"],
        serde_json::json!({"locality": "Utrecht"})
    );
    assert!(disclosed[0].get("bsn").is_none());
    assert_eq!(report["plaintext_scan"]["found"], 0);
    // The counsellor collected for the citizen at all six holders and the debt-help desk
    // verified the answer given on the citizen's behalf.
    let c = &report["delegation"]["counsellor"];
    assert_eq!(c["collected"], 6, "{c}");
    assert_eq!(c["desk"], "verified", "{c}");
    assert_eq!(c["credentials_sent"], 6, "{c}");
    assert!(report["plaintext_scan"]["needles"].as_u64().unwrap() > 30);
    assert!(report["audit_entries"].as_u64().unwrap() >= 14);
    // In person: the session QR's exchange verified, the offline QR at v25 or less at M, once.
    let in_person = &report["in_person"];
    assert!(in_person["session_qr"]["qr_version"].as_i64().unwrap() <= 10);
    assert_eq!(in_person["session_qr"]["landlord"]["status"], "verified");
    assert_eq!(in_person["offline_qr"]["ec"], "M");
    assert!(in_person["offline_qr"]["qr_version"].as_i64().unwrap() <= 25);
    assert!(in_person["offline_qr"]["replay"]
        .as_str()
        .unwrap()
        .contains("replay"));
    // Delegation: accepted as a helper acting for the citizen, rejected once revoked, and the
    // citizen's log shows the helper's use.
    let d = &report["delegation"];
    assert_eq!(d["accepted_on_behalf"], true);
    assert!(d["rejected_after_revocation"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    assert!(d["citizen_log"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e.as_str().unwrap().starts_with("mandate_used")));
}
