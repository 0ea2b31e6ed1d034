//! kluis-verifier: what a requesting party (a landlord, a bank, a desk) needs to ask a citizen's
//! wallet for credentials and to verify what comes back. No wallet, no vault, no SQLite: a party
//! integrating kluis takes this crate alone.
//!
//! Layers, bottom up (dependencies point down only):
//! - [`kluis_sdjwt`]: the SD-JWT VC credential format; [`kluis_qr`]: the QR codecs;
//! - [`http`] (the one HTTP seam) and `jws` (compact ES256 JWS);
//! - trust: [`trust`] (issuer keys), [`scheme`] (the scheme's signed participant list),
//!   [`registration`] (registration certificates), [`status`] (Token Status Lists);
//! - [`delegation`]: the mandate format and the verifier rules for a helper's presentation;
//! - [`presentation`]: verifying one SD-JWT VC presentation (and batches);
//! - [`openid4vp`]: DCQL, client identifiers, and the party's side of OpenID4VP 1.0 (remote,
//!   offline QR, session QR).
//!
//! kluis-core (the wallet) builds on this crate for the formats and checks both sides share.
//!
//! A landlord's back end, with this crate alone (the simulated landlord in kluis-fixtures and
//! the `kluis-verifier` service do the same over HTTP):
//!
//! ```
//! use kluis_verifier::openid4vp::verifier::{
//!     new_request, parse_form, request_link, verify_response, ResponseOutcome, VerifierConfig,
//!     VerifierTrust,
//! };
//! use kluis_verifier::openid4vp::{rental_dcql, ResponseMode};
//! use kluis_verifier::sdjwt::SigningKey;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = VerifierConfig {
//!     client_id: "woningcorporatie-eemland".into(),
//!     signing_key: SigningKey::make_random()?,
//!     attestation: None,
//!     x5c: Vec::new(),
//!     response_uri: "https://landlord.example/response".into(),
//!     response_mode: ResponseMode::DirectPost,
//!     purpose: None,
//!     lifetime_secs: 300,
//! };
//! let now = kluis_verifier::now_unix();
//! // A signed request for the rental query; keep `pending` (by its state) until it expires,
//! // serve `pending.request_object` at the request_uri, show the link as a QR.
//! let mut pending = new_request(&config, &rental_dcql(), now)?;
//! let link = request_link(&config.client_id, "https://landlord.example/request/1");
//! assert!(link.starts_with("openid4vp://?client_id=woningcorporatie-eemland"));
//!
//! // Trust: the holders the scheme's participant list names (fetched and verified with
//! // `scheme::fetch_list`), each for its listed types.
//! let trust = VerifierTrust::default();
//!
//! // What arrives at the response_uri. An answer that is not the wallet's is refused ...
//! let forged = parse_form(&format!("vp_token=%7B%7D&state={}", pending.state))?;
//! assert!(verify_response(&forged, &pending, &trust, now).is_err());
//! // ... and a decline is only a decline: anyone who saw the request could send it, so the
//! // request stays open for the citizen's verified answer.
//! let decline = parse_form(&format!("error=access_denied&state={}", pending.state))?;
//! if let ResponseOutcome::Declined { error } = verify_response(&decline, &pending, &trust, now)? {
//!     pending.record_decline(&error);
//! }
//! assert!(pending.is_open(now) && pending.decline_arrived() == Some("access_denied"));
//! # Ok(())
//! # }
//! ```

mod clock;
pub mod delegation;
mod error;
pub mod http;
pub mod jws;
pub mod openid4vp;
pub mod presentation;
pub mod registration;
pub mod scheme;
pub mod status;
pub mod trust;
pub mod x509;

pub use clock::now_unix;
pub use error::{Error, NetworkFailure, RequestRefusal};

pub use kluis_qr as qr;
pub use kluis_sdjwt as sdjwt;
