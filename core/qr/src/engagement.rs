//! The session QR: a small device-engagement payload, like ISO 18013-5's `mdoc:` engagement. It
//! carries no personal data, only what a verifier needs to open an encrypted session with the
//! wallet: an ephemeral P-256 public key (compressed) and how to reach the wallet.
//!
//! Text: `KS1:` + Base45 of the binary form:
//! `version(1) key(33, SEC1 compressed) session_id(16) varint(n) n×transport`, where a transport is
//! `kind(1) varint(len) len bytes`. Kind 1: HTTP relay base URL (UTF-8). Kinds 2 (BLE) and 3 (NFC)
//! are reserved for the apps; unknown kinds are kept, so a newer wallet's QR still reads.
//! Checking that the key is a point on the curve is the caller's job (the core does it with
//! OpenSSL); this module is the codec only.

use crate::{base45, QrError};

/// Prefix of the session QR: alphanumeric-mode characters only.
pub const PREFIX: &str = "KS1:";
/// Version byte of the binary form.
pub const VERSION: u8 = 1;
/// The goal for the whole text (the presenting issue: at most 200 bytes, QR version ≤ 10 at M).
pub const MAX_TEXT: usize = 200;
/// Length of a compressed P-256 point.
pub const KEY_LEN: usize = 33;
/// Length of the session id.
pub const SESSION_ID_LEN: usize = 16;
const MAX_TRANSPORTS: usize = 4;
const MAX_TRANSPORT_LEN: usize = 100;

/// How the verifier reaches the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A mailbox relay over HTTP(S): the base URL; the session id names the mailbox.
    HttpRelay(String),
    /// A transport this version does not know (kept, not used).
    Other { kind: u8, data: Vec<u8> },
}

const KIND_HTTP_RELAY: u8 = 1;

/// A decoded session engagement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engagement {
    /// The wallet's ephemeral public key, SEC1 compressed.
    pub key: [u8; KEY_LEN],
    /// Random session id (names the mailbox on a relay).
    pub session_id: [u8; SESSION_ID_LEN],
    /// Ways to reach the wallet, preferred first.
    pub transports: Vec<Transport>,
}

impl Engagement {
    /// The QR text. Refuses to exceed [`MAX_TEXT`].
    pub fn encode(&self) -> Result<String, QrError> {
        if self.transports.is_empty() || self.transports.len() > MAX_TRANSPORTS {
            return Err(QrError::NotEncodable("no or too many transports"));
        }
        if self.key[0] != 2 && self.key[0] != 3 {
            return Err(QrError::NotEncodable("the key is not a compressed point"));
        }
        let mut bin = Vec::with_capacity(64);
        bin.push(VERSION);
        bin.extend_from_slice(&self.key);
        bin.extend_from_slice(&self.session_id);
        bin.push(self.transports.len() as u8);
        for t in &self.transports {
            let (kind, data) = match t {
                Transport::HttpRelay(url) => (KIND_HTTP_RELAY, url.as_bytes()),
                Transport::Other { kind, data } => (*kind, data.as_slice()),
            };
            if data.len() > MAX_TRANSPORT_LEN {
                return Err(QrError::NotEncodable("a transport address is too long"));
            }
            bin.push(kind);
            bin.push(data.len() as u8);
            bin.extend_from_slice(data);
        }
        let text = format!("{PREFIX}{}", base45::encode(&bin));
        if text.len() > MAX_TEXT {
            return Err(QrError::TooLarge);
        }
        Ok(text)
    }

    /// Reads QR text; rejects anything malformed, truncated or with trailing bytes.
    pub fn decode(text: &str) -> Result<Engagement, QrError> {
        let text = text.trim();
        if text.len() > MAX_TEXT {
            return Err(QrError::TooLarge);
        }
        let b45 = text.strip_prefix(PREFIX).ok_or(QrError::UnknownFormat)?;
        let bin = base45::decode(b45)?;
        let cut = QrError::Malformed("cut short");
        let (&version, rest) = bin.split_first().ok_or(cut.clone())?;
        if version != VERSION {
            return Err(QrError::UnknownFormat);
        }
        if rest.len() < KEY_LEN + SESSION_ID_LEN + 1 {
            return Err(cut);
        }
        let (key, rest) = rest.split_at(KEY_LEN);
        let (sid, rest) = rest.split_at(SESSION_ID_LEN);
        let (&n, mut rest) = rest.split_first().ok_or(cut.clone())?;
        if n == 0 || n as usize > MAX_TRANSPORTS {
            return Err(QrError::Malformed("no or too many transports"));
        }
        let mut transports = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let [kind, len, tail @ ..] = rest else {
                return Err(cut);
            };
            let len = *len as usize;
            if tail.len() < len {
                return Err(cut);
            }
            let (data, tail) = tail.split_at(len);
            transports.push(match *kind {
                KIND_HTTP_RELAY => Transport::HttpRelay(
                    String::from_utf8(data.to_vec())
                        .map_err(|_| QrError::Malformed("relay URL is not UTF-8"))?,
                ),
                kind => Transport::Other {
                    kind,
                    data: data.to_vec(),
                },
            });
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(QrError::Malformed("trailing bytes"));
        }
        let mut out = Engagement {
            key: [0; KEY_LEN],
            session_id: [0; SESSION_ID_LEN],
            transports,
        };
        out.key.copy_from_slice(key);
        out.session_id.copy_from_slice(sid);
        if out.key[0] != 2 && out.key[0] != 3 {
            return Err(QrError::Malformed("the key is not a compressed point"));
        }
        Ok(out)
    }

    /// The first HTTP relay, if any.
    pub fn relay(&self) -> Option<&str> {
        self.transports.iter().find_map(|t| match t {
            Transport::HttpRelay(u) => Some(u.as_str()),
            Transport::Other { .. } => None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::render::{Ec, Qr};

    fn sample() -> Engagement {
        let mut key = [7u8; KEY_LEN];
        key[0] = 3;
        Engagement {
            key,
            session_id: [9; SESSION_ID_LEN],
            transports: vec![Transport::HttpRelay(
                "https://relay.wallet.example:8443".into(),
            )],
        }
    }

    #[test]
    fn round_trip_fits_the_goal() {
        let e = sample();
        let text = e.encode().unwrap();
        assert!(text.len() <= MAX_TEXT, "{} chars", text.len());
        assert!(Qr::new(&text, Ec::M).unwrap().version() <= 10);
        assert_eq!(Engagement::decode(&text).unwrap(), e);
        assert_eq!(
            Engagement::decode(&text).unwrap().relay(),
            Some("https://relay.wallet.example:8443")
        );
        // Unknown transports survive.
        let mut e2 = e.clone();
        e2.transports.push(Transport::Other {
            kind: 2,
            data: vec![1, 2, 3],
        });
        assert_eq!(Engagement::decode(&e2.encode().unwrap()).unwrap(), e2);
    }

    #[test]
    fn bad_engagements_are_rejected() {
        let text = sample().encode().unwrap();
        for cut in [text.len() - 2, text.len() - 3, 20, PREFIX.len() + 2] {
            assert!(Engagement::decode(&text[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            Engagement::decode("KL1:AB").unwrap_err(),
            QrError::UnknownFormat
        );
        let mut long = sample();
        long.transports = vec![Transport::HttpRelay("h".repeat(150))];
        assert!(long.encode().is_err());
        let mut bad_key = sample();
        bad_key.key[0] = 4;
        assert!(bad_key.encode().is_err());
        // Trailing bytes, a wrong version.
        let mut bin = base45::decode(text.strip_prefix(PREFIX).unwrap()).unwrap();
        bin.push(0);
        assert!(Engagement::decode(&format!("{PREFIX}{}", base45::encode(&bin))).is_err());
        bin.pop();
        bin[0] = 2;
        assert_eq!(
            Engagement::decode(&format!("{PREFIX}{}", base45::encode(&bin))).unwrap_err(),
            QrError::UnknownFormat
        );
    }
}
