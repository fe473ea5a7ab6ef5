//! The address grammar of MAIL and RCPT (RFC 5321 4.1.2, RFC 6531 3.3) and
//! xtext (RFC 3461 4).

use super::{MAX_DOMAIN, MAX_PATH, ParseError};

/// Which path is being parsed, for the error codes.
#[derive(Clone, Copy)]
pub(super) enum Role {
    Sender,
    Recipient,
}

impl Role {
    pub(super) fn error(self, why: &'static str) -> ParseError {
        match self {
            Role::Sender => ParseError::BadSender(why),
            Role::Recipient => ParseError::BadRecipient(why),
        }
    }
}

/// Splits `[SP...] "<" path ">" [SP params]` into the text between the angle
/// brackets and the parameter text. Spaces before `<` are a leniency; a `>`
/// inside a quoted local part does not end the path.
pub(super) fn split_path(rest: &[u8], role: Role) -> Result<(&str, &[u8]), ParseError> {
    let rest = rest.trim_ascii_start();
    if rest.first() != Some(&b'<') {
        return Err(role.error("the address must be enclosed in <>"));
    }
    let mut quoted = false;
    let mut escaped = false;
    let mut close = None;
    for (i, &b) in rest.iter().enumerate().skip(1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'>' if !quoted => {
                close = Some(i);
                break;
            }
            _ => {}
        }
    }
    let close = close.ok_or_else(|| role.error("missing '>'"))?;
    if close + 1 > MAX_PATH {
        // RFC 5321 4.5.3.1.3 and 4.5.3.1.9: "501 Path too long".
        return Err(role.error("path too long"));
    }
    let path = std::str::from_utf8(&rest[1..close]).map_err(|_| role.error("address is not UTF-8"))?;
    let params = &rest[close + 1..];
    if !params.is_empty() && params[0] != b' ' {
        return Err(role.error("a space must separate the address from parameters"));
    }
    Ok((path, params))
}

/// ```text
/// Path       = "<" [ A-d-l ":" ] Mailbox ">"
/// A-d-l      = At-domain *( "," At-domain )
/// At-domain  = "@" Domain
/// Mailbox    = Local-part "@" ( Domain / address-literal )
/// ```
/// (RFC 5321 4.1.2.) `inner` is the text between `<` and `>`; an empty one
/// is the null path (returned as `None`). A source route is checked and
/// dropped ("MUST BE accepted, SHOULD NOT be generated, and SHOULD be
/// ignored"). Non-ASCII text is refused unless `utf8` (RFC 6531 3.3).
pub(super) fn parse_path(inner: &str, utf8: bool, role: Role) -> Result<Option<String>, ParseError> {
    if inner.is_empty() {
        return Ok(None);
    }
    if !utf8 && !inner.is_ascii() {
        return Err(ParseError::NonAsciiAddress);
    }
    let mut mailbox = inner;
    if inner.starts_with('@') {
        let (route, rest) = inner.split_once(':').ok_or_else(|| role.error("source route without ':'"))?;
        for hop in route.split(',') {
            let domain = hop.strip_prefix('@').ok_or_else(|| role.error("invalid source route"))?;
            if !is_domain(domain, utf8) {
                return Err(role.error("invalid domain in source route"));
            }
        }
        mailbox = rest;
    }
    check_mailbox(mailbox, utf8, role)?;
    Ok(Some(mailbox.to_owned()))
}

/// ```text
/// Local-part      = Dot-string / Quoted-string
/// Dot-string      = Atom *("."  Atom)
/// Atom            = 1*atext
/// Quoted-string   = DQUOTE *QcontentSMTP DQUOTE
/// QcontentSMTP    = qtextSMTP / quoted-pairSMTP
/// quoted-pairSMTP = %d92 %d32-126
/// qtextSMTP       = %d32-33 / %d35-91 / %d93-126
/// atext           =/ UTF8-non-ascii                  ; RFC 6531 3.3
/// qtextSMTP       =/ UTF8-non-ascii                  ; RFC 6531 3.3
/// ```
/// (RFC 5321 4.1.2.)
fn check_mailbox(mailbox: &str, utf8: bool, role: Role) -> Result<(), ParseError> {
    let non_ascii_ok = |c: char| utf8 && !c.is_ascii() && !c.is_control();
    let domain = if let Some(quoted) = mailbox.strip_prefix('"') {
        let mut chars = quoted.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(i);
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, q)) if matches!(q as u32, 32..=126) => {}
                    _ => return Err(role.error("invalid quoted pair in local part")),
                },
                c if matches!(c as u32, 32..=33 | 35..=91 | 93..=126) || non_ascii_ok(c) => {}
                _ => return Err(role.error("invalid character in quoted local part")),
            }
        }
        let end = end.ok_or_else(|| role.error("unterminated quoted local part"))?;
        quoted[end + 1..].strip_prefix('@').ok_or_else(|| role.error("missing '@' after the local part"))?
    } else {
        let (local, domain) = mailbox.split_once('@').ok_or_else(|| role.error("missing '@'"))?;
        const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
        let atom_ok = |atom: &str| {
            !atom.is_empty()
                && atom.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c) || non_ascii_ok(c))
        };
        if !local.split('.').all(atom_ok) {
            return Err(role.error("invalid local part"));
        }
        domain
    };
    if domain.starts_with('[') {
        if !is_address_literal(domain) {
            return Err(role.error("invalid address literal"));
        }
    } else if !is_domain(domain, utf8) {
        return Err(role.error("invalid domain"));
    }
    Ok(())
}

/// ```text
/// Domain     = sub-domain *("." sub-domain)
/// sub-domain = Let-dig [Ldh-str]
/// Let-dig    = ALPHA / DIGIT
/// Ldh-str    = *( ALPHA / DIGIT / "-" ) Let-dig
/// sub-domain =/ U-label                              ; RFC 6531 3.3
/// ```
/// (RFC 5321 4.1.2.) A U-label is accepted as any label of letters, digits,
/// hyphens and non-ASCII characters; IDNA validity is not checked here.
fn is_domain(domain: &str, utf8: bool) -> bool {
    let let_dig = |c: char| c.is_ascii_alphanumeric() || (utf8 && !c.is_ascii() && !c.is_control());
    !domain.is_empty()
        && domain.len() <= MAX_DOMAIN
        && domain.split('.').all(|label| {
            label.chars().next().is_some_and(let_dig)
                && label.chars().last().is_some_and(let_dig)
                && label.chars().all(|c| let_dig(c) || c == '-')
        })
}

/// ```text
/// address-literal  = "[" ( IPv4-address-literal /
///                  IPv6-address-literal /
///                  General-address-literal ) "]"
/// IPv6-address-literal  = "IPv6:" IPv6-addr
/// General-address-literal  = Standardized-tag ":" 1*dcontent
/// dcontent       = %d33-90 / %d94-126
/// ```
/// (RFC 5321 4.1.2, 4.1.3.)
fn is_address_literal(literal: &str) -> bool {
    let Some(inner) = literal.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
        return false;
    };
    if inner.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    match inner.split_once(':') {
        Some((tag, addr)) if tag.eq_ignore_ascii_case("IPv6") => addr.parse::<std::net::Ipv6Addr>().is_ok(),
        Some((tag, content)) => {
            let tag_ok = !tag.is_empty()
                && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !tag.ends_with('-')
                && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
            tag_ok && !content.is_empty() && content.bytes().all(|b| matches!(b, 33..=90 | 94..=126))
        }
        None => false,
    }
}

/// Decodes xtext (RFC 3461 4): `xtext = *( xchar / hexchar )`, where
/// `hexchar = "+" HEXDIG HEXDIG`. Returns `None` for malformed text or a
/// decoded value that is not UTF-8.
pub(super) fn xtext_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'=' => return None,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes text as xtext (RFC 3461 4): `+`, `=`, controls, space and
/// non-ASCII octets become `+XX`.
pub(super) fn xtext_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_literals() {
        for ok in ["[192.0.2.1]", "[IPv6:::1]", "[IPv6:2001:db8::1]", "[x-tag:abc]"] {
            assert!(is_address_literal(ok), "{ok}");
        }
        for bad in ["192.0.2.1", "[192.0.2]", "[IPv6:zz]", "[:abc]", "[tag:]", "[tag:a[b]"] {
            assert!(!is_address_literal(bad), "{bad}");
        }
    }

    #[test]
    fn xtext_both_ways() {
        assert_eq!(xtext_decode("a+2Bb+3Dc").as_deref(), Some("a+b=c"));
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext_decode("<>").as_deref(), Some("<>"));
        assert_eq!(xtext_decode("a+2"), None);
        assert_eq!(xtext_decode("a=b"), None);
    }
}
