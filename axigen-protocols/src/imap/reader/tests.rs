//! Tests of the reader: literals split across reads, limits, recovery.

use super::*;
use crate::imap::command::CommandBody;
use crate::imap::extensions::idle;
use crate::imap::response::{Code, Status};

fn events(reader: &mut CommandReader, input: &[u8]) -> Vec<Event> {
    reader.feed(input);
    std::iter::from_fn(|| reader.next()).collect()
}

/// Every event for `input` fed in one go, and checks that feeding it one
/// octet at a time gives the same events.
fn all_events(limits: ReaderLimits, input: &[u8]) -> Vec<Event> {
    let mut reader = CommandReader::new(limits, ParseOptions::default());
    let at_once = events(&mut reader, input);
    let mut reader = CommandReader::new(limits, ParseOptions::default());
    let mut bytewise = Vec::new();
    for b in input {
        bytewise.extend(events(&mut reader, std::slice::from_ref(b)));
    }
    assert_eq!(at_once, bytewise, "feeding octet by octet changes the events");
    at_once
}

fn command(event: &Event) -> &CommandBody {
    match event {
        Event::Command(c) => &c.body,
        other => panic!("expected a command, got {other:?}"),
    }
}

fn error(event: &Event) -> (Option<&str>, Status, Option<Code>) {
    match event {
        Event::Error(e) => {
            let r = e.response();
            (e.tag.as_ref().map(|t| t.as_str()), r.status, r.code)
        }
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn synchronising_literal_split_across_feeds() {
    let mut reader = CommandReader::default();
    assert_eq!(events(&mut reader, b"A003 APPEND saved-messages (\\Seen) {3"), vec![]);
    assert_eq!(events(&mut reader, b"26}\r"), vec![]);
    assert_eq!(events(&mut reader, b"\n"), vec![Event::ContinuationNeeded { size: 326 }]);
    let message = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\nFrom: Fred Foobar <foobar@Blurdybloop.example>\r\nSubject: afternoon meeting\r\nTo: mooch@owatagu.siam.edu.example\r\nMessage-Id: <B27397-0100000@Blurdybloop.example>\r\nMIME-Version: 1.0\r\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\r\nHello Joe, do you think we can meet at 3:30 tomorrow?\r\n";
    assert_eq!(message.len(), 326);
    let (a, b) = message.as_bytes().split_at(100);
    assert_eq!(events(&mut reader, a), vec![]);
    assert_eq!(events(&mut reader, b), vec![]);
    let got = events(&mut reader, b"\r\nA004 NOOP\r\n");
    assert_eq!(got.len(), 2);
    let CommandBody::Append { mailbox, messages } = command(&got[0]) else { panic!() };
    assert_eq!(mailbox.as_str(), "saved-messages");
    assert_eq!(messages[0].data, message.as_bytes());
    assert_eq!(messages[0].flags, vec![crate::imap::Flag::Seen]);
    assert_eq!(command(&got[1]), &CommandBody::Noop);
    assert_eq!(reader.buffered(), 0);
}

#[test]
fn non_synchronising_literals_need_no_continuation() {
    let got = all_events(
        ReaderLimits::default(),
        "a SEARCH CHARSET UTF-8 SUBJECT {3+}\r\nüb\r\nb LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n".as_bytes(),
    );
    assert_eq!(got.len(), 2);
    let CommandBody::Search(search) = command(&got[0]) else { panic!() };
    assert_eq!(search.charset.as_deref(), Some("UTF-8"));
    assert_eq!(search.criteria, vec![crate::imap::SearchKey::Subject("üb".as_bytes().to_vec())]);
    let CommandBody::Login { username, password } = command(&got[1]) else { panic!() };
    assert_eq!((username.as_str(), password.expose()), ("alice", &b"secret"[..]));
}

#[test]
fn pipelined_mix_is_the_same_octet_by_octet() {
    let input =
        b"1 NOOP\r\n2 LOGIN {1}\r\na {1}\r\nb\r\n3 SELECT INBOX\n4 APPEND x ~{3}\r\n\0\xff\0\r\n5 FETCH 1 (FLAGS)\r\n";
    let got = all_events(ReaderLimits::default(), input);
    let kinds: Vec<String> = got
        .iter()
        .map(|e| match e {
            Event::Command(c) => c.body.name().to_owned(),
            Event::ContinuationNeeded { size } => format!("+{size}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, ["NOOP", "+1", "+1", "LOGIN", "SELECT", "+3", "APPEND", "FETCH"]);
    let CommandBody::Append { messages, .. } = command(&got[6]) else { panic!() };
    assert!(messages[0].binary);
    assert_eq!(messages[0].data, b"\0\xff\0");
}

#[test]
fn empty_literal() {
    let got = all_events(ReaderLimits::default(), b"a LOGIN {0}\r\n {0+}\r\n\r\n");
    assert_eq!(got[0], Event::ContinuationNeeded { size: 0 });
    let CommandBody::Login { username, password } = command(&got[1]) else { panic!() };
    assert!(username.is_empty() && password.expose().is_empty());
}

#[test]
fn unknown_command_is_refused_before_its_literal() {
    // RFC 9051 7.5: "A044 BLURDYBLOOP {102856}" gets BAD, no continuation.
    let got = all_events(ReaderLimits::default(), b"A044 BLURDYBLOOP {102856}\r\nA045 NOOP\r\n");
    assert_eq!(error(&got[0]), (Some("A044"), Status::Bad, None));
    assert_eq!(command(&got[1]), &CommandBody::Noop);
}

#[test]
fn literal_too_big() {
    let limits = ReaderLimits { max_literal: 10, max_append_literal: 100, ..ReaderLimits::default() };
    // Synchronising: refused at once; the client sends nothing more for it.
    let got = all_events(limits, b"a1 LOGIN {11}\r\na2 APPEND x {101}\r\na3 NOOP\r\n");
    assert_eq!(error(&got[0]), (Some("a1"), Status::Bad, Some(Code::TooBig)));
    assert_eq!(error(&got[1]), (Some("a2"), Status::No, Some(Code::TooBig)), "RFC 7889: NO [TOOBIG]");
    assert_eq!(command(&got[2]), &CommandBody::Noop);
    assert_eq!(got.len(), 3);
}

#[test]
fn refused_non_synchronising_literal_is_skipped_not_executed() {
    let limits = ReaderLimits { max_literal: 10, ..ReaderLimits::default() };
    let input = b"a1 LOGIN {17+}\r\na2 DELETE INBOX\r\n {6+}\r\nx\r\ny\r\n\r\na3 NOOP\r\n";
    let got = all_events(limits, input);
    assert_eq!(error(&got[0]), (Some("a1"), Status::Bad, Some(Code::TooBig)));
    assert_eq!(command(&got[1]), &CommandBody::Noop, "{got:?}");
    assert_eq!(got.len(), 2);
}

#[test]
fn literal_minus_limits_non_synchronising_literals() {
    let limits = ReaderLimits { max_non_sync_literal: Some(4096), ..ReaderLimits::default() };
    let mut input = b"a1 APPEND x {4097+}\r\n".to_vec();
    input.extend(std::iter::repeat_n(b'z', 4097));
    input.extend_from_slice(b"\r\na2 APPEND x {4097}\r\n");
    let got = all_events(limits, &input);
    assert_eq!(error(&got[0]), (Some("a1"), Status::Bad, Some(Code::TooBig)));
    assert_eq!(got[1], Event::ContinuationNeeded { size: 4097 });
}

#[test]
fn huge_literal_sizes_are_refused() {
    let got = all_events(ReaderLimits::default(), b"a1 LOGIN {99999999999999999999999}\r\na2 NOOP\r\n");
    assert_eq!(error(&got[0]), (Some("a1"), Status::Bad, Some(Code::TooBig)));
    assert_eq!(command(&got[1]), &CommandBody::Noop);
}

#[test]
fn line_too_long() {
    let limits = ReaderLimits { max_line: 64, ..ReaderLimits::default() };
    let mut input = b"a1 SEARCH SUBJECT ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 200));
    input.extend_from_slice(b"\r\na2 NOOP\r\n");
    let got = all_events(limits, &input);
    assert_eq!(error(&got[0]), (Some("a1"), Status::Bad, Some(Code::Limit)));
    assert_eq!(command(&got[1]), &CommandBody::Noop);
    assert_eq!(got.len(), 2);

    // An over-long line announcing a non-synchronising literal: the literal
    // is skipped too, it holds no command.
    let mut input = b"b1 APPEND x ".to_vec();
    input.extend(std::iter::repeat_n(b'y', 200));
    input.extend_from_slice(b" {12+}\r\nb2 LOGOUT\r\n\r\nb3 NOOP\r\n");
    let got = all_events(limits, &input);
    assert_eq!(error(&got[0]), (Some("b1"), Status::Bad, Some(Code::Limit)));
    assert_eq!(command(&got[1]), &CommandBody::Noop, "{got:?}");
    assert_eq!(got.len(), 2);
}

#[test]
fn too_many_literals_and_too_big_command() {
    let limits = ReaderLimits { max_literals: 2, ..ReaderLimits::default() };
    let got = all_events(limits, b"a ID ({1+}\r\na {1+}\r\nb {1+}\r\nc NIL)\r\nz NOOP\r\n");
    assert_eq!(error(&got[0]), (Some("a"), Status::Bad, Some(Code::Limit)));
    assert_eq!(command(&got[1]), &CommandBody::Noop, "{got:?}");

    let limits = ReaderLimits { max_command: 30, ..ReaderLimits::default() };
    let got = all_events(limits, b"a LOGIN {10+}\r\n0123456789 {10+}\r\n0123456789\r\nz NOOP\r\n");
    assert_eq!(error(&got[0]), (Some("a"), Status::Bad, Some(Code::TooBig)));
    assert_eq!(command(&got[1]), &CommandBody::Noop, "{got:?}");
}

#[test]
fn errors_carry_the_tag_or_are_untagged() {
    let got = all_events(ReaderLimits::default(), b"\r\n+ NOOP\r\n* NOOP\r\na1 FETCH 0 FLAGS\r\na2 FETCH 1 (FLAGS\r\n");
    assert_eq!(error(&got[0]), (None, Status::Bad, None));
    assert_eq!(error(&got[1]), (None, Status::Bad, None));
    assert_eq!(error(&got[2]), (None, Status::Bad, None));
    assert_eq!(error(&got[3]), (Some("a1"), Status::Bad, None));
    assert_eq!(error(&got[4]), (Some("a2"), Status::Bad, None));
    let bytes = match &got[3] {
        Event::Error(e) => e.response().to_bytes(),
        _ => unreachable!(),
    };
    assert_eq!(bytes, b"a1 BAD invalid sequence set\r\n");
}

#[test]
fn idle_done_and_authenticate_lines() {
    let mut reader = CommandReader::default();
    let got = events(&mut reader, b"a IDLE\r\nDONE\r\nb NOOP\r\n");
    // Without expect_line, only the IDLE is returned before the driver
    // answers; here all is parsed as commands since nobody asked.
    assert_eq!(command(&got[0]), &CommandBody::Idle);
    assert!(matches!(error(&got[1]), (Some("DONE"), Status::Bad, None)));

    let mut reader = CommandReader::default();
    reader.feed(b"a IDLE\r\ndone\r\nb NOOP\r\n");
    assert_eq!(command(&reader.next().unwrap()), &CommandBody::Idle);
    reader.expect_line();
    let Some(Event::Line(line)) = reader.next() else { panic!() };
    assert!(idle::is_done(&line));
    assert_eq!(command(&reader.next().unwrap()), &CommandBody::Noop);

    let mut reader = CommandReader::default();
    reader.feed(b"a AUTHENTICATE PLAIN\r\n");
    assert!(matches!(command(&reader.next().unwrap()), CommandBody::Authenticate { initial_response: None, .. }));
    reader.expect_line();
    assert_eq!(reader.next(), None);
    reader.feed(b"AGFsaWNlAHNlY3JldA==\r");
    assert_eq!(reader.next(), None);
    reader.feed(b"\n");
    assert_eq!(reader.next(), Some(Event::Line(b"AGFsaWNlAHNlY3JldA==".to_vec())));
}

#[test]
fn memory_stays_bounded_for_endless_lines() {
    let limits = ReaderLimits { max_line: 1000, ..ReaderLimits::default() };
    let mut reader = CommandReader::new(limits, ParseOptions::default());
    let chunk = vec![b'x'; 4096];
    let mut errors = 0;
    for _ in 0..1000 {
        reader.feed(&chunk);
        while let Some(event) = reader.next() {
            assert!(matches!(event, Event::Error(_)));
            errors += 1;
        }
        assert!(reader.buffered() <= 2 * chunk.len(), "{}", reader.buffered());
    }
    assert_eq!(errors, 1, "one error for one over-long line");
}

#[test]
fn announcements_with_many_digits_are_seen_in_refused_lines() {
    let limits = ReaderLimits { max_line: 64, ..ReaderLimits::default() };
    // Leading zeros are legal (number64 = 1*DIGIT): the announcement is
    // longer than any fixed window, and its literal must still be skipped.
    let mut input = b"c1 APPEND x ".to_vec();
    input.extend(std::iter::repeat_n(b'y', 100));
    input.extend_from_slice(b" {");
    input.extend(std::iter::repeat_n(b'0', 100));
    input.extend_from_slice(b"12+}\r\nc2 LOGOUT\r\n\r\nc3 NOOP\r\n");
    let got = all_events(limits, &input);
    assert_eq!(error(&got[0]), (Some("c1"), Status::Bad, Some(Code::Limit)));
    assert_eq!(command(&got[1]), &CommandBody::Noop, "{got:?}");
    // A fuzzer find: a line ending in digits and "+}" without "{".
    let got = all_events(ReaderLimits::default(), b"a NOOP 3+}\r\n");
    assert_eq!(error(&got[0]), (Some("a"), Status::Bad, None));
    let got = all_events(ReaderLimits::default(), b"a LOGIN {0005+}\r\nalice {1}\r\nb\r\n");
    assert_eq!(got[0], Event::ContinuationNeeded { size: 1 });
    assert!(matches!(command(&got[1]), CommandBody::Login { .. }));
}
