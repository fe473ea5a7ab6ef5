//! BINARY (RFC 3516): the content of a body part with its
//! Content-Transfer-Encoding removed, for `BINARY[part]`, `BINARY.PEEK`
//! and `BINARY.SIZE`. Decoding is lenient, as mail in the wild needs:
//! characters outside the base64 alphabet are skipped (RFC 2045 6.8), and
//! a quoted-printable `=` not followed by two hex digits is kept as is
//! (RFC 2045 6.7, note 1).

use axigen_core::structure::{BodyPart, MessageStructure, SectionKind, parse_structure};
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

/// A message appended as `literal8` (RFC 3516 4.4) with NUL octets, made
/// fit for `BODY[]`: every leaf part whose body holds a NUL is re-encoded
/// as base64, with its `Content-Transfer-Encoding` field set to match. A
/// `literal` may not carry NUL (RFC 9051 4.3), so without this `BODY[1]`
/// of such a part could not be answered; `BINARY[1]` decodes the base64
/// and gives the client its octets back unchanged. `None` when nothing
/// needs converting (no NUL in any part's body).
pub(super) fn seven_bit(raw: &[u8]) -> Option<Vec<u8>> {
    if !raw.contains(&0) {
        return None;
    }
    let structure = parse_structure(raw);
    let mut leaves = Vec::new();
    collect_leaves(&structure.body, &mut leaves);
    // (range replaced, replacement), in offset order.
    let mut edits: Vec<(std::ops::Range<usize>, Vec<u8>)> = Vec::new();
    for part in leaves {
        let (header, body) = (part.header_range(), part.body_range());
        let Some(content) = raw.get(body.clone()) else { continue };
        if !content.contains(&0) || raw.get(header.clone()).is_none() {
            continue;
        }
        edits.push(encoding_field_edit(raw, header));
        edits.push((body, base64_lines(content)));
    }
    if edits.is_empty() {
        return None;
    }
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = Vec::with_capacity(raw.len() * 4 / 3 + 64);
    let mut at = 0;
    for (range, replacement) in edits {
        if range.start < at {
            // Overlapping parts cannot come from one parse; skip rather
            // than duplicate octets.
            continue;
        }
        out.extend_from_slice(&raw[at..range.start]);
        out.extend_from_slice(&replacement);
        at = range.end;
    }
    out.extend_from_slice(&raw[at..]);
    Some(out)
}

/// The leaf entities of a body, including those of embedded messages.
fn collect_leaves<'a>(part: &'a BodyPart, out: &mut Vec<&'a BodyPart>) {
    if part.is_multipart() {
        for p in &part.parts {
            collect_leaves(p, out);
        }
    } else if let Some(message) = &part.message {
        collect_leaves(&message.body, out);
    } else {
        out.push(part);
    }
}

/// The edit that makes a part's header say `base64`: its
/// `Content-Transfer-Encoding` field (folded lines included) replaced, or a
/// new field inserted before the blank line that ends the header.
fn encoding_field_edit(raw: &[u8], header: std::ops::Range<usize>) -> (std::ops::Range<usize>, Vec<u8>) {
    const FIELD: &[u8] = b"Content-Transfer-Encoding: base64\r\n";
    let bytes = &raw[header.clone()];
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            break;
        }
        // One field: its line and the continuation lines after it.
        let mut end = 0;
        loop {
            end = rest[end..].iter().position(|&b| b == b'\n').map_or(rest.len(), |p| end + p + 1);
            if end >= rest.len() || !matches!(rest[end], b' ' | b'\t') {
                break;
            }
        }
        let name = rest.iter().position(|&b| b == b':').map(|c| rest[..c.min(end)].trim_ascii());
        if name.is_some_and(|n| n.eq_ignore_ascii_case(b"content-transfer-encoding")) {
            return (header.start + at..header.start + at + end, FIELD.to_vec());
        }
        at += end;
    }
    let insert = header.start + at;
    (insert..insert, FIELD.to_vec())
}

/// Base64 in lines of 76 characters (RFC 2045 6.8), each ending in CRLF.
fn base64_lines(content: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(content);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for line in encoded.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
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

    #[test]
    fn binary_parts_become_base64() {
        // A single-part message: the body holds NUL.
        let raw = b"From: a@b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00-\xe4\r\n\r\n";
        let out = seven_bit(raw).unwrap();
        assert!(!out.contains(&0));
        let s = parse_structure(&out);
        assert_eq!(s.body.encoding.to_ascii_lowercase(), "base64");
        assert_eq!(part_content(&s, &out, &[1]).unwrap().unwrap(), b"\x00-\xe4\r\n\r\n");
        // A multipart: only the part with NUL changes; one without a CTE
        // field gets one.
        let raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nplain\r\n--x\r\nContent-Type: application/x\r\n\r\nab\x00c\r\n--x--\r\n";
        let out = seven_bit(raw).unwrap();
        let s = parse_structure(&out);
        assert_eq!(part_content(&s, &out, &[1]).unwrap().unwrap(), b"plain");
        assert_eq!(s.body.parts[1].encoding.to_ascii_lowercase(), "base64");
        assert_eq!(part_content(&s, &out, &[2]).unwrap().unwrap(), b"ab\x00c");
        // Nothing to do without NUL.
        assert_eq!(seven_bit(b"Subject: x\r\n\r\n\xff\xfe"), None);
    }
}
