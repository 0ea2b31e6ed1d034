//! kluis-qr: what the citizen's phone shows as a QR code.
//!
//! - [`offline`]: the whole presentation in one compact, versioned payload for when there is no
//!   network at the moment of showing — a lossless binary re-encoding of the SD-JWT parts,
//!   deflate, and Base45 so the QR can use alphanumeric mode (as the EU Digital COVID
//!   Certificate did). Verification stays the SD-JWT verifier's job: decoding gives back the exact
//!   compact presentation.
//! - [`engagement`]: the session QR (`KS1:`), an ephemeral key and how to reach the wallet, for
//!   the replay-safe in-person mode.
//! - [`render`]: QR version and error-correction level for a payload, PNG and terminal output,
//!   and reading a PNG back (rqrr) for verifiers that receive an image.
//!
//! No I/O and no cryptography here: the bytes that were signed are carried unchanged.

pub mod base45;
pub mod engagement;
pub mod offline;
pub mod render;

/// Why a QR payload could not be made or read. Messages never carry payload content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    /// The payload does not start with a known prefix and version.
    #[error("not a kluis QR payload (unknown prefix or version)")]
    UnknownFormat,
    /// Base45 text with characters outside the alphabet or a bad length.
    #[error("the QR text is not valid Base45")]
    BadBase45,
    /// The compressed data does not inflate, or inflates beyond the limit.
    #[error("the QR payload does not decompress within limits")]
    BadCompression,
    /// The binary structure is cut short or has trailing bytes.
    #[error("the QR payload is truncated or malformed: {0}")]
    Malformed(&'static str),
    /// The input presentation is not a compact SD-JWT with key binding, or not canonically encoded.
    #[error("cannot encode this presentation: {0}")]
    NotEncodable(&'static str),
    /// Too large for any QR code.
    #[error("the payload is too large for a QR code")]
    TooLarge,
    /// PNG encoding failed.
    #[error("cannot render the QR image")]
    Render,
    /// The image is not a PNG, or no readable QR code was found in it.
    #[error("no readable QR code in the image: {0}")]
    Unreadable(&'static str),
}
