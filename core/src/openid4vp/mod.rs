//! OpenID for Verifiable Presentations 1.0 with DCQL, both sides (docs/PRESENTING.md).
//!
//! Wallet side: [`request`] (the `openid4vp://` link, the signed request object and its checks,
//! with the client identifier prefixes in [`client_id`]), [`session`] (what the citizen sees,
//! accept / decline, audit), [`response`] (`vp_token`, `direct_post`, `direct_post.jwt`), and
//! `on_behalf` (a helper answering under a mandate, over [`crate::delegation`]).
//! Requesting party's side: [`verifier`] (build requests, verify responses). [`dcql`] is the
//! query language both use; [`association`] ties one answer's presentations to one wallet.

pub mod association;
pub mod client_id;
pub mod dcql;
pub mod offline;
mod on_behalf;
pub mod proximity;
pub mod request;
pub mod response;
pub mod session;
pub mod verifier;

pub use crate::audit::Channel;
pub use session::{
    BuiltResponse, CandidateStatus, CandidateView, ClaimRequest, DisclosedCredential, Flag,
    PartyView, PresentationChoice, PresentationOutcome, PresentationRequest, PurposeView,
    QueryChoice, QueryView,
};

use serde_json::{json, Value};

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
pub(crate) fn dcql_path_text(path: &[dcql::PathStep]) -> String {
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
