//! A small JSON-in/JSON-out driver over kluis-sdjwt for cross-language tests
//! (tests/interop) and peer benchmarks. Not a user tool: the `kluis` CLI is that.
//!
//! Usage: `sdjwt_tool <issue|show|present|verify|thumbprint>` with one JSON object on stdin.
//! Writes one JSON object on stdout. Exit 0 on success, 1 when the library refuses the
//! input (`{"ok": false, "error": "<code>", "message": "..."}`), 2 on usage errors.

use std::io::Read as _;
use std::process::ExitCode;

use kluis_sdjwt::{
    issue, verify_presentation, ClaimPath, Credential, DisclosurePolicy, IssuerInput, IssuerKeys,
    Mode, PresentationExpectations, PublicJwk, SdJwtError, SigningKey, VerifyOptions,
};
use serde_json::{json, Value};

/// Trusts one key for whatever `iss` the token names (the test decides trust).
struct OneKey(PublicJwk);

impl IssuerKeys for OneKey {
    fn keys_for(&self, _iss: &str, _kid: Option<&str>) -> Vec<PublicJwk> {
        vec![self.0.clone()]
    }
}

enum Failure {
    Usage(String),
    Refused(SdJwtError),
}

impl From<SdJwtError> for Failure {
    fn from(e: SdJwtError) -> Self {
        Failure::Refused(e)
    }
}

fn field<'a>(input: &'a Value, name: &str) -> Result<&'a Value, Failure> {
    input
        .get(name)
        .ok_or_else(|| Failure::Usage(format!("missing field {name}")))
}

fn str_field<'a>(input: &'a Value, name: &str) -> Result<&'a str, Failure> {
    field(input, name)?
        .as_str()
        .ok_or_else(|| Failure::Usage(format!("{name} must be a string")))
}

fn int_field(input: &Value, name: &str) -> Result<i64, Failure> {
    field(input, name)?
        .as_i64()
        .ok_or_else(|| Failure::Usage(format!("{name} must be an integer")))
}

fn mode(input: &Value) -> Mode {
    if input.get("plain").and_then(Value::as_bool) == Some(true) {
        Mode::PlainSdJwt
    } else {
        Mode::SdJwtVc
    }
}

fn paths(v: &Value) -> Result<Vec<ClaimPath>, Failure> {
    v.as_array()
        .ok_or_else(|| Failure::Usage("paths must be an array".into()))?
        .iter()
        .map(|p| {
            let s = p
                .as_str()
                .ok_or_else(|| Failure::Usage("paths must be strings".into()))?;
            Ok(ClaimPath::parse(s)?)
        })
        .collect()
}

fn trust(input: &Value) -> Result<OneKey, Failure> {
    Ok(OneKey(PublicJwk::from_value(field(
        input,
        "issuer_public_jwk",
    )?)?))
}

fn cmd_issue(input: &Value) -> Result<Value, Failure> {
    let key = SigningKey::from_jwk(field(input, "issuer_jwk")?)?;
    let claims = field(input, "claims")?
        .as_object()
        .ok_or_else(|| Failure::Usage("claims must be an object".into()))?
        .clone();
    let holder_jwk = match input.get("holder_jwk") {
        Some(v) if !v.is_null() => Some(PublicJwk::from_value(v)?),
        _ => None,
    };
    let issuer_input = IssuerInput {
        iss: str_field(input, "iss")?.to_owned(),
        vct: str_field(input, "vct")?.to_owned(),
        claims,
        holder_jwk,
        status: input.get("status").filter(|v| !v.is_null()).cloned(),
        iat: int_field(input, "iat")?,
        exp: input.get("exp").and_then(Value::as_i64),
        nbf: input.get("nbf").and_then(Value::as_i64),
        kid: input.get("kid").and_then(Value::as_str).map(str::to_owned),
    };
    let mut policy = match input.get("policy") {
        None => DisclosurePolicy::all(),
        Some(Value::String(s)) if s == "all" => DisclosurePolicy::all(),
        Some(Value::String(s)) if s == "all_leaves" => DisclosurePolicy::all_leaves(),
        Some(Value::String(s)) if s == "none" => DisclosurePolicy::none(),
        Some(v @ Value::Array(_)) => DisclosurePolicy::from_paths(&paths(v)?),
        Some(_) => {
            return Err(Failure::Usage(
                "policy: all | all_leaves | none | [paths]".into(),
            ))
        }
    };
    if let Some(d) = input.get("decoys").and_then(Value::as_array) {
        let n = |i: usize| d.get(i).and_then(Value::as_u64).unwrap_or(0) as usize;
        policy = policy.with_decoys(n(0), n(1));
    }
    Ok(json!({ "sd_jwt": issue(&key, &issuer_input, &policy)? }))
}

fn credential(input: &Value) -> Result<Credential, Failure> {
    let options = VerifyOptions {
        mode: mode(input),
        ..VerifyOptions::default()
    };
    Ok(Credential::verify_issued(
        str_field(input, "sd_jwt")?,
        &trust(input)?,
        int_field(input, "now")?,
        &options,
    )?)
}

fn cmd_show(input: &Value) -> Result<Value, Failure> {
    let c = credential(input)?;
    let paths: Vec<String> = c
        .disclosable_paths()
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(json!({
        "issuer": c.issuer(), "vct": c.vct(), "claims": c.claims(), "disclosable_paths": paths,
        "holder_jwk": c.holder_jwk(), "status": c.status(), "iat": c.issued_at(), "exp": c.expires_at(),
    }))
}

fn cmd_present(input: &Value) -> Result<Value, Failure> {
    let c = credential(input)?;
    let chosen = paths(field(input, "paths")?)?;
    let presentation = match input.get("holder_jwk") {
        Some(jwk) if !jwk.is_null() => {
            let holder = SigningKey::from_jwk(jwk)?;
            // Optional extra KB-JWT claims (kluis's association claim, for the peers' checks).
            let extra = match input.get("kb_claims") {
                Some(Value::Object(m)) => m.clone(),
                _ => serde_json::Map::new(),
            };
            c.prepare_presentation_with(
                &chosen,
                str_field(input, "nonce")?,
                str_field(input, "aud")?,
                int_field(input, "iat")?,
                &extra,
            )?
            .sign(&holder)?
        }
        _ => c.present_without_key_binding(&chosen)?,
    };
    Ok(json!({ "presentation": presentation }))
}

fn cmd_verify(input: &Value) -> Result<Value, Failure> {
    let mut expect = PresentationExpectations::new(
        input
            .get("nonce")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        input.get("aud").and_then(Value::as_str).unwrap_or_default(),
        int_field(input, "now")?,
    );
    expect.mode = mode(input);
    if let Some(b) = input.get("require_key_binding").and_then(Value::as_bool) {
        expect.require_key_binding = b;
    }
    if let Some(a) = input.get("max_age").and_then(Value::as_i64) {
        expect.max_age_secs = a;
    }
    let v = verify_presentation(str_field(input, "presentation")?, &trust(input)?, &expect)?;
    Ok(json!({
        "ok": true, "issuer": v.issuer, "vct": v.vct, "claims": v.claims,
        "key_bound": v.key_bound, "status": v.status,
    }))
}

fn cmd_thumbprint(input: &Value) -> Result<Value, Failure> {
    Ok(json!({ "thumbprint": PublicJwk::from_value(field(input, "jwk")?)?.thumbprint() }))
}

fn main() -> ExitCode {
    let cmd = std::env::args().nth(1).unwrap_or_default();
    let mut text = String::new();
    if std::io::stdin().read_to_string(&mut text).is_err() {
        eprintln!("cannot read stdin");
        return ExitCode::from(2);
    }
    let input: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(_) => {
            eprintln!("stdin is not JSON");
            return ExitCode::from(2);
        }
    };
    let result = match cmd.as_str() {
        "issue" => cmd_issue(&input),
        "show" => cmd_show(&input),
        "present" => cmd_present(&input),
        "verify" => cmd_verify(&input),
        "thumbprint" => cmd_thumbprint(&input),
        _ => Err(Failure::Usage(
            "usage: sdjwt_tool <issue|show|present|verify|thumbprint> < input.json".into(),
        )),
    };
    match result {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(Failure::Refused(e)) => {
            println!(
                "{}",
                json!({"ok": false, "error": e.code(), "message": e.to_string()})
            );
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}
