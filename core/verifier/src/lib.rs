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

pub use clock::now_unix;
pub use error::Error;

pub use kluis_qr as qr;
pub use kluis_sdjwt as sdjwt;
