//! Secret types have no `Debug` or `Display`, so no `{:?}` in a log line, panic message or
//! error can print a PIN, a key or a bearer code.
//!
//! - Compile time, for the public secret types: `assert_not_impl!` fails the build if one
//!   gains `Debug` or `Display` (the trick of the static_assertions crate).
//! - Source scan, for the private ones too: every struct in the core crates that derives
//!   `Zeroize`/`ZeroizeOnDrop` or holds a `Zeroizing<…>` field is a secret type; none may derive
//!   `Debug` or have a `Debug`/`Display` impl.
//!
//! The process-memory scan after `lock()` and PIN changes is core/vault/tests/memory.rs.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

macro_rules! assert_not_impl {
    ($t:ty: $($tr:path),+) => {$(
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            #[allow(dead_code)]
            struct Invalid;
            impl<T: ?Sized + $tr> AmbiguousIfImpl<Invalid> for T {}
            let _ = <$t as AmbiguousIfImpl<_>>::some_item;
        };
    )+};
}

assert_not_impl!(kluis_core::Pin: std::fmt::Debug, std::fmt::Display);
assert_not_impl!(kluis_core::sdjwt::SigningKey: std::fmt::Debug, std::fmt::Display);
assert_not_impl!(kluis_core::issuance::CredentialOffer: std::fmt::Debug, std::fmt::Display);

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if p.is_dir() {
            // Tests and benches may print what they like; build output is not source.
            if !matches!(name.as_str(), "tests" | "benches" | "examples" | "target") {
                rust_files(&p, out);
            }
        } else if name.ends_with(".rs") && !name.ends_with("_tests.rs") {
            out.push(p);
        }
    }
}

/// (file, type name, derives Debug) for every secret struct or enum in `src`.
fn secret_structs(file: &Path, src: &str) -> Vec<(String, String, bool)> {
    let lines: Vec<&str> = src.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(rest) = t
            .strip_prefix("pub struct ")
            .or_else(|| t.strip_prefix("pub(crate) struct "))
            .or_else(|| t.strip_prefix("struct "))
            .or_else(|| t.strip_prefix("pub enum "))
            .or_else(|| t.strip_prefix("pub(crate) enum "))
            .or_else(|| t.strip_prefix("enum "))
        else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // Attributes directly above.
        let mut attrs = String::new();
        let mut j = i;
        while j > 0 {
            let a = lines[j - 1].trim_start();
            if a.starts_with("#[") || a.starts_with("///") || a.starts_with("//") {
                attrs.push_str(a);
                j -= 1;
            } else {
                break;
            }
        }
        // The body, up to the closing brace or semicolon at the struct's indentation.
        let mut body = String::from(*line);
        if !line.trim_end().ends_with(';') {
            for l in &lines[i + 1..] {
                body.push_str(l);
                if l.trim_start().starts_with('}') || l.trim_end().ends_with(");") {
                    break;
                }
            }
        }
        let secret = attrs.contains("Zeroize") || body.contains("Zeroizing<");
        if secret {
            let derives_debug = attrs
                .split("#[derive(")
                .skip(1)
                .any(|d| d.split(')').next().unwrap_or("").contains("Debug"));
            out.push((file.display().to_string(), name, derives_debug));
        }
    }
    out
}

#[test]
fn no_secret_type_implements_debug_or_display() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in [
        "core/src",
        "core/verifier/src",
        "core/crypto/src",
        "core/vault/src",
        "core/sdjwt/src",
        "core/qr/src",
    ] {
        rust_files(&root.join(dir), &mut files);
    }
    let sources: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|f| {
            let s = std::fs::read_to_string(&f).unwrap();
            (f, s)
        })
        .collect();
    let mut secrets = Vec::new();
    for (f, s) in &sources {
        secrets.extend(secret_structs(f, s));
    }
    let names: Vec<&str> = secrets.iter().map(|(_, n, _)| n.as_str()).collect();
    for must in [
        "Pin",
        "Kek",
        "Dek",
        "DataKeys",
        "SigningKey",
        // The offer's pre-authorized code (the offer itself holds it in its grant).
        "OfferGrant",
    ] {
        assert!(
            names.contains(&must),
            "the scan no longer sees {must} as a secret type: {names:?}"
        );
    }
    let mut violations = Vec::new();
    for (file, name, derives_debug) in &secrets {
        if *derives_debug {
            violations.push(format!("{name} ({file}) derives Debug"));
        }
        for (f, s) in &sources {
            for tr in ["Debug for ", "Display for "] {
                let needle = format!("{tr}{name}");
                if s.lines().any(|l| {
                    l.trim_start().starts_with("impl")
                        && l.contains(&needle)
                        && l[l.find(&needle).unwrap() + needle.len()..]
                            .starts_with(|c: char| !c.is_alphanumeric() && c != '_')
                }) {
                    violations.push(format!("{name} has an impl {tr}in {}", f.display()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "secret types that can be printed: {violations:#?}"
    );
}
