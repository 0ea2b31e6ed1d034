//! The offline presentation payload: `KL1:` + Base45( version byte, then the SD-JWT's parts as raw
//! bytes, deflated when that is smaller ).
//!
//! Every part of a compact SD-JWT is base64url text; the signatures and digests are computed over
//! that text. Carrying the decoded bytes saves a quarter, and is lossless because base64url without
//! padding is canonical: the encoder checks that each part re-encodes to exactly the original text,
//! and refuses otherwise. The decoder rebuilds the exact compact presentation, which the ordinary
//! SD-JWT verifier then checks (signature, disclosures, key binding, freshness).
//!
//! Binary layout (v1, `KL1:`, one presentation): `flags` (bit 0: deflated) followed by, possibly
//! deflated, one `presentation`:
//! `part(jwt header) part(jwt payload) part(jwt signature) varint(n) n×part(disclosure)
//!  part(kb header) part(kb payload) part(kb signature)`, where `part` = varint length + bytes.
//!
//! v2 (`KL2:`, several presentations, e.g. name and address from the municipality and income from
//! UWV in one QR): `flags` followed by, possibly deflated, `varint(count) count×presentation`.
//! Deflating them together lets the repeated parts (key-binding headers, `aud`, `nonce`, the
//! holder's `cnf`, type and issuer names) cost once. Decoders read both versions.

use std::io::{Read, Write};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::{base45, QrError};

/// Prefix and version of the one-presentation payload: alphanumeric-mode characters only.
pub const PREFIX: &str = "KL1:";
/// Prefix of the several-presentations payload (v2).
pub const PREFIX_V2: &str = "KL2:";
/// Most presentations in one v2 payload.
pub const MAX_PRESENTATIONS: usize = 8;
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

/// Appends one presentation's binary form to `body`.
fn put_presentation(body: &mut Vec<u8>, presentation: &str) -> Result<(), QrError> {
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
    for p in jwt_parts(jwt)? {
        put_part(body, &p);
    }
    put_varint(body, disclosures.len());
    for d in disclosures {
        put_part(body, &b64_canonical(d)?);
    }
    for p in jwt_parts(kb)? {
        put_part(body, &p);
    }
    Ok(())
}

/// `flags` + the body, deflated when that is smaller, as Base45 after `prefix`.
fn finish(prefix: &str, body: &[u8], allow_deflate: bool) -> Result<String, QrError> {
    let mut bin = Vec::with_capacity(body.len() + 1);
    let deflated = if allow_deflate {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        Some(
            enc.write_all(body)
                .and_then(|_| enc.finish())
                .map_err(|_| QrError::NotEncodable("deflate failed"))?,
        )
    } else {
        None
    };
    match deflated {
        Some(d) if d.len() < body.len() => {
            bin.push(FLAG_DEFLATED);
            bin.extend_from_slice(&d);
        }
        _ => {
            bin.push(0);
            bin.extend_from_slice(body);
        }
    }
    Ok(format!("{prefix}{}", base45::encode(&bin)))
}

/// Encodes a compact SD-JWT presentation with a key-binding JWT as QR text (v1, `KL1:`).
pub fn encode(presentation: &str) -> Result<String, QrError> {
    let mut body = Vec::with_capacity(presentation.len());
    put_presentation(&mut body, presentation)?;
    finish(PREFIX, &body, true)
}

/// Encodes one or more presentations (each with its key-binding JWT) as one QR text (v2, `KL2:`).
pub fn encode_set(presentations: &[&str]) -> Result<String, QrError> {
    encode_set_with(presentations, true)
}

/// As [`encode_set`], with deflate switched off: for measuring what each technique contributes.
pub fn encode_set_with(presentations: &[&str], deflate: bool) -> Result<String, QrError> {
    if presentations.is_empty() || presentations.len() > MAX_PRESENTATIONS {
        return Err(QrError::NotEncodable("no or too many presentations"));
    }
    let mut body = Vec::with_capacity(presentations.iter().map(|p| p.len()).sum());
    put_varint(&mut body, presentations.len());
    for p in presentations {
        put_presentation(&mut body, p)?;
    }
    finish(PREFIX_V2, &body, deflate)
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

impl Reader<'_> {
    fn presentation(&mut self) -> Result<String, QrError> {
        let jwt = self.jwt()?;
        let n = self.varint()?;
        if n > MAX_DISCLOSURES {
            return Err(QrError::Malformed("too many disclosures"));
        }
        let mut out = jwt;
        out.push('~');
        for _ in 0..n {
            out.push_str(&self.part()?);
            out.push('~');
        }
        out.push_str(&self.jwt()?);
        Ok(out)
    }
}

/// Base45, flags and inflation: the body of a payload whose prefix was already removed.
fn body_of(b45: &str) -> Result<Vec<u8>, QrError> {
    let bin = base45::decode(b45)?;
    let (&flags, rest) = bin.split_first().ok_or(QrError::Malformed("empty"))?;
    if flags & !FLAG_DEFLATED != 0 {
        return Err(QrError::UnknownFormat);
    }
    if flags & FLAG_DEFLATED == 0 {
        return Ok(rest.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(rest)
        .take(MAX_INFLATED as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| QrError::BadCompression)?;
    if out.len() > MAX_INFLATED {
        return Err(QrError::BadCompression);
    }
    Ok(out)
}

/// Decodes v1 QR text back to the exact compact presentation. Does not verify it.
pub fn decode(text: &str) -> Result<String, QrError> {
    let mut all = decode_set(text)?;
    match (all.pop(), all.is_empty()) {
        (Some(p), true) => Ok(p),
        _ => Err(QrError::Malformed(
            "several presentations where one was expected",
        )),
    }
}

/// Decodes v1 or v2 QR text back to the exact compact presentations, in order. Does not verify them.
pub fn decode_set(text: &str) -> Result<Vec<String>, QrError> {
    let text = text.trim();
    if text.len() > MAX_TEXT {
        return Err(QrError::TooLarge);
    }
    let (v2, b45) = if let Some(rest) = text.strip_prefix(PREFIX) {
        (false, rest)
    } else if let Some(rest) = text.strip_prefix(PREFIX_V2) {
        (true, rest)
    } else {
        return Err(QrError::UnknownFormat);
    };
    let body = body_of(b45)?;
    let mut r = Reader {
        data: &body,
        pos: 0,
    };
    let count = if v2 { r.varint()? } else { 1 };
    if count == 0 || count > MAX_PRESENTATIONS {
        return Err(QrError::Malformed("no or too many presentations"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(r.presentation()?);
    }
    if r.pos != body.len() {
        return Err(QrError::Malformed("trailing bytes"));
    }
    Ok(out)
}

/// Whether `text` looks like an offline presentation payload (either version).
pub fn is_offline_payload(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with(PREFIX) || t.starts_with(PREFIX_V2)
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
    fn v2_carries_several_and_still_reads_v1() {
        let a = sample();
        let b = sample().replace(&b64(r#"["salt2","family_name","de Vries"]"#), &b64("x"));
        let qr = encode_set(&[&a, &b]).unwrap();
        assert!(qr.starts_with(PREFIX_V2));
        assert_eq!(decode_set(&qr).unwrap(), vec![a.clone(), b.clone()]);
        assert!(decode(&qr).is_err(), "two where one was expected");
        assert_eq!(decode_set(&encode(&a).unwrap()).unwrap(), vec![a.clone()]);
        let plain = encode_set_with(&[&a], false).unwrap();
        assert_eq!(decode_set(&plain).unwrap(), vec![a.clone()]);
        assert!(encode_set(&[]).is_err());
        let many: Vec<&str> = (0..=MAX_PRESENTATIONS).map(|_| a.as_str()).collect();
        assert!(encode_set(&many).is_err());
        // A count of zero, or a count larger than what follows.
        for bin in [vec![0u8, 0], vec![0u8, 2]] {
            assert!(matches!(
                decode_set(&format!("{PREFIX_V2}{}", base45::encode(&bin))),
                Err(QrError::Malformed(_))
            ));
        }
        for cut in [qr.len() - 2, qr.len() / 2] {
            assert!(decode_set(&qr[..cut]).is_err());
        }
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
        assert_eq!(decode("KL9:ABC").unwrap_err(), QrError::UnknownFormat);
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
