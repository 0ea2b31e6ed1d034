//! Base45 (RFC 9285): bytes as text in the QR alphanumeric alphabet, 3 characters per 2 bytes.

use crate::QrError;

const ALPHABET: &[u8; 45] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// Encodes bytes as Base45.
pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(2) * 3);
    for chunk in data.chunks(2) {
        let mut n = if chunk.len() == 2 {
            (chunk[0] as u32) * 256 + chunk[1] as u32
        } else {
            chunk[0] as u32
        };
        let digits = if chunk.len() == 2 { 3 } else { 2 };
        for _ in 0..digits {
            out.push(ALPHABET[(n % 45) as usize] as char);
            n /= 45;
        }
    }
    out
}

fn value(c: u8) -> Result<u32, QrError> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .map(|p| p as u32)
        .ok_or(QrError::BadBase45)
}

/// Decodes Base45; rejects characters outside the alphabet, a dangling character and
/// triplets that overflow two bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, QrError> {
    let bytes = text.as_bytes();
    if bytes.len() % 3 == 1 {
        return Err(QrError::BadBase45);
    }
    let mut out = Vec::with_capacity(bytes.len() / 3 * 2 + 1);
    for chunk in bytes.chunks(3) {
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n += value(c)? * 45u32.pow(i as u32);
        }
        if chunk.len() == 3 {
            if n > 0xFFFF {
                return Err(QrError::BadBase45);
            }
            out.push((n >> 8) as u8);
            out.push((n & 0xFF) as u8);
        } else {
            if n > 0xFF {
                return Err(QrError::BadBase45);
            }
            out.push(n as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rfc9285_examples() {
        assert_eq!(encode(b"AB"), "BB8");
        assert_eq!(encode(b"Hello!!"), "%69 VD92EX0");
        assert_eq!(encode(b"base-45"), "UJCLQE7W581");
        assert_eq!(decode("QED8WEX0").unwrap(), b"ietf!");
        assert_eq!(
            decode("GGW").unwrap_err(),
            QrError::BadBase45,
            "65535 < GGW = 65536+... overflows"
        );
        assert!(decode("A").is_err());
        assert!(decode("a12").is_err());
    }

    #[test]
    fn round_trips_all_lengths() {
        let data: Vec<u8> = (0..=255u8).collect();
        for n in 0..data.len() {
            assert_eq!(decode(&encode(&data[..n])).unwrap(), &data[..n]);
        }
    }
}
