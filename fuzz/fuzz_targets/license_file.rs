//! Licence file verification on arbitrary text: errors, never panics, and
//! nothing verifies against a key that did not sign it.
#![no_main]

use std::sync::OnceLock;

use axigen_core::license::{generate_vendor_keypair, verify_license};
use libfuzzer_sys::fuzz_target;

fn public_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| generate_vendor_keypair().1)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    assert!(verify_license(text, public_key()).is_err(), "forged licence accepted");
});
