//! The MIME walk (RFC 2045, RFC 2046): entity boundaries over the raw bytes,
//! header fields through mail-parser.
//!
//! Implementation notes:
//!
//! - One pass over the message. Each entity is read from its header start
//!   until the first delimiter line of an enclosing multipart (or the end of
//!   the input); the CRLF before a delimiter belongs to the delimiter, not to
//!   the part before it (RFC 2046 5.1.1).
//! - A delimiter line is `--boundary` at the start of a line followed by
//!   nothing but transport padding, or by `--` for the close delimiter. Every
//!   enclosing boundary is recognised, innermost first, so an unclosed inner
//!   multipart ends where its parent's next delimiter is.
//! - Recursion depth is at most [`MAX_DEPTH`]; once [`MAX_PARTS`] parts are
//!   made, delimiters are no longer recognised and the part being read runs
//!   to the end of its enclosing entities.

use std::sync::LazyLock;

use mail_parser::{Header, HeaderName, MessageParser};

use super::address::address_list;
use super::{
    BodyPart, ContentDisposition, Envelope, EnvelopeAddress, HeaderText, MAX_DEPTH, MAX_PARTS, MessageStructure,
    Parameter,
};

/// mail-parser configured for what the structure needs: typed
/// `Content-Type`/`Content-Disposition`/`Content-Language`, every other field
/// only located (its raw value is read at the field's offsets).
static HEADER_PARSER: LazyLock<MessageParser> = LazyLock::new(|| {
    MessageParser::new()
        .header_content_type(HeaderName::ContentType)
        .header_content_type(HeaderName::ContentDisposition)
        .header_comma_separated(HeaderName::ContentLanguage)
        .default_header_ignore()
});

/// The structure of a whole message.
pub(super) fn message(raw: &[u8]) -> MessageStructure {
    let mut walk = Walk { raw, boundaries: Vec::new(), parts: 0 };
    walk.message(0, 0).0
}

/// The structure when nothing better can be had: the envelope-less message
/// as one `text/plain` part, the body after the first blank line.
pub(super) fn fallback(raw: &[u8]) -> MessageStructure {
    let walk = Walk { raw, boundaries: Vec::new(), parts: MAX_PARTS };
    let (body_start, _) = walk.header_end(0);
    let mut body = text_plain(0, body_start, raw.len());
    body.lines = count_lines(raw.get(body_start..).unwrap_or_default());
    MessageStructure { envelope: Envelope::default(), body }
}

/// A delimiter line found by a scan.
#[derive(Debug, Clone, Copy)]
struct Delimiter {
    /// Index of the boundary in [`Walk::boundaries`].
    level: usize,
    /// `--boundary--`.
    close: bool,
    /// Start of the line after the delimiter line.
    next: usize,
}

/// Where the content being read ends.
#[derive(Debug, Clone, Copy)]
struct Stop {
    /// End of the content (before the CRLF that precedes the delimiter).
    end: usize,
    /// The delimiter that ended it; `None` at the end of the input.
    delimiter: Option<Delimiter>,
}

struct Walk<'a> {
    raw: &'a [u8],
    /// Boundaries of the enclosing multiparts, innermost last.
    boundaries: Vec<Vec<u8>>,
    /// Entities made so far.
    parts: usize,
}

/// How an entity's `Content-Type` says to read it.
enum Shape {
    Multipart { boundary: Vec<u8> },
    Message,
    Leaf,
}

impl<'a> Walk<'a> {
    fn splitting(&self) -> bool {
        self.parts < MAX_PARTS
    }

    /// The line starting at `at`: (end of its content without CR LF, start of the next line).
    fn line(&self, at: usize) -> (usize, usize) {
        let rest = self.raw.get(at..).unwrap_or_default();
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let lf = at + i;
                let end = if lf > at && self.raw[lf - 1] == b'\r' { lf - 1 } else { lf };
                (end, lf + 1)
            }
            None => (self.raw.len(), self.raw.len()),
        }
    }

    /// Whether `line` is a delimiter line of an enclosing boundary.
    fn delimiter(&self, line: &[u8]) -> Option<(usize, bool)> {
        let after_dashes = line.strip_prefix(b"--")?;
        for (level, boundary) in self.boundaries.iter().enumerate().rev() {
            let Some(rest) = after_dashes.strip_prefix(boundary.as_slice()) else { continue };
            if rest.starts_with(b"--") {
                return Some((level, true));
            }
            if rest.iter().all(|&b| b == b' ' || b == b'\t' || b == b'\r') {
                return Some((level, false));
            }
        }
        None
    }

    /// The stop for a delimiter line that starts at `line` when the content
    /// being read started at `from`.
    fn stop_at(&self, from: usize, line: usize, level: usize, close: bool, next: usize) -> Stop {
        // The line break before the delimiter belongs to the delimiter.
        let mut end = line;
        if end > from && self.raw[end - 1] == b'\n' {
            end -= 1;
            if end > from && self.raw[end - 1] == b'\r' {
                end -= 1;
            }
        }
        Stop { end, delimiter: Some(Delimiter { level, close, next }) }
    }

    /// Reads lines from `from` (a line start) to the next delimiter line.
    fn scan(&self, from: usize) -> Stop {
        let mut at = from;
        while at < self.raw.len() {
            let (content_end, next) = self.line(at);
            if self.splitting()
                && self.raw.get(at) == Some(&b'-')
                && let Some((level, close)) = self.delimiter(&self.raw[at..content_end])
            {
                return self.stop_at(from, at, level, close, next);
            }
            at = next;
        }
        Stop { end: self.raw.len(), delimiter: None }
    }

    /// Finds the end of the header block that starts at `from`: the start of
    /// the body (after the blank line), or, when a delimiter line comes
    /// first, where the entity stops.
    fn header_end(&self, from: usize) -> (usize, Option<Stop>) {
        let mut at = from;
        while at < self.raw.len() {
            let (content_end, next) = self.line(at);
            if content_end == at {
                return (next, None);
            }
            if self.splitting()
                && self.raw[at] == b'-'
                && let Some((level, close)) = self.delimiter(&self.raw[at..content_end])
            {
                let stop = self.stop_at(from, at, level, close, next);
                return (stop.end, Some(stop));
            }
            at = next;
        }
        (self.raw.len(), None)
    }

    /// An embedded message (or the whole message) whose header starts at `start`.
    fn message(&mut self, start: usize, depth: usize) -> (MessageStructure, Stop) {
        let (body, stop, fields) = self.entity(start, depth, false);
        (MessageStructure { envelope: fields.envelope(), body }, stop)
    }

    /// One entity whose header starts at `start`; returns it, where it
    /// stopped, and its header fields.
    fn entity(&mut self, start: usize, depth: usize, in_digest: bool) -> (BodyPart, Stop, Fields<'a>) {
        self.parts += 1;
        let (body_start, early_stop) = self.header_end(start);
        let fields = Fields::parse(self.raw, start, body_start);
        let mut part = fields.body_part(start, body_start, in_digest);
        let shape = if early_stop.is_some() || depth >= MAX_DEPTH || !self.splitting() {
            Shape::Leaf
        } else {
            fields.shape(&part)
        };
        let stop = match (shape, early_stop) {
            (_, Some(stop)) => stop,
            (Shape::Leaf, None) => self.scan(body_start),
            (Shape::Multipart { boundary }, None) => {
                self.boundaries.push(boundary);
                let level = self.boundaries.len() - 1;
                let is_digest = part.media_subtype == "digest";
                // The preamble runs to the first delimiter.
                let mut stop = self.scan(body_start);
                let stop = loop {
                    match stop.delimiter {
                        Some(d) if d.level == level && !d.close => {
                            let (child, child_stop, _) = self.entity(d.next, depth + 1, is_digest);
                            part.parts.push(child);
                            stop = child_stop;
                        }
                        Some(d) if d.level == level => {
                            // Closed: the epilogue runs to the parent's next delimiter.
                            self.boundaries.truncate(level);
                            break self.scan(d.next);
                        }
                        // Not closed: ended by an enclosing delimiter or the input's end.
                        _ => break stop,
                    }
                };
                self.boundaries.truncate(level);
                stop
            }
            (Shape::Message, None) => {
                let (embedded, stop) = self.message(body_start, depth + 1);
                part.message = Some(Box::new(embedded));
                stop
            }
        };
        part.end = stop.end.max(body_start) as u64;
        if part.is_multipart() && part.parts.is_empty() {
            // No body part found (no or wrong boundary): its body as text.
            let text = text_plain(start, body_start, stop.end);
            (part.media_type, part.media_subtype, part.parameters) =
                (text.media_type, text.media_subtype, text.parameters);
        }
        if part.media_type == "message" && part.message.is_none() && is_embedded_type(&part.media_subtype) {
            // Could not be read as a message (encoded, or past the limits).
            part.media_type = "application".into();
            part.media_subtype = "octet-stream".into();
        }
        let body = self.raw.get(body_start..part.end as usize).unwrap_or_default();
        part.size = body.len() as u64;
        if part.media_type == "text" || part.message.is_some() {
            part.lines = count_lines(body);
        }
        (part, stop, fields)
    }
}

fn is_embedded_type(subtype: &str) -> bool {
    // RFC 9051 7.5.2 reports message/global like message/rfc822.
    subtype == "rfc822" || subtype == "global"
}

fn text_plain(start: usize, body_start: usize, end: usize) -> BodyPart {
    BodyPart {
        media_type: "text".into(),
        media_subtype: "plain".into(),
        parameters: vec![Parameter { name: "charset".into(), value: "us-ascii".into() }],
        id: None,
        description: None,
        encoding: "7BIT".into(),
        size: end.saturating_sub(body_start) as u64,
        lines: 0,
        md5: None,
        disposition: None,
        language: Vec::new(),
        location: None,
        parts: Vec::new(),
        message: None,
        header_start: start as u64,
        body_start: body_start as u64,
        end: end.max(body_start) as u64,
    }
}

/// Text lines: line breaks, plus a last line without one.
fn count_lines(body: &[u8]) -> u64 {
    let breaks = body.iter().filter(|&&b| b == b'\n').count() as u64;
    breaks + u64::from(body.last().is_some_and(|&b| b != b'\n'))
}

/// The header fields of one entity.
struct Fields<'a> {
    raw: &'a [u8],
    headers: Vec<Header<'a>>,
    /// Offset of the header block in `raw` (mail-parser's offsets are relative to it).
    base: usize,
}

impl<'a> Fields<'a> {
    fn parse(raw: &'a [u8], start: usize, end: usize) -> Self {
        let block = raw.get(start..end).unwrap_or_default();
        let headers = HEADER_PARSER
            .parse_headers(block)
            .and_then(|m| m.parts.into_iter().next())
            .map(|p| p.headers)
            .unwrap_or_default();
        Fields { raw, headers, base: start }
    }

    fn first(&self, name: HeaderName<'_>) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.name == name)
    }

    /// The value of the first such field as written (folded, untrimmed).
    fn raw_value(&self, name: HeaderName<'_>) -> Option<&'a [u8]> {
        let h = self.first(name)?;
        let (start, end) = (self.base + h.offset_start as usize, self.base + h.offset_end as usize);
        self.raw.get(start..end)
    }

    /// The value of the first such field, unfolded and trimmed.
    fn text(&self, name: HeaderName<'_>) -> Option<HeaderText> {
        self.raw_value(name).map(|v| HeaderText(unfold(v)))
    }

    fn addresses(&self, name: HeaderName<'_>) -> Vec<EnvelopeAddress> {
        self.raw_value(name).map(|v| address_list(&unfold(v))).unwrap_or_default()
    }

    fn envelope(&self) -> Envelope {
        let from = self.addresses(HeaderName::From);
        let or_from = |list: Vec<EnvelopeAddress>| if list.is_empty() { from.clone() } else { list };
        Envelope {
            date: self.text(HeaderName::Date),
            subject: self.text(HeaderName::Subject),
            sender: or_from(self.addresses(HeaderName::Sender)),
            reply_to: or_from(self.addresses(HeaderName::ReplyTo)),
            to: self.addresses(HeaderName::To),
            cc: self.addresses(HeaderName::Cc),
            bcc: self.addresses(HeaderName::Bcc),
            in_reply_to: self.text(HeaderName::InReplyTo),
            message_id: self.text(HeaderName::MessageId),
            from,
        }
    }

    /// Everything but the children and the end.
    fn body_part(&self, start: usize, body_start: usize, in_digest: bool) -> BodyPart {
        let content_type = self.first(HeaderName::ContentType).and_then(|h| h.value.as_content_type());
        let declared = content_type.and_then(|ct| {
            let media_type = ct.ctype().to_ascii_lowercase();
            let subtype = match ct.subtype() {
                Some(s) => s.to_ascii_lowercase(),
                // RFC 2046 5.1.3: an unknown multipart subtype is treated as mixed.
                None if media_type == "multipart" => "mixed".into(),
                None => return None,
            };
            (!media_type.is_empty()).then_some((media_type, subtype))
        });
        let mut part = text_plain(start, body_start, body_start);
        match declared {
            Some((media_type, media_subtype)) => {
                part.media_type = media_type;
                part.media_subtype = media_subtype;
                part.parameters = self.raw_value(HeaderName::ContentType).map(parameters).unwrap_or_default();
            }
            // RFC 2046 5.1.5: in a digest, the default is message/rfc822.
            None if in_digest && self.first(HeaderName::ContentType).is_none() => {
                part.media_type = "message".into();
                part.media_subtype = "rfc822".into();
                part.parameters.clear();
            }
            // RFC 2045 5.2: absent or invalid, text/plain; charset=us-ascii.
            None => {}
        }
        part.id = self.text(HeaderName::ContentId);
        part.description = self.text(HeaderName::ContentDescription);
        if let Some(encoding) = self.text(HeaderName::ContentTransferEncoding).filter(|e| !e.is_empty()) {
            part.encoding = encoding.to_str_lossy().into_owned();
        }
        part.md5 = self.text(HeaderName::ContentMd5);
        part.disposition = self.first(HeaderName::ContentDisposition).and_then(|h| {
            let kind = h.value.as_content_type()?.ctype().to_ascii_lowercase();
            let parameters = self.raw_value(HeaderName::ContentDisposition).map(parameters).unwrap_or_default();
            (!kind.is_empty()).then_some(ContentDisposition { kind, parameters })
        });
        part.language = self
            .first(HeaderName::ContentLanguage)
            .and_then(|h| h.value.as_text_list())
            .map(|tags| tags.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect())
            .unwrap_or_default();
        part.location = self.text(HeaderName::ContentLocation);
        part
    }

    fn shape(&self, part: &BodyPart) -> Shape {
        if part.is_multipart() {
            // The boundary as mail-parser reads it (quoting, RFC 2231 pieces).
            let boundary = self
                .first(HeaderName::ContentType)
                .and_then(|h| h.value.as_content_type())
                .and_then(|ct| ct.attribute("boundary"))
                .filter(|b| !b.is_empty());
            return match boundary {
                Some(b) => Shape::Multipart { boundary: b.as_bytes().to_vec() },
                None => Shape::Leaf,
            };
        }
        // RFC 2046 5.2.1: message/rfc822 is only 7bit, 8bit or binary.
        let identity = ["7bit", "8bit", "binary"].iter().any(|e| e.eq_ignore_ascii_case(&part.encoding));
        if part.media_type == "message" && is_embedded_type(&part.media_subtype) && identity {
            Shape::Message
        } else {
            Shape::Leaf
        }
    }
}

/// Unfolds a header value (RFC 5322 2.2.3) and trims surrounding white space.
fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = value.iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect();
    let end = out.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(0, |i| i + 1);
    out.truncate(end);
    let start = out.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(out.len());
    out.drain(..start);
    out
}

/// The parameters of a `Content-Type` or `Content-Disposition` value
/// (RFC 2045 5.1, RFC 2183 2), as written. Lenient: a parameter without `=`
/// is skipped, an unquoted value runs to the next `;` (or comment).
fn parameters(value: &[u8]) -> Vec<Parameter> {
    let v = unfold(value);
    let mut out = Vec::new();
    let mut at = skip_to_semicolon(&v, 0);
    while at < v.len() {
        at = skip_cfws(&v, at + 1);
        let name_start = at;
        while at < v.len() && !matches!(v[at], b'=' | b';' | b' ' | b'\t' | b'(' | b'"') {
            at += 1;
        }
        let name = String::from_utf8_lossy(&v[name_start..at]).into_owned();
        at = skip_cfws(&v, at);
        if name.is_empty() || v.get(at) != Some(&b'=') {
            at = skip_to_semicolon(&v, at);
            continue;
        }
        at = skip_cfws(&v, at + 1);
        let value = if v.get(at) == Some(&b'"') {
            let (text, next) = quoted_string(&v, at);
            at = next;
            text
        } else {
            let start = at;
            while at < v.len() && !matches!(v[at], b';' | b'(') {
                at += 1;
            }
            let end = v[start..at].iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |i| start + i + 1);
            v[start..end].to_vec()
        };
        out.push(Parameter { name, value: HeaderText(value) });
        at = skip_to_semicolon(&v, at);
    }
    out
}

/// The position of the next `;` outside quoted strings and comments (or the end).
fn skip_to_semicolon(v: &[u8], mut at: usize) -> usize {
    while at < v.len() {
        match v[at] {
            b';' => return at,
            b'"' => at = quoted_string(v, at).1,
            b'(' => at = comment(v, at).1,
            _ => at += 1,
        }
    }
    at
}

/// Skips white space and comments.
pub(super) fn skip_cfws(v: &[u8], mut at: usize) -> usize {
    while at < v.len() {
        match v[at] {
            b' ' | b'\t' => at += 1,
            b'(' => at = comment(v, at).1,
            _ => break,
        }
    }
    at
}

/// The quoted string starting at `at` (a `"`): its content with quoting
/// removed, and the position after it. An unterminated one runs to the end.
pub(super) fn quoted_string(v: &[u8], at: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut i = at + 1;
    while i < v.len() {
        match v[i] {
            b'"' => return (out, i + 1),
            b'\\' if i + 1 < v.len() => {
                out.push(v[i + 1]);
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    (out, v.len())
}

/// The comment starting at `at` (a `(`, comments nest): its content as
/// written, and the position after it.
pub(super) fn comment(v: &[u8], at: usize) -> (&[u8], usize) {
    let mut depth = 0usize;
    let mut i = at;
    while i < v.len() {
        match v[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return (&v[at + 1..i], i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    (v.get(at + 1..).unwrap_or_default(), v.len())
}
