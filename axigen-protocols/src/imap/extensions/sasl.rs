//! AUTHENTICATE (RFC 9051 6.2.2) with the initial response of SASL-IR
//! (RFC 4959), and the client's answers to challenges.

use base64::Engine as _;

use crate::imap::command::{CommandBody, CommandWriter};
use crate::imap::parser::{PResult, Parser, syntax};
use crate::imap::types::{Atom, Secret};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// ```abnf
/// authenticate    = "AUTHENTICATE" SP auth-type [SP initial-resp]
///                   *(CRLF base64)
/// initial-resp    = (base64 / "=")        ; RFC 4959 7
/// auth-type       = atom
/// ```
/// Parses what follows the command name; the `*(CRLF base64)` lines are
/// read one by one with [`parse_response_line`].
pub(crate) fn parse_authenticate(p: &mut Parser<'_>) -> PResult<CommandBody> {
    p.sp()?;
    let mechanism = Atom::new(p.atom()?).map_err(|_| syntax("expected a SASL mechanism"))?;
    let mut initial_response = None;
    if p.peek() == Some(b' ') && !matches!(p.peek_at(1), None | Some(b'\r') | Some(b'\n')) {
        p.sp()?;
        let text = p.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        initial_response = Some(decode(text).ok_or(syntax("invalid base64 in the initial response"))?);
    }
    Ok(CommandBody::Authenticate { mechanism, initial_response })
}

/// `=` is an empty response (RFC 4959 3); anything else is base64.
fn decode(text: &[u8]) -> Option<Secret> {
    if text == b"=" {
        return Some(Secret::new(Vec::new()));
    }
    if text.is_empty() {
        return None;
    }
    B64.decode(text).ok().map(Secret::new)
}

pub(crate) fn encode_authenticate(w: &mut CommandWriter, mechanism: &Atom, initial: Option<&Secret>) {
    w.sp();
    w.raw(mechanism.as_str());
    if let Some(initial) = initial {
        w.sp();
        if initial.expose().is_empty() {
            w.raw("=");
        } else {
            w.raw(&B64.encode(initial.expose()));
        }
    }
}

/// The client's answer to a SASL challenge (`+ base64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslResponse {
    /// The decoded response (empty for an empty line).
    Data(Secret),
    /// `*`: the client cancels; answer `tag BAD` (RFC 9051 6.2.2).
    Cancel,
}

/// Parses one line sent in answer to a challenge (its CRLF optional):
/// `base64` or `*` (RFC 9051 6.2.2). `None` when it is not base64.
///
/// ```
/// use axigen_protocols::imap::extensions::sasl::{SaslResponse, parse_response_line};
/// assert_eq!(parse_response_line(b"*\r\n"), Some(SaslResponse::Cancel));
/// let Some(SaslResponse::Data(d)) = parse_response_line(b"AGEAYg==\r\n") else { panic!() };
/// assert_eq!(d.expose(), b"\0a\0b");
/// ```
pub fn parse_response_line(line: &[u8]) -> Option<SaslResponse> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line {
        b"*" => Some(SaslResponse::Cancel),
        b"" => Some(SaslResponse::Data(Secret::new(Vec::new()))),
        _ => B64.decode(line).ok().map(|d| SaslResponse::Data(Secret::new(d))),
    }
}
