//! Transaction data (OpenID4VP 1.0 §5.1, §8.4; Appendix B.3.3 for SD-JWT VC): the party asks the
//! citizen to confirm one specific thing, and the wallet binds what it showed into the key-binding
//! JWT of the presentation that authorizes it, as `transaction_data_hashes` (base64url SHA-256 of
//! each `transaction_data` string exactly as received). Both sides use this module: the party to
//! build the entries and check the hashes, the wallet to refuse what it does not know and to
//! bind what it showed (docs/PRESENTING.md "Transaction data").
//!
//! One type is known: [`MORTGAGE_OFFER`] (the bank's offer: its document's SHA-256 and the
//! amount). §5.1: a request with even one entry of an unknown type, or one that does not keep to
//! its type's definition, is refused whole.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::dcql::DcqlQuery;

/// The one transaction data type kluis knows: confirm a mortgage offer.
pub const MORTGAGE_OFFER: &str = "urn:kluis:transaction:mortgage-offer:1";
/// The only hash algorithm kluis computes (the one every implementation must support, §B.3.3).
pub const SHA_256: &str = "sha-256";
/// KB-JWT claim: the hashes of the entries this presentation authorizes.
pub const HASHES_CLAIM: &str = "transaction_data_hashes";
/// KB-JWT claim: the hash algorithm, when the request named the algorithms.
pub const HASHES_ALG_CLAIM: &str = "transaction_data_hashes_alg";

/// Entries in one request, at most: a consent screen shows each.
const MAX_ENTRIES: usize = 8;
/// Size of one entry as sent (base64url), at most.
const MAX_ENTRY_LEN: usize = 4096;
/// The longest description of the offered document shown.
const MAX_LABEL_CHARS: usize = 200;

/// What the citizen is asked to confirm.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Transaction {
    /// A mortgage offer ([`MORTGAGE_OFFER`]).
    MortgageOffer {
        /// The party's reference for the offer.
        offer_id: String,
        /// How the offer document is named to the citizen.
        document_label: String,
        /// base64url SHA-256 of the offer document (43 characters).
        document_sha256: String,
        /// The loan amount in euro cents.
        amount_eur_cents: u64,
    },
}

impl Transaction {
    /// Its `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Transaction::MortgageOffer { .. } => MORTGAGE_OFFER,
        }
    }

    fn members(&self) -> Map<String, Value> {
        match self {
            Transaction::MortgageOffer {
                offer_id,
                document_label,
                document_sha256,
                amount_eur_cents,
            } => {
                let v = json!({
                    "offer_id": offer_id,
                    "document_label": document_label,
                    "document_sha256": document_sha256,
                    "amount_eur_cents": amount_eur_cents,
                });
                match v {
                    Value::Object(m) => m,
                    _ => Map::new(),
                }
            }
        }
    }
}

/// One `transaction_data` entry, as received and as understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionData {
    /// The string exactly as it was in the request: what is hashed.
    pub raw: String,
    /// The DCQL credential query ids of which one presentation must authorize it.
    pub credential_ids: Vec<String>,
    /// `transaction_data_hashes_alg` when the party gave it (it then includes `sha-256`).
    pub hashes_alg: Option<Vec<String>>,
    /// What it asks.
    pub transaction: Transaction,
}

impl TransactionData {
    /// base64url(SHA-256(the entry as received)): its `transaction_data_hashes` value.
    pub fn hash(&self) -> String {
        hash(&self.raw)
    }
}

/// base64url(SHA-256(`raw`)), over the string as received (never a re-serialization).
pub fn hash(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(raw.as_bytes()))
}

/// Why transaction data was refused. Texts name the check, never the amount or the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionDataError {
    /// Not a non-empty array of at most a few strings, or an entry too large.
    #[error("transaction_data must be a non-empty array of at most {MAX_ENTRIES} base64url strings (OpenID4VP 1.0 §5.1)")]
    Shape,
    /// An entry that is not base64url of a JSON object.
    #[error("transaction_data entry {index} is not base64url-encoded JSON")]
    Encoding {
        /// From 1.
        index: usize,
    },
    /// An entry of a type kluis does not know: the whole request is refused (§5.1).
    #[error("transaction_data entry {index} has a type this wallet does not know (OpenID4VP 1.0 §5.1: refused whole)")]
    UnknownType {
        /// From 1.
        index: usize,
    },
    /// An entry that does not keep to its type's definition.
    #[error("transaction_data entry {index} does not keep to its type: {what}")]
    Malformed {
        /// From 1.
        index: usize,
        /// Which member.
        what: &'static str,
    },
    /// `credential_ids` missing, empty, or naming a query the request does not have.
    #[error("transaction_data entry {index}: credential_ids must name credential queries of this request")]
    CredentialIds {
        /// From 1.
        index: usize,
    },
    /// `transaction_data_hashes_alg` without `sha-256`, the only one computed here.
    #[error("transaction_data entry {index} asks for hash algorithms without sha-256")]
    HashAlg {
        /// From 1.
        index: usize,
    },
    /// A presentation that should authorize a transaction does not carry its hash, carries a hash
    /// of something not asked, or carries it where it does not belong.
    #[error("{0}")]
    Binding(String),
}

/// The `transaction_data` request member for `entries`, each `credential_ids` naming the query
/// ids that may authorize it (the party's side). `with_alg`: name the hash algorithm
/// (`transaction_data_hashes_alg: ["sha-256"]`), so the wallet states it back.
pub fn encode(entries: &[(Transaction, Vec<String>)], with_alg: bool) -> Value {
    Value::Array(
        entries
            .iter()
            .map(|(t, ids)| {
                let mut m = Map::new();
                m.insert("type".into(), Value::String(t.type_name().into()));
                m.insert("credential_ids".into(), json!(ids));
                if with_alg {
                    m.insert("transaction_data_hashes_alg".into(), json!([SHA_256]));
                }
                m.extend(t.members());
                Value::String(URL_SAFE_NO_PAD.encode(Value::Object(m).to_string()))
            })
            .collect(),
    )
}

fn text(
    m: &Map<String, Value>,
    name: &'static str,
    index: usize,
    max: usize,
) -> Result<String, TransactionDataError> {
    m.get(name)
        .and_then(Value::as_str)
        .filter(|s| {
            !s.trim().is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
        })
        .map(str::to_string)
        .ok_or(TransactionDataError::Malformed { index, what: name })
}

fn mortgage_offer(
    m: &Map<String, Value>,
    index: usize,
) -> Result<Transaction, TransactionDataError> {
    const KNOWN: [&str; 7] = [
        "type",
        "credential_ids",
        "transaction_data_hashes_alg",
        "offer_id",
        "document_label",
        "document_sha256",
        "amount_eur_cents",
    ];
    // The type is kluis's own: a member it does not define is something the citizen would not
    // be shown, so it is refused rather than ignored.
    if m.keys().any(|k| !KNOWN.contains(&k.as_str())) {
        return Err(TransactionDataError::Malformed {
            index,
            what: "a member the type does not define",
        });
    }
    let document_sha256 = text(m, "document_sha256", index, 43)?;
    if document_sha256.len() != 43
        || URL_SAFE_NO_PAD.decode(&document_sha256).map(|d| d.len()) != Ok(32)
    {
        return Err(TransactionDataError::Malformed {
            index,
            what: "document_sha256",
        });
    }
    let amount_eur_cents = m
        .get("amount_eur_cents")
        .and_then(Value::as_u64)
        .filter(|a| *a > 0)
        .ok_or(TransactionDataError::Malformed {
            index,
            what: "amount_eur_cents",
        })?;
    Ok(Transaction::MortgageOffer {
        offer_id: text(m, "offer_id", index, 64)?,
        document_label: text(m, "document_label", index, MAX_LABEL_CHARS)?,
        document_sha256,
        amount_eur_cents,
    })
}

/// Reads a request's `transaction_data` (absent: none): every entry must be of a known type,
/// keep to it, and name only credential queries of `dcql`. Any failure refuses the whole
/// request (§5.1).
pub fn parse(
    value: Option<&Value>,
    dcql: &DcqlQuery,
) -> Result<Vec<TransactionData>, TransactionDataError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let items = value
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= MAX_ENTRIES)
        .ok_or(TransactionDataError::Shape)?;
    let query_ids: BTreeSet<&str> = dcql.credentials.iter().map(|q| q.id.as_str()).collect();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let index = i + 1;
        let raw = item
            .as_str()
            .filter(|s| !s.is_empty() && s.len() <= MAX_ENTRY_LEN)
            .ok_or(TransactionDataError::Shape)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| TransactionDataError::Encoding { index })?;
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&bytes) else {
            return Err(TransactionDataError::Encoding { index });
        };
        let kind =
            m.get("type")
                .and_then(Value::as_str)
                .ok_or(TransactionDataError::Malformed {
                    index,
                    what: "type",
                })?;
        let transaction = match kind {
            MORTGAGE_OFFER => mortgage_offer(&m, index)?,
            _ => return Err(TransactionDataError::UnknownType { index }),
        };
        let credential_ids: Vec<String> = m
            .get("credential_ids")
            .and_then(Value::as_array)
            .filter(|a| !a.is_empty())
            .and_then(|a| {
                a.iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .filter(|ids| ids.iter().all(|id| query_ids.contains(id.as_str())))
            .ok_or(TransactionDataError::CredentialIds { index })?;
        let hashes_alg = match m.get("transaction_data_hashes_alg") {
            None => None,
            Some(v) => {
                let algs = v
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .and_then(|a| {
                        a.iter()
                            .map(|v| v.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or(TransactionDataError::Malformed {
                        index,
                        what: "transaction_data_hashes_alg",
                    })?;
                if !algs.iter().any(|a| a == SHA_256) {
                    return Err(TransactionDataError::HashAlg { index });
                }
                Some(algs)
            }
        };
        out.push(TransactionData {
            raw: raw.to_string(),
            credential_ids,
            hashes_alg,
            transaction,
        });
    }
    Ok(out)
}

/// Which answered query authorizes each entry (the wallet's side): the first of its
/// `credential_ids` the answer holds (§5.1: only one of them is used). `None` when the answer
/// holds none of them: the transaction cannot be confirmed with this answer.
pub fn authorizing_query<'a>(
    entry: &'a TransactionData,
    answered: &BTreeSet<String>,
) -> Option<&'a str> {
    entry
        .credential_ids
        .iter()
        .find(|id| answered.contains(id.as_str()))
        .map(String::as_str)
}

/// The KB-JWT claims binding `entries` (those this presentation authorizes): their hashes, and
/// the algorithm when any of them named algorithms. Empty for none.
pub fn kb_claims(entries: &[&TransactionData]) -> Map<String, Value> {
    let mut m = Map::new();
    if entries.is_empty() {
        return m;
    }
    m.insert(
        HASHES_CLAIM.into(),
        Value::Array(entries.iter().map(|e| Value::String(e.hash())).collect()),
    );
    if entries.iter().any(|e| e.hashes_alg.is_some()) {
        m.insert(HASHES_ALG_CLAIM.into(), Value::String(SHA_256.into()));
    }
    m
}

/// The hashes the KB-JWT at the end of `presentation` (its signature already verified) carries,
/// and its stated algorithm.
fn kb_hashes(
    presentation: &str,
) -> Result<(Option<Vec<String>>, Option<String>), TransactionDataError> {
    let bad = || {
        TransactionDataError::Binding(
            "a key-binding JWT's transaction_data_hashes is not an array of strings".into(),
        )
    };
    let claims: Value = presentation
        .trim()
        .rsplit('~')
        .next()
        .and_then(|kb| kb.split('.').nth(1))
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Value::Null);
    let hashes = match claims.get(HASHES_CLAIM) {
        None => None,
        Some(v) => Some(
            v.as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|h| h.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(bad)?,
        ),
    };
    let alg = match claims.get(HASHES_ALG_CLAIM) {
        None => None,
        Some(Value::String(a)) => Some(a.clone()),
        Some(_) => return Err(bad()),
    };
    Ok((hashes, alg))
}

/// Checks an answer's binding of the request's transaction data (the party's side):
/// `presentations` are the answer's (query id, compact presentation) pairs, key binding already
/// verified. Every entry's hash must be in the KB-JWT of a presentation for one of its
/// `credential_ids`; no KB-JWT may carry a hash of anything else (another request's, a changed
/// amount) or one for an entry that does not name its query; a stated algorithm must be
/// `sha-256` and is required when the entry named algorithms.
pub fn check(
    entries: &[TransactionData],
    presentations: &[(&str, &str)],
) -> Result<(), TransactionDataError> {
    let mut bound = vec![false; entries.len()];
    for (qid, p) in presentations {
        let (hashes, alg) = kb_hashes(p)?;
        let Some(hashes) = hashes else {
            if alg.is_some() {
                return Err(TransactionDataError::Binding(format!(
                    "query '{qid}': transaction_data_hashes_alg without transaction_data_hashes"
                )));
            }
            continue;
        };
        if hashes.is_empty() {
            return Err(TransactionDataError::Binding(format!(
                "query '{qid}': an empty transaction_data_hashes"
            )));
        }
        if alg.as_deref().is_some_and(|a| a != SHA_256) {
            return Err(TransactionDataError::Binding(format!(
                "query '{qid}': transaction_data_hashes_alg is not sha-256"
            )));
        }
        for h in &hashes {
            let Some(i) = entries.iter().position(|e| e.hash() == *h) else {
                return Err(TransactionDataError::Binding(format!(
                    "query '{qid}': the presentation confirms a transaction this request did not ask (its hash matches no transaction_data entry)"
                )));
            };
            if !entries[i].credential_ids.iter().any(|id| id == qid) {
                return Err(TransactionDataError::Binding(format!(
                    "query '{qid}': transaction_data entry {} may not be confirmed with this query's credential",
                    i + 1
                )));
            }
            if entries[i].hashes_alg.is_some() && alg.is_none() {
                return Err(TransactionDataError::Binding(format!(
                    "query '{qid}': transaction_data_hashes_alg is required (the request named the algorithms)"
                )));
            }
            bound[i] = true;
        }
    }
    if let Some(i) = bound.iter().position(|b| !b) {
        return Err(TransactionDataError::Binding(format!(
            "transaction_data entry {} is not confirmed by any presentation (its hash is missing)",
            i + 1
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn offer(amount: u64) -> Transaction {
        Transaction::MortgageOffer {
            offer_id: "HYP-2026-0042".into(),
            document_label: "Hypotheekofferte".into(),
            document_sha256: URL_SAFE_NO_PAD.encode(Sha256::digest(b"offer.pdf")),
            amount_eur_cents: amount,
        }
    }

    fn dcql() -> DcqlQuery {
        DcqlQuery::parse(&json!({ "credentials": [ { "id": "person", "format": "dc+sd-jwt" } ] }))
            .unwrap()
    }

    fn entry(m: Value) -> Value {
        json!([URL_SAFE_NO_PAD.encode(m.to_string())])
    }

    #[test]
    fn what_the_party_encodes_the_wallet_reads_back() {
        let v = encode(&[(offer(35_000_000), vec!["person".into()])], true);
        let parsed = parse(Some(&v), &dcql()).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].transaction, offer(35_000_000));
        assert_eq!(parsed[0].raw, v[0].as_str().unwrap());
        assert_eq!(parsed[0].hash().len(), 43);
        assert_eq!(
            parsed[0].hashes_alg.as_deref(),
            Some(&[SHA_256.to_string()][..])
        );
    }

    #[test]
    fn unknown_types_nonconforming_entries_and_foreign_queries_are_refused() {
        let d = dcql();
        let good = || {
            json!({ "type": MORTGAGE_OFFER, "credential_ids": ["person"], "offer_id": "x",
                "document_label": "Offerte", "document_sha256": URL_SAFE_NO_PAD.encode([7u8; 32]),
                "amount_eur_cents": 100 })
        };
        assert!(parse(Some(&entry(good())), &d).is_ok());
        let mut unknown = good();
        unknown["type"] = json!("urn:example:payment:1");
        assert_eq!(
            parse(Some(&entry(unknown)), &d),
            Err(TransactionDataError::UnknownType { index: 1 })
        );
        for (member, value) in [
            ("amount_eur_cents", json!(0)),
            ("amount_eur_cents", json!("350000")),
            ("document_sha256", json!("short")),
            ("extra", json!("not shown to the citizen")),
            ("transaction_data_hashes_alg", json!(["sha-512"])),
            ("credential_ids", json!(["other"])),
            ("credential_ids", json!([])),
        ] {
            let mut e = good();
            e[member] = value;
            assert!(parse(Some(&entry(e)), &d).is_err(), "{member} accepted");
        }
        assert_eq!(
            parse(Some(&json!([])), &d),
            Err(TransactionDataError::Shape)
        );
        assert_eq!(
            parse(Some(&json!(["%%%"])), &d),
            Err(TransactionDataError::Encoding { index: 1 })
        );
    }
}
