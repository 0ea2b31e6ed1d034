//! The QR payload a verifier scans: the offline presentation codec (prefix, Base45,
//! inflate, binary structure) and Base45 alone.
//! Oracle: Base45 round-trips.
#![no_main]

use kluis_qr::{base45, offline};
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // Seed making (run.sh seeds): encode the presentations named in KLUIS_FUZZ_QR_FROM
        // into KLUIS_FUZZ_QR_SEEDS, so the corpus starts from real payloads.
        if let (Ok(out), Ok(from)) = (
            std::env::var("KLUIS_FUZZ_QR_SEEDS"),
            std::env::var("KLUIS_FUZZ_QR_FROM"),
        ) {
            for (i, path) in from.split(':').enumerate() {
                let text = std::fs::read_to_string(path).expect("presentation file");
                let text = text.trim_start_matches('\0').trim();
                let payload = offline::encode(text).expect("encodable presentation");
                std::fs::write(format!("{out}/offline-{i}"), payload).expect("write seed");
            }
        }
    },
    |data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Decoding is what a verifier runs on outside input. The round trip through
    // `offline::encode` was dropped from this target: Zopfli takes seconds on some decoded
    // presentations under 4 KiB (fuzz/regressions/qr/, docs/SECURITY.md §4); tests/offline_qr.rs
    // checks the round trip on real presentations.
    if let Ok(presentation) = offline::decode(text) {
        assert!(!presentation.is_empty(), "an offline payload decoded to nothing");
    }
    if let Ok(bytes) = base45::decode(text) {
        assert_eq!(
            base45::decode(&base45::encode(&bytes)).as_deref(),
            Ok(bytes.as_slice()),
            "Base45 does not round-trip"
        );
    }
});
