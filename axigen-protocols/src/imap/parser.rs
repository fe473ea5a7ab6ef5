//! The byte-level reader under every command parser: a cursor over one
//! complete command (its literals inline, as framed by
//! [`CommandReader`](super::CommandReader)) with the lexical rules of
//! RFC 3501 4 and 9 / RFC 9051 4 and 9.
//!
//! Each method parses one grammar rule, quoted above it, starting exactly at
//! the cursor; separators (`SP`) are consumed by the caller unless noted.

use std::borrow::Cow;

use super::datetime::{Date, DateTime};
use super::error::ErrorKind;
use super::sequence::SequenceSet;
use super::types::{Flag, MailboxName, is_astring_char, is_atom_char, is_list_char};

/// Result of a grammar rule.
pub(crate) type PResult<T> = Result<T, ErrorKind>;

/// A syntax error with a fixed message.
pub(crate) fn syntax(msg: &'static str) -> ErrorKind {
    ErrorKind::Syntax(Cow::Borrowed(msg))
}

/// Deepest nesting of parentheses and NOT/OR accepted (SEARCH, BODY
/// extensions): a bound on recursion for untrusted input.
pub(crate) const MAX_DEPTH: usize = 64;

/// The cursor.
pub(crate) struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// UTF8=ACCEPT is enabled (RFC 6855 3): mailbox names are UTF-8.
    pub utf8: bool,
    depth: usize,
}

impl<'a> Parser<'a> {
    pub fn new(input: &'a [u8], utf8: bool) -> Parser<'a> {
        Parser { input, pos: 0, utf8, depth: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    pub fn peek_at(&self, offset: usize) -> Option<u8> {
        self.input.get(self.pos + offset).copied()
    }

    /// Consumes `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, b: u8, msg: &'static str) -> PResult<()> {
        if self.eat(b) { Ok(()) } else { Err(syntax(msg)) }
    }

    /// `SP`: exactly one space (RFC 3501 9, note 2).
    pub fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "expected a space")
    }

    /// Whether the cursor is at the line ending that closes the command.
    pub fn at_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r') | Some(b'\n'))
    }

    /// `CRLF` closing the command, then the end of the input. Leniencies:
    /// trailing spaces before it, a bare LF, no line ending at all.
    pub fn end(&mut self) -> PResult<()> {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
        let rest = &self.input[self.pos..];
        if matches!(rest, b"" | b"\r\n" | b"\n") {
            self.pos = self.input.len();
            Ok(())
        } else {
            Err(syntax("unexpected characters at the end of the command"))
        }
    }

    /// Enters a nested rule; refuses nesting beyond [`MAX_DEPTH`].
    pub fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(ErrorKind::TooDeep) } else { Ok(()) }
    }

    pub fn leave(&mut self) {
        self.depth -= 1;
    }

    pub fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// ```abnf
    /// atom            = 1*ATOM-CHAR
    /// ```
    pub fn atom(&mut self) -> PResult<&'a str> {
        let bytes = self.take_while(is_atom_char);
        if bytes.is_empty() {
            return Err(syntax("expected an atom"));
        }
        // ATOM-CHAR is 7-bit.
        std::str::from_utf8(bytes).map_err(|_| syntax("expected an atom"))
    }

    /// A run of letters, digits, `.` and `-`: the names of fetch items and
    /// section parts (`BODY.PEEK`, `RFC822.SIZE`, `HEADER.FIELDS.NOT`),
    /// which stop before `[` where an atom would not.
    pub fn word(&mut self) -> &'a str {
        let bytes = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    /// Consumes the keyword `kw` (case-insensitive, RFC 3501 9 note 1) if
    /// it is next and not followed by another ATOM-CHAR.
    pub fn keyword(&mut self, kw: &str) -> bool {
        let end = self.pos + kw.len();
        if end <= self.input.len()
            && self.input[self.pos..end].eq_ignore_ascii_case(kw.as_bytes())
            && !self.input.get(end).copied().is_some_and(is_atom_char)
        {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn digits(&mut self) -> PResult<&'a str> {
        let bytes = self.take_while(|b| b.is_ascii_digit());
        if bytes.is_empty() {
            return Err(syntax("expected a number"));
        }
        std::str::from_utf8(bytes).map_err(|_| syntax("expected a number"))
    }

    /// ```abnf
    /// number          = 1*DIGIT
    ///                     ; Unsigned 32-bit integer
    /// ```
    pub fn number(&mut self) -> PResult<u32> {
        self.digits()?.parse().map_err(|_| syntax("number out of range"))
    }

    /// ```abnf
    /// nz-number       = digit-nz *DIGIT
    /// ```
    pub fn nz_number(&mut self) -> PResult<std::num::NonZeroU32> {
        let n = self.number()?;
        std::num::NonZeroU32::new(n).ok_or_else(|| syntax("zero where a non-zero number is required"))
    }

    /// ```abnf
    /// number64        = 1*DIGIT
    ///                     ; Unsigned 63-bit integer
    ///                     ; (0 <= n <= 9,223,372,036,854,775,807)
    /// ```
    /// (RFC 9051 9; also `mod-sequence-valzer` of RFC 7162 7.)
    pub fn number64(&mut self) -> PResult<u64> {
        let n: u64 = self.digits()?.parse().map_err(|_| syntax("number out of range"))?;
        if n > i64::MAX as u64 { Err(syntax("number out of range")) } else { Ok(n) }
    }

    /// ```abnf
    /// mod-sequence-value  = 1*DIGIT
    ///                       ;; Positive unsigned 63-bit integer
    ///                       ;; (mod-sequence)
    ///                       ;; (1 <= n <= 9,223,372,036,854,775,807).
    /// ```
    /// (RFC 7162 7.)
    pub fn mod_sequence_value(&mut self) -> PResult<std::num::NonZeroU64> {
        std::num::NonZeroU64::new(self.number64()?).ok_or_else(|| syntax("mod-sequence must not be 0"))
    }

    /// ```abnf
    /// quoted          = DQUOTE *QUOTED-CHAR DQUOTE
    /// QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> /
    ///                   "\" quoted-specials / UTF8-2 / UTF8-3 / UTF8-4
    /// ```
    /// (RFC 9051 9; RFC 3501 has no UTF8-n here, accepted as a leniency.)
    /// Returns the unescaped octets.
    pub fn quoted(&mut self) -> PResult<Cow<'a, [u8]>> {
        self.expect(b'"', "expected a quoted string")?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') | Some(0) => return Err(syntax("unterminated quoted string")),
                Some(b'"') => break,
                Some(b'\\') => {
                    if !matches!(self.peek_at(1), Some(b'"') | Some(b'\\')) {
                        return Err(syntax("invalid escape in quoted string"));
                    }
                    escaped = true;
                    self.pos += 2;
                }
                Some(_) => self.pos += 1,
            }
        }
        let raw = &self.input[start..self.pos];
        self.pos += 1;
        if !raw.is_ascii() && std::str::from_utf8(raw).is_err() {
            return Err(syntax("8-bit quoted string is not UTF-8"));
        }
        if !escaped {
            return Ok(Cow::Borrowed(raw));
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if raw[i] == b'\\' {
                i += 1;
            }
            out.push(raw[i]);
            i += 1;
        }
        Ok(Cow::Owned(out))
    }

    /// ```abnf
    /// literal         = "{" number64 ["+"] "}" CRLF *CHAR8
    ///                     ; <number64> represents the number of CHAR8s.
    ///                     ; A non-synchronizing literal is distinguished
    ///                     ; from a synchronizing literal by the presence of
    ///                     ; "+" before the closing "}".
    /// literal8        = "~{" number64 ["+"] "}" CRLF *OCTET
    /// ```
    /// (RFC 9051 9, RFC 7888 8, RFC 3516 4.) `literal8` only where
    /// `binary_ok` (APPEND); a plain literal may not hold NUL (`CHAR8`).
    /// Returns the octets and whether it was a `literal8`.
    pub fn literal(&mut self, binary_ok: bool) -> PResult<(&'a [u8], bool)> {
        let binary = self.eat(b'~');
        if binary && !binary_ok {
            return Err(syntax("literal8 is allowed only for message data"));
        }
        self.expect(b'{', "expected a literal")?;
        let len = self.number64()?;
        self.eat(b'+');
        self.expect(b'}', "expected '}' closing the literal length")?;
        self.eat(b'\r');
        self.expect(b'\n', "expected CRLF after the literal length")?;
        let len = usize::try_from(len).map_err(|_| syntax("literal too long"))?;
        let end = self.pos.checked_add(len).filter(|&e| e <= self.input.len()).ok_or(syntax("truncated literal"))?;
        let data = &self.input[self.pos..end];
        self.pos = end;
        if !binary && data.contains(&0) {
            return Err(syntax("NUL in a literal (use literal8)"));
        }
        Ok((data, binary))
    }

    /// ```abnf
    /// string          = quoted / literal
    /// ```
    pub fn string(&mut self) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(Cow::Borrowed(self.literal(false)?.0)),
            _ => Err(syntax("expected a string")),
        }
    }

    /// ```abnf
    /// astring         = 1*ASTRING-CHAR / string
    /// ```
    pub fn astring(&mut self) -> PResult<Cow<'a, [u8]>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let bytes = self.take_while(is_astring_char);
                if bytes.is_empty() { Err(syntax("expected an astring")) } else { Ok(Cow::Borrowed(bytes)) }
            }
        }
    }

    /// An astring that must be UTF-8 text.
    pub fn astring_utf8(&mut self) -> PResult<String> {
        let bytes = self.astring()?;
        String::from_utf8(bytes.into_owned()).map_err(|_| syntax("expected UTF-8 text"))
    }

    /// ```abnf
    /// nstring         = string / nil
    /// nil             = "NIL"
    /// ```
    pub fn nstring(&mut self) -> PResult<Option<Cow<'a, [u8]>>> {
        if self.keyword("NIL") { Ok(None) } else { self.string().map(Some) }
    }

    /// ```abnf
    /// mailbox         = "INBOX" / astring
    ///                     ; INBOX is case-insensitive.
    /// ```
    /// Decoded from modified UTF-7 (RFC 3501 5.1.3), or taken as UTF-8 when
    /// UTF8=ACCEPT is enabled (RFC 6855 3).
    pub fn mailbox(&mut self) -> PResult<MailboxName> {
        let raw = self.astring()?;
        MailboxName::from_wire(&raw, self.utf8).map_err(|_| {
            if self.utf8 && std::str::from_utf8(&raw).is_err() {
                // Octets that are not UTF-8 are not a string at all there.
                return syntax("mailbox name is not valid UTF-8 (RFC 6855 3)");
            }
            ErrorKind::InvalidMailboxName(if raw.is_empty() {
                "empty mailbox name"
            } else if raw.iter().any(u8::is_ascii_control) {
                "control character in a mailbox name"
            } else {
                "mailbox name is not valid modified UTF-7 (RFC 3501 5.1.3)"
            })
        })
    }

    /// A name that may be empty (the reference of LIST, a quota root):
    /// `mailbox` decoded like [`Parser::mailbox`], without INBOX folding.
    pub fn mailbox_or_empty(&mut self) -> PResult<String> {
        let raw = self.astring()?;
        self.decode_name(&raw)
    }

    fn decode_name(&self, raw: &[u8]) -> PResult<String> {
        let decoded = if self.utf8 {
            std::str::from_utf8(raw).map(str::to_owned).map_err(|_| syntax("name is not valid UTF-8"))?
        } else {
            super::mutf7::decode(raw).map_err(|_| syntax("name is not valid modified UTF-7 (RFC 3501 5.1.3)"))?
        };
        if decoded.chars().any(char::is_control) {
            return Err(syntax("control character in a mailbox name"));
        }
        Ok(decoded)
    }

    /// ```abnf
    /// list-mailbox    = 1*list-char / string
    /// list-char       = ATOM-CHAR / list-wildcards / resp-specials
    /// ```
    /// Decoded like a mailbox name; the wildcards `*` and `%` are ASCII and
    /// pass through modified UTF-7 unchanged.
    pub fn list_mailbox(&mut self) -> PResult<String> {
        let raw = match self.peek() {
            Some(b'"') | Some(b'{') => self.string()?,
            _ => {
                let bytes = self.take_while(is_list_char);
                if bytes.is_empty() {
                    return Err(syntax("expected a mailbox pattern"));
                }
                Cow::Borrowed(bytes)
            }
        };
        // A pattern that is not valid modified UTF-7 names no mailbox the
        // server could be asked for by that spelling, but is not an error
        // (RFC 3501 6.3.8): it is matched as the characters it holds.
        match self.decode_name(&raw) {
            Err(_) if !self.utf8 && !raw.iter().any(u8::is_ascii_control) => {
                Ok(String::from_utf8_lossy(&raw).into_owned())
            }
            other => other,
        }
    }

    /// ```abnf
    /// flag            = "\Answered" / "\Flagged" / "\Deleted" /
    ///                   "\Seen" / "\Draft" / flag-keyword / flag-extension
    /// flag-keyword    = atom
    /// flag-extension  = "\" atom
    /// ```
    pub fn flag(&mut self) -> PResult<Flag> {
        let backslash = self.eat(b'\\');
        let name = self.atom().map_err(|_| syntax("expected a flag"))?;
        let text = if backslash { format!("\\{name}") } else { name.to_owned() };
        Flag::parse(&text).map_err(|_| syntax("expected a flag"))
    }

    /// ```abnf
    /// flag-list       = "(" [flag *(SP flag)] ")"
    /// ```
    pub fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.list(|p| p.flag())
    }

    /// `"(" [item *(SP item)] ")"`: a parenthesised, possibly empty list.
    pub fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        self.expect(b'(', "expected '('")?;
        let mut items = Vec::new();
        if self.eat(b')') {
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            if self.eat(b')') {
                return Ok(items);
            }
            self.sp().map_err(|_| syntax("expected a space or ')'"))?;
        }
    }

    /// `"(" item *(SP item) ")"`: a parenthesised list of at least one item.
    pub fn list1<T>(&mut self, item: impl FnMut(&mut Self) -> PResult<T>) -> PResult<Vec<T>> {
        let items = self.list(item)?;
        if items.is_empty() { Err(syntax("empty list")) } else { Ok(items) }
    }

    /// ```abnf
    /// date            = date-text / DQUOTE date-text DQUOTE
    /// date-text       = date-day "-" date-month "-" date-year
    /// ```
    pub fn date(&mut self) -> PResult<Date> {
        let quoted = self.eat(b'"');
        let text = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'-');
        if quoted {
            self.expect(b'"', "expected '\"' closing the date")?;
        }
        let text = std::str::from_utf8(text).map_err(|_| syntax("invalid date"))?;
        Date::parse(text).map_err(|_| syntax("invalid date"))
    }

    /// ```abnf
    /// date-time       = DQUOTE date-day-fixed "-" date-month "-" date-year
    ///                   SP time SP zone DQUOTE
    /// ```
    pub fn date_time(&mut self) -> PResult<DateTime> {
        self.expect(b'"', "expected a date-time")?;
        let text = self.take_while(|b| b != b'"' && (0x20..0x7f).contains(&b));
        self.expect(b'"', "invalid date-time")?;
        let text = std::str::from_utf8(text).map_err(|_| syntax("invalid date-time"))?;
        DateTime::parse(text).map_err(|_| syntax("invalid date-time"))
    }

    /// `sequence-set` (RFC 3501 9, RFC 5182 `$`); see [`SequenceSet::parse`].
    pub fn sequence_set(&mut self) -> PResult<SequenceSet> {
        let text = self.take_while(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*' | b'$'));
        let text = std::str::from_utf8(text).map_err(|_| syntax("invalid sequence set"))?;
        SequenceSet::parse(text).map_err(|_| syntax("invalid sequence set"))
    }

    /// A sequence set in which neither `*` nor `$` may occur (UID sets of
    /// QRESYNC, RFC 7162 3.2.5.2).
    pub fn known_set(&mut self) -> PResult<SequenceSet> {
        let set = self.sequence_set()?;
        if set.is_saved() || set.uses_largest() {
            return Err(syntax("'*' and '$' are not allowed here"));
        }
        Ok(set)
    }
}
