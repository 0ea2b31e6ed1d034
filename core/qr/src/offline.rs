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
//! UWV in one QR): `flags` (bit 0: deflated, bit 1: signatures apart), then with bit 1
//! `varint(len) stream(len) signatures`, else just the stream; the stream, possibly deflated, is
//! `varint(count) count×presentation`. With bit 1 each signature part in the stream keeps only its
//! length and its bytes follow the stream, raw: the signatures are random bytes that deflate cannot
//! shrink, and keeping them out of its literal alphabet lets deflate code the base64url text inside
//! the JSON (digests, salts, keys) at its 6 bits a character. Deflating the presentations together
//! lets the repeated parts (key-binding headers, `aud`, `nonce`, the holder's `cnf`, type and
//! issuer names) cost once. Bit 2 (tokens): in the JSON parts (headers, payloads, disclosures)
//! each string of the fixed vocabulary [`VOCABULARY`] (JOSE, SD-JWT VC and KB-JWT member names and
//! common values) is one byte from the control range, which JSON text never contains raw; the
//! encoder leaves tokens off when a part has such a byte. This is a static dictionary: the first
//! occurrence of `"cnf":{"jwk":{"kty":"EC","crv":"P-256","x":"` costs one byte instead of the
//! ~30 deflate needs. The vocabulary is part of the format: changing it needs a new version.
//! Bit 3 (derived claim): every key-binding JWT payload began with one claim the decoder can
//! recompute from the presentations' issuer-signed JWTs ([`DerivedClaim`]; kluis's association
//! of one answer's keys, docs/PRESENTING.md), and the encoder left `"name":"value",` out; the
//! decoder puts the recomputed value back, so the KB-JWTs verify as signed. Decoders read both
//! versions; a decoder without the hook refuses a payload with bit 3.

use std::io::Read;

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
const FLAG_SIGNATURES_APART: u8 = 0x02;
const FLAG_TOKENS: u8 = 0x04;
const FLAG_DERIVED_CLAIM: u8 = 0x08;

/// A key-binding JWT claim whose value follows from the issuer-signed JWTs of the payload's
/// presentations, so a v2 payload need not carry it (bit 3). The codec does no cryptography:
/// `derive` (given the issuer-signed JWTs, compact, in order) is the caller's; a wrong value
/// restored only makes the KB-JWT signatures fail.
pub struct DerivedClaim<'a> {
    /// The claim's name (plain ASCII: written as is between quotes).
    pub name: &'a str,
    /// Its value from the issuer-signed JWTs; `None` when it cannot be computed.
    pub derive: &'a dyn Fn(&[&str]) -> Option<String>,
}

impl DerivedClaim<'_> {
    /// `{"name":"value",`: how an elided claim opens a KB-JWT payload.
    fn opening(&self, jwts: &[&str]) -> Option<String> {
        let value = (self.derive)(jwts)?;
        let plain = |t: &str| !t.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
        (plain(self.name) && plain(&value)).then(|| format!("{{\"{}\":\"{value}\",", self.name))
    }
}

/// The v2 static vocabulary (frozen: part of the `KL2:` format): JOSE, SD-JWT VC and KB-JWT
/// member names and values first (one byte each), then the person and address claim names of
/// OpenID Connect and of the Dutch registers the scheme's types use (two bytes each: `0x00`, index).
/// Claim names start after their opening quote, which `","` or `{"` before them already took.
pub const VOCABULARY: [&str; 40] = [
    r#"{"alg":"ES256","typ":"dc+sd-jwt","kid":""#,
    r#"{"alg":"ES256","typ":"kb+jwt"}"#,
    r#""cnf":{"jwk":{"kty":"EC","crv":"P-256","x":""#,
    r#"","y":""#,
    r#""_sd_alg":"sha-256""#,
    r#""_sd":[""#,
    r#"{"iss":"https://"#,
    r#"{"iat":"#,
    r#","iat":"#,
    r#","exp":"#,
    r#","nbf":"#,
    r#","vct":"urn:"#,
    r#","aud":""#,
    r#","nonce":""#,
    r#","sd_hash":""#,
    r#""status":{"status_list":{"idx":"#,
    r#","uri":""#,
    r#"{"...":""#,
    r#"","#,
    r#"":""#,
    r#"",""#,
    r#""]"#,
    r#""}"#,
    r#"urn:nl:"#,
    r#"given_name":""#,
    r#"family_name":""#,
    r#"birthdate":""#,
    r#"address":{""#,
    // Two-byte entries from here on.
    r#"street":""#,
    r#"street_address":""#,
    r#"house_number":""#,
    r#"postal_code":""#,
    r#"locality":""#,
    r#"municipality":""#,
    r#"region":""#,
    r#"country":""#,
    r#"nationalities":[""#,
    r#"bsn":""#,
    r#"sub":""#,
    r#"_eur":"#,
];
/// The one-byte tokens: control characters JSON text never holds raw. `0x00` starts a two-byte one.
const TOKEN_BYTES: [u8; 28] = [
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x0B, 0x0C, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13,
    0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F,
];
const TOKEN_ESCAPE: u8 = 0x00;

/// Control bytes JSON text never holds raw (tab, LF and CR are JSON whitespace).
fn is_token_byte(b: u8) -> bool {
    b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')
}

fn push_token(out: &mut Vec<u8>, i: usize) {
    match TOKEN_BYTES.get(i) {
        Some(&b) => out.push(b),
        None => {
            out.push(TOKEN_ESCAPE);
            out.push((i - TOKEN_BYTES.len()) as u8);
        }
    }
}

/// Replaces vocabulary strings by their token bytes (longest match first, left to right);
/// `None` when the text already holds a byte of the token range (then tokens stay off).
fn tokenize(text: &[u8]) -> Option<Vec<u8>> {
    if text.iter().any(|&b| is_token_byte(b)) {
        return None;
    }
    let mut order: Vec<usize> = (0..VOCABULARY.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(VOCABULARY[i].len()));
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    'outer: while i < text.len() {
        for &t in &order {
            let word = VOCABULARY[t].as_bytes();
            if text[i..].starts_with(word) {
                push_token(&mut out, t);
                i += word.len();
                continue 'outer;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    Some(out)
}

fn detokenize(data: &[u8]) -> Result<Vec<u8>, QrError> {
    let mut out = Vec::with_capacity(data.len() * 2);
    let mut it = data.iter();
    while let Some(&b) = it.next() {
        let index = if b == TOKEN_ESCAPE {
            let &i = it.next().ok_or(QrError::Malformed("cut short"))?;
            Some(TOKEN_BYTES.len() + i as usize)
        } else {
            TOKEN_BYTES.iter().position(|&t| t == b)
        };
        match index {
            Some(i) => out.extend_from_slice(
                VOCABULARY
                    .get(i)
                    .ok_or(QrError::Malformed("unknown token"))?
                    .as_bytes(),
            ),
            None if is_token_byte(b) => return Err(QrError::Malformed("unknown token")),
            None => out.push(b),
        }
    }
    Ok(out)
}

/// How to encode a v2 payload. Both on by default; switching them off measures what they bring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Deflate the stream when that is smaller.
    pub deflate: bool,
    /// Keep the signatures out of the deflated stream.
    pub signatures_apart: bool,
    /// Write the fixed vocabulary as one-byte tokens.
    pub tokens: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            deflate: true,
            signatures_apart: true,
            tokens: true,
        }
    }
}

/// The two outputs of the encoder: the stream, and the signatures when they go apart.
struct Out {
    stream: Vec<u8>,
    signatures: Option<Vec<u8>>,
    /// Tokens on; cleared when a part cannot take them (then the encoder starts again without).
    tokens: bool,
    clash: bool,
}

impl Out {
    fn new(capacity: usize, signatures_apart: bool, tokens: bool) -> Out {
        Out {
            stream: Vec::with_capacity(capacity),
            signatures: signatures_apart.then(Vec::new),
            tokens,
            clash: false,
        }
    }

    /// A JSON part (header, payload, disclosure), tokenized when tokens are on.
    fn put_text(&mut self, bytes: &[u8]) {
        if self.tokens {
            match tokenize(bytes) {
                Some(t) => return put_part(&mut self.stream, &t),
                None => self.clash = true,
            }
        }
        put_part(&mut self.stream, bytes)
    }
}

fn b64_canonical(part: &str) -> Result<Vec<u8>, QrError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| QrError::NotEncodable("a part is not base64url"))?;
    if URL_SAFE_NO_PAD.encode(&bytes) != part {
        return Err(QrError::NotEncodable("a part is not canonical base64url"));
    }
    Ok(bytes)
}

/// Writes a JWT; with `elide`, its payload must open with those bytes, which are left out (all
/// but the `{`).
fn put_jwt(out: &mut Out, jwt: &str, elide: Option<&str>) -> Result<(), QrError> {
    let mut it = jwt.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(QrError::NotEncodable("a JWT does not have three parts"));
    };
    out.put_text(&b64_canonical(h)?);
    let payload = b64_canonical(p)?;
    match elide {
        Some(opening) => {
            let rest = payload
                .strip_prefix(opening.as_bytes())
                .ok_or(QrError::NotEncodable(
                    "the derived claim does not open the KB-JWT",
                ))?;
            let mut kept = Vec::with_capacity(rest.len() + 1);
            kept.push(b'{');
            kept.extend_from_slice(rest);
            out.put_text(&kept);
        }
        None => out.put_text(&payload),
    }
    let sig = b64_canonical(s)?;
    match &mut out.signatures {
        Some(apart) => {
            put_varint(&mut out.stream, sig.len());
            apart.extend_from_slice(&sig);
        }
        None => put_part(&mut out.stream, &sig),
    }
    Ok(())
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

/// The issuer-signed JWT and the key-binding JWT of a compact presentation.
fn jwt_and_kb(presentation: &str) -> Option<(&str, &str)> {
    let p = presentation.trim();
    Some((p.split('~').next()?, p.rsplit('~').next()?))
}

/// The KB-JWT payload of `kb`, decoded (not checked further).
fn kb_payload(kb: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(kb.split('.').nth(1)?).ok()
}

/// Appends one presentation's binary form to `body`, leaving `elide` out of its KB-JWT payload.
fn put_presentation(out: &mut Out, presentation: &str, elide: Option<&str>) -> Result<(), QrError> {
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
    put_jwt(out, jwt, None)?;
    put_varint(&mut out.stream, disclosures.len());
    for d in disclosures {
        out.put_text(&b64_canonical(d)?);
    }
    put_jwt(out, kb, elide)
}

/// Raw deflate (RFC 1951) by Zopfli's exhaustive search: 10–70 characters smaller than zlib's
/// best level on these payloads, and any inflater reads it. It is slow — 35–100 ms for a QR's
/// worth of data on the 2-core CI machine under load — which is fine once per QR shown.
fn deflate(data: &[u8]) -> Result<Vec<u8>, QrError> {
    let mut out = Vec::with_capacity(data.len());
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Deflate,
        data,
        &mut out,
    )
    .map_err(|_| QrError::NotEncodable("deflate failed"))?;
    Ok(out)
}

/// `flags`, the stream (deflated when allowed and smaller) and the signatures kept apart, as
/// Base45 after `prefix`.
fn finish(prefix: &str, out: Out, allow_deflate: bool, derived: bool) -> Result<String, QrError> {
    let mut flags = if out.tokens { FLAG_TOKENS } else { 0 };
    if derived {
        flags |= FLAG_DERIVED_CLAIM;
    }
    let stream = match allow_deflate.then(|| deflate(&out.stream)).transpose()? {
        Some(d) if d.len() < out.stream.len() => {
            flags |= FLAG_DEFLATED;
            d
        }
        _ => out.stream,
    };
    let mut bin = Vec::with_capacity(stream.len() + 8);
    match out.signatures {
        Some(sigs) => {
            flags |= FLAG_SIGNATURES_APART;
            bin.push(flags);
            put_varint(&mut bin, stream.len());
            bin.extend_from_slice(&stream);
            bin.extend_from_slice(&sigs);
        }
        None => {
            bin.push(flags);
            bin.extend_from_slice(&stream);
        }
    }
    Ok(format!("{prefix}{}", base45::encode(&bin)))
}

/// Encodes a compact SD-JWT presentation with a key-binding JWT as QR text (v1, `KL1:`).
pub fn encode(presentation: &str) -> Result<String, QrError> {
    let mut out = Out::new(presentation.len(), false, false);
    put_presentation(&mut out, presentation, None)?;
    finish(PREFIX, out, true, false)
}

/// Encodes one or more presentations (each with its key-binding JWT) as one QR text (v2, `KL2:`).
pub fn encode_set(presentations: &[&str]) -> Result<String, QrError> {
    encode_set_with(presentations, EncodeOptions::default())
}

/// As [`encode_set`] with explicit options (for measuring what each technique contributes).
pub fn encode_set_with(presentations: &[&str], opts: EncodeOptions) -> Result<String, QrError> {
    encode_set_deriving(presentations, opts, None)
}

/// As [`encode_set_with`], leaving `derived` out of the KB-JWTs when every one of them opens
/// with it at the value it derives from this set (bit 3); otherwise every part goes as it is.
pub fn encode_set_deriving(
    presentations: &[&str],
    opts: EncodeOptions,
    derived: Option<&DerivedClaim<'_>>,
) -> Result<String, QrError> {
    if presentations.is_empty() || presentations.len() > MAX_PRESENTATIONS {
        return Err(QrError::NotEncodable("no or too many presentations"));
    }
    let parts: Option<Vec<(&str, &str)>> = presentations.iter().map(|p| jwt_and_kb(p)).collect();
    let elide = match (derived, parts) {
        (Some(d), Some(parts)) => {
            let jwts: Vec<&str> = parts.iter().map(|(j, _)| *j).collect();
            d.opening(&jwts).filter(|opening| {
                parts.iter().all(|(_, kb)| {
                    kb_payload(kb).is_some_and(|p| p.starts_with(opening.as_bytes()))
                })
            })
        }
        _ => None,
    };
    let elide = elide.as_deref();
    let capacity = presentations.iter().map(|p| p.len()).sum();
    let mut out = Out::new(capacity, opts.signatures_apart, opts.tokens);
    put_varint(&mut out.stream, presentations.len());
    for p in presentations {
        put_presentation(&mut out, p, elide)?;
    }
    if out.clash {
        // A part holds a byte of the token range: write every part as it is.
        out = Out::new(capacity, opts.signatures_apart, false);
        put_varint(&mut out.stream, presentations.len());
        for p in presentations {
            put_presentation(&mut out, p, elide)?;
        }
    }
    finish(PREFIX_V2, out, opts.deflate, elide.is_some())
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// The signatures kept apart (v2 with bit 1), read in order.
    signatures: Option<(&'a [u8], usize)>,
    /// JSON parts carry vocabulary tokens (v2 with bit 2).
    tokens: bool,
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

    /// A JSON part: tokens expanded when they are on.
    fn text(&mut self) -> Result<String, QrError> {
        if !self.tokens {
            return self.part();
        }
        let len = self.varint()?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.data.len())
            .ok_or(QrError::Malformed("cut short"))?;
        let expanded = detokenize(&self.data[self.pos..end])?;
        self.pos = end;
        Ok(URL_SAFE_NO_PAD.encode(expanded))
    }

    fn signature(&mut self) -> Result<String, QrError> {
        let Some((sigs, at)) = self.signatures else {
            return self.part();
        };
        let len = self.varint()?;
        let end = at
            .checked_add(len)
            .filter(|e| *e <= sigs.len())
            .ok_or(QrError::Malformed("cut short"))?;
        self.signatures = Some((sigs, end));
        Ok(URL_SAFE_NO_PAD.encode(&sigs[at..end]))
    }

    fn jwt(&mut self) -> Result<String, QrError> {
        Ok(format!(
            "{}.{}.{}",
            self.text()?,
            self.text()?,
            self.signature()?
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
            out.push_str(&self.text()?);
            out.push('~');
        }
        out.push_str(&self.jwt()?);
        Ok(out)
    }
}

fn inflate(data: &[u8]) -> Result<Vec<u8>, QrError> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(data)
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

/// Decodes v1 or v2 QR text back to the exact compact presentations, in order. Does not verify
/// them. A payload that left a derived claim out (bit 3) needs [`decode_set_deriving`].
pub fn decode_set(text: &str) -> Result<Vec<String>, QrError> {
    decode_set_deriving(text, None)
}

/// As [`decode_set`], putting `derived` back into every KB-JWT of a payload that left it out.
pub fn decode_set_deriving(
    text: &str,
    derived: Option<&DerivedClaim<'_>>,
) -> Result<Vec<String>, QrError> {
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
    let bin = base45::decode(b45)?;
    let (&flags, rest) = bin.split_first().ok_or(QrError::Malformed("empty"))?;
    let known = if v2 {
        FLAG_DEFLATED | FLAG_SIGNATURES_APART | FLAG_TOKENS | FLAG_DERIVED_CLAIM
    } else {
        FLAG_DEFLATED
    };
    if flags & !known != 0 {
        return Err(QrError::UnknownFormat);
    }
    let (stream, signatures) = if flags & FLAG_SIGNATURES_APART != 0 {
        let mut head = Reader {
            data: rest,
            pos: 0,
            signatures: None,
            tokens: false,
        };
        let len = head.varint()?;
        let end = head
            .pos
            .checked_add(len)
            .filter(|e| *e <= rest.len())
            .ok_or(QrError::Malformed("cut short"))?;
        (&rest[head.pos..end], Some(&rest[end..]))
    } else {
        (rest, None)
    };
    let body = if flags & FLAG_DEFLATED != 0 {
        inflate(stream)?
    } else {
        stream.to_vec()
    };
    let mut r = Reader {
        data: &body,
        pos: 0,
        signatures: signatures.map(|s| (s, 0)),
        tokens: flags & FLAG_TOKENS != 0,
    };
    let count = if v2 { r.varint()? } else { 1 };
    if count == 0 || count > MAX_PRESENTATIONS {
        return Err(QrError::Malformed("no or too many presentations"));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(r.presentation()?);
    }
    if r.pos != body.len() || r.signatures.is_some_and(|(s, at)| at != s.len()) {
        return Err(QrError::Malformed("trailing bytes"));
    }
    if flags & FLAG_DERIVED_CLAIM == 0 {
        return Ok(out);
    }
    let derived = derived.ok_or(QrError::UnknownFormat)?;
    let jwts: Vec<&str> = out.iter().filter_map(|p| p.split('~').next()).collect();
    let opening = derived
        .opening(&jwts)
        .ok_or(QrError::Malformed("the derived claim cannot be computed"))?;
    out.iter()
        .map(|p| restore(p, &opening))
        .collect::<Option<Vec<_>>>()
        .ok_or(QrError::Malformed(
            "a key-binding JWT payload is not an object",
        ))
}

/// `presentation` with `opening` (`{"name":"value",`) in place of its KB-JWT payload's `{`.
fn restore(presentation: &str, opening: &str) -> Option<String> {
    let cut = presentation.rfind('~')? + 1;
    let (sd_part, kb) = presentation.split_at(cut);
    let mut it = kb.split('.');
    let (h, _, sig) = (it.next()?, it.next()?, it.next()?);
    let payload = kb_payload(kb)?;
    let rest = payload.strip_prefix(b"{")?;
    let mut full = opening.as_bytes().to_vec();
    full.extend_from_slice(rest);
    Some(format!(
        "{sd_part}{h}.{}.{sig}",
        URL_SAFE_NO_PAD.encode(full)
    ))
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
    use std::io::Write;

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
        for bits in 0..8u8 {
            let opts = EncodeOptions {
                deflate: bits & 1 != 0,
                signatures_apart: bits & 2 != 0,
                tokens: bits & 4 != 0,
            };
            let t = encode_set_with(&[&a, &b], opts).unwrap();
            assert_eq!(decode_set(&t).unwrap(), vec![a.clone(), b.clone()]);
        }
        // A JSON part with a byte of the token range is carried as it is (tokens off).
        let odd = format!(
            "{}.{}.{}~{}",
            b64("{\"a\":\"\u{1}\"}"),
            b64("{}"),
            b64("s"),
            sample().rsplit('~').next().unwrap()
        );
        let t = encode_set(&[&odd]).unwrap();
        assert_eq!(decode_set(&t).unwrap(), vec![odd]);
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

    /// `sample()` with `kb_payload` as its key-binding JWT's payload.
    fn with_kb_payload(kb_payload: &str) -> String {
        let p = sample();
        let (sd_part, kb) = p.split_at(p.rfind('~').unwrap() + 1);
        let parts: Vec<&str> = kb.split('.').collect();
        format!("{sd_part}{}.{}.{}", parts[0], b64(kb_payload), parts[2])
    }

    #[test]
    fn a_derived_claim_is_left_out_and_restored_exactly() {
        // Any function of the issuer-signed JWTs will do for the codec.
        let derive = |jwts: &[&str]| Some(format!("n{}-l{}", jwts.len(), jwts[0].len()));
        let claim = DerivedClaim {
            name: "kluis_assoc",
            derive: &derive,
        };
        let value = derive(&[sample().split('~').next().unwrap(); 2]).unwrap();
        let a = with_kb_payload(&format!(
            r#"{{"kluis_assoc":"{value}","nonce":"n","aud":"a"}}"#
        ));
        let b = a.replace(&b64(r#"["salt2","family_name","de Vries"]"#), &b64("x"));
        let set = [a.as_str(), b.as_str()];
        let opts = EncodeOptions::default();
        let derived = encode_set_deriving(&set, opts, Some(&claim)).unwrap();
        let carried = encode_set_with(&set, opts).unwrap();
        assert!(
            derived.len() < carried.len(),
            "{} vs {}",
            derived.len(),
            carried.len()
        );
        assert_eq!(
            decode_set_deriving(&derived, Some(&claim)).unwrap(),
            vec![a.clone(), b.clone()]
        );
        // Without the hook the payload is refused, never decoded to KB-JWTs missing a claim.
        assert_eq!(decode_set(&derived).unwrap_err(), QrError::UnknownFormat);
        // A decoder deriving another value rebuilds other bytes: the signatures would fail.
        let other = |_: &[&str]| Some("something-else".to_string());
        let wrong = DerivedClaim {
            name: "kluis_assoc",
            derive: &other,
        };
        assert_ne!(
            decode_set_deriving(&derived, Some(&wrong)).unwrap(),
            vec![a.clone(), b.clone()]
        );
        // One KB-JWT without the claim, or with another value: everything is carried as it is.
        let plain = sample();
        let odd = with_kb_payload(r#"{"kluis_assoc":"other","nonce":"n","aud":"a"}"#);
        for set in [[a.as_str(), plain.as_str()], [a.as_str(), odd.as_str()]] {
            let t = encode_set_deriving(&set, opts, Some(&claim)).unwrap();
            assert_eq!(t, encode_set_with(&set, opts).unwrap());
            assert_eq!(decode_set(&t).unwrap(), set.to_vec());
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
