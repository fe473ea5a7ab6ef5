//! Known-answer tests on real-world shaped messages, a cross-check of every
//! part's offsets against mail-parser's whole-message parser, and properties
//! on arbitrary input.

use base64::Engine;
use mail_parser::{MessageParser, PartType};
use proptest::prelude::*;

use super::*;

/// Test messages are written with `\n`; mail goes over the wire with CRLF.
fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn cut<'r>(s: &MessageStructure, raw: &'r [u8], path: &[u32], kind: SectionKind) -> &'r [u8] {
    let range = s.section(raw, path, kind).unwrap_or_else(|| panic!("section {path:?} {kind:?} missing"));
    &raw[range]
}

fn addr(name: Option<&str>, mailbox: &str, host: &str) -> EnvelopeAddress {
    EnvelopeAddress {
        name: name.map(HeaderText::from),
        adl: None,
        mailbox: Some(mailbox.into()),
        host: Some(host.into()),
    }
}

fn param(name: &str, value: &str) -> Parameter {
    Parameter { name: name.into(), value: value.into() }
}

/// Walks our structure and mail-parser's parse side by side: same tree, same
/// header and body offsets for every part.
fn assert_agrees_with_mail_parser(raw: &[u8]) {
    let parsed = MessageParser::default().parse(raw).expect("mail-parser parses it");
    let ours = parse_structure(raw);
    fn walk(ours: &BodyPart, theirs: &mail_parser::Message<'_>, id: usize, path: &str) {
        let p = &theirs.parts[id];
        assert_eq!(ours.header_range(), p.offset_header as usize..p.offset_body as usize, "{path} header");
        assert_eq!(ours.body_range(), p.offset_body as usize..p.offset_end as usize, "{path} body");
        match &p.body {
            PartType::Multipart(ids) => {
                assert_eq!(ours.parts.len(), ids.len(), "{path} children");
                for (i, (child, &id)) in ours.parts.iter().zip(ids).enumerate() {
                    walk(child, theirs, id as usize, &format!("{path}.{}", i + 1));
                }
            }
            PartType::Message(embedded) => {
                let ours = ours.message.as_ref().unwrap_or_else(|| panic!("{path} is an embedded message"));
                walk(&ours.body, embedded, 0, &format!("{path}(embedded)"));
            }
            _ => assert!(ours.parts.is_empty() && ours.message.is_none(), "{path} is a leaf"),
        }
    }
    walk(&ours.body, &parsed, 0, "root");
}

const PLAIN: &str = "Return-Path: <ann@example.org>
Received: from mx.example.org by mail.example.com; Tue, 3 Mar 2026 10:00:00 +0000
Date: Tue, 3 Mar 2026 10:00:00 +0100
From: Ann Example <ann@example.org>
To: bob@example.com
Cc: \"Carol, C.\" <carol@example.net>, dave@example.net (Dave D)
Subject: Lunch
 on Friday?
Message-ID: <20260303.1@example.org>
In-Reply-To: <prev@example.com>

Hi Bob,

see you at noon.
";

#[test]
fn plain_text_message() {
    let raw = crlf(PLAIN);
    let s = parse_structure(&raw);
    let e = &s.envelope;
    assert_eq!(e.date.as_ref().unwrap(), "Tue, 3 Mar 2026 10:00:00 +0100");
    assert_eq!(e.subject.as_ref().unwrap(), "Lunch on Friday?", "unfolded");
    assert_eq!(e.from, vec![addr(Some("Ann Example"), "ann", "example.org")]);
    assert_eq!(e.sender, e.from, "RFC 3501: absent Sender is From");
    assert_eq!(e.reply_to, e.from, "RFC 3501: absent Reply-To is From");
    assert_eq!(e.to, vec![addr(None, "bob", "example.com")]);
    assert_eq!(
        e.cc,
        vec![addr(Some("Carol, C."), "carol", "example.net"), addr(Some("Dave D"), "dave", "example.net")]
    );
    assert!(e.bcc.is_empty());
    assert_eq!(e.message_id.as_ref().unwrap(), "<20260303.1@example.org>");
    assert_eq!(e.in_reply_to.as_ref().unwrap(), "<prev@example.com>");

    let b = &s.body;
    assert_eq!((b.media_type.as_str(), b.media_subtype.as_str()), ("text", "plain"));
    assert_eq!(b.parameters, vec![param("charset", "us-ascii")], "RFC 2045 5.2 default");
    assert_eq!(b.encoding, "7BIT");
    let body = b"Hi Bob,\r\n\r\nsee you at noon.\r\n";
    assert_eq!((b.size, b.lines), (body.len() as u64, 3));

    let header_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(cut(&s, &raw, &[], SectionKind::Header), &raw[..header_end]);
    assert_eq!(cut(&s, &raw, &[], SectionKind::Text), body);
    assert_eq!(cut(&s, &raw, &[], SectionKind::Full), &raw[..]);
    // A non-multipart message has only part 1, its body; its MIME header is
    // the message header.
    assert_eq!(cut(&s, &raw, &[1], SectionKind::Full), body);
    assert_eq!(cut(&s, &raw, &[1], SectionKind::Mime), &raw[..header_end]);
    assert_eq!(s.section(&raw, &[2], SectionKind::Full), None);
    assert_eq!(s.section(&raw, &[1, 1], SectionKind::Full), None);
    assert_eq!(s.section(&raw, &[0], SectionKind::Full), None);
    assert_eq!(s.section(&raw, &[], SectionKind::Mime), None, "MIME needs a part number");
    assert_eq!(s.section(&raw, &[1], SectionKind::Header), None, "part 1 is not message/rfc822");
    assert_eq!(s.section(&raw[..10], &[], SectionKind::Text), None, "not the content it describes");
    assert_agrees_with_mail_parser(&raw);
}

const ALTERNATIVE: &str = "From: Ann <ann@example.org>
To: bob@example.com
Subject: Newsletter
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=\"000000000000a1b2c3\"

--000000000000a1b2c3
Content-Type: text/plain; charset=\"UTF-8\"
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 news
--000000000000a1b2c3
Content-Type: text/html; charset=\"UTF-8\"
Content-Transfer-Encoding: quoted-printable

<div dir=3D\"ltr\">Caf=C3=A9 news</div>
<p>second line</p>

--000000000000a1b2c3--
";

#[test]
fn multipart_alternative() {
    let raw = crlf(ALTERNATIVE);
    let s = parse_structure(&raw);
    let b = &s.body;
    assert_eq!((b.media_type.as_str(), b.media_subtype.as_str()), ("multipart", "alternative"));
    assert_eq!(b.parameters, vec![param("boundary", "000000000000a1b2c3")]);
    assert_eq!(b.parts.len(), 2);
    let (text, html) = (&b.parts[0], &b.parts[1]);
    assert_eq!((text.media_subtype.as_str(), html.media_subtype.as_str()), ("plain", "html"));
    assert_eq!(text.parameters, vec![param("charset", "UTF-8")]);
    assert_eq!(text.encoding, "quoted-printable");
    assert_eq!(cut(&s, &raw, &[1], SectionKind::Full), b"Caf=C3=A9 news");
    assert_eq!((text.size, text.lines), (14, 1));
    // The blank line before the close delimiter is the part's last line break.
    let html_body = b"<div dir=3D\"ltr\">Caf=C3=A9 news</div>\r\n<p>second line</p>\r\n";
    assert_eq!(cut(&s, &raw, &[2], SectionKind::Full), html_body);
    assert_eq!((html.size, html.lines), (html_body.len() as u64, 2));
    assert_eq!(
        cut(&s, &raw, &[2], SectionKind::Mime),
        b"Content-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    );
    assert_eq!(s.section(&raw, &[3], SectionKind::Full), None);
    assert_agrees_with_mail_parser(&raw);
}

const MIXED: &str = "From: Ann <ann@example.org>
To: bob@example.com
Subject: Report
Content-Type: multipart/mixed;
 boundary=\"----=_Part_1\"

This is a multi-part message in MIME format.

------=_Part_1
Content-Type: multipart/alternative; boundary=alt

--alt
Content-Type: text/plain; charset=us-ascii

Report attached.
--alt
Content-Type: text/html; charset=us-ascii

<p>Report attached.</p>
--alt--

------=_Part_1
Content-Type: application/pdf; name=\"report 2026.pdf\"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename=\"report 2026.pdf\"; size=9
Content-ID: <part2@example.org>
Content-Description: Quarterly report
Content-Language: en, de
Content-Location: http://example.org/report.pdf
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

JVBERi0xLjQK
------=_Part_1--
";

#[test]
fn multipart_mixed_with_an_attachment() {
    let raw = crlf(MIXED);
    let s = parse_structure(&raw);
    let b = &s.body;
    assert_eq!(b.media_subtype, "mixed");
    assert_eq!(b.parameter("BOUNDARY").unwrap(), "----=_Part_1", "folded header, case-insensitive lookup");
    assert_eq!(b.parts.len(), 2);
    let alt = &b.parts[0];
    assert_eq!((alt.media_subtype.as_str(), alt.parts.len()), ("alternative", 2));
    assert_eq!(cut(&s, &raw, &[1, 1], SectionKind::Full), b"Report attached.");
    assert_eq!(cut(&s, &raw, &[1, 2], SectionKind::Full), b"<p>Report attached.</p>");
    assert_eq!(cut(&s, &raw, &[1, 2], SectionKind::Mime), b"Content-Type: text/html; charset=us-ascii\r\n\r\n");
    // A multipart's own section is its body, preamble to epilogue.
    assert!(cut(&s, &raw, &[1], SectionKind::Full).starts_with(b"--alt\r\n"));
    assert!(cut(&s, &raw, &[1], SectionKind::Full).ends_with(b"--alt--\r\n"));

    let pdf = &b.parts[1];
    assert_eq!((pdf.media_type.as_str(), pdf.media_subtype.as_str()), ("application", "pdf"));
    assert_eq!(pdf.parameters, vec![param("name", "report 2026.pdf")]);
    assert_eq!(pdf.encoding, "base64");
    assert_eq!(
        pdf.disposition,
        Some(ContentDisposition {
            kind: "attachment".into(),
            parameters: vec![param("filename", "report 2026.pdf"), param("size", "9")],
        })
    );
    assert_eq!(pdf.id.as_ref().unwrap(), "<part2@example.org>");
    assert_eq!(pdf.description.as_ref().unwrap(), "Quarterly report");
    assert_eq!(pdf.language, vec!["en".to_string(), "de".to_string()]);
    assert_eq!(pdf.location.as_ref().unwrap(), "http://example.org/report.pdf");
    assert_eq!(pdf.md5.as_ref().unwrap(), "Q2hlY2sgSW50ZWdyaXR5IQ==");
    assert_eq!((pdf.size, pdf.lines), (12, 0), "lines only for text and messages");
    let data = base64::engine::general_purpose::STANDARD.decode(cut(&s, &raw, &[2], SectionKind::Full)).unwrap();
    assert_eq!(data, b"%PDF-1.4\n");
    assert_agrees_with_mail_parser(&raw);
}

const FORWARDED: &str = "From: Bob <bob@example.com>
To: carol@example.net
Subject: Fwd: Report
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain

See below.
--outer
Content-Type: message/rfc822
Content-Description: forwarded message

From: Ann <ann@example.org>
To: bob@example.com
Subject: Report
Date: Mon, 2 Mar 2026 09:00:00 +0000
Message-ID: <orig@example.org>
Content-Type: multipart/mixed; boundary=inner

--inner
Content-Type: text/plain

Numbers inside.
--inner
Content-Type: text/csv; name=q1.csv

a,b
1,2
--inner--

--outer--
";

#[test]
fn nested_message_rfc822() {
    let raw = crlf(FORWARDED);
    let s = parse_structure(&raw);
    let fwd = &s.body.parts[1];
    assert_eq!((fwd.media_type.as_str(), fwd.media_subtype.as_str()), ("message", "rfc822"));
    let embedded = fwd.message.as_ref().expect("embedded message");
    assert_eq!(embedded.envelope.subject.as_ref().unwrap(), "Report");
    assert_eq!(embedded.envelope.from, vec![addr(Some("Ann"), "ann", "example.org")]);
    assert_eq!(embedded.envelope.message_id.as_ref().unwrap(), "<orig@example.org>");
    assert_eq!(embedded.body.parts.len(), 2);

    let whole = cut(&s, &raw, &[2], SectionKind::Full);
    assert!(whole.starts_with(b"From: Ann") && whole.ends_with(b"--inner--\r\n"));
    assert_eq!((fwd.size, fwd.lines), (whole.len() as u64, 17));
    let header = cut(&s, &raw, &[2], SectionKind::Header);
    assert!(header.starts_with(b"From: Ann") && header.ends_with(b"boundary=inner\r\n\r\n"));
    assert_eq!(cut(&s, &raw, &[2], SectionKind::Text), &whole[header.len()..]);
    assert_eq!(
        cut(&s, &raw, &[2], SectionKind::Mime),
        b"Content-Type: message/rfc822\r\nContent-Description: forwarded message\r\n\r\n"
    );
    assert_eq!(cut(&s, &raw, &[2, 1], SectionKind::Full), b"Numbers inside.");
    assert_eq!(cut(&s, &raw, &[2, 2], SectionKind::Full), b"a,b\r\n1,2");
    assert_eq!(cut(&s, &raw, &[2, 2], SectionKind::Mime), b"Content-Type: text/csv; name=q1.csv\r\n\r\n");
    assert_eq!(s.part(&[2, 2]).unwrap().lines, 2);
    assert_eq!(s.section(&raw, &[2, 3], SectionKind::Full), None);
    assert_eq!(s.section(&raw, &[1], SectionKind::Text), None, "TEXT of a non-message part");
    assert_agrees_with_mail_parser(&raw);

    // An embedded message with a single-part body has a part 1: that body.
    let raw =
        crlf("Subject: outer\nContent-Type: message/rfc822\n\nSubject: inner\nContent-Type: text/plain\n\nhello\n");
    let s = parse_structure(&raw);
    assert_eq!(cut(&s, &raw, &[1], SectionKind::Header), b"Subject: inner\r\nContent-Type: text/plain\r\n\r\n");
    assert_eq!(cut(&s, &raw, &[1, 1], SectionKind::Full), b"hello\r\n");
    assert_eq!(cut(&s, &raw, &[1, 1], SectionKind::Mime), b"Subject: inner\r\nContent-Type: text/plain\r\n\r\n");
    assert_eq!(s.section(&raw, &[1, 2], SectionKind::Full), None);
}

#[test]
fn broken_boundaries_fall_back_to_text() {
    // The body uses another boundary than the header names.
    let raw = crlf(
        "From: a@example.org\nContent-Type: multipart/mixed; boundary=zzz\n\n--b\nContent-Type: text/plain\n\nhi\n--b--\n",
    );
    let s = parse_structure(&raw);
    let b = &s.body;
    assert_eq!((b.media_type.as_str(), b.media_subtype.as_str()), ("text", "plain"));
    assert!(b.parts.is_empty());
    assert_eq!(cut(&s, &raw, &[1], SectionKind::Full), b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n");
    assert_eq!(b.lines, 5);

    // No boundary parameter at all.
    let raw = crlf("Content-Type: multipart/mixed\n\nbody\n");
    assert_eq!(parse_structure(&raw).body.media_type, "text");

    // Not closed: the last part runs to the end.
    let raw = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Type: text/html\n\n<p>two\n");
    let s = parse_structure(&raw);
    assert_eq!(s.body.parts.len(), 2);
    assert_eq!(cut(&s, &raw, &[1], SectionKind::Full), b"one");
    assert_eq!(cut(&s, &raw, &[2], SectionKind::Full), b"<p>two\r\n");
    assert_agrees_with_mail_parser(&raw);

    // An inner multipart that is never closed ends at its parent's delimiter.
    let raw = crlf(
        "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/alternative; boundary=i\n\n\
         --i\n\nin\n--o\n\nafter\n--o--\n",
    );
    let s = parse_structure(&raw);
    assert_eq!(s.body.parts.len(), 2);
    assert_eq!(cut(&s, &raw, &[1, 1], SectionKind::Full), b"in");
    assert_eq!(cut(&s, &raw, &[2], SectionKind::Full), b"after");

    // A part whose header runs into the next delimiter has an empty body.
    let raw = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n--b\n\nx\n--b--\n");
    let s = parse_structure(&raw);
    assert_eq!(s.body.parts.len(), 2);
    assert_eq!(cut(&s, &raw, &[1], SectionKind::Full), b"");
    assert_eq!(cut(&s, &raw, &[2], SectionKind::Full), b"x");

    // A boundary that only starts a longer line is not a delimiter.
    let raw = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--bb is text\n--b--\n");
    let s = parse_structure(&raw);
    assert_eq!(cut(&s, &raw, &[1], SectionKind::Full), b"--bb is text");

    // mail-parser 0.11.9's quoted-printable decoder underflows on a soft line
    // break right before a boundary; the structure does not decode bodies.
    let raw = crlf(
        "From: a@b\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: quoted-printable\n\n=\n--b--\n",
    );
    let s = parse_structure(&raw);
    assert_eq!(cut(&s, &raw, &[1], SectionKind::Full), b"=");
}

#[test]
fn encoded_message_rfc822_and_digest_defaults() {
    // RFC 2046 5.2.1: no encoding but 7bit, 8bit or binary for message/rfc822.
    let raw = crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\
         Content-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQpib2R5DQo=\n--b--\n",
    );
    let s = parse_structure(&raw);
    let p = &s.body.parts[0];
    assert_eq!((p.media_type.as_str(), p.media_subtype.as_str()), ("application", "octet-stream"));
    assert!(p.message.is_none());

    // RFC 2046 5.1.5: in a digest, a part without Content-Type is a message.
    let raw = crlf(
        "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nfirst\n--d\n\nSubject: two\n\nsecond\n--d--\n",
    );
    let s = parse_structure(&raw);
    assert_eq!(s.body.parts.len(), 2);
    for (i, subject) in ["one", "two"].iter().enumerate() {
        let p = &s.body.parts[i];
        assert_eq!((p.media_type.as_str(), p.media_subtype.as_str()), ("message", "rfc822"));
        assert!(p.parameters.is_empty());
        assert_eq!(p.message.as_ref().unwrap().envelope.subject.as_ref().unwrap(), *subject);
    }
    assert_agrees_with_mail_parser(&raw);
}

#[test]
fn eight_bit_headers_are_kept_as_bytes() {
    let mut raw =
        b"From: J\xc3\xbcrgen M\xc3\xbcller <juergen@example.de>\r\nTo: Ren\xe9 <rene@example.fr>\r\n".to_vec();
    raw.extend_from_slice(b"Subject: Gr\xc3\xbc\xc3\x9fe aus M\xc3\xbcnchen\r\n");
    raw.extend_from_slice(b"Content-Type: text/plain; charset=utf-8; name=\"\xc3\xbc.txt\"\r\n\r\nHallo\r\n");
    let s = parse_structure(&raw);
    assert_eq!(s.envelope.subject.as_ref().unwrap().as_bytes(), "Grüße aus München".as_bytes());
    assert_eq!(s.envelope.from[0].name.as_ref().unwrap().as_bytes(), "Jürgen Müller".as_bytes());
    // Latin-1, not UTF-8: the bytes survive.
    assert_eq!(s.envelope.to[0].name.as_ref().unwrap().as_bytes(), b"Ren\xe9");
    assert_eq!(s.body.parameter("name").unwrap().as_bytes(), "ü.txt".as_bytes());
    assert_agrees_with_mail_parser(&raw);
}

#[test]
fn encoded_word_subject_is_kept_as_written() {
    let raw = crlf(
        "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\n\
         Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\n  =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=\n\n\
         body\n",
    );
    let s = parse_structure(&raw);
    // IMAP clients decode RFC 2047 themselves; the server sends it as written.
    assert_eq!(
        s.envelope.subject.as_ref().unwrap(),
        "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=  =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?="
    );
    assert_eq!(s.envelope.from, vec![addr(Some("=?ISO-8859-1?Q?Andr=E9?= Pirard"), "PIRARD", "vm1.ulg.ac.be")]);
}

#[test]
fn groups_and_odd_addresses() {
    let raw = crlf(
        "From: \"Joe Q. Public\" <john.q.public@example.com>\n\
         Sender: John Q. Public <jqp@example.com>\n\
         Reply-To:\n\
         To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\n\
         Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\n\
         Bcc: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, undisclosed-recipients:;\n\
         In-Reply-To: <route@x>\n\
         Resent-To: ignored@example.org\n\n",
    );
    let e = parse_structure(&raw).envelope;
    assert_eq!(e.from, vec![addr(Some("Joe Q. Public"), "john.q.public", "example.com")]);
    assert_eq!(e.sender, vec![addr(Some("John Q. Public"), "jqp", "example.com")]);
    assert_eq!(e.reply_to, e.from, "present but empty Reply-To is From");
    assert_eq!(
        e.to,
        vec![
            addr(Some("Mary Smith"), "mary", "x.test"),
            addr(None, "jdoe", "example.org"),
            addr(Some("Who?"), "one", "y.test"),
        ]
    );
    assert_eq!(
        e.cc,
        vec![addr(None, "boss", "nil.test"), addr(Some("Giant; \"Big\" Box"), "sysservices", "example.net")]
    );
    assert_eq!(
        e.bcc,
        vec![
            EnvelopeAddress::group_start("A Group".into()),
            addr(Some("Ed Jones"), "c", "a.test"),
            addr(None, "joe", "where.test"),
            addr(Some("John"), "jdoe", "one.test"),
            EnvelopeAddress::group_end(),
            EnvelopeAddress::group_start("undisclosed-recipients".into()),
            EnvelopeAddress::group_end(),
        ]
    );
    assert!(e.bcc[0].is_group_marker() && e.bcc[4].is_group_marker() && !e.bcc[1].is_group_marker());
}

#[test]
fn a_message_without_body_or_headers() {
    let s = parse_structure(b"");
    assert_eq!((s.body.size, s.body.header_start, s.body.end), (0, 0, 0));
    assert_eq!(s.section(b"", &[], SectionKind::Header), Some(0..0));

    let raw = b"Subject: only a header\r\n";
    let s = parse_structure(raw);
    assert_eq!(s.envelope.subject.as_ref().unwrap(), "only a header");
    assert_eq!(s.section(raw, &[], SectionKind::Header), Some(0..raw.len()));
    assert_eq!(s.section(raw, &[], SectionKind::Text), Some(raw.len()..raw.len()));

    // No header at all: the body starts after the first (empty) line.
    let raw = b"\r\njust text\r\n";
    let s = parse_structure(raw);
    assert_eq!(cut(&s, raw, &[], SectionKind::Text), b"just text\r\n");
    assert_eq!(s.envelope, Envelope::default());

    // Bare LF line ends work too.
    let raw = b"Subject: lf\n\nbody\n";
    assert_eq!(cut(&parse_structure(raw), raw, &[], SectionKind::Text), b"body\n");
}

#[test]
fn nesting_and_part_count_are_bounded() {
    // 60,000 nested message/rfc822 levels (2 MB) overflow a 2 MiB stack in
    // mail-parser 0.11.9's whole-message parser. A tokio worker has 2 MiB.
    let mut raw = b"From: a@b\r\n".to_vec();
    for _ in 0..60_000 {
        raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    raw.extend_from_slice(b"body\r\n");
    let s = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let s = parse_structure(&raw);
            let mut depth = 0;
            let mut part = &s.body;
            while let Some(m) = &part.message {
                part = &m.body;
                depth += 1;
            }
            assert!(depth <= MAX_DEPTH, "{depth}");
            assert_eq!(part.end as usize, raw.len());
            s.body.size
        })
        .unwrap()
        .join()
        .expect("no stack overflow, no panic");
    assert!(s > 1_900_000);

    let mut raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    for _ in 0..(MAX_PARTS + 100) {
        raw.extend_from_slice(b"--b\r\n\r\nx\r\n");
    }
    raw.extend_from_slice(b"--b--\r\n");
    let s = parse_structure(&raw);
    assert_eq!(s.body.parts.len(), MAX_PARTS - 1, "the root counts as a part");
    assert_eq!(s.body.parts.last().unwrap().end as usize, raw.len(), "the last part takes the rest");
}

/// Every part lies inside its parent, in order; every section is in range.
fn assert_well_formed(s: &MessageStructure, raw: &[u8]) {
    fn check(p: &BodyPart, within: Range<u64>, len: u64) {
        assert!(within.start <= p.header_start && p.header_start <= p.body_start, "{p:?}");
        assert!(p.body_start <= p.end && p.end <= within.end && p.end <= len, "{p:?}");
        assert_eq!(p.size, p.end - p.body_start);
        assert!(!(p.is_multipart() && p.parts.is_empty()), "a multipart has parts");
        let mut last = p.body_start;
        for c in &p.parts {
            assert!(c.header_start >= last, "children in order");
            check(c, p.body_start..p.end, len);
            last = c.end;
        }
        if let Some(m) = &p.message {
            assert_eq!(m.body.header_start, p.body_start);
            check(&m.body, p.body_start..p.end, len);
        }
    }
    check(&s.body, 0..raw.len() as u64, raw.len() as u64);
    for path in [&[][..], &[1], &[1, 1], &[2], &[1, 2, 1], &[3, 1]] {
        for kind in [SectionKind::Full, SectionKind::Header, SectionKind::Text, SectionKind::Mime] {
            if let Some(r) = s.section(raw, path, kind) {
                assert!(r.start <= r.end && r.end <= raw.len());
            }
        }
    }
}

#[test]
fn known_messages_are_well_formed_and_serialize() {
    for m in [PLAIN, ALTERNATIVE, MIXED, FORWARDED] {
        for raw in [m.as_bytes().to_vec(), crlf(m)] {
            let s = parse_structure(&raw);
            assert_well_formed(&s, &raw);
            let json = serde_json::to_vec(&s).unwrap();
            assert_eq!(serde_json::from_slice::<MessageStructure>(&json).unwrap(), s);
        }
        assert_agrees_with_mail_parser(m.as_bytes());
    }
}

/// MIME-ish fragments, so that random messages have structure to get wrong.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Content-Type: multipart/mixed; boundary=b\r\n".to_vec()),
        Just(b"Content-Type: multipart/digest; boundary=\"c\"\r\n".to_vec()),
        Just(b"Content-Type: message/rfc822\r\n".to_vec()),
        Just(b"Content-Transfer-Encoding: base64\r\n".to_vec()),
        Just(b"From: \"a\" <b@c>, g: x@y;\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"--b\r\n".to_vec()),
        Just(b"--b--\r\n".to_vec()),
        Just(b"--c\r\n".to_vec()),
        Just(b"--c--".to_vec()),
        Just(b"text line\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_input_gives_a_well_formed_structure(parts in proptest::collection::vec(fragment(), 0..40)) {
        let raw = parts.concat();
        let s = parse_structure(&raw);
        assert_well_formed(&s, &raw);
    }
}
