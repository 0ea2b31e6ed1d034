//! One error type for the whole crate, one variant per failed check, so callers (the
//! wallet, the verifier library, the CLI) can tell *which* check failed without matching
//! message text. Messages never carry claim values, keys or other personal data: at most a
//! claim *name* or a claim *path*, which are schema, not data.

/// Every way an SD-JWT (VC) can fail to be issued, parsed, presented or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdJwtError {
    /// The compact serialisation or a JWT inside it is structurally broken.
    #[error("malformed SD-JWT: {0}")]
    Malformed(&'static str),
    /// A part that must be base64url (no padding) is not.
    #[error("invalid base64url in {0}")]
    BadBase64(&'static str),
    /// A part that must be JSON is not (or is not the expected JSON type).
    #[error("invalid JSON in {0}")]
    BadJson(&'static str),
    /// The JWS `alg` is not ES256 (the only algorithm accepted).
    #[error("unsupported signature algorithm: only ES256 is accepted")]
    UnsupportedAlg,
    /// The issuer-signed JWT has the wrong `typ` header.
    #[error("wrong token type: expected typ {expected}")]
    WrongTyp {
        /// The `typ` that was required.
        expected: &'static str,
    },
    /// A JWS header lists `crit` extensions; none are understood, so the token is refused.
    #[error("unsupported critical header extension")]
    UnsupportedCritical,
    /// A claim the format requires is absent (e.g. `iss`, `vct`).
    #[error("missing required claim {0}")]
    MissingClaim(&'static str),
    /// A registered claim has the wrong JSON type or an invalid value (e.g. `exp` not a number).
    #[error("invalid value for claim {0}")]
    InvalidClaim(&'static str),
    /// No trusted key is known for the issuer.
    #[error("issuer is not trusted: no key known for it")]
    UntrustedIssuer,
    /// The issuer signature does not verify against any trusted key of the issuer.
    #[error("issuer signature does not verify")]
    BadIssuerSignature,
    /// `_sd_alg` names a hash other than sha-256.
    #[error("unsupported _sd_alg: only sha-256 is accepted")]
    UnsupportedSdAlg,
    /// A disclosure is not referenced by any digest in the payload or in other disclosures.
    #[error("a disclosure is not referenced by any digest")]
    DigestNotFound,
    /// The same digest occurs more than once in the payload and disclosures.
    #[error("a digest occurs more than once")]
    DuplicateDigest,
    /// The same disclosure is attached more than once.
    #[error("the same disclosure is attached more than once")]
    DuplicateDisclosure,
    /// A disclosed claim name already exists in the object it is disclosed into.
    #[error("disclosed claim name {0} is already present")]
    ClaimNameClash(String),
    /// A reserved claim name (`_sd`, `...`, or an SD-JWT VC claim that must stay visible)
    /// is used where it is not allowed.
    #[error("claim name {0} is reserved here")]
    ReservedClaimName(String),
    /// A disclosure has the wrong shape for where its digest occurs.
    #[error("disclosure has the wrong shape: {0}")]
    DisclosureShape(&'static str),
    /// `exp` has passed (beyond the allowed clock skew).
    #[error("credential has expired")]
    Expired,
    /// `nbf` lies in the future (beyond the allowed clock skew).
    #[error("credential is not yet valid")]
    NotYetValid,
    /// A key-binding JWT was required but the presentation has none.
    #[error("presentation has no key-binding JWT")]
    KeyBindingMissing,
    /// The key-binding JWT's `typ` is not `kb+jwt`.
    #[error("key-binding JWT has the wrong typ: expected kb+jwt")]
    KeyBindingTyp,
    /// The key-binding JWT's signature does not verify against `cnf.jwk`.
    #[error("key-binding JWT signature does not verify against the holder key")]
    BadKeyBindingSignature,
    /// The key-binding JWT lacks a required claim or has it with a wrong type.
    #[error("key-binding JWT lacks a valid {0} claim")]
    KeyBindingClaim(&'static str),
    /// `sd_hash` in the key-binding JWT does not match the presented SD-JWT.
    #[error("key-binding sd_hash does not match the presentation")]
    SdHashMismatch,
    /// The key-binding `nonce` is not the expected one.
    #[error("key-binding nonce does not match")]
    NonceMismatch,
    /// The key-binding `aud` is not the expected one.
    #[error("key-binding audience does not match")]
    AudienceMismatch,
    /// The key-binding JWT is older than the allowed maximum age.
    #[error("key-binding JWT is too old")]
    KeyBindingStale,
    /// The key-binding JWT is issued in the future (beyond the allowed skew).
    #[error("key-binding JWT is issued in the future")]
    KeyBindingInFuture,
    /// Key binding is needed but the credential has no `cnf.jwk`.
    #[error("credential has no holder key (cnf.jwk)")]
    NoHolderKey,
    /// The holder key offered for presenting is not the credential's `cnf.jwk`.
    #[error("holder key does not match the credential's cnf.jwk")]
    HolderKeyMismatch,
    /// A signature made outside kluis (a phone's key store) does not verify under the key that
    /// was to make it, or is not an ES256 signature at all.
    #[error("the signature does not verify under the expected key")]
    ForeignSignature,
    /// An issued (stored) SD-JWT unexpectedly carries a key-binding JWT.
    #[error("issued SD-JWT must not carry a key-binding JWT")]
    UnexpectedKeyBinding,
    /// A JWK is not a valid P-256 key of the expected kind.
    #[error("invalid JWK: {0}")]
    BadJwk(&'static str),
    /// A key is not a P-256 key or cannot be decoded.
    #[error("invalid or unsupported key: {0}")]
    BadKey(&'static str),
    /// A claim path string is not well-formed.
    #[error("invalid claim path: {0}")]
    BadClaimPath(&'static str),
    /// A claim path does not name a claim of the credential (or of the issuer input).
    #[error("claim path {0} does not exist in the credential")]
    UnknownClaimPath(String),
    /// Input exceeds a hard limit (size, number of disclosures, nesting depth).
    #[error("input too large: {0}")]
    InputTooLarge(&'static str),
    /// The cryptographic backend failed in a way that says nothing about the input.
    #[error("cryptographic backend failure")]
    Crypto,
}

impl SdJwtError {
    /// A stable, machine-readable code for the failed check (snake_case), for apps, the CLI
    /// `--json` output and cross-language tests.
    pub fn code(&self) -> &'static str {
        use SdJwtError::*;
        match self {
            Malformed(_) => "malformed",
            BadBase64(_) => "bad_base64",
            BadJson(_) => "bad_json",
            UnsupportedAlg => "unsupported_alg",
            WrongTyp { .. } => "wrong_typ",
            UnsupportedCritical => "unsupported_critical",
            MissingClaim(_) => "missing_claim",
            InvalidClaim(_) => "invalid_claim",
            UntrustedIssuer => "untrusted_issuer",
            BadIssuerSignature => "bad_issuer_signature",
            UnsupportedSdAlg => "unsupported_sd_alg",
            DigestNotFound => "digest_not_found",
            DuplicateDigest => "duplicate_digest",
            DuplicateDisclosure => "duplicate_disclosure",
            ClaimNameClash(_) => "claim_name_clash",
            ReservedClaimName(_) => "reserved_claim_name",
            DisclosureShape(_) => "disclosure_shape",
            Expired => "expired",
            NotYetValid => "not_yet_valid",
            KeyBindingMissing => "key_binding_missing",
            KeyBindingTyp => "key_binding_typ",
            BadKeyBindingSignature => "bad_key_binding_signature",
            KeyBindingClaim(_) => "key_binding_claim",
            SdHashMismatch => "sd_hash_mismatch",
            NonceMismatch => "nonce_mismatch",
            AudienceMismatch => "audience_mismatch",
            KeyBindingStale => "key_binding_stale",
            KeyBindingInFuture => "key_binding_in_future",
            NoHolderKey => "no_holder_key",
            HolderKeyMismatch => "holder_key_mismatch",
            ForeignSignature => "foreign_signature",
            UnexpectedKeyBinding => "unexpected_key_binding",
            BadJwk(_) => "bad_jwk",
            BadKey(_) => "bad_key",
            BadClaimPath(_) => "bad_claim_path",
            UnknownClaimPath(_) => "unknown_claim_path",
            InputTooLarge(_) => "input_too_large",
            Crypto => "crypto",
        }
    }
}

impl From<openssl::error::ErrorStack> for SdJwtError {
    fn from(_: openssl::error::ErrorStack) -> Self {
        // The stack can hold input fragments; it is dropped, not logged.
        SdJwtError::Crypto
    }
}
