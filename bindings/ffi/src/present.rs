//! Presenting to a requesting party through the binding (OpenID4VP 1.0 + DCQL, docs/PRESENTING.md).
//!
//! The app's consent screen: [`Wallet::start_presentation`] fetches, verifies and matches the
//! party's request and returns a [`PresentationSession`]; the app shows
//! [`PresentationSession::request`] (party, purpose, retention, claims, candidate credentials,
//! warnings), starts from [`PresentationSession::default_choice`] (data minimisation), lets the
//! citizen leave out optional claims or pick another credential, then calls
//! [`Wallet::accept_presentation`] or [`Wallet::decline_presentation`]. Every check and decision is
//! kluis-core's (`openid4vp::session`); this module only converts.

use std::collections::HashMap;
use std::sync::Arc;

use kluis_core::openid4vp as vp;

use crate::cancel::CancelToken;
use crate::collect::{blocking_async, cancellable, HttpSettings};
use crate::wallet::Wallet;
use crate::KluisError;

/// The requesting party as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PartyView {
    /// Client identifier as sent, with its prefix (e.g. `verifier_attestation:bank-utrecht`).
    pub client_id: String,
    /// The identifier without prefix.
    pub id: String,
    /// Its registered name in the requested language, when the scheme lists it.
    pub name: Option<String>,
    /// Whether the scheme lists it.
    pub registered: bool,
    /// Its registered purposes.
    pub purposes: Vec<PurposeView>,
}

/// A purpose a party registered in the scheme.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PurposeView {
    /// Purpose id (e.g. `rental`).
    pub id: String,
    /// Registered name in the requested language.
    pub name: String,
    /// Registered retention, in days.
    pub retention_days: Option<u32>,
}

impl From<vp::PurposeView> for PurposeView {
    fn from(p: vp::PurposeView) -> Self {
        PurposeView {
            id: p.id,
            name: p.name,
            retention_days: p.retention_days,
        }
    }
}

/// One claim a query asks.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClaimRequest {
    /// Claim path (e.g. `/address`), as `QueryChoice.claims` takes it.
    pub path: String,
    /// Display label from type metadata.
    pub label: Option<String>,
    /// Whether the citizen can leave it out and still answer the query.
    pub optional: bool,
    /// Whether the party's registration for the stated purpose covers it (claims outside it are
    /// left out of the default choice).
    pub within_registration: bool,
}

/// The state of a candidate credential.
pub type CandidateStatus = vp::CandidateStatus;

#[uniffi::remote(Enum)]
pub enum CandidateStatus {
    /// Status-checked recently and valid.
    Valid,
    /// Not status-checked recently (or never): offer a check first.
    Stale,
    /// Revoked by its holder.
    Revoked,
    /// Suspended by its holder.
    Suspended,
    /// Past its expiry.
    Expired,
}

/// A stored credential that can answer a query.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CandidateView {
    /// Wallet credential id.
    pub credential_id: String,
    /// Display name of its type.
    pub title: Option<String>,
    /// The credential type.
    pub vct: String,
    /// The issuer.
    pub issuer: String,
    /// Its state.
    pub status: CandidateStatus,
    /// The claim paths it would disclose by default.
    pub claims: Vec<String>,
    /// Claims it shows with any answer (always visible, not selectively disclosable): show
    /// them on the consent screen too, they leave the phone and are logged.
    pub always_shared: Vec<String>,
    /// Whether the party's registration covers its type and its always-shared claims.
    pub within_registration: bool,
}

/// One credential query of the request, with the credentials that can answer it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QueryView {
    /// The DCQL credential query id (the key of `PresentationChoice.queries`).
    pub query_id: String,
    /// Whether it must be answered.
    pub required: bool,
    /// Whether several credentials may answer it.
    pub multiple: bool,
    /// Acceptable credential types.
    pub vct_values: Vec<String>,
    /// The claims asked.
    pub claims: Vec<ClaimRequest>,
    /// Credentials that can answer it (empty: none in the wallet).
    pub candidates: Vec<CandidateView>,
}

/// Something the citizen should know before deciding.
pub type PresentationFlag = vp::Flag;

#[uniffi::remote(Enum)]
pub enum PresentationFlag {
    /// The party is not in the scheme's list (attested only).
    Unregistered,
    /// It asks claims outside its registration for the purpose (left out by default).
    OutsideRegistration,
    /// It states a longer retention than it registered.
    LongerRetention,
    /// It states no purpose, or one it did not register.
    UnknownPurpose,
    /// Nothing in the wallet answers the required queries.
    NothingMatches,
    /// A candidate has not been status-checked recently.
    StaleCredentials,
    /// A candidate is revoked, suspended or expired.
    InvalidCredentials,
    /// It asks formats this wallet does not hold.
    UnsupportedFormats,
}

/// How a presentation travels.
pub type PresentationChannel = vp::Channel;

#[uniffi::remote(Enum)]
pub enum PresentationChannel {
    /// The party's QR code or link, answered over HTTPS.
    Remote,
    /// In person, through the citizen's session QR.
    SessionQr,
    /// In person, a self-contained offline QR.
    OfflineQr,
    /// A web page through the Digital Credentials API (Android Credential Manager, iOS).
    DcApi,
}

/// What the consent screen shows: who asks, why, for how long, which claims, from which
/// credentials.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PresentationRequest {
    /// The party.
    pub party: PartyView,
    /// The purpose it states, as registered (absent: none stated, or not registered).
    pub purpose: Option<PurposeView>,
    /// The purpose id it states.
    pub stated_purpose: Option<String>,
    /// The retention it states, in days.
    pub retention_days: Option<u32>,
    /// The credential queries.
    pub queries: Vec<QueryView>,
    /// What the party asks the citizen to confirm with this answer (OpenID4VP `transaction_data`;
    /// usually none). Show each prominently: accepting confirms it.
    pub transactions: Vec<TransactionView>,
    /// Warnings to show.
    pub flags: Vec<PresentationFlag>,
    /// Whether the required queries can be answered at all.
    pub satisfiable: bool,
    /// How the request arrived.
    pub channel: PresentationChannel,
    /// Through the Digital Credentials API: the web origin that asked, as the platform vouches
    /// for it. Show it; for an unsigned request it is all that is known of the party.
    pub origin: Option<String>,
    /// The request expires at (Unix seconds).
    pub expires_at: i64,
}

impl From<&vp::PresentationRequest> for PresentationRequest {
    fn from(r: &vp::PresentationRequest) -> Self {
        PresentationRequest {
            party: PartyView {
                client_id: r.party.client_id.clone(),
                id: r.party.id.clone(),
                name: r.party.name.clone(),
                registered: r.party.registered,
                purposes: r.party.purposes.iter().cloned().map(Into::into).collect(),
            },
            purpose: r.purpose.clone().map(Into::into),
            stated_purpose: r.stated_purpose.clone(),
            retention_days: r.retention_days,
            queries: r
                .queries
                .iter()
                .map(|q| QueryView {
                    query_id: q.query_id.clone(),
                    required: q.required,
                    multiple: q.multiple,
                    vct_values: q.vct_values.clone(),
                    claims: q
                        .claims
                        .iter()
                        .map(|c| ClaimRequest {
                            path: c.path.clone(),
                            label: c.label.clone(),
                            optional: c.optional,
                            within_registration: c.within_registration,
                        })
                        .collect(),
                    candidates: q
                        .candidates
                        .iter()
                        .map(|c| CandidateView {
                            credential_id: c.credential_id.clone(),
                            title: c.title.clone(),
                            vct: c.vct.clone(),
                            issuer: c.issuer.clone(),
                            status: c.status,
                            always_shared: c.always_shared.clone(),
                            within_registration: c.within_registration,
                            claims: c.claims.clone(),
                        })
                        .collect(),
                })
                .collect(),
            transactions: r.transactions.iter().map(TransactionView::from).collect(),
            flags: r.flags.clone(),
            satisfiable: r.satisfiable,
            channel: r.channel,
            origin: r.origin.clone(),
            expires_at: r.expires_at,
        }
    }
}

/// What is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Transaction {
    /// A mortgage offer: show the amount and the document (its SHA-256 lets the app check the
    /// document the citizen was given is the one confirmed).
    MortgageOffer {
        /// The party's reference for the offer.
        offer_id: String,
        /// How the offer document is named.
        document_label: String,
        /// base64url SHA-256 of the offer document.
        document_sha256: String,
        /// The loan amount in euro cents.
        amount_eur_cents: u64,
    },
}

/// One thing the party asks the citizen to confirm.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransactionView {
    /// The transaction data `type` (e.g. `urn:kluis:transaction:mortgage-offer:1`).
    pub kind: String,
    /// The queries whose credential confirms it: the answer must include one of them.
    pub confirmed_with: Vec<String>,
    /// What is confirmed.
    pub transaction: Transaction,
}

impl From<&vp::TransactionView> for TransactionView {
    fn from(t: &vp::TransactionView) -> Self {
        TransactionView {
            kind: t.kind.clone(),
            confirmed_with: t.confirmed_with.clone(),
            transaction: match t.transaction.clone() {
                vp::Transaction::MortgageOffer {
                    offer_id,
                    document_label,
                    document_sha256,
                    amount_eur_cents,
                } => Transaction::MortgageOffer {
                    offer_id,
                    document_label,
                    document_sha256,
                    amount_eur_cents,
                },
            },
        }
    }
}

/// The citizen's answer to one query.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QueryChoice {
    /// The chosen credentials (one unless the query allows several).
    pub credential_ids: Vec<String>,
    /// The claim paths to disclose: a subset of what the query asks.
    pub claims: Vec<String>,
}

/// The citizen's choice for the whole request.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PresentationChoice {
    /// Per query id; a query left out is not answered.
    pub queries: HashMap<String, QueryChoice>,
    /// Allow claims outside the party's registration (off unless the citizen says so).
    pub allow_outside_registration: bool,
}

impl From<vp::PresentationChoice> for PresentationChoice {
    fn from(c: vp::PresentationChoice) -> Self {
        PresentationChoice {
            queries: c
                .queries
                .into_iter()
                .map(|(id, q)| {
                    (
                        id,
                        QueryChoice {
                            credential_ids: q.credential_ids,
                            claims: q.claims,
                        },
                    )
                })
                .collect(),
            allow_outside_registration: c.allow_outside_registration,
        }
    }
}

impl From<PresentationChoice> for vp::PresentationChoice {
    fn from(c: PresentationChoice) -> Self {
        vp::PresentationChoice {
            queries: c
                .queries
                .into_iter()
                .map(|(id, q)| {
                    (
                        id,
                        vp::QueryChoice {
                            credential_ids: q.credential_ids,
                            claims: q.claims,
                        },
                    )
                })
                .collect(),
            allow_outside_registration: c.allow_outside_registration,
        }
    }
}

/// One credential disclosed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DisclosedCredential {
    /// The query it answered.
    pub query_id: String,
    /// Wallet credential id.
    pub credential_id: String,
    /// The claim paths disclosed, nothing else.
    pub claims: Vec<String>,
    /// Which batch copy was presented (0: the first).
    pub copy: u32,
}

impl From<vp::DisclosedCredential> for DisclosedCredential {
    fn from(d: vp::DisclosedCredential) -> Self {
        DisclosedCredential {
            query_id: d.query_id,
            credential_id: d.credential_id,
            claims: d.claims,
            copy: d.copy,
        }
    }
}

/// The party's answer to a posted response.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ResponseAck {
    /// HTTP status.
    pub status: u16,
    /// Where the party asks the app to send the citizen next, if anywhere.
    pub redirect_uri: Option<String>,
}

impl From<vp::response::ResponseAck> for ResponseAck {
    fn from(a: vp::response::ResponseAck) -> Self {
        ResponseAck {
            status: a.status,
            redirect_uri: a.redirect_uri,
        }
    }
}

/// What accepting did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PresentationOutcome {
    /// The party's client identifier.
    pub client_id: String,
    /// What was disclosed (also in the audit log).
    pub disclosed: Vec<DisclosedCredential>,
    /// The party's answer.
    pub ack: ResponseAck,
}

impl From<vp::PresentationOutcome> for PresentationOutcome {
    fn from(o: vp::PresentationOutcome) -> Self {
        PresentationOutcome {
            client_id: o.client_id,
            disclosed: o.disclosed.into_iter().map(Into::into).collect(),
            ack: o.ack.into(),
        }
    }
}

/// The answer to a Digital Credentials API request, for the platform to hand back to the page.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DcApiResponse {
    /// `{"protocol": …, "data": …}`: the response JSON the app returns to the platform (Android
    /// Credential Manager: the `DigitalCredential`'s JSON). `data` is `{"vp_token": …}`, or
    /// `{"response": <JWE>}` when the page asked `dc_api.jwt`, or an error.
    pub response_json: String,
    /// What was disclosed (also in the audit log; empty for a decline).
    pub disclosed: Vec<DisclosedCredential>,
}

impl From<vp::DcApiResponse> for DcApiResponse {
    fn from(r: vp::DcApiResponse) -> Self {
        DcApiResponse {
            response_json: r.to_json(),
            disclosed: r.disclosed.into_iter().map(Into::into).collect(),
        }
    }
}

/// A verified request the citizen is deciding on. It can be accepted or declined once; the
/// party refuses a second answer.
#[derive(uniffi::Object)]
pub struct PresentationSession {
    view: PresentationRequest,
    // Also answered on a citizen's behalf (delegation.rs).
    pub(crate) inner: Arc<vp::PresentationRequest>,
}

/// A party's confirmed deletion (see `Wallet.forget`).
#[derive(Debug, Clone, uniffi::Record)]
pub struct DeletionConfirmed {
    /// The audit entry of the disclosure.
    pub entry: u64,
    /// The party's client identifier.
    pub audience: String,
    /// When the party says it deleted (Unix seconds).
    pub deleted_at: i64,
    /// How many results it deleted (0: it held none any more).
    pub deleted: u32,
    /// The audit entry that records the receipt.
    pub logged_as: u64,
}

impl From<kluis_core::openid4vp::DeletionConfirmed> for DeletionConfirmed {
    fn from(d: kluis_core::openid4vp::DeletionConfirmed) -> Self {
        DeletionConfirmed {
            entry: d.entry,
            audience: d.audience,
            deleted_at: d.deleted_at,
            deleted: d.deleted,
            logged_as: d.logged_as,
        }
    }
}

impl PresentationSession {
    /// A session over a request the core verified (remote or in person).
    pub(crate) fn new(request: vp::PresentationRequest) -> Arc<Self> {
        Arc::new(PresentationSession {
            view: (&request).into(),
            inner: Arc::new(request),
        })
    }
}

#[uniffi::export]
impl PresentationSession {
    /// What to show on the consent screen.
    pub fn request(&self) -> PresentationRequest {
        self.view.clone()
    }

    /// The data-minimising starting point: for each required query the first valid (or stale)
    /// candidate with only the claims asked within the party's registration.
    pub fn default_choice(&self) -> PresentationChoice {
        self.inner.default_choice().into()
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Wallet {
    /// Starts a presentation from a party's `openid4vp://` link (QR code or deep link): fetches
    /// the signed request, verifies it against the scheme and matches it against the wallet.
    /// Nothing is sent. A refused request is `InvalidRequest` (logged as refused).
    #[uniffi::method(default(cancel = None))]
    pub async fn start_presentation(
        &self,
        uri: String,
        lang: String,
        http: HttpSettings,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<Arc<PresentationSession>, KluisError> {
        let core = self.core()?;
        // Cancelling stops the fetch: nothing was sent or logged yet.
        let request = cancellable(cancel, move || async move {
            core.start_presentation_with(&uri, &lang, http.into()).await
        })
        .await?;
        Ok(PresentationSession::new(request))
    }

    /// Sends exactly the chosen claims (and each credential's always-shared claims) to the party
    /// once, and logs the disclosure. A choice the core refuses (a claim not asked, a required
    /// query unanswered, claims outside the registration without `allow_outside_registration`)
    /// is `InvalidInput`, and nothing is sent. `Network` after the response may have reached the
    /// party means it was logged as possibly shared and is not sent again.
    pub async fn accept_presentation(
        &self,
        session: Arc<PresentationSession>,
        choice: PresentationChoice,
        http: HttpSettings,
    ) -> Result<PresentationOutcome, KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.accept_presentation_with(&request, &choice.into(), http.into())
                .await
                .map(PresentationOutcome::from)
        })
        .await
    }

    /// Starts a presentation a web page asked for through the Digital Credentials API, with what
    /// the platform hands the wallet: the request's `protocol` (`openid4vp-v1-unsigned`,
    /// `openid4vp-v1-signed`, `openid4vp-v1-multisigned`), its `data` as a JSON string, and the
    /// calling `origin` (Android: `CallingAppInfo.getOrigin`). Verified against the scheme and
    /// matched like `startPresentation`; nothing is sent. A refused request (origin not in a
    /// signed request's `expected_origins`, a signature by an unknown party, another response
    /// mode, a nonce already answered) is `InvalidRequest`, logged as refused.
    pub async fn start_dc_api_presentation(
        &self,
        protocol: String,
        request_json: String,
        origin: String,
        lang: String,
    ) -> Result<Arc<PresentationSession>, KluisError> {
        let core = self.core()?;
        let request = blocking_async(move || async move {
            core.start_dc_api_presentation(&protocol, &request_json, &origin, &lang)
        })
        .await?;
        Ok(PresentationSession::new(request))
    }

    /// Builds the answer with exactly the chosen claims (each bound to `origin:` + the page's
    /// origin), logs the disclosure and returns the response JSON for the platform. A refused
    /// choice is `InvalidInput` and nothing is logged or returned.
    pub async fn accept_dc_api_presentation(
        &self,
        session: Arc<PresentationSession>,
        choice: PresentationChoice,
    ) -> Result<DcApiResponse, KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.accept_dc_api_presentation(&request, &choice.into())
                .await
                .map(DcApiResponse::from)
        })
        .await
    }

    /// Logs the citizen's decline and returns the error response (`access_denied`) for the
    /// platform. The app may instead cancel the platform flow, which tells the page nothing.
    pub async fn decline_dc_api_presentation(
        &self,
        session: Arc<PresentationSession>,
    ) -> Result<DcApiResponse, KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.decline_dc_api_presentation(&request)
                .await
                .map(DcApiResponse::from)
        })
        .await
    }

    /// Tells the party the citizen declined (`access_denied`) and logs it. The decline is logged
    /// even when the party cannot be reached (the error is then `Network`).
    pub async fn decline_presentation(
        &self,
        session: Arc<PresentationSession>,
        http: HttpSettings,
    ) -> Result<ResponseAck, KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.decline_presentation_with(&request, http.into())
                .await
                .map(ResponseAck::from)
        })
        .await
    }

    /// Asks the party of the disclosure logged as audit entry `entry` to delete what it
    /// received (signed with the key that presented; sent to the deletion endpoint the scheme
    /// lists for it) and logs its signed receipt (`DeletedByParty`). Nothing is logged if the
    /// party cannot be reached (`Network`) or its receipt does not hold (`InvalidRequest`).
    pub async fn forget(
        &self,
        entry: u64,
        http: HttpSettings,
    ) -> Result<DeletionConfirmed, KluisError> {
        let core = self.core()?;
        blocking_async(move || async move {
            core.forget(entry, http.into())
                .await
                .map(DeletionConfirmed::from)
        })
        .await
    }

    /// Tells the party the wallet holds nothing that answers its request (`access_denied`,
    /// OpenID4VP 1.0 §5.6), for when the request is `satisfiable == false` and the app does not
    /// ask the citizen; logged as declined for that reason.
    pub async fn decline_unanswerable(
        &self,
        session: Arc<PresentationSession>,
        http: HttpSettings,
    ) -> Result<ResponseAck, KluisError> {
        let core = self.core()?;
        let request = Arc::clone(&session.inner);
        blocking_async(move || async move {
            core.decline_unanswerable(&request, http.into())
                .await
                .map(ResponseAck::from)
        })
        .await
    }
}
