//! IDLE (RFC 2177): after `+ idling`, the client's only line is `DONE`.

/// Whether a line read while idling is `DONE` (RFC 2177 3: "The client
/// MUST NOT send a command while the server is waiting for the DONE").
/// Case-insensitive; the line ending and trailing spaces are ignored.
///
/// ```
/// use axigen_protocols::imap::extensions::idle::is_done;
/// assert!(is_done(b"DONE\r\n"));
/// assert!(is_done(b"done"));
/// assert!(!is_done(b"A1 NOOP\r\n"));
/// ```
pub fn is_done(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let end = line.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    line[..end].eq_ignore_ascii_case(b"DONE")
}
