//! QR sizing and rendering: which version and error-correction level a payload needs, a PNG for
//! the phone's screen, and a terminal rendering for the CLI.

use qrcode::{EcLevel, QrCode, Version};

use crate::QrError;

/// Error-correction level, as QR defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ec {
    /// ~7 % recovery.
    L,
    /// ~15 % recovery: the level to aim for on a phone screen.
    M,
    /// ~25 %.
    Q,
    /// ~30 %.
    H,
}

impl Ec {
    fn level(self) -> EcLevel {
        match self {
            Ec::L => EcLevel::L,
            Ec::M => EcLevel::M,
            Ec::Q => EcLevel::Q,
            Ec::H => EcLevel::H,
        }
    }
}

impl std::fmt::Display for Ec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ec::L => "L",
            Ec::M => "M",
            Ec::Q => "Q",
            Ec::H => "H",
        })
    }
}

/// A QR code for a payload.
pub struct Qr {
    code: QrCode,
    /// Error-correction level used.
    pub ec: Ec,
}

impl Qr {
    /// The smallest QR code for `payload` at level `ec`.
    pub fn new(payload: &str, ec: Ec) -> Result<Qr, QrError> {
        let code = QrCode::with_error_correction_level(payload.as_bytes(), ec.level())
            .map_err(|_| QrError::TooLarge)?;
        Ok(Qr { code, ec })
    }

    /// The QR version (1 to 40).
    pub fn version(&self) -> i16 {
        match self.code.version() {
            Version::Normal(v) | Version::Micro(v) => v,
        }
    }

    /// Modules per side.
    pub fn width(&self) -> usize {
        self.code.width()
    }

    fn dark(&self, x: usize, y: usize) -> bool {
        self.code[(x, y)] == qrcode::Color::Dark
    }

    /// A black-on-white PNG with a 4-module quiet zone, `scale` pixels per module.
    pub fn to_png(&self, scale: u32) -> Result<Vec<u8>, QrError> {
        let quiet = 4usize;
        let scale = scale.clamp(1, 32) as usize;
        let side = (self.width() + 2 * quiet) * scale;
        let mut pixels = vec![255u8; side * side];
        for y in 0..self.width() {
            for x in 0..self.width() {
                if self.dark(x, y) {
                    for dy in 0..scale {
                        let row = ((y + quiet) * scale + dy) * side;
                        let start = row + (x + quiet) * scale;
                        pixels[start..start + scale].fill(0);
                    }
                }
            }
        }
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, side as u32, side as u32);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().map_err(|_| QrError::Render)?;
            w.write_image_data(&pixels).map_err(|_| QrError::Render)?;
        }
        Ok(out)
    }

    /// Two rows of modules per line with Unicode half blocks, light on dark terminals and dark
    /// on light alike (the quiet zone is drawn).
    pub fn to_terminal(&self) -> String {
        let quiet = 2isize;
        let w = self.width() as isize;
        let at = |x: isize, y: isize| {
            x >= 0 && y >= 0 && x < w && y < w && self.dark(x as usize, y as usize)
        };
        let mut out = String::new();
        let mut y = -quiet;
        while y < w + quiet {
            for x in -quiet..w + quiet {
                // Dark modules print as spaces (background), light as blocks, so that the code is
                // light-on-dark like paper when the terminal is dark.
                out.push(match (at(x, y), at(x, y + 1)) {
                    (false, false) => '█',
                    (false, true) => '▀',
                    (true, false) => '▄',
                    (true, true) => ' ',
                });
            }
            out.push('\n');
            y += 2;
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_grow_with_payload_and_png_is_valid() {
        let small = Qr::new("KL1:ABC", Ec::M).unwrap();
        assert_eq!(small.version(), 1);
        let big = Qr::new(&"A".repeat(1000), Ec::M).unwrap();
        assert!(big.version() > 10);
        assert!(Qr::new(&"A".repeat(5000), Ec::M).is_err());
        let png = small.to_png(4).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(
            small.to_terminal().lines().count(),
            (small.width() + 4).div_ceil(2)
        );
    }
}
