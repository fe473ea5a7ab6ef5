//! Address lists (RFC 5322 3.4) as `ENVELOPE` addresses (RFC 3501 7.4.2),
//! read from the unfolded header value as written.
//!
//! ```text
//! address-list = (address *("," address)) / obs-addr-list
//! address      = mailbox / group
//! mailbox      = name-addr / addr-spec
//! name-addr    = [display-name] angle-addr
//! angle-addr   = [CFWS] "<" [obs-route] addr-spec ">" [CFWS]
//! group        = display-name ":" [group-list] ";" [CFWS]
//! obs-route    = obs-domain-list ":"
//! ```
//!
//! The whole value is consumed here, leniently: what does not parse is
//! skipped up to the next `,`, an address without a domain gets
//! [`MISSING_HOST`], and a trailing comment stands in for a missing display
//! name (`user@example.org (Real Name)`). Bytes >= 0x80 are atom text
//! (RFC 6532).

use super::mime::{comment, quoted_string};
use super::{EnvelopeAddress, HeaderText, MISSING_HOST, MISSING_MAILBOX};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// A run of atom text, as written (`.` is a special here).
    Atom(&'a [u8]),
    /// A quoted string, as written (with its quotes).
    Quoted(&'a [u8]),
    /// A domain literal, as written (with its brackets).
    Literal(&'a [u8]),
    /// A comment's content.
    Comment(&'a [u8]),
    /// One of `<>:;@,.` or a stray special.
    Special(u8),
    /// White space (a run of it).
    Space,
}

fn tokens(v: &[u8]) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < v.len() {
        match v[at] {
            b' ' | b'\t' | b'\r' | b'\n' => {
                if out.last() != Some(&Token::Space) {
                    out.push(Token::Space);
                }
                at += 1;
            }
            b'(' => {
                let (text, next) = comment(v, at);
                out.push(Token::Comment(text));
                at = next;
            }
            b'"' => {
                let next = quoted_string(v, at).1;
                out.push(Token::Quoted(&v[at..next]));
                at = next;
            }
            b'[' => {
                let next = v[at..].iter().position(|&b| b == b']').map_or(v.len(), |i| at + i + 1);
                out.push(Token::Literal(&v[at..next]));
                at = next;
            }
            b @ (b'<' | b'>' | b':' | b';' | b'@' | b',' | b'.' | b')' | b']' | b'\\') => {
                out.push(Token::Special(b));
                at += 1;
            }
            _ => {
                let start = at;
                while at < v.len() && !is_special_or_space(v[at]) {
                    at += 1;
                }
                out.push(Token::Atom(&v[start..at]));
            }
        }
    }
    out
}

fn is_special_or_space(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'\r'
            | b'\n'
            | b'('
            | b')'
            | b'<'
            | b'>'
            | b'['
            | b']'
            | b':'
            | b';'
            | b'@'
            | b'\\'
            | b','
            | b'.'
            | b'"'
    )
}

/// The address list of a header value.
pub(super) fn address_list(value: &[u8]) -> Vec<EnvelopeAddress> {
    let toks = tokens(value);
    let mut out = Vec::new();
    let mut at = 0;
    while at < toks.len() {
        let before = at;
        address(&toks, &mut at, &mut out, false);
        if at == before {
            at += 1;
        }
    }
    out
}

/// One address (or group) starting at `*at`; leaves `*at` after it and its
/// separating comma.
fn address(toks: &[Token<'_>], at: &mut usize, out: &mut Vec<EnvelopeAddress>, in_group: bool) {
    let start = *at;
    let stop = toks[start..]
        .iter()
        .position(|t| matches!(t, Token::Special(b'<' | b':' | b'@' | b',' | b';')))
        .map_or(toks.len(), |i| start + i);
    match toks.get(stop) {
        Some(Token::Special(b':')) if !in_group => {
            // group = display-name ":" [group-list] ";"
            let name = phrase(&toks[start..stop]).unwrap_or_default();
            out.push(EnvelopeAddress::group_start(name));
            *at = stop + 1;
            loop {
                match toks.get(*at) {
                    None => break,
                    Some(Token::Special(b';')) => {
                        *at += 1;
                        break;
                    }
                    Some(Token::Special(b',' | b':')) => *at += 1,
                    Some(_) => {
                        let before = *at;
                        address(toks, at, out, true);
                        if *at == before {
                            *at += 1;
                        }
                    }
                }
            }
            out.push(EnvelopeAddress::group_end());
        }
        Some(Token::Special(b'<')) => {
            let name = phrase(&toks[start..stop]);
            let close = toks[stop..].iter().position(|t| *t == Token::Special(b'>')).map_or(toks.len(), |i| stop + i);
            let mut inner = trim_space(&toks[stop + 1..close]);
            let mut adl = None;
            if inner.first() == Some(&Token::Special(b'@'))
                && let Some(colon) = inner.iter().position(|t| *t == Token::Special(b':'))
            {
                adl = Some(HeaderText(joined(&inner[..colon])));
                inner = trim_space(&inner[colon + 1..]);
            }
            let (local, domain) = match inner.iter().position(|t| *t == Token::Special(b'@')) {
                Some(i) => (&inner[..i], Some(&inner[i + 1..])),
                None => (inner, None),
            };
            *at = close;
            // After `>`: comments and junk up to the separator.
            skip_to_separator(toks, at, in_group);
            if let Some(a) = mailbox(name, adl, local, domain) {
                out.push(a);
            }
        }
        Some(Token::Special(b'@')) => {
            let local = &toks[start..stop];
            let mut end = stop + 1;
            while end < toks.len() && !matches!(toks[end], Token::Special(b',' | b';' | b'<')) {
                end += 1;
            }
            let domain = &toks[stop + 1..end];
            // `user@example.org (Real Name)`: the comment names the mailbox.
            let name = domain
                .iter()
                .rev()
                .find_map(|t| match t {
                    Token::Comment(c) if !c.is_empty() => Some(HeaderText(c.to_vec())),
                    _ => None,
                })
                .or_else(|| phrase_from_comments(local));
            *at = end;
            skip_to_separator(toks, at, in_group);
            if let Some(a) = mailbox(name, None, local, Some(domain)) {
                out.push(a);
            }
        }
        _ => {
            // A bare word (`undisclosed-recipients`), or nothing before a separator.
            let local = &toks[start..stop];
            *at = stop;
            skip_to_separator(toks, at, in_group);
            if let Some(a) = mailbox(None, None, local, None) {
                out.push(a);
            }
        }
    }
}

/// Moves past junk to the end of this address: past a `,`, or onto a `;`
/// that closes the group.
fn skip_to_separator(toks: &[Token<'_>], at: &mut usize, in_group: bool) {
    while let Some(t) = toks.get(*at) {
        match t {
            Token::Special(b',') => {
                *at += 1;
                return;
            }
            Token::Special(b';') if in_group => return,
            _ => *at += 1,
        }
    }
}

fn mailbox(
    name: Option<HeaderText>,
    adl: Option<HeaderText>,
    local: &[Token<'_>],
    domain: Option<&[Token<'_>]>,
) -> Option<EnvelopeAddress> {
    let local = joined(local);
    let domain = domain.map(joined).unwrap_or_default();
    if local.is_empty() && domain.is_empty() && name.is_none() {
        return None;
    }
    let or = |v: Vec<u8>, missing: &str| HeaderText(if v.is_empty() { missing.as_bytes().to_vec() } else { v });
    Some(EnvelopeAddress { name, adl, mailbox: Some(or(local, MISSING_MAILBOX)), host: Some(or(domain, MISSING_HOST)) })
}

/// A local part, domain or route: the tokens as written, without white
/// space or comments.
fn joined(toks: &[Token<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks {
        match t {
            Token::Atom(b) | Token::Quoted(b) | Token::Literal(b) => out.extend_from_slice(b),
            Token::Special(b @ (b'.' | b'@' | b',' | b':')) => out.push(*b),
            Token::Comment(_) | Token::Special(_) | Token::Space => {}
        }
    }
    out
}

fn trim_space<'t, 'a>(toks: &'t [Token<'a>]) -> &'t [Token<'a>] {
    let start = toks.iter().position(|t| *t != Token::Space).unwrap_or(toks.len());
    let end = toks.iter().rposition(|t| *t != Token::Space).map_or(start, |i| i + 1);
    &toks[start..end.max(start)]
}

/// A display name: its words and dots as written, white space and comments
/// between them as one space, quoted strings unquoted, encoded-words kept;
/// `None` when it has no word.
fn phrase(toks: &[Token<'_>]) -> Option<HeaderText> {
    let mut out: Vec<u8> = Vec::new();
    let mut spaced = false;
    for t in toks {
        let word = match t {
            Token::Atom(b) => b.to_vec(),
            Token::Quoted(b) => quoted_string(b, 0).0,
            // obs-phrase allows `.` (`John Q. Public`).
            Token::Special(b'.') => b".".to_vec(),
            Token::Space | Token::Comment(_) => {
                spaced = true;
                continue;
            }
            Token::Literal(_) | Token::Special(_) => continue,
        };
        if spaced && !out.is_empty() {
            out.push(b' ');
        }
        spaced = false;
        out.extend_from_slice(&word);
    }
    (!out.is_empty()).then_some(HeaderText(out))
}

/// A comment inside an addr-spec's local part, used as a name.
fn phrase_from_comments(toks: &[Token<'_>]) -> Option<HeaderText> {
    toks.iter().find_map(|t| match t {
        Token::Comment(c) if !c.is_empty() => Some(HeaderText(c.to_vec())),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn list(v: &str) -> Vec<EnvelopeAddress> {
        address_list(v.as_bytes())
    }

    fn addr(name: Option<&str>, mailbox: &str, host: &str) -> EnvelopeAddress {
        EnvelopeAddress {
            name: name.map(HeaderText::from),
            adl: None,
            mailbox: Some(mailbox.into()),
            host: Some(host.into()),
        }
    }

    #[test]
    fn odd_addresses() {
        // Source route (RFC 5322 4.4 obs-route) goes to adl.
        assert_eq!(
            list("Pete <@relay1.test,@relay2.test:pete@example.org>"),
            vec![EnvelopeAddress {
                adl: Some("@relay1.test,@relay2.test".into()),
                ..addr(Some("Pete"), "pete", "example.org")
            }]
        );
        // A quoted local part keeps its quotes; comments are dropped from it.
        assert_eq!(list("\"john smith\"(x)@example.org"), vec![addr(Some("x"), "\"john smith\"", "example.org")]);
        // Without a domain, the host is a placeholder, never NIL (a group marker).
        assert_eq!(list("postmaster"), vec![addr(None, "postmaster", MISSING_HOST)]);
        assert_eq!(list("Nobody <@example.org>"), vec![addr(Some("Nobody"), MISSING_MAILBOX, "example.org")]);
        assert_eq!(list("a@[192.0.2.1]"), vec![addr(None, "a", "[192.0.2.1]")]);
        assert_eq!(list(" , ,"), vec![]);
        assert_eq!(list("J.R.R. Tolkien <jrr@example.org>")[0].name.as_ref().unwrap(), "J.R.R. Tolkien");
        // Garbage does not panic and does not swallow the next address.
        assert_eq!(list("<<>@@, b@c.test"), vec![addr(None, "b", "c.test")]);
    }

    proptest! {
        #[test]
        fn arbitrary_address_lists_do_not_panic(v in proptest::collection::vec(
            prop_oneof![Just(b'<'), Just(b'>'), Just(b'@'), Just(b':'), Just(b';'), Just(b','), Just(b'"'),
                        Just(b'('), Just(b')'), Just(b'\\'), Just(b'['), Just(b' '), Just(b'.'), Just(b'a'), any::<u8>()],
            0..64,
        )) {
            for a in address_list(&v) {
                prop_assert!(a.is_group_marker() || a.mailbox.is_some());
            }
        }
    }
}
