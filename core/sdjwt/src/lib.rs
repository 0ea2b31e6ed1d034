//! kluis-sdjwt: the wallet's credential format. SD-JWT (RFC 9901) and SD-JWT VC
//! (`typ` `dc+sd-jwt`, `vct`, `cnf.jwk`, `status`), ES256 only. No I/O.
//!
//! - issuer side ([`issue`]): for the simulated data holders and tests;
//! - holder side ([`Credential`]): verify what was issued, show it, present a chosen subset
//!   of claims with a key-binding JWT;
//! - verifier side ([`verify_presentation`]): check a presentation end to end;
//! - type metadata ([`MetadataRegistry`]): Dutch and English display names.
//!
//! Trust (which issuer keys count) is decided above this crate and handed in as
//! [`IssuerKeys`]. See docs/SDJWT.md for the choices made.

#![warn(missing_docs)]

mod error;
mod holder;
mod issuer;
mod keys;
pub mod metadata;
mod path;
mod process;
mod verifier;

use std::collections::{BTreeMap, HashMap};

pub use error::SdJwtError;
pub use holder::{Credential, UnsignedPresentation, VerifyOptions, ENVELOPE_CLAIMS};
pub use issuer::{issue, DisclosurePolicy, IssuerInput};
pub use keys::{es256_signature_from_platform, PublicJwk, SigningKey, UnsignedJws};
pub use metadata::{MetadataError, MetadataRegistry, TypeMetadata};
pub use path::{ClaimPath, PathSegment};
pub use process::{
    ArrayPositions, MAX_COMPACT_LEN, MAX_DEPTH, MAX_DISCLOSURES, TYP_KB_JWT, TYP_SD_JWT_VC,
};
pub use verifier::{
    verify_compact_es256, verify_presentation, verify_presentation_with, KeyBindingDetails,
    OnBehalf, PresentationExpectations, VerifiedPresentation,
};

/// Which flavour of SD-JWT is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// SD-JWT VC: `typ` must be `dc+sd-jwt`, `vct` is required, and `iss`, `nbf`, `exp`,
    /// `cnf`, `vct`, `status` may not be selectively disclosed. The default.
    #[default]
    SdJwtVc,
    /// Plain SD-JWT (RFC 9901 only): any `typ`, no `vct` needed. For reference vectors.
    PlainSdJwt,
}

/// The trusted keys of issuers. Which issuers to trust is decided above this crate (the
/// scheme's participant list, or keys added by hand); this only answers "which keys may
/// sign for `iss`". An empty answer means the issuer is not trusted.
pub trait IssuerKeys {
    /// Keys that may have signed a credential of `iss` (with JWS header `kid`, if any).
    fn keys_for(&self, iss: &str, kid: Option<&str>) -> Vec<PublicJwk>;
}

impl IssuerKeys for HashMap<String, Vec<PublicJwk>> {
    fn keys_for(&self, iss: &str, _kid: Option<&str>) -> Vec<PublicJwk> {
        self.get(iss).cloned().unwrap_or_default()
    }
}

impl IssuerKeys for BTreeMap<String, Vec<PublicJwk>> {
    fn keys_for(&self, iss: &str, _kid: Option<&str>) -> Vec<PublicJwk> {
        self.get(iss).cloned().unwrap_or_default()
    }
}

impl IssuerKeys for [(String, PublicJwk)] {
    fn keys_for(&self, iss: &str, _kid: Option<&str>) -> Vec<PublicJwk> {
        self.iter()
            .filter(|(i, _)| i == iss)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

impl IssuerKeys for Vec<(String, PublicJwk)> {
    fn keys_for(&self, iss: &str, kid: Option<&str>) -> Vec<PublicJwk> {
        self.as_slice().keys_for(iss, kid)
    }
}
