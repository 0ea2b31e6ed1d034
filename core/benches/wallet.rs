//! The wallet's `list` (credentials) and `overview` end to end over 10,000 real credentials
//! (issue 15 §1: < 50 ms each): a real vault on disk, credentials issued as SD-JWT VCs by five
//! issuers in twenty types and imported through `Wallet::import_credential` (verified, stored,
//! logged), ~1.9 KB stored each. `overview` also opens and re-verifies the newest credential of
//! each type. Run: `cargo bench -p kluis-core --bench wallet` (setup: one import per commit,
//! a minute or so).
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use kluis_core::sdjwt::{issue, DisclosurePolicy, IssuerInput, SigningKey};
use kluis_core::{now_unix, KdfParams, Pin, Wallet};
use kluis_vault::{DeviceSecretStore, SoftwareDeviceSecretStore, VaultOptions};
use serde_json::json;

const CREDENTIALS: usize = 10_000;
const ISSUERS: usize = 5;
const TYPES_PER_ISSUER: usize = 4;

fn bench_root() -> tempfile::TempDir {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/bench-wallet");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

fn build(root: &std::path::Path) -> Wallet {
    let device: Arc<dyn DeviceSecretStore> =
        Arc::new(SoftwareDeviceSecretStore::new(root.join("keys")));
    // The KDF is not what is measured here (vault bench: unlock).
    let opts = VaultOptions {
        kdf: KdfParams::dangerous_test_profile(),
        ..VaultOptions::default()
    };
    let wallet = Wallet::create(&root.join("vault"), &Pin::new("246810"), opts, device).unwrap();
    let issuers: Vec<(String, SigningKey)> = (0..ISSUERS)
        .map(|i| {
            let key = SigningKey::make_random().unwrap();
            let iss = format!("https://issuer-{i}.holders.kluis.test");
            wallet
                .add_trusted_issuer(&iss, &key.public_jwk().to_value().to_string())
                .unwrap();
            (iss, key)
        })
        .collect();
    let policy = DisclosurePolicy::all().with_decoys(0, 0);
    let now = now_unix();
    for n in 0..CREDENTIALS {
        let (iss, key) = &issuers[n % ISSUERS];
        let t = (n / ISSUERS) % TYPES_PER_ISSUER;
        let given = ["Anouk", "Daan", "Fatima", "Sem"][n % 4];
        let family = ["de Vries", "Jansen", "El Amrani", "Bakker"][n % 4];
        let claims = json!({
            "given_name": given,
            "family_name": family,
            "birthdate": "1987-04-12",
            "debt": { "amount_eur": (n % 997) as f64 + 0.5, "monthly_payment_eur": 25.0 },
            "address": { "street": "Oudegracht", "house_number": format!("{}", n % 300),
                         "postal_code": "3511 AB", "locality": "Utrecht" },
            "reference": format!("case-{n:08}-{}", "x".repeat(200)),
            "period": { "year": 2026, "month": 1 + n % 12 },
        });
        let input = IssuerInput {
            iss: iss.clone(),
            vct: format!("urn:nl:bench:type-{t}:1"),
            claims: claims.as_object().unwrap().clone(),
            holder_jwk: None,
            status: None,
            iat: now - 86_400 + (n as i64 % 3600),
            exp: Some(now + 365 * 86_400),
            nbf: None,
            kid: None,
        };
        let compact = issue(key, &input, &policy).unwrap();
        wallet.import_credential(&compact).unwrap();
    }
    wallet
}

fn benches(c: &mut Criterion) {
    let root = bench_root();
    let wallet = build(root.path());
    assert_eq!(wallet.credentials("nl").unwrap().len(), CREDENTIALS);
    let types = ISSUERS * TYPES_PER_ISSUER;
    let o = wallet.overview("nl").unwrap();
    assert_eq!(o.credentials.len(), CREDENTIALS);
    assert!(o.warnings.is_empty(), "{:?}", o.warnings);
    println!(
        "wallet: {CREDENTIALS} credentials in {types} types, debts listed {}",
        o.debts.lines.len()
    );

    let mut g = c.benchmark_group("wallet");
    g.sample_size(20);
    g.bench_function("list_10k", |b| {
        b.iter(|| {
            let all = wallet.credentials("nl").unwrap();
            assert_eq!(all.len(), CREDENTIALS);
            all
        })
    });
    g.bench_function("overview_10k", |b| {
        b.iter(|| {
            let o = wallet.overview("nl").unwrap();
            assert_eq!(o.credentials.len(), CREDENTIALS);
            o
        })
    });
    g.finish();
}

criterion_group!(wallet_benches, benches);
criterion_main!(wallet_benches);
