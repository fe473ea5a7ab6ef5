//! A message's structure as IMAP needs it: the `ENVELOPE` and extended
//! `BODYSTRUCTURE` (RFC 3501 7.4.2, RFC 9051 7.5.2) and the byte offsets that
//! `BODY[section]` fetches (RFC 3501 6.4.5) cut out of the stored content.
//! The store computes it once, when a message's content is first stored.
//!
//! ```
//! use axigen_core::structure::{parse_structure, SectionKind};
//!
//! let raw = b"From: Ann <ann@example.org>\r\nSubject: Hi\r\n\
//!             Content-Type: multipart/mixed; boundary=b\r\n\r\n\
//!             --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n";
//! let s = parse_structure(raw);
//! assert_eq!(s.envelope.subject.as_ref().unwrap(), "Hi");
//! assert_eq!(s.envelope.from[0].host.as_ref().unwrap(), "example.org");
//! assert_eq!(s.body.parts[0].media_subtype, "plain");
//! let text = s.section(raw, &[1], SectionKind::Full).unwrap();
//! assert_eq!(&raw[text], b"hello");
//! ```
//!
//! Implementation notes:
//!
//! - Header values are kept as written ([`HeaderText`]): unfolded (RFC 5322
//!   2.2.3) but not decoded. IMAP sends ENVELOPE and BODYSTRUCTURE strings as
//!   they appear in the message and leaves RFC 2047 encoded-words and RFC 2231
//!   parameter encoding to the client; bytes are kept because 8-bit headers
//!   (RFC 6532, or legacy charsets) need not be UTF-8.
//! - The MIME walk (`structure/mime.rs`) is our own, over the raw bytes, with
//!   RFC 2046 5.1.1 delimiter lines; mail-parser splits each header block into
//!   fields and parses `Content-Type` and `Content-Disposition`. mail-parser's
//!   whole-message parser is not used here: it decodes every body (wasted work
//!   for a structure), and on hostile input it can panic (a quoted-printable
//!   soft line break right before a boundary underflows in 0.11.9) or
//!   overflow the stack (deeply nested `message/rfc822`, dropped recursively).
//! - [`parse_structure`] never panics and always returns a structure that
//!   BODYSTRUCTURE can be written from: nesting is limited to [`MAX_DEPTH`]
//!   levels and [`MAX_PARTS`] parts (past them the rest of the message is the
//!   body of the part being read), a multipart without body parts is shown as
//!   `text/plain` covering its body, and a `message/rfc822` part that cannot
//!   be an embedded message (RFC 2046 5.2.1 forbids encoding it) as
//!   `application/octet-stream`.

mod address;
mod mime;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::ops::Range;

use serde::{Deserialize, Serialize};

/// Nesting limit for multiparts and embedded messages; deeper ones are leaves.
pub const MAX_DEPTH: usize = 64;
/// Limit on the number of parts of one message, embedded messages included.
pub const MAX_PARTS: usize = 10_000;

/// `ENVELOPE` host of an address written without a domain. NIL would make it
/// a group marker (RFC 3501 7.4.2), so a placeholder is used, as other
/// servers do.
pub const MISSING_HOST: &str = "MISSING_DOMAIN";
/// `ENVELOPE` mailbox of an address written without a local part.
pub const MISSING_MAILBOX: &str = "MISSING_MAILBOX";

/// Header text as written in the message, unfolded: bytes, usually ASCII,
/// possibly UTF-8 (RFC 6532) or a legacy 8-bit charset.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HeaderText(Vec<u8>);

impl HeaderText {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text, with invalid UTF-8 replaced (for logs and tests).
    pub fn to_str_lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the text equals `other`, ignoring ASCII case.
    pub fn eq_ignore_ascii_case(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other.as_bytes())
    }
}

impl std::fmt::Debug for HeaderText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_str_lossy())
    }
}

impl From<&[u8]> for HeaderText {
    fn from(b: &[u8]) -> Self {
        HeaderText(b.to_vec())
    }
}

impl From<Vec<u8>> for HeaderText {
    fn from(b: Vec<u8>) -> Self {
        HeaderText(b)
    }
}

impl From<&str> for HeaderText {
    fn from(s: &str) -> Self {
        HeaderText(s.as_bytes().to_vec())
    }
}

impl PartialEq<str> for HeaderText {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for HeaderText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl Serialize for HeaderText {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for HeaderText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = HeaderText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("header text bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<HeaderText, E> {
                Ok(HeaderText(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<HeaderText, E> {
                Ok(HeaderText(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HeaderText, E> {
                Ok(HeaderText(v.as_bytes().to_vec()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<HeaderText, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(HeaderText(v))
            }
        }
        d.deserialize_bytes(Bytes)
    }
}

/// One address of an `ENVELOPE` address list (RFC 3501 7.4.2). A group is
/// written as a start marker (`mailbox` = group name, `host` NIL), its
/// members, and an end marker (every field NIL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvelopeAddress {
    /// Display name (phrase, unquoted, encoded-words kept).
    pub name: Option<HeaderText>,
    /// Source route (obsolete `@a,@b` route of RFC 5322 4.4).
    pub adl: Option<HeaderText>,
    /// Local part, or the group name in a group start marker.
    pub mailbox: Option<HeaderText>,
    /// Domain; NIL only in group markers.
    pub host: Option<HeaderText>,
}

impl EnvelopeAddress {
    /// The marker that opens a group.
    pub fn group_start(name: HeaderText) -> Self {
        EnvelopeAddress { mailbox: Some(name), ..Default::default() }
    }

    /// The marker that closes a group.
    pub fn group_end() -> Self {
        EnvelopeAddress::default()
    }

    /// Whether this is a group marker rather than an address.
    pub fn is_group_marker(&self) -> bool {
        self.host.is_none()
    }
}

/// The `ENVELOPE` of a message (RFC 3501 7.4.2): header values as written,
/// unfolded. `None` is NIL (the header is absent); an empty list is NIL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// `Date`.
    pub date: Option<HeaderText>,
    /// `Subject`.
    pub subject: Option<HeaderText>,
    /// `From`.
    pub from: Vec<EnvelopeAddress>,
    /// `Sender`, or `From` when absent or empty (RFC 3501 7.4.2).
    pub sender: Vec<EnvelopeAddress>,
    /// `Reply-To`, or `From` when absent or empty (RFC 3501 7.4.2).
    pub reply_to: Vec<EnvelopeAddress>,
    /// `To`.
    pub to: Vec<EnvelopeAddress>,
    /// `Cc`.
    pub cc: Vec<EnvelopeAddress>,
    /// `Bcc`.
    pub bcc: Vec<EnvelopeAddress>,
    /// `In-Reply-To`.
    pub in_reply_to: Option<HeaderText>,
    /// `Message-ID`.
    pub message_id: Option<HeaderText>,
}

/// A MIME parameter (RFC 2045 5.1) as written: a quoted value is unquoted,
/// RFC 2231 pieces (`name*0*`) are kept as separate parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    /// Attribute name as written.
    pub name: String,
    /// Value.
    pub value: HeaderText,
}

/// `Content-Disposition` (RFC 2183).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentDisposition {
    /// Disposition type, lower-case (`inline`, `attachment`, ...).
    pub kind: String,
    /// Parameters (`filename`, ...).
    pub parameters: Vec<Parameter>,
}

/// One MIME entity: the message itself, a body part, or the body of an
/// embedded message. Holds what the extended `BODYSTRUCTURE` reports and where
/// the entity lies in the raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyPart {
    /// Media type, lower-case (`text`, `multipart`, ...).
    pub media_type: String,
    /// Media subtype, lower-case (`plain`, `mixed`, ...).
    pub media_subtype: String,
    /// `Content-Type` parameters. Without a `Content-Type` field this is
    /// `charset=us-ascii` (RFC 2045 5.2).
    pub parameters: Vec<Parameter>,
    /// `Content-ID`.
    pub id: Option<HeaderText>,
    /// `Content-Description`.
    pub description: Option<HeaderText>,
    /// `Content-Transfer-Encoding` as written; `7BIT` when absent.
    pub encoding: String,
    /// Size of the body in octets, in its transfer encoding.
    pub size: u64,
    /// Lines of the body, for `text/*` and embedded messages (0 otherwise).
    pub lines: u64,
    /// `Content-MD5`.
    pub md5: Option<HeaderText>,
    /// `Content-Disposition`.
    pub disposition: Option<ContentDisposition>,
    /// `Content-Language` tags.
    pub language: Vec<String>,
    /// `Content-Location`.
    pub location: Option<HeaderText>,
    /// Body parts of a multipart, in order (never empty for a multipart).
    pub parts: Vec<BodyPart>,
    /// The embedded message of a `message/rfc822` (or `message/global`) part.
    pub message: Option<Box<MessageStructure>>,
    /// Offset of the entity's header (its MIME header, or the message header).
    pub header_start: u64,
    /// Offset of the body: just after the blank line that ends the header.
    pub body_start: u64,
    /// Offset just past the body (before the CRLF that belongs to the next
    /// boundary delimiter, RFC 2046 5.1.1).
    pub end: u64,
}

impl BodyPart {
    /// Whether this is a multipart (and so has [`BodyPart::parts`]).
    pub fn is_multipart(&self) -> bool {
        self.media_type == "multipart"
    }

    /// The first `Content-Type` parameter of that name (ASCII case-insensitive).
    pub fn parameter(&self, name: &str) -> Option<&HeaderText> {
        self.parameters.iter().find(|p| p.name.eq_ignore_ascii_case(name)).map(|p| &p.value)
    }

    /// The header bytes (including the blank line that ends them).
    pub fn header_range(&self) -> Range<usize> {
        to_usize(self.header_start)..to_usize(self.body_start)
    }

    /// The body bytes.
    pub fn body_range(&self) -> Range<usize> {
        to_usize(self.body_start)..to_usize(self.end)
    }
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// The addresses of an address header's value (`From`, `To`, ...), as
/// [`Envelope`] lists them: comments dropped, groups as markers. SEARCH
/// and SORT use it where the raw text would mislead.
pub fn address_list(value: &[u8]) -> Vec<EnvelopeAddress> {
    address::address_list(value)
}

/// A message: its envelope and the structure of its body. `body` is the
/// message itself as a MIME entity: its header is the message header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageStructure {
    /// `ENVELOPE`.
    pub envelope: Envelope,
    /// `BODYSTRUCTURE`.
    pub body: BodyPart,
}

/// What part of an entity a `BODY[section]` fetch wants (RFC 3501 6.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// The section without a suffix: the whole message for an empty part
    /// path, otherwise the part's body (the whole embedded message for a
    /// `message/rfc822` part).
    Full,
    /// `HEADER` (and the base of `HEADER.FIELDS`): the header of the message,
    /// or of the embedded message of a `message/rfc822` part.
    Header,
    /// `TEXT`: the body of the message, or of the embedded message of a
    /// `message/rfc822` part.
    Text,
    /// `MIME`: the MIME header of a part; needs a part number.
    Mime,
}

impl MessageStructure {
    /// The part that a part number (`1.2.3` as `[1, 2, 3]`) names (RFC 3501
    /// 6.4.5): in a multipart, `n` is its n-th body part; a message whose body
    /// is not multipart has only part 1, its body; after a `message/rfc822`
    /// part, numbers go on in its embedded message. An empty path is the
    /// message itself.
    pub fn part(&self, path: &[u32]) -> Option<&BodyPart> {
        let mut part = &self.body;
        // `part` is the body of a message whose parts the next number counts.
        let mut message_body = true;
        for &n in path {
            if !message_body && let Some(embedded) = &part.message {
                part = &embedded.body;
                message_body = true;
            }
            let index = usize::try_from(n).ok()?.checked_sub(1)?;
            if part.is_multipart() {
                part = part.parts.get(index)?;
            } else if !(message_body && index == 0) {
                return None;
            }
            message_body = false;
        }
        Some(part)
    }

    /// The byte range of `raw` (the content this structure was computed
    /// from) that a `BODY[path.kind]` fetch returns, or `None` if the section
    /// does not exist: an unknown part, `MIME` without a part number, or
    /// `HEADER`/`TEXT` of a part that is not `message/rfc822`.
    pub fn section(&self, raw: &[u8], path: &[u32], kind: SectionKind) -> Option<Range<usize>> {
        let part = self.part(path)?;
        let range = match (kind, path.is_empty()) {
            (SectionKind::Full, true) => 0..raw.len(),
            (SectionKind::Full, false) => part.body_range(),
            (SectionKind::Header, true) => part.header_range(),
            (SectionKind::Text, true) => part.body_range(),
            (SectionKind::Header, false) => part.message.as_ref()?.body.header_range(),
            (SectionKind::Text, false) => part.message.as_ref()?.body.body_range(),
            (SectionKind::Mime, true) => return None,
            (SectionKind::Mime, false) => part.header_range(),
        };
        (range.start <= range.end && range.end <= raw.len()).then_some(range)
    }
}

/// Computes the structure of a raw RFC 5322 message. Never fails: broken MIME
/// gives the best structure that can be had (see the module notes), at worst
/// a single `text/plain` part covering the body.
pub fn parse_structure(raw: &[u8]) -> MessageStructure {
    // Our own code does not panic (checked slicing, bounded nesting); the
    // header parser is third-party code fed untrusted bytes, so contain it.
    std::panic::catch_unwind(|| mime::message(raw)).unwrap_or_else(|_| mime::fallback(raw))
}
