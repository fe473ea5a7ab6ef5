//! SMTP replies (RFC 5321 4.2) with enhanced status codes (RFC 2034, RFC 3463).
//!
//! A [`Reply`] is a three-digit code, an optional enhanced status code and one
//! or more lines of text. [`Reply::encode`] writes it as the wire form:
//!
//! ```text
//! 250-mail.example.org greets client.example.net
//! 250-PIPELINING
//! 250 SMTPUTF8
//! ```
//!
//! RFC 2034 3: when ENHANCEDSTATUSCODES is in effect, the text of every 2xx,
//! 4xx and 5xx reply other than the greeting and the replies to HELO/EHLO
//! starts with the enhanced code. That choice is made where a reply is built
//! (the constructors with an enhanced code, used by the session for
//! everything but the greeting, EHLO/HELO and 3xx replies), not in the
//! encoder, which prints what the reply holds on every line.

use std::fmt;

/// An SMTP reply.
///
/// ```
/// use axigen_protocols::smtp::Reply;
/// let reply = Reply::new(250, (2, 1, 0), "Sender OK");
/// assert_eq!(reply.encode(), b"250 2.1.0 Sender OK\r\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code, 200 to 599 (RFC 5321 4.2).
    pub code: u16,
    /// The enhanced status code `class.subject.detail` (RFC 3463), printed
    /// before the text of every line when present. Its class must agree with
    /// the code's first digit (RFC 2034 4).
    pub enhanced: Option<(u8, u16, u16)>,
    /// The text lines; the encoder prints at least one (possibly empty) line.
    /// CR and LF inside a line are printed as spaces.
    pub lines: Vec<String>,
}

impl Reply {
    /// A reply with an enhanced status code. `text` may hold several lines
    /// separated by `\n`.
    pub fn new(code: u16, enhanced: (u8, u16, u16), text: impl AsRef<str>) -> Reply {
        Reply { code, enhanced: Some(enhanced), lines: split_lines(text.as_ref()) }
    }

    /// A reply without an enhanced status code: the greeting, the replies to
    /// EHLO and HELO, and 3xx intermediate replies (RFC 2034 3). `text` may
    /// hold several lines separated by `\n`.
    pub fn plain(code: u16, text: impl AsRef<str>) -> Reply {
        Reply { code, enhanced: None, lines: split_lines(text.as_ref()) }
    }

    /// A multi-line reply without an enhanced code (the EHLO reply).
    pub fn multiline(code: u16, lines: Vec<String>) -> Reply {
        Reply { code, enhanced: None, lines }
    }

    /// `421 4.3.0`: the server gives up on the connection because of its own
    /// error (a driver fault, a backend that cannot answer).
    pub fn internal_error(hostname: &str) -> Reply {
        Reply::new(421, (4, 3, 0), format!("{hostname} local error, closing connection"))
    }

    /// Whether the code is 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// Whether the code is 4xx or 5xx.
    pub fn is_error(&self) -> bool {
        self.code >= 400
    }

    /// The text of all lines joined with a space (for logs).
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }

    /// The wire form: `CODE-text` lines followed by a `CODE text` line
    /// (RFC 5321 4.2.1), each ending with CRLF.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let code = self.code.min(999);
        let empty = [String::new()];
        let lines: &[String] = if self.lines.is_empty() { &empty } else { &self.lines };
        for (i, line) in lines.iter().enumerate() {
            let separator = if i + 1 == lines.len() { ' ' } else { '-' };
            out.extend_from_slice(format!("{code:03}{separator}").as_bytes());
            if let Some((class, subject, detail)) = self.enhanced {
                out.extend_from_slice(format!("{class}.{subject}.{detail}").as_bytes());
                if !line.is_empty() {
                    out.push(b' ');
                }
            }
            out.extend(line.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
            out.extend_from_slice(b"\r\n");
        }
    }

    /// Parses one complete reply in wire form (the client side, used by tests
    /// and tools). The enhanced code is recognised when every line starts
    /// with one whose class matches the reply code. Returns `None` when the
    /// bytes are not exactly one well-formed reply.
    pub fn decode(bytes: &[u8]) -> Option<Reply> {
        let text = std::str::from_utf8(bytes).ok()?;
        let body = text.strip_suffix("\r\n")?;
        let mut code = None;
        let mut raw_lines = Vec::new();
        let all: Vec<&str> = body.split("\r\n").collect();
        for (i, line) in all.iter().enumerate() {
            let digits = line.get(..3)?;
            if !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let this: u16 = digits.parse().ok()?;
            if *code.get_or_insert(this) != this {
                return None;
            }
            let last = i + 1 == all.len();
            let rest = &line[3..];
            let rest = match (rest.as_bytes().first(), last) {
                (None, true) => "",
                (Some(b' '), true) | (Some(b'-'), false) => &rest[1..],
                _ => return None,
            };
            raw_lines.push(rest);
        }
        let code = code?;
        let enhanced = raw_lines.iter().map(|l| parse_enhanced(l, code)).collect::<Option<Vec<_>>>();
        match enhanced {
            Some(codes) if !codes.is_empty() && codes.iter().all(|(c, _)| *c == codes[0].0) => Some(Reply {
                code,
                enhanced: Some(codes[0].0),
                lines: codes.into_iter().map(|(_, rest)| rest.to_owned()).collect(),
            }),
            _ => Some(Reply { code, enhanced: None, lines: raw_lines.into_iter().map(str::to_owned).collect() }),
        }
    }
}

impl fmt::Display for Reply {
    /// The reply as the client sees it, without the final CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let encoded = self.encode();
        let text = String::from_utf8_lossy(&encoded);
        f.write_str(text.trim_end_matches("\r\n"))
    }
}

fn split_lines(text: &str) -> Vec<String> {
    text.split('\n').map(|l| l.trim_end_matches('\r').to_owned()).collect()
}

/// `status-code = class "." subject "." detail` with `subject = 1*3digit`,
/// `detail = 1*3digit` (RFC 3463 2), followed by a space or the end.
fn parse_enhanced(line: &str, code: u16) -> Option<((u8, u16, u16), &str)> {
    let (status, rest) = match line.split_once(' ') {
        Some((status, rest)) => (status, rest),
        None => (line, ""),
    };
    let mut parts = status.split('.');
    let number = |part: Option<&str>| -> Option<u16> {
        let part = part?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let class = number(parts.next())?;
    let subject = number(parts.next())?;
    let detail = number(parts.next())?;
    if parts.next().is_some() || !matches!(class, 2 | 4 | 5) || class != code / 100 {
        return None;
    }
    Some(((class as u8, subject, detail), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_with_enhanced_code_both_ways() {
        let reply = Reply::new(550, (5, 1, 1), "No such user");
        let wire = b"550 5.1.1 No such user\r\n";
        assert_eq!(reply.encode(), wire);
        assert_eq!(Reply::decode(wire), Some(reply));
    }

    #[test]
    fn multiline_prefixes_every_line() {
        let reply = Reply::new(214, (2, 0, 0), "Commands:\nHELO EHLO");
        let wire = b"214-2.0.0 Commands:\r\n214 2.0.0 HELO EHLO\r\n";
        assert_eq!(reply.encode(), wire);
        assert_eq!(Reply::decode(wire), Some(reply));
    }

    #[test]
    fn plain_replies_both_ways() {
        let reply =
            Reply::multiline(250, vec!["mx.example.org greets you".into(), "PIPELINING".into(), "SIZE 10".into()]);
        let wire = b"250-mx.example.org greets you\r\n250-PIPELINING\r\n250 SIZE 10\r\n";
        assert_eq!(reply.encode(), wire);
        assert_eq!(Reply::decode(wire), Some(reply));
        let greeting = Reply::plain(220, "mx.example.org ESMTP");
        assert_eq!(Reply::decode(&greeting.encode()), Some(greeting));
    }

    #[test]
    fn empty_text_and_sasl_challenge() {
        assert_eq!(Reply::plain(334, "").encode(), b"334 \r\n");
        assert_eq!(Reply::plain(334, "VXNlcm5hbWU6").encode(), b"334 VXNlcm5hbWU6\r\n");
        assert_eq!(Reply { code: 250, enhanced: Some((2, 0, 0)), lines: vec![] }.encode(), b"250 2.0.0\r\n");
    }

    #[test]
    fn line_breaks_in_text_cannot_forge_replies() {
        let reply = Reply { code: 550, enhanced: None, lines: vec!["bad\r\n250 OK".into()] };
        assert_eq!(reply.encode(), b"550 bad  250 OK\r\n");
        // A backend text with a newline becomes two proper lines.
        assert_eq!(Reply::new(550, (5, 7, 1), "a\r\nb").encode(), b"550-5.7.1 a\r\n550 5.7.1 b\r\n");
    }

    #[test]
    fn decode_rejects_malformed_replies() {
        assert_eq!(Reply::decode(b"250 OK"), None);
        assert_eq!(Reply::decode(b"250-OK\r\n"), None);
        assert_eq!(Reply::decode(b"250 OK\r\n251 OK\r\n"), None);
        assert_eq!(Reply::decode(b"25x OK\r\n"), None);
        // A code-like prefix of the wrong class is text, not an enhanced code.
        assert_eq!(Reply::decode(b"250 5.0.0 odd\r\n").unwrap().enhanced, None);
    }
}
