//! SMTP command parser for untrusted bytes (RFC 5321 4.1.1, 4.1.2), with the
//! parameters of the extensions this server implements: SIZE (RFC 1870),
//! 8BITMIME (RFC 6152), BINARYMIME and CHUNKING (RFC 3030), SMTPUTF8
//! (RFC 6531) and AUTH (RFC 4954).
//!
//! [`Command::parse`] takes one line as read from the client, with or without
//! its line ending, and either returns a [`Command`] or a [`ParseError`] whose
//! [`reply`](ParseError::reply) is what the client gets. Verbs and keywords
//! are case-insensitive (RFC 5321 2.4). Leniencies accepted because real
//! clients need them: spaces after `FROM:`/`TO:`, several spaces between
//! parameters, trailing spaces at the end of the line. Everything else that
//! the grammar does not allow is refused.
//!
//! [`Command`]'s `Display` is the canonical wire form (without CRLF), so a
//! parsed command prints back to a line that parses to the same command.

use std::fmt;

use super::reply::Reply;
use address::{Role, parse_path, split_path, xtext_decode, xtext_encode};

mod address;

/// Longest path, `<` and `>` included (RFC 5321 4.5.3.1.3).
pub const MAX_PATH: usize = 256;
/// Longest HELO/EHLO argument accepted (a domain is at most 255 octets, RFC 5321 4.5.3.1.2).
const MAX_DOMAIN: usize = 255;

/// One SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain` (RFC 5321 4.1.1.1): the client speaks ESMTP.
    Ehlo(String),
    /// `HELO domain` (RFC 5321 4.1.1.1).
    Helo(String),
    /// `MAIL FROM:<reverse-path> [parameters]` (RFC 5321 4.1.1.2).
    Mail {
        /// The sender, or the null reverse-path `<>`.
        from: ReversePath,
        /// The parameters.
        params: MailParams,
    },
    /// `RCPT TO:<forward-path> [parameters]` (RFC 5321 4.1.1.3).
    Rcpt {
        /// The mailbox without `<>` (and without any source route); may be
        /// UTF-8 when the transaction uses SMTPUTF8. `Postmaster` alone is
        /// allowed (RFC 5321 4.1.1.3).
        to: String,
        /// The parameters, keywords upper-cased; this server implements none.
        params: Vec<(String, Option<String>)>,
    },
    /// `DATA` (RFC 5321 4.1.1.4).
    Data,
    /// `BDAT size [LAST]` (RFC 3030 2).
    Bdat {
        /// Exact number of octets of the chunk that follows the command line.
        size: u64,
        /// Whether this is the last chunk of the message.
        last: bool,
    },
    /// `RSET` (RFC 5321 4.1.1.5).
    Rset,
    /// `NOOP [string]` (RFC 5321 4.1.1.9); the argument is ignored.
    Noop,
    /// `QUIT` (RFC 5321 4.1.1.10).
    Quit,
    /// `VRFY string` (RFC 5321 4.1.1.6).
    Vrfy(String),
    /// `HELP [string]` (RFC 5321 4.1.1.8); the argument is ignored.
    Help,
    /// `STARTTLS` (RFC 3207 4).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 4).
    Auth {
        /// The SASL mechanism name, upper-cased.
        mechanism: String,
        /// The base64 initial response (SASL-IR), not yet decoded; `=` stands
        /// for an empty response.
        initial: Option<String>,
    },
}

/// The sender of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`: bounces and other notifications (RFC 5321 4.5.5).
    Null,
    /// A mailbox, without `<>`; may be UTF-8 when SMTPUTF8 is given.
    Mailbox(String),
}

impl fmt::Display for ReversePath {
    /// The path with its angle brackets: `<>` or `<a@b>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// The `BODY=` parameter of MAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// `BODY=7BIT` (RFC 6152 3).
    SevenBit,
    /// `BODY=8BITMIME` (RFC 6152 3).
    EightBitMime,
    /// `BODY=BINARYMIME` (RFC 3030 3): only with BDAT.
    BinaryMime,
}

impl Body {
    /// The parameter value as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Body::SevenBit => "7BIT",
            Body::EightBitMime => "8BITMIME",
            Body::BinaryMime => "BINARYMIME",
        }
    }
}

/// The parameters of a MAIL command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=n`: the client's estimate of the message size (RFC 1870 4).
    /// A number too large for `u64` is kept as `u64::MAX`.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531 3.4): addresses and headers may be UTF-8.
    pub smtputf8: bool,
    /// `AUTH=` (RFC 4954 5), xtext-decoded: a mailbox, or `<>`. It is what
    /// the client claims; RFC 4954 5 says to treat it as `<>` unless the
    /// client is trusted to vouch for it.
    pub auth: Option<String>,
    /// Any other parameter, keyword upper-cased, in the order given. The
    /// session refuses MAIL when this is not empty (RFC 5321 4.1.1.11).
    pub other: Vec<(String, Option<String>)>,
}

/// Why a command line was refused. [`ParseError::reply`] gives the reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a command this server knows: `500 5.5.2`.
    #[error("command unrecognized")]
    UnknownCommand,
    /// A command of RFC 5321 or an old extension that this server does not
    /// implement (EXPN, TURN, ...): `502 5.5.1`.
    #[error("command not implemented")]
    NotImplemented,
    /// The line itself is malformed (NUL, bare CR): `500 5.5.2`.
    #[error("{0}")]
    BadLine(&'static str),
    /// Syntax error in the arguments: `501 5.5.2`.
    #[error("{0}")]
    Syntax(&'static str),
    /// Invalid arguments or parameters: `501 5.5.4`.
    #[error("{0}")]
    InvalidArguments(String),
    /// Bad syntax of the MAIL address: `501 5.1.7`.
    #[error("bad sender address syntax: {0}")]
    BadSender(&'static str),
    /// Bad syntax of the RCPT address: `501 5.1.3`.
    #[error("bad recipient address syntax: {0}")]
    BadRecipient(&'static str),
    /// A non-ASCII address without SMTPUTF8: `553 5.6.7` (RFC 6531 3.5).
    #[error("non-ASCII addresses need the SMTPUTF8 parameter")]
    NonAsciiAddress,
}

impl ParseError {
    /// The reply to send for this error.
    pub fn reply(&self) -> Reply {
        let text = self.to_string();
        match self {
            ParseError::UnknownCommand | ParseError::BadLine(_) => Reply::new(500, (5, 5, 2), text),
            ParseError::NotImplemented => Reply::new(502, (5, 5, 1), text),
            ParseError::Syntax(_) => Reply::new(501, (5, 5, 2), text),
            ParseError::InvalidArguments(_) => Reply::new(501, (5, 5, 4), text),
            // RFC 5321 4.5.3.1.9: "501 Path too long" is one of these too.
            ParseError::BadSender(_) => Reply::new(501, (5, 1, 7), text),
            ParseError::BadRecipient(_) => Reply::new(501, (5, 1, 3), text),
            ParseError::NonAsciiAddress => Reply::new(553, (5, 6, 7), text),
        }
    }
}

impl Command {
    /// Parses one command line.
    ///
    /// `line` may end with CRLF or a bare LF (both are removed); any other CR
    /// or a NUL makes it a [`ParseError::BadLine`]. `smtputf8` says whether
    /// the current transaction's MAIL carried SMTPUTF8: it decides whether a
    /// RCPT address may be UTF-8 (RFC 6531 3.4). For MAIL the parameter on
    /// the same line decides.
    ///
    /// ```
    /// use axigen_protocols::smtp::{Command, ReversePath};
    /// let cmd = Command::parse(b"mail from: <a@example.org> SIZE=1000\r\n", false).unwrap();
    /// let Command::Mail { from, params } = cmd else { panic!() };
    /// assert_eq!(from, ReversePath::Mailbox("a@example.org".into()));
    /// assert_eq!(params.size, Some(1000));
    /// ```
    pub fn parse(line: &[u8], smtputf8: bool) -> Result<Command, ParseError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.contains(&0) {
            return Err(ParseError::BadLine("NUL in command line"));
        }
        if line.contains(&b'\r') || line.contains(&b'\n') {
            return Err(ParseError::BadLine("bare CR or LF in command line"));
        }
        // Trailing spaces are tolerated (leniency); leading ones are not.
        let end = line.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(0, |i| i + 1);
        let line = &line[..end];
        let (verb, args) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        let is = |name: &str| verb.eq_ignore_ascii_case(name.as_bytes());
        let no_args = |cmd: Command| match args {
            None => Ok(cmd),
            Some(_) => Err(ParseError::InvalidArguments(format!("{} takes no arguments", cmd.verb()))),
        };
        if is("EHLO") || is("HELO") {
            let domain = parse_helo(args)?;
            Ok(if is("EHLO") { Command::Ehlo(domain) } else { Command::Helo(domain) })
        } else if is("MAIL") {
            parse_mail(args.unwrap_or_default())
        } else if is("RCPT") {
            parse_rcpt(args.unwrap_or_default(), smtputf8)
        } else if is("DATA") {
            no_args(Command::Data)
        } else if is("BDAT") {
            parse_bdat(args.unwrap_or_default())
        } else if is("RSET") {
            no_args(Command::Rset)
        } else if is("NOOP") {
            Ok(Command::Noop)
        } else if is("QUIT") {
            no_args(Command::Quit)
        } else if is("VRFY") {
            parse_vrfy(args)
        } else if is("HELP") {
            Ok(Command::Help)
        } else if is("STARTTLS") {
            // RFC 3207 4: "STARTTLS" CRLF, no parameters.
            no_args(Command::StartTls)
        } else if is("AUTH") {
            parse_auth(args.unwrap_or_default())
        } else if ["EXPN", "TURN", "ETRN", "ATRN", "SEND", "SOML", "SAML", "BURL"].iter().any(|v| is(v)) {
            Err(ParseError::NotImplemented)
        } else {
            Err(ParseError::UnknownCommand)
        }
    }

    /// The command's verb, upper-case.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy(_) => "VRFY",
            Command::Help => "HELP",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
        }
    }
}

impl fmt::Display for Command {
    /// The canonical command line, without CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ehlo(d) | Command::Helo(d) => write!(f, "{} {d}", self.verb()),
            Command::Mail { from, params } => {
                write!(f, "MAIL FROM:{from}")?;
                if let Some(size) = params.size {
                    write!(f, " SIZE={size}")?;
                }
                if let Some(body) = params.body {
                    write!(f, " BODY={}", body.as_str())?;
                }
                if params.smtputf8 {
                    f.write_str(" SMTPUTF8")?;
                }
                if let Some(auth) = &params.auth {
                    write!(f, " AUTH={}", xtext_encode(auth))?;
                }
                write_params(f, &params.other)
            }
            Command::Rcpt { to, params } => {
                write!(f, "RCPT TO:<{to}>")?;
                write_params(f, params)
            }
            Command::Bdat { size, last } => write!(f, "BDAT {size}{}", if *last { " LAST" } else { "" }),
            Command::Vrfy(s) => write!(f, "VRFY {s}"),
            Command::Auth { mechanism, initial } => match initial {
                Some(initial) => write!(f, "AUTH {mechanism} {initial}"),
                None => write!(f, "AUTH {mechanism}"),
            },
            other => f.write_str(other.verb()),
        }
    }
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &[(String, Option<String>)]) -> fmt::Result {
    for (keyword, value) in params {
        match value {
            Some(value) => write!(f, " {keyword}={value}")?,
            None => write!(f, " {keyword}")?,
        }
    }
    Ok(())
}

/// ```text
/// ehlo = "EHLO" SP ( Domain / address-literal ) CRLF
/// helo = "HELO" SP Domain CRLF
/// ```
/// (RFC 5321 4.1.1.1.) Leniency: any printable argument up to 255 octets is
/// taken as given (clients send bare host names, underscores, ...); it is
/// only used for logs and trace fields, which the backend writes.
fn parse_helo(args: Option<&[u8]>) -> Result<String, ParseError> {
    let args = args.unwrap_or_default().trim_ascii();
    if args.is_empty() {
        return Err(ParseError::InvalidArguments("a domain name or address literal is required".into()));
    }
    if args.len() > MAX_DOMAIN {
        return Err(ParseError::InvalidArguments("domain name too long".into()));
    }
    let text = std::str::from_utf8(args).map_err(|_| ParseError::Syntax("domain is not UTF-8"))?;
    if text.chars().any(char::is_control) {
        return Err(ParseError::Syntax("control character in domain"));
    }
    Ok(text.to_owned())
}

/// ```text
/// mail = "MAIL FROM:" Reverse-path [SP Mail-parameters] CRLF
/// Reverse-path = Path / "<>"
/// Mail-parameters = esmtp-param *(SP esmtp-param)
/// ```
/// (RFC 5321 4.1.1.2, 4.1.2.) `args` is everything after `MAIL `.
fn parse_mail(args: &[u8]) -> Result<Command, ParseError> {
    let rest = strip_prefix_ignore_case(args, b"FROM:").ok_or(ParseError::Syntax("syntax: MAIL FROM:<address>"))?;
    let (path, params) = split_path(rest, Role::Sender)?;
    let raw = parse_esmtp_params(params)?;
    let mut params = MailParams::default();
    for (keyword, value) in raw {
        let duplicate = || ParseError::InvalidArguments(format!("duplicate parameter {keyword}"));
        match keyword.as_str() {
            // RFC 1870 4: size-value ::= 1*20DIGIT
            "SIZE" => {
                let value = value.as_deref().unwrap_or_default();
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ParseError::InvalidArguments("SIZE needs a decimal number".into()));
                }
                if params.size.replace(value.parse().unwrap_or(u64::MAX)).is_some() {
                    return Err(duplicate());
                }
            }
            // RFC 6152 3 and RFC 3030 3: body-value ::= "7BIT" / "8BITMIME" / "BINARYMIME"
            "BODY" => {
                let body = match value.as_deref().map(str::to_ascii_uppercase).as_deref() {
                    Some("7BIT") => Body::SevenBit,
                    Some("8BITMIME") => Body::EightBitMime,
                    Some("BINARYMIME") => Body::BinaryMime,
                    _ => return Err(ParseError::InvalidArguments("BODY must be 7BIT, 8BITMIME or BINARYMIME".into())),
                };
                if params.body.replace(body).is_some() {
                    return Err(duplicate());
                }
            }
            // RFC 6531 3.4: the SMTPUTF8 parameter has no value.
            "SMTPUTF8" => {
                if value.is_some() {
                    return Err(ParseError::InvalidArguments("SMTPUTF8 takes no value".into()));
                }
                if std::mem::replace(&mut params.smtputf8, true) {
                    return Err(duplicate());
                }
            }
            // RFC 4954 5: auth-param = "AUTH=" xtext
            "AUTH" => {
                let decoded = value
                    .as_deref()
                    .and_then(xtext_decode)
                    .ok_or_else(|| ParseError::InvalidArguments("AUTH= needs an xtext mailbox or <>".into()))?;
                if params.auth.replace(decoded).is_some() {
                    return Err(duplicate());
                }
            }
            _ => params.other.push((keyword, value)),
        }
    }
    let from = match parse_path(path, params.smtputf8, Role::Sender)? {
        None => ReversePath::Null,
        Some(mailbox) => ReversePath::Mailbox(mailbox),
    };
    Ok(Command::Mail { from, params })
}

/// ```text
/// rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" /
///             Forward-path ) [SP Rcpt-parameters] CRLF
/// Forward-path = Path
/// ```
/// (RFC 5321 4.1.1.3, 4.1.2.) `args` is everything after `RCPT `.
fn parse_rcpt(args: &[u8], smtputf8: bool) -> Result<Command, ParseError> {
    let rest = strip_prefix_ignore_case(args, b"TO:").ok_or(ParseError::Syntax("syntax: RCPT TO:<address>"))?;
    let (path, params) = split_path(rest, Role::Recipient)?;
    let params = parse_esmtp_params(params)?;
    if path.eq_ignore_ascii_case("postmaster") {
        return Ok(Command::Rcpt { to: path.to_owned(), params });
    }
    match parse_path(path, smtputf8, Role::Recipient)? {
        Some(to) => Ok(Command::Rcpt { to, params }),
        None => Err(ParseError::BadRecipient("the null path <> is not a recipient")),
    }
}

/// ```text
/// bdat-cmd   ::= "BDAT" SP chunk-size [ SP end-marker ] CR LF
/// chunk-size ::= 1*DIGIT
/// end-marker ::= "LAST"
/// ```
/// (RFC 3030 2.)
fn parse_bdat(args: &[u8]) -> Result<Command, ParseError> {
    let text = std::str::from_utf8(args).map_err(|_| ParseError::Syntax("syntax: BDAT size [LAST]"))?;
    let mut words = text.split(' ').filter(|w| !w.is_empty());
    let size = words.next().ok_or(ParseError::Syntax("syntax: BDAT size [LAST]"))?;
    if !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::Syntax("syntax: BDAT size [LAST]"));
    }
    let size = size.parse().map_err(|_| ParseError::InvalidArguments("chunk size too large".into()))?;
    let last = match words.next() {
        None => false,
        Some(word) if word.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(ParseError::Syntax("syntax: BDAT size [LAST]")),
    };
    if words.next().is_some() {
        return Err(ParseError::Syntax("syntax: BDAT size [LAST]"));
    }
    Ok(Command::Bdat { size, last })
}

/// ```text
/// vrfy = "VRFY" SP String CRLF
/// ```
/// (RFC 5321 4.1.1.6.)
fn parse_vrfy(args: Option<&[u8]>) -> Result<Command, ParseError> {
    let args = args.unwrap_or_default().trim_ascii();
    if args.is_empty() {
        return Err(ParseError::InvalidArguments("syntax: VRFY address".into()));
    }
    let text = std::str::from_utf8(args).map_err(|_| ParseError::Syntax("argument is not UTF-8"))?;
    Ok(Command::Vrfy(text.to_owned()))
}

/// ```text
/// auth-command = "AUTH" SP sasl-mech [SP initial-response] *(CRLF [base64]) [CRLF cancel-response] CRLF
/// initial-response = base64 / "="
/// sasl-mech = 1*20mech-char
/// mech-char = UPPER-ALPHA / DIGIT / HYPHEN / UNDERSCORE
/// ```
/// (RFC 4954 4, RFC 4422 3.1.) Only the command line is parsed here; the
/// base64 is decoded by the session. Mechanism names are matched
/// case-insensitively and upper-cased.
fn parse_auth(args: &[u8]) -> Result<Command, ParseError> {
    let text =
        std::str::from_utf8(args).map_err(|_| ParseError::Syntax("syntax: AUTH mechanism [initial-response]"))?;
    let mut words = text.split(' ').filter(|w| !w.is_empty());
    let mechanism = words.next().ok_or(ParseError::Syntax("syntax: AUTH mechanism [initial-response]"))?;
    if mechanism.len() > 20 || !mechanism.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(ParseError::Syntax("invalid SASL mechanism name"));
    }
    let initial = words.next().map(str::to_owned);
    if let Some(initial) = &initial
        && initial != "="
        && !initial.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
    {
        return Err(ParseError::Syntax("initial response is not base64"));
    }
    if words.next().is_some() {
        return Err(ParseError::Syntax("syntax: AUTH mechanism [initial-response]"));
    }
    Ok(Command::Auth { mechanism: mechanism.to_ascii_uppercase(), initial })
}

fn strip_prefix_ignore_case<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = bytes.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &bytes[prefix.len()..])
}

/// ```text
/// esmtp-param   = esmtp-keyword ["=" esmtp-value]
/// esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
/// esmtp-value   = 1*(%d33-60 / %d62-126)
/// esmtp-value   =/ UTF8-non-ascii                    ; RFC 6531 3.3
/// ```
/// (RFC 5321 4.1.2.) `text` is what follows the path; keywords come back
/// upper-cased. Several spaces between parameters are tolerated.
fn parse_esmtp_params(text: &[u8]) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let text =
        std::str::from_utf8(text).map_err(|_| ParseError::InvalidArguments("parameters are not UTF-8".into()))?;
    let mut params = Vec::new();
    for param in text.split(' ').filter(|p| !p.is_empty()) {
        let (keyword, value) = match param.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (param, None),
        };
        let keyword_ok = keyword.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && keyword.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !keyword_ok {
            return Err(ParseError::InvalidArguments(format!("invalid parameter {param:?}")));
        }
        if let Some(value) = value
            && (value.is_empty() || !value.chars().all(|c| !c.is_ascii() || matches!(c as u32, 33..=60 | 62..=126)))
        {
            return Err(ParseError::InvalidArguments(format!("invalid value for {keyword}")));
        }
        params.push((keyword.to_ascii_uppercase(), value.map(str::to_owned)));
    }
    Ok(params)
}

#[cfg(test)]
mod tests;
