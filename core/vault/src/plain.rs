//! Plaintext buffers that leave no copies behind: what is serialised into them is zeroized when
//! they are dropped, and so is each smaller allocation they outgrow.

use std::io::Write;

use zeroize::Zeroizing;

/// A `Write` into a zeroizing buffer that also wipes the old allocation when it grows,
/// so serialising a record leaves no plaintext copies in freed memory.
pub(crate) struct ZeroizingWriter(Zeroizing<Vec<u8>>);

impl ZeroizingWriter {
    pub(crate) fn with_capacity(n: usize) -> Self {
        ZeroizingWriter(Zeroizing::new(Vec::with_capacity(n)))
    }

    pub(crate) fn into_inner(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl Write for ZeroizingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let need = self.0.len() + buf.len();
        if need > self.0.capacity() {
            let mut grown = Zeroizing::new(Vec::with_capacity(need.max(self.0.capacity() * 2)));
            grown.extend_from_slice(&self.0);
            self.0 = grown; // the old buffer is zeroized on drop
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows() {
        let mut w = ZeroizingWriter::with_capacity(2);
        w.write_all(b"hello world, longer than two").ok();
        assert_eq!(w.into_inner().as_slice(), b"hello world, longer than two");
    }
}
