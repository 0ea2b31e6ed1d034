//! Disclosure accounting: what a party receives, computed from the presentation that leaves the
//! phone — the chosen claims and every always-visible claim of the issuer-signed JWT — never
//! from what was asked or chosen. The consent view, the registration check and the audit log all
//! use it (docs/PRESENTING.md, "What the screen shows is what leaves").

use kluis_sdjwt::{ClaimPath, Credential};

use crate::Error;

/// The claim paths a receiver of `presentation` (of `credential`) sees.
pub(crate) fn accounted(credential: &Credential, presentation: &str) -> Result<Vec<String>, Error> {
    credential
        .visible_paths(presentation)
        .map(|v| v.iter().map(ClaimPath::to_string).collect())
        .map_err(|e| Error::Internal {
            reason: format!("accounting for a presentation: {e}"),
        })
}

/// What disclosing `chosen` of `credential` would show the party, before anything is signed:
/// the same disclosures a presentation would carry, so the same accounting.
pub(crate) fn preview(credential: &Credential, chosen: &[ClaimPath]) -> Result<Vec<String>, Error> {
    let unsigned = credential
        .present_without_key_binding(chosen)
        .map_err(|e| Error::invalid_input(e.to_string()))?;
    accounted(credential, &unsigned)
}
