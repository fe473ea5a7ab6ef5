//! Wire forms of the stored message structure: `ENVELOPE`, `BODY` and
//! `BODYSTRUCTURE` (RFC 9051 7.5.2, RFC 3501 7.4.2), rendered from
//! [`MessageStructure`] as computed at store time, never by parsing again.

use axigen_core::structure::{BodyPart, ContentDisposition, Envelope, EnvelopeAddress, HeaderText, Parameter};

use crate::imap::encode;

/// `envelope = "(" env-date SP env-subject SP env-from SP env-sender SP
/// env-reply-to SP env-to SP env-cc SP env-bcc SP env-in-reply-to SP
/// env-message-id ")"`
pub fn envelope(out: &mut Vec<u8>, env: &Envelope, utf8: bool) {
    out.push(b'(');
    text(out, env.date.as_ref(), utf8);
    out.push(b' ');
    text(out, env.subject.as_ref(), utf8);
    for list in [&env.from, &env.sender, &env.reply_to, &env.to, &env.cc, &env.bcc] {
        out.push(b' ');
        addresses(out, list, utf8);
    }
    out.push(b' ');
    text(out, env.in_reply_to.as_ref(), utf8);
    out.push(b' ');
    text(out, env.message_id.as_ref(), utf8);
    out.push(b')');
}

fn text(out: &mut Vec<u8>, value: Option<&HeaderText>, utf8: bool) {
    encode::nstring(out, value.map(HeaderText::as_bytes), utf8);
}

fn addresses(out: &mut Vec<u8>, list: &[EnvelopeAddress], utf8: bool) {
    if list.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for a in list {
        out.push(b'(');
        text(out, a.name.as_ref(), utf8);
        out.push(b' ');
        text(out, a.adl.as_ref(), utf8);
        out.push(b' ');
        text(out, a.mailbox.as_ref(), utf8);
        out.push(b' ');
        text(out, a.host.as_ref(), utf8);
        out.push(b')');
    }
    out.push(b')');
}

fn string(out: &mut Vec<u8>, value: &str, utf8: bool) {
    encode::string(out, value.as_bytes(), utf8);
}

/// `body-fld-param = "(" string SP string *(SP string SP string) ")" / nil`
fn parameters(out: &mut Vec<u8>, params: &[Parameter], utf8: bool) {
    if params.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, &p.name, utf8);
        out.push(b' ');
        encode::string(out, p.value.as_bytes(), utf8);
    }
    out.push(b')');
}

/// `body-fld-dsp = "(" string SP body-fld-param ")" / nil`
fn disposition(out: &mut Vec<u8>, disposition: Option<&ContentDisposition>, utf8: bool) {
    match disposition {
        None => out.extend_from_slice(b"NIL"),
        Some(d) => {
            out.push(b'(');
            string(out, &d.kind, utf8);
            out.push(b' ');
            parameters(out, &d.parameters, utf8);
            out.push(b')');
        }
    }
}

/// `body-fld-lang = nstring / "(" string *(SP string) ")"`
fn language(out: &mut Vec<u8>, tags: &[String], utf8: bool) {
    if tags.is_empty() {
        out.extend_from_slice(b"NIL");
        return;
    }
    out.push(b'(');
    for (i, t) in tags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        string(out, t, utf8);
    }
    out.push(b')');
}

/// `body = "(" (body-type-1part / body-type-mpart) ")"`; with `extended`
/// the BODYSTRUCTURE form (extension data), without it the BODY form.
pub fn body(out: &mut Vec<u8>, part: &BodyPart, extended: bool, utf8: bool) {
    out.push(b'(');
    if part.is_multipart() && !part.parts.is_empty() {
        for p in &part.parts {
            body(out, p, extended, utf8);
        }
        out.push(b' ');
        string(out, &part.media_subtype, utf8);
        if extended {
            out.push(b' ');
            parameters(out, &part.parameters, utf8);
            out.push(b' ');
            disposition(out, part.disposition.as_ref(), utf8);
            out.push(b' ');
            language(out, &part.language, utf8);
            out.push(b' ');
            text(out, part.location.as_ref(), utf8);
        }
        out.push(b')');
        return;
    }
    string(out, &part.media_type, utf8);
    out.push(b' ');
    string(out, &part.media_subtype, utf8);
    out.push(b' ');
    parameters(out, &part.parameters, utf8);
    out.push(b' ');
    text(out, part.id.as_ref(), utf8);
    out.push(b' ');
    text(out, part.description.as_ref(), utf8);
    out.push(b' ');
    string(out, &part.encoding, utf8);
    out.extend_from_slice(format!(" {}", part.size).as_bytes());
    // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
    if let Some(message) = &part.message {
        out.push(b' ');
        envelope(out, &message.envelope, utf8);
        out.push(b' ');
        body(out, &message.body, extended, utf8);
        out.extend_from_slice(format!(" {}", part.lines).as_bytes());
    } else if part.media_type == "text" {
        // body-type-text = media-text SP body-fields SP body-fld-lines
        out.extend_from_slice(format!(" {}", part.lines).as_bytes());
    }
    if extended {
        // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
        out.push(b' ');
        text(out, part.md5.as_ref(), utf8);
        out.push(b' ');
        disposition(out, part.disposition.as_ref(), utf8);
        out.push(b' ');
        language(out, &part.language, utf8);
        out.push(b' ');
        text(out, part.location.as_ref(), utf8);
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use axigen_core::structure::parse_structure;

    use super::*;

    #[test]
    fn plain_text_bodystructure() {
        let raw = b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
        let s = parse_structure(raw);
        let mut out = Vec::new();
        body(&mut out, &s.body, true, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 7 1"), "{text}");
        let mut out = Vec::new();
        envelope(&mut out, &s.envelope, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("(NIL \"hi\" ((NIL NIL \"a\" \"example.com\"))"), "{text}");
    }

    #[test]
    fn multipart_bodystructure() {
        let raw = b"Subject: m\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n--b--\r\n";
        let s = parse_structure(raw);
        let mut out = Vec::new();
        body(&mut out, &s.body, false, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("((\"text\" \"plain\""), "{text}");
        assert!(text.ends_with(" \"mixed\")"), "{text}");
    }
}
