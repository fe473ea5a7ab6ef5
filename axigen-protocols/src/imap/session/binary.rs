//! BINARY (RFC 3516): the content of a body part with its
//! Content-Transfer-Encoding removed, for `BINARY[part]`, `BINARY.PEEK`
//! and `BINARY.SIZE`. Decoding is lenient, as mail in the wild needs:
//! characters outside the base64 alphabet are skipped (RFC 2045 6.8), and
//! a quoted-printable `=` not followed by two hex digits is kept as is
//! (RFC 2045 6.7, note 1).

use axigen_core::structure::{MessageStructure, SectionKind};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// The part's transfer encoding is not one the server can decode
/// (RFC 3516 4.3: `NO [UNKNOWN-CTE]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct UnknownCte;

/// The decoded octets of `BINARY[part]`, `Ok(None)` when the part does not
/// exist. An empty path is the whole message, which has no transfer
/// encoding of its own (RFC 3516 4.2).
pub(super) fn part_content(
    structure: &MessageStructure,
    raw: &[u8],
    part: &[u32],
) -> Result<Option<Vec<u8>>, UnknownCte> {
    let (Some(body), Some(range)) = (structure.part(part), structure.section(raw, part, SectionKind::Full)) else {
        return Ok(None);
    };
    let Some(bytes) = raw.get(range) else { return Ok(None) };
    if part.is_empty() {
        return Ok(Some(bytes.to_vec()));
    }
    decode(&body.encoding, bytes).map(Some)
}

/// Removes a Content-Transfer-Encoding (RFC 2045 6).
pub(super) fn decode(encoding: &str, bytes: &[u8]) -> Result<Vec<u8>, UnknownCte> {
    let encoding = encoding.trim();
    if encoding.is_empty() || ["7BIT", "8BIT", "BINARY"].iter().any(|e| encoding.eq_ignore_ascii_case(e)) {
        Ok(bytes.to_vec())
    } else if encoding.eq_ignore_ascii_case("BASE64") {
        Ok(base64(bytes))
    } else if encoding.eq_ignore_ascii_case("QUOTED-PRINTABLE") {
        Ok(quoted_printable(bytes))
    } else {
        Err(UnknownCte)
    }
}

/// RFC 2045 6.8: characters outside the alphabet are ignored; decoding
/// stops at the padding.
fn base64(bytes: &[u8]) -> Vec<u8> {
    let mut clean: Vec<u8> = Vec::with_capacity(bytes.len());
    for &b in bytes {
        if b == b'=' {
            break;
        }
        if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' {
            clean.push(b);
        }
    }
    // A single leftover character carries no whole octet.
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    GeneralPurpose::new(&base64::alphabet::STANDARD, config).decode(&clean).unwrap_or_default()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// RFC 2045 6.7: `=XX` octets, `=` at the end of a line is a soft line
/// break, and trailing white space on a line is not part of the data.
fn quoted_printable(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let (text, eol): (&[u8], &[u8]) = if let Some(t) = line.strip_suffix(b"\r\n") {
            (t, b"\r\n")
        } else if let Some(t) = line.strip_suffix(b"\n") {
            (t, b"\n")
        } else {
            (line, b"")
        };
        let text = if eol.is_empty() { text } else { text.trim_ascii_end() };
        let (text, soft) = match text.strip_suffix(b"=") {
            Some(t) => (t, true),
            None => (text, false),
        };
        let mut i = 0;
        while i < text.len() {
            if text[i] == b'='
                && let (Some(h), Some(l)) =
                    (text.get(i + 1).copied().and_then(hex), text.get(i + 2).copied().and_then(hex))
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            out.push(text[i]);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

/// `literal8` (RFC 3516 4.2) when the octets hold a NUL, else a literal.
pub(super) fn literal(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.contains(&0) {
        out.extend_from_slice(format!("~{{{}}}\r\n", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
    } else {
        crate::imap::encode::literal(out, bytes, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_transfer_encodings() {
        assert_eq!(decode("base64", b"AAECAwQF\r\nBgcICQ==\r\n").unwrap(), (0u8..10).collect::<Vec<_>>());
        assert_eq!(
            decode("Quoted-Printable", b"caf=C3=A9 =\r\nau lait  \r\n=3D\r\n").unwrap(),
            "café au lait\r\n=\r\n".as_bytes()
        );
        assert_eq!(decode("quoted-printable", b"a=ZZb").unwrap(), b"a=ZZb");
        assert_eq!(decode("7bit", b"plain").unwrap(), b"plain");
        assert_eq!(decode("x-uuencode", b"x"), Err(UnknownCte));
    }
}
