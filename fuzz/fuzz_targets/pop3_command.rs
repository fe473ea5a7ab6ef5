//! The POP3 command parser and line framer on arbitrary bytes: never
//! panics, and whatever parses prints back to a line that parses to the
//! same command.
#![no_main]

use axigen_protocols::pop3::{Line, LineReader, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check(data);
    // The same bytes as a stream of lines, fed in two pieces.
    let mut reader = LineReader::new(64);
    let (first, second) = data.split_at(data.len() / 2);
    reader.feed(first);
    let mut lines = 0usize;
    while let Some(line) = reader.next_line() {
        lines += 1;
        if let Line::Complete(line) = line {
            assert!(line.len() < 64 && !line.contains(&b'\n'));
            check(&line);
        }
    }
    reader.feed(second);
    while let Some(line) = reader.next_line() {
        lines += 1;
        if let Line::Complete(line) = line {
            assert!(line.len() < 64 && !line.contains(&b'\n'));
            check(&line);
        }
    }
    assert!(lines <= data.len());
    assert!(reader.buffered() < 64);
});

fn check(line: &[u8]) {
    if let Ok(command) = parse(line) {
        let text = command.to_string();
        assert!(text.starts_with(command.keyword()), "{text:?}");
        let again = parse(text.as_bytes()).expect("the canonical form parses");
        assert_eq!(again, command, "{text:?}");
    }
}
