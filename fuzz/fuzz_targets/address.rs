//! Address and domain parsing: what SMTP envelopes, logins and the admin API
//! feed in. Never panics; whatever parses re-parses to itself.
#![no_main]

use axigen_core::model::{Address, DomainName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(a) = Address::parse(text) {
        let again = Address::parse(&a.to_string()).expect("a parsed address re-parses");
        assert_eq!(again, a);
    }
    if let Ok(d) = DomainName::new(text) {
        assert_eq!(DomainName::new(d.as_str()).expect("normalised name re-parses"), d);
    }
});
