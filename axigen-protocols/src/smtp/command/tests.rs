//! Known-answer tests of the command parser.

use super::*;

fn parse(line: &str) -> Result<Command, ParseError> {
    Command::parse(line.as_bytes(), false)
}

fn mailbox(s: &str) -> ReversePath {
    ReversePath::Mailbox(s.to_owned())
}

/// Canonical lines: bytes -> command -> the same bytes.
#[test]
fn known_answers_both_ways() {
    let cases: Vec<(&str, Command)> = vec![
        ("EHLO client.example.net", Command::Ehlo("client.example.net".into())),
        ("HELO [192.0.2.1]", Command::Helo("[192.0.2.1]".into())),
        ("MAIL FROM:<>", Command::Mail { from: ReversePath::Null, params: MailParams::default() }),
        (
            "MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME",
            Command::Mail {
                from: mailbox("a@example.org"),
                params: MailParams { size: Some(1000), body: Some(Body::EightBitMime), ..Default::default() },
            },
        ),
        (
            "MAIL FROM:<a@example.org> BODY=BINARYMIME AUTH=a+2Bb@example.org",
            Command::Mail {
                from: mailbox("a@example.org"),
                params: MailParams {
                    body: Some(Body::BinaryMime),
                    auth: Some("a+b@example.org".into()),
                    ..Default::default()
                },
            },
        ),
        (
            "MAIL FROM:<a@example.org> RET=HDRS ENVID=X",
            Command::Mail {
                from: mailbox("a@example.org"),
                params: MailParams {
                    other: vec![("RET".into(), Some("HDRS".into())), ("ENVID".into(), Some("X".into()))],
                    ..Default::default()
                },
            },
        ),
        ("RCPT TO:<b@example.com>", Command::Rcpt { to: "b@example.com".into(), params: vec![] }),
        ("RCPT TO:<Postmaster>", Command::Rcpt { to: "Postmaster".into(), params: vec![] }),
        (
            "RCPT TO:<\"john doe\"@example.com> NOTIFY=NEVER",
            Command::Rcpt {
                to: "\"john doe\"@example.com".into(),
                params: vec![("NOTIFY".into(), Some("NEVER".into()))],
            },
        ),
        ("RCPT TO:<x@[IPv6:2001:db8::1]>", Command::Rcpt { to: "x@[IPv6:2001:db8::1]".into(), params: vec![] }),
        ("DATA", Command::Data),
        ("BDAT 0 LAST", Command::Bdat { size: 0, last: true }),
        ("BDAT 18446744073709551615", Command::Bdat { size: u64::MAX, last: false }),
        ("RSET", Command::Rset),
        ("NOOP", Command::Noop),
        ("QUIT", Command::Quit),
        ("VRFY postmaster", Command::Vrfy("postmaster".into())),
        ("HELP", Command::Help),
        ("STARTTLS", Command::StartTls),
        ("AUTH LOGIN", Command::Auth { mechanism: "LOGIN".into(), initial: None }),
        ("AUTH PLAIN AGEAYg==", Command::Auth { mechanism: "PLAIN".into(), initial: Some("AGEAYg==".into()) }),
        ("AUTH PLAIN =", Command::Auth { mechanism: "PLAIN".into(), initial: Some("=".into()) }),
    ];
    for (line, command) in cases {
        assert_eq!(parse(&format!("{line}\r\n")).as_ref(), Ok(&command), "{line}");
        assert_eq!(command.to_string(), line);
    }
}

#[test]
fn smtputf8_round_trip() {
    let line = "MAIL FROM:<jöran@bücher.example> SMTPUTF8";
    let command = Command::parse(line.as_bytes(), false).unwrap();
    assert_eq!(
        command,
        Command::Mail {
            from: mailbox("jöran@bücher.example"),
            params: MailParams { smtputf8: true, ..Default::default() }
        }
    );
    assert_eq!(command.to_string(), line);
    let rcpt = Command::parse("RCPT TO:<用户@例子.广告>".as_bytes(), true).unwrap();
    assert_eq!(rcpt.to_string(), "RCPT TO:<用户@例子.广告>");
}

#[test]
fn case_insensitive_and_lenient_forms() {
    let expected = Command::Mail { from: mailbox("a@b.example"), params: MailParams::default() };
    for line in ["mail from:<a@b.example>", "MAIL FROM: <a@b.example>", "Mail From:  <a@b.example>  \r\n"] {
        assert_eq!(parse(line), Ok(expected.clone()), "{line}");
    }
    assert_eq!(parse("bdat 10 last"), Ok(Command::Bdat { size: 10, last: true }));
    assert_eq!(parse("ehlo x\n"), Ok(Command::Ehlo("x".into())));
    assert_eq!(parse("auth plain"), Ok(Command::Auth { mechanism: "PLAIN".into(), initial: None }));
    assert_eq!(parse("NOOP anything at all"), Ok(Command::Noop));
    assert_eq!(parse("HELP MAIL"), Ok(Command::Help));
    assert_eq!(
        parse("MAIL FROM:<a@b.example> size=5  body=7bit"),
        Ok(Command::Mail {
            from: mailbox("a@b.example"),
            params: MailParams { size: Some(5), body: Some(Body::SevenBit), ..Default::default() }
        })
    );
    // Source routes are accepted and dropped.
    assert_eq!(
        parse("RCPT TO:<@relay.example,@other.example:b@c.example>"),
        Ok(Command::Rcpt { to: "b@c.example".into(), params: vec![] })
    );
    // A '>' inside a quoted local part does not end the path.
    assert_eq!(
        parse("RCPT TO:<\"a>b\"@c.example>"),
        Ok(Command::Rcpt { to: "\"a>b\"@c.example".into(), params: vec![] })
    );
    // Oversized SIZE saturates, so that the session answers 552.
    let Ok(Command::Mail { params, .. }) = parse("MAIL FROM:<> SIZE=99999999999999999999999") else { panic!() };
    assert_eq!(params.size, Some(u64::MAX));
}

#[test]
fn errors_and_their_replies() {
    let code = |line: &str| {
        let reply = parse(line).unwrap_err().reply();
        (reply.code, reply.enhanced.unwrap())
    };
    assert_eq!(code("FOO"), (500, (5, 5, 2)));
    assert_eq!(code(""), (500, (5, 5, 2)));
    assert_eq!(code(" MAIL FROM:<>"), (500, (5, 5, 2)));
    assert_eq!(code("EXPN list"), (502, (5, 5, 1)));
    assert_eq!(code("NOOP a\rb"), (500, (5, 5, 2)));
    assert_eq!(code("NOOP \0"), (500, (5, 5, 2)));
    assert_eq!(code("MAIL"), (501, (5, 5, 2)));
    assert_eq!(code("MAIL TO:<a@b.c>"), (501, (5, 5, 2)));
    assert_eq!(code("RCPT FROM:<a@b.c>"), (501, (5, 5, 2)));
    assert_eq!(code("EHLO"), (501, (5, 5, 4)));
    assert_eq!(code("DATA now"), (501, (5, 5, 4)));
    assert_eq!(code("QUIT now"), (501, (5, 5, 4)));
    assert_eq!(code("STARTTLS x"), (501, (5, 5, 4)));
    assert_eq!(code("VRFY"), (501, (5, 5, 4)));
    assert_eq!(code("BDAT"), (501, (5, 5, 2)));
    assert_eq!(code("BDAT -1"), (501, (5, 5, 2)));
    assert_eq!(code("BDAT 1 FIRST"), (501, (5, 5, 2)));
    assert_eq!(code("BDAT 99999999999999999999999"), (501, (5, 5, 4)));
    assert_eq!(code("AUTH"), (501, (5, 5, 2)));
    assert_eq!(code("AUTH PL@IN"), (501, (5, 5, 2)));
    assert_eq!(code("AUTH PLAIN a b"), (501, (5, 5, 2)));
    assert_eq!(code("AUTH PLAIN ****"), (501, (5, 5, 2)));
    // Sender address syntax: 5.1.7.
    assert_eq!(code("MAIL FROM:a@b.example"), (501, (5, 1, 7)));
    assert_eq!(code("MAIL FROM:<a@b.example"), (501, (5, 1, 7)));
    assert_eq!(code("MAIL FROM:<a@b.example>SIZE=1"), (501, (5, 1, 7)));
    assert_eq!(code("MAIL FROM:<a..b@c.example>"), (501, (5, 1, 7)));
    assert_eq!(code("MAIL FROM:<a@-c.example>"), (501, (5, 1, 7)));
    assert_eq!(code("MAIL FROM:<a@c..example>"), (501, (5, 1, 7)));
    assert_eq!(code("MAIL FROM:<a b@c.example>"), (501, (5, 1, 7)));
    assert_eq!(code("MAIL FROM:<@x:a@c.example"), (501, (5, 1, 7)));
    assert_eq!(code("MAIL FROM:<a@[300.1.1.1]>"), (501, (5, 1, 7)));
    assert_eq!(code(&format!("MAIL FROM:<{}@example.org>", "a".repeat(250))), (501, (5, 1, 7)));
    // Recipient address syntax: 5.1.3.
    assert_eq!(code("RCPT TO:<>"), (501, (5, 1, 3)));
    assert_eq!(code("RCPT TO:<nobody>"), (501, (5, 1, 3)));
    assert_eq!(code("RCPT TO:<\"unterminated@example.org>"), (501, (5, 1, 3)));
    assert_eq!(code("RCPT TO:<\"a\\\u{1}\"@example.org>"), (501, (5, 1, 3)));
    // Parameters: 5.5.4.
    assert_eq!(code("MAIL FROM:<> SIZE=abc"), (501, (5, 5, 4)));
    assert_eq!(code("MAIL FROM:<> SIZE=1 SIZE=2"), (501, (5, 5, 4)));
    assert_eq!(code("MAIL FROM:<> BODY=9BIT"), (501, (5, 5, 4)));
    assert_eq!(code("MAIL FROM:<> SMTPUTF8=yes"), (501, (5, 5, 4)));
    assert_eq!(code("MAIL FROM:<> AUTH=a+zz"), (501, (5, 5, 4)));
    assert_eq!(code("MAIL FROM:<> -X=1"), (501, (5, 5, 4)));
    assert_eq!(code("MAIL FROM:<> X="), (501, (5, 5, 4)));
    // UTF-8 needs SMTPUTF8 (RFC 6531 3.5).
    assert_eq!(code("MAIL FROM:<jöran@example.org>"), (553, (5, 6, 7)));
    assert_eq!(code("RCPT TO:<jöran@example.org>"), (553, (5, 6, 7)));
    assert_eq!(Command::parse(b"MAIL FROM:<\xff@example.org>", false).unwrap_err().reply().code, 501);
}
