//! POP3 command lines (RFC 1939, RFC 2449, RFC 2595, RFC 5034): the parser
//! and a line framer ([`LineReader`]).
//!
//! A command is a keyword (case-insensitive) and arguments separated by
//! single spaces. [`Command`]'s `Display` writes the canonical form without
//! the line end; parsing that form gives back the same command.

use std::fmt;

/// One POP3 command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `USER name` (RFC 1939 7): the rest of the line is the name.
    User(String),
    /// `PASS password` (RFC 1939 7): the rest of the line, spaces included.
    Pass(String),
    /// `STAT`.
    Stat,
    /// `LIST [msg]`.
    List(Option<u32>),
    /// `RETR msg`.
    Retr(u32),
    /// `DELE msg`.
    Dele(u32),
    /// `NOOP`.
    Noop,
    /// `RSET`.
    Rset,
    /// `QUIT`.
    Quit,
    /// `TOP msg n`: the header and the first `n` body lines.
    Top(u32, u32),
    /// `UIDL [msg]`.
    Uidl(Option<u32>),
    /// `CAPA` (RFC 2449).
    Capa,
    /// `STLS` (RFC 2595).
    Stls,
    /// `AUTH [mechanism [initial-response]]` (RFC 5034).
    Auth {
        /// The SASL mechanism, as sent; `None` asks for the list.
        mechanism: Option<String>,
        /// The base64 initial response (`=` for an empty one), as sent.
        initial: Option<String>,
    },
}

/// Why a command line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but spaces.
    #[error("empty command")]
    Empty,
    /// A keyword this server does not know.
    #[error("unknown command")]
    Unknown,
    /// A known command with wrong arguments.
    #[error("{0}")]
    Syntax(&'static str),
}

impl Command {
    /// The command's keyword, upper case.
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Quit => "QUIT",
            Command::Top(..) => "TOP",
            Command::Uidl(_) => "UIDL",
            Command::Capa => "CAPA",
            Command::Stls => "STLS",
            Command::Auth { .. } => "AUTH",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())?;
        match self {
            Command::User(arg) | Command::Pass(arg) => write!(f, " {arg}"),
            Command::List(Some(n)) | Command::Uidl(Some(n)) | Command::Retr(n) | Command::Dele(n) => {
                write!(f, " {n}")
            }
            Command::Top(n, lines) => write!(f, " {n} {lines}"),
            Command::Auth { mechanism, initial } => {
                if let Some(mechanism) = mechanism {
                    write!(f, " {mechanism}")?;
                    if let Some(initial) = initial {
                        write!(f, " {initial}")?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Parses one command line, without its line end.
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    if line.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
        return Err(ParseError::Syntax("control characters in the command"));
    }
    let (keyword, rest) = match line.iter().position(|&b| b == b' ') {
        Some(space) => (&line[..space], Some(&line[space + 1..])),
        None => (line, None),
    };
    if keyword.is_empty() {
        return if line.iter().all(|&b| b == b' ') { Err(ParseError::Empty) } else { Err(ParseError::Unknown) };
    }
    if keyword.len() > 4 {
        return Err(ParseError::Unknown);
    }
    let mut upper = [0u8; 4];
    upper[..keyword.len()].copy_from_slice(keyword);
    upper.make_ascii_uppercase();
    let keyword = &upper[..keyword.len()];
    let args = Args(rest.unwrap_or_default());
    let command = match keyword {
        b"USER" => Command::User(args.text("USER needs a user name")?),
        b"PASS" => Command::Pass(args.text("PASS needs a password")?),
        b"STAT" => args.none(Command::Stat)?,
        b"NOOP" => args.none(Command::Noop)?,
        b"RSET" => args.none(Command::Rset)?,
        b"QUIT" => args.none(Command::Quit)?,
        b"CAPA" => args.none(Command::Capa)?,
        b"STLS" => args.none(Command::Stls)?,
        b"LIST" => Command::List(args.optional_number()?),
        b"UIDL" => Command::Uidl(args.optional_number()?),
        b"RETR" => Command::Retr(args.one_number()?),
        b"DELE" => Command::Dele(args.one_number()?),
        b"TOP" => {
            let words = args.words()?;
            match words[..] {
                [n, lines] => Command::Top(message_number(n)?, count(lines)?),
                _ => return Err(ParseError::Syntax("TOP needs a message number and a line count")),
            }
        }
        b"AUTH" => {
            let words = args.words()?;
            let text =
                |w: &[u8]| String::from_utf8(w.to_vec()).map_err(|_| ParseError::Syntax("invalid AUTH argument"));
            match words[..] {
                [] => Command::Auth { mechanism: None, initial: None },
                [m] => Command::Auth { mechanism: Some(text(m)?), initial: None },
                [m, i] => Command::Auth { mechanism: Some(text(m)?), initial: Some(text(i)?) },
                _ => return Err(ParseError::Syntax("AUTH takes a mechanism and an initial response")),
            }
        }
        _ => return Err(ParseError::Unknown),
    };
    Ok(command)
}

/// The arguments after the keyword's space.
struct Args<'a>(&'a [u8]);

impl<'a> Args<'a> {
    /// Everything after the space, as text (USER, PASS).
    fn text(&self, missing: &'static str) -> Result<String, ParseError> {
        if self.0.is_empty() {
            return Err(ParseError::Syntax(missing));
        }
        String::from_utf8(self.0.to_vec()).map_err(|_| ParseError::Syntax("the argument is not UTF-8"))
    }

    /// No arguments; trailing spaces are tolerated.
    fn none(&self, command: Command) -> Result<Command, ParseError> {
        if self.0.iter().all(|&b| b == b' ') { Ok(command) } else { Err(ParseError::Syntax("no arguments expected")) }
    }

    /// The space-separated words (runs of spaces count as one).
    fn words(&self) -> Result<Vec<&'a [u8]>, ParseError> {
        let words: Vec<&[u8]> = self.0.split(|&b| b == b' ').filter(|w| !w.is_empty()).collect();
        if words.len() > 3 {
            return Err(ParseError::Syntax("too many arguments"));
        }
        Ok(words)
    }

    fn optional_number(&self) -> Result<Option<u32>, ParseError> {
        match self.words()?[..] {
            [] => Ok(None),
            [n] => message_number(n).map(Some),
            _ => Err(ParseError::Syntax("one message number expected")),
        }
    }

    fn one_number(&self) -> Result<u32, ParseError> {
        match self.words()?[..] {
            [n] => message_number(n),
            _ => Err(ParseError::Syntax("one message number expected")),
        }
    }
}

/// A decimal count (at most 9 digits, RFC 2449's line length keeps them short).
fn count(word: &[u8]) -> Result<u32, ParseError> {
    if word.is_empty() || !word.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Syntax("a number expected"));
    }
    let digits = word.iter().skip_while(|&&b| b == b'0').count();
    if digits > 9 {
        return Err(ParseError::Syntax("number too large"));
    }
    Ok(word.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')))
}

/// A message number: a count of at least 1.
fn message_number(word: &[u8]) -> Result<u32, ParseError> {
    match count(word)? {
        0 => Err(ParseError::Syntax("message numbers start at 1")),
        n => Ok(n),
    }
}

/// What [`LineReader::next_line`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A complete line, without its line end (CRLF or a bare LF).
    Complete(Vec<u8>),
    /// A line longer than the reader's limit; it was discarded up to its end.
    TooLong,
}

/// Splits the input into lines, discarding (and reporting) those longer than
/// a limit, so that a client cannot make the server buffer without bound.
#[derive(Debug)]
pub struct LineReader {
    buf: Vec<u8>,
    max: usize,
    discarding: bool,
}

impl LineReader {
    /// A reader refusing lines longer than `max` octets (line end included).
    pub fn new(max: usize) -> LineReader {
        LineReader { buf: Vec::new(), max: max.max(3), discarding: false }
    }

    /// Adds received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Octets received and not yet returned as lines.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next line, if a complete one (or the end of a too long one) has
    /// been received.
    pub fn next_line(&mut self) -> Option<Line> {
        loop {
            let newline = self.buf.iter().position(|&b| b == b'\n');
            if self.discarding {
                match newline {
                    Some(end) => {
                        self.buf.drain(..=end);
                        self.discarding = false;
                        return Some(Line::TooLong);
                    }
                    None => {
                        self.buf.clear();
                        return None;
                    }
                }
            }
            match newline {
                Some(end) if end < self.max => {
                    let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    return Some(Line::Complete(line));
                }
                Some(_) => self.discarding = true,
                None if self.buf.len() >= self.max => self.discarding = true,
                None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Command {
        parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(ok("user alice@example.com"), Command::User("alice@example.com".into()));
        assert_eq!(ok("PASS two words "), Command::Pass("two words ".into()));
        assert_eq!(ok("STAT"), Command::Stat);
        assert_eq!(ok("stat "), Command::Stat);
        assert_eq!(ok("LIST"), Command::List(None));
        assert_eq!(ok("LIST 2"), Command::List(Some(2)));
        assert_eq!(ok("RETR 007"), Command::Retr(7));
        assert_eq!(ok("DELE 1"), Command::Dele(1));
        assert_eq!(ok("Noop"), Command::Noop);
        assert_eq!(ok("RSET"), Command::Rset);
        assert_eq!(ok("QUIT"), Command::Quit);
        assert_eq!(ok("TOP 1 0"), Command::Top(1, 0));
        assert_eq!(ok("UIDL"), Command::Uidl(None));
        assert_eq!(ok("UIDL 3"), Command::Uidl(Some(3)));
        assert_eq!(ok("CAPA"), Command::Capa);
        assert_eq!(ok("STLS"), Command::Stls);
        assert_eq!(ok("AUTH"), Command::Auth { mechanism: None, initial: None });
        assert_eq!(ok("AUTH PLAIN"), Command::Auth { mechanism: Some("PLAIN".into()), initial: None });
        assert_eq!(
            ok("AUTH plain AGEAYg=="),
            Command::Auth { mechanism: Some("plain".into()), initial: Some("AGEAYg==".into()) }
        );
    }

    #[test]
    fn refuses_bad_lines() {
        assert_eq!(parse(b""), Err(ParseError::Empty));
        assert_eq!(parse(b"   "), Err(ParseError::Empty));
        assert_eq!(parse(b"APOP x y"), Err(ParseError::Unknown));
        assert_eq!(parse(b"RETRIEVE 1"), Err(ParseError::Unknown));
        assert_eq!(parse(b" STAT"), Err(ParseError::Unknown));
        for bad in [
            "RETR",
            "RETR 0",
            "RETR x",
            "RETR 1 2",
            "LIST -1",
            "TOP 1",
            "TOP 1 2 3",
            "STAT 1",
            "USER",
            "PASS",
            "RETR 99999999999",
            "DELE 4294967296",
            "AUTH A B C",
            "QUIT now",
        ] {
            assert!(matches!(parse(bad.as_bytes()), Err(ParseError::Syntax(_))), "{bad}");
        }
        assert!(parse(b"USER \xff").is_err());
        assert!(parse(b"USER a\0b").is_err());
        assert_eq!(parse(b"RETR 999999999"), Ok(Command::Retr(999_999_999)));
    }

    #[test]
    fn display_round_trips() {
        for line in ["USER a b", "PASS  x", "LIST", "LIST 5", "TOP 2 10", "UIDL 1", "AUTH", "AUTH PLAIN =", "STLS"] {
            let command = ok(line);
            assert_eq!(command.to_string(), line);
            assert_eq!(ok(&command.to_string()), command);
        }
    }

    #[test]
    fn line_reader_frames_and_limits() {
        let mut reader = LineReader::new(10);
        reader.feed(b"STAT\r\nNOOP\nLIST");
        assert_eq!(reader.next_line(), Some(Line::Complete(b"STAT".to_vec())));
        assert_eq!(reader.next_line(), Some(Line::Complete(b"NOOP".to_vec())));
        assert_eq!(reader.next_line(), None);
        assert_eq!(reader.buffered(), 4);
        reader.feed(b" 1\r\n");
        assert_eq!(reader.next_line(), Some(Line::Complete(b"LIST 1".to_vec())));
        reader.feed(b"0123456789abcdef");
        assert_eq!(reader.next_line(), None);
        assert!(reader.buffered() < 10);
        reader.feed(b"more\r\nQUIT\r\n");
        assert_eq!(reader.next_line(), Some(Line::TooLong));
        assert_eq!(reader.next_line(), Some(Line::Complete(b"QUIT".to_vec())));
        reader.feed(b"0123456789\r\nSTAT\r\n");
        assert_eq!(reader.next_line(), Some(Line::TooLong));
        assert_eq!(reader.next_line(), Some(Line::Complete(b"STAT".to_vec())));
        assert_eq!(reader.next_line(), None);
    }
}
