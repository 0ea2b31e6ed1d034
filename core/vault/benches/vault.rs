//! Vault benchmark: 10,000 credential-like records of ~2 KB JSON.
//! unlock without the KDF, put (committed, synchronous FULL and NORMAL), get by id,
//! list all (decrypt and decode 10k), full unlock with the recommended Argon2id, a bare
//! fdatasync of a put's WAL bytes beside the vault (the disk's floor for a committed put), and the
//! file size over plaintext size (printed; written to $KLUIS_BENCH_OUT as JSON if set).
//! Run: `cargo bench -p kluis-vault --bench vault` (in the vault's crate, so that a change to the
//! vault rebuilds only the vault). Same workload on SQLCipher:
//! bench/sqlcipher-compare (see bench/run-vault-bench.sh).
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../../../bench/sqlcipher-compare/src/data.rs"]
#[allow(dead_code)]
mod data;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use kluis_vault::{
    DeviceSecretStore, Durability, KdfParams, Pin, Record, SoftwareDeviceSecretStore, Vault,
    VaultOptions,
};

impl Record for data::StoredCredential {
    const KIND: &'static str = "credential";
    // What the home screen lists (issue 15): holder, type, dates, state; the id is the row's.
    fn summary(&self) -> Option<serde_json::Value> {
        serde_json::to_value(data::summary(self)).ok()
    }
}

fn pin() -> Pin {
    Pin::new("246810")
}

/// A directory on the real disk (not tmpfs) so that fsync costs what it costs.
fn bench_root() -> tempfile::TempDir {
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-vault");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn build(root: &Path) -> (Vault, Arc<dyn DeviceSecretStore>, u64) {
    let device: Arc<dyn DeviceSecretStore> =
        Arc::new(SoftwareDeviceSecretStore::new(root.join("keys")));
    let opts = VaultOptions {
        kdf: KdfParams::recommended(),
        ..VaultOptions::default()
    };
    let vault = Vault::create(&root.join("vault"), &pin(), opts, Arc::clone(&device)).unwrap();
    let mut plaintext = 0u64;
    for chunk in (0..data::RECORDS).collect::<Vec<_>>().chunks(1000) {
        vault
            .write(|tx| {
                for &n in chunk {
                    let c = data::credential(n);
                    plaintext += serde_json::to_vec(&c).unwrap().len() as u64;
                    tx.put(&data::record_id(n), &c)?;
                }
                Ok(())
            })
            .unwrap();
    }
    vault.checkpoint().unwrap();
    (vault, device, plaintext)
}

fn benches(c: &mut Criterion) {
    let root = bench_root();
    let (vault, device, plaintext) = build(root.path());
    let file = dir_size(&root.path().join("vault"));
    let ratio = file as f64 / plaintext as f64;
    println!(
        "vault size: {} records, plaintext {} bytes (avg {} B/record), files {} bytes, ratio {:.3}",
        data::RECORDS,
        plaintext,
        plaintext / data::RECORDS as u64,
        file,
        ratio
    );
    if let Ok(out) = std::env::var("KLUIS_BENCH_OUT") {
        std::fs::write(
            out,
            format!("{{\"records\":{},\"plaintext_bytes\":{plaintext},\"file_bytes\":{file},\"ratio\":{ratio:.4}}}\n", data::RECORDS),
        )
        .unwrap();
    }

    let mut g = c.benchmark_group("vault");

    let kek = vault.dangerous_derive_kek(&pin()).unwrap();
    let dir = root.path().join("vault");
    g.bench_function("unlock_no_kdf", |b| {
        b.iter(|| {
            let v = Vault::open(&dir, Arc::clone(&device)).unwrap();
            v.dangerous_unlock_with_kek(&kek).unwrap();
            v
        })
    });

    let mut n = 0usize;
    g.bench_function("get", |b| {
        b.iter(|| {
            n = (n + 7919) % data::RECORDS;
            vault
                .get::<data::StoredCredential>(&data::record_id(n))
                .unwrap()
                .unwrap()
        })
    });

    // The same without the file mapped (as before mmap_size was set), for the comparison.
    vault.dangerous_set_mmap_size(0).unwrap();
    g.bench_function("get_without_mmap", |b| {
        b.iter(|| {
            n = (n + 7919) % data::RECORDS;
            vault
                .get::<data::StoredCredential>(&data::record_id(n))
                .unwrap()
                .unwrap()
        })
    });
    vault.dangerous_set_mmap_size(256 << 20).unwrap();

    g.sample_size(20);
    g.bench_function("list_10k", |b| {
        b.iter(|| {
            let all = vault.list::<data::StoredCredential>().unwrap();
            assert_eq!(all.len(), data::RECORDS);
            all
        })
    });
    g.bench_function("list_summaries_10k", |b| {
        b.iter(|| {
            let all = vault
                .list_summaries::<data::Summary>("credential")
                .unwrap()
                .unwrap();
            assert_eq!(all.len(), data::RECORDS);
            all
        })
    });
    g.sample_size(100);

    // The disk's floor for a committed put: 48 KiB (a put's three WAL frames of 16 KiB) written
    // in place into a file beside the vault, then fdatasync, as SQLite's WAL commit does.
    {
        use std::io::{Seek, SeekFrom, Write};
        let path = root.path().join("fsync-floor");
        let mut f = std::fs::File::create(&path).unwrap();
        let frames = vec![0x5au8; 3 * 16384];
        for _ in 0..16 {
            f.write_all(&frames).unwrap();
        }
        f.sync_all().unwrap();
        let mut k = 0u64;
        g.bench_function("fsync_floor", |b| {
            b.iter(|| {
                k = (k + 1) % 16;
                f.seek(SeekFrom::Start(k * frames.len() as u64)).unwrap();
                f.write_all(&frames).unwrap();
                f.sync_data().unwrap();
            })
        });
        drop(f);
        std::fs::remove_file(&path).unwrap();
    }

    // Puts replace existing records (the file stays the same size); ids rotate.
    let mut m = 0usize;
    for (name, durability) in [
        ("put", Durability::Full),
        ("put_sync_normal", Durability::Normal),
    ] {
        vault.dangerous_set_durability(durability).unwrap();
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    m = (m + 104_729) % data::RECORDS;
                    (data::record_id(m), data::credential(m))
                },
                |(id, c)| vault.put(&id, &c).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    vault.dangerous_set_durability(Durability::Full).unwrap();

    // The whole unlock a user waits for, with the recommended Argon2id (m=64 MiB, t=3, p=4).
    g.sample_size(10);
    g.bench_function("unlock_full_recommended_kdf", |b| {
        b.iter(|| {
            let v = Vault::open(&dir, Arc::clone(&device)).unwrap();
            v.unlock(&pin()).unwrap();
            v
        })
    });
    g.finish();
}

criterion_group!(vault_benches, benches);
criterion_main!(vault_benches);
