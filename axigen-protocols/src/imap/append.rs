//! APPEND (RFC 9051 6.3.12), with MULTIAPPEND (RFC 3502), literal8
//! (RFC 3516 4.4) and the UTF8 data item of UTF8=ACCEPT (RFC 6855 4).

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
}

/// ```abnf
/// append          = "APPEND" SP mailbox 1*append-message   ; RFC 3502
/// append-message  = append-opts SP append-data
/// append-opts     = [SP flag-list] [SP date-time] *(SP append-ext)
/// append-data     = literal / literal8 / append-data-ext   ; RFC 3516
/// append-data-ext =/ "UTF8" SP "(" literal8 ")"            ; RFC 6855
/// ```
/// `append-ext` (CATENATE and others) is not supported.
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
        let (data, binary, utf8) = if p.keyword("UTF8") {
            p.sp()?;
            p.expect(b'(', "expected '(' after UTF8")?;
            if p.peek() != Some(b'~') {
                return Err(syntax("UTF8 takes a literal8 (RFC 6855 4)"));
            }
            let (data, _) = p.literal(true)?;
            p.expect(b')', "expected ')' after the literal8")?;
            (data, true, true)
        } else {
            if !matches!(p.peek(), Some(b'{') | Some(b'~')) {
                return Err(syntax("APPEND needs the message as a literal"));
            }
            let (data, binary) = p.literal(true)?;
            (data, binary, false)
        };
        messages.push(AppendMessage { flags, date, data: data.to_vec(), binary, utf8 });
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
