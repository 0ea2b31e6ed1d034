//! Token Status List `lst` values (base64url of zlib) with their `bits`, as a holder's status
//! list token carries them. First byte: bits; the rest: `lst`. Then every index near the
//! start and the end is read.
#![no_main]

use kluis_core::status::StatusList;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&bits, rest)) = data.split_first() else {
        return;
    };
    let Ok(lst) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(list) = StatusList::decode(bits, lst) else {
        return;
    };
    for idx in (0..64).chain([usize::MAX / 2, usize::MAX - 1, usize::MAX]) {
        if let Some(v) = list.get(idx) {
            assert!(
                u16::from(v) < (1u16 << bits),
                "status value wider than its bits"
            );
        }
    }
});
