//! What a requesting party sends the wallet (OpenID4VP 1.0) and what reaches a verifier:
//! first byte picks the parser, the rest is its input.
//!   0 request link (`openid4vp://…`), 1 request object JWT (checked against the fixture
//!   scheme key, no participant list), 2 client identifier, 3 session-QR engagement
//!   (`kluis_qr::engagement`), 4 offline QR set (KL1/KL2, `decode_set_deriving`), 5 a `direct_post`
//!   form body at the verifier.
#![no_main]

use kluis_core::openid4vp::client_id::parse_client_id;
use kluis_core::openid4vp::request::{parse_request_link, verify_request_object, RequestTrust};
use kluis_core::openid4vp::verifier::parse_form;
use kluis_fuzz::{scheme, NOW};
use kluis_qr::engagement::Engagement;
use kluis_qr::offline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // Seed making (make-seeds.py): a real engagement QR and a KL2 payload, mode bytes
        // included, into KLUIS_FUZZ_OPENID4VP_SEEDS; presentations from KLUIS_FUZZ_QR_FROM.
        if let Ok(out) = std::env::var("KLUIS_FUZZ_OPENID4VP_SEEDS") {
            let e = Engagement {
                key: [2; 33],
                session_id: [7; kluis_qr::engagement::SESSION_ID_LEN],
                transports: vec![kluis_qr::engagement::Transport::HttpRelay(
                    "http://127.0.0.1:7200/relay".into(),
                )],
            };
            let mut seed = vec![3u8];
            seed.extend(e.encode().expect("engagement").bytes());
            std::fs::write(format!("{out}/engagement"), seed).expect("write seed");
            if let Ok(from) = std::env::var("KLUIS_FUZZ_QR_FROM") {
                let texts: Vec<String> = from
                    .split(':')
                    .map(|p| {
                        let t = std::fs::read_to_string(p).expect("presentation file");
                        t.trim_start_matches('\0').trim().to_string()
                    })
                    .collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let mut seed = vec![4u8];
                seed.extend(offline::encode_set(&refs).expect("KL2 payload").bytes());
                std::fs::write(format!("{out}/offline-set"), seed).expect("write seed");
            }
        }
    },
    |data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 6 {
        0 => {
            if let Ok(link) = parse_request_link(text) {
                let _ = parse_client_id(&link.client_id);
            }
        }
        1 => {
            let trust = RequestTrust {
                list: None,
                scheme_key: Some(&scheme().public),
                allow_loopback_http: true,
            };
            let _ = verify_request_object(text, None, &trust, NOW);
            let _ = verify_request_object(text, Some("x509_san_dns:verhuurder.kluis.test"), &trust, NOW);
        }
        2 => {
            let _ = parse_client_id(text);
        }
        3 => {
            if let Ok(e) = Engagement::decode(text) {
                let _ = e.relay();
                if let Ok(again) = e.encode() {
                    assert!(Engagement::decode(&again).is_ok(), "engagement does not round-trip");
                }
            }
        }
        4 => {
            // As a verifier decodes: the association claim put back when flag bit 3 says so.
            let assoc = kluis_core::openid4vp::association::qr_claim();
            if let Ok(set) = offline::decode_set_deriving(text, Some(&assoc)) {
                assert!(!set.is_empty(), "an offline payload decoded to no presentation");
            }
        }
        _ => {
            let _ = parse_form(text);
        }
    }
});
