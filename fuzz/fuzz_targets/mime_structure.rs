//! The MIME structure walk the store runs on every stored message (ENVELOPE,
//! BODYSTRUCTURE, section offsets): never panics, and every section range it
//! returns lies inside the message.
#![no_main]

use axigen_core::structure::{SectionKind, parse_structure};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = parse_structure(data);
    for path in [&[][..], &[1], &[1, 1], &[2], &[1, 2, 1]] {
        for kind in [SectionKind::Full, SectionKind::Header, SectionKind::Text, SectionKind::Mime] {
            if let Some(r) = s.section(data, path, kind) {
                assert!(r.start <= r.end && r.end <= data.len(), "section {path:?} {kind:?} out of bounds: {r:?}");
            }
        }
    }
});
