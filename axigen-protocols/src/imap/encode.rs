//! Wire forms of IMAP data (RFC 3501 4, RFC 9051 4): strings as atom,
//! quoted string or literal, `nstring`, mailbox names, flag lists.
//!
//! The form is chosen from the octets, so that any value survives:
//! a quoted string cannot hold CR, LF or NUL, and holds 8-bit octets only
//! when they are UTF-8 and the client enabled UTF8=ACCEPT (RFC 6855 3, RFC
//! 9051 `QUOTED-CHAR`); anything else is sent as a literal.
//!
//! ```
//! use axigen_protocols::imap::encode;
//! let mut out = Vec::new();
//! encode::astring(&mut out, b"hello", false);
//! out.push(b' ');
//! encode::astring(&mut out, b"two words", false);
//! out.push(b' ');
//! encode::astring(&mut out, "Grüße".as_bytes(), false);
//! assert_eq!(out, "hello \"two words\" {7}\r\nGrüße".as_bytes());
//! ```

use super::types::{Flag, MailboxName, is_astring_char};

/// Whether `value` can be sent as a quoted string.
pub fn is_quotable(value: &[u8], utf8: bool) -> bool {
    if value.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
        return false;
    }
    value.is_ascii() || (utf8 && std::str::from_utf8(value).is_ok())
}

/// `quoted`: the value between double quotes, `"` and `\` escaped.
/// The caller checks [`is_quotable`].
pub fn quoted(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// `literal`: `{n}` CRLF and the octets, as a server sends it; with
/// `non_sync` the `{n+}` form of RFC 7888, as a LITERAL+ client sends it.
pub fn literal(out: &mut Vec<u8>, value: &[u8], non_sync: bool) {
    let plus = if non_sync { "+" } else { "" };
    out.extend_from_slice(format!("{{{}{plus}}}\r\n", value.len()).as_bytes());
    out.extend_from_slice(value);
}

pub(crate) fn string_with(out: &mut Vec<u8>, value: &[u8], utf8: bool, non_sync: bool) {
    if is_quotable(value, utf8) { quoted(out, value) } else { literal(out, value, non_sync) }
}

/// `string = quoted / literal`: quoted when possible.
pub fn string(out: &mut Vec<u8>, value: &[u8], utf8: bool) {
    string_with(out, value, utf8, false)
}

pub(crate) fn astring_with(out: &mut Vec<u8>, value: &[u8], utf8: bool, non_sync: bool) {
    if !value.is_empty() && value.iter().all(|&b| is_astring_char(b)) {
        out.extend_from_slice(value);
    } else {
        string_with(out, value, utf8, non_sync)
    }
}

/// `astring = 1*ASTRING-CHAR / string`: bare when possible.
pub fn astring(out: &mut Vec<u8>, value: &[u8], utf8: bool) {
    astring_with(out, value, utf8, false)
}

/// `nstring = string / nil`.
pub fn nstring(out: &mut Vec<u8>, value: Option<&[u8]>, utf8: bool) {
    match value {
        Some(v) => string(out, v, utf8),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name: modified UTF-7 (RFC 3501 5.1.3), or UTF-8 when the
/// client enabled UTF8=ACCEPT (RFC 6855 3), as an astring.
pub fn mailbox(out: &mut Vec<u8>, name: &MailboxName, utf8: bool) {
    astring(out, name.to_wire(utf8).as_bytes(), utf8)
}

/// A decoded name that may be empty (a LIST reference), encoded like
/// [`mailbox`].
pub fn mailbox_str(out: &mut Vec<u8>, name: &str, utf8: bool) {
    let wire = if utf8 { name.to_owned() } else { super::mutf7::encode(name) };
    astring(out, wire.as_bytes(), utf8)
}

/// `flag-list = "(" [flag *(SP flag)] ")"`.
pub fn flag_list<'a>(out: &mut Vec<u8>, flags: impl IntoIterator<Item = &'a Flag>) {
    out.push(b'(');
    for (i, flag) in flags.into_iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(flag.to_string().as_bytes());
    }
    out.push(b')');
}

/// Text for `resp-text`: `1*TEXT-CHAR`, so CR and LF (and NUL) become spaces;
/// never empty.
pub fn text(out: &mut Vec<u8>, text: &str) {
    if text.is_empty() {
        out.extend_from_slice(b"completed");
        return;
    }
    out.extend(text.bytes().map(|b| if matches!(b, 0 | b'\r' | b'\n') { b' ' } else { b }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn string_forms() {
        assert_eq!(enc(|o| astring(o, b"INBOX", false)), "INBOX");
        assert_eq!(enc(|o| astring(o, b"", false)), "\"\"");
        assert_eq!(enc(|o| astring(o, b"a]b", false)), "a]b");
        assert_eq!(enc(|o| astring(o, b"a*b", false)), "\"a*b\"");
        assert_eq!(enc(|o| astring(o, b"NIL", false)), "NIL");
        assert_eq!(enc(|o| string(o, b"NIL", false)), "\"NIL\"");
        assert_eq!(enc(|o| string(o, b"say \"hi\" \\o/", false)), r#""say \"hi\" \\o/""#);
        assert_eq!(enc(|o| string(o, b"two\r\nlines", false)), "{10}\r\ntwo\r\nlines");
        assert_eq!(enc(|o| string(o, "ü".as_bytes(), false)), "{2}\r\nü");
        assert_eq!(enc(|o| string(o, "ü".as_bytes(), true)), "\"ü\"");
        assert_eq!(enc(|o| nstring(o, None, false)), "NIL");
        assert_eq!(enc(|o| literal(o, b"abc", true)), "{3+}\r\nabc");
        let mut o = Vec::new();
        string(&mut o, &[0xff, b'a'], true);
        assert_eq!(o, b"{2}\r\n\xffa");
    }

    #[test]
    fn mailbox_names() {
        let name = MailboxName::new("Entwürfe").unwrap();
        assert_eq!(enc(|o| mailbox(o, &name, false)), "Entw&APw-rfe");
        assert_eq!(enc(|o| mailbox(o, &name, true)), "\"Entwürfe\"");
        assert_eq!(enc(|o| mailbox(o, &MailboxName::new("My Folder").unwrap(), false)), "\"My Folder\"");
        assert_eq!(enc(|o| mailbox_str(o, "", false)), "\"\"");
    }

    #[test]
    fn flags_and_text() {
        let flags = [Flag::Seen, Flag::parse("$Junk").unwrap()];
        assert_eq!(enc(|o| flag_list(o, &flags)), "(\\Seen $Junk)");
        assert_eq!(enc(|o| flag_list(o, &[])), "()");
        assert_eq!(enc(|o| text(o, "a\r\nb")), "a  b");
    }
}
