//! The scheme's signed participant list (which holders and requesting parties count).
//! First byte 0: the rest is a JWT from outside, checked against the pinned fixture scheme
//! key. Otherwise the rest is a payload the harness signs with the scheme key (header `typ`
//! participant-list+jwt), so the fuzzer reaches the list's own parsing.
#![no_main]

use kluis_core::scheme::{verify_participant_list, PARTICIPANT_LIST_TYP};
use kluis_fuzz::{scheme, NOW};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = &scheme().public;
    let jwt = if mode == 0 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        text.to_owned()
    } else {
        let header = serde_json::json!({"alg": "ES256", "typ": PARTICIPANT_LIST_TYP}).to_string();
        scheme().sign_compact(header.as_bytes(), rest)
    };
    if let Ok(list) = verify_participant_list(&jwt, key, NOW) {
        for h in &list.holders {
            let _ = list.holder(&h.credential_issuer);
        }
        for rp in &list.requesting_parties {
            let _ = list.requesting_party(&rp.client_id);
        }
    }
});
