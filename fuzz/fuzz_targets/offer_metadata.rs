//! Credential offers (QR / deep link, and the offer object behind a credential_offer_uri),
//! issuer and authorization server metadata, and SD-JWT VC type metadata: every document an
//! issuer sends the wallet before a credential.
//!
//! First byte picks the parser; the rest is its input.
#![no_main]

use kluis_core::issuance::fuzz_hooks;
use kluis_sdjwt::{ClaimPath, TypeMetadata};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 4 {
        0 => {
            let _ = fuzz_hooks::dangerous_parse_offer(text);
        }
        1 => {
            if let Ok(v) = serde_json::from_str::<Value>(text) {
                let _ = fuzz_hooks::dangerous_parse_offer_json(&v);
            }
        }
        2 => {
            // `{"meta": …, "as": …}`, or the issuer metadata alone with an empty AS document;
            // the issuer is whatever the metadata claims (so the identifier check passes).
            let Ok(doc) = serde_json::from_str::<Value>(text) else {
                return;
            };
            let meta = doc.get("meta").unwrap_or(&doc);
            let as_meta = doc.get("as").cloned().unwrap_or(Value::Null);
            let issuer = meta
                .get("credential_issuer")
                .and_then(Value::as_str)
                .unwrap_or("https://holder.example");
            let _ = fuzz_hooks::dangerous_parse_metadata(issuer, meta, &as_meta);
        }
        _ => {
            if let Ok(m) = TypeMetadata::from_json(text) {
                let _ = m.display_name("nl");
                let _ = m.display_name("en");
                if let Ok(p) = ClaimPath::parse("/address/street") {
                    for c in &m.claims {
                        let _ = c.matches(&p);
                    }
                }
            }
        }
    }
});
