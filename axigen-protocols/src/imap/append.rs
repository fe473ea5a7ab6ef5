//! APPEND (RFC 9051 6.3.12), with MULTIAPPEND (RFC 3502), CATENATE
//! (RFC 4469), literal8 (RFC 3516 4.4) and the UTF8 data item of
//! UTF8=ACCEPT (RFC 6855 4).

use super::command::{CommandBody, CommandWriter};
use super::datetime::DateTime;
use super::encode;
use super::parser::{PResult, Parser, syntax};
use super::types::{Flag, MailboxName};

/// One message of APPEND (RFC 9051 6.3.12; several with MULTIAPPEND,
/// RFC 3502 6.3.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set on the new message.
    pub flags: Vec<Flag>,
    /// The INTERNALDATE to give it.
    pub date: Option<DateTime>,
    /// The message octets.
    pub data: Vec<u8>,
    /// Sent as `literal8` (`~{n}`, RFC 3516 4.4): may hold NUL and binary.
    pub binary: bool,
    /// Sent as `UTF8 (~{n})` (RFC 6855 4): the message may have UTF-8 headers.
    pub utf8: bool,
    /// `CATENATE (...)` (RFC 4469 5): the message is these parts joined;
    /// `data` is then empty.
    pub catenate: Option<Vec<CatPart>>,
}

/// One part of a CATENATE (RFC 4469 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`: octets as sent (a literal8 with BINARY).
    Text(Vec<u8>),
    /// `URL astring`: an IMAP URL (RFC 5092) naming a message or a part of
    /// one the user may read.
    Url(String),
}

/// ```abnf
/// cat-part        = text-literal / url
/// text-literal    = "TEXT" SP literal
/// url             = "URL" SP astring
/// ```
fn cat_part(p: &mut Parser<'_>) -> PResult<CatPart> {
    if p.keyword("TEXT") {
        p.sp()?;
        if !matches!(p.peek(), Some(b'{') | Some(b'~')) {
            return Err(syntax("TEXT takes a literal (RFC 4469 5)"));
        }
        let (data, _) = p.literal(true)?;
        Ok(CatPart::Text(data.to_vec()))
    } else if p.keyword("URL") {
        p.sp()?;
        let url = p.astring()?;
        String::from_utf8(url.into_owned()).map(CatPart::Url).map_err(|_| syntax("URL is not UTF-8"))
    } else {
        Err(syntax("expected TEXT or URL (RFC 4469 5)"))
    }
}

/// ```abnf
/// append          = "APPEND" SP mailbox 1*append-message   ; RFC 3502
/// append-message  = append-opts SP append-data
/// append-opts     = [SP flag-list] [SP date-time] *(SP append-ext)
/// append-data     = literal / literal8 / append-data-ext   ; RFC 3516
/// append-data-ext =/ "UTF8" SP "(" literal8 ")"            ; RFC 6855
/// append-data     =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"
///                                                          ; RFC 4469
/// ```
pub(crate) fn parse(p: &mut Parser<'_>) -> PResult<CommandBody> {
    p.sp()?;
    let mailbox = p.mailbox()?;
    let mut messages = Vec::new();
    loop {
        p.sp()?;
        // Leniency: imapclient puts two spaces between the messages of a
        // MULTIAPPEND; Dovecot takes them, so do we.
        if !messages.is_empty() {
            while p.peek() == Some(b' ') {
                p.sp()?;
            }
        }
        let flags = if p.peek() == Some(b'(') {
            let flags = p.flag_list()?;
            p.sp()?;
            flags
        } else {
            Vec::new()
        };
        let date = if p.peek() == Some(b'"') {
            let date = p.date_time()?;
            p.sp()?;
            Some(date)
        } else {
            None
        };
        let (data, binary, utf8, catenate) = if p.keyword("CATENATE") {
            p.sp()?;
            let parts = p.list1(cat_part)?;
            (&[][..], false, false, Some(parts))
        } else if p.keyword("UTF8") {
            p.sp()?;
            p.expect(b'(', "expected '(' after UTF8")?;
            if p.peek() != Some(b'~') {
                return Err(syntax("UTF8 takes a literal8 (RFC 6855 4)"));
            }
            let (data, _) = p.literal(true)?;
            p.expect(b')', "expected ')' after the literal8")?;
            (data, true, true, None)
        } else {
            if !matches!(p.peek(), Some(b'{') | Some(b'~')) {
                return Err(syntax("APPEND needs the message as a literal"));
            }
            let (data, binary) = p.literal(true)?;
            (data, binary, false, None)
        };
        messages.push(AppendMessage { flags, date, data: data.to_vec(), binary, utf8, catenate });
        if p.at_end() || (p.peek() == Some(b' ') && matches!(p.peek_at(1), None | Some(b'\r') | Some(b'\n'))) {
            break;
        }
    }
    Ok(CommandBody::Append { mailbox, messages })
}

pub(crate) fn encode(w: &mut CommandWriter, mailbox: &MailboxName, messages: &[AppendMessage]) {
    w.sp();
    w.mailbox(mailbox);
    for m in messages {
        if !m.flags.is_empty() {
            w.sp();
            encode::flag_list(&mut w.buf, &m.flags);
        }
        if let Some(date) = &m.date {
            w.raw(&format!(" \"{date}\""));
        }
        w.sp();
        if let Some(parts) = &m.catenate {
            w.raw("CATENATE (");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    w.sp();
                }
                match part {
                    CatPart::Text(data) => {
                        w.raw(if data.contains(&0) { "TEXT ~" } else { "TEXT " });
                        encode::literal(&mut w.buf, data, true);
                    }
                    CatPart::Url(url) => {
                        w.raw("URL ");
                        w.astring(url.as_bytes());
                    }
                }
            }
            w.raw(")");
            continue;
        }
        if m.utf8 {
            w.raw("UTF8 (");
        }
        w.raw(if m.binary || m.utf8 { "~" } else { "" });
        encode::literal(&mut w.buf, &m.data, true);
        if m.utf8 {
            w.raw(")");
        }
    }
}
