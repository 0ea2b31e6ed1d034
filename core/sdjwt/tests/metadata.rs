//! Type metadata: the documents in fixtures/metadata parse, cover every claim of the sample
//! data in Dutch and English, and the registry answers names and labels.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use kluis_sdjwt::metadata::MetadataError;
use kluis_sdjwt::{ClaimPath, MetadataRegistry, PathSegment, TypeMetadata};
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every document in fixtures/metadata, with its file name.
fn documents() -> Vec<(String, String)> {
    let mut docs: Vec<(String, String)> = std::fs::read_dir(repo().join("fixtures/metadata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(p).unwrap())
        })
        .collect();
    docs.sort();
    docs
}

fn registry() -> MetadataRegistry {
    let docs = documents();
    let r = MetadataRegistry::from_json_documents(docs.iter().map(|(_, d)| d.as_str())).unwrap();
    // One type per file: a second document for the same vct would silently replace the first.
    assert_eq!(r.vcts().count(), docs.len());
    r
}

/// The credential types the fixture holders issue (fixtures/data/holders.json).
fn holder_types() -> Vec<String> {
    let data: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("fixtures/data/holders.json")).unwrap(),
    )
    .unwrap();
    data["holders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["credential_types"].as_array().unwrap().clone())
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Every file parses on its own and names its type and each of its claims in Dutch and English;
/// every type a holder issues has a file, and every file is a type a holder issues.
#[test]
fn every_metadata_file_is_complete() {
    let docs = documents();
    assert!(!docs.is_empty());
    let r = registry();
    for (file, doc) in &docs {
        let m = TypeMetadata::from_json(doc).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        for lang in ["nl", "en"] {
            assert!(
                r.credential_name(&m.vct, lang).is_some(),
                "{file}: no {lang} name"
            );
        }
        for c in &m.claims {
            for lang in ["nl", "en"] {
                assert!(
                    c.display.iter().any(|d| d.lang == lang),
                    "{file}: claim {:?} has no {lang} label",
                    c.path
                );
            }
        }
    }
    let types = holder_types();
    let mut known: Vec<&str> = r.vcts().collect();
    known.sort();
    let mut issued: Vec<&str> = types.iter().map(String::as_str).collect();
    issued.sort();
    assert_eq!(known, issued);
}

fn path(s: &str) -> ClaimPath {
    ClaimPath::parse(s).unwrap()
}

#[test]
fn all_holder_types_have_names_in_dutch_and_english() {
    let r = registry();
    let types = holder_types();
    assert!(types.len() >= 8);
    for vct in &types {
        let nl = r.credential_name(vct, "nl").unwrap();
        let en = r.credential_name(vct, "en").unwrap();
        assert_ne!(nl, en, "{vct}");
    }
    assert_eq!(
        r.credential_name("urn:nl:duo:student-debt:1", "nl")
            .as_deref(),
        Some("Studieschuld (DUO)")
    );
    assert_eq!(
        r.credential_name("urn:nl:duo:student-debt:1", "nl-NL")
            .as_deref(),
        Some("Studieschuld (DUO)")
    );
    assert_eq!(r.credential_name("urn:nl:duo:student-debt:1", "fr"), None);
    assert_eq!(r.credential_name("urn:unknown", "nl"), None);
}

#[test]
fn labels_for_nested_and_array_paths() {
    let r = registry();
    let brp = "urn:nl:gemeente:brp-address:1";
    assert_eq!(
        r.claim_label(brp, &path("/address/locality"), "nl")
            .as_deref(),
        Some("Woonplaats")
    );
    assert_eq!(
        r.claim_label(brp, &path("/address/locality"), "en")
            .as_deref(),
        Some("Place of residence")
    );
    assert_eq!(
        r.claim_label(brp, &path("/nationalities/1"), "nl")
            .as_deref(),
        Some("Nationaliteit")
    );
    assert_eq!(
        r.claim_label(brp, &path("/nationalities"), "nl").as_deref(),
        Some("Nationaliteiten")
    );
    let uwv = "urn:nl:uwv:income-statement:1";
    assert_eq!(
        r.claim_label(uwv, &path("/employers/1/name"), "nl")
            .as_deref(),
        Some("Naam werkgever")
    );
    assert_eq!(r.claim_label(uwv, &path("/employers/x/name"), "nl"), None);
    assert_eq!(r.claim_label(brp, &path("/shoe_size"), "nl"), None);
}

/// Every claim path in the sample data (fixtures/data/citizens.json) has a label in nl and en.
#[test]
fn metadata_covers_the_sample_data() {
    let r = registry();
    let data: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("fixtures/data/citizens.json")).unwrap(),
    )
    .unwrap();
    fn walk(v: &Value, segs: &mut Vec<PathSegment>, out: &mut Vec<ClaimPath>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, x)| {
                segs.push(PathSegment::Key(k.clone()));
                out.push(ClaimPath::from_segments(segs.clone()));
                walk(x, segs, out);
                segs.pop();
            }),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, x)| {
                segs.push(PathSegment::Index(i));
                out.push(ClaimPath::from_segments(segs.clone()));
                walk(x, segs, out);
                segs.pop();
            }),
            _ => {}
        }
    }
    let mut checked = 0;
    for citizen in data["citizens"].as_array().unwrap() {
        for (vct, claims) in citizen["credentials"].as_object().unwrap() {
            assert!(r.get(vct).is_some(), "no metadata for {vct}");
            let mut paths = Vec::new();
            walk(claims, &mut Vec::new(), &mut paths);
            for p in paths {
                for lang in ["nl", "en"] {
                    assert!(
                        r.claim_label(vct, &p, lang).is_some(),
                        "{vct} {p} has no {lang} label"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 100);
}

#[test]
fn invalid_documents_are_refused() {
    let cases = [
        ("not json", MetadataError::BadJson),
        (r#"{"name": "no vct"}"#, MetadataError::BadJson),
        (r#"{"vct": ""}"#, MetadataError::EmptyVct),
        (
            r#"{"vct": "v", "claims": [{"path": []}]}"#,
            MetadataError::BadClaimPath,
        ),
        (
            r#"{"vct": "v", "claims": [{"path": [true]}]}"#,
            MetadataError::BadClaimPath,
        ),
        (
            r#"{"vct": "v", "claims": [{"path": [-1]}]}"#,
            MetadataError::BadClaimPath,
        ),
        (
            r#"{"vct": "v", "display": [{"lang": "", "name": "x"}]}"#,
            MetadataError::MissingLang,
        ),
        (
            r#"{"vct": "v", "claims": [{"path": ["a"], "sd": "sometimes"}]}"#,
            MetadataError::BadSd,
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(TypeMetadata::from_json(doc).unwrap_err(), want, "{doc}");
    }
}

#[test]
fn extends_inherits_labels_and_survives_cycles() {
    let base = json!({"vct": "urn:base", "display": [{"lang": "en", "name": "Base"}],
        "claims": [{"path": ["given_name"], "display": [{"lang": "en", "label": "Given name"}]}]});
    let child = json!({"vct": "urn:child", "extends": "urn:base",
        "claims": [{"path": ["given_name"], "display": [{"lang": "en", "label": "First name"}]},
                   {"path": ["extra"], "display": [{"lang": "en", "label": "Extra"}]}]});
    let loop_a = json!({"vct": "urn:a", "extends": "urn:b"});
    let loop_b = json!({"vct": "urn:b", "extends": "urn:a"});
    let docs = [base, child, loop_a, loop_b].map(|d| d.to_string());
    let r = MetadataRegistry::from_json_documents(docs.iter().map(String::as_str)).unwrap();
    assert_eq!(
        r.credential_name("urn:child", "en").as_deref(),
        Some("Base")
    );
    assert_eq!(
        r.claim_label("urn:child", &path("/given_name"), "en")
            .as_deref(),
        Some("First name")
    );
    assert_eq!(
        r.claim_label("urn:child", &path("/extra"), "en").as_deref(),
        Some("Extra")
    );
    assert_eq!(r.credential_name("urn:a", "en"), None);
}
