//! Claim paths: how the holder names the claims to disclose and how type metadata names
//! claims. JSON-pointer-like strings: `/given_name`, `/address/locality`, `/nationalities/0`.
//! `~1` and `~0` escape `/` and `~` as in RFC 6901. Array indexes count the elements of the
//! holder's full view of the credential ([`crate::Credential::claims`]).
//!
//! A segment that is a canonical non-negative integer is an [`PathSegment::Index`]; when it
//! meets an object it names the member with that decimal key, so `/key_data_types/42` works.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::SdJwtError;

/// Limits a path to what a real credential could contain.
const MAX_SEGMENTS: usize = 32;

/// One step of a [`ClaimPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSegment {
    /// An object member name.
    Key(String),
    /// An array index (or an object member whose name is this decimal number).
    Index(usize),
}

impl PathSegment {
    /// The segment for an object member name; canonical decimal names become `Index`, so that
    /// a parsed path and a path built from a credential compare equal.
    pub fn from_key(name: &str) -> Self {
        match parse_index(name) {
            Some(i) => PathSegment::Index(i),
            None => PathSegment::Key(name.to_owned()),
        }
    }

    /// Whether this segment names the object member `name`.
    pub fn matches_key(&self, name: &str) -> bool {
        match self {
            PathSegment::Key(k) => k == name,
            PathSegment::Index(i) => parse_index(name) == Some(*i),
        }
    }
}

fn parse_index(s: &str) -> Option<usize> {
    let canonical =
        s == "0" || (!s.is_empty() && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit()));
    if canonical {
        s.parse().ok()
    } else {
        None
    }
}

/// A path to one claim inside a credential's claims.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ClaimPath {
    segments: Vec<PathSegment>,
}

impl ClaimPath {
    /// Parses `/a/b/0`. The empty string and strings not starting with `/` are refused.
    pub fn parse(s: &str) -> Result<Self, SdJwtError> {
        let rest = s
            .strip_prefix('/')
            .ok_or(SdJwtError::BadClaimPath("must start with /"))?;
        let mut segments = Vec::new();
        for raw in rest.split('/') {
            if segments.len() == MAX_SEGMENTS {
                return Err(SdJwtError::BadClaimPath("too many segments"));
            }
            let name = unescape(raw)?;
            segments.push(PathSegment::from_key(&name));
        }
        Ok(ClaimPath { segments })
    }

    /// Builds a path from segments.
    pub fn from_segments(segments: Vec<PathSegment>) -> Self {
        ClaimPath { segments }
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[PathSegment] {
        &self.segments
    }

    /// Whether `self` is `other` or one of its ancestors.
    pub fn is_prefix_of(&self, other: &ClaimPath) -> bool {
        other.segments.starts_with(&self.segments)
    }

    /// The claim this path names inside `claims`, if it exists.
    pub fn resolve<'a>(&self, claims: &'a Value) -> Option<&'a Value> {
        let mut here = claims;
        for seg in &self.segments {
            here = match (here, seg) {
                (Value::Array(items), PathSegment::Index(i)) => items.get(*i)?,
                (Value::Object(map), seg) => map
                    .iter()
                    .find(|(k, _)| seg.matches_key(k))
                    .map(|(_, v)| v)?,
                _ => return None,
            };
        }
        Some(here)
    }
}

fn unescape(raw: &str) -> Result<String, SdJwtError> {
    if !raw.contains('~') {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err(SdJwtError::BadClaimPath("~ must be followed by 0 or 1")),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for seg in &self.segments {
            match seg {
                PathSegment::Key(k) => write!(f, "/{}", k.replace('~', "~0").replace('/', "~1"))?,
                PathSegment::Index(i) => write!(f, "/{i}")?,
            }
        }
        Ok(())
    }
}

impl FromStr for ClaimPath {
    type Err = SdJwtError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ClaimPath::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for s in [
            "/given_name",
            "/address/locality",
            "/nationalities/0",
            "/a~1b/c~0d",
            "/007",
            "/",
        ] {
            assert_eq!(ClaimPath::parse(s).unwrap().to_string(), s);
        }
        let p = ClaimPath::parse("/nationalities/10").unwrap();
        assert_eq!(
            p.segments(),
            &[
                PathSegment::Key("nationalities".into()),
                PathSegment::Index(10)
            ]
        );
        assert_eq!(
            ClaimPath::parse("/007").unwrap().segments(),
            &[PathSegment::Key("007".into())]
        );
    }

    #[test]
    fn bad_paths_are_refused() {
        for s in ["", "given_name", "/a~2", "/a~"] {
            assert!(
                matches!(ClaimPath::parse(s), Err(SdJwtError::BadClaimPath(_))),
                "{s}"
            );
        }
        let long = "/a".repeat(MAX_SEGMENTS + 1);
        assert!(ClaimPath::parse(&long).is_err());
    }

    #[test]
    fn resolve_handles_numeric_keys_and_indexes() {
        let v = serde_json::json!({"k": {"42": "x"}, "arr": ["a", {"b": 1}]});
        assert_eq!(
            ClaimPath::parse("/k/42").unwrap().resolve(&v),
            Some(&serde_json::json!("x"))
        );
        assert_eq!(
            ClaimPath::parse("/arr/1/b").unwrap().resolve(&v),
            Some(&serde_json::json!(1))
        );
        assert_eq!(ClaimPath::parse("/arr/2").unwrap().resolve(&v), None);
        assert_eq!(ClaimPath::parse("/arr/x").unwrap().resolve(&v), None);
    }
}
