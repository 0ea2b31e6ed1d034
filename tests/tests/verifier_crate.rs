//! "A landlord integrating kluis takes this crate alone" (issue 17, docs/ARCHITECTURE.md): the
//! requesting party's crates carry no wallet. Read from `cargo metadata`'s resolved graph, the
//! normal (non-dev) dependencies of kluis-verifier, of the party's server built on it
//! (kluis-verifier-server, binary `kluis-verifier`) and of the simulated parties
//! (kluis-fixtures), followed to the end, hold no vault, no SQLite and no wallet crate; the same
//! walk over kluis-core finds them, so an empty answer is not a broken walk.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// What a verifier's build must never pull in.
const WALLET_ONLY: &[&str] = &["kluis-core", "kluis-vault", "rusqlite", "libsqlite3-sys"];

struct Graph {
    /// Package id → (name, ids of its normal dependencies).
    nodes: BTreeMap<String, (String, Vec<String>)>,
}

impl Graph {
    fn read() -> Graph {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .join("Cargo.toml");
        let out = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--offline"])
            .arg("--manifest-path")
            .arg(&manifest)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
        let names: BTreeMap<String, String> = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_string(),
                    p["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut nodes = BTreeMap::new();
        for n in meta["resolve"]["nodes"].as_array().unwrap() {
            let id = n["id"].as_str().unwrap().to_string();
            // Only what a build of the package itself links: no dev-dependencies (a test may
            // use what it checks against) and no build scripts' own dependencies.
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| d["pkg"].as_str().unwrap().to_string())
                .collect();
            nodes.insert(id.clone(), (names[&id].clone(), deps));
        }
        Graph { nodes }
    }

    /// The names of every package `name` depends on, directly or not.
    fn tree_of(&self, name: &str) -> BTreeSet<String> {
        let start: Vec<&String> = self
            .nodes
            .iter()
            .filter(|(_, (n, _))| n == name)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(start.len(), 1, "{name} is not in the workspace's graph");
        let mut seen: BTreeSet<&String> = BTreeSet::new();
        let mut todo = start;
        while let Some(id) = todo.pop() {
            for d in &self.nodes[id].1 {
                if seen.insert(d) {
                    todo.push(d);
                }
            }
        }
        seen.into_iter()
            .map(|id| self.nodes[id].0.clone())
            .collect()
    }
}

fn wallet_parts(tree: &BTreeSet<String>) -> Vec<&'static str> {
    WALLET_ONLY
        .iter()
        .copied()
        .filter(|w| tree.contains(*w))
        .collect()
}

#[test]
fn the_verifier_crates_pull_in_no_wallet_vault_or_sqlite() {
    let g = Graph::read();
    let verifier = g.tree_of("kluis-verifier");
    // The walk is real: the formats it builds on are there.
    for needed in ["kluis-sdjwt", "kluis-qr", "josekit", "reqwest"] {
        assert!(verifier.contains(needed), "{needed} missing: {verifier:?}");
    }
    assert_eq!(wallet_parts(&verifier), Vec::<&str>::new());
    let server = g.tree_of("kluis-verifier-server");
    assert!(server.contains("kluis-verifier") && server.contains("redis"));
    assert_eq!(wallet_parts(&server), Vec::<&str>::new());
    // The simulated landlord and bank (kluis-fixtures) are parties integrating kluis too.
    // They run the party's service itself (fixtures -> server, never the other way: the
    // service carries none of the fixtures' test knobs).
    let fixtures = g.tree_of("kluis-fixtures");
    assert!(fixtures.contains("kluis-verifier") && fixtures.contains("kluis-verifier-server"));
    assert_eq!(wallet_parts(&fixtures), Vec::<&str>::new());
    assert!(!server.contains("kluis-fixtures"), "{server:?}");
    // ... and it finds the vault and SQLite where they are.
    let core = g.tree_of("kluis-core");
    assert!(core.contains("kluis-verifier"));
    assert_eq!(
        wallet_parts(&core),
        vec!["kluis-vault", "rusqlite", "libsqlite3-sys"]
    );
}
