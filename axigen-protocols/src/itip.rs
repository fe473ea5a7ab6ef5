//! iTIP scheduling (RFC 5546) carried by mail (iMIP, RFC 6047): what an
//! event says about its organizer and attendees, the edits scheduling
//! makes to an event (METHOD, an attendee's PARTSTAT, a cancellation), the
//! invitation mail, and finding the calendar part of a received message.
//!
//! Edits work on the object's content lines and leave every line they do
//! not change as the client wrote it (folding included): an invitation
//! stored in an attendee's calendar keeps the organizer's bytes.

use std::fmt::Write as _;

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::mime::MimePart;
use mail_parser::MimeHeaders as _;

/// An iTIP method (RFC 5546 1.4) that mail scheduling uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// An invitation or an update of one.
    Request,
    /// The organizer cancelled the event (or removed the attendee).
    Cancel,
    /// An attendee's answer.
    Reply,
}

impl Method {
    /// The METHOD value.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Request => "REQUEST",
            Method::Cancel => "CANCEL",
            Method::Reply => "REPLY",
        }
    }

    fn parse(s: &str) -> Option<Method> {
        match s.trim().to_ascii_uppercase().as_str() {
            "REQUEST" => Some(Method::Request),
            "CANCEL" => Some(Method::Cancel),
            "REPLY" => Some(Method::Reply),
            _ => None,
        }
    }
}

/// One ATTENDEE of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attendee {
    /// The address, lower-cased, without `mailto:`.
    pub address: String,
    /// PARTSTAT, upper-cased, if given.
    pub partstat: Option<String>,
    /// `SCHEDULE-AGENT=CLIENT` (RFC 6638 7.1): the client schedules this
    /// attendee itself, the server sends nothing.
    pub client_scheduled: bool,
}

/// What scheduling needs to know of an iCalendar object with events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduling {
    /// The VCALENDAR's METHOD, if any.
    pub method: Option<Method>,
    /// The events' UID.
    pub uid: String,
    /// The ORGANIZER's address (lower-cased, without `mailto:`).
    pub organizer: Option<String>,
    /// Every ATTENDEE of every VEVENT, once per address.
    pub attendees: Vec<Attendee>,
    /// The first SUMMARY.
    pub summary: String,
    /// The highest SEQUENCE.
    pub sequence: i64,
    /// The properties whose change makes an update worth sending (times,
    /// recurrence, place, title, status, sequence), as text.
    pub fingerprint: String,
}

/// One content line, unfolded, with the physical text it came from.
struct Line<'a> {
    /// The unfolded logical line.
    text: String,
    /// The original physical line(s), CRLF or LF included.
    raw: &'a str,
}

/// Splits iCalendar text into logical lines (RFC 5545 3.1 unfolding).
fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out: Vec<Line<'_>> = Vec::new();
    let mut start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let next = bytes.get(i + 1).copied();
            if matches!(next, Some(b' ') | Some(b'\t')) {
                i += 1;
                continue;
            }
            out.push(logical(&text[start..=i]));
            start = i + 1;
        }
        i += 1;
    }
    if start < text.len() {
        out.push(logical(&text[start..]));
    }
    out
}

fn logical(raw: &str) -> Line<'_> {
    let mut text = String::with_capacity(raw.len());
    for (n, piece) in raw.split('\n').enumerate() {
        let piece = piece.strip_suffix('\r').unwrap_or(piece);
        text.push_str(if n == 0 { piece } else { piece.get(1..).unwrap_or("") });
    }
    Line { text, raw }
}

/// A content line's name, parameters and value (RFC 5545 3.1): the value
/// starts at the first `:` outside a quoted parameter value.
fn split(line: &str) -> (String, Vec<(String, String)>, &str) {
    let mut quoted = false;
    let mut colon = line.len();
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => {
                colon = i;
                break;
            }
            _ => {}
        }
    }
    let head = &line[..colon];
    let value = line.get(colon + 1..).unwrap_or("");
    let mut parts = Vec::new();
    let mut current = String::new();
    quoted = false;
    for c in head.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    let name = parts.first().map(|n| n.to_ascii_uppercase()).unwrap_or_default();
    let params = parts
        .iter()
        .skip(1)
        .filter_map(|p| p.split_once('=').map(|(k, v)| (k.to_ascii_uppercase(), v.to_owned())))
        .collect();
    (name, params, value)
}

/// `mailto:ADDR` (any case) as a lower-cased address.
fn mailto(value: &str) -> Option<String> {
    let v = value.trim();
    let rest = v.get(..7).filter(|p| p.eq_ignore_ascii_case("mailto:")).map(|_| &v[7..])?;
    let rest = rest.trim();
    (!rest.is_empty()).then(|| rest.to_ascii_lowercase())
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim_matches('"'))
}

/// Folds a logical line at 75 octets (RFC 5545 3.1), never inside a
/// UTF-8 sequence, with CRLF.
fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
    out
}

/// Reads the scheduling facts of an object; `None` when it has no VEVENT
/// with a UID.
pub fn read(text: &str) -> Option<Scheduling> {
    let mut stack: Vec<String> = Vec::new();
    let mut s = Scheduling {
        method: None,
        uid: String::new(),
        organizer: None,
        attendees: Vec::new(),
        summary: String::new(),
        sequence: 0,
        fingerprint: String::new(),
    };
    let mut prints: Vec<String> = Vec::new();
    for line in lines(text) {
        let (name, params, value) = split(&line.text);
        match name.as_str() {
            "BEGIN" => stack.push(value.trim().to_ascii_uppercase()),
            "END" => {
                stack.pop();
            }
            _ => {}
        }
        let here = stack.last().map(String::as_str);
        if here == Some("VCALENDAR") && stack.len() == 1 && name == "METHOD" {
            s.method = Method::parse(value);
        }
        if here != Some("VEVENT") || name == "BEGIN" {
            continue;
        }
        match name.as_str() {
            "UID" if s.uid.is_empty() => s.uid = value.trim().to_owned(),
            "ORGANIZER" if s.organizer.is_none() => s.organizer = mailto(value),
            "ATTENDEE" => {
                if let Some(address) = mailto(value)
                    && !s.attendees.iter().any(|a| a.address == address)
                {
                    s.attendees.push(Attendee {
                        address,
                        partstat: param(&params, "PARTSTAT").map(str::to_ascii_uppercase),
                        client_scheduled: param(&params, "SCHEDULE-AGENT")
                            .is_some_and(|a| a.eq_ignore_ascii_case("CLIENT")),
                    });
                }
            }
            "SUMMARY" if s.summary.is_empty() => s.summary = value.replace("\\,", ",").replace("\\;", ";"),
            "SEQUENCE" => s.sequence = s.sequence.max(value.trim().parse().unwrap_or(0)),
            _ => {}
        }
        if matches!(
            name.as_str(),
            "DTSTART"
                | "DTEND"
                | "DURATION"
                | "RRULE"
                | "RDATE"
                | "EXDATE"
                | "RECURRENCE-ID"
                | "LOCATION"
                | "SUMMARY"
                | "STATUS"
                | "SEQUENCE"
        ) {
            prints.push(line.text.clone());
        }
    }
    if s.uid.is_empty() {
        return None;
    }
    prints.sort();
    s.fingerprint = prints.join("\n");
    Some(s)
}

/// Rewrites the lines `edit` returns `Some` for (a logical line, folded
/// again); `insert_before_end` adds lines before the END of the named
/// components that did not get them.
fn rewrite(text: &str, mut edit: impl FnMut(&[String], &str, &str) -> Option<Option<String>>) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut stack: Vec<String> = Vec::new();
    for line in lines(text) {
        let (name, _, value) = split(&line.text);
        if name == "BEGIN" {
            stack.push(value.trim().to_ascii_uppercase());
        }
        match edit(&stack, &name, &line.text) {
            None => out.push_str(line.raw),
            Some(None) => {}
            Some(Some(replacement)) => {
                for l in replacement.split('\n').filter(|l| !l.is_empty()) {
                    out.push_str(&fold(l));
                }
            }
        }
        if name == "END" {
            stack.pop();
        }
    }
    out
}

/// The object with its VCALENDAR METHOD set to `method` (or removed:
/// what a calendar collection stores, RFC 4791 4.1).
pub fn with_method(text: &str, method: Option<Method>) -> String {
    rewrite(text, |stack, name, line| {
        if stack.len() != 1 {
            return None;
        }
        match name {
            "METHOD" => Some(None),
            "BEGIN" => method.map(|m| Some(format!("{line}\nMETHOD:{}", m.as_str()))),
            _ => None,
        }
    })
}

/// The object with `address`'s PARTSTAT set on every ATTENDEE line that
/// names it (RSVP dropped once answered).
pub fn with_partstat(text: &str, address: &str, partstat: &str) -> String {
    let address = address.to_ascii_lowercase();
    rewrite(text, |_, name, line| {
        if name != "ATTENDEE" {
            return None;
        }
        let (_, params, value) = split(line);
        if mailto(value).as_deref() != Some(address.as_str()) {
            return None;
        }
        let mut rebuilt = String::from("ATTENDEE");
        for (k, v) in &params {
            if k == "PARTSTAT" || (k == "RSVP" && partstat != "NEEDS-ACTION") {
                continue;
            }
            let _ = write!(rebuilt, ";{k}={v}");
        }
        let _ = write!(rebuilt, ";PARTSTAT={partstat}:{value}");
        Some(Some(rebuilt))
    })
}

/// The object with only `address`'s ATTENDEE lines (what a REPLY
/// carries, RFC 5546 3.2.3).
pub fn only_attendee(text: &str, address: &str) -> String {
    let address = address.to_ascii_lowercase();
    rewrite(text, |_, name, line| {
        if name != "ATTENDEE" {
            return None;
        }
        let (_, _, value) = split(line);
        (mailto(value).as_deref() != Some(address.as_str())).then_some(None)
    })
}

/// The object with every VEVENT's STATUS set to CANCELLED.
pub fn cancelled(text: &str) -> String {
    let mut has_status = false;
    rewrite(text, |stack, name, _| {
        if stack.last().map(String::as_str) != Some("VEVENT") {
            return None;
        }
        match name {
            "BEGIN" => {
                has_status = false;
                None
            }
            "STATUS" => {
                has_status = true;
                Some(Some("STATUS:CANCELLED".into()))
            }
            "END" if !has_status => Some(Some("STATUS:CANCELLED\nEND:VEVENT".into())),
            _ => None,
        }
    })
}

/// An iMIP message (RFC 6047 2): a short text for people and the iTIP
/// object as `text/calendar; method=...`.
pub fn mail(from: &str, to: &[String], method: Method, object: &str, summary: &str, hostname: &str) -> Vec<u8> {
    let title = if summary.is_empty() { "(no title)" } else { summary };
    let (subject, text) = match method {
        Method::Request => (format!("Invitation: {title}"), format!("{from} invites you to \"{title}\".\r\n")),
        Method::Cancel => (format!("Cancelled: {title}"), format!("{from} cancelled \"{title}\".\r\n")),
        Method::Reply => (format!("Reply: {title}"), format!("{from} answered the invitation to \"{title}\".\r\n")),
    };
    let now = axigen_core::unix_now() as i64;
    let unique: u64 = rand::random();
    let calendar = MimePart::new(
        ContentType::new("text/calendar").attribute("method", method.as_str()).attribute("charset", "utf-8"),
        object.to_owned(),
    );
    let body = MimePart::new("multipart/alternative", vec![MimePart::new("text/plain", text), calendar]);
    let recipients: Vec<&str> = to.iter().map(String::as_str).collect();
    MessageBuilder::new()
        .from(from)
        .to(recipients)
        .subject(subject)
        .date(now)
        .message_id(format!("itip.{unique:016x}.{now}@{hostname}"))
        .body(body)
        .write_to_vec()
        .unwrap_or_default()
}

/// The first `text/calendar` part of a message, decoded, if any.
pub fn calendar_part(raw: &[u8]) -> Option<String> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    message.parts.iter().find_map(|part| {
        let ct = part.content_type()?;
        let is_calendar =
            ct.ctype().eq_ignore_ascii_case("text") && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("calendar"));
        if !is_calendar {
            return None;
        }
        match &part.body {
            mail_parser::PartType::Text(t) => Some(t.to_string()),
            mail_parser::PartType::Binary(b) | mail_parser::PartType::InlineBinary(b) => {
                String::from_utf8(b.to_vec()).ok()
            }
            _ => None,
        }
    })
}

/// A resource name for an object UID: the UID when it is a safe path
/// segment, else its BLAKE3 hash, with `.ics`.
pub fn resource_name(uid: &str) -> String {
    let safe = !uid.is_empty()
        && uid.len() <= 200
        && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.@+".contains(&b))
        && !uid.starts_with('.');
    if safe {
        format!("{uid}.ics")
    } else {
        format!("{}.ics", &axigen_core::mailstore::BlobId::of(uid.as_bytes()).to_hex()[..32])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:ev-1@example.com\r\n\
DTSTAMP:20260101T000000Z\r\nDTSTART:20260301T100000Z\r\nDTEND:20260301T110000Z\r\nSUMMARY:Planning\\, Q2\r\n\
ORGANIZER;CN=Ann:mailto:Ann@Example.com\r\nATTENDEE;CN=\"Bob: the builder\";RSVP=TRUE;PARTSTAT=NEEDS-ACTIO\r\n N:mailto:bob@example.com\r\n\
ATTENDEE;SCHEDULE-AGENT=CLIENT:mailto:carol@remote.example\r\nX-KEPT;X-P=\"a:b\":as written\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn reading_an_event() {
        let s = read(EVENT).unwrap();
        assert_eq!(s.uid, "ev-1@example.com");
        assert_eq!(s.organizer.as_deref(), Some("ann@example.com"));
        assert_eq!(s.summary, "Planning, Q2");
        assert_eq!(s.method, None);
        assert_eq!(s.attendees.len(), 2);
        assert_eq!(s.attendees[0].address, "bob@example.com");
        assert_eq!(s.attendees[0].partstat.as_deref(), Some("NEEDS-ACTION"));
        assert!(!s.attendees[0].client_scheduled && s.attendees[1].client_scheduled);
        assert!(s.fingerprint.contains("DTSTART:20260301T100000Z"));
        assert!(read("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").is_none());
    }

    #[test]
    fn edits_keep_other_lines_as_written() {
        let request = with_method(EVENT, Some(Method::Request));
        assert!(request.starts_with("BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nVERSION:2.0\r\n"), "{request}");
        assert_eq!(read(&request).unwrap().method, Some(Method::Request));
        assert_eq!(with_method(&request, None), EVENT);
        let accepted = with_partstat(EVENT, "BOB@example.com", "ACCEPTED");
        let bob = read(&accepted).unwrap().attendees.remove(0);
        assert_eq!(bob.partstat.as_deref(), Some("ACCEPTED"));
        assert!(accepted.contains("CN=\"Bob: the builder\"") && !accepted.contains("RSVP"), "{accepted}");
        assert!(accepted.contains("X-KEPT;X-P=\"a:b\":as written\r\n"));
        // Lines are folded at 75 octets.
        assert!(accepted.split("\r\n").all(|l| l.len() <= 75), "{accepted}");
        let reply = only_attendee(EVENT, "bob@example.com");
        let who: Vec<String> = read(&reply).unwrap().attendees.into_iter().map(|a| a.address).collect();
        assert_eq!(who, ["bob@example.com"]);
        let gone = cancelled(EVENT);
        assert!(gone.contains("STATUS:CANCELLED\r\nEND:VEVENT"), "{gone}");
        assert_eq!(cancelled(&gone).matches("STATUS:CANCELLED").count(), 1);
    }

    #[test]
    fn mail_and_back() {
        let object = with_method(EVENT, Some(Method::Request));
        let raw = mail("ann@example.com", &["bob@example.com".into()], Method::Request, &object, "Planning", "mx.test");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Subject: Invitation: Planning"), "{text}");
        assert!(text.contains("method=REQUEST") || text.contains("method=\"REQUEST\""), "{text}");
        let part = calendar_part(&raw).unwrap();
        assert_eq!(read(&part).unwrap().uid, "ev-1@example.com");
        assert_eq!(resource_name("ev-1@example.com"), "ev-1@example.com.ics");
        assert_eq!(resource_name("a/b").len(), 36);
    }
}
