//! The ActiveSync WBXML decoder on arbitrary bytes: it must never panic, and
//! whatever it accepts must survive encode → decode unchanged.

#![no_main]

use axigen_activesync::wbxml::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tree) = decode(data) {
        let bytes = encode(&tree).expect("a decoded tree encodes");
        let again = decode(&bytes).expect("our own encoding decodes");
        assert_eq!(again, tree);
    }
});
