//! Small pieces the HTTP services share (ActiveSync, CalDAV/CardDAV) and
//! the URL forms other protocols use (IMAP URLs in CATENATE).

use base64::Engine as _;
use hyper::header::{self, HeaderMap};

/// The user and password of an `Authorization: Basic` header (RFC 7617),
/// if the request has a well-formed one.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let (user, password) = String::from_utf8(raw).ok()?.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned()))?;
    Some((user, password))
}

/// A UTC date in the form mail and HTTP share: `Sun, 06 Nov 1994 08:49:37
/// GMT` for HTTP (RFC 9110 5.6.7, two-digit day), `Sun, 6 Nov 1994
/// 08:49:37 +0000` for mail (RFC 5322 3.3).
pub(crate) fn utc_date(unix: i64, http: bool) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = axigen_core::civil_from_days(days);
    let (day, zone) = if http { (format!("{d:02}"), "GMT") } else { (d.to_string(), "+0000") };
    format!(
        "{}, {day} {} {y} {:02}:{:02}:{:02} {zone}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m as usize).saturating_sub(1).min(11)],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// An HTTP date (RFC 9110 5.6.7).
pub fn http_date(unix: i64) -> String {
    utc_date(unix, true)
}

/// `%XX` escapes decoded (RFC 3986 2.1); `None` for a broken escape.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    #[test]
    fn basic_and_percent() {
        let mut h = HeaderMap::new();
        assert_eq!(basic_credentials(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic YW5uQGV4YW1wbGUuY29tOnA6dw=="));
        assert_eq!(basic_credentials(&h), Some(("ann@example.com".into(), "p:w".into())));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("basic   YTpi"));
        assert_eq!(basic_credentials(&h), Some(("a".into(), "b".into())));
        for bad in ["Bearer YTpi", "Basic !!!", "Basic YWI="] {
            h.insert(header::AUTHORIZATION, HeaderValue::from_static(bad));
            assert_eq!(basic_credentials(&h), None, "{bad}");
        }
        assert_eq!(percent_decode("a%2Fb%40c").as_deref(), Some(&b"a/b@c"[..]));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
    }
}
