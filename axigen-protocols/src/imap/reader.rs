//! Framing of what the client sends (RFC 9051 2.2, 4.3, 7.5; RFC 7888):
//! command lines, the literals inside them, and the continuation lines of
//! AUTHENTICATE and IDLE. Sans-IO: the tokio driver, the tests and the
//! fuzzer feed it bytes and take [`Event`]s.
//!
//! A command line that ends with a literal announcement, `{n}` or `{n+}`
//! (or `~{n}` / `~{n+}` for binary, RFC 3516 4.4), is followed by n octets
//! and then by the rest of the command. For a synchronising literal the
//! reader yields [`Event::ContinuationNeeded`] and the driver sends
//! `+ Ready for literal data` (RFC 9051 7.5); a non-synchronising one
//! (LITERAL+, RFC 7888) is read straight on.
//!
//! Limits are checked when a literal is announced, before anything is
//! buffered or the client is invited to send: the tag is read and the
//! command name must be known (RFC 9051 7.5: "A044 BLURDYBLOOP {102856}" is
//! refused at once), the literal must fit its limit (APPENDLIMIT for APPEND,
//! RFC 7889), the number of literals and the total size are bounded. A
//! refused synchronising literal is never sent by the client; the octets of
//! a refused non-synchronising literal are read and dropped, and so is the
//! rest of that command, literal by literal, so that nothing the client
//! meant as data is ever taken for a command (RFC 7888 4).

use super::command::{COMMAND_NAMES, Command, ParseOptions, parse_tag};
use super::error::{CommandError, ErrorKind};
use super::parser::Parser;
use super::types::Tag;

/// The limits of a [`CommandReader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderLimits {
    /// Longest line, CRLF included (each part of a command between
    /// literals, and each AUTHENTICATE/IDLE continuation line).
    pub max_line: usize,
    /// Largest literal outside APPEND.
    pub max_literal: u64,
    /// Largest literal of APPEND: the APPENDLIMIT (RFC 7889).
    pub max_append_literal: u64,
    /// Largest non-synchronising literal: `Some(4096)` when the server
    /// announces LITERAL- rather than LITERAL+ (RFC 7888 3).
    pub max_non_sync_literal: Option<u64>,
    /// Most literals in one command.
    pub max_literals: usize,
    /// Largest command, literals included.
    pub max_command: u64,
}

impl Default for ReaderLimits {
    /// 64 KiB lines and literals, 64 MiB APPEND literals, LITERAL+,
    /// 64 literals and 128 MiB per command.
    fn default() -> ReaderLimits {
        ReaderLimits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024,
            max_append_literal: 64 * 1024 * 1024,
            max_non_sync_literal: None,
            max_literals: 64,
            max_command: 128 * 1024 * 1024,
        }
    }
}

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete, valid command.
    Command(Command),
    /// A synchronising literal of `size` octets was announced and accepted:
    /// send a continuation request (`+ Ready for literal data`).
    ContinuationNeeded {
        /// The announced size.
        size: u64,
    },
    /// A refused command: answer [`CommandError::response`]. The reader has
    /// already skipped (or will skip) whatever belongs to it.
    Error(CommandError),
    /// The line asked for with [`CommandReader::expect_line`], without its
    /// line ending.
    Line(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Reading a line of a command.
    Line,
    /// Reading the octets of an accepted literal.
    Literal { remaining: u64 },
    /// Dropping the rest of a refused line; `scan` watches for a literal
    /// announcement at its end.
    Discard { scan: LiteralScan },
    /// Dropping the octets of a refused non-synchronising literal.
    SkipLiteral { remaining: u64 },
    /// Reading one continuation line (AUTHENTICATE, IDLE).
    RawLine,
}

/// A literal announcement at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Announcement {
    size: u64,
    non_sync: bool,
}

/// What is known of a command once its first literal is announced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    tag: Tag,
    append: bool,
}

/// Splits the client's bytes into commands (see the module documentation).
///
/// ```
/// use axigen_protocols::imap::{CommandBody, CommandReader, Event};
/// let mut reader = CommandReader::default();
/// reader.feed(b"A1 LOGIN {5}\r\n");
/// assert_eq!(reader.next(), Some(Event::ContinuationNeeded { size: 5 }));
/// assert_eq!(reader.next(), None);
/// reader.feed(b"alice secret\r\n");
/// let Some(Event::Command(cmd)) = reader.next() else { panic!() };
/// assert!(matches!(cmd.body, CommandBody::Login { ref username, .. } if username == "alice"));
/// ```
#[derive(Debug, Clone)]
pub struct CommandReader {
    limits: ReaderLimits,
    options: ParseOptions,
    input: Vec<u8>,
    start: usize,
    /// Octets of the current line (from `start`) already searched for LF.
    scanned: usize,
    state: State,
    command: Vec<u8>,
    literals: usize,
    head: Option<Head>,
}

impl Default for CommandReader {
    fn default() -> CommandReader {
        CommandReader::new(ReaderLimits::default(), ParseOptions::default())
    }
}

impl CommandReader {
    /// A reader with the given limits and parse options.
    pub fn new(limits: ReaderLimits, options: ParseOptions) -> CommandReader {
        CommandReader {
            limits,
            options,
            input: Vec::new(),
            start: 0,
            scanned: 0,
            state: State::Line,
            command: Vec::new(),
            literals: 0,
            head: None,
        }
    }

    /// The parse options, to change after ENABLE UTF8=ACCEPT.
    pub fn options_mut(&mut self) -> &mut ParseOptions {
        &mut self.options
    }

    /// The limits, to change after login (a per-account APPENDLIMIT).
    pub fn limits_mut(&mut self) -> &mut ReaderLimits {
        &mut self.limits
    }

    /// Appends bytes read from the client.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start * 2 >= self.input.len() {
            self.input.drain(..self.start);
            self.start = 0;
        }
        // A large literal (an APPEND) leaves a large buffer behind; a
        // session that goes back to small commands (or idles) gives it up.
        const KEEP: usize = 64 * 1024;
        if self.input.capacity() > KEEP && self.input.len() + bytes.len() <= KEEP / 2 {
            self.input.shrink_to(KEEP / 2);
        }
        if self.command.is_empty() && self.command.capacity() > KEEP {
            self.command.shrink_to(0);
        }
        self.input.extend_from_slice(bytes);
    }

    /// Octets held: unread input and the command being assembled.
    pub fn buffered(&self) -> usize {
        self.input.len() - self.start + self.command.len()
    }

    /// Octets of a refused non-synchronising literal still to be dropped; a
    /// driver may prefer to close the connection when this is large.
    pub fn skipping_literal(&self) -> Option<u64> {
        match self.state {
            State::SkipLiteral { remaining } => Some(remaining),
            _ => None,
        }
    }

    /// Makes the next event the next line as it is ([`Event::Line`]): the
    /// client's answer to an AUTHENTICATE challenge, or `DONE` after IDLE.
    /// Call it between commands, after sending the continuation request.
    pub fn expect_line(&mut self) {
        if self.state == State::Line && self.command.is_empty() {
            self.state = State::RawLine;
        }
    }

    fn pending(&self) -> &[u8] {
        &self.input[self.start..]
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.scanned = 0;
    }

    fn reset_command(&mut self) {
        self.command.clear();
        self.literals = 0;
        self.head = None;
    }

    /// The tag of the command being read, if it can be read.
    fn current_tag(&self, line: &[u8]) -> Option<Tag> {
        if let Some(head) = &self.head {
            return Some(head.tag.clone());
        }
        let bytes = if self.command.is_empty() { line } else { &self.command };
        let mut p = Parser::new(bytes, false);
        let tag = parse_tag(&mut p).ok()?;
        p.sp().ok().map(|_| tag)
    }

    /// Starts dropping a refused line whose end has not arrived.
    fn discard(seen: &[u8]) -> State {
        let mut scan = LiteralScan::default();
        scan.push(seen);
        State::Discard { scan }
    }

    /// After a refused line ended, announcing `literal`: skip the literal
    /// if it is non-synchronising (the client sends it anyway), then the
    /// rest of the command.
    fn after_refused_line(&mut self, literal: Option<Announcement>) {
        self.reset_command();
        self.state = match literal {
            Some(a) if a.non_sync => State::SkipLiteral { remaining: a.size },
            _ => State::Line,
        };
    }

    /// The next event, or `None` when more input is needed.
    #[allow(clippy::should_implement_trait)] // It is not an iterator: `None` means "feed more".
    pub fn next(&mut self) -> Option<Event> {
        loop {
            match std::mem::replace(&mut self.state, State::Line) {
                State::Line => match self.line() {
                    Ok(Some(event)) => return Some(event),
                    Ok(None) => {}
                    Err(()) => return None,
                },
                State::Literal { remaining: 0 } => {} // back to the rest of the command line
                State::SkipLiteral { remaining: 0 } => self.state = State::Discard { scan: LiteralScan::default() },
                State::Literal { remaining } => {
                    let n = remaining.min(self.pending().len() as u64) as usize;
                    self.command.extend_from_slice(&self.input[self.start..self.start + n]);
                    self.consume(n);
                    self.state = State::Literal { remaining: remaining - n as u64 };
                    if n == 0 {
                        return None;
                    }
                }
                State::SkipLiteral { remaining } => {
                    let n = remaining.min(self.pending().len() as u64) as usize;
                    self.consume(n);
                    self.state = State::SkipLiteral { remaining: remaining - n as u64 };
                    if n == 0 {
                        return None;
                    }
                }
                State::Discard { mut scan } => match memchr(b'\n', self.pending()) {
                    None => {
                        scan.push(self.pending());
                        let n = self.pending().len();
                        self.consume(n);
                        self.state = State::Discard { scan };
                        return None;
                    }
                    Some(i) => {
                        scan.push(&self.pending()[..i]);
                        self.consume(i + 1);
                        self.after_refused_line(scan.announced());
                    }
                },
                State::RawLine => match memchr(b'\n', self.pending()) {
                    None if self.pending().len() > self.limits.max_line => {
                        let seen = self.pending().to_vec();
                        self.consume(seen.len());
                        self.state = CommandReader::discard(&seen);
                        let max = self.limits.max_line;
                        return Some(Event::Error(CommandError::untagged(ErrorKind::LineTooLong { max })));
                    }
                    None => {
                        self.state = State::RawLine;
                        return None;
                    }
                    Some(i) => {
                        let mut line = self.pending()[..i].to_vec();
                        self.consume(i + 1);
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        if line.len() + 2 > self.limits.max_line {
                            let max = self.limits.max_line;
                            return Some(Event::Error(CommandError::untagged(ErrorKind::LineTooLong { max })));
                        }
                        return Some(Event::Line(line));
                    }
                },
            }
        }
    }

    /// One step in the Line state: `Err(())` when more input is needed,
    /// `Ok(None)` to go on in the new state.
    fn line(&mut self) -> Result<Option<Event>, ()> {
        let max_line = self.limits.max_line;
        let found = memchr(b'\n', &self.pending()[self.scanned..]).map(|i| self.scanned + i);
        let Some(end) = found else {
            self.scanned = self.pending().len();
            if self.pending().len() <= max_line {
                return Err(());
            }
            // An over-long line whose end has not arrived: refuse it now.
            let seen = self.pending().to_vec();
            let tag = self.current_tag(&seen);
            self.consume(seen.len());
            self.reset_command();
            self.state = CommandReader::discard(&seen);
            return Ok(Some(Event::Error(CommandError { tag, kind: ErrorKind::LineTooLong { max: max_line } })));
        };
        let line = self.pending()[..=end].to_vec();
        self.consume(end + 1);
        if line.len() > max_line {
            let tag = self.current_tag(&line);
            self.after_refused_line(announcement(&line));
            return Ok(Some(Event::Error(CommandError { tag, kind: ErrorKind::LineTooLong { max: max_line } })));
        }
        self.command.extend_from_slice(&line);
        let Some(literal) = announcement(&line) else {
            let bytes = std::mem::take(&mut self.command);
            self.reset_command();
            return Ok(Some(match Command::parse(&bytes, &self.options) {
                Ok(command) => Event::Command(command),
                Err(err) => Event::Error(err),
            }));
        };
        match self.accept_literal(literal) {
            Ok(()) => {
                self.state = State::Literal { remaining: literal.size };
                Ok((!literal.non_sync).then_some(Event::ContinuationNeeded { size: literal.size }))
            }
            Err(err) => {
                self.after_refused_line(Some(literal));
                Ok(Some(Event::Error(err)))
            }
        }
    }

    /// Checks a literal announced by the line just added to the command.
    fn accept_literal(&mut self, literal: Announcement) -> Result<(), CommandError> {
        if self.head.is_none() {
            self.head = Some(head(&self.command)?);
        }
        let Some(head) = &self.head else { return Err(CommandError::untagged(ErrorKind::MissingTag)) };
        let tag = Some(head.tag.clone());
        self.literals += 1;
        let limits = &self.limits;
        if self.literals > limits.max_literals {
            return Err(CommandError { tag, kind: ErrorKind::TooManyLiterals { max: limits.max_literals } });
        }
        let max = if head.append { limits.max_append_literal } else { limits.max_literal };
        if literal.size > max {
            return Err(CommandError {
                tag,
                kind: ErrorKind::LiteralTooBig { size: literal.size, max, append: head.append },
            });
        }
        // RFC 7888 4: with LITERAL-, a larger non-synchronising literal is BAD.
        if let Some(max) = limits.max_non_sync_literal.filter(|&m| literal.non_sync && literal.size > m) {
            return Err(CommandError {
                tag,
                kind: ErrorKind::LiteralTooBig { size: literal.size, max, append: false },
            });
        }
        let total = (self.command.len() as u64).saturating_add(literal.size);
        if total > limits.max_command {
            let kind = ErrorKind::LiteralTooBig { size: literal.size, max: limits.max_command, append: head.append };
            return Err(CommandError { tag, kind });
        }
        Ok(())
    }
}

/// Reads the tag and the command name at the start of a command.
fn head(command: &[u8]) -> Result<Head, CommandError> {
    let mut p = Parser::new(command, false);
    let tag = parse_tag(&mut p).map_err(CommandError::untagged)?;
    let unknown = |tag: &Tag| CommandError { tag: Some(tag.clone()), kind: ErrorKind::UnknownCommand };
    p.sp().map_err(|_| unknown(&tag))?;
    let name = p.atom().map_err(|_| unknown(&tag))?.to_ascii_uppercase();
    let known = if name == "UID" {
        p.sp().is_ok()
            && p.atom().is_ok_and(|sub| {
                ["COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE"].iter().any(|s| s.eq_ignore_ascii_case(sub))
            })
    } else {
        COMMAND_NAMES.contains(&name.as_str())
    };
    if !known {
        return Err(unknown(&tag));
    }
    Ok(Head { tag, append: name == "APPEND" })
}

/// The literal announced at the end of `line` (which ends with LF), if any.
fn announcement(line: &[u8]) -> Option<Announcement> {
    let line = line.strip_suffix(b"\n")?;
    let mut scan = LiteralScan::default();
    scan.push(line);
    scan.announced()
}

/// Watches the octets of a line, in pieces of any size and in constant
/// memory, for a literal announcement at its end:
///
/// ```abnf
/// literal         = "{" number64 ["+"] "}" CRLF *CHAR8
/// literal8        = "~{" number64 ["+"] "}" CRLF *OCTET
/// ```
/// Any number of digits is followed (leading zeros are legal); a size too
/// large for 64 bits saturates to `u64::MAX`, which no limit admits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct LiteralScan {
    state: ScanState,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ScanState {
    #[default]
    Other,
    Open,
    Digits(u64),
    Plus(u64),
    Closed {
        size: u64,
        non_sync: bool,
    },
    ClosedCr {
        size: u64,
        non_sync: bool,
    },
}

impl LiteralScan {
    /// Takes octets of the line (not its final LF).
    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = match (self.state, b) {
                (_, b'{') => ScanState::Open,
                (ScanState::Open, b'0'..=b'9') => ScanState::Digits(u64::from(b - b'0')),
                (ScanState::Digits(n), b'0'..=b'9') => {
                    ScanState::Digits(n.saturating_mul(10).saturating_add(u64::from(b - b'0')))
                }
                (ScanState::Digits(n), b'+') => ScanState::Plus(n),
                (ScanState::Digits(size), b'}') => ScanState::Closed { size, non_sync: false },
                (ScanState::Plus(size), b'}') => ScanState::Closed { size, non_sync: true },
                (ScanState::Closed { size, non_sync }, b'\r') => ScanState::ClosedCr { size, non_sync },
                _ => ScanState::Other,
            };
        }
    }

    /// The announcement, if the octets so far end with one (CR optional).
    fn announced(&self) -> Option<Announcement> {
        match self.state {
            ScanState::Closed { size, non_sync } | ScanState::ClosedCr { size, non_sync } => {
                Some(Announcement { size, non_sync })
            }
            _ => None,
        }
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests;
