//! The `Received:` trace header (RFC 5321 4.4) and RFC 5322 dates.

use std::net::IpAddr;

/// What the trace header records about one SMTP transaction.
#[derive(Debug, Clone)]
pub struct Trace<'a> {
    /// The client's EHLO/HELO argument.
    pub helo: Option<&'a str>,
    /// The client's address.
    pub peer: IpAddr,
    /// Our host name.
    pub by: &'a str,
    /// EHLO (ESMTP) rather than HELO.
    pub esmtp: bool,
    /// Over TLS.
    pub tls: bool,
    /// After AUTH.
    pub authenticated: bool,
    /// With SMTPUTF8 (RFC 6531).
    pub utf8: bool,
    /// Session id, for finding the log lines.
    pub id: &'a str,
    /// The recipient, when there is exactly one (RFC 5321 4.4 "for" clause).
    pub for_recipient: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// The `with` protocol name (RFC 3848, RFC 6531 4.3).
fn protocol(t: &Trace<'_>) -> String {
    let base = match (t.utf8, t.esmtp) {
        (true, _) => "UTF8SMTP",
        (false, true) => "ESMTP",
        (false, false) => "SMTP",
    };
    if !t.esmtp && !t.utf8 {
        return base.into();
    }
    format!("{base}{}{}", if t.tls { "S" } else { "" }, if t.authenticated { "A" } else { "" })
}

/// Characters allowed in the `from` clause's domain as we print it: the
/// client's EHLO text is untrusted, so anything else becomes `_`.
fn sanitize(s: &str) -> String {
    s.chars().take(255).map(|c| if c.is_ascii_alphanumeric() || ".-[]:_".contains(c) { c } else { '_' }).collect()
}

/// The complete header line, CRLF-terminated and folded below 78 columns
/// where it can be.
pub fn received_header(t: &Trace<'_>) -> String {
    let helo = t.helo.map(sanitize).unwrap_or_else(|| "unknown".into());
    let mut h = format!("Received: from {helo} ([{}])\r\n\tby {} with {} id {}", t.peer, t.by, protocol(t), t.id);
    if let Some(rcpt) = t.for_recipient {
        let clean: String = rcpt.chars().filter(|c| !c.is_control() && *c != '<' && *c != '>').take(320).collect();
        h.push_str(&format!("\r\n\tfor <{clean}>"));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(t.now)));
    h
}

/// `Sat, 28 Nov 2026 11:41:25 +0000` (RFC 5322 3.3), in UTC.
pub fn rfc5322_date(unix: i64) -> String {
    crate::http::utc_date(unix, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_795_866_085), "Sat, 28 Nov 2026 11:41:25 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn header_names_protocol_and_cleans_helo() {
        let t = Trace {
            helo: Some("evil\r\nX-Injected: yes"),
            peer: "192.0.2.7".parse().unwrap(),
            by: "mx.example.com",
            esmtp: true,
            tls: true,
            authenticated: true,
            utf8: false,
            id: "s1",
            for_recipient: Some("bob@example.com"),
            now: 0,
        };
        let h = received_header(&t);
        assert!(h.starts_with(
            "Received: from evil__X-Injected:_yes ([192.0.2.7])\r\n\tby mx.example.com with ESMTPSA id s1"
        ));
        assert!(h.contains("for <bob@example.com>"));
        assert!(h.ends_with("+0000\r\n"));
        assert_eq!(h.matches("\r\n").count(), 4, "only our own line breaks: {h:?}");
    }
}
