//! Credential offers (OpenID4VCI 1.0 §4.1) as they reach the wallet in a QR code or deep link:
//! `openid-credential-offer://?credential_offer=<JSON>` (by value) or
//! `…?credential_offer_uri=<https URL>` (by reference), with the pre-authorized code grant or
//! the authorization code grant (the citizen logs in at the holder in a browser; see
//! `authorization.rs`). When an offer has both, the pre-authorized code is used.

use reqwest::Url;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::http::{checked_url, shorten};
use crate::Error;

/// The pre-authorized code grant type.
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";

/// The authorization code grant type.
pub const AUTHORIZATION_CODE_GRANT: &str = "authorization_code";

/// The grant an offer is collected with.
pub(crate) enum OfferGrant {
    /// The pre-authorized code (a bearer secret: zeroized, never shown).
    PreAuthorized(Zeroizing<String>),
    /// The authorization code flow; `issuer_state` ties the login to the offer.
    AuthorizationCode { issuer_state: Option<String> },
}

/// Longest offer URI accepted (a QR code holds less than 3 KB; deep links a little more).
const MAX_OFFER_URI: usize = 16 * 1024;

/// How the holder wants the transaction code entered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TxCodeSpec {
    /// Digits only, or any characters.
    pub input_mode: TxInputMode,
    /// Expected length, if said.
    pub length: Option<u32>,
    /// What to tell the citizen (where the code is).
    pub description: Option<String>,
}

/// The keyboard a transaction code needs (OpenID4VCI 1.0 credential offer, `tx_code.input_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TxInputMode {
    /// Digits only (`numeric`, the default when the offer says nothing).
    Numeric,
    /// Any characters (`text`).
    Text,
}

impl TxInputMode {
    /// The offer's `input_mode`. A value the spec does not define is read as `text`, the mode
    /// that lets the citizen type whatever the holder sent (refusing the offer would be stricter
    /// than the spec).
    fn parse(value: Option<&str>) -> TxInputMode {
        match value {
            None | Some("numeric") => TxInputMode::Numeric,
            Some(_) => TxInputMode::Text,
        }
    }
}

/// A parsed credential offer. The pre-authorized code is a bearer secret: zeroized, never shown.
pub struct CredentialOffer {
    /// The issuer's identifier (an https URL, or http on loopback).
    pub credential_issuer: String,
    /// What it offers.
    pub credential_configuration_ids: Vec<String>,
    pub(crate) grant: OfferGrant,
    /// Present when a transaction code is needed.
    pub tx_code: Option<TxCodeSpec>,
}

/// Where the offer is: in the link itself, or behind a URL.
pub(crate) enum OfferSource {
    ByValue(Value),
    ByReference(Url),
}

/// Reads the offer parameter of a deep link or QR payload.
pub(crate) fn parse_offer_uri(uri: &str) -> Result<OfferSource, Error> {
    let uri = uri.trim();
    if uri.len() > MAX_OFFER_URI {
        return Err(Error::invalid_input(format!(
            "the credential offer is longer than {MAX_OFFER_URI} bytes"
        )));
    }
    let url =
        Url::parse(uri).map_err(|_| Error::invalid_input("the credential offer is not a URI"))?;
    if !matches!(url.scheme(), "openid-credential-offer" | "https" | "http") {
        return Err(Error::invalid_input(format!(
            "not a credential offer (scheme {:?})",
            url.scheme()
        )));
    }
    let mut by_value = None;
    let mut by_ref = None;
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "credential_offer" if by_value.is_none() => by_value = Some(v.into_owned()),
            "credential_offer_uri" if by_ref.is_none() => by_ref = Some(v.into_owned()),
            "credential_offer" | "credential_offer_uri" => {
                return Err(Error::invalid_input(
                    "the credential offer repeats its offer parameter",
                ))
            }
            _ => {}
        }
    }
    match (by_value, by_ref) {
        (Some(v), None) => {
            let json: Value = serde_json::from_str(&v)
                .map_err(|_| Error::invalid_input("the credential offer's JSON does not parse"))?;
            Ok(OfferSource::ByValue(json))
        }
        (None, Some(r)) => Ok(OfferSource::ByReference(checked_url(&r)?)),
        (Some(_), Some(_)) => Err(Error::invalid_input(
            "a credential offer has either credential_offer or credential_offer_uri, not both",
        )),
        (None, None) => Err(Error::invalid_input(format!(
            "{} has no credential_offer or credential_offer_uri",
            shorten(uri)
        ))),
    }
}

impl CredentialOffer {
    /// Validates the offer object.
    pub(crate) fn from_json(v: &Value) -> Result<CredentialOffer, Error> {
        let bad = |what: &str| Error::invalid_input(format!("the credential offer {what}"));
        let issuer = v
            .get("credential_issuer")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("has no credential_issuer"))?;
        checked_url(issuer)?;
        let ids: Vec<String> = v
            .get("credential_configuration_ids")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("has no credential_configuration_ids"))?
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("has a non-string configuration id"))?;
        if ids.is_empty() || ids.len() > 32 {
            return Err(bad("must offer 1 to 32 credential configurations"));
        }
        let grants = v.get("grants");
        let Some(grant) = grants.and_then(|g| g.get(PRE_AUTHORIZED_GRANT)) else {
            let Some(auth) = grants.and_then(|g| g.get(AUTHORIZATION_CODE_GRANT)) else {
                return Err(bad(
                    "has neither a pre-authorized code nor an authorization code grant",
                ));
            };
            let issuer_state = match auth.get("issuer_state") {
                None => None,
                Some(Value::String(s)) if !s.is_empty() && s.len() <= 4096 => Some(s.clone()),
                Some(_) => return Err(bad("has an unusable issuer_state")),
            };
            return Ok(CredentialOffer {
                credential_issuer: issuer.to_string(),
                credential_configuration_ids: ids,
                grant: OfferGrant::AuthorizationCode { issuer_state },
                tx_code: None,
            });
        };
        let code = grant
            .get("pre-authorized_code")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or_else(|| bad("has no usable pre-authorized_code"))?;
        let tx_code = grant.get("tx_code").map(|t| TxCodeSpec {
            input_mode: TxInputMode::parse(t.get("input_mode").and_then(Value::as_str)),
            length: t
                .get("length")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok()),
            description: t
                .get("description")
                .and_then(Value::as_str)
                .map(|d| d.chars().take(300).collect()),
        });
        Ok(CredentialOffer {
            credential_issuer: issuer.to_string(),
            credential_configuration_ids: ids,
            grant: OfferGrant::PreAuthorized(Zeroizing::new(code.to_string())),
            tx_code,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_by_value_and_by_reference() {
        let offer = serde_json::json!({
            "credential_issuer": "https://duo.example",
            "credential_configuration_ids": ["student-debt"],
            "grants": { PRE_AUTHORIZED_GRANT: { "pre-authorized_code": "abc", "tx_code": { "length": 6 } } }
        });
        let enc: String = offer
            .to_string()
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect();
        let src = parse_offer_uri(&format!(
            "openid-credential-offer://?credential_offer={enc}"
        ))
        .unwrap();
        let OfferSource::ByValue(v) = src else {
            panic!("by value expected")
        };
        let o = CredentialOffer::from_json(&v).unwrap();
        assert_eq!(o.credential_issuer, "https://duo.example");
        assert_eq!(o.tx_code.unwrap().length, Some(6));
        let src = parse_offer_uri(
            "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fduo.example%2Fo%2F1",
        )
        .unwrap();
        assert!(
            matches!(src, OfferSource::ByReference(u) if u.as_str() == "https://duo.example/o/1")
        );
    }

    #[test]
    fn refuses_bad_offers() {
        for bad in [
            "openid-credential-offer://?nothing=1",
            "openid-credential-offer://?credential_offer=%7Bnot-json",
            "openid-credential-offer://?credential_offer_uri=http%3A%2F%2Fduo.example%2Fo",
            "mailto:someone@example.org",
        ] {
            assert!(parse_offer_uri(bad).is_err(), "{bad}");
        }
        let no_grant = serde_json::json!({
            "credential_issuer": "https://duo.example",
            "credential_configuration_ids": ["x"],
            "grants": {}
        });
        assert!(CredentialOffer::from_json(&no_grant).is_err());
        let http_issuer = serde_json::json!({
            "credential_issuer": "http://duo.example",
            "credential_configuration_ids": ["x"],
            "grants": { PRE_AUTHORIZED_GRANT: { "pre-authorized_code": "abc" } }
        });
        assert!(CredentialOffer::from_json(&http_issuer).is_err());
    }
}
