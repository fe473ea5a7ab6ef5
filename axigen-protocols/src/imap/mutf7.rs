//! Modified UTF-7 for mailbox names (RFC 3501 5.1.3, kept by RFC 9051 5.1.3
//! for clients that have not enabled UTF8=ACCEPT).
//!
//! Printable US-ASCII (0x20-0x7e) stands for itself, except `&`, which is
//! written `&-`. Every other character is written as UTF-16, encoded with
//! the base64 alphabet of RFC 2045 where `,` replaces `/`, without padding,
//! between `&` and `-`.
//!
//! [`decode`] is strict: it accepts only the one canonical encoding of a name
//! (RFC 3501 5.1.3: "Printable US-ASCII characters ... MUST represent
//! themselves", no padding bits, no two adjacent shifted runs), so that two
//! different byte strings never name the same mailbox.
//!
//! ```
//! use axigen_protocols::imap::mutf7;
//! assert_eq!(mutf7::decode("Entw&APw-rfe").unwrap(), "Entwürfe");
//! assert_eq!(mutf7::encode("日本語"), "&ZeVnLIqe-");
//! ```

/// The modified base64 alphabet: RFC 2045's with `,` for `/`.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Why a mailbox name is not valid modified UTF-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Mutf7Error {
    /// An octet outside printable US-ASCII.
    #[error("octet outside printable US-ASCII in a modified UTF-7 name")]
    NotPrintable,
    /// A `&` without its closing `-`.
    #[error("unterminated modified UTF-7 shift sequence")]
    Unterminated,
    /// A character that is not in the modified base64 alphabet.
    #[error("invalid character in a modified UTF-7 shift sequence")]
    BadBase64,
    /// The shifted text is not well-formed UTF-16 (odd length, lone surrogate, non-zero padding bits).
    #[error("modified UTF-7 shift sequence is not valid UTF-16")]
    BadUtf16,
    /// Valid, but not the canonical encoding (shifted ASCII, adjacent shift sequences).
    #[error("modified UTF-7 name is not in canonical form")]
    NotCanonical,
}

fn is_direct(c: char) -> bool {
    ('\u{20}'..='\u{7e}').contains(&c)
}

/// Encodes a name to modified UTF-7 (RFC 3501 5.1.3).
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    let mut units: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_direct(c) {
            flush(&mut out, &mut units);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut units);
    out
}

/// Writes the pending UTF-16 units as one `&...-` run.
fn flush(out: &mut String, units: &mut Vec<u16>) {
    if units.is_empty() {
        return;
    }
    out.push('&');
    let mut bits: u32 = 0;
    let mut nbits = 0u32;
    for &u in units.iter() {
        bits = (bits << 16) | u32::from(u);
        nbits += 16;
        while nbits >= 6 {
            nbits -= 6;
            out.push(ALPHABET[((bits >> nbits) & 0x3f) as usize] as char);
        }
        bits &= (1 << nbits) - 1;
    }
    if nbits > 0 {
        // Pad the last sextet with zero bits; no `=` padding (RFC 3501 5.1.3).
        out.push(ALPHABET[((bits << (6 - nbits)) & 0x3f) as usize] as char);
    }
    out.push('-');
    units.clear();
}

fn sextet(b: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == b).map(|p| p as u32)
}

/// Decodes a modified UTF-7 name; only the canonical encoding is accepted.
pub fn decode(encoded: impl AsRef<[u8]>) -> Result<String, Mutf7Error> {
    let input = encoded.as_ref();
    let mut out = String::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if !(0x20..=0x7e).contains(&b) {
            return Err(Mutf7Error::NotPrintable);
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = input[i + 1..].iter().position(|&c| c == b'-').ok_or(Mutf7Error::Unterminated)? + i + 1;
        let run = &input[i + 1..end];
        i = end + 1;
        if run.is_empty() {
            out.push('&');
            continue;
        }
        let mut units = Vec::with_capacity(run.len() * 6 / 16);
        let mut bits: u32 = 0;
        let mut nbits = 0u32;
        for &c in run {
            bits = (bits << 6) | sextet(c).ok_or(Mutf7Error::BadBase64)?;
            nbits += 6;
            if nbits >= 16 {
                nbits -= 16;
                units.push(((bits >> nbits) & 0xffff) as u16);
                bits &= (1 << nbits) - 1;
            }
        }
        // Leftover bits are padding: fewer than a sextet's worth and all zero.
        if nbits >= 6 || bits != 0 {
            return Err(Mutf7Error::BadUtf16);
        }
        for c in char::decode_utf16(units) {
            out.push(c.map_err(|_| Mutf7Error::BadUtf16)?);
        }
    }
    if encode(&out).as_bytes() != input {
        return Err(Mutf7Error::NotCanonical);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers, both ways.
    #[test]
    fn known_answers() {
        let cases = [
            ("Entw&APw-rfe", "Entwürfe"),
            ("&ZeVnLIqe-", "日本語"),
            ("&-", "&"),
            ("INBOX", "INBOX"),
            ("", ""),
            ("a&-b", "a&b"),
            ("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
            ("&AOkA6QDp-", "ééé"),
            ("Gel&APY-schte Elemente", "Gelöschte Elemente"),
            ("&2D3eAA-", "😀"),
            ("&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-", "Отправленные"),
            ("tab&AAk-", "tab\t"),
        ];
        for (encoded, decoded) in cases {
            assert_eq!(encode(decoded), encoded, "encode {decoded:?}");
            assert_eq!(decode(encoded).as_deref(), Ok(decoded), "decode {encoded:?}");
        }
    }

    #[test]
    fn rejects_non_canonical_and_malformed() {
        assert_eq!(decode("&"), Err(Mutf7Error::Unterminated));
        assert_eq!(decode("&AGE-"), Err(Mutf7Error::NotCanonical), "shifted 'a'");
        assert_eq!(decode("&AOk-&AOk-"), Err(Mutf7Error::NotCanonical), "adjacent runs");
        assert_eq!(decode("&AOl-"), Err(Mutf7Error::BadUtf16), "non-zero padding bits");
        assert_eq!(decode("&2D0-"), Err(Mutf7Error::BadUtf16), "lone high surrogate");
        assert_eq!(decode("&A/k-"), Err(Mutf7Error::BadBase64), "RFC 2045 '/'");
        assert_eq!(decode("caf\u{e9}"), Err(Mutf7Error::NotPrintable));
        assert_eq!(decode("a\tb"), Err(Mutf7Error::NotPrintable));
        assert_eq!(decode("&AOkA-"), Err(Mutf7Error::BadUtf16), "a unit and a half");
    }

    #[test]
    fn round_trip_of_many_strings() {
        let samples = ["", "&&", "a&b&", "€", "x€y", "\u{7f}", "\u{1}", "𝄞&𝄞", "ü-ü", "-&-", "ASCII only"];
        for s in samples {
            assert_eq!(decode(encode(s)).as_deref(), Ok(s), "{s:?}");
        }
        // Every single code point of a sample range survives.
        for c in ('\u{0}'..='\u{2ff}').chain('\u{fff0}'..='\u{10010}') {
            let s = format!("a{c}b");
            assert_eq!(decode(encode(&s)), Ok(s));
        }
    }
}
