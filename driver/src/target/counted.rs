//! A counted run of bytes ended by CRLF (an HTTP chunk's data, a RESP bulk string), taken as it
//! arrives: the length counts down, and the CRLF is checked byte by byte, so neither the data
//! nor its end ever has to be in the buffer whole.

/// What is left of a counted run and its CRLF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted {
    data_left: u64,
    /// CRLF bytes still to come (2, 1 or 0).
    crlf_left: u8,
}

/// The byte where a CRLF was due was something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NoCrlf;

impl Counted {
    /// `len` bytes of data, then CRLF.
    pub(crate) fn then_crlf(len: u64) -> Counted {
        Counted {
            data_left: len,
            crlf_left: 2,
        }
    }

    /// Takes what of the run is at the front of `buf`: how many bytes that was.
    pub(crate) fn take(&mut self, buf: &[u8]) -> Result<usize, NoCrlf> {
        // A u64 that does not fit a usize is longer than any buffer.
        let data = usize::try_from(self.data_left).map_or(buf.len(), |d| d.min(buf.len()));
        self.data_left -= data as u64;
        let mut used = data;
        // Only reached with the data all taken (else `used` is the whole buffer).
        while self.crlf_left > 0 && used < buf.len() {
            let want = if self.crlf_left == 2 { b'\r' } else { b'\n' };
            if buf[used] != want {
                return Err(NoCrlf);
            }
            self.crlf_left -= 1;
            used += 1;
        }
        Ok(used)
    }

    /// Bytes of the run still to come, its CRLF included.
    pub(crate) fn left(&self) -> u64 {
        self.data_left.saturating_add(u64::from(self.crlf_left))
    }

    /// Whether the data and its CRLF are all in.
    pub(crate) fn done(&self) -> bool {
        self.data_left == 0 && self.crlf_left == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_the_same_whole_or_cut_anywhere() {
        let wire = b"hello\r\nNEXT";
        for cut in 0..=7 {
            let mut c = Counted::then_crlf(5);
            let first = c.take(&wire[..cut]).unwrap();
            assert_eq!((first, c.done()), (cut, cut == 7), "cut at {cut}");
            let second = c.take(&wire[cut..]).unwrap();
            assert_eq!((first + second, c.done()), (7, true), "cut at {cut}");
        }
        assert_eq!(Counted::then_crlf(0).take(b"\r\n"), Ok(2));
        assert_eq!(Counted::then_crlf(2).take(b"ab\rX"), Err(NoCrlf));
        assert_eq!(Counted::then_crlf(2).take(b"abX"), Err(NoCrlf));
        let mut huge = Counted::then_crlf(u64::MAX);
        assert_eq!((huge.take(&[0; 10]), huge.done()), (Ok(10), false));
    }
}
