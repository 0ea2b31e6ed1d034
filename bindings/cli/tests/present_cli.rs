//! Selective disclosure through the `kluis` command: present exactly the chosen claims, verify as a
//! requesting party, reject every replay or tampering, and verify batches.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

const AUD: &str = "https://verhuurder.example";

struct Setup {
    v: TestVault,
    brp: String,
    trust_files: Vec<String>,
}

fn setup() -> Setup {
    let v = TestVault::new();
    for s in v.issue("mohamed") {
        assert_ok(&v.import(&s.compact));
    }
    let list = v.json(&["list"]);
    let brp = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["vct"] == "urn:nl:gemeente:brp-address:1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let trust_files = kluis_fixtures::holders()
        .unwrap()
        .iter()
        .map(|h| {
            v.file(
                &format!("trust-{}.jwk", h.id),
                // The key file names its issuer: a key counts only for the issuer it is bound to.
                &{
                    let mut k = h.public_jwk().unwrap().to_value();
                    k["iss"] = serde_json::json!(h.iss);
                    k.to_string()
                },
            )
            .to_string_lossy()
            .to_string()
        })
        .collect();
    Setup {
        v,
        brp,
        trust_files,
    }
}

impl Setup {
    fn present(&self, claims: &str, nonce: &str) -> String {
        let out_file = self.v.tmp.path().join(format!("p-{}.txt", rand_name()));
        let out = self.v.run(&[
            "present",
            &self.brp,
            "--claims",
            claims,
            "--nonce",
            nonce,
            "--aud",
            AUD,
            "--out",
            out_file.to_str().unwrap(),
        ]);
        assert_ok(&out);
        out_file.to_string_lossy().to_string()
    }

    fn verify(&self, file: &str, nonce: &str, aud: &str) -> std::process::Output {
        let mut args = vec!["--json", "verify", file, "--nonce", nonce, "--aud", aud];
        for t in &self.trust_files {
            args.push("--trust");
            args.push(t);
        }
        // The verifier is another party: it needs no vault and no PIN.
        std::process::Command::new(env!("CARGO_BIN_EXE_kluis"))
            .args(&args)
            .env_remove("KLUIS_PIN")
            .output()
            .unwrap()
    }
}

#[test]
fn discloses_exactly_the_chosen_claims() {
    let s = setup();
    let file = s.present("/given_name,/address/locality,/nationalities/1", "nonce-1");
    let out = s.verify(&file, "nonce-1", AUD);
    assert_ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let claims = &v["claims"];
    assert_eq!(claims["given_name"], "Mohamed");
    assert_eq!(claims["address"]["locality"], "Utrecht");
    assert_eq!(
        claims["address"].as_object().unwrap().len(),
        1,
        "only locality of the address: {claims}"
    );
    assert_eq!(claims["nationalities"], serde_json::json!(["MA"]));
    for absent in ["family_name", "birthdate", "bsn", "registered_since"] {
        assert!(claims.get(absent).is_none(), "{absent} disclosed: {claims}");
    }
    // The raw presentation carries no undisclosed value either.
    let raw = std::fs::read_to_string(&file).unwrap();
    assert!(!raw.contains("999990032"));
    // Verification with the vault's own trust list (needs the PIN) gives the same result.
    let own = s.v.run(&[
        "--json", "verify", &file, "--nonce", "nonce-1", "--aud", AUD,
    ]);
    assert_ok(&own);
    // The disclosure is in the audit log with audience and claims.
    let log = s.v.json(&["log"]);
    let last = log.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event"]["type"], "disclosed");
    assert_eq!(last["event"]["audience"], AUD);
    assert_eq!(last["event"]["claims"].as_array().unwrap().len(), 3);
}

#[test]
fn replays_and_tampering_are_rejected_with_exit_5() {
    let s = setup();
    let file = s.present("/given_name", "nonce-2");
    assert_fails(&s.verify(&file, "other-nonce", AUD), 5);
    assert_fails(&s.verify(&file, "nonce-2", "https://bank.example"), 5);
    // Untrusted issuer: verify with no matching trust key.
    let lone = s.v.file(
        "lone.jwk",
        &kluis_core::sdjwt::SigningKey::make_random()
            .unwrap()
            .public_jwk()
            .to_value()
            .to_string(),
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kluis"))
        .args([
            "verify",
            &file,
            "--nonce",
            "nonce-2",
            "--aud",
            AUD,
            "--trust",
            // The municipality's id bound to a key that did not sign it.
            &format!(
                "{}={}",
                kluis_fixtures::holder("gemeente-utrecht").unwrap().iss,
                lone.display()
            ),
        ])
        .output()
        .unwrap();
    assert_fails(&out, 5);
    // Add an undisclosed claim's disclosure? The holder cannot forge one: append garbage disclosure.
    let raw = std::fs::read_to_string(&file).unwrap();
    let raw = raw.trim();
    let (sd, kb) = raw.rsplit_once('~').unwrap();
    let forged =
        s.v.file("forged.txt", &format!("{sd}~WyJzYWx0IiwiYnNuIiwiMSJd~{kb}"));
    assert_fails(&s.verify(forged.to_str().unwrap(), "nonce-2", AUD), 5);
    // Strip the key-binding JWT.
    let stripped = s.v.file("stripped.txt", &format!("{sd}~"));
    assert_fails(&s.verify(stripped.to_str().unwrap(), "nonce-2", AUD), 5);
    // Bad claim path and unknown credential are usage / not-found errors.
    assert_fails(
        &s.v.run(&[
            "present",
            &s.brp,
            "--claims",
            "address/locality",
            "--nonce",
            "n",
            "--aud",
            AUD,
        ]),
        2,
    );
    assert_fails(
        &s.v.run(&[
            "present",
            &s.brp,
            "--claims",
            "/no_such_claim",
            "--nonce",
            "n",
            "--aud",
            AUD,
        ]),
        2,
    );
    assert_fails(
        &s.v.run(&[
            "present",
            "nope",
            "--claims",
            "/given_name",
            "--nonce",
            "n",
            "--aud",
            AUD,
        ]),
        1,
    );
}

#[test]
fn batch_verification_reports_counts() {
    let s = setup();
    let mut lines = Vec::new();
    for i in 0..6 {
        // Line 4 answers another verifier's nonce: it must be the one rejection.
        let nonce = if i == 3 {
            "someone-elses-nonce"
        } else {
            "batch-nonce"
        };
        let f = s.present("/given_name,/address/postal_code", nonce);
        lines.push(std::fs::read_to_string(f).unwrap().trim().to_string());
    }
    let all_valid: Vec<String> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, l)| l.clone())
        .collect();
    let f = s.v.file("batch-ok.txt", &all_valid.join("\n"));
    let out = s.verify(f.to_str().unwrap(), "batch-nonce", AUD);
    let args_batch = |file: &str| {
        let mut a = vec![
            "verify".to_string(),
            "--batch".into(),
            file.to_string(),
            "--nonce".into(),
            "batch-nonce".into(),
            "--aud".into(),
            AUD.into(),
        ];
        for t in &s.trust_files {
            a.push("--trust".into());
            a.push(t.clone());
        }
        std::process::Command::new(env!("CARGO_BIN_EXE_kluis"))
            .args(&a)
            .output()
            .unwrap()
    };
    assert_eq!(code(&out), 5, "a batch file is not one presentation");
    let out = args_batch(f.to_str().unwrap());
    assert_ok(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["count"], 5);
    assert_eq!(summary["valid"], 5);
    assert_eq!(summary["invalid"], 0);
    assert!(summary["elapsed_ms"].as_f64().unwrap() > 0.0);
    let f = s.v.file("batch-mixed.txt", &lines.join("\n"));
    let out = args_batch(f.to_str().unwrap());
    assert_eq!(code(&out), 5);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["count"], 6);
    assert_eq!(summary["valid"], 5);
    assert_eq!(summary["invalid"], 1);
    assert_eq!(summary["rejections"][0]["line"], 4);
}

/// Issue 12, item 10: a `--trust` key counts only for the issuer it is bound to. A credential
/// signed with the CAK's key that claims the municipality as `iss` (here imported into a vault
/// that trusts that pairing, so the wallet presents it with a valid key binding) is refused
/// when the party passes both keys, each bound to its own issuer; a key with no issuer is a
/// usage error.
#[test]
fn a_trusted_key_counts_only_for_its_own_issuer() {
    use base64::Engine as _;
    let v = TestVault::new();
    let brp = v
        .issue("mohamed")
        .into_iter()
        .find(|s| s.vct == "urn:nl:gemeente:brp-address:1")
        .unwrap();
    let cak = kluis_fixtures::holder("cak").unwrap();
    let (jwt, rest) = brp.compact.split_once('~').unwrap();
    let (signing_input, _) = jwt.rsplit_once('.').unwrap();
    let sig = cak
        .signing_key()
        .unwrap()
        .sign_es256(signing_input.as_bytes())
        .unwrap();
    let forged = format!(
        "{signing_input}.{}~{rest}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    );
    // The citizen's vault is made to accept it: the municipality's id with the CAK's key.
    let cak_key = v.file("cak.jwk", &cak.public_jwk().unwrap().to_value().to_string());
    assert_ok(&v.run(&[
        "trust",
        "add-issuer",
        &brp.holder.iss,
        cak_key.to_str().unwrap(),
    ]));
    assert_ok(&v.import(&forged));
    let id = v
        .json(&["list"])
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["vct"] == "urn:nl:gemeente:brp-address:1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out_file = v.tmp.path().join("forged-p.txt");
    assert_ok(&v.run(&[
        "present",
        &id,
        "--claims",
        "/given_name",
        "--nonce",
        "n-10",
        "--aud",
        AUD,
        "--out",
        out_file.to_str().unwrap(),
    ]));
    let gemeente = kluis_fixtures::holder("gemeente-utrecht").unwrap();
    let gem_key = v.file(
        "gemeente.jwk",
        &gemeente.public_jwk().unwrap().to_value().to_string(),
    );
    let run = |trust: &[String]| {
        let mut args = vec![
            "verify".to_string(),
            out_file.to_string_lossy().to_string(),
            "--nonce".into(),
            "n-10".into(),
            "--aud".into(),
            AUD.into(),
        ];
        for t in trust {
            args.push("--trust".into());
            args.push(t.clone());
        }
        std::process::Command::new(env!("CARGO_BIN_EXE_kluis"))
            .args(&args)
            .env_remove("KLUIS_PIN")
            .output()
            .unwrap()
    };
    let bound = [
        format!("{}={}", gemeente.iss, gem_key.display()),
        format!("{}={}", cak.iss, cak_key.display()),
    ];
    let out = run(&bound);
    assert_fails(&out, 5);
    // Bare key files name no issuer: refused as a usage error, never trusted for any issuer.
    let bare = [
        gem_key.to_string_lossy().to_string(),
        cak_key.to_string_lossy().to_string(),
    ];
    let out = run(&bare);
    assert_fails(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("ISSUER=JWK_FILE"));
    // With the CAK's key bound to the municipality (what the citizen's vault was told) it
    // verifies: the binding, not the key, decides.
    let out = run(&[format!("{}={}", gemeente.iss, cak_key.display())]);
    assert_ok(&out);
}
