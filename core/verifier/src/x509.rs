//! X.509 certificate chains to the scheme's certificate authority: a party's access certificate
//! (`x5c` of a request object under `x509_hash:`, OpenID4VP 1.0 §5.9.3) and an issuer's signing
//! certificate (`x5c` of an SD-JWT VC, HAIP 1.0 issuer key resolution).
//!
//! The anchors are the CA certificates the scheme's signed participant list carries
//! ([`crate::scheme::ParticipantList::certificate_authorities`]): the pinned scheme key vouches
//! for them, they vouch for the leaves. Parsing, path building and signature checks are
//! OpenSSL's; this module adds the time the wallet means (not the system clock), the leaf's key
//! usage, P-256 only, and typed refusals.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use kluis_sdjwt::PublicJwk;
use openssl::asn1::Asn1Time;
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::verify::X509VerifyParam;
use openssl::x509::{X509Ref, X509StoreContext, X509VerifyResult, X509};
use serde_json::Value;

/// The `client_id` prefix of a party identified by the hash of its access certificate.
pub const X509_HASH_PREFIX: &str = "x509_hash:";

/// Most certificates accepted in one `x5c` (leaf and intermediates).
pub const MAX_CHAIN: usize = 5;

/// Largest DER certificate accepted.
const MAX_CERT_BYTES: usize = 8 * 1024;

/// Why a certificate chain was refused. The text names no personal data (certificates name
/// organisations, and the text does not quote them anyway).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// `x5c` is not a non-empty array of base64 DER certificates (RFC 7515 §4.1.6).
    #[error("the x5c header is not a list of base64 DER certificates ({0})")]
    Malformed(&'static str),
    /// The scheme names no certificate authority to check the chain against.
    #[error("the scheme names no certificate authority: an x5c chain cannot be checked")]
    NoAnchor,
    /// A certificate in the chain is past its notAfter.
    #[error("a certificate in the x5c chain has expired")]
    Expired,
    /// A certificate in the chain is before its notBefore.
    #[error("a certificate in the x5c chain is not valid yet")]
    NotYetValid,
    /// The chain does not lead to the scheme's certificate authority (or a signature in it is
    /// wrong, or a CA in it may not issue certificates).
    #[error("the x5c chain does not lead to the scheme's certificate authority ({0})")]
    NotToScheme(String),
    /// The leaf's key usage does not allow signatures.
    #[error("the x5c leaf certificate's key usage does not allow digital signatures")]
    KeyUsage,
    /// The leaf's key is not a P-256 key.
    #[error("the x5c leaf certificate's key is not a P-256 key")]
    UnsupportedKey,
}

/// A chain whose every check passed.
#[derive(Debug, Clone)]
pub struct VerifiedChain {
    /// `base64url(sha-256(DER leaf))`: what an `x509_hash:` client identifier names.
    pub leaf_hash: String,
    /// The leaf's public key: what must have signed the JWS.
    pub leaf_key: PublicJwk,
    /// The leaf's notAfter (Unix seconds).
    pub not_after: i64,
    /// The AuthorityKeyIdentifier keyIdentifiers of the chain's certificates, base64url (what
    /// a DCQL `trusted_authorities` entry of type `aki` names, OpenID4VP 1.0 §6.1.1).
    pub authority_key_ids: Vec<String>,
}

/// `base64url(sha-256(der))`, the value of an `x509_hash:` client identifier.
pub fn x509_hash(der: &[u8]) -> String {
    use sha2::Digest as _;
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(der))
}

/// The `x5c` JOSE header (an array of base64 — not base64url — DER certificates, leaf first).
pub fn x5c_from_header(header: &serde_json::Map<String, Value>) -> Result<Vec<String>, ChainError> {
    let items = header
        .get("x5c")
        .ok_or(ChainError::Malformed("no x5c header"))?
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or(ChainError::Malformed("not a non-empty array"))?;
    if items.len() > MAX_CHAIN {
        return Err(ChainError::Malformed("too many certificates"));
    }
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or(ChainError::Malformed("an entry is not a string"))
        })
        .collect()
}

fn decode(b64: &str) -> Result<X509, ChainError> {
    if b64.len() > MAX_CERT_BYTES * 4 / 3 + 4 {
        return Err(ChainError::Malformed("a certificate is too large"));
    }
    let der = STANDARD
        .decode(b64.trim())
        .map_err(|_| ChainError::Malformed("an entry is not base64"))?;
    X509::from_der(&der).map_err(|_| ChainError::Malformed("an entry is not a DER certificate"))
}

fn validity(cert: &X509Ref, now: &Asn1Time) -> Result<(), ChainError> {
    if cert.not_after() < now {
        return Err(ChainError::Expired);
    }
    if cert.not_before() > now {
        return Err(ChainError::NotYetValid);
    }
    Ok(())
}

fn unix(t: &openssl::asn1::Asn1TimeRef) -> Result<i64, ChainError> {
    let epoch = Asn1Time::from_unix(0).map_err(|_| ChainError::Malformed("time"))?;
    let d = epoch
        .diff(t)
        .map_err(|_| ChainError::Malformed("a certificate's time"))?;
    Ok(i64::from(d.days) * 86_400 + i64::from(d.secs))
}

/// Checks `x5c` (leaf first, intermediates after; a trust anchor at its end is tolerated) against
/// the scheme's CA certificates `anchors` (base64 DER) at `now`: each certificate in its validity
/// period, every signature up to an anchor, CAs allowed to issue (OpenSSL's path validation), the
/// leaf's key usage allowing signatures (when it has the extension), its key P-256.
pub fn verify_chain(
    x5c: &[String],
    anchors: &[String],
    now: i64,
) -> Result<VerifiedChain, ChainError> {
    if x5c.is_empty() || x5c.len() > MAX_CHAIN {
        return Err(ChainError::Malformed("the chain is empty or too long"));
    }
    if anchors.is_empty() {
        return Err(ChainError::NoAnchor);
    }
    let certs = x5c
        .iter()
        .map(|c| decode(c))
        .collect::<Result<Vec<_>, _>>()?;
    let at = Asn1Time::from_unix(now).map_err(|_| ChainError::Malformed("time"))?;
    for c in &certs {
        validity(c, &at)?;
    }
    let internal = |_| ChainError::NotToScheme("certificate store".into());
    let mut store = X509StoreBuilder::new().map_err(internal)?;
    for a in anchors {
        let anchor = decode(a)
            .map_err(|_| ChainError::NotToScheme("the scheme's CA is unreadable".into()))?;
        store.add_cert(anchor).map_err(internal)?;
    }
    let mut param = X509VerifyParam::new().map_err(internal)?;
    // The wallet's clock, not the system's: tests and devices with a set clock mean the same.
    param.set_time(now as _);
    param.set_depth(MAX_CHAIN as i32);
    store.set_param(&param).map_err(internal)?;
    let store = store.build();
    let mut chain = Stack::new().map_err(internal)?;
    for c in &certs[1..] {
        chain.push(c.clone()).map_err(internal)?;
    }
    let leaf = &certs[0];
    let mut ctx = X509StoreContext::new().map_err(internal)?;
    let result = ctx
        .init(&store, leaf, &chain, |c| {
            let ok = c.verify_cert()?;
            Ok((ok, c.error()))
        })
        .map_err(internal)?;
    match result {
        (true, _) => {}
        (false, e) if e == X509VerifyResult::OK => {
            return Err(ChainError::NotToScheme("unverified".into()))
        }
        (false, e) => return Err(ChainError::NotToScheme(e.error_string().to_string())),
    }
    if let Some(usage) = leaf.key_usage() {
        if !usage.contains(openssl::x509::X509KeyUsage::DIGITAL_SIGNATURE) {
            return Err(ChainError::KeyUsage);
        }
    }
    let spki = leaf
        .public_key()
        .and_then(|k| k.public_key_to_der())
        .map_err(|_| ChainError::UnsupportedKey)?;
    let leaf_key =
        PublicJwk::from_platform_encoding(&spki).map_err(|_| ChainError::UnsupportedKey)?;
    let leaf_der = leaf
        .to_der()
        .map_err(|_| ChainError::Malformed("leaf encoding"))?;
    Ok(VerifiedChain {
        leaf_hash: x509_hash(&leaf_der),
        leaf_key,
        not_after: unix(leaf.not_after())?,
        authority_key_ids: certs
            .iter()
            .filter_map(|c| c.authority_key_id())
            .map(|k| URL_SAFE_NO_PAD.encode(k.as_slice()))
            .collect(),
    })
}

/// The AuthorityKeyIdentifier keyIdentifiers (base64url) of the certificates in `x5c`, without
/// checking the chain (matching a DCQL `aki` against a credential the wallet already verified
/// when it stored it).
pub fn authority_key_ids(x5c: &[String]) -> Vec<String> {
    x5c.iter()
        .filter_map(|c| decode(c).ok())
        .filter_map(|c| {
            c.authority_key_id()
                .map(|k| URL_SAFE_NO_PAD.encode(k.as_slice()))
        })
        .collect()
}

/// The certificates of a PEM file (leaf first) as `x5c` entries (base64 DER): a party's
/// configured access certificate chain.
pub fn chain_from_pem(pem: &[u8]) -> Result<Vec<String>, ChainError> {
    let certs =
        X509::stack_from_pem(pem).map_err(|_| ChainError::Malformed("not PEM certificates"))?;
    if certs.is_empty() || certs.len() > MAX_CHAIN {
        return Err(ChainError::Malformed("the chain is empty or too long"));
    }
    certs
        .iter()
        .map(|c| {
            c.to_der()
                .map(|d| STANDARD.encode(d))
                .map_err(|_| ChainError::Malformed("a certificate does not encode"))
        })
        .collect()
}

/// The `x509_hash:` client identifier of the leaf of `x5c` (base64 DER entries).
pub fn x509_hash_client_id(x5c: &[String]) -> Result<String, ChainError> {
    let leaf = x5c
        .first()
        .ok_or(ChainError::Malformed("the chain is empty"))?;
    let der = decode(leaf)?
        .to_der()
        .map_err(|_| ChainError::Malformed("leaf encoding"))?;
    Ok(format!("{X509_HASH_PREFIX}{}", x509_hash(&der)))
}
