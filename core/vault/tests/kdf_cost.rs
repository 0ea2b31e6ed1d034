//! The cost of one PIN guess: Argon2id with the default parameters (m = 64 MiB, t = 3, p = 4),
//! the HKDF step with the device secret included. docs/SECURITY.md computes the offline
//! guessing cost from it. Run (argon2 is built optimised even in the test profile):
//!   cargo test -p kluis-vault --test kdf_cost -- --ignored --nocapture
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use kluis_crypto::{KdfParams, Kek, Salt};
use kluis_vault::Pin;

#[test]
#[ignore = "a measurement, not a check: run by hand for docs/SECURITY.md"]
fn one_pin_guess_costs() {
    let params = KdfParams::recommended();
    let salt = Salt::make();
    let device_secret = [7u8; 32];
    let mut times = Vec::new();
    for i in 0..7 {
        let pin = Pin::new(format!("{:06}", 100_000 + i));
        let t = Instant::now();
        let kek = Kek::derive(&pin, &salt, &params, &device_secret).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        drop(kek);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "Argon2id m={} KiB t={} p={}: min {:.1} ms, median {:.1} ms, max {:.1} ms over {} runs",
        params.m_kib,
        params.t,
        params.p,
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        times.len()
    );
    assert!(times[0] > 1.0, "the KDF cannot be this cheap: {times:?}");
}
