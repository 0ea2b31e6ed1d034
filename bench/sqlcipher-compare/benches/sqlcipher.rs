//! The vault benchmark's workload on SQLCipher: unlock (open + raw key + first read), put
//! (committed), get by id, list all 10k, file size over plaintext size.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use sqlcipher_compare::{data, CipherStore};

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

fn benches(c: &mut Criterion) {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-db");
    std::fs::create_dir_all(&base).unwrap();
    let root = tempfile::tempdir_in(base).unwrap();
    let path = root.path().join("cipher.db");
    let mut store = CipherStore::open(&path).unwrap();
    let mut plaintext = 0u64;
    for chunk in (0..data::RECORDS).collect::<Vec<_>>().chunks(1000) {
        let items: Vec<(String, data::StoredCredential)> =
            chunk.iter().map(|&n| (data::record_id(n), data::credential(n))).collect();
        plaintext += items.iter().map(|(_, c)| serde_json::to_vec(c).unwrap().len() as u64).sum::<u64>();
        store.put_many("credential", &items).unwrap();
    }
    store.checkpoint().unwrap();
    let file = dir_size(root.path());
    let ratio = file as f64 / plaintext as f64;
    println!("sqlcipher size: plaintext {plaintext} bytes, files {file} bytes, ratio {ratio:.3}");
    if let Ok(out) = std::env::var("KLUIS_BENCH_OUT") {
        std::fs::write(
            out,
            format!("{{\"records\":{},\"plaintext_bytes\":{plaintext},\"file_bytes\":{file},\"ratio\":{ratio:.4}}}\n", data::RECORDS),
        )
        .unwrap();
    }

    let mut g = c.benchmark_group("sqlcipher");
    g.bench_function("unlock_no_kdf", |b| {
        b.iter(|| {
            let s = CipherStore::open(&path).unwrap();
            let _: Option<data::StoredCredential> = s.get("credential", &data::record_id(0)).unwrap();
            s
        })
    });
    let mut n = 0usize;
    g.bench_function("get", |b| {
        b.iter(|| {
            n = (n + 7919) % data::RECORDS;
            store.get::<data::StoredCredential>("credential", &data::record_id(n)).unwrap().unwrap()
        })
    });
    g.sample_size(20);
    g.bench_function("list_10k", |b| {
        b.iter(|| {
            let all = store.list::<data::StoredCredential>("credential").unwrap();
            assert_eq!(all.len(), data::RECORDS);
            all
        })
    });
    g.bench_function("list_summaries_10k", |b| {
        b.iter(|| {
            let all = store.list_summaries("credential").unwrap();
            assert_eq!(all.len(), data::RECORDS);
            all
        })
    });
    g.sample_size(100);
    let mut m = 0usize;
    for (name, sync) in [("put", "FULL"), ("put_sync_normal", "NORMAL")] {
        store.set_synchronous(sync).unwrap();
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    m = (m + 104_729) % data::RECORDS;
                    (data::record_id(m), data::credential(m))
                },
                |(id, c)| store.put("credential", &id, &c).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(sqlcipher_benches, benches);
criterion_main!(sqlcipher_benches);
