//! Memory hygiene, as bitwarden's memory tests do it: the test reads its own process memory
//! (`/proc/self/maps` + `/proc/self/mem`) and searches it for the PIN, the Argon2id output,
//! the KEK and the DEK.
//!
//! - While unlocked the DEK *is* found: the positive control that the scanner works.
//! - After `lock()`: none of them is anywhere in writable memory (heap, stacks, data).
//! - After `change_pin`: neither PIN, nor the old or new Argon2id output or KEK (the DEK stays,
//!   the vault is still unlocked); after `lock()` the DEK is gone too.
//!
//! The needles are kept only as (length, masked 8-byte prefix, FNV-1a hash), so the test's own
//! copy of a secret cannot be what it finds. Hidden `dangerous_*` hooks hand out the key bytes;
//! their stack copies are scrubbed before the operation under test runs again.
//! Linux only (procfs). One test function: parallel tests would share the heap.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use common::*;
use kluis_vault::*;
use rand::Rng;
use zeroize::Zeroize;

const MASK: u64 = 0xA5C3_5A3C_96E1_1E69;

struct Needle {
    name: String,
    len: usize,
    prefix_masked: u64,
    hash: u64,
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Needle {
    /// Records `secret` as a needle and wipes the caller's copy.
    fn take(name: &str, secret: &mut [u8]) -> Needle {
        assert!(secret.len() >= 8);
        let prefix = u64::from_le_bytes(secret[..8].try_into().unwrap());
        let n = Needle {
            name: name.to_string(),
            len: secret.len(),
            prefix_masked: prefix ^ MASK,
            hash: fnv(secret),
        };
        secret.zeroize();
        n
    }
}

/// Overwrites the stack below this frame, where returned key copies were moved through.
#[inline(never)]
fn scrub_stack() {
    let mut buf = [0u8; 512 * 1024];
    std::hint::black_box(&mut buf);
    buf.zeroize();
}

/// What a maps line names: `[heap]`, `[stack]`, a file, or anonymous memory (thread stacks
/// and large allocations).
fn region(line: &str) -> String {
    match line.split_whitespace().nth(5) {
        Some(name) => name.to_string(),
        None => "anonymous memory".to_string(),
    }
}

/// The needles found in any writable mapping of this process, with where.
fn scan(needles: &[Needle]) -> Vec<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut mem = File::open("/proc/self/mem").unwrap();
    let mut found = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let (range, perms) = (parts.next().unwrap(), parts.next().unwrap());
        // Secrets live in writable memory; skip code, read-only data and kernel pages.
        if !perms.starts_with("rw") || line.ends_with("[vvar]") || line.ends_with("[vsyscall]") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let (start, end) = (
            u64::from_str_radix(start, 16).unwrap(),
            u64::from_str_radix(end, 16).unwrap(),
        );
        let mut at = start;
        while at < end {
            let want = ((end - at) as usize).min(buf.len());
            if mem.seek(SeekFrom::Start(at)).is_err() {
                break;
            }
            let Ok(n) = mem.read(&mut buf[..want]) else {
                break;
            };
            if n == 0 {
                break;
            }
            // Overlap chunks by 64 bytes so a needle across a boundary is seen.
            let chunk = &buf[..n];
            for i in 0..chunk.len().saturating_sub(7) {
                let w = u64::from_le_bytes(chunk[i..i + 8].try_into().unwrap()) ^ MASK;
                for nd in needles {
                    if w == nd.prefix_masked
                        && i + nd.len <= chunk.len()
                        && fnv(&chunk[i..i + nd.len]) == nd.hash
                    {
                        let here = &at as *const u64 as u64;
                        let place = if (start..end).contains(&here) {
                            format!(
                                "this thread's stack ({} bytes below the scanner's frame)",
                                here as i64 - (at + i as u64) as i64
                            )
                        } else {
                            region(line)
                        };
                        let label = format!("{} in {place}", nd.name);
                        if !found.contains(&label) {
                            found.push(label);
                        }
                    }
                }
            }
            at += (n as u64).saturating_sub(64).max(1);
        }
    }
    buf.zeroize();
    found
}

/// A 16-character passphrase made at run time (not a literal in the binary), built in place.
fn make_pin() -> (Pin, Needle, String) {
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(16);
    for _ in 0..16 {
        s.push(rng.gen_range(b'a'..=b'z') as char);
    }
    let mut copy = s.as_bytes().to_vec();
    let needle = Needle::take("PIN", &mut copy);
    // Keep a way to make the same PIN again without holding it: the needle is hashed, so
    // keep the bytes masked.
    let masked: String = s
        .bytes()
        .map(|b| ((b - b'a' + 13) % 26 + b'a') as char)
        .collect();
    (Pin::new(s), needle, masked)
}

fn unmask(masked: &str) -> Pin {
    let mut s = String::with_capacity(16);
    for b in masked.bytes() {
        s.push(((b - b'a' + 13) % 26 + b'a') as char);
    }
    Pin::new(s)
}

fn key_needles(vault: &Vault, pin: &Pin, tag: &str) -> Vec<Needle> {
    let (mut stretched, mut kek) = vault.dangerous_derive_kek_bytes(pin).unwrap();
    vec![
        Needle::take(&format!("Argon2id output ({tag})"), stretched.as_mut()),
        Needle::take(&format!("KEK ({tag})"), kek.as_mut()),
    ]
}

#[test]
fn no_pin_or_key_in_memory_after_lock_and_pin_change() {
    let root = tempfile::tempdir().unwrap();
    let dir = vault_dir(root.path());
    let device: Arc<dyn DeviceSecretStore> = store(root.path());

    let (pin1, pin1_needle, pin1_masked) = make_pin();
    let vault = Vault::create(&dir, &pin1, test_options(), device.clone()).unwrap();
    drop(pin1);
    let mut needles = vec![pin1_needle];
    needles.extend(key_needles(&vault, &unmask(&pin1_masked), "PIN 1"));
    let mut dek = vault.dangerous_dek_bytes().unwrap();
    let dek_needle = Needle::take("DEK", dek.as_mut_slice());
    drop(dek);
    vault.lock();
    drop(vault);
    scrub_stack();

    // Unlock, use, lock: the real operations derive the same keys again.
    let vault = Vault::open(&dir, device.clone()).unwrap();
    vault.unlock(&unmask(&pin1_masked)).unwrap();
    vault
        .put("00112233445566778899aabbccddeeff", &credential(1))
        .unwrap();
    let _ = vault
        .get::<Credential>("00112233445566778899aabbccddeeff")
        .unwrap();
    let live = scan(std::slice::from_ref(&dek_needle));
    eprintln!("unlocked: {live:?}");
    assert!(
        !live.is_empty(),
        "positive control: the DEK of an unlocked vault is in memory"
    );
    vault.lock();
    let found = scan(
        &needles
            .iter()
            .chain([&dek_needle])
            .map(clone)
            .collect::<Vec<_>>(),
    );
    assert!(
        found.is_empty(),
        "after lock() the process memory still holds: {found:?}"
    );

    // PIN change 1 → 2, then learn PIN 2's keys; then 2 → 3 runs with those keys for real.
    let (pin2, pin2_needle, pin2_masked) = make_pin();
    vault.change_pin(&unmask(&pin1_masked), &pin2).unwrap();
    drop(pin2);
    vault.lock();
    needles.push(pin2_needle);
    needles.extend(key_needles(&vault, &unmask(&pin2_masked), "PIN 2"));
    scrub_stack();
    let (pin3, pin3_needle, _) = make_pin();
    vault.change_pin(&unmask(&pin2_masked), &pin3).unwrap();
    drop(pin3);
    needles.push(pin3_needle);
    let found = scan(&needles);
    assert!(
        found.is_empty(),
        "after change_pin the process memory still holds: {found:?}"
    );
    assert!(!scan(std::slice::from_ref(&dek_needle)).is_empty());
    vault.lock();
    needles.push(dek_needle);
    let found = scan(&needles);
    assert!(
        found.is_empty(),
        "after change_pin and lock() the process memory still holds: {found:?}"
    );
}

fn clone(n: &Needle) -> Needle {
    Needle {
        name: n.name.clone(),
        len: n.len,
        prefix_masked: n.prefix_masked,
        hash: n.hash,
    }
}
