//! The client side of SMTP replies (RFC 5321 4.2): a sans-IO, streaming
//! parser of what a server sends, and the EHLO capabilities it announces.
//!
//! [`ReplyParser`] takes bytes as they arrive, in chunks of any size, and
//! returns whole replies in order; bytes after a reply (pipelined replies,
//! RFC 2920) are kept for the next call. Every line is checked:
//!
//! - it starts with a three-digit code from 200 to 599, followed by `-`
//!   (more lines follow), a space or nothing (the last line);
//! - all lines of one reply carry the same code;
//! - it is at most [`MAX_LINE`] bytes long without its line end, and a reply
//!   has at most [`MAX_LINES`] lines, so that a hostile server cannot make
//!   the client buffer without bound;
//! - it ends with CRLF; a bare LF is tolerated (some servers send it).
//!
//! An enhanced status code (RFC 3463, announced with ENHANCEDSTATUSCODES,
//! RFC 2034) is recognised at the start of a line's text when its class
//! matches the first digit of the reply code, and is removed from the text.
//!
//! A parse error is final: the parser keeps returning it, because a client
//! cannot know where the next reply would start. The connection should be
//! closed.

use std::fmt;

/// The longest reply line accepted, in bytes, without its CRLF. RFC 5321
/// 4.5.3.1.5 sets 512 as the minimum that must be accepted; real servers
/// send longer lines in EHLO replies and rejection texts.
pub const MAX_LINE: usize = 2048;

/// The most lines accepted in one reply.
pub const MAX_LINES: usize = 100;

/// An enhanced status code `class.subject.detail` (RFC 3463 2), in the same
/// form as [`Reply::enhanced`](crate::smtp::Reply::enhanced).
pub type EnhancedCode = (u8, u16, u16);

/// Why a server's bytes are not a valid reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A line is longer than [`MAX_LINE`] bytes.
    #[error("reply line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// A reply has more than [`MAX_LINES`] lines.
    #[error("reply with more than {MAX_LINES} lines")]
    TooManyLines,
    /// A line does not start with a reply code from 200 to 599.
    #[error("malformed reply code in line {line:?}")]
    BadCode {
        /// The start of the offending line (at most 64 bytes, lossily decoded).
        line: String,
    },
    /// The code is not followed by `-`, a space or the line end.
    #[error("malformed separator after the reply code in line {line:?}")]
    BadSeparator {
        /// The start of the offending line (at most 64 bytes, lossily decoded).
        line: String,
    },
    /// A continuation line carries another code than the first line.
    #[error("reply code changed from {first} to {then} within one reply")]
    CodeMismatch {
        /// The code of the first line.
        first: u16,
        /// The code of the offending line.
        then: u16,
    },
}

/// One complete reply from a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReply {
    /// The reply code, 200 to 599.
    pub code: u16,
    /// The enhanced status code of the first line, when it has one whose
    /// class matches the code.
    pub enhanced: Option<EnhancedCode>,
    /// The text of every line, without the code, the separator and (where
    /// recognised) the enhanced status code. Never empty. Bytes that are not
    /// UTF-8 are replaced with U+FFFD.
    pub lines: Vec<String>,
}

impl ServerReply {
    /// Whether the code is 2xx (positive completion).
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Whether the code is 3xx (positive intermediate: 354, 334).
    pub fn is_intermediate(&self) -> bool {
        (300..400).contains(&self.code)
    }

    /// Whether the code is 4xx (transient failure: try again later).
    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    /// Whether the code is 5xx (permanent failure).
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The text of all lines joined with a space (for logs and bounces).
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

impl fmt::Display for ServerReply {
    /// The code, the enhanced code and the text of all lines on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some((class, subject, detail)) = self.enhanced {
            write!(f, " {class}.{subject}.{detail}")?;
        }
        for line in &self.lines {
            write!(f, " {line}")?;
        }
        Ok(())
    }
}

/// The streaming reply parser.
///
/// ```
/// use axigen_protocols::smtp::client::ReplyParser;
/// let mut parser = ReplyParser::new();
/// assert_eq!(parser.feed(b"250-mx.example.org\r\n250 PIPEL").unwrap(), None);
/// let reply = parser.feed(b"INING\r\n550 5.1.1 No\r\n").unwrap().unwrap();
/// assert_eq!(reply.lines, ["mx.example.org", "PIPELINING"]);
/// let next = parser.next_reply().unwrap().unwrap();
/// assert_eq!((next.code, next.enhanced), (550, Some((5, 1, 1))));
/// ```
#[derive(Debug, Default, Clone)]
pub struct ReplyParser {
    /// Bytes received and not yet parsed start at `buffer[start..]`.
    buffer: Vec<u8>,
    start: usize,
    /// The lines of the reply being read: code and raw text of each.
    code: Option<u16>,
    lines: Vec<Vec<u8>>,
    failed: Option<ReplyError>,
}

impl ReplyParser {
    /// A parser at the start of a stream.
    pub fn new() -> ReplyParser {
        ReplyParser::default()
    }

    /// Adds `bytes` and returns the next complete reply, if any. Further
    /// replies already received are returned by [`next_reply`](Self::next_reply)
    /// (or by `feed(&[])`).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<ServerReply>, ReplyError> {
        self.push(bytes);
        self.next_reply()
    }

    /// Adds `bytes` without parsing them.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 && self.start == self.buffer.len() {
            self.buffer.clear();
            self.start = 0;
        } else if self.start > 4096 && self.start * 2 > self.buffer.len() {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// Returns the next complete reply from the bytes received so far, or
    /// `None` when more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<ServerReply>, ReplyError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        match self.parse() {
            Ok(reply) => Ok(reply),
            Err(error) => {
                self.failed = Some(error.clone());
                self.buffer = Vec::new();
                self.start = 0;
                self.lines = Vec::new();
                Err(error)
            }
        }
    }

    /// The number of bytes received and not yet part of a returned reply
    /// (including lines of an incomplete reply). After the reply to
    /// STARTTLS this must be zero: anything else was sent before the TLS
    /// handshake and must not be trusted (RFC 3207 4.2).
    pub fn pending(&self) -> usize {
        self.buffer.len() - self.start + self.lines.iter().map(|l| l.len() + 6).sum::<usize>()
    }

    /// Whether the parser has failed (every further call returns the error).
    pub fn has_failed(&self) -> bool {
        self.failed.is_some()
    }

    fn parse(&mut self) -> Result<Option<ServerReply>, ReplyError> {
        loop {
            let rest = &self.buffer[self.start..];
            let Some(newline) = rest.iter().position(|&b| b == b'\n') else {
                // Without a line end yet: the line may still end with CR LF.
                if rest.len() > MAX_LINE + 1 {
                    return Err(ReplyError::LineTooLong);
                }
                return Ok(None);
            };
            let mut line = &rest[..newline];
            if let Some(stripped) = line.strip_suffix(b"\r") {
                line = stripped;
            }
            if line.len() > MAX_LINE {
                return Err(ReplyError::LineTooLong);
            }
            let (code, last, text) = split_line(line)?;
            let text = text.to_vec();
            self.start += newline + 1;
            match self.code {
                Some(first) if first != code => return Err(ReplyError::CodeMismatch { first, then: code }),
                Some(_) => {}
                None => self.code = Some(code),
            }
            if self.lines.len() >= MAX_LINES {
                return Err(ReplyError::TooManyLines);
            }
            self.lines.push(text);
            if last {
                let lines = std::mem::take(&mut self.lines);
                self.code = None;
                return Ok(Some(build(code, lines)));
            }
        }
    }
}

/// The start of a line for error messages.
fn excerpt(line: &[u8]) -> String {
    String::from_utf8_lossy(&line[..line.len().min(64)]).into_owned()
}

/// Splits a line (without its line end) into code, whether it is the last
/// line, and text.
fn split_line(line: &[u8]) -> Result<(u16, bool, &[u8]), ReplyError> {
    let code = match line {
        [a @ b'2'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9', ..] => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(ReplyError::BadCode { line: excerpt(line) }),
    };
    match line.get(3) {
        None => Ok((code, true, &[])),
        Some(b' ') => Ok((code, true, &line[4..])),
        Some(b'-') => Ok((code, false, &line[4..])),
        Some(_) => Err(ReplyError::BadSeparator { line: excerpt(line) }),
    }
}

fn build(code: u16, lines: Vec<Vec<u8>>) -> ServerReply {
    let mut enhanced = None;
    let lines = lines
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let text = match parse_enhanced(raw, code) {
                Some((status, rest)) => {
                    if i == 0 {
                        enhanced = Some(status);
                    }
                    rest
                }
                None => raw.as_slice(),
            };
            String::from_utf8_lossy(text).into_owned()
        })
        .collect();
    ServerReply { code, enhanced, lines }
}

/// `class "." subject "." detail` with one-digit class matching the code and
/// `1*3digit` subject and detail (RFC 3463 2), followed by a space or the
/// end of the text. Returns the status and the text after it.
fn parse_enhanced(text: &[u8], code: u16) -> Option<(EnhancedCode, &[u8])> {
    let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    let (status, rest) = (&text[..end], text.get(end + 1..).unwrap_or(&[]));
    let mut parts = status.split(|&b| b == b'.');
    let mut number = || -> Option<u16> {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(part.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0')))
    };
    let class = number()?;
    let subject = number()?;
    let detail = number()?;
    if parts.next().is_some() || status.get(1) != Some(&b'.') || class != code / 100 || !matches!(class, 2 | 4 | 5) {
        return None;
    }
    Some(((class as u8, subject, detail), rest))
}

/// What a server announces in its EHLO reply (RFC 5321 4.1.1.1): one
/// keyword per line after the first, keywords compared case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// SIZE (RFC 1870) is announced.
    pub size: bool,
    /// The SIZE limit in bytes, when one is given and is not 0 (0 means no
    /// fixed limit).
    pub max_size: Option<u64>,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// CHUNKING (RFC 3030).
    pub chunking: bool,
    /// The SASL mechanisms of AUTH (RFC 4954), upper-cased, in the order
    /// announced; also read from the old `AUTH=` form.
    pub auth: Vec<String>,
    /// Every keyword line as announced (upper-cased keyword, then its
    /// parameters), the known ones included.
    pub extensions: Vec<(String, Vec<String>)>,
}

impl Capabilities {
    /// The capabilities of an EHLO reply. The first line (the server's name
    /// and greeting) is skipped; lines that are not keywords are ignored.
    pub fn from_ehlo(reply: &ServerReply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_ascii_whitespace();
            let Some(keyword) = words.next() else { continue };
            let params: Vec<String> = words.map(str::to_owned).collect();
            let upper = keyword.to_ascii_uppercase();
            match upper.as_str() {
                "STARTTLS" => caps.starttls = true,
                "SIZE" => {
                    caps.size = true;
                    caps.max_size = params.first().and_then(|n| n.parse::<u64>().ok()).filter(|&n| n > 0);
                }
                "PIPELINING" => caps.pipelining = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                "CHUNKING" => caps.chunking = true,
                "AUTH" => caps.add_auth(params.iter().map(String::as_str)),
                _ if upper.starts_with("AUTH=") => {
                    caps.add_auth(std::iter::once(&keyword[5..]).chain(params.iter().map(String::as_str)));
                }
                _ => {}
            }
            caps.extensions.push((upper, params));
        }
        caps
    }

    fn add_auth<'a>(&mut self, mechanisms: impl Iterator<Item = &'a str>) {
        for mechanism in mechanisms {
            let mechanism = mechanism.to_ascii_uppercase();
            if !mechanism.is_empty() && !self.auth.contains(&mechanism) {
                self.auth.push(mechanism);
            }
        }
    }

    /// Whether the SASL mechanism (case-insensitive) is offered with AUTH.
    pub fn has_auth(&self, mechanism: &str) -> bool {
        self.auth.iter().any(|m| m.eq_ignore_ascii_case(mechanism))
    }

    /// Whether a keyword (case-insensitive) is announced.
    pub fn has(&self, keyword: &str) -> bool {
        self.extensions.iter().any(|(k, _)| k.eq_ignore_ascii_case(keyword))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::Reply;
    use proptest::prelude::*;

    fn parse_all(bytes: &[u8]) -> Result<Vec<ServerReply>, ReplyError> {
        let mut parser = ReplyParser::new();
        let mut replies = Vec::new();
        let mut next = parser.feed(bytes)?;
        while let Some(reply) = next {
            replies.push(reply);
            next = parser.next_reply()?;
        }
        assert_eq!(parser.pending(), 0, "trailing bytes in {bytes:?}");
        Ok(replies)
    }

    fn one(bytes: &[u8]) -> ServerReply {
        let replies = parse_all(bytes).unwrap();
        assert_eq!(replies.len(), 1, "{replies:?}");
        replies.into_iter().next().unwrap()
    }

    #[test]
    fn known_answers() {
        let reply = one(b"220 mx.example.org ESMTP ready\r\n");
        assert_eq!((reply.code, reply.enhanced), (220, None));
        assert_eq!(reply.lines, ["mx.example.org ESMTP ready"]);
        assert!(reply.is_positive() && !reply.is_transient() && !reply.is_permanent());

        let reply = one(b"550 5.1.1 <x@example.org>: no such user\r\n");
        assert_eq!((reply.code, reply.enhanced), (550, Some((5, 1, 1))));
        assert_eq!(reply.lines, ["<x@example.org>: no such user"]);
        assert!(reply.is_permanent());
        assert_eq!(reply.to_string(), "550 5.1.1 <x@example.org>: no such user");

        let reply = one(b"451-4.3.0 first\r\n451 4.3.0 second\r\n");
        assert_eq!((reply.code, reply.enhanced), (451, Some((4, 3, 0))));
        assert_eq!(reply.lines, ["first", "second"]);
        assert!(reply.is_transient());

        let reply = one(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n");
        assert!(reply.is_intermediate());
        // An empty text, with or without the space, and a bare LF.
        assert_eq!(one(b"250\r\n").lines, [""]);
        assert_eq!(one(b"334 \n").lines, [""]);
        assert_eq!(one(b"250 2.0.0\r\n").enhanced, Some((2, 0, 0)));
        assert_eq!(one(b"250 2.0.0\r\n").lines, [""]);
        // A status of the wrong class, or malformed, stays text.
        assert_eq!(one(b"250 5.0.0 odd\r\n").enhanced, None);
        assert_eq!(one(b"250 5.0.0 odd\r\n").lines, ["5.0.0 odd"]);
        assert_eq!(one(b"250 2.0 odd\r\n").enhanced, None);
        assert_eq!(one(b"250 2.0.1234 odd\r\n").enhanced, None);
        assert_eq!(one(b"250 02.0.0 odd\r\n").enhanced, None);
        assert_eq!(one(b"250 2.0.0.0 odd\r\n").enhanced, None);
        assert_eq!(one(b"250 2.0.0x odd\r\n").enhanced, None);
        // Invalid UTF-8 is replaced, not refused.
        assert_eq!(one(b"250 caf\xe9\r\n").lines, ["caf\u{fffd}"]);
    }

    #[test]
    fn ehlo_capabilities() {
        let reply =
            one(b"250-mx.example.org Hello\r\n250-pipelining\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n250-SmtpUtf8\r\n\
              250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-AUTH PLAIN login\r\n\
              250-AUTH=CRAM-MD5 PLAIN\r\n250 X-UNKNOWN a b\r\n");
        let caps = Capabilities::from_ehlo(&reply);
        assert!(caps.pipelining && caps.size && caps.eight_bit_mime && caps.smtputf8);
        assert!(caps.enhanced_status_codes && caps.chunking && caps.starttls);
        assert_eq!(caps.max_size, Some(1_000_000));
        assert_eq!(caps.auth, ["PLAIN", "LOGIN", "CRAM-MD5"]);
        assert!(caps.has_auth("login") && caps.has("x-unknown") && !caps.has("DSN"));
        assert_eq!(caps.extensions.last().unwrap(), &("X-UNKNOWN".to_owned(), vec!["a".to_owned(), "b".to_owned()]));

        // The first line is the greeting, never a keyword; SIZE 0 is no limit.
        let caps = Capabilities::from_ehlo(&one(b"250-STARTTLS\r\n250 SIZE 0\r\n"));
        assert!(!caps.starttls && caps.size && caps.max_size.is_none());
        assert_eq!(Capabilities::from_ehlo(&one(b"250 mx\r\n")), Capabilities::default());
    }

    #[test]
    fn pipelined_replies_split_at_every_boundary() {
        let wire: &[u8] = b"250 2.1.0 Sender OK\r\n250-2.1.5 a\r\n250 2.1.5 b\r\n550 5.1.1 No\n354 Go ahead\r\n";
        let expected = parse_all(wire).unwrap();
        assert_eq!(expected.len(), 4);
        for cut in 0..=wire.len() {
            for cut2 in cut..=wire.len() {
                let mut parser = ReplyParser::new();
                let mut got = Vec::new();
                for chunk in [&wire[..cut], &wire[cut..cut2], &wire[cut2..]] {
                    let mut next = parser.feed(chunk).unwrap();
                    while let Some(reply) = next {
                        got.push(reply);
                        next = parser.next_reply().unwrap();
                    }
                }
                assert_eq!(got, expected, "cuts at {cut} and {cut2}");
                assert_eq!(parser.pending(), 0);
            }
        }
        // Byte by byte.
        let mut parser = ReplyParser::new();
        let mut got = Vec::new();
        for byte in wire {
            if let Some(reply) = parser.feed(std::slice::from_ref(byte)).unwrap() {
                got.push(reply);
            }
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn pending_counts_unread_bytes() {
        let mut parser = ReplyParser::new();
        assert!(parser.feed(b"220 go ahead\r\n250-inject").unwrap().is_some());
        assert!(parser.pending() > 0);
        assert_eq!(parser.next_reply().unwrap(), None);
        assert!(parser.pending() > 0);
    }

    #[test]
    fn limits() {
        let mut line = b"250 ".to_vec();
        line.resize(MAX_LINE, b'x');
        line.extend_from_slice(b"\r\n");
        assert_eq!(one(&line).lines[0].len(), MAX_LINE - 4);
        let mut long = b"250 ".to_vec();
        long.resize(MAX_LINE + 1, b'x');
        long.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&long), Err(ReplyError::LineTooLong));
        // Detected before the line end arrives.
        let mut parser = ReplyParser::new();
        assert_eq!(parser.feed(&[b'x'; MAX_LINE + 2]), Err(ReplyError::LineTooLong));
        // And the error sticks.
        assert_eq!(parser.feed(b"250 OK\r\n"), Err(ReplyError::LineTooLong));
        assert!(parser.has_failed());

        let mut many = b"250-x\r\n".repeat(MAX_LINES - 1);
        many.extend_from_slice(b"250 last\r\n");
        assert_eq!(one(&many).lines.len(), MAX_LINES);
        let mut too_many = b"250-x\r\n".repeat(MAX_LINES);
        too_many.extend_from_slice(b"250 last\r\n");
        assert_eq!(parse_all(&too_many), Err(ReplyError::TooManyLines));
    }

    #[test]
    fn malformed_input() {
        for bad in [
            &b"OK\r\n"[..],
            b"25\r\n",
            b"2500 x\r\n",
            b"25x OK\r\n",
            b"150 old\r\n",
            b"650 nope\r\n",
            b"\r\n",
            b" 250 x\r\n",
            b"250_x\r\n",
            b"250-a\r\n251 b\r\n",
            b"250-a\r\nxyz\r\n",
        ] {
            assert!(parse_all(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_all(b"250-a\r\n251 b\r\n"), Err(ReplyError::CodeMismatch { first: 250, then: 251 }));
        assert!(matches!(parse_all(b"HTTP/1.1 400\r\n"), Err(ReplyError::BadCode { .. })));
        // Incomplete input is not an error.
        assert_eq!(ReplyParser::new().feed(b"250-a\r\n250 b"), Ok(None));
    }

    fn text_line() -> impl Strategy<Value = String> {
        // Lines that cannot be read as an enhanced code: the encoder prints
        // CR and LF as spaces, so they are left out too.
        "([A-Za-z<>@. ,:;=()\\-\u{e9}\u{4e2d}][A-Za-z0-9<>@. ,:;=()\\-\u{e9}\u{4e2d}]{0,40})?"
    }

    proptest! {
        #[test]
        fn server_replies_parse_back(
            code in 200u16..600,
            with_enhanced in any::<bool>(),
            subject in 0u16..1000,
            detail in 0u16..1000,
            lines in prop::collection::vec(text_line(), 1..6),
            chunk in 1usize..20,
        ) {
            let class = (code / 100) as u8;
            let enhanced = (with_enhanced && class != 3).then_some((class, subject, detail));
            // Without an enhanced code the text must not look like one.
            let lines: Vec<String> = if enhanced.is_none() {
                lines.into_iter().map(|l| if l.starts_with(|c: char| c.is_ascii_digit()) { format!("x{l}") } else { l }).collect()
            } else {
                lines
            };
            let reply = Reply { code, enhanced, lines };
            let wire = reply.encode();
            let mut parser = ReplyParser::new();
            let mut got = None;
            for piece in wire.chunks(chunk) {
                prop_assert!(got.is_none());
                got = parser.feed(piece).unwrap();
            }
            let got = got.expect("a complete reply");
            prop_assert_eq!(got.code, reply.code);
            prop_assert_eq!(got.enhanced, reply.enhanced);
            prop_assert_eq!(got.lines, reply.lines);
            prop_assert_eq!(parser.pending(), 0);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600), chunk in 1usize..50) {
            let mut parser = ReplyParser::new();
            for piece in data.chunks(chunk) {
                parser.push(piece);
                while let Ok(Some(reply)) = parser.next_reply() {
                    prop_assert!((200..600).contains(&reply.code));
                    prop_assert!(!reply.lines.is_empty() && reply.lines.len() <= MAX_LINES);
                }
            }
        }
    }
}
