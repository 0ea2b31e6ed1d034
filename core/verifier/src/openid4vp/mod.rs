//! OpenID for Verifiable Presentations 1.0 with DCQL, the requesting party's side
//! (docs/PRESENTING.md): [`verifier`] (build signed requests, verify responses), [`offline`]
//! (verify an offline QR at a desk), [`proximity`] (the session QR: the party's request over a
//! relay to the citizen's phone). [`dcql`] is the query language and [`client_id`] the client
//! identifier prefixes, which the wallet (kluis-core) uses too, as it does the request
//! vocabulary here, [`association`] (one answer's presentations come from one wallet) and
//! [`transaction_data`] (what the citizen confirms, bound in the key-binding JWT).

pub mod association;
pub mod client_id;
pub mod dc_api;
pub mod dcql;
pub mod offline;
pub mod proximity;
pub mod transaction_data;
pub mod verifier;

use serde::Serialize;
use serde_json::{json, Value};

/// `typ` of a request object.
pub const REQUEST_OBJECT_TYP: &str = "oauth-authz-req+jwt";
/// Longest validity (`exp` − `iat`) accepted.
pub const MAX_REQUEST_LIFETIME_SECS: i64 = 600;
/// How the response is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Form POST of `vp_token` and `state`.
    DirectPost,
    /// Form POST of `response`, a JWE to the party's key.
    DirectPostJwt,
    /// Back through the Digital Credentials API: `vp_token` in the `data` object the platform
    /// hands to the calling page (OpenID4VP 1.0 Appendix A).
    DcApi,
    /// As [`ResponseMode::DcApi`], the answer in `response`, a JWE to the party's key.
    DcApiJwt,
}

impl ResponseMode {
    /// The `response_mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseMode::DirectPost => "direct_post",
            ResponseMode::DirectPostJwt => "direct_post.jwt",
            ResponseMode::DcApi => "dc_api",
            ResponseMode::DcApiJwt => "dc_api.jwt",
        }
    }

    /// Whether the answer is encrypted to the party's key.
    pub fn is_encrypted(self) -> bool {
        matches!(self, ResponseMode::DirectPostJwt | ResponseMode::DcApiJwt)
    }

    /// Whether the answer goes back through the Digital Credentials API (no `response_uri`).
    pub fn is_dc_api(self) -> bool {
        matches!(self, ResponseMode::DcApi | ResponseMode::DcApiJwt)
    }
}

/// The purpose and retention the party states: from the scheme-signed registration certificate
/// in `verifier_info` (OpenID4VP 1.0 §5.11), or the `kluis_purpose` fallback (docs/PRESENTING.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatedPurpose {
    /// One of the party's registered purpose ids.
    pub id: String,
    /// How long it says it keeps the data.
    pub retention_days: Option<u32>,
}

/// The landlord's standard rental-application disclosure (name, current address, monthly
/// income, no registered payment arrears) as a DCQL query: one credential each from the
/// municipality (BRP), UWV and CAK; the arrears claim must be `false`.
pub fn rental_dcql() -> Value {
    json!({
        "credentials": [
            {
                "id": "person",
                "format": "dc+sd-jwt",
                "meta": { "vct_values": ["urn:nl:gemeente:brp-address:1"] },
                "claims": [
                    { "path": ["given_name"] },
                    { "path": ["family_name"] },
                    { "path": ["address"] }
                ]
            },
            {
                "id": "income",
                "format": "dc+sd-jwt",
                "meta": { "vct_values": ["urn:nl:uwv:income-statement:1"] },
                "claims": [ { "path": ["monthly_gross_income_eur"] } ]
            },
            {
                "id": "arrears",
                "format": "dc+sd-jwt",
                "meta": { "vct_values": ["urn:nl:cak:care-arrears:1"] },
                "claims": [ { "path": ["registered_payment_arrears"], "values": [false] } ]
            }
        ]
    })
}

/// A DCQL claims path pointer as text (`/a/*/b` with `*` for `null`), for display.
pub fn dcql_path_text(path: &[dcql::PathStep]) -> String {
    let mut out = String::new();
    for s in path {
        out.push('/');
        match s {
            dcql::PathStep::Key(k) => out.push_str(&k.replace('~', "~0").replace('/', "~1")),
            dcql::PathStep::Index(i) => out.push_str(&i.to_string()),
            dcql::PathStep::AllElements => out.push('*'),
        }
    }
    out
}
