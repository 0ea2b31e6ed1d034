//! The QR payload a verifier scans: the offline presentation codec (prefix, Base45,
//! inflate, binary structure) and Base45 alone.
//! Oracles: whatever decodes re-encodes to something that decodes to the same presentation;
//! Base45 round-trips.
#![no_main]

use kluis_qr::{base45, offline};
use libfuzzer_sys::fuzz_target;

/// Largest decoded presentation the round-trip oracle re-encodes (a QR code holds at most
/// 4,296 alphanumeric characters; the wallet's presentations are about 2 KB).
const MAX_REENCODE: usize = 4 * 1024;

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
    if let Ok(presentation) = offline::decode(text) {
        // Re-encoding runs Zopfli, which takes seconds on large inputs (found here: a timeout);
        // the wallet only encodes its own presentations, which must fit one QR code.
        if presentation.len() > MAX_REENCODE {
            return;
        }
        if let Ok(again) = offline::encode(&presentation) {
            assert_eq!(
                offline::decode(&again).as_deref(),
                Ok(presentation.as_str()),
                "offline payload does not round-trip"
            );
        }
    }
    if let Ok(bytes) = base45::decode(text) {
        assert_eq!(
            base45::decode(&base45::encode(&bytes)).as_deref(),
            Ok(bytes.as_slice()),
            "Base45 does not round-trip"
        );
    }
});
