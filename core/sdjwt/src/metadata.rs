//! SD-JWT VC type metadata (draft-ietf-oauth-sd-jwt-vc, "Type Metadata"): display names of
//! credential types and their claims, per language, so the wallet can show "Studieschuld"
//! instead of `urn:nl:duo:student-debt:1`. Parsing only; reading files is the caller's job.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::path::{ClaimPath, PathSegment};

/// Why a type metadata document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not JSON, or not the shape of a type metadata document.
    #[error("type metadata is not a valid document")]
    BadJson,
    /// `vct` is empty.
    #[error("type metadata has an empty vct")]
    EmptyVct,
    /// A claim `path` is empty or holds something other than strings, non-negative integers
    /// and null.
    #[error("type metadata has an invalid claim path")]
    BadClaimPath,
    /// A display entry has an empty `lang`.
    #[error("type metadata has a display entry without lang")]
    MissingLang,
    /// `sd` is not one of `always`, `allowed`, `never`.
    #[error("type metadata has an invalid sd value")]
    BadSd,
}

/// Display information for a credential type in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeDisplay {
    /// Language tag (RFC 5646), e.g. `nl`, `en`.
    pub lang: String,
    /// Display name of the credential type.
    pub name: String,
    /// Optional longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Display information for a claim in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimDisplay {
    /// Language tag.
    pub lang: String,
    /// Label shown next to the value.
    pub label: String,
    /// Optional description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Metadata for one claim: its path (strings for members, integers for indexes, `null` for
/// "every element"), labels, and whether it is selectively disclosable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimMetadata {
    /// Claim path as in the draft: `["address", "locality"]`, `["nationalities", null]`.
    pub path: Vec<Value>,
    /// Labels per language.
    #[serde(default)]
    pub display: Vec<ClaimDisplay>,
    /// `always`, `allowed` or `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sd: Option<String>,
}

impl ClaimMetadata {
    /// Whether this metadata entry describes the claim at `path`.
    pub fn matches(&self, path: &ClaimPath) -> bool {
        let segs = path.segments();
        segs.len() == self.path.len()
            && self.path.iter().zip(segs).all(|(m, s)| match (m, s) {
                (Value::Null, PathSegment::Index(_)) => true,
                (Value::String(name), seg) => seg.matches_key(name),
                (Value::Number(n), PathSegment::Index(i)) => n.as_u64() == Some(*i as u64),
                _ => false,
            })
    }
}

/// One SD-JWT VC type metadata document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeMetadata {
    /// The credential type this document describes.
    pub vct: String,
    /// A developer-facing name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A developer-facing description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A type this one extends; its claim labels are inherited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Display information per language.
    #[serde(default)]
    pub display: Vec<TypeDisplay>,
    /// Claim metadata.
    #[serde(default)]
    pub claims: Vec<ClaimMetadata>,
}

impl TypeMetadata {
    /// Parses and validates a type metadata document.
    pub fn from_json(s: &str) -> Result<Self, MetadataError> {
        let m: TypeMetadata = serde_json::from_str(s).map_err(|_| MetadataError::BadJson)?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), MetadataError> {
        if self.vct.is_empty() {
            return Err(MetadataError::EmptyVct);
        }
        if self.display.iter().any(|d| d.lang.is_empty()) {
            return Err(MetadataError::MissingLang);
        }
        for c in &self.claims {
            let ok_path = !c.path.is_empty()
                && c.path
                    .iter()
                    .all(|p| p.is_null() || p.is_string() || p.as_u64().is_some());
            if !ok_path {
                return Err(MetadataError::BadClaimPath);
            }
            if c.display.iter().any(|d| d.lang.is_empty()) {
                return Err(MetadataError::MissingLang);
            }
            if !matches!(c.sd.as_deref(), None | Some("always" | "allowed" | "never")) {
                return Err(MetadataError::BadSd);
            }
        }
        Ok(())
    }

    /// The display name for `lang` (exact tag first, then primary subtag: `nl-NL` → `nl`).
    pub fn display_name(&self, lang: &str) -> Option<&str> {
        pick(&self.display, lang, |d| &d.lang).map(|d| d.name.as_str())
    }
}

fn primary(tag: &str) -> &str {
    tag.split('-').next().unwrap_or(tag)
}

fn pick<'a, T>(items: &'a [T], lang: &str, lang_of: impl Fn(&T) -> &str) -> Option<&'a T> {
    items
        .iter()
        .find(|d| lang_of(d).eq_ignore_ascii_case(lang))
        .or_else(|| {
            items
                .iter()
                .find(|d| primary(lang_of(d)).eq_ignore_ascii_case(primary(lang)))
        })
}

/// Type metadata for the credential types the wallet knows, by `vct`.
#[derive(Debug, Clone, Default)]
pub struct MetadataRegistry {
    by_vct: HashMap<String, TypeMetadata>,
}

impl MetadataRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a registry from JSON documents.
    pub fn from_json_documents<'a>(
        docs: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, MetadataError> {
        let mut r = Self::new();
        for d in docs {
            r.insert(TypeMetadata::from_json(d)?);
        }
        Ok(r)
    }

    /// Adds (or replaces) the metadata for its `vct`.
    pub fn insert(&mut self, metadata: TypeMetadata) {
        self.by_vct.insert(metadata.vct.clone(), metadata);
    }

    /// The metadata for `vct`.
    pub fn get(&self, vct: &str) -> Option<&TypeMetadata> {
        self.by_vct.get(vct)
    }

    /// All known types.
    pub fn vcts(&self) -> impl Iterator<Item = &str> {
        self.by_vct.keys().map(String::as_str)
    }

    /// The credential's display name in `lang`, if known (following `extends`).
    pub fn credential_name(&self, vct: &str, lang: &str) -> Option<String> {
        self.chain(vct)
            .find_map(|m| m.display_name(lang))
            .map(str::to_owned)
    }

    /// The label of the claim at `path` of credential type `vct` in `lang`, if known
    /// (following `extends`; the most specific type wins).
    pub fn claim_label(&self, vct: &str, path: &ClaimPath, lang: &str) -> Option<String> {
        self.chain(vct).find_map(|m| {
            m.claims
                .iter()
                .filter(|c| c.matches(path))
                .find_map(|c| pick(&c.display, lang, |d| &d.lang))
                .map(|d| d.label.clone())
        })
    }

    /// `vct`, then the type it extends, and so on; stops at unknown types and cycles.
    fn chain<'a>(&'a self, vct: &'a str) -> impl Iterator<Item = &'a TypeMetadata> + 'a {
        let mut next = Some(vct);
        let mut visited: Vec<&str> = Vec::new();
        std::iter::from_fn(move || {
            let v = next.take()?;
            if visited.contains(&v) || visited.len() > 16 {
                return None;
            }
            visited.push(v);
            let m = self.by_vct.get(v)?;
            next = m.extends.as_deref();
            Some(m)
        })
    }
}
