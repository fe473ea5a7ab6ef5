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
    /// `AUTH=` (RFC 4954 5), xtext-decoded: a mailbox, or `<>`.
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

/// Which path is being parsed, for the error codes.
#[derive(Clone, Copy)]
enum Role {
    Sender,
    Recipient,
}

impl Role {
    fn error(self, why: &'static str) -> ParseError {
        match self {
            Role::Sender => ParseError::BadSender(why),
            Role::Recipient => ParseError::BadRecipient(why),
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

/// Splits `[SP...] "<" path ">" [SP params]` into the text between the angle
/// brackets and the parameter text. Spaces before `<` are a leniency; a `>`
/// inside a quoted local part does not end the path.
fn split_path(rest: &[u8], role: Role) -> Result<(&str, &[u8]), ParseError> {
    let rest = rest.trim_ascii_start();
    if rest.first() != Some(&b'<') {
        return Err(role.error("the address must be enclosed in <>"));
    }
    let mut quoted = false;
    let mut escaped = false;
    let mut close = None;
    for (i, &b) in rest.iter().enumerate().skip(1) {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'>' if !quoted => {
                close = Some(i);
                break;
            }
            _ => {}
        }
    }
    let close = close.ok_or_else(|| role.error("missing '>'"))?;
    if close + 1 > MAX_PATH {
        // RFC 5321 4.5.3.1.3 and 4.5.3.1.9: "501 Path too long".
        return Err(role.error("path too long"));
    }
    let path = std::str::from_utf8(&rest[1..close]).map_err(|_| role.error("address is not UTF-8"))?;
    let params = &rest[close + 1..];
    if !params.is_empty() && params[0] != b' ' {
        return Err(role.error("a space must separate the address from parameters"));
    }
    Ok((path, params))
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

/// ```text
/// Path       = "<" [ A-d-l ":" ] Mailbox ">"
/// A-d-l      = At-domain *( "," At-domain )
/// At-domain  = "@" Domain
/// Mailbox    = Local-part "@" ( Domain / address-literal )
/// ```
/// (RFC 5321 4.1.2.) `inner` is the text between `<` and `>`; an empty one
/// is the null path (returned as `None`). A source route is checked and
/// dropped ("MUST BE accepted, SHOULD NOT be generated, and SHOULD be
/// ignored"). Non-ASCII text is refused unless `utf8` (RFC 6531 3.3).
fn parse_path(inner: &str, utf8: bool, role: Role) -> Result<Option<String>, ParseError> {
    if inner.is_empty() {
        return Ok(None);
    }
    if !utf8 && !inner.is_ascii() {
        return Err(ParseError::NonAsciiAddress);
    }
    let mut mailbox = inner;
    if inner.starts_with('@') {
        let (route, rest) = inner.split_once(':').ok_or_else(|| role.error("source route without ':'"))?;
        for hop in route.split(',') {
            let domain = hop.strip_prefix('@').ok_or_else(|| role.error("invalid source route"))?;
            if !is_domain(domain, utf8) {
                return Err(role.error("invalid domain in source route"));
            }
        }
        mailbox = rest;
    }
    check_mailbox(mailbox, utf8, role)?;
    Ok(Some(mailbox.to_owned()))
}

/// ```text
/// Local-part      = Dot-string / Quoted-string
/// Dot-string      = Atom *("."  Atom)
/// Atom            = 1*atext
/// Quoted-string   = DQUOTE *QcontentSMTP DQUOTE
/// QcontentSMTP    = qtextSMTP / quoted-pairSMTP
/// quoted-pairSMTP = %d92 %d32-126
/// qtextSMTP       = %d32-33 / %d35-91 / %d93-126
/// atext           =/ UTF8-non-ascii                  ; RFC 6531 3.3
/// qtextSMTP       =/ UTF8-non-ascii                  ; RFC 6531 3.3
/// ```
/// (RFC 5321 4.1.2.)
fn check_mailbox(mailbox: &str, utf8: bool, role: Role) -> Result<(), ParseError> {
    let non_ascii_ok = |c: char| utf8 && !c.is_ascii() && !c.is_control();
    let domain = if let Some(quoted) = mailbox.strip_prefix('"') {
        let mut chars = quoted.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(i);
                    break;
                }
                '\\' => match chars.next() {
                    Some((_, q)) if matches!(q as u32, 32..=126) => {}
                    _ => return Err(role.error("invalid quoted pair in local part")),
                },
                c if matches!(c as u32, 32..=33 | 35..=91 | 93..=126) || non_ascii_ok(c) => {}
                _ => return Err(role.error("invalid character in quoted local part")),
            }
        }
        let end = end.ok_or_else(|| role.error("unterminated quoted local part"))?;
        quoted[end + 1..].strip_prefix('@').ok_or_else(|| role.error("missing '@' after the local part"))?
    } else {
        let (local, domain) = mailbox.split_once('@').ok_or_else(|| role.error("missing '@'"))?;
        const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
        let atom_ok = |atom: &str| {
            !atom.is_empty()
                && atom.chars().all(|c| c.is_ascii_alphanumeric() || SPECIALS.contains(c) || non_ascii_ok(c))
        };
        if !local.split('.').all(atom_ok) {
            return Err(role.error("invalid local part"));
        }
        domain
    };
    if domain.starts_with('[') {
        if !is_address_literal(domain) {
            return Err(role.error("invalid address literal"));
        }
    } else if !is_domain(domain, utf8) {
        return Err(role.error("invalid domain"));
    }
    Ok(())
}

/// ```text
/// Domain     = sub-domain *("." sub-domain)
/// sub-domain = Let-dig [Ldh-str]
/// Let-dig    = ALPHA / DIGIT
/// Ldh-str    = *( ALPHA / DIGIT / "-" ) Let-dig
/// sub-domain =/ U-label                              ; RFC 6531 3.3
/// ```
/// (RFC 5321 4.1.2.) A U-label is accepted as any label of letters, digits,
/// hyphens and non-ASCII characters; IDNA validity is not checked here.
fn is_domain(domain: &str, utf8: bool) -> bool {
    let let_dig = |c: char| c.is_ascii_alphanumeric() || (utf8 && !c.is_ascii() && !c.is_control());
    !domain.is_empty()
        && domain.len() <= MAX_DOMAIN
        && domain.split('.').all(|label| {
            label.chars().next().is_some_and(let_dig)
                && label.chars().last().is_some_and(let_dig)
                && label.chars().all(|c| let_dig(c) || c == '-')
        })
}

/// ```text
/// address-literal  = "[" ( IPv4-address-literal /
///                  IPv6-address-literal /
///                  General-address-literal ) "]"
/// IPv6-address-literal  = "IPv6:" IPv6-addr
/// General-address-literal  = Standardized-tag ":" 1*dcontent
/// dcontent       = %d33-90 / %d94-126
/// ```
/// (RFC 5321 4.1.2, 4.1.3.)
fn is_address_literal(literal: &str) -> bool {
    let Some(inner) = literal.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
        return false;
    };
    if inner.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    match inner.split_once(':') {
        Some((tag, addr)) if tag.eq_ignore_ascii_case("IPv6") => addr.parse::<std::net::Ipv6Addr>().is_ok(),
        Some((tag, content)) => {
            let tag_ok = !tag.is_empty()
                && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !tag.ends_with('-')
                && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
            tag_ok && !content.is_empty() && content.bytes().all(|b| matches!(b, 33..=90 | 94..=126))
        }
        None => false,
    }
}

/// Decodes xtext (RFC 3461 4): `xtext = *( xchar / hexchar )`, where
/// `hexchar = "+" HEXDIG HEXDIG`. Returns `None` for malformed text or a
/// decoded value that is not UTF-8.
fn xtext_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return None;
                }
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'=' => return None,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Encodes text as xtext (RFC 3461 4): `+`, `=`, controls, space and
/// non-ASCII octets become `+XX`.
fn xtext_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Command, ParseError> {
        Command::parse(line.as_bytes(), false)
    }

    fn mailbox(s: &str) -> ReversePath {
        ReversePath::Mailbox(s.to_owned())
    }

    /// Canonical lines: bytes -> command -> the same bytes.
    #[test]
    fn known_answers_both_ways() {
        let cases: Vec<(&str, Command)> = vec![
            ("EHLO client.example.net", Command::Ehlo("client.example.net".into())),
            ("HELO [192.0.2.1]", Command::Helo("[192.0.2.1]".into())),
            ("MAIL FROM:<>", Command::Mail { from: ReversePath::Null, params: MailParams::default() }),
            (
                "MAIL FROM:<a@example.org> SIZE=1000 BODY=8BITMIME",
                Command::Mail {
                    from: mailbox("a@example.org"),
                    params: MailParams { size: Some(1000), body: Some(Body::EightBitMime), ..Default::default() },
                },
            ),
            (
                "MAIL FROM:<a@example.org> BODY=BINARYMIME AUTH=a+2Bb@example.org",
                Command::Mail {
                    from: mailbox("a@example.org"),
                    params: MailParams {
                        body: Some(Body::BinaryMime),
                        auth: Some("a+b@example.org".into()),
                        ..Default::default()
                    },
                },
            ),
            (
                "MAIL FROM:<a@example.org> RET=HDRS ENVID=X",
                Command::Mail {
                    from: mailbox("a@example.org"),
                    params: MailParams {
                        other: vec![("RET".into(), Some("HDRS".into())), ("ENVID".into(), Some("X".into()))],
                        ..Default::default()
                    },
                },
            ),
            ("RCPT TO:<b@example.com>", Command::Rcpt { to: "b@example.com".into(), params: vec![] }),
            ("RCPT TO:<Postmaster>", Command::Rcpt { to: "Postmaster".into(), params: vec![] }),
            (
                "RCPT TO:<\"john doe\"@example.com> NOTIFY=NEVER",
                Command::Rcpt {
                    to: "\"john doe\"@example.com".into(),
                    params: vec![("NOTIFY".into(), Some("NEVER".into()))],
                },
            ),
            ("RCPT TO:<x@[IPv6:2001:db8::1]>", Command::Rcpt { to: "x@[IPv6:2001:db8::1]".into(), params: vec![] }),
            ("DATA", Command::Data),
            ("BDAT 0 LAST", Command::Bdat { size: 0, last: true }),
            ("BDAT 18446744073709551615", Command::Bdat { size: u64::MAX, last: false }),
            ("RSET", Command::Rset),
            ("NOOP", Command::Noop),
            ("QUIT", Command::Quit),
            ("VRFY postmaster", Command::Vrfy("postmaster".into())),
            ("HELP", Command::Help),
            ("STARTTLS", Command::StartTls),
            ("AUTH LOGIN", Command::Auth { mechanism: "LOGIN".into(), initial: None }),
            ("AUTH PLAIN AGEAYg==", Command::Auth { mechanism: "PLAIN".into(), initial: Some("AGEAYg==".into()) }),
            ("AUTH PLAIN =", Command::Auth { mechanism: "PLAIN".into(), initial: Some("=".into()) }),
        ];
        for (line, command) in cases {
            assert_eq!(parse(&format!("{line}\r\n")).as_ref(), Ok(&command), "{line}");
            assert_eq!(command.to_string(), line);
        }
    }

    #[test]
    fn smtputf8_round_trip() {
        let line = "MAIL FROM:<jöran@bücher.example> SMTPUTF8";
        let command = Command::parse(line.as_bytes(), false).unwrap();
        assert_eq!(
            command,
            Command::Mail {
                from: mailbox("jöran@bücher.example"),
                params: MailParams { smtputf8: true, ..Default::default() }
            }
        );
        assert_eq!(command.to_string(), line);
        let rcpt = Command::parse("RCPT TO:<用户@例子.广告>".as_bytes(), true).unwrap();
        assert_eq!(rcpt.to_string(), "RCPT TO:<用户@例子.广告>");
    }

    #[test]
    fn case_insensitive_and_lenient_forms() {
        let expected = Command::Mail { from: mailbox("a@b.example"), params: MailParams::default() };
        for line in ["mail from:<a@b.example>", "MAIL FROM: <a@b.example>", "Mail From:  <a@b.example>  \r\n"] {
            assert_eq!(parse(line), Ok(expected.clone()), "{line}");
        }
        assert_eq!(parse("bdat 10 last"), Ok(Command::Bdat { size: 10, last: true }));
        assert_eq!(parse("ehlo x\n"), Ok(Command::Ehlo("x".into())));
        assert_eq!(parse("auth plain"), Ok(Command::Auth { mechanism: "PLAIN".into(), initial: None }));
        assert_eq!(parse("NOOP anything at all"), Ok(Command::Noop));
        assert_eq!(parse("HELP MAIL"), Ok(Command::Help));
        assert_eq!(
            parse("MAIL FROM:<a@b.example> size=5  body=7bit"),
            Ok(Command::Mail {
                from: mailbox("a@b.example"),
                params: MailParams { size: Some(5), body: Some(Body::SevenBit), ..Default::default() }
            })
        );
        // Source routes are accepted and dropped.
        assert_eq!(
            parse("RCPT TO:<@relay.example,@other.example:b@c.example>"),
            Ok(Command::Rcpt { to: "b@c.example".into(), params: vec![] })
        );
        // A '>' inside a quoted local part does not end the path.
        assert_eq!(
            parse("RCPT TO:<\"a>b\"@c.example>"),
            Ok(Command::Rcpt { to: "\"a>b\"@c.example".into(), params: vec![] })
        );
        // Oversized SIZE saturates, so that the session answers 552.
        let Ok(Command::Mail { params, .. }) = parse("MAIL FROM:<> SIZE=99999999999999999999999") else { panic!() };
        assert_eq!(params.size, Some(u64::MAX));
    }

    #[test]
    fn errors_and_their_replies() {
        let code = |line: &str| {
            let reply = parse(line).unwrap_err().reply();
            (reply.code, reply.enhanced.unwrap())
        };
        assert_eq!(code("FOO"), (500, (5, 5, 2)));
        assert_eq!(code(""), (500, (5, 5, 2)));
        assert_eq!(code(" MAIL FROM:<>"), (500, (5, 5, 2)));
        assert_eq!(code("EXPN list"), (502, (5, 5, 1)));
        assert_eq!(code("NOOP a\rb"), (500, (5, 5, 2)));
        assert_eq!(code("NOOP \0"), (500, (5, 5, 2)));
        assert_eq!(code("MAIL"), (501, (5, 5, 2)));
        assert_eq!(code("MAIL TO:<a@b.c>"), (501, (5, 5, 2)));
        assert_eq!(code("RCPT FROM:<a@b.c>"), (501, (5, 5, 2)));
        assert_eq!(code("EHLO"), (501, (5, 5, 4)));
        assert_eq!(code("DATA now"), (501, (5, 5, 4)));
        assert_eq!(code("QUIT now"), (501, (5, 5, 4)));
        assert_eq!(code("STARTTLS x"), (501, (5, 5, 4)));
        assert_eq!(code("VRFY"), (501, (5, 5, 4)));
        assert_eq!(code("BDAT"), (501, (5, 5, 2)));
        assert_eq!(code("BDAT -1"), (501, (5, 5, 2)));
        assert_eq!(code("BDAT 1 FIRST"), (501, (5, 5, 2)));
        assert_eq!(code("BDAT 99999999999999999999999"), (501, (5, 5, 4)));
        assert_eq!(code("AUTH"), (501, (5, 5, 2)));
        assert_eq!(code("AUTH PL@IN"), (501, (5, 5, 2)));
        assert_eq!(code("AUTH PLAIN a b"), (501, (5, 5, 2)));
        assert_eq!(code("AUTH PLAIN ****"), (501, (5, 5, 2)));
        // Sender address syntax: 5.1.7.
        assert_eq!(code("MAIL FROM:a@b.example"), (501, (5, 1, 7)));
        assert_eq!(code("MAIL FROM:<a@b.example"), (501, (5, 1, 7)));
        assert_eq!(code("MAIL FROM:<a@b.example>SIZE=1"), (501, (5, 1, 7)));
        assert_eq!(code("MAIL FROM:<a..b@c.example>"), (501, (5, 1, 7)));
        assert_eq!(code("MAIL FROM:<a@-c.example>"), (501, (5, 1, 7)));
        assert_eq!(code("MAIL FROM:<a@c..example>"), (501, (5, 1, 7)));
        assert_eq!(code("MAIL FROM:<a b@c.example>"), (501, (5, 1, 7)));
        assert_eq!(code("MAIL FROM:<@x:a@c.example"), (501, (5, 1, 7)));
        assert_eq!(code("MAIL FROM:<a@[300.1.1.1]>"), (501, (5, 1, 7)));
        assert_eq!(code(&format!("MAIL FROM:<{}@example.org>", "a".repeat(250))), (501, (5, 1, 7)));
        // Recipient address syntax: 5.1.3.
        assert_eq!(code("RCPT TO:<>"), (501, (5, 1, 3)));
        assert_eq!(code("RCPT TO:<nobody>"), (501, (5, 1, 3)));
        assert_eq!(code("RCPT TO:<\"unterminated@example.org>"), (501, (5, 1, 3)));
        assert_eq!(code("RCPT TO:<\"a\\\u{1}\"@example.org>"), (501, (5, 1, 3)));
        // Parameters: 5.5.4.
        assert_eq!(code("MAIL FROM:<> SIZE=abc"), (501, (5, 5, 4)));
        assert_eq!(code("MAIL FROM:<> SIZE=1 SIZE=2"), (501, (5, 5, 4)));
        assert_eq!(code("MAIL FROM:<> BODY=9BIT"), (501, (5, 5, 4)));
        assert_eq!(code("MAIL FROM:<> SMTPUTF8=yes"), (501, (5, 5, 4)));
        assert_eq!(code("MAIL FROM:<> AUTH=a+zz"), (501, (5, 5, 4)));
        assert_eq!(code("MAIL FROM:<> -X=1"), (501, (5, 5, 4)));
        assert_eq!(code("MAIL FROM:<> X="), (501, (5, 5, 4)));
        // UTF-8 needs SMTPUTF8 (RFC 6531 3.5).
        assert_eq!(code("MAIL FROM:<jöran@example.org>"), (553, (5, 6, 7)));
        assert_eq!(code("RCPT TO:<jöran@example.org>"), (553, (5, 6, 7)));
        assert_eq!(Command::parse(b"MAIL FROM:<\xff@example.org>", false).unwrap_err().reply().code, 501);
    }

    #[test]
    fn address_literals() {
        for ok in ["[192.0.2.1]", "[IPv6:::1]", "[IPv6:2001:db8::1]", "[x-tag:abc]"] {
            assert!(is_address_literal(ok), "{ok}");
        }
        for bad in ["192.0.2.1", "[192.0.2]", "[IPv6:zz]", "[:abc]", "[tag:]", "[tag:a[b]"] {
            assert!(!is_address_literal(bad), "{bad}");
        }
    }

    #[test]
    fn xtext_both_ways() {
        assert_eq!(xtext_decode("a+2Bb+3Dc").as_deref(), Some("a+b=c"));
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext_decode("<>").as_deref(), Some("<>"));
        assert_eq!(xtext_decode("a+2"), None);
        assert_eq!(xtext_decode("a=b"), None);
    }
}
