//! Unit tests of the sans-IO session, with an in-memory stand-in for the
//! backend.

use super::*;
use axigen_core::model::{AccountId, Address};

fn info(role: Role, tls: bool) -> SessionInfo {
    SessionInfo {
        id: "t1".into(),
        peer: "192.0.2.1:40000".parse().unwrap(),
        local: "192.0.2.25:25".parse().unwrap(),
        role,
        tls,
        helo: None,
        esmtp: false,
        principal: None,
    }
}

struct Test {
    session: Session,
    /// Messages "delivered" by the fake backend.
    delivered: Vec<(Vec<String>, Vec<u8>)>,
}

fn principal() -> Principal {
    Principal { account: AccountId(7), address: Address::parse("user@example.com").unwrap() }
}

impl Test {
    fn with(config: SmtpConfig, tls: bool, starttls: bool) -> Test {
        let role = config.role;
        let session = Session::new(Arc::new(config), info(role, tls), starttls, |_| 100);
        Test { session, delivered: Vec::new() }
    }

    fn mx() -> Test {
        let mut t = Test::with(SmtpConfig::new("mx.example.org", Role::Mx), false, false);
        t.ok("EHLO client.example.net");
        t
    }

    fn submission_tls() -> Test {
        let mut t = Test::with(SmtpConfig::new("mx.example.org", Role::Submission), true, false);
        t.ok("EHLO client.example.net");
        t
    }

    /// Resolves backend calls like a small backend would; returns the
    /// replies of the final step (joined by newlines) and whether it closed.
    fn drive(&mut self, mut step: Step) -> String {
        loop {
            step = match step {
                Step::Call(call) => {
                    let outcome = self.backend(call);
                    self.session.on_backend(outcome)
                }
                Step::Reply(reply) | Step::ReadData(reply) | Step::StartTls(reply) => return reply.to_string(),
                Step::ReadChunk(n) => return format!("<read {n}>"),
                Step::Close(replies) => {
                    let texts: Vec<String> = replies.iter().map(Reply::to_string).collect();
                    return format!("{} <closed>", texts.join("\n"));
                }
            }
        }
    }

    fn backend(&mut self, call: Call) -> Outcome {
        match call {
            Call::Authenticate { user, password } => {
                Outcome::Authenticated(if user == "user@example.com" && password == "secret" {
                    Ok(principal())
                } else {
                    Err(Reply::new(535, (5, 7, 8), "Authentication credentials invalid"))
                })
            }
            Call::MailFrom { .. } => Outcome::MailFrom(Ok(())),
            Call::RcptTo { to } => Outcome::RcptTo(if to.ends_with("@example.com") {
                Ok(Recipient { address: to, local: Some(AccountId(1)) })
            } else {
                Err(Reply::new(550, (5, 1, 1), "No such user"))
            }),
            Call::Data { message } => {
                let envelope = self.session.envelope().unwrap();
                let rcpts = envelope.recipients.iter().map(|r| r.address.clone()).collect();
                self.delivered.push((rcpts, message.to_vec()));
                Outcome::Data(Reply::new(250, (2, 6, 0), "Message queued"))
            }
        }
    }

    /// Sends a command line; returns the reply text.
    fn send(&mut self, line: &str) -> String {
        let step = self.session.on_line(format!("{line}\r\n").as_bytes());
        self.drive(step)
    }

    /// Sends a command that must get a 2xx/3xx reply.
    fn ok(&mut self, line: &str) -> String {
        let reply = self.send(line);
        assert!(reply.starts_with('2') || reply.starts_with('3'), "{line} -> {reply}");
        reply
    }

    /// Feeds message text or chunk octets; returns the reply once complete
    /// and how many octets were used.
    fn feed(&mut self, bytes: &[u8]) -> (usize, String) {
        let (used, step) = self.session.on_data(bytes);
        (used, step.map(|s| self.drive(s)).unwrap_or_default())
    }

    fn transaction(&mut self) {
        self.ok("MAIL FROM:<sender@example.net>");
        self.ok("RCPT TO:<a@example.com>");
    }
}

#[test]
fn ehlo_lists_capabilities_by_listener_and_state() {
    let mut t = Test::with(SmtpConfig::new("mx.example.org", Role::Mx), false, false);
    assert_eq!(t.session.greeting().to_string(), "220 mx.example.org ESMTP ready");
    assert_eq!(
        t.send("EHLO client.example.net"),
        "250-mx.example.org greets client.example.net\r\n250-PIPELINING\r\n250-SIZE 100\r\n250-8BITMIME\r\n\
         250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250 BINARYMIME"
    );
    assert_eq!(t.send("HELO client.example.net"), "250 mx.example.org greets client.example.net");
    assert!(!t.session.info().esmtp);

    let ehlo = |config: SmtpConfig, tls: bool, starttls: bool| {
        let mut t = Test::with(config, tls, starttls);
        t.send("EHLO c")
    };
    let mx = ehlo(SmtpConfig::new("h", Role::Mx), false, true);
    assert!(mx.ends_with("250 STARTTLS") && !mx.contains("AUTH"), "{mx}");
    let plain_submission = ehlo(SmtpConfig::new("h", Role::Submission), false, true);
    assert!(plain_submission.contains("STARTTLS") && !plain_submission.contains("AUTH"), "{plain_submission}");
    let tls_submission = ehlo(SmtpConfig::new("h", Role::Submission), true, true);
    assert!(!tls_submission.contains("STARTTLS") && tls_submission.ends_with("250 AUTH PLAIN LOGIN"));
    let mut lax = SmtpConfig::new("h", Role::Submission);
    lax.allow_plaintext_auth = true;
    assert!(ehlo(lax, false, false).ends_with("250 AUTH PLAIN LOGIN"));
}

#[test]
fn a_transaction_and_its_reset() {
    let mut t = Test::mx();
    assert_eq!(t.send("MAIL FROM:<sender@example.net> BODY=8BITMIME"), "250 2.1.0 Sender OK");
    assert_eq!(t.send("RCPT TO:<a@example.com>"), "250 2.1.5 Recipient OK");
    assert_eq!(t.send("RCPT TO:<b@elsewhere.example>"), "550 5.1.1 No such user");
    assert_eq!(t.send("RCPT TO:<b@example.com>"), "250 2.1.5 Recipient OK");
    assert_eq!(t.send("DATA"), "354 Start mail input; end with <CRLF>.<CRLF>");
    let text = b"Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n";
    let (used, reply) = t.feed(text);
    assert_eq!(used, text.len() - 6);
    assert_eq!(reply, "250 2.6.0 Message queued");
    assert_eq!(
        t.delivered,
        vec![(vec!["a@example.com".into(), "b@example.com".into()], b"Subject: hi\r\n\r\n.dot\r\n".to_vec())]
    );
    assert!(t.session.envelope().is_none());
    // RSET drops a transaction.
    t.transaction();
    assert_eq!(t.send("RSET"), "250 2.0.0 OK");
    assert_eq!(t.send("RCPT TO:<a@example.com>"), "503 5.5.1 Need MAIL before RCPT");
    // A second EHLO does too (RFC 5321 4.1.4).
    t.transaction();
    t.ok("EHLO again");
    assert!(t.session.envelope().is_none());
    assert_eq!(t.send("QUIT"), "221 2.0.0 mx.example.org closing connection <closed>");
    assert!(t.session.is_closed());
}

#[test]
fn bad_sequences() {
    let mut t = Test::with(SmtpConfig::new("h", Role::Mx), false, false);
    assert_eq!(t.send("MAIL FROM:<a@example.net>"), "503 5.5.1 Send EHLO or HELO first");
    t.ok("HELO c");
    assert_eq!(t.send("DATA"), "503 5.5.1 Need MAIL before DATA");
    t.ok("MAIL FROM:<>");
    assert_eq!(t.send("MAIL FROM:<>"), "503 5.5.1 Nested MAIL command");
    assert_eq!(t.send("DATA"), "554 5.5.1 No valid recipients");
    assert_eq!(t.send("FROB"), "500 5.5.2 command unrecognized");
    assert_eq!(t.send("EXPN staff"), "502 5.5.1 command not implemented");
    assert_eq!(t.send("VRFY root"), "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
    assert!(t.send("HELP").starts_with("214 2.0.0 Commands:"));
    assert_eq!(t.send("NOOP"), "250 2.0.0 OK");
}

#[test]
fn limits_recipients_and_size() {
    let mut config = SmtpConfig::new("h", Role::Mx);
    config.max_recipients = 2;
    let mut t = Test::with(config, false, false);
    t.ok("EHLO c");
    assert_eq!(
        t.send("MAIL FROM:<a@example.net> SIZE=101"),
        "552 5.3.4 Message size exceeds fixed maximum message size (100 octets)"
    );
    t.ok("MAIL FROM:<a@example.net> SIZE=100");
    t.ok("RCPT TO:<a@example.com>");
    t.ok("RCPT TO:<b@example.com>");
    assert_eq!(t.send("RCPT TO:<c@example.com>"), "452 4.5.3 Too many recipients");
    t.ok("DATA");
    // 101 octets: read to the end marker, then refused.
    let mut text = vec![b'x'; 99];
    text.extend_from_slice(b"\r\n.\r\n");
    let (used, reply) = t.feed(&text);
    assert_eq!((used, reply.as_str()), (text.len(), "552 5.3.4 Message size exceeds fixed maximum message size"));
    assert!(t.session.envelope().is_none());
    assert!(t.delivered.is_empty());
}

#[test]
fn bare_line_ends_in_data_are_refused() {
    let mut t = Test::mx();
    t.transaction();
    t.ok("DATA");
    let (used, reply) = t.feed(b"a\n.\nRSET\r\n.\r\n");
    assert_eq!(used, 13);
    assert_eq!(reply, "554 5.6.0 Message contains bare CR or LF; lines must end with CRLF");
    assert!(t.delivered.is_empty());
}

#[test]
fn parameters_and_smtputf8() {
    let mut t = Test::mx();
    assert_eq!(t.send("MAIL FROM:<a@example.net> RET=FULL"), "555 5.5.4 MAIL parameter RET not supported");
    assert_eq!(t.send("MAIL FROM:<jö@example.net>"), "553 5.6.7 non-ASCII addresses need the SMTPUTF8 parameter");
    t.ok("MAIL FROM:<a@example.net>");
    assert_eq!(t.send("RCPT TO:<jö@example.com>"), "553 5.6.7 non-ASCII addresses need the SMTPUTF8 parameter");
    assert_eq!(t.send("RCPT TO:<a@example.com> NOTIFY=NEVER"), "555 5.5.4 RCPT parameter NOTIFY not supported");
    t.ok("RSET");
    t.ok("MAIL FROM:<jö@example.net> SMTPUTF8");
    assert_eq!(t.send("RCPT TO:<jö@example.com>"), "250 2.1.5 Recipient OK");
}

#[test]
fn too_many_errors_close_the_session() {
    let mut config = SmtpConfig::new("h", Role::Mx);
    config.max_errors = 3;
    let mut t = Test::with(config, false, false);
    assert_eq!(t.send("FOO"), "500 5.5.2 command unrecognized");
    assert_eq!(t.send("RCPT TO:<a@example.com>"), "503 5.5.1 Need MAIL before RCPT");
    // Backend refusals are not counted.
    t.ok("EHLO c");
    t.ok("MAIL FROM:<>");
    assert!(t.send("RCPT TO:<x@elsewhere.example>").starts_with("550"));
    assert_eq!(
        t.send("BAR"),
        "500 5.5.2 command unrecognized\n421 4.7.0 h too many errors, closing connection <closed>"
    );
    assert!(t.session.is_closed());
}

#[test]
fn line_too_long_is_an_error() {
    let mut t = Test::mx();
    let step = t.session.on_line_too_long();
    assert_eq!(t.drive(step), "500 5.5.6 Line too long");
}

#[test]
fn submission_requires_auth_and_auth_plain_works() {
    let mut t = Test::submission_tls();
    assert_eq!(t.send("MAIL FROM:<user@example.com>"), "530 5.7.0 Authentication required");
    assert_eq!(t.send("AUTH CRAM-MD5"), "504 5.5.4 Unrecognized authentication type");
    // "\0user@example.com\0wrong"
    assert_eq!(t.send("AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20Ad3Jvbmc="), "535 5.7.8 Authentication credentials invalid");
    assert_eq!(t.send("AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0"), "235 2.7.0 Authentication successful");
    assert_eq!(t.session.info().principal, Some(principal()));
    assert_eq!(t.send("AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0"), "503 5.5.1 Already authenticated");
    t.transaction();
}

#[test]
fn auth_exchanges() {
    // PLAIN without an initial response.
    let mut t = Test::submission_tls();
    assert_eq!(t.send("AUTH PLAIN"), "334 ");
    assert_eq!(t.send("AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0"), "235 2.7.0 Authentication successful");

    // LOGIN, both steps, and with the user name as initial response.
    let mut t = Test::submission_tls();
    assert_eq!(t.send("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(t.send("dXNlckBleGFtcGxlLmNvbQ=="), "334 UGFzc3dvcmQ6");
    assert_eq!(t.send("c2VjcmV0"), "235 2.7.0 Authentication successful");
    let mut t = Test::submission_tls();
    assert_eq!(t.send("auth login dXNlckBleGFtcGxlLmNvbQ"), "334 UGFzc3dvcmQ6");
    assert_eq!(t.send("c2VjcmV0"), "235 2.7.0 Authentication successful");

    // Cancelled, undecodable, malformed, too long.
    let mut t = Test::submission_tls();
    t.ok("AUTH LOGIN");
    assert_eq!(t.send("*"), "501 5.0.0 Authentication cancelled");
    t.ok("AUTH PLAIN");
    assert_eq!(t.send("!!!"), "501 5.5.2 Cannot Base64-decode Client responses");
    assert_eq!(t.send("AUTH PLAIN dXNlcg=="), "501 5.5.2 Malformed authentication response");
    t.ok("AUTH PLAIN");
    let step = t.session.on_line_too_long();
    assert_eq!(t.drive(step), "500 5.5.6 Authentication Exchange line is too long");
    assert_eq!(t.send("NOOP"), "250 2.0.0 OK");
    // Acting for someone else is refused.
    assert_eq!(
        t.send("AUTH PLAIN b3RoZXIAdXNlckBleGFtcGxlLmNvbQBzZWNyZXQ="),
        "535 5.7.8 Authorization identity must be empty or the user name"
    );
}

#[test]
fn auth_refusals_by_state() {
    let mut mx = Test::mx();
    assert_eq!(mx.send("AUTH PLAIN"), "502 5.5.1 AUTH not available");
    let mut plain = Test::with(SmtpConfig::new("h", Role::Submission), false, true);
    plain.ok("EHLO c");
    assert_eq!(
        plain.send("AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0"),
        "538 5.7.11 Encryption required for requested authentication mechanism"
    );
    let mut t = Test::with(SmtpConfig::new("h", Role::Submission), true, false);
    assert_eq!(t.send("AUTH PLAIN"), "503 5.5.1 Send EHLO first");
    assert_eq!(plain.send("MAIL FROM:<user@example.com>"), "530 5.7.0 Must issue a STARTTLS command first");
}

#[test]
fn starttls_resets_the_session() {
    let mut config = SmtpConfig::new("h", Role::Submission);
    config.allow_plaintext_auth = true;
    let mut t = Test::with(config, false, true);
    t.ok("EHLO c");
    t.ok("AUTH PLAIN AHVzZXJAZXhhbXBsZS5jb20Ac2VjcmV0");
    t.transaction();
    assert_eq!(t.send("STARTTLS"), "503 5.5.1 STARTTLS not allowed during a mail transaction");
    t.ok("RSET");
    let step = t.session.on_line(b"STARTTLS\r\n");
    assert_eq!(step, Step::StartTls(Reply::new(220, (2, 0, 0), "Ready to start TLS")));
    // Nothing but the handshake is expected now.
    assert!(matches!(t.session.on_line(b"RSET\r\n"), Step::Close(_)));

    let mut t = Test::with(SmtpConfig::new("h", Role::Submission), false, true);
    t.ok("EHLO c");
    assert!(matches!(t.session.on_line(b"STARTTLS\r\n"), Step::StartTls(_)));
    t.session.on_tls_established();
    let info = t.session.info();
    assert!(info.tls && info.helo.is_none() && !info.esmtp && info.principal.is_none());
    assert_eq!(t.send("MAIL FROM:<a@example.com>"), "503 5.5.1 Send EHLO or HELO first");
    let ehlo = t.send("EHLO c");
    assert!(!ehlo.contains("STARTTLS") && ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    assert_eq!(t.send("STARTTLS"), "503 5.5.1 Already using TLS");

    let mut t = Test::mx();
    assert_eq!(t.send("STARTTLS"), "502 5.5.1 STARTTLS not available");
}

#[test]
fn bdat_chunks() {
    let mut t = Test::mx();
    t.transaction();
    assert_eq!(t.send("BDAT 5"), "<read 5>");
    assert_eq!(t.feed(b"Hel"), (3, String::new()));
    assert_eq!(t.feed(b"lo, BDAT"), (2, "250 2.0.0 5 octets received".into()));
    assert_eq!(t.send("DATA"), "503 5.5.1 DATA after BDAT");
    assert_eq!(t.send("RCPT TO:<b@example.com>"), "503 5.5.1 RCPT after BDAT");
    assert_eq!(t.send("BDAT 9 LAST"), "<read 9>");
    assert_eq!(t.feed(b"\r\n.world\n"), (9, "250 2.6.0 Message queued".into()));
    // No dot-stuffing, no line-end checks: octets as sent.
    assert_eq!(t.delivered[0].1, b"Hello\r\n.world\n");
    assert!(t.session.envelope().is_none());
    // BDAT 0 LAST ends a message without reading.
    t.transaction();
    assert_eq!(t.send("BDAT 0 LAST"), "250 2.6.0 Message queued");
    assert_eq!(t.delivered[1].1, b"");
}

#[test]
fn refused_bdat_still_consumes_its_octets() {
    let mut t = Test::mx();
    assert_eq!(t.send("BDAT 6"), "<read 6>");
    assert_eq!(t.feed(b"RSET\r\nNOOP\r\n"), (6, "503 5.5.1 Need MAIL before BDAT".into()));
    t.ok("MAIL FROM:<>");
    assert_eq!(t.send("BDAT 3 LAST"), "<read 3>");
    assert_eq!(t.feed(b"abc"), (3, "554 5.5.1 No valid recipients".into()));
    assert!(t.session.envelope().is_none());

    // Too large: every chunk is read, each answered 552, then the
    // transaction is over.
    t.transaction();
    assert_eq!(t.send("BDAT 60"), "<read 60>");
    assert_eq!(t.feed(&[b'x'; 60]).1, "250 2.0.0 60 octets received");
    assert_eq!(t.send("BDAT 50"), "<read 50>");
    assert_eq!(t.feed(&[b'x'; 50]).1, "552 5.3.4 Message size exceeds fixed maximum message size");
    assert_eq!(t.send("BDAT 1 LAST"), "<read 1>");
    assert_eq!(t.feed(b"x").1, "552 5.3.4 Message size exceeds fixed maximum message size");
    assert!(t.session.envelope().is_none());
    assert!(t.delivered.is_empty());

    // BINARYMIME needs BDAT.
    t.ok("MAIL FROM:<> BODY=BINARYMIME");
    t.ok("RCPT TO:<a@example.com>");
    assert_eq!(t.send("DATA"), "503 5.5.1 BODY=BINARYMIME needs BDAT");
}

#[test]
fn driver_misuse_closes_instead_of_panicking() {
    let mut t = Test::mx();
    assert!(matches!(t.session.on_backend(Outcome::Data(Reply::new(250, (2, 0, 0), "x"))), Step::Close(_)));
    let mut t = Test::mx();
    assert!(matches!(t.session.on_data(b"abc"), (0, Some(Step::Close(_)))));
    let mut t = Test::mx();
    t.ok("MAIL FROM:<>");
    let Step::Call(_) = t.session.on_line(b"RCPT TO:<a@example.com>\r\n") else { panic!() };
    assert!(matches!(t.session.on_line(b"NOOP\r\n"), Step::Close(_)));
}

#[test]
fn passwords_stay_out_of_debug_output() {
    let call = Call::Authenticate { user: "u".into(), password: "hunter2".into() };
    let text = format!("{call:?}");
    assert!(text.contains("\"u\"") && !text.contains("hunter2"), "{text}");
}
