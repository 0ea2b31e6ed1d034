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

    /// The modules row by row (index `y * width + x`), `true` for dark: for an app that draws
    /// the code itself.
    pub fn modules(&self) -> Vec<bool> {
        let w = self.width();
        (0..w * w).map(|i| self.dark(i % w, i / w)).collect()
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

/// Largest PNG accepted for reading (a phone photo scaled down; bounds memory).
pub const MAX_PNG_BYTES: usize = 16 * 1024 * 1024;
const MAX_PIXELS: u64 = 16_000_000;

/// Reads the QR code in a PNG (any colour type; the first code found) and returns its text.
/// For a verifier that receives an image instead of a camera frame.
pub fn read_png(png_bytes: &[u8]) -> Result<String, QrError> {
    if png_bytes.len() > MAX_PNG_BYTES {
        return Err(QrError::Unreadable("the image is too large"));
    }
    let mut decoder = png::Decoder::new_with_limits(
        std::io::Cursor::new(png_bytes),
        png::Limits {
            bytes: 256 * 1024 * 1024,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder
        .read_info()
        .map_err(|_| QrError::Unreadable("not a PNG image"))?;
    let (w, h) = {
        let info = reader.info();
        (info.width as usize, info.height as usize)
    };
    if (w as u64) * (h as u64) > MAX_PIXELS {
        return Err(QrError::Unreadable("the image has too many pixels"));
    }
    let size = reader
        .output_buffer_size()
        .ok_or(QrError::Unreadable("the image is too large"))?;
    let mut buf = vec![0u8; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|_| QrError::Unreadable("the PNG data is damaged"))?;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(QrError::Unreadable("unsupported PNG colours")),
    };
    let line = frame.line_size;
    let grey = |x: usize, y: usize| -> u8 {
        let px = &buf[y * line + x * channels..];
        let v = match channels {
            1 | 2 => px[0] as u32,
            // ITU-R BT.601 luma, integer weights.
            _ => (299 * px[0] as u32 + 587 * px[1] as u32 + 114 * px[2] as u32) / 1000,
        };
        // Transparent pixels count as white paper.
        if channels == 2 || channels == 4 {
            let a = px[channels - 1] as u32;
            ((v * a + 255 * (255 - a)) / 255) as u8
        } else {
            v as u8
        }
    };
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, grey);
    let grids = img.detect_grids();
    let grid = grids
        .first()
        .ok_or(QrError::Unreadable("no QR code found"))?;
    let (_, text) = grid
        .decode()
        .map_err(|_| QrError::Unreadable("the QR code does not decode"))?;
    Ok(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The modules an app draws are the code the PNG shows: drawn back into a PNG of our own,
    /// they read as the payload.
    #[test]
    fn modules_draw_the_same_code() {
        let qr = Qr::new("KS1:modules-round-trip", Ec::M).unwrap();
        let (w, m) = (qr.width(), qr.modules());
        assert_eq!(m.len(), w * w);
        let (quiet, scale) = (4, 4);
        let side = (w + 2 * quiet) * scale;
        let mut pixels = vec![255u8; side * side];
        for (i, _) in m.iter().enumerate().filter(|(_, d)| **d) {
            let (x, y) = (i % w, i / w);
            for dy in 0..scale {
                let start = ((y + quiet) * scale + dy) * side + (x + quiet) * scale;
                pixels[start..start + scale].fill(0);
            }
        }
        let mut png_bytes = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut png_bytes, side as u32, side as u32);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let mut wr = enc.write_header().unwrap();
            wr.write_image_data(&pixels).unwrap();
        }
        assert_eq!(read_png(&png_bytes).unwrap(), "KS1:modules-round-trip");
    }

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

    #[test]
    fn png_reads_back() {
        let text = format!("KL1:{}", "ABC123".repeat(120));
        let qr = Qr::new(&text, Ec::M).unwrap();
        assert_eq!(read_png(&qr.to_png(4).unwrap()).unwrap(), text);
        assert!(matches!(
            read_png(b"not a png"),
            Err(QrError::Unreadable(_))
        ));
        let blank = Qr::new("x", Ec::M).unwrap().to_png(1).unwrap();
        // A 1-pixel-per-module image of version 1 is still readable; a truncated PNG is not.
        assert!(read_png(&blank[..blank.len() / 2]).is_err());
    }
}
