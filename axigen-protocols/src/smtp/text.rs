//! Framing of what the client sends: command lines with a hard length limit,
//! and the DATA text with its end marker and dot-stuffing (RFC 5321 2.3.8,
//! 4.5.2). Both are sans-IO: they look at buffered bytes and say how many to
//! consume, so the tokio driver, the tests and the fuzzers share them.

/// Splits buffered input into command lines of at most `max_line` octets,
/// line ending included (RFC 5321 4.5.3.1.4: at least 512).
///
/// A line ends at LF (a CR before it is removed by the command parser). A
/// longer line is discarded up to and including its LF and reported once as
/// [`Frame::TooLong`], so the client gets one error reply for it and the
/// following commands stay in step.
#[derive(Debug, Clone)]
pub struct LineFramer {
    max_line: usize,
    discarding: bool,
}

/// What [`LineFramer::next`] found in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// The first `n` bytes are a complete line, its LF included.
    Line(usize),
    /// The first `n` bytes end an over-long line: drop them and answer
    /// "line too long".
    TooLong(usize),
    /// The first `n` bytes (at least one) belong to an over-long line whose
    /// end has not arrived: drop them and read more.
    Skip(usize),
    /// No complete line yet: read more.
    NeedMore,
}

impl LineFramer {
    /// A framer for lines of at most `max_line` octets (at least 3 is used).
    pub fn new(max_line: usize) -> LineFramer {
        LineFramer { max_line: max_line.max(3), discarding: false }
    }

    /// Looks at the start of `buf`.
    pub fn next(&mut self, buf: &[u8]) -> Frame {
        if self.discarding {
            return match memchr(b'\n', buf) {
                Some(i) => {
                    self.discarding = false;
                    Frame::TooLong(i + 1)
                }
                // Nothing buffered is not progress: wait for input.
                None if buf.is_empty() => Frame::NeedMore,
                None => Frame::Skip(buf.len()),
            };
        }
        let window = &buf[..buf.len().min(self.max_line)];
        match memchr(b'\n', window) {
            Some(i) => Frame::Line(i + 1),
            None if buf.len() >= self.max_line => {
                self.discarding = true;
                self.next(buf)
            }
            None => Frame::NeedMore,
        }
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

/// Why DATA text was refused after it was read to its end marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// More octets than the size limit (after dot-unstuffing).
    #[error("message too large")]
    TooLarge,
    /// A CR or LF that is not part of a CRLF pair (RFC 5321 2.3.8).
    #[error("bare CR or LF in message text")]
    BareLineEnding,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DotState {
    /// At the start of a line (also the start of the text).
    LineStart,
    /// A `.` at the start of a line.
    Dot,
    /// `.` CR at the start of a line.
    DotCr,
    /// Inside a line.
    Middle,
    /// A CR inside a line.
    Cr,
}

/// Decodes the DATA text (RFC 5321 4.5.2, 4.1.1.4): removes the leading dot
/// of every line that starts with one, and stops after the end marker, a
/// line holding a single dot.
///
/// Only CRLF ends a line. A bare LF or bare CR never does, so neither
/// `<LF>.<LF>` nor `<CR>.<CR>` nor any mix ends the text: a message cannot
/// smuggle a second transaction past a server or proxy that reads line ends
/// differently ("SMTP smuggling", 2023). Such a message is read to the real
/// end marker and then refused ([`TextError::BareLineEnding`]).
///
/// The size limit is enforced while reading: past it the text is counted
/// and discarded, never buffered.
#[derive(Debug)]
pub struct DotDecoder {
    state: DotState,
    message: Vec<u8>,
    max: u64,
    size: u64,
    too_large: bool,
    bare: bool,
}

impl DotDecoder {
    /// A decoder accepting messages of at most `max` octets.
    pub fn new(max: u64) -> DotDecoder {
        DotDecoder { state: DotState::LineStart, message: Vec::new(), max, size: 0, too_large: false, bare: false }
    }

    /// Feeds text. Returns `Some(n)` when the end marker ends within `input`,
    /// `n` being the octets used (the marker included; the rest belongs to
    /// the next command), or `None` when all of `input` was used.
    pub fn feed(&mut self, input: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            let b = input[i];
            match self.state {
                DotState::Middle => {
                    // Fast path: copy up to the next CR or LF in one go.
                    let run = input[i..].iter().position(|&c| c == b'\r' || c == b'\n').unwrap_or(input.len() - i);
                    if run > 0 {
                        self.emit(&input[i..i + run]);
                        i += run;
                        continue;
                    }
                    self.middle(b);
                }
                DotState::LineStart => match b {
                    b'.' => self.state = DotState::Dot,
                    _ => self.middle(b),
                },
                // "If the first character is a period and there are other
                // characters on the line, the first character is deleted."
                DotState::Dot => match b {
                    b'\r' => self.state = DotState::DotCr,
                    _ => self.middle(b),
                },
                DotState::DotCr => match b {
                    b'\n' => return Some(i + 1),
                    // `.` CR x: the dot is deleted, the CR is bare.
                    _ => {
                        self.state = DotState::Cr;
                        self.after_cr(b);
                    }
                },
                DotState::Cr => self.after_cr(b),
            }
            i += 1;
        }
        None
    }

    /// A byte inside a line.
    fn middle(&mut self, b: u8) {
        match b {
            b'\r' => self.state = DotState::Cr,
            b'\n' => {
                self.bare = true;
                self.emit(b"\n");
                self.state = DotState::Middle;
            }
            _ => {
                self.emit(&[b]);
                self.state = DotState::Middle;
            }
        }
    }

    /// The byte after a CR that may end a line.
    fn after_cr(&mut self, b: u8) {
        if b == b'\n' {
            self.emit(b"\r\n");
            self.state = DotState::LineStart;
        } else {
            self.bare = true;
            self.emit(b"\r");
            self.state = DotState::Middle;
            self.middle(b);
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len() as u64);
        if self.too_large {
            return;
        }
        if self.size > self.max {
            self.too_large = true;
            self.message = Vec::new();
            return;
        }
        self.message.extend_from_slice(bytes);
    }

    /// Octets of message text seen so far (after unstuffing).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The message, once [`feed`](DotDecoder::feed) has returned `Some`.
    pub fn finish(self) -> Result<Vec<u8>, TextError> {
        if self.too_large {
            Err(TextError::TooLarge)
        } else if self.bare {
            Err(TextError::BareLineEnding)
        } else {
            Ok(self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], max: u64) -> (Option<usize>, Result<Vec<u8>, TextError>) {
        let mut d = DotDecoder::new(max);
        let used = d.feed(input);
        (used, d.finish())
    }

    /// Feeds the input one byte at a time, to check state across reads.
    fn decode_bytewise(input: &[u8], max: u64) -> (Option<usize>, Result<Vec<u8>, TextError>) {
        let mut d = DotDecoder::new(max);
        for (i, b) in input.iter().enumerate() {
            if d.feed(std::slice::from_ref(b)).is_some() {
                return (Some(i + 1), d.finish());
            }
        }
        (None, d.finish())
    }

    #[test]
    fn unstuffs_and_finds_the_end() {
        let cases: &[(&[u8], &[u8])] = &[
            (b".\r\n", b""),
            (b"a\r\n.\r\n", b"a\r\n"),
            (b"..\r\n.\r\n", b".\r\n"),
            (b"..x\r\n...\r\n.\r\n", b".x\r\n..\r\n"),
            (b".x\r\n.\r\n", b"x\r\n"),
            (b"a\r\n\r\n.\r\n", b"a\r\n\r\n"),
            (b"a.\r\n.b\r\n.\r\n", b"a.\r\nb\r\n"),
        ];
        for (input, message) in cases {
            for decode in [decode_all, decode_bytewise] {
                let (used, result) = decode(input, 1000);
                assert_eq!(used, Some(input.len()), "{input:?}");
                assert_eq!(result.as_deref(), Ok(*message), "{input:?}");
            }
        }
    }

    #[test]
    fn stops_at_the_marker_and_leaves_the_rest() {
        let input = b"hello\r\n.\r\nQUIT\r\n";
        let (used, result) = decode_all(input, 1000);
        assert_eq!(used, Some(10));
        assert_eq!(result.unwrap(), b"hello\r\n");
        assert_eq!(decode_all(b"hello\r\n", 1000).0, None);
    }

    #[test]
    fn bare_line_endings_never_end_the_text() {
        for input in [
            &b"a\n.\nMAIL FROM:<x@y.z>\r\n.\r\n"[..],
            b"a\r.\rb\r\n.\r\n",
            b"a\n.\r\nb\r\n.\r\n",
            b"a\r\n.\nb\r\n.\r\n",
            b"a\r\n.\r.\r\n.\r\n",
            b"a\r\r\n.\r\n",
        ] {
            for decode in [decode_all, decode_bytewise] {
                let (used, result) = decode(input, 1000);
                assert_eq!(used, Some(input.len()), "{input:?}");
                assert_eq!(result, Err(TextError::BareLineEnding), "{input:?}");
            }
        }
    }

    #[test]
    fn size_limit_counts_unstuffed_octets_and_keeps_reading() {
        assert_eq!(decode_all(b"12345\r\n.\r\n", 7).1.unwrap(), b"12345\r\n");
        assert_eq!(decode_all(b"..345\r\n.\r\n", 7).1.unwrap(), b".345\r\n");
        let (used, result) = decode_all(b"123456\r\n.\r\n", 7);
        assert_eq!(used, Some(11));
        assert_eq!(result, Err(TextError::TooLarge));
    }

    #[test]
    fn line_framer_limits_and_resynchronises() {
        let mut f = LineFramer::new(8);
        assert_eq!(f.next(b"NOOP\r\nQUIT"), Frame::Line(6));
        assert_eq!(f.next(b"QUIT"), Frame::NeedMore);
        // Exactly max_line octets with the CRLF: fine.
        assert_eq!(f.next(b"123456\r\n"), Frame::Line(8));
        // One more: too long, discarded up to its LF.
        assert_eq!(f.next(b"1234567\r\nNOOP\r\n"), Frame::TooLong(9));
        assert_eq!(f.next(b"NOOP\r\n"), Frame::Line(6));
        // The end of a long line arriving later.
        assert_eq!(f.next(b"123456789"), Frame::Skip(9));
        assert_eq!(f.next(b"abc"), Frame::Skip(3));
        // An empty buffer while discarding asks for input (no busy loop).
        assert_eq!(f.next(b""), Frame::NeedMore);
        assert_eq!(f.next(b"c\r\nNOOP\r\n"), Frame::TooLong(3));
        assert_eq!(f.next(b"NOOP\r\n"), Frame::Line(6));
    }
}
