//! SD-JWT, disclosures and KB-JWT (kluis-sdjwt's holder and verifier paths).
//!
//! First byte 0: the rest is a compact SD-JWT or presentation from outside, checked as an
//! issued credential (both modes) and as a presentation; claim paths are parsed too.
//! Otherwise the rest is a *recipe* the harness signs, so the fuzzer reaches the disclosure
//! processing behind the issuer signature:
//!   line 1: the issuer JWT payload; `"#N"` becomes the digest of disclosure N, `"$cnf"` the
//!           holder's `{"jwk": …}`;
//!   next lines: disclosures (raw text, base64url-encoded by the harness);
//!   a line starting `KB `: a key-binding JWT payload the holder key signs (`"$sd_hash"`
//!           becomes the right hash).
//! Oracle: whatever the holder side accepts and presents, the verifier side must accept.
#![no_main]

use kluis_fuzz::{b64, digest, holder, issuer, FuzzTrust, NOW};
use kluis_sdjwt::{
    verify_presentation, ClaimPath, Credential, PresentationExpectations, VerifyOptions,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if mode == 0 {
        raw(text);
    } else {
        recipe(text, mode);
    }
});

fn raw(text: &str) {
    let trust = FuzzTrust::get();
    let _ = Credential::verify_issued(text, trust, NOW, &VerifyOptions::default());
    if let Ok(c) = Credential::verify_issued(text, trust, NOW, &VerifyOptions::plain_sd_jwt()) {
        let _ = c.present_without_key_binding(&c.disclosable_paths());
    }
    let mut expect = PresentationExpectations::new("n", "a", NOW);
    let _ = verify_presentation(text, trust, &expect);
    expect.mode = kluis_sdjwt::Mode::PlainSdJwt;
    expect.require_key_binding = false;
    let _ = verify_presentation(text, trust, &expect);
    for line in text.lines().take(8) {
        if let Ok(p) = ClaimPath::parse(line) {
            let _ = p.to_string();
        }
    }
}

fn recipe(text: &str, mode: u8) {
    let mut lines = text.split('\n');
    let Some(payload) = lines.next() else {
        return;
    };
    let mut disclosures = Vec::new();
    let mut kb = None;
    for line in lines {
        if let Some(k) = line.strip_prefix("KB ") {
            kb = Some(k);
        } else {
            disclosures.push(b64(line.as_bytes()));
        }
    }
    let mut payload = payload.replace(
        "\"$cnf\"",
        &serde_json::json!({"jwk": holder().public.to_value()}).to_string(),
    );
    // Highest index first, so "#1" does not eat the start of "#12".
    for (i, d) in disclosures.iter().enumerate().rev() {
        payload = payload.replace(&format!("\"#{i}\""), &format!("\"{}\"", digest(d)));
    }
    let typ = if mode & 1 == 1 {
        "dc+sd-jwt"
    } else {
        "example+sd-jwt"
    };
    let header = serde_json::json!({"alg": "ES256", "typ": typ}).to_string();
    let jwt = issuer().sign_compact(header.as_bytes(), payload.as_bytes());
    let mut issued = jwt;
    issued.push('~');
    for d in &disclosures {
        issued.push_str(d);
        issued.push('~');
    }

    let trust = FuzzTrust::get();
    let options = if mode & 1 == 1 {
        VerifyOptions::default()
    } else {
        VerifyOptions::plain_sd_jwt()
    };
    if let Some(kb) = kb {
        let kb = kb.replace("\"$sd_hash\"", &format!("\"{}\"", digest(&issued)));
        let kb_jwt = holder().sign_compact(br#"{"alg":"ES256","typ":"kb+jwt"}"#, kb.as_bytes());
        let presentation = format!("{issued}{kb_jwt}");
        let mut expect = PresentationExpectations::new("n", "a", NOW);
        expect.mode = options.mode;
        let _ = verify_presentation(&presentation, trust, &expect);
    }
    let Ok(cred) = Credential::verify_issued(&issued, trust, NOW, &options) else {
        return;
    };
    let paths = cred.disclosable_paths();
    let _ = cred.claims().to_string();
    // Present all, none, and every other path; the verifier must accept each.
    let every_other: Vec<ClaimPath> = paths.iter().step_by(2).cloned().collect();
    for chosen in [&paths[..], &[][..], &every_other[..]] {
        if cred.holder_jwk().is_none() {
            let _ = cred.present_without_key_binding(chosen);
            continue;
        }
        let Ok(p) = cred.present(chosen, &holder().kluis, "n", "a", NOW) else {
            continue;
        };
        let mut expect = PresentationExpectations::new("n", "a", NOW);
        expect.mode = options.mode;
        if let Err(e) = verify_presentation(&p, trust, &expect) {
            panic!("the wallet made a presentation its own verifier refuses: {e}");
        }
    }
}
