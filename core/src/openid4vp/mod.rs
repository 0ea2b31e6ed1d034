//! OpenID for Verifiable Presentations 1.0 with DCQL, the wallet's side (docs/PRESENTING.md).
//!
//! [`request`] (the `openid4vp://` link, the signed request object and its checks, with the
//! client identifier prefixes in [`client_id`]), [`dc_api`] (a request a web page makes through
//! the Digital Credentials API), [`session`] (what the citizen sees, accept / decline, audit),
//! [`response`] (`vp_token`, `direct_post`, `direct_post.jwt`, `dc_api`, `dc_api.jwt`), `on_behalf` (a
//! helper answering under a mandate, over [`crate::delegation`]), `offline_qr` and `session_qr`
//! (in person). The requesting party's side ([`verifier`], the verification halves of
//! [`offline`] and [`proximity`]) and [`dcql`], the query language both use, are
//! kluis-verifier's, re-exported here, as are [`association`], which ties one answer's
//! presentations to one wallet, and [`transaction_data`], what the citizen confirms.

pub mod dc_api;
mod offline_qr;
mod on_behalf;
pub mod request;
pub mod response;
pub mod session;
mod session_qr;

pub use kluis_verifier::openid4vp::{
    association, client_id, dcql, dcql_path_text, rental_dcql, transaction_data, verifier,
    ResponseMode, StatedPurpose,
};

/// In person without network: the offline QR (the wallet makes it, [`offline_qr`]; the party
/// verifies it, kluis-verifier).
pub mod offline {
    pub use super::offline_qr::{OfflineItem, OfflineQr};
    pub use kluis_verifier::openid4vp::offline::*;
}

/// In person, replay-safe: the session QR (the wallet's end, [`session_qr`]; the party's end
/// and the relay, kluis-verifier).
pub mod proximity {
    pub use super::session_qr::WalletEngagement;
    pub use kluis_verifier::openid4vp::proximity::*;
}

pub use crate::audit::Channel;
pub use session::{
    BuiltResponse, CandidateStatus, CandidateView, ClaimRequest, DcApiResponse, DeletionConfirmed,
    DisclosedCredential, Flag, PartyView, PresentationChoice, PresentationOutcome,
    PresentationRequest, PurposeView, QueryChoice, QueryView, Transaction, TransactionView,
};
