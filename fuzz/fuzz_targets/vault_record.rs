//! The vault's record decoding, on bytes as an edited file or a buggy writer would leave
//! them: first byte odd → the rest is stored as the sealed envelope itself (authentication
//! must refuse it); even → the rest is sealed as the record's plaintext encoding, so the
//! decoder behind the AEAD sees it. Then `get` and `list` read it back as a real record type.
#![no_main]

use std::sync::{Arc, OnceLock};

use kluis_vault::{
    Durability, KdfParams, Pin, Record, SoftwareDeviceSecretStore, Vault, VaultError, VaultOptions,
};
use libfuzzer_sys::fuzz_target;

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    compact: String,
    issuer: String,
    vct: String,
    iat: Option<i64>,
    exp: Option<i64>,
    copies: Vec<String>,
    extra: serde_json::Value,
}
impl Record for Stored {
    const KIND: &'static str = "credential";
}

struct Fixture {
    _dir: tempfile::TempDir,
    vault: Vault,
}

fn vault() -> &'static Vault {
    static V: OnceLock<Fixture> = OnceLock::new();
    &V.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let device = Arc::new(SoftwareDeviceSecretStore::new(dir.path()));
        let options = VaultOptions {
            kdf: KdfParams::dangerous_test_profile(),
            ..VaultOptions::default()
        };
        let vault =
            Vault::create(dir.path(), &Pin::new("123456"), options, device).expect("create vault");
        vault
            .dangerous_set_durability(Durability::Normal)
            .expect("durability");
        Fixture { _dir: dir, vault }
    })
    .vault
}

const ID: &str = "00112233445566778899aabbccddeeff";

fuzz_target!(|data: &[u8]| {
    let Some((&flag, rest)) = data.split_first() else {
        return;
    };
    let v = vault();
    v.dangerous_put_raw(Stored::KIND, ID, rest, flag & 1 == 0)
        .expect("store raw bytes");
    match v.get::<Stored>(ID) {
        Ok(_) => {}
        Err(VaultError::Integrity { .. }) | Err(VaultError::Encoding(_)) => {}
        Err(e) => panic!("unexpected error class for a bad record: {e}"),
    }
    let listed = v
        .list::<Stored>()
        .expect("list never fails for one bad record");
    assert_eq!(listed.len(), 1);
    assert!(v.delete::<Stored>(ID).expect("delete"));
});
