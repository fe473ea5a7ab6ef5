//! The SMTP command parser on arbitrary bytes: never panics, every error
//! maps to a well-formed 5xx reply, and whatever parses prints back to a
//! line that parses to the same command.
#![no_main]

use axigen_protocols::smtp::{Command, Reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for smtputf8 in [false, true] {
        match Command::parse(data, smtputf8) {
            Ok(command) => {
                let line = command.to_string();
                let again = Command::parse(line.as_bytes(), smtputf8).expect("the canonical form parses");
                assert_eq!(again, command, "{line:?}");
            }
            Err(err) => {
                let reply = err.reply();
                assert!((500..600).contains(&reply.code), "{reply:?}");
                assert_eq!(Reply::decode(&reply.encode()).map(|r| r.code), Some(reply.code));
            }
        }
    }
});
