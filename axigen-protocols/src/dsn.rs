//! Delivery status notifications (RFC 3464 in an RFC 6522
//! `multipart/report`), built with mail-builder: to the sender of a message
//! that failed for some recipients (refused after the message was accepted
//! for others, refused by the remote host, expired in the queue) or that is
//! delayed.
//!
//! A notification goes out with the null reverse path and is never sent
//! about a message that had the null reverse path itself (RFC 5321 6.1: no
//! bounce of a bounce); that check is the caller's. Only the original's
//! header is returned (`text/rfc822-headers`), never its body.

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

use crate::inbound::rfc5322_date;

/// What happened to one recipient (RFC 3464 2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Given up.
    Failed,
    /// Still being tried.
    Delayed,
}

/// One recipient's part of the report.
#[derive(Debug, Clone)]
pub struct RecipientReport<'a> {
    /// The recipient address.
    pub recipient: &'a str,
    /// Failed or delayed.
    pub action: Action,
    /// The enhanced status code (RFC 3463).
    pub status: (u8, u16, u16),
    /// The reply or reason, as given (e.g. `550 5.1.1 no such user`).
    pub diagnostic: &'a str,
    /// The remote host that answered, if one did.
    pub remote_mta: Option<&'a str>,
}

/// A notification about one message.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    /// This server's name (`Reporting-MTA`, the From domain).
    pub reporting_mta: &'a str,
    /// The envelope sender of the original, who gets the report.
    pub sender: &'a str,
    /// The original message (its header is returned).
    pub original: &'a [u8],
    /// When the original arrived (Unix seconds).
    pub arrival: i64,
    /// The recipients reported on.
    pub recipients: Vec<RecipientReport<'a>>,
    /// For delays: until when delivery goes on (Unix seconds).
    pub will_retry_until: Option<i64>,
    /// Now (Unix seconds).
    pub now: i64,
    /// Something unique to this report (Message-ID, boundary).
    pub id: &'a str,
}

/// The end of the original's header block (the CRLF before the empty line
/// included), or the whole message if it has no body.
fn header_end(m: &[u8]) -> usize {
    m.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(m.len())
}

/// A leaf part written as given (7bit, no charset added).
fn verbatim(content_type: &'static str, body: Vec<u8>) -> MimePart<'static> {
    MimePart {
        headers: vec![("Content-Type".into(), ContentType::new(content_type).into())],
        contents: BodyPart::Binary(body.into()),
    }
    .transfer_encoding("7bit")
}

/// Lines of a machine-readable field cannot carry CR or LF.
fn field(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// The notification, ready to deliver.
pub fn build(report: &Report<'_>) -> Vec<u8> {
    let failed = report.recipients.iter().any(|r| r.action == Action::Failed);
    let mut human = format!("This is the mail system at {}.\r\n\r\n", report.reporting_mta);
    if failed {
        human.push_str("Your message could not be delivered to the following recipient(s):\r\n\r\n");
    } else {
        human
            .push_str("Your message has not been delivered yet to the following recipient(s). It is still being tried");
        if let Some(until) = report.will_retry_until {
            human.push_str(&format!(" until {}", rfc5322_date(until)));
        }
        human.push_str("; you do not need to send it again.\r\n\r\n");
    }
    for r in &report.recipients {
        let what = if r.action == Action::Failed { "failed" } else { "delayed" };
        human.push_str(&format!("  <{}> ({what}): {}\r\n", r.recipient, field(r.diagnostic)));
    }

    let mut status =
        format!("Reporting-MTA: dns; {}\r\nArrival-Date: {}\r\n", report.reporting_mta, rfc5322_date(report.arrival));
    for r in &report.recipients {
        let (a, b, c) = r.status;
        let action = if r.action == Action::Failed { "failed" } else { "delayed" };
        status.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: {action}\r\nStatus: {a}.{b}.{c}\r\n",
            field(r.recipient)
        ));
        if let Some(mta) = r.remote_mta {
            status.push_str(&format!("Remote-MTA: dns; {}\r\n", field(mta)));
        }
        status.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", field(r.diagnostic)));
        status.push_str(&format!("Last-Attempt-Date: {}\r\n", rfc5322_date(report.now)));
        if let (Action::Delayed, Some(until)) = (r.action, report.will_retry_until) {
            status.push_str(&format!("Will-Retry-Until: {}\r\n", rfc5322_date(until)));
        }
    }
    let headers = report.original[..header_end(report.original)].to_vec();

    let parts = vec![
        MimePart::new("text/plain", human),
        verbatim("message/delivery-status", status.into_bytes()),
        verbatim("text/rfc822-headers", headers),
    ];
    let body = MimePart::new(ContentType::new("multipart/report").attribute("report-type", "delivery-status"), parts);
    let subject = if failed { "Undelivered Mail Returned to Sender" } else { "Delayed Mail (still being retried)" };
    let from = format!("MAILER-DAEMON@{}", report.reporting_mta);
    MessageBuilder::new()
        .from(("Mail Delivery System", from.as_str()))
        .to(report.sender)
        .subject(subject)
        .date(report.now)
        .message_id(format!("dsn.{}.{}@{}", report.id, report.now, report.reporting_mta))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(body)
        .write_to_vec()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report<'a>(recipients: Vec<RecipientReport<'a>>, until: Option<i64>) -> Report<'a> {
        Report {
            reporting_mta: "mx.x.org",
            sender: "a@y.org",
            original: b"Subject: hi\r\nFrom: a@y.org\r\n\r\nsecret body\r\n",
            arrival: 0,
            recipients,
            will_retry_until: until,
            now: 3600,
            id: "q1",
        }
    }

    #[test]
    fn failures_carry_the_status_the_remote_host_and_the_headers() {
        let m = build(&report(
            vec![RecipientReport {
                recipient: "b@x.org",
                action: Action::Failed,
                status: (5, 1, 1),
                diagnostic: "550 5.1.1 no such user\r\nsecond line",
                remote_mta: Some("mx1.x.org"),
            }],
            None,
        ));
        let text = String::from_utf8(m).unwrap();
        assert!(text.contains("report-type=delivery-status") || text.contains("report-type=\"delivery-status\""));
        assert!(text.contains("Final-Recipient: rfc822; b@x.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"), "{text}");
        assert!(text.contains("Remote-MTA: dns; mx1.x.org\r\n"));
        assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user  second line\r\n"));
        assert!(text.contains("Subject: hi\r\n"));
        assert!(!text.contains("secret body"), "only the headers are returned");
        let parsed = mail_parser::MessageParser::default().parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some("Undelivered Mail Returned to Sender"));
        assert_eq!(parsed.parts.len(), 4, "multipart/report with three parts");
        assert_eq!(parsed.header_raw("Auto-Submitted").map(str::trim), Some("auto-replied"));
    }

    #[test]
    fn delays_say_until_when() {
        let m = build(&report(
            vec![RecipientReport {
                recipient: "c@x.org",
                action: Action::Delayed,
                status: (4, 4, 1),
                diagnostic: "connection refused",
                remote_mta: None,
            }],
            Some(5 * 86_400),
        ));
        let text = String::from_utf8(m).unwrap();
        assert!(text.contains("Action: delayed\r\nStatus: 4.4.1\r\n"), "{text}");
        assert!(text.contains("Will-Retry-Until: "), "{text}");
        assert!(!text.contains("Remote-MTA"));
        let parsed = mail_parser::MessageParser::default().parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some("Delayed Mail (still being retried)"));
    }
}
