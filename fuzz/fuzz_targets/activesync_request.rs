//! The ActiveSync request line (MS-ASHTTP) on arbitrary input: the query,
//! plain or base64, and the three headers it reads. It must never panic;
//! what it accepts must name a valid device.

#![no_main]

use axigen_activesync::request::{EasRequest, RequestHeaders};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The input is split on NUL: query, protocol version, policy key, multipart.
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let query = parts.next().unwrap_or_default();
    let headers = RequestHeaders {
        protocol_version: parts.next(),
        policy_key: parts.next(),
        accept_multipart: parts.next(),
    };
    if let Ok(request) = EasRequest::parse(query, headers) {
        assert!((1..=32).contains(&request.device_id.len()));
        assert!(request.device_id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!((1..=32).contains(&request.device_type.len()));
    }
});
