//! Validated values of the IMAP grammar (RFC 3501 9, RFC 9051 9): each type
//! checks its value once, at construction, and cannot hold an invalid one.

use std::fmt;

use super::mutf7;

/// `ATOM-CHAR = <any CHAR except atom-specials>` (RFC 3501 9), where
/// `atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
/// quoted-specials / resp-specials`.
pub fn is_atom_char(b: u8) -> bool {
    matches!(b, 0x21..=0x7e) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR = ATOM-CHAR / resp-specials` (RFC 3501 9).
pub fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// `list-char = ATOM-CHAR / list-wildcards / resp-specials` (RFC 3501 9).
pub fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// `tag = 1*<any ASTRING-CHAR except "+">` (RFC 3501 9).
pub fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// Why a value was refused by a constructor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidValue {
    /// Not a valid tag.
    #[error("invalid tag")]
    Tag,
    /// Not a valid atom.
    #[error("invalid atom")]
    Atom,
    /// Not a valid flag.
    #[error("invalid flag")]
    Flag,
    /// Not a valid mailbox name.
    #[error("invalid mailbox name")]
    MailboxName,
    /// Not a valid date or time.
    #[error("invalid date")]
    Date,
    /// Not a valid sequence set.
    #[error("invalid sequence set")]
    SequenceSet,
}

/// A command tag: `1*<any ASTRING-CHAR except "+">` (RFC 3501 9). Never
/// empty, never `*` or `+`, no space or control character.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Checks `tag`.
    pub fn new(tag: impl Into<String>) -> Result<Tag, InvalidValue> {
        let tag = tag.into();
        if !tag.is_empty() && tag.bytes().all(is_tag_char) { Ok(Tag(tag)) } else { Err(InvalidValue::Tag) }
    }

    /// The tag as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An atom: `1*ATOM-CHAR` (RFC 3501 9), e.g. a keyword, a capability name,
/// a SASL mechanism. Case is kept as sent; compare with
/// [`Atom::eq_ignore_case`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Atom(String);

impl Atom {
    /// Checks `atom`.
    pub fn new(atom: impl Into<String>) -> Result<Atom, InvalidValue> {
        let atom = atom.into();
        if !atom.is_empty() && atom.bytes().all(is_atom_char) { Ok(Atom(atom)) } else { Err(InvalidValue::Atom) }
    }

    /// The atom as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Case-insensitive comparison (RFC 3501 9, note 1).
    pub fn eq_ignore_case(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message flag (RFC 3501 2.3.2, 9 `flag`).
///
/// System flags are matched case-insensitively and printed in their RFC
/// spelling. `\Recent` and any other `\atom` are [`Flag::Extension`]; the
/// `\*` of PERMANENTFLAGS is a response-only value ([`PermanentFlag`](super::response::PermanentFlag)).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted`.
    Deleted,
    /// `\Seen`.
    Seen,
    /// `\Draft`.
    Draft,
    /// `flag-keyword = atom`, e.g. `$Forwarded`, `$Junk`.
    Keyword(Atom),
    /// `flag-extension = "\" atom`, without the backslash, e.g. `Recent`.
    Extension(Atom),
}

impl Flag {
    /// Parses a flag as written on the wire (`\Seen`, `$Junk`).
    pub fn parse(s: &str) -> Result<Flag, InvalidValue> {
        match s.strip_prefix('\\') {
            Some(name) => {
                let atom = Atom::new(name).map_err(|_| InvalidValue::Flag)?;
                Ok(match name.to_ascii_lowercase().as_str() {
                    "answered" => Flag::Answered,
                    "flagged" => Flag::Flagged,
                    "deleted" => Flag::Deleted,
                    "seen" => Flag::Seen,
                    "draft" => Flag::Draft,
                    _ => Flag::Extension(atom),
                })
            }
            None => Atom::new(s).map(Flag::Keyword).map_err(|_| InvalidValue::Flag),
        }
    }

    /// Whether this is `\Recent` (RFC 3501 2.3.2), which a client may not
    /// set and RFC 9051 no longer has.
    pub fn is_recent(&self) -> bool {
        matches!(self, Flag::Extension(a) if a.eq_ignore_case("Recent"))
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Keyword(a) => f.write_str(a.as_str()),
            Flag::Extension(a) => write!(f, "\\{a}"),
        }
    }
}

/// A mailbox name, decoded to UTF-8 (RFC 3501 5.1, RFC 9051 5.1).
///
/// On the wire a name is modified UTF-7 (RFC 3501 5.1.3) unless the client
/// enabled UTF8=ACCEPT (RFC 6855 3), in which case it is UTF-8; this type
/// holds the decoded name either way. Any case variant of `INBOX` is stored
/// as `INBOX` (RFC 3501 5.1: "INBOX is case-insensitive"). Never empty, and
/// without control characters (RFC 9051 5.1 forbids them in names).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MailboxName(String);

impl MailboxName {
    /// The name `INBOX`.
    pub fn inbox() -> MailboxName {
        MailboxName("INBOX".to_owned())
    }

    /// Checks a decoded name.
    pub fn new(name: impl Into<String>) -> Result<MailboxName, InvalidValue> {
        let name = name.into();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(InvalidValue::MailboxName);
        }
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok(MailboxName::inbox());
        }
        Ok(MailboxName(name))
    }

    /// Decodes a name as sent by the client: UTF-8 when `utf8` (UTF8=ACCEPT
    /// enabled), modified UTF-7 otherwise.
    pub fn from_wire(bytes: &[u8], utf8: bool) -> Result<MailboxName, InvalidValue> {
        let decoded = if utf8 {
            std::str::from_utf8(bytes).map_err(|_| InvalidValue::MailboxName)?.to_owned()
        } else {
            mutf7::decode(bytes).map_err(|_| InvalidValue::MailboxName)?
        };
        MailboxName::new(decoded)
    }

    /// The name as sent to a client: modified UTF-7, or UTF-8 when `utf8`.
    pub fn to_wire(&self, utf8: bool) -> String {
        if utf8 { self.0.clone() } else { mutf7::encode(&self.0) }
    }

    /// Whether this is INBOX.
    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }

    /// The decoded name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Octets that must not be logged: passwords, SASL responses. `Debug`
/// prints only the length.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The secret octets.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} octets)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert!(Tag::new("A0001").is_ok());
        assert!(Tag::new("a]b").is_ok(), "resp-specials are ASTRING-CHAR");
        for bad in ["", "+", "a+b", "*", "a b", "a(", "a{", "a\"", "a\\", "a%", "\u{1}", "é"] {
            assert_eq!(Tag::new(bad), Err(InvalidValue::Tag), "{bad:?}");
        }
    }

    #[test]
    fn flags_both_ways() {
        for (wire, flag) in [
            ("\\Seen", Flag::Seen),
            ("\\Answered", Flag::Answered),
            ("\\Flagged", Flag::Flagged),
            ("\\Deleted", Flag::Deleted),
            ("\\Draft", Flag::Draft),
            ("$Forwarded", Flag::Keyword(Atom::new("$Forwarded").unwrap())),
            ("\\Recent", Flag::Extension(Atom::new("Recent").unwrap())),
        ] {
            assert_eq!(Flag::parse(wire), Ok(flag.clone()));
            assert_eq!(flag.to_string(), wire);
        }
        assert_eq!(Flag::parse("\\SEEN"), Ok(Flag::Seen));
        assert!(Flag::parse("\\Recent").unwrap().is_recent());
        assert!(Flag::parse("\\").is_err());
        assert!(Flag::parse("a b").is_err());
        assert!(Flag::parse("\\*").is_err(), "\\* is PERMANENTFLAGS only");
    }

    #[test]
    fn mailbox_names() {
        assert_eq!(MailboxName::new("inbox").unwrap().as_str(), "INBOX");
        assert_eq!(MailboxName::from_wire(b"InBoX", false).unwrap(), MailboxName::inbox());
        assert_eq!(MailboxName::from_wire(b"Entw&APw-rfe", false).unwrap().as_str(), "Entwürfe");
        assert_eq!(MailboxName::from_wire("Entwürfe".as_bytes(), true).unwrap().as_str(), "Entwürfe");
        assert_eq!(MailboxName::from_wire(b"Entw&APw-rfe", true).unwrap().as_str(), "Entw&APw-rfe");
        assert!(MailboxName::from_wire("Entwürfe".as_bytes(), false).is_err());
        assert!(MailboxName::from_wire(b"a&b", false).is_err());
        assert!(MailboxName::new("").is_err());
        assert!(MailboxName::new("a\nb").is_err());
        assert_eq!(MailboxName::new("Entwürfe").unwrap().to_wire(false), "Entw&APw-rfe");
        assert!(MailboxName::new("INBOX/Sub").unwrap().as_str() == "INBOX/Sub");
    }

    #[test]
    fn secrets_are_not_printed() {
        assert_eq!(format!("{:?}", Secret::new(*b"hunter2")), "Secret(7 octets)");
    }
}
