//! The benchmark workload, shared by the kluis vault bench (core/vault/benches/vault.rs) and the
//! SQLCipher comparison: credential-like records of about 2 KB of JSON, as the wallet stores
//! them (the compact SD-JWT as received plus the decoded claims and display metadata).
//! Deterministic, so both benches see the same bytes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Number of records in the benchmark vault.
pub const RECORDS: usize = 10_000;

/// A stored credential as a wallet keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCredential {
    pub format: String,
    pub vct: String,
    pub issuer: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub received_at: i64,
    pub status: StatusRef,
    /// The compact SD-JWT (issuer JWT ~ disclosures ~), base64url: the bulk of the record.
    pub sd_jwt: String,
    /// Decoded claims for the overview.
    pub claims: BTreeMap<String, serde_json::Value>,
    pub display: Vec<Display>,
    pub batch_index: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusRef {
    pub uri: String,
    pub idx: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Display {
    pub lang: String,
    pub name: String,
    pub description: String,
}

/// A small deterministic generator (splitmix64), so both benches get identical data.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn b64url(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..n)
            .map(|_| A[(self.next() % 64) as usize] as char)
            .collect()
    }
}

const GIVEN: &[&str] = &[
    "Anouk", "Daan", "Fatima", "Sem", "Lotte", "Mohammed", "Eva", "Bram", "Noor", "Jan",
];
const FAMILY: &[&str] = &[
    "de Vries",
    "Jansen",
    "El Amrani",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
];
const STREETS: &[&str] = &[
    "Kalverstraat",
    "Oudegracht",
    "Coolsingel",
    "Grote Markt",
    "Lange Voorhout",
];
const TOWNS: &[&str] = &[
    "Amsterdam",
    "Utrecht",
    "Rotterdam",
    "Groningen",
    "Den Haag",
    "Zwolle",
];
const KINDS: &[(&str, &str, &str)] = &[
    (
        "https://duo.example",
        "urn:nl:duo:studieschuld:1",
        "Studieschuld",
    ),
    (
        "https://uwv.example",
        "urn:nl:uwv:inkomen:1",
        "Inkomensgegevens",
    ),
    (
        "https://cak.example",
        "urn:nl:cak:eigen-bijdrage:1",
        "Eigen bijdrage zorg",
    ),
    (
        "https://rdw.example",
        "urn:nl:rdw:voertuig:1",
        "Voertuiggegevens",
    ),
    (
        "https://gemeente.example",
        "urn:nl:brp:adres:1",
        "Woonadres",
    ),
];

/// Record number `n` of the workload.
pub fn credential(n: usize) -> StoredCredential {
    let mut g = Gen::new(n as u64 ^ 0x6b6c_7569);
    let (issuer, vct, title) = KINDS[n % KINDS.len()];
    let given = g.pick(GIVEN);
    let family = g.pick(FAMILY);
    let mut claims = BTreeMap::new();
    claims.insert("given_name".into(), serde_json::json!(given));
    claims.insert("family_name".into(), serde_json::json!(family));
    claims.insert(
        "birthdate".into(),
        serde_json::json!(format!(
            "19{:02}-{:02}-{:02}",
            40 + g.next() % 60,
            1 + g.next() % 12,
            1 + g.next() % 28
        )),
    );
    claims.insert(
        "address".into(),
        serde_json::json!({
            "street_address": format!("{} {}", g.pick(STREETS), 1 + g.next() % 300),
            "postal_code": format!("{}{}", 1000 + g.next() % 8999, g.b64url(2).to_uppercase()),
            "locality": g.pick(TOWNS),
            "country": "NL"
        }),
    );
    claims.insert(
        "amount_eur".into(),
        serde_json::json!((g.next() % 5_000_000) as f64 / 100.0),
    );
    claims.insert(
        "reference".into(),
        serde_json::json!(format!(
            "{}-{}",
            title.to_lowercase().replace(' ', "-"),
            g.next() % 1_000_000
        )),
    );
    claims.insert("valid_from".into(), serde_json::json!("2026-01-01"));
    claims.insert("nationalities".into(), serde_json::json!(["NL"]));
    // Issuer JWT (~750 chars) + 8 disclosures (~60 chars each) + separators.
    let mut sd_jwt = format!(
        "eyJhbGciOiJFUzI1NiIsInR5cCI6ImRjK3NkLWp3dCJ9.{}.{}",
        g.b64url(560),
        g.b64url(86)
    );
    for _ in 0..8 {
        sd_jwt.push('~');
        sd_jwt.push_str(&g.b64url(60));
    }
    sd_jwt.push('~');
    StoredCredential {
        format: "dc+sd-jwt".into(),
        vct: vct.into(),
        issuer: issuer.into(),
        issued_at: 1_767_225_600 + (n as i64) * 60,
        expires_at: 1_798_761_600,
        received_at: 1_767_225_660 + (n as i64) * 60,
        status: StatusRef {
            uri: format!("{issuer}/statuslists/1"),
            idx: (g.next() % 100_000) as u32,
        },
        sd_jwt,
        claims,
        display: vec![
            Display {
                lang: "nl".into(),
                name: title.into(),
                description: format!("{title} zoals geregistreerd bij de gegevenshouder"),
            },
            Display {
                lang: "en".into(),
                name: format!("{title} (NL)"),
                description: "As registered with the data holder".into(),
            },
        ],
        batch_index: (n % 3) as u32,
    }
}

/// Record ids: 32 hex characters, like `Vault::new_record_id()`.
pub fn record_id(n: usize) -> String {
    let mut g = Gen::new(n as u64 ^ 0x1d5);
    format!("{:016x}{:016x}", g.next(), g.next())
}

/// The overview line of a credential (what a home screen lists besides its id): both benches
/// keep it beside the full record, so that listing does not decode every credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub holder: String,
    pub vct: String,
    pub issued_at: i64,
    pub expires_at: i64,
    pub received_at: i64,
    pub state: u32,
}

/// The summary of a credential.
pub fn summary(c: &StoredCredential) -> Summary {
    Summary {
        holder: c.issuer.clone(),
        vct: c.vct.clone(),
        issued_at: c.issued_at,
        expires_at: c.expires_at,
        received_at: c.received_at,
        state: c.status.idx % 3,
    }
}
