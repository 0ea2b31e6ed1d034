//! The offline presentation payload: `KL1:` + Base45( version byte, then the SD-JWT's parts as raw
//! bytes, deflated when that is smaller ).
//!
//! Every part of a compact SD-JWT is base64url text; the signatures and digests are computed over
//! that text. Carrying the decoded bytes saves a quarter, and is lossless because base64url without
//! padding is canonical: the encoder checks that each part re-encodes to exactly the original text,
//! and refuses otherwise. The decoder rebuilds the exact compact presentation, which the ordinary
//! SD-JWT verifier then checks (signature, disclosures, key binding, freshness).
//!
//! Binary layout (v1): `flags` (bit 0: deflated) followed by, possibly deflated:
//! `part(jwt header) part(jwt payload) part(jwt signature) varint(n) n×part(disclosure)
//!  part(kb header) part(kb payload) part(kb signature)`, where `part` = varint length + bytes.

use std::io::{Read, Write};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::{base45, QrError};

/// Prefix and version of the payload: alphanumeric-mode characters only.
pub const PREFIX: &str = "KL1:";
/// Largest payload text accepted for decoding (beyond any QR code's capacity).
pub const MAX_TEXT: usize = 8 * 1024;
/// Largest decoded binary accepted (bounds a deflate bomb).
pub const MAX_INFLATED: usize = 64 * 1024;
/// Most disclosures accepted in one payload.
pub const MAX_DISCLOSURES: usize = 256;

const FLAG_DEFLATED: u8 = 0x01;

fn b64_canonical(part: &str) -> Result<Vec<u8>, QrError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| QrError::NotEncodable("a part is not base64url"))?;
    if URL_SAFE_NO_PAD.encode(&bytes) != part {
        return Err(QrError::NotEncodable("a part is not canonical base64url"));
    }
    Ok(bytes)
}

fn jwt_parts(jwt: &str) -> Result<[Vec<u8>; 3], QrError> {
    let mut it = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(QrError::NotEncodable("a JWT does not have three parts"));
    };
    Ok([b64_canonical(h)?, b64_canonical(p)?, b64_canonical(s)?])
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_part(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Encodes a compact SD-JWT presentation with a key-binding JWT as QR text.
pub fn encode(presentation: &str) -> Result<String, QrError> {
    let presentation = presentation.trim();
    let parts: Vec<&str> = presentation.split('~').collect();
    if parts.len() < 2 {
        return Err(QrError::NotEncodable("not a compact SD-JWT"));
    }
    let (jwt, rest) = (parts[0], &parts[1..]);
    let (kb, disclosures) = rest
        .split_last()
        .ok_or(QrError::NotEncodable("not a compact SD-JWT"))?;
    if kb.is_empty() {
        return Err(QrError::NotEncodable(
            "no key-binding JWT: an offline QR must be bound to its party",
        ));
    }
    if disclosures.iter().any(|d| d.is_empty()) || disclosures.len() > MAX_DISCLOSURES {
        return Err(QrError::NotEncodable("empty or too many disclosures"));
    }
    let mut body = Vec::with_capacity(presentation.len());
    for p in jwt_parts(jwt)? {
        put_part(&mut body, &p);
    }
    put_varint(&mut body, disclosures.len());
    for d in disclosures {
        put_part(&mut body, &b64_canonical(d)?);
    }
    for p in jwt_parts(kb)? {
        put_part(&mut body, &p);
    }
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let deflated = enc
        .write_all(&body)
        .and_then(|_| enc.finish())
        .map_err(|_| QrError::NotEncodable("deflate failed"))?;
    let mut bin = Vec::with_capacity(body.len() + 1);
    if deflated.len() < body.len() {
        bin.push(FLAG_DEFLATED);
        bin.extend_from_slice(&deflated);
    } else {
        bin.push(0);
        bin.extend_from_slice(&body);
    }
    Ok(format!("{PREFIX}{}", base45::encode(&bin)))
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn varint(&mut self) -> Result<usize, QrError> {
        let mut n: usize = 0;
        for shift in (0..35).step_by(7) {
            let b = *self
                .data
                .get(self.pos)
                .ok_or(QrError::Malformed("cut short"))?;
            self.pos += 1;
            n |= ((b & 0x7F) as usize) << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(QrError::Malformed("length too long"))
    }

    fn part(&mut self) -> Result<String, QrError> {
        let len = self.varint()?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.data.len())
            .ok_or(QrError::Malformed("cut short"))?;
        let s = URL_SAFE_NO_PAD.encode(&self.data[self.pos..end]);
        self.pos = end;
        Ok(s)
    }

    fn jwt(&mut self) -> Result<String, QrError> {
        Ok(format!(
            "{}.{}.{}",
            self.part()?,
            self.part()?,
            self.part()?
        ))
    }
}

/// Decodes QR text back to the exact compact presentation. Does not verify it.
pub fn decode(text: &str) -> Result<String, QrError> {
    let text = text.trim();
    if text.len() > MAX_TEXT {
        return Err(QrError::TooLarge);
    }
    let b45 = text.strip_prefix(PREFIX).ok_or(QrError::UnknownFormat)?;
    let bin = base45::decode(b45)?;
    let (&flags, rest) = bin.split_first().ok_or(QrError::Malformed("empty"))?;
    if flags & !FLAG_DEFLATED != 0 {
        return Err(QrError::UnknownFormat);
    }
    let body = if flags & FLAG_DEFLATED != 0 {
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(rest)
            .take(MAX_INFLATED as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|_| QrError::BadCompression)?;
        if out.len() > MAX_INFLATED {
            return Err(QrError::BadCompression);
        }
        out
    } else {
        rest.to_vec()
    };
    let mut r = Reader {
        data: &body,
        pos: 0,
    };
    let jwt = r.jwt()?;
    let n = r.varint()?;
    if n > MAX_DISCLOSURES {
        return Err(QrError::Malformed("too many disclosures"));
    }
    let mut out = jwt;
    out.push('~');
    for _ in 0..n {
        out.push_str(&r.part()?);
        out.push('~');
    }
    out.push_str(&r.jwt()?);
    if r.pos != body.len() {
        return Err(QrError::Malformed("trailing bytes"));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn sample() -> String {
        let jwt = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"ES256","typ":"dc+sd-jwt"}"#),
            b64(r#"{"iss":"https://x","_sd":["abc"]}"#),
            b64("sig-bytes-64")
        );
        let d1 = b64(r#"["salt1","given_name","Sanne"]"#);
        let d2 = b64(r#"["salt2","family_name","de Vries"]"#);
        let kb = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"ES256","typ":"kb+jwt"}"#),
            b64(r#"{"nonce":"n","aud":"a"}"#),
            b64("kb-sig")
        );
        format!("{jwt}~{d1}~{d2}~{kb}")
    }

    #[test]
    fn round_trip_is_exact_and_alphanumeric() {
        let p = sample();
        let qr = encode(&p).unwrap();
        assert!(qr.starts_with(PREFIX));
        assert!(qr
            .bytes()
            .all(|c| b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:".contains(&c)));
        assert_eq!(decode(&qr).unwrap(), p);
        // No disclosures at all.
        let bare = format!(
            "{}~{}",
            p.split('~').next().unwrap(),
            p.rsplit('~').next().unwrap()
        );
        assert_eq!(decode(&encode(&bare).unwrap()).unwrap(), bare);
    }

    #[test]
    fn refuses_what_it_cannot_carry_exactly() {
        let p = sample();
        let no_kb = format!("{}~", &p[..p.rfind('~').unwrap()]);
        assert!(matches!(encode(&no_kb), Err(QrError::NotEncodable(_))));
        assert!(matches!(encode("not-a-jwt"), Err(QrError::NotEncodable(_))));
        // Padded base64 is not canonical: the signature would not survive.
        let padded = p.replacen('.', "=.", 1);
        assert!(matches!(encode(&padded), Err(QrError::NotEncodable(_))));
    }

    #[test]
    fn truncated_altered_or_hostile_payloads_are_rejected() {
        let qr = encode(&sample()).unwrap();
        for cut in [qr.len() - 1, qr.len() - 3, qr.len() / 2, PREFIX.len() + 3] {
            assert!(decode(&qr[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(decode("KL2:ABC").unwrap_err(), QrError::UnknownFormat);
        assert_eq!(decode("KL1:a").unwrap_err(), QrError::BadBase45);
        assert_eq!(
            decode(&"A".repeat(MAX_TEXT + 1)).unwrap_err(),
            QrError::TooLarge
        );
        // A deflate bomb: 1 MB of zeros compresses to about 1 KB.
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![0u8; 1 << 20]).unwrap();
        let mut bin = vec![FLAG_DEFLATED];
        bin.extend(enc.finish().unwrap());
        assert_eq!(
            decode(&format!("{PREFIX}{}", base45::encode(&bin))).unwrap_err(),
            QrError::BadCompression
        );
        // A length prefix pointing past the end.
        let bin = [0u8, 0xFF, 0xFF, 0x03, 1, 2];
        assert!(matches!(
            decode(&format!("{PREFIX}{}", base45::encode(&bin))),
            Err(QrError::Malformed(_))
        ));
        // Altering any one character either fails to decode or decodes to a different presentation,
        // which the SD-JWT verifier then rejects.
        let original = sample();
        let alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
        for i in (PREFIX.len()..qr.len()).step_by(7) {
            let c = qr.as_bytes()[i] as char;
            let replacement = alphabet.chars().find(|&x| x != c).unwrap();
            let mut altered = qr.clone();
            altered.replace_range(i..i + 1, &replacement.to_string());
            if let Ok(p) = decode(&altered) {
                assert_ne!(p, original);
            }
        }
    }
}
