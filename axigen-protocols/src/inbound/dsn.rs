//! Delivery status notifications (RFC 3464, RFC 6522 multipart/report) for
//! recipients that refused a message the server had to accept for others.
//! A notification is never sent for a message with the null reverse path
//! (RFC 5321 6.1: no bounce of a bounce).

use axigen_core::delivery::Refusal;

/// One failed recipient.
#[derive(Debug, Clone)]
pub struct Failure<'a> {
    /// The recipient address.
    pub recipient: &'a str,
    /// Why it failed.
    pub refusal: &'a Refusal,
}

/// Builds the notification message to `sender` about `failures` of the
/// message whose full content (headers included) is `original`.
pub fn build(hostname: &str, sender: &str, original: &[u8], failures: &[Failure<'_>], now: i64, id: &str) -> Vec<u8> {
    let boundary = format!("=_dsn_{id}_{now}");
    let date = super::rfc5322_date(now);
    let headers_end = find_header_end(original);
    let original_headers = &original[..headers_end];

    let mut human = format!(
        "This is the mail system at {hostname}.\r\n\r\nYour message could not be delivered to the following \
         recipient(s). It was delivered to the others.\r\n\r\n"
    );
    for f in failures {
        human.push_str(&format!("  <{}>: {}\r\n", f.recipient, f.refusal));
    }

    let mut status = format!("Reporting-MTA: dns; {hostname}\r\nArrival-Date: {date}\r\n");
    for f in failures {
        let (a, b, c) = f.refusal.enhanced;
        let action = if f.refusal.code >= 500 { "failed" } else { "delayed" };
        status.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: {action}\r\nStatus: {a}.{b}.{c}\r\nDiagnostic-Code: smtp; {}\r\n",
            f.recipient, f.refusal
        ));
    }

    let mut m = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: <{sender}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {date}\r\n\
         Message-ID: <dsn.{id}.{now}@{hostname}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         {human}\r\n\
         --{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         {status}\r\n\
         --{boundary}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n"
    )
    .into_bytes();
    m.extend_from_slice(original_headers);
    m.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    m
}

/// Offset just past the header block (the CRLF before the empty line), or
/// the whole message if it has no body.
fn find_header_end(m: &[u8]) -> usize {
    m.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(m.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_names_each_failure_and_carries_the_headers() {
        let refusal = Refusal { code: 552, enhanced: (5, 2, 2), text: "mailbox of <b@x.org> is full".into() };
        let original = b"Subject: hi\r\nFrom: a@y.org\r\n\r\nsecret body\r\n";
        let m = build("mx.x.org", "a@y.org", original, &[Failure { recipient: "b@x.org", refusal: &refusal }], 0, "s1");
        let text = String::from_utf8(m).unwrap();
        assert!(text.contains("report-type=delivery-status"));
        assert!(text.contains("Final-Recipient: rfc822; b@x.org\r\nAction: failed\r\nStatus: 5.2.2"));
        assert!(text.contains("Subject: hi\r\n"));
        assert!(!text.contains("secret body"), "only the headers are returned");
        let parsed = mail_parser::MessageParser::default().parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.subject(), Some("Undelivered Mail Returned to Sender"));
        assert_eq!(parsed.parts.len(), 4, "multipart/report with three parts");
    }
}
