//! The presentation session the app drives:
//! [`Wallet::start_presentation`](crate::Wallet::start_presentation) (fetch, verify, match: what
//! the citizen sees), then [`Wallet::accept_presentation`](crate::Wallet::accept_presentation)
//! with the citizen's [`PresentationChoice`] or
//! [`Wallet::decline_presentation`](crate::Wallet::decline_presentation).
//!
//! Data minimisation is the default: [`PresentationRequest::default_choice`] answers only what
//! was asked, with the first valid candidate, leaving out claims outside the party's
//! registration. `accept` refuses anything not asked, required queries left unanswered, and
//! claims outside the registration unless the citizen allowed them. Every refusal, decline and
//! disclosure is in the audit log; an answered `(client_id, nonce)` is kept in the vault so a
//! replayed request is refused.
//!
//! One file per use case: `view` (fetch, verify and describe the request), `choice` (the default
//! choice and the checks a choice must pass against a query), `build` (the response for a
//! choice), `record` (what the vault keeps: audit, answered nonces, copies used), `answer`
//! (accept / decline over `direct_post`), `dc_api` (the same over the Digital Credentials API:
//! the answer handed back to the platform). The types shared by all are here.

mod answer;
mod build;
mod choice;
mod dc_api;
mod forget;
mod record;
mod view;

use std::collections::BTreeMap;

use kluis_sdjwt::ClaimPath;
use kluis_vault::Record;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use crate::openid4vp::dcql::{answers, asked_paths, sets_satisfied};
pub use dc_api::DcApiResponse;
pub use forget::{DeletionConfirmed, DELETION_RECEIPT_TYP, DELETION_REQUEST_TYP};

use super::request::VerifiedRequest;
use super::response::{Form, ResponseAck};
pub use super::transaction_data::Transaction;
use crate::audit::Channel;

/// A status check older than this makes a candidate `stale`.
pub const STALE_AFTER_SECS: i64 = 24 * 3600;

/// The requesting party as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartyView {
    /// Client identifier as sent (with prefix).
    pub client_id: String,
    /// Without prefix.
    pub id: String,
    /// Registered name, when listed.
    pub name: Option<String>,
    /// Whether the scheme lists it.
    pub registered: bool,
    /// Its registered purposes.
    pub purposes: Vec<PurposeView>,
}

/// A registered purpose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PurposeView {
    /// Purpose id.
    pub id: String,
    /// Registered name.
    pub name: String,
    /// Registered retention (days).
    pub retention_days: Option<u32>,
}

/// One claim a query asks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimRequest {
    /// Concrete claim path (for the first candidate).
    pub path: String,
    /// Display label from type metadata.
    pub label: Option<String>,
    /// Whether the citizen can leave it out and still answer the query (claim sets).
    pub optional: bool,
    /// Whether the party's registration for the stated purpose covers it.
    pub within_registration: bool,
}

/// The state of a candidate credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateStatus {
    /// Checked recently and valid.
    Valid,
    /// Not status-checked recently (or never).
    Stale,
    /// Revoked by its holder.
    Revoked,
    /// Suspended by its holder.
    Suspended,
    /// Past its expiry.
    Expired,
}

/// A credential that can answer a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateView {
    /// Wallet credential id.
    pub credential_id: String,
    /// Display name of its type.
    pub title: Option<String>,
    /// `vct`.
    pub vct: String,
    /// Issuer.
    pub issuer: String,
    /// State.
    pub status: CandidateStatus,
    /// The concrete claim paths it would disclose by default.
    pub claims: Vec<String>,
    /// Claims this credential shows with any answer, whatever is chosen: its always-visible
    /// (not selectively disclosable) claims. They leave the phone too and are listed, checked
    /// against the registration and logged like chosen ones.
    pub always_shared: Vec<String>,
    /// Whether the party's registration covers this credential's type and its always-shared
    /// claims (if not, it is not chosen by default).
    pub within_registration: bool,
}

/// One credential query of the request, with its candidates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryView {
    /// DCQL credential query id.
    pub query_id: String,
    /// Whether answering it is needed (part of the chosen option of a required credential set,
    /// or every query when there are no sets).
    pub required: bool,
    /// Whether several credentials may answer it.
    pub multiple: bool,
    /// Acceptable types.
    pub vct_values: Vec<String>,
    /// Claims asked.
    pub claims: Vec<ClaimRequest>,
    /// Credentials that can answer it.
    pub candidates: Vec<CandidateView>,
}

/// Something the party asks the citizen to confirm with the answer (OpenID4VP 1.0
/// `transaction_data`): show it, with the amount and document, before accepting. Accepting
/// binds it into the key-binding JWT of the presentation for one of `confirmed_with`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransactionView {
    /// The transaction data `type`.
    pub kind: String,
    /// The queries whose credential confirms it (the first answered one is used).
    pub confirmed_with: Vec<String>,
    /// What is confirmed.
    pub transaction: Transaction,
}

/// Things the citizen should know before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// The party is not in the scheme's list (attested only).
    Unregistered,
    /// It asks claims outside its registration for the purpose (left out by default).
    OutsideRegistration,
    /// It states a longer retention than registered.
    LongerRetention,
    /// It states no purpose, or one it did not register.
    UnknownPurpose,
    /// Nothing in the vault answers the required queries.
    NothingMatches,
    /// A candidate has not been status-checked recently.
    StaleCredentials,
    /// A candidate is revoked, suspended or expired.
    InvalidCredentials,
    /// It asks formats this wallet does not hold (mdoc ...).
    UnsupportedFormats,
}

/// What the citizen sees: who asks, why, for how long, which claims, from which credentials.
#[derive(Debug, Clone, Serialize)]
pub struct PresentationRequest {
    /// The party.
    pub party: PartyView,
    /// The purpose it states, as registered (`None`: none stated or not registered).
    pub purpose: Option<PurposeView>,
    /// The purpose id it states.
    pub stated_purpose: Option<String>,
    /// The retention it states (days).
    pub retention_days: Option<u32>,
    /// The queries.
    pub queries: Vec<QueryView>,
    /// What the party asks the citizen to confirm with this answer (usually none).
    pub transactions: Vec<TransactionView>,
    /// Warnings.
    pub flags: Vec<Flag>,
    /// Whether the required queries can be answered at all.
    pub satisfiable: bool,
    /// How the request arrived.
    pub channel: Channel,
    /// Over the Digital Credentials API: the web origin that asked, as the platform vouches for
    /// it (show it: for an unsigned request it is all that is known of the party).
    pub origin: Option<String>,
    /// The request expires at (Unix seconds).
    pub expires_at: i64,
    /// The verified request (for accept / decline).
    #[serde(skip)]
    pub request: VerifiedRequest,
    /// Scheme and query context for checking choices.
    #[serde(skip)]
    registered: BTreeMap<String, Vec<ClaimPath>>,
    /// The DC API protocol it came in, answered in the same.
    #[serde(skip)]
    dc_api_protocol: Option<crate::openid4vp::dc_api::Protocol>,
}

/// The citizen's answer to one query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct QueryChoice {
    /// Chosen credentials (one unless the query allows `multiple`).
    pub credential_ids: Vec<String>,
    /// Claim paths to disclose (a subset of what the query asks).
    pub claims: Vec<String>,
}

/// The citizen's choice for the whole request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PresentationChoice {
    /// Per query id; queries left out are not answered.
    pub queries: BTreeMap<String, QueryChoice>,
    /// Allow claims outside the party's registration (off by default).
    pub allow_outside_registration: bool,
}

/// One credential disclosed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisclosedCredential {
    /// The query it answered.
    pub query_id: String,
    /// Wallet credential id.
    pub credential_id: String,
    /// The claim paths disclosed.
    pub claims: Vec<String>,
    /// Which batch copy was used (0 = the first).
    pub copy: u32,
    /// The vault id of the holder key that signed its key-binding JWT (logged, for
    /// [`crate::Wallet::forget`]); `None` for a helper's presentation.
    pub holder_key: Option<String>,
}

/// A response built and not yet sent (the in-person channel sends it itself and then calls
/// [`Wallet::record_presentation`](crate::Wallet::record_presentation)).
#[derive(Debug, Clone)]
pub struct BuiltResponse {
    /// The `vp_token` object.
    pub vp_token: Value,
    /// The form to POST (`direct_post`) or hand over.
    pub form: Form,
    /// What is disclosed.
    pub disclosed: Vec<DisclosedCredential>,
}

/// The outcome of an accepted presentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PresentationOutcome {
    /// The party's client id.
    pub client_id: String,
    /// What was disclosed.
    pub disclosed: Vec<DisclosedCredential>,
    /// The party's answer.
    pub ack: ResponseAck,
}

/// An answered `(client_id, nonce)`: a second request with the same nonce is refused.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AnsweredNonce {
    at: i64,
}

impl Record for AnsweredNonce {
    const KIND: &'static str = "answered_nonce";
}

/// When each batch copy of a credential was last presented (0: never); index 0 is the first copy.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct CopyUse {
    last_used: Vec<i64>,
}

impl Record for CopyUse {
    const KIND: &'static str = "copy_use";
}
