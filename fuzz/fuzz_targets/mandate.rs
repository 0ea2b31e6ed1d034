//! Delegation: mandates (JWTs signed by the citizen's holder key), mandate packages (JWE to
//! the helper) and mandate status lists. First byte picks the parser:
//!   0 a mandate JWT from outside (`peek`, and `verify` against the fixture holder key),
//!   1 a mandate payload the harness signs with the holder key (so claim parsing is reached),
//!   2 a package JWE opened with the helper key, 3 a mandate status list token (as the citizen
//!   signed it before registries signed, and as a registry signs it with the update inside).
#![no_main]

use kluis_core::delegation::revocation::{verify_registry_status_list, verify_status_list};
use kluis_core::delegation::{Mandate, MandatePackage, StatusRegistry, MANDATE_TYP};
use kluis_fuzz::{holder, issuer, NOW};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let signer = &holder().public;
    match which % 4 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let _ = Mandate::peek(text);
            let _ = Mandate::verify(text, signer);
        }
        1 => {
            let header = serde_json::json!({"alg": "ES256", "typ": MANDATE_TYP}).to_string();
            let jwt = holder().sign_compact(header.as_bytes(), rest);
            if let Ok(m) = Mandate::verify(&jwt, signer) {
                let _ = m.to_claims();
            }
        }
        2 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let _ = MandatePackage::open(text, &issuer().kluis);
        }
        _ => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let uri = "https://wallet.kluis.test/status/1";
            let _ = verify_status_list(text, uri, signer, NOW);
            let registry = StatusRegistry {
                iss: "https://wallet.kluis.test".into(),
                key: issuer().public.clone(),
            };
            let _ = verify_registry_status_list(text, uri, &registry, signer, NOW);
        }
    }
});
