//! A CalDAV/CardDAV request body as the endpoint reads it: the XML parser
//! (no DTD, bounded depth and size), the REPORT filters built from it, and
//! their evaluation (recurrence expansion, time zones, text matching,
//! `expand`, free-busy) on sample objects. Never panics; a refusal is an
//! error value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = axigen_protocols::dav::xml::parse(data) {
        assert!(!root.name.is_empty());
    }
    let _ = axigen_protocols::dav::check_query(data);
});
