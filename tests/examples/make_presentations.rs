//! Writes N presentations (one per line) of a sample credential, made by a real wallet, plus the
//! issuer's public JWK: the input of `kluis verify --batch` in bench/run-batch-verify.sh.
//!
//! usage: make_presentations OUT_DIR N NONCE AUD
#![allow(clippy::unwrap_used)]

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: make_presentations OUT_DIR N NONCE AUD");
        std::process::exit(2);
    }
    let (out, n, nonce, aud) = (
        std::path::PathBuf::from(&args[1]),
        args[2].parse::<usize>().unwrap(),
        &args[3],
        &args[4],
    );
    std::fs::create_dir_all(&out).unwrap();
    let t = kluis_tests::TestWallet::new();
    let brp = t
        .collect("mohamed")
        .into_iter()
        .find(|c| c.vct == "urn:nl:gemeente:brp-address:1")
        .unwrap();
    let holder = kluis_fixtures::holder("gemeente-utrecht").unwrap();
    std::fs::write(
        out.join("issuer.jwk"),
        // Bound to its issuer (`iss`): `kluis verify --trust` counts a key only for its issuer.
        {
            let mut k = holder.public_jwk().unwrap().to_value();
            k["iss"] = serde_json::json!(holder.iss);
            k.to_string()
        },
    )
    .unwrap();
    // 5 disclosures: three top-level claims and one nested (which needs its parent's disclosure).
    let claims: Vec<String> = [
        "/given_name",
        "/family_name",
        "/birthdate",
        "/address/locality",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(out.join("presentations.txt")).unwrap());
    for _ in 0..n {
        writeln!(
            f,
            "{}",
            t.wallet.present(&brp.id, &claims, nonce, aud).unwrap()
        )
        .unwrap();
    }
    f.flush().unwrap();
}
