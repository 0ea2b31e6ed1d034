//! Credentials through the `kluis` command: import, list, show, delete, key, and every kind of bad
//! credential refused with exit 5 and the vault left as it was.
#![allow(clippy::unwrap_used)]

mod common;
use base64::Engine;
use common::*;

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn import_list_show_delete() {
    let v = TestVault::new();
    let samples = v.issue("mohamed");
    assert_eq!(samples.len(), 5);
    for s in &samples {
        let out = v.import(&s.compact);
        assert_ok(&out);
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["vct"], s.vct.as_str());
        assert_eq!(summary["binding"], "this_wallet");
    }
    let list = v.json(&["list"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 5);
    for c in list {
        for field in ["id", "issuer", "vct", "issued_at", "expires_at"] {
            assert!(!c[field].is_null(), "{field} missing in {c}");
        }
    }
    // The same credential twice is refused, not duplicated.
    assert_fails(&v.import(&samples[0].compact), 1);
    assert_eq!(v.list_ids().len(), 5);

    // show: all claims with Dutch and English display names.
    let vehicles = list
        .iter()
        .find(|c| c["vct"] == "urn:nl:rdw:vehicles:1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let details = v.json(&["show", &vehicles]);
    let claims = details["claims"].as_array().unwrap();
    let plate = claims
        .iter()
        .find(|c| c["path"] == "/vehicles/0/license_plate")
        .unwrap();
    assert_eq!(plate["value"], "K-123-XB");
    assert!(
        plate["label"].is_string(),
        "display label from type metadata: {plate}"
    );
    let en = v.json(&["show", &vehicles, "--lang", "en"]);
    assert_ne!(
        en["summary"]["name"], details["summary"]["name"],
        "nl and en names differ"
    );
    let human = v.run(&["show", &vehicles]);
    assert_ok(&human);
    assert!(String::from_utf8_lossy(&human.stdout).contains("K-123-XB"));

    assert_ok(&v.run(&["delete", &vehicles]));
    assert_eq!(v.list_ids().len(), 4);
    assert_fails(&v.run(&["show", &vehicles]), 1);
    assert_fails(&v.run(&["delete", &vehicles]), 1);

    let log = v.json(&["log"]);
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "credential_imported")
            .count(),
        5
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "credential_deleted").count(),
        1
    );
}

#[test]
fn key_prints_the_holder_jwk_alone() {
    let v = TestVault::new();
    let out = v.run(&["--json", "key"]);
    assert_ok(&out);
    let jwk: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert!(jwk.get("d").is_none(), "no private part");
    // Stable across runs.
    assert_eq!(v.run(&["--json", "key"]).stdout, out.stdout);
}

/// Every malformed or untrusted credential: exit 5, one sentence, and the vault unchanged.
#[test]
fn malformed_credentials_are_refused_and_change_nothing() {
    let v = TestVault::new();
    let good = v.issue("sanne").remove(0).compact;
    assert_ok(&v.import(&v.issue("joke")[0].compact));
    let before_list = v.json(&["list"]);
    let before_log = v.json(&["log"]).as_array().unwrap().len();

    let jwt_end = good.find('~').unwrap();
    let jwt = &good[..jwt_end];
    let parts: Vec<&str> = jwt.split('.').collect();
    let mut payload: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    payload["vct"] = "urn:nl:cak:care-arrears:1".into();
    assert_ne!(
        payload.to_string().as_bytes(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap()
    );
    let forged_payload = format!(
        "{}.{}.{}{}",
        parts[0],
        b64(payload.to_string().as_bytes()),
        parts[2],
        &good[jwt_end..]
    );
    let mut bad_sig = good.clone();
    let sig_pos = jwt.rfind('.').unwrap() + 5;
    let c = if &bad_sig[sig_pos..sig_pos + 1] == "A" {
        "B"
    } else {
        "A"
    };
    bad_sig.replace_range(sig_pos..sig_pos + 1, c);

    // Signed by a key nobody trusts, with an issuer nobody trusts.
    let stranger = kluis_core::sdjwt::SigningKey::make_random().unwrap();
    let citizen = kluis_fixtures::citizen("sanne").unwrap();
    let mut rogue = kluis_fixtures::holder("duo").unwrap();
    rogue.iss = "https://rogue.example".into();
    let unknown_issuer = rogue
        .issue(
            &citizen,
            "urn:nl:duo:student-debt:1",
            &v.holder_jwk(),
            kluis_core::now_unix(),
        )
        .unwrap();
    // Right issuer name, wrong key.
    let input = kluis_core::sdjwt::IssuerInput {
        iss: "https://duo.holders.kluis.test".into(),
        vct: "urn:nl:duo:student-debt:1".into(),
        claims: serde_json::json!({"given_name": "X"})
            .as_object()
            .unwrap()
            .clone(),
        holder_jwk: Some(v.holder_jwk()),
        status: None,
        iat: kluis_core::now_unix(),
        exp: Some(kluis_core::now_unix() + 3600),
        nbf: None,
        kid: None,
    };
    let wrong_key = kluis_core::sdjwt::issue(
        &stranger,
        &input,
        &kluis_core::sdjwt::DisclosurePolicy::all(),
    )
    .unwrap();
    // Bound to someone else's key.
    let other_holder = stranger.public_jwk();
    let foreign_bound = kluis_fixtures::holder("duo")
        .unwrap()
        .issue(
            &citizen,
            "urn:nl:duo:student-debt:1",
            &other_holder,
            kluis_core::now_unix(),
        )
        .unwrap();

    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("not a JWT", "hello world".into()),
        ("bad base64", "eyJ!!!.eyJ$$$.abc~".into()),
        (
            "JSON garbage header",
            format!("{}.{}.{}~", b64(b"{not json"), parts[1], parts[2]),
        ),
        (
            "alg none",
            format!(
                "{}.{}.~",
                b64(br#"{"alg":"none","typ":"dc+sd-jwt"}"#),
                parts[1]
            ),
        ),
        ("bad signature", bad_sig),
        ("edited payload", forged_payload),
        ("unknown issuer", unknown_issuer),
        ("trusted issuer name, untrusted key", wrong_key),
        ("bound to another holder", foreign_bound),
        (
            "forged disclosure",
            format!(
                "{}{}~",
                &good[..good.len()],
                b64(br#"["c2FsdA","bsn","000000000"]"#)
            ),
        ),
        ("huge input", "A".repeat(300 * 1024)),
    ];
    for (name, cred) in &cases {
        let out = v.import(cred);
        assert_eq!(code(&out), 5, "{name}: {}", stderr(&out));
        let err = assert_fails(&out, 5);
        assert!(
            !err.contains("999990019") && !err.contains("Sanne"),
            "{name}: personal data in error: {err}"
        );
        assert_eq!(v.json(&["list"]), before_list, "{name}: vault changed");
    }
    assert_eq!(
        v.json(&["log"]).as_array().unwrap().len(),
        before_log,
        "refusals leave no trace"
    );
    // Not UTF-8 at all.
    let f = v.tmp.path().join("binary.bin");
    std::fs::write(&f, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    assert_fails(&v.run(&["import", f.to_str().unwrap()]), 5);
    // And the good one still imports.
    assert_ok(&v.import(&good));
}

#[test]
fn trust_add_issuer_refuses_bad_keys() {
    let v = TestVault::new();
    let private = v.file(
        "private.jwk",
        include_str!("../../../fixtures/data/keys/duo.private.jwk.json"),
    );
    let err = assert_fails(
        &v.run(&[
            "trust",
            "add-issuer",
            "https://x.example",
            private.to_str().unwrap(),
        ]),
        2,
    );
    assert!(err.contains("private"), "{err}");
    let garbage = v.file(
        "garbage.jwk",
        "{\"kty\":\"RSA\",\"n\":\"abc\",\"e\":\"AQAB\"}",
    );
    assert_fails(
        &v.run(&[
            "trust",
            "add-issuer",
            "https://x.example",
            garbage.to_str().unwrap(),
        ]),
        2,
    );
    let missing = v.tmp.path().join("nope.jwk");
    assert_fails(
        &v.run(&[
            "trust",
            "add-issuer",
            "https://x.example",
            missing.to_str().unwrap(),
        ]),
        1,
    );
    assert_eq!(v.json(&["trust", "list"]).as_array().unwrap().len(), 6);
}
