//! The SMTP client's reply parser on arbitrary bytes fed in arbitrary
//! chunks: never panics, every reply has a valid code and a bounded size,
//! and the chunking does not change the result.
#![no_main]

use axigen_protocols::smtp::client::{MAX_LINE, MAX_LINES, ReplyParser, ServerReply};
use libfuzzer_sys::fuzz_target;

/// Feeds `data` in chunks whose sizes come from `cuts`; returns the replies
/// and whether the parser failed.
fn run(data: &[u8], cuts: &[u8]) -> (Vec<ServerReply>, bool) {
    let mut parser = ReplyParser::new();
    let mut replies = Vec::new();
    let mut rest = data;
    let mut cuts = cuts.iter().cycle();
    while !rest.is_empty() {
        let size = (usize::from(*cuts.next().unwrap_or(&255)) + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        let mut next = parser.feed(chunk);
        loop {
            match next {
                Ok(Some(reply)) => {
                    assert!((200..600).contains(&reply.code), "{reply:?}");
                    assert!(!reply.lines.is_empty() && reply.lines.len() <= MAX_LINES);
                    // U+FFFD may triple the bytes of an invalid sequence.
                    assert!(reply.lines.iter().all(|l| l.len() <= 3 * MAX_LINE));
                    if let Some((class, subject, detail)) = reply.enhanced {
                        assert_eq!(u16::from(class), reply.code / 100);
                        assert!(subject < 1000 && detail < 1000);
                    }
                    replies.push(reply);
                    next = parser.next_reply();
                }
                Ok(None) => break,
                Err(_) => return (replies, true),
            }
        }
    }
    (replies, false)
}

fuzz_target!(|input: &[u8]| {
    // The first bytes choose the chunk sizes; the rest is the server's data.
    let split = usize::from(input.first().copied().unwrap_or(0) % 8) + 1;
    let (cuts, data) = input.split_at(split.min(input.len()));
    let chunked = run(data, cuts);
    let whole = run(data, &[255]);
    let single = run(data, &[0]);
    assert_eq!(chunked, single);
    assert_eq!(whole.0, single.0);
    assert_eq!(whole.1, single.1);
});
