//! Entry points for the fuzz targets in `fuzz/` (not an API): the offer and metadata parsers
//! are crate-private because apps reach them only through [`crate::Wallet`], which also does
//! HTTP. These run the same parsing code on bytes from outside, without I/O.

use serde_json::Value;

use super::metadata::IssuerMetadata;
use super::offer::{parse_offer_uri, CredentialOffer, OfferSource};
use crate::Error;

/// Parses a credential offer link (QR or deep link) and, when it carries the offer by value,
/// validates the offer object. Returns the number of offered configurations.
pub fn dangerous_parse_offer(uri: &str) -> Result<usize, Error> {
    match parse_offer_uri(uri)? {
        OfferSource::ByValue(v) => Ok(CredentialOffer::from_json(&v)?
            .credential_configuration_ids
            .len()),
        OfferSource::ByReference(_) => Ok(0),
    }
}

/// Validates an offer object as fetched from a `credential_offer_uri`.
pub fn dangerous_parse_offer_json(v: &Value) -> Result<usize, Error> {
    Ok(CredentialOffer::from_json(v)?
        .credential_configuration_ids
        .len())
}

/// Checks issuer metadata and authorization server metadata documents fetched for `issuer`
/// as `fetch` does, and asks for the `vct` of every configuration it kept.
pub fn dangerous_parse_metadata(issuer: &str, meta: &Value, as_meta: &Value) -> Result<(), Error> {
    let auth_server = IssuerMetadata::check_issuer_document(issuer, meta)?;
    let m = IssuerMetadata::from_documents(issuer, meta, &auth_server, as_meta)?;
    for id in m.configs.keys() {
        m.vct_of(id)?;
    }
    let _ = super::metadata::pick_display(&m.display, "nl");
    Ok(())
}
