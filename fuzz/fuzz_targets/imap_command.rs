//! The IMAP command reader on arbitrary bytes fed in reads of fuzzed size:
//! never panics, holds a bounded amount of memory, every refusal maps to a
//! well-formed tagged or untagged BAD/NO, and every command prints to a
//! canonical form that parses back to the same command.
//!
//! Byte 0 picks the options (bit 0: UTF8=ACCEPT, bit 1: LITERAL- limit,
//! bit 2: answer AUTHENTICATE/IDLE with `expect_line`), byte 1 seeds the
//! read sizes.
#![no_main]

use axigen_protocols::imap::{Command, CommandBody, CommandReader, Event, ParseOptions, ReaderLimits, Status};
use libfuzzer_sys::fuzz_target;

fn check_command(command: &Command, options: &ParseOptions) {
    let encoded = command.encode(options.utf8_accept);
    match Command::parse(&encoded, options) {
        Ok(again) => assert_eq!(&again, command, "{:?}", String::from_utf8_lossy(&encoded)),
        Err(e) => panic!("canonical form {:?} refused: {e:?}", String::from_utf8_lossy(&encoded)),
    }
}

fuzz_target!(|data: &[u8]| {
    let [ctl, seed, input @ ..] = data else { return };
    let options = ParseOptions { utf8_accept: ctl & 1 != 0 };
    let limits = ReaderLimits {
        max_line: 256,
        max_literal: 512,
        max_append_literal: 2048,
        max_non_sync_literal: (ctl & 2 != 0).then_some(64),
        max_literals: 8,
        max_command: 4096,
    };
    let answer_lines = ctl & 4 != 0;

    // The whole input as one command.
    if let Ok(command) = Command::parse(input, &options) {
        check_command(&command, &options);
    }

    let mut reader = CommandReader::new(limits, options);
    let mut rng = u32::from(*seed) | 1;
    let mut rest = input;
    while !rest.is_empty() {
        // xorshift: read sizes from 1 to 64.
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let n = (1 + rng % 64) as usize;
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        reader.feed(chunk);
        while let Some(event) = reader.next() {
            match event {
                Event::Command(command) => {
                    check_command(&command, &options);
                    if answer_lines && matches!(command.body, CommandBody::Idle | CommandBody::Authenticate { .. }) {
                        reader.expect_line();
                    }
                }
                Event::Error(err) => {
                    let response = err.response();
                    assert!(matches!(response.status, Status::Bad | Status::No));
                    let bytes = response.to_bytes();
                    assert!(bytes.ends_with(b"\r\n"));
                    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1, "{bytes:?}");
                    assert_eq!(bytes.iter().filter(|&&b| b == b'\r').count(), 1, "{bytes:?}");
                }
                Event::ContinuationNeeded { size } => assert!(size <= limits.max_append_literal),
                Event::Line(line) => assert!(line.len() <= limits.max_line),
            }
            let bound = limits.max_command as usize + 2 * limits.max_line + 64;
            assert!(reader.buffered() <= bound, "{} octets held", reader.buffered());
        }
    }
});
