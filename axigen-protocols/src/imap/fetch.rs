//! FETCH and UID FETCH (RFC 9051 6.4.5, RFC 3501 6.4.5), with BINARY
//! (RFC 3516), MODSEQ and the CHANGEDSINCE/VANISHED modifiers (RFC 7162).

use std::num::{NonZeroU32, NonZeroU64};

use super::command::CommandWriter;
use super::extensions::condstore;
use super::parser::{PResult, Parser, syntax};
use super::sequence::SequenceSet;

/// FETCH / UID FETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchCommand {
    /// UID FETCH.
    pub uid: bool,
    /// The messages.
    pub set: SequenceSet,
    /// What to fetch.
    pub items: FetchItems,
    /// `CHANGEDSINCE n` (RFC 7162 3.1.4.1): only messages whose mod-sequence
    /// is greater; implies MODSEQ.
    pub changed_since: Option<NonZeroU64>,
    /// `VANISHED` (RFC 7162 3.2.6): also report expunged UIDs; only with UID
    /// FETCH and CHANGEDSINCE (checked here).
    pub vanished: bool,
}

/// The items of a FETCH: a macro or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItems {
    /// `ALL`: FLAGS INTERNALDATE RFC822.SIZE ENVELOPE.
    All,
    /// `FAST`: FLAGS INTERNALDATE RFC822.SIZE.
    Fast,
    /// `FULL`: FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY.
    Full,
    /// Explicit items (a single item without parentheses is a list of one).
    Attributes(Vec<FetchAttribute>),
}

impl FetchItems {
    /// The items with the macros expanded (RFC 9051 6.4.5).
    pub fn expand(&self) -> Vec<FetchAttribute> {
        use FetchAttribute::*;
        match self {
            FetchItems::All => vec![Flags, InternalDate, Rfc822Size, Envelope],
            FetchItems::Fast => vec![Flags, InternalDate, Rfc822Size],
            FetchItems::Full => vec![Flags, InternalDate, Rfc822Size, Envelope, Body],
            FetchItems::Attributes(a) => a.clone(),
        }
    }
}

/// `partial = "<" number64 "." nz-number64 ">"`: first octet and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partial {
    /// Offset of the first octet.
    pub offset: u64,
    /// Number of octets.
    pub length: NonZeroU64,
}

/// A section specification (RFC 9051 6.4.5 `BODY[<section>]`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Section {
    /// Part numbers, e.g. `[1, 2]` for `1.2`; empty for the whole message.
    pub part: Vec<NonZeroU32>,
    /// What of the part; `None` for the whole part.
    pub text: Option<SectionText>,
}

/// The text specifier of a section.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionText {
    /// `HEADER`.
    Header,
    /// `HEADER.FIELDS (names)`.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`.
    Text,
    /// `MIME`: only after part numbers.
    Mime,
}

/// One `fetch-att`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchAttribute {
    /// `ENVELOPE`.
    Envelope,
    /// `FLAGS`.
    Flags,
    /// `INTERNALDATE`.
    InternalDate,
    /// `RFC822` (= `BODY[]`).
    Rfc822,
    /// `RFC822.HEADER` (= `BODY.PEEK[HEADER]`).
    Rfc822Header,
    /// `RFC822.SIZE`.
    Rfc822Size,
    /// `RFC822.TEXT` (= `BODY[TEXT]`).
    Rfc822Text,
    /// `BODY`: the non-extensible structure.
    Body,
    /// `BODYSTRUCTURE`.
    BodyStructure,
    /// `UID`.
    Uid,
    /// `MODSEQ` (RFC 7162 3.1.4).
    ModSeq,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        /// `.PEEK`: do not set \Seen.
        peek: bool,
        /// The section.
        section: Section,
        /// `<offset.length>`.
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK[...]` (RFC 3516 4.2).
    Binary {
        /// `.PEEK`.
        peek: bool,
        /// Part numbers; empty for the whole message.
        part: Vec<NonZeroU32>,
        /// `<offset.length>`.
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]` (RFC 3516 4.2).
    BinarySize {
        /// Part numbers.
        part: Vec<NonZeroU32>,
    },
}

impl FetchCommand {
    /// ```abnf
    /// fetch           = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" /
    ///                   fetch-att / "(" fetch-att *(SP fetch-att) ")")
    ///                   [fetch-modifiers]                       ; RFC 4466 2.4
    /// ```
    /// Parses what follows the command name.
    pub(crate) fn parse(p: &mut Parser<'_>, uid: bool) -> PResult<FetchCommand> {
        p.sp()?;
        let set = p.sequence_set()?;
        p.sp()?;
        let items = if p.peek() == Some(b'(') {
            FetchItems::Attributes(p.list1(fetch_att)?)
        } else if p.keyword("ALL") {
            FetchItems::All
        } else if p.keyword("FAST") {
            FetchItems::Fast
        } else if p.keyword("FULL") {
            FetchItems::Full
        } else {
            FetchItems::Attributes(vec![fetch_att(p)?])
        };
        let (changed_since, vanished) = condstore::parse_fetch_modifiers(p)?;
        // RFC 7162 3.2.6: VANISHED only in UID FETCH, and only with CHANGEDSINCE.
        if vanished && (!uid || changed_since.is_none()) {
            return Err(syntax("VANISHED needs UID FETCH and CHANGEDSINCE (RFC 7162 3.2.6)"));
        }
        Ok(FetchCommand { uid, set, items, changed_since, vanished })
    }

    pub(crate) fn encode(&self, w: &mut CommandWriter) {
        w.raw(&format!(" {} ", self.set));
        match &self.items {
            FetchItems::All => w.raw("ALL"),
            FetchItems::Fast => w.raw("FAST"),
            FetchItems::Full => w.raw("FULL"),
            FetchItems::Attributes(atts) => {
                w.raw("(");
                for (i, att) in atts.iter().enumerate() {
                    if i > 0 {
                        w.sp();
                    }
                    encode_att(w, att);
                }
                w.raw(")");
            }
        }
        condstore::encode_fetch_modifiers(w, self.changed_since, self.vanished);
    }
}

/// ```abnf
/// fetch-att       = "ENVELOPE" / "FLAGS" / "INTERNALDATE" /
///                   "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
///                   "BODY" ["STRUCTURE"] / "UID" /
///                   "BODY" section [partial] /
///                   "BODY.PEEK" section [partial] /
///                   "BINARY" [".PEEK"] section-binary [partial] /  ; RFC 3516
///                   "BINARY.SIZE" section-binary /                 ; RFC 3516
///                   "MODSEQ"                                       ; RFC 7162
/// ```
pub(crate) fn fetch_att(p: &mut Parser<'_>) -> PResult<FetchAttribute> {
    let name = p.word().to_ascii_uppercase();
    Ok(match name.as_str() {
        "ENVELOPE" => FetchAttribute::Envelope,
        "FLAGS" => FetchAttribute::Flags,
        "INTERNALDATE" => FetchAttribute::InternalDate,
        "RFC822" => FetchAttribute::Rfc822,
        "RFC822.HEADER" => FetchAttribute::Rfc822Header,
        "RFC822.SIZE" => FetchAttribute::Rfc822Size,
        "RFC822.TEXT" => FetchAttribute::Rfc822Text,
        "BODYSTRUCTURE" => FetchAttribute::BodyStructure,
        "UID" => FetchAttribute::Uid,
        "MODSEQ" => FetchAttribute::ModSeq,
        "BODY" if p.peek() != Some(b'[') => FetchAttribute::Body,
        "BODY" | "BODY.PEEK" => {
            let section = section(p)?;
            FetchAttribute::BodySection { peek: name == "BODY.PEEK", section, partial: partial(p)? }
        }
        "BINARY" | "BINARY.PEEK" => {
            let part = section_binary(p)?;
            FetchAttribute::Binary { peek: name == "BINARY.PEEK", part, partial: partial(p)? }
        }
        "BINARY.SIZE" => FetchAttribute::BinarySize { part: section_binary(p)? },
        _ => return Err(syntax("unknown FETCH item")),
    })
}

/// ```abnf
/// section         = "[" [section-spec] "]"
/// section-spec    = section-msgtext / (section-part ["." section-text])
/// section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list /
///                   "TEXT"
/// section-part    = nz-number *("." nz-number)
/// section-text    = section-msgtext / "MIME"
/// ```
fn section(p: &mut Parser<'_>) -> PResult<Section> {
    p.expect(b'[', "expected '['")?;
    let mut section = Section::default();
    if p.eat(b']') {
        return Ok(section);
    }
    let mut text_follows = true;
    if p.peek().is_some_and(|b| b.is_ascii_digit()) {
        section.part = part_numbers(p)?;
        text_follows = p.eat(b'.');
    }
    if text_follows {
        let word = p.word().to_ascii_uppercase();
        section.text = Some(match word.as_str() {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" if !section.part.is_empty() => SectionText::Mime,
            "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
                p.sp()?;
                let names = p.list1(header_fld_name)?;
                if word == "HEADER.FIELDS" {
                    SectionText::HeaderFields(names)
                } else {
                    SectionText::HeaderFieldsNot(names)
                }
            }
            _ => return Err(syntax("invalid section")),
        });
    }
    p.expect(b']', "expected ']' closing the section")?;
    Ok(section)
}

/// A `section-spec` on its own (`1.HEADER`, `TEXT`; empty for the whole
/// message), as IMAP URLs carry it (RFC 5092 `enc-section`): `None` when it
/// is not one.
pub(crate) fn parse_section_spec(spec: &[u8]) -> Option<Section> {
    let mut input = Vec::with_capacity(spec.len() + 2);
    input.push(b'[');
    input.extend_from_slice(spec);
    input.push(b']');
    let mut p = Parser::new(&input, false);
    let parsed = section(&mut p).ok()?;
    p.peek().is_none().then_some(parsed)
}

fn part_numbers(p: &mut Parser<'_>) -> PResult<Vec<NonZeroU32>> {
    let mut part = vec![p.nz_number()?];
    while p.peek() == Some(b'.') && p.peek_at(1).is_some_and(|b| b.is_ascii_digit()) {
        p.eat(b'.');
        part.push(p.nz_number()?);
    }
    Ok(part)
}

/// ```abnf
/// header-fld-name = astring
/// ```
/// Checked against RFC 5322 `ftext` (printable ASCII except ":").
fn header_fld_name(p: &mut Parser<'_>) -> PResult<String> {
    let name = p.astring()?;
    if name.is_empty() || !name.iter().all(|&b| matches!(b, 33..=57 | 59..=126)) {
        return Err(syntax("invalid header field name"));
    }
    Ok(String::from_utf8_lossy(&name).into_owned())
}

/// ```abnf
/// section-binary  = "[" [section-part] "]"
/// ```
fn section_binary(p: &mut Parser<'_>) -> PResult<Vec<NonZeroU32>> {
    p.expect(b'[', "expected '['")?;
    let part = if p.peek() == Some(b']') { Vec::new() } else { part_numbers(p)? };
    p.expect(b']', "expected ']' closing the section")?;
    Ok(part)
}

/// ```abnf
/// partial         = "<" number64 "." nz-number64 ">"
/// ```
fn partial(p: &mut Parser<'_>) -> PResult<Option<Partial>> {
    if !p.eat(b'<') {
        return Ok(None);
    }
    let offset = p.number64()?;
    p.expect(b'.', "expected '.' in partial")?;
    let length = NonZeroU64::new(p.number64()?).ok_or(syntax("partial length must not be 0"))?;
    p.expect(b'>', "expected '>' closing partial")?;
    Ok(Some(Partial { offset, length }))
}

fn encode_part(w: &mut CommandWriter, part: &[NonZeroU32]) {
    let parts: Vec<String> = part.iter().map(|n| n.to_string()).collect();
    w.raw(&parts.join("."));
}

fn encode_partial(w: &mut CommandWriter, partial: &Option<Partial>) {
    if let Some(Partial { offset, length }) = partial {
        w.raw(&format!("<{offset}.{length}>"));
    }
}

pub(crate) fn encode_att(w: &mut CommandWriter, att: &FetchAttribute) {
    match att {
        FetchAttribute::Envelope => w.raw("ENVELOPE"),
        FetchAttribute::Flags => w.raw("FLAGS"),
        FetchAttribute::InternalDate => w.raw("INTERNALDATE"),
        FetchAttribute::Rfc822 => w.raw("RFC822"),
        FetchAttribute::Rfc822Header => w.raw("RFC822.HEADER"),
        FetchAttribute::Rfc822Size => w.raw("RFC822.SIZE"),
        FetchAttribute::Rfc822Text => w.raw("RFC822.TEXT"),
        FetchAttribute::Body => w.raw("BODY"),
        FetchAttribute::BodyStructure => w.raw("BODYSTRUCTURE"),
        FetchAttribute::Uid => w.raw("UID"),
        FetchAttribute::ModSeq => w.raw("MODSEQ"),
        FetchAttribute::BodySection { peek, section, partial } => {
            w.raw(if *peek { "BODY.PEEK[" } else { "BODY[" });
            encode_part(w, &section.part);
            if let Some(text) = &section.text {
                if !section.part.is_empty() {
                    w.raw(".");
                }
                let names = |w: &mut CommandWriter, kw: &str, names: &[String]| {
                    w.raw(kw);
                    w.raw(" (");
                    for (i, n) in names.iter().enumerate() {
                        if i > 0 {
                            w.sp();
                        }
                        w.astring(n.as_bytes());
                    }
                    w.raw(")");
                };
                match text {
                    SectionText::Header => w.raw("HEADER"),
                    SectionText::HeaderFields(n) => names(w, "HEADER.FIELDS", n),
                    SectionText::HeaderFieldsNot(n) => names(w, "HEADER.FIELDS.NOT", n),
                    SectionText::Text => w.raw("TEXT"),
                    SectionText::Mime => w.raw("MIME"),
                }
            }
            w.raw("]");
            encode_partial(w, partial);
        }
        FetchAttribute::Binary { peek, part, partial } => {
            w.raw(if *peek { "BINARY.PEEK[" } else { "BINARY[" });
            encode_part(w, part);
            w.raw("]");
            encode_partial(w, partial);
        }
        FetchAttribute::BinarySize { part } => {
            w.raw("BINARY.SIZE[");
            encode_part(w, part);
            w.raw("]");
        }
    }
}
