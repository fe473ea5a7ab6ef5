//! The POP3 session: states, commands and responses, without socket I/O.
//!
//! The driver ([`super::server`]) feeds it lines and sends what it writes
//! into the output buffer; the session reads the directory and the store
//! itself. A retrieval ([`Next::Send`]) hands the driver a [`Transfer`],
//! which the driver encodes chunk by chunk with a [`DotStuffer`].

use std::net::SocketAddr;
use std::sync::Arc;

use axigen_core::directory::Directory;
use axigen_core::mailstore::{BlobId, FolderId, MailStore, Uid};
use axigen_core::model::AccountId;
use base64::Engine;
use bytes::Bytes;
use tracing::{debug, info, warn};

use super::command::{Command, ParseError, parse};
use super::server::Pop3Config;
use axigen_core::login_throttle::{LoginError, LoginThrottle};

/// After this many refused commands the session says `-ERR too many errors` and closes.
pub const MAX_ERRORS: u32 = 20;

/// What the driver does after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Send the output and read the next line.
    Read,
    /// Send the output, then the message of the transfer (dot-stuffed, with
    /// the final `.` line), then read the next line.
    Send(Transfer),
    /// Send the output and start TLS; input already buffered is discarded.
    StartTls,
    /// Send the output (a `+ ` continuation) and pass the next line to
    /// [`Session::on_auth_line`].
    AuthLine,
    /// Send the output and close the connection.
    Close,
}

/// Message content to send as a multi-line response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The octets to send, before dot-stuffing.
    pub content: Bytes,
}

impl Transfer {
    /// Encodes the whole transfer into `out` (the driver streams it in
    /// chunks instead).
    pub fn encode_all(&self, out: &mut Vec<u8>) {
        let mut stuffer = DotStuffer::default();
        stuffer.encode(&self.content, out);
        stuffer.finish(out);
    }
}

/// Dot-stuffing (RFC 1939 3) and CRLF line ends for a multi-line response,
/// across chunk boundaries.
#[derive(Debug, Clone)]
pub struct DotStuffer {
    at_line_start: bool,
    after_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        DotStuffer { at_line_start: true, after_cr: false }
    }
}

impl DotStuffer {
    /// Encodes the next chunk of content into `out`: a `.` starting a line
    /// is doubled, a bare LF becomes CRLF.
    pub fn encode(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        out.reserve(chunk.len() + chunk.len() / 64 + 2);
        // Line by line: the text between two line feeds is copied at once.
        let mut rest = chunk;
        while !rest.is_empty() {
            if self.at_line_start && rest[0] == b'.' {
                out.push(b'.');
            }
            match rest.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    let line = &rest[..i];
                    out.extend_from_slice(line);
                    let cr_before = match line.last() {
                        Some(&b) => b == b'\r',
                        None => self.after_cr,
                    };
                    if !cr_before {
                        out.push(b'\r');
                    }
                    out.push(b'\n');
                    self.at_line_start = true;
                    self.after_cr = false;
                    rest = &rest[i + 1..];
                }
                None => {
                    out.extend_from_slice(rest);
                    self.at_line_start = false;
                    self.after_cr = rest.last() == Some(&b'\r');
                    rest = &[];
                }
            }
        }
    }

    /// Ends the last line if needed and writes the terminating `.` line.
    pub fn finish(self, out: &mut Vec<u8>) {
        if !self.at_line_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }
}

/// The part of a message TOP sends: the header, the empty line and the
/// first `lines` lines of the body. A message without an empty line is all
/// header.
pub fn top_part(content: &Bytes, lines: u32) -> Bytes {
    let crlf = content.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = content.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    let header_end = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => match a.or(b) {
            Some(end) => end,
            None => return content.clone(),
        },
    };
    let mut end = header_end;
    let mut remaining = lines;
    while remaining > 0 && end < content.len() {
        match content[end..].iter().position(|&b| b == b'\n') {
            Some(p) => end += p + 1,
            None => end = content.len(),
        }
        remaining -= 1;
    }
    content.slice(..end)
}

/// One message of the maildrop snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    uid: Uid,
    size: u64,
    /// Where the content is: RETR reads it with one lookup.
    blob: BlobId,
    deleted: bool,
}

/// The maildrop of a logged-in session: INBOX as it was at login.
#[derive(Debug)]
struct Maildrop {
    account: AccountId,
    folder: FolderId,
    uid_validity: u32,
    entries: Vec<Entry>,
}

#[derive(Debug)]
enum State {
    /// Before login; the name given by USER, if any.
    Authorization { user: Option<String> },
    /// Waiting for the AUTH PLAIN response line.
    AuthPlain,
    /// Logged in.
    Transaction(Maildrop),
    /// After QUIT.
    Done,
}

/// One POP3 session.
pub struct Session {
    config: Arc<Pop3Config>,
    directory: Arc<dyn Directory>,
    store: Arc<dyn MailStore>,
    throttle: Arc<LoginThrottle>,
    id: String,
    peer: SocketAddr,
    tls: bool,
    starttls_available: bool,
    state: State,
    errors: u32,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("id", &self.id).field("peer", &self.peer).field("tls", &self.tls).finish()
    }
}

fn ok(out: &mut Vec<u8>, text: impl std::fmt::Display) {
    out.extend_from_slice(format!("+OK {text}\r\n").as_bytes());
}

fn err(out: &mut Vec<u8>, text: impl std::fmt::Display) {
    out.extend_from_slice(format!("-ERR {text}\r\n").as_bytes());
}

impl Session {
    /// A session for a client at `peer`. `tls`: the connection is already
    /// encrypted; `starttls_available`: STLS may be offered.
    pub fn new(
        config: Arc<Pop3Config>,
        directory: Arc<dyn Directory>,
        store: Arc<dyn MailStore>,
        id: String,
        peer: SocketAddr,
        tls: bool,
        starttls_available: bool,
    ) -> Session {
        Session {
            config,
            directory,
            store,
            throttle: Arc::default(),
            id,
            peer,
            tls,
            starttls_available,
            state: State::Authorization { user: None },
            errors: 0,
        }
    }

    /// Shares `throttle` (the service's) with this session.
    pub fn with_throttle(mut self, throttle: Arc<LoginThrottle>) -> Session {
        self.throttle = throttle;
        self
    }

    /// The account logged in, if any.
    pub fn account(&self) -> Option<AccountId> {
        match &self.state {
            State::Transaction(drop) => Some(drop.account),
            _ => None,
        }
    }

    /// Writes the greeting.
    pub fn greeting(&self, out: &mut Vec<u8>) {
        ok(out, format_args!("{} POP3 server ready", self.config.hostname));
    }

    /// Whether USER/PASS and AUTH PLAIN may be used now.
    fn plaintext_allowed(&self) -> bool {
        self.tls || self.config.allow_plaintext_auth
    }

    /// The TLS handshake after STLS succeeded: back to a fresh AUTHORIZATION
    /// state (RFC 2595 4).
    pub fn on_tls_established(&mut self) {
        self.tls = true;
        self.starttls_available = false;
        self.state = State::Authorization { user: None };
    }

    /// Counts a refused command; closes after [`MAX_ERRORS`].
    fn refuse(&mut self, out: &mut Vec<u8>, text: impl std::fmt::Display) -> Next {
        self.errors += 1;
        if self.errors >= MAX_ERRORS {
            info!(session = %self.id, peer = %self.peer, errors = self.errors, "pop3: closing after too many errors");
            err(out, "too many errors");
            return Next::Close;
        }
        err(out, text);
        Next::Read
    }

    /// A line longer than the limits was received (and discarded).
    pub fn line_too_long(&mut self, out: &mut Vec<u8>) -> Next {
        self.refuse(out, "line too long")
    }

    /// Handles one command line (without its line end).
    pub async fn execute(&mut self, line: &[u8], out: &mut Vec<u8>) -> Next {
        if matches!(self.state, State::AuthPlain) {
            return self.on_auth_line(line, out).await;
        }
        // RFC 5034 4: the 255-octet limit does not apply to AUTH.
        let is_auth = line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"AUTH ");
        if line.len() + 2 > self.config.max_line && !is_auth {
            return self.line_too_long(out);
        }
        let command = match parse(line) {
            Ok(command) => command,
            Err(ParseError::Unknown) => return self.refuse(out, "unknown command"),
            Err(e) => return self.refuse(out, e),
        };
        debug!(session = %self.id, command = command.keyword(), "pop3 command");
        match command {
            Command::Capa => {
                self.capa(out);
                Next::Read
            }
            Command::Noop if matches!(self.state, State::Transaction(_)) => {
                ok(out, "");
                Next::Read
            }
            Command::Quit => self.quit(out).await,
            _ if matches!(self.state, State::Transaction(_)) => self.transaction(command, out).await,
            command => self.authorization(command, out).await,
        }
    }

    fn capa(&self, out: &mut Vec<u8>) {
        ok(out, "Capability list follows");
        let mut caps = vec!["TOP", "UIDL"];
        let authorization = matches!(self.state, State::Authorization { .. });
        if authorization && self.plaintext_allowed() {
            caps.extend(["USER", "SASL PLAIN"]);
        }
        if authorization && self.starttls_available && !self.tls {
            caps.push("STLS");
        }
        caps.extend(["RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "IMPLEMENTATION axigen"]);
        for cap in caps {
            out.extend_from_slice(cap.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
    }

    async fn authorization(&mut self, command: Command, out: &mut Vec<u8>) -> Next {
        match command {
            Command::Stls => {
                if self.tls || !self.starttls_available {
                    return self.refuse(out, "STLS not available");
                }
                ok(out, "Begin TLS negotiation");
                Next::StartTls
            }
            Command::User(name) => {
                if !self.plaintext_allowed() {
                    return self.refuse(out, "[AUTH] plaintext login requires TLS; use STLS first");
                }
                ok(out, "send PASS");
                self.state = State::Authorization { user: Some(name) };
                Next::Read
            }
            Command::Pass(password) => {
                let user = match &mut self.state {
                    State::Authorization { user } => user.take(),
                    _ => None,
                };
                let Some(user) = user else {
                    return self.refuse(out, "USER first");
                };
                if !self.plaintext_allowed() {
                    return self.refuse(out, "[AUTH] plaintext login requires TLS; use STLS first");
                }
                self.login(&user, &password, out).await
            }
            Command::Auth { mechanism: None, .. } => {
                ok(out, "SASL mechanisms follow");
                if self.plaintext_allowed() {
                    out.extend_from_slice(b"PLAIN\r\n");
                }
                out.extend_from_slice(b".\r\n");
                Next::Read
            }
            Command::Auth { mechanism: Some(mechanism), initial } => {
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    return self.refuse(out, "unsupported SASL mechanism");
                }
                if !self.plaintext_allowed() {
                    return self.refuse(out, "[AUTH] plaintext authentication requires TLS; use STLS first");
                }
                self.state = State::Authorization { user: None };
                match initial {
                    Some(initial) => self.auth_plain(initial.as_bytes(), out).await,
                    None => {
                        out.extend_from_slice(b"+ \r\n");
                        self.state = State::AuthPlain;
                        Next::AuthLine
                    }
                }
            }
            _ => self.refuse(out, "not allowed before login"),
        }
    }

    /// The client's answer to the `+ ` of AUTH PLAIN.
    pub async fn on_auth_line(&mut self, line: &[u8], out: &mut Vec<u8>) -> Next {
        self.state = State::Authorization { user: None };
        if line == b"*" {
            err(out, "authentication cancelled");
            return Next::Read;
        }
        self.auth_plain(line, out).await
    }

    async fn auth_plain(&mut self, response: &[u8], out: &mut Vec<u8>) -> Next {
        let decoded =
            if response == b"=" { Ok(Vec::new()) } else { base64::engine::general_purpose::STANDARD.decode(response) };
        let Ok(decoded) = decoded else {
            return self.refuse(out, "invalid base64");
        };
        let mut parts = decoded.split(|&b| b == 0);
        let (Some(authz), Some(user), Some(password), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return self.refuse(out, "[AUTH] malformed PLAIN response");
        };
        let (Ok(authz), Ok(user), Ok(password)) =
            (std::str::from_utf8(authz), std::str::from_utf8(user), std::str::from_utf8(password))
        else {
            return self.refuse(out, "[AUTH] malformed PLAIN response");
        };
        if !authz.is_empty() && authz != user {
            err(out, "[AUTH] authorization identity differs from the user");
            return Next::Read;
        }
        let (user, password) = (user.to_owned(), password.to_owned());
        self.login(&user, &password, out).await
    }

    async fn login(&mut self, user: &str, password: &str, out: &mut Vec<u8>) -> Next {
        let principal = match self.throttle.authenticate(self.directory.as_ref(), self.peer.ip(), user, password).await
        {
            Ok(principal) => principal,
            Err(LoginError::Refused(reason)) => {
                warn!(session = %self.id, peer = %self.peer, user = %user, %reason, "pop3 login refused by the login throttle");
                err(out, format_args!("[SYS/TEMP] {reason}; try again later"));
                return Next::Read;
            }
            Err(LoginError::InvalidCredentials) => {
                info!(session = %self.id, peer = %self.peer, user = %user, "pop3 authentication failed");
                err(out, "[AUTH] invalid credentials");
                return Next::Read;
            }
            Err(LoginError::Unavailable(e)) => {
                warn!(session = %self.id, peer = %self.peer, error = %e, "directory unavailable");
                err(out, "[SYS/TEMP] try again later");
                return Next::Read;
            }
        };
        match self.directory.effective_settings(principal.account).await {
            Ok(settings) if settings.pop3_enabled.value => {}
            Ok(settings) => {
                info!(session = %self.id, peer = %self.peer, account = %principal.account, "pop3 disabled for account");
                err(out, format_args!("[AUTH] POP3 is disabled for this account ({})", settings.pop3_enabled.source));
                return Next::Read;
            }
            Err(e) => {
                warn!(session = %self.id, peer = %self.peer, error = %e, "cannot read account settings");
                err(out, "[SYS/TEMP] try again later");
                return Next::Read;
            }
        }
        match self.snapshot(principal.account).await {
            Ok(maildrop) => {
                info!(session = %self.id, peer = %self.peer, user = %user, account = %principal.account,
                    messages = maildrop.entries.len(), "pop3 login");
                let size: u64 = maildrop.entries.iter().map(|e| e.size).sum();
                ok(out, format_args!("maildrop has {} messages ({size} octets)", maildrop.entries.len()));
                self.state = State::Transaction(maildrop);
            }
            Err(e) => {
                warn!(session = %self.id, peer = %self.peer, error = %e, "cannot open the maildrop");
                err(out, "[SYS/TEMP] cannot open the maildrop; try again later");
            }
        }
        Next::Read
    }

    async fn snapshot(&self, account: AccountId) -> axigen_core::Result<Maildrop> {
        let inbox = self
            .store
            .folder_by_name(account, "INBOX")
            .await?
            .ok_or_else(|| axigen_core::Error::NotFound("INBOX".into()))?;
        // The shared listing: a maildrop opened again and unchanged since is
        // not read again.
        let listing =
            self.store.listing(account, inbox.id).await?.ok_or_else(|| axigen_core::Error::NotFound("INBOX".into()))?;
        let entries =
            listing.messages.iter().map(|m| Entry { uid: m.uid, size: m.size, blob: m.blob, deleted: false }).collect();
        Ok(Maildrop { account, folder: inbox.id, uid_validity: inbox.uid_validity, entries })
    }

    async fn transaction(&mut self, command: Command, out: &mut Vec<u8>) -> Next {
        let State::Transaction(drop) = &mut self.state else {
            return Next::Read;
        };
        match command {
            Command::Stat => {
                let live = drop.entries.iter().filter(|e| !e.deleted);
                let (count, size) = live.fold((0u64, 0u64), |(c, s), e| (c + 1, s + e.size));
                ok(out, format_args!("{count} {size}"));
            }
            Command::List(None) | Command::Uidl(None) => {
                let uidl = matches!(command, Command::Uidl(_));
                ok(out, if uidl { "unique-id listing follows" } else { "scan listing follows" });
                for (i, e) in drop.entries.iter().enumerate().filter(|(_, e)| !e.deleted) {
                    let line = if uidl {
                        format!("{} {}.{}\r\n", i + 1, drop.uid_validity, e.uid.0)
                    } else {
                        format!("{} {}\r\n", i + 1, e.size)
                    };
                    out.extend_from_slice(line.as_bytes());
                }
                out.extend_from_slice(b".\r\n");
            }
            Command::List(Some(n)) | Command::Uidl(Some(n)) => match live_entry(drop, n) {
                Ok(e) if matches!(command, Command::Uidl(_)) => {
                    ok(out, format_args!("{n} {}.{}", drop.uid_validity, e.uid.0))
                }
                Ok(e) => ok(out, format_args!("{n} {}", e.size)),
                Err(text) => return self.refuse(out, text),
            },
            Command::Dele(n) => match live_entry(drop, n) {
                Ok(_) => {
                    drop.entries[n as usize - 1].deleted = true;
                    ok(out, format_args!("message {n} deleted"));
                }
                Err(text) => return self.refuse(out, text),
            },
            Command::Rset => {
                drop.entries.iter_mut().for_each(|e| e.deleted = false);
                let size: u64 = drop.entries.iter().map(|e| e.size).sum();
                ok(out, format_args!("maildrop has {} messages ({size} octets)", drop.entries.len()));
            }
            Command::Retr(n) | Command::Top(n, _) => {
                let entry = match live_entry(drop, n) {
                    Ok(e) => e.clone(),
                    Err(text) => return self.refuse(out, text),
                };
                // The content is stored once by its hash and never changes:
                // read it straight from the blob. A message expunged by
                // another session since login may be gone with its blob.
                let content = match self.store.content(entry.blob).await {
                    Ok(content) => Ok(Some(content)),
                    Err(axigen_core::Error::NotFound(_)) => Ok(None),
                    Err(e) => Err(e),
                };
                match content {
                    Ok(Some(content)) => {
                        if let Command::Top(_, lines) = command {
                            ok(out, "top of message follows");
                            return Next::Send(Transfer { content: top_part(&content, lines) });
                        }
                        ok(out, format_args!("{} octets", entry.size));
                        return Next::Send(Transfer { content });
                    }
                    Ok(None) => err(out, "message was deleted by another session"),
                    Err(e) => {
                        warn!(session = %self.id, peer = %self.peer, error = %e, "cannot read a message");
                        err(out, "[SYS/TEMP] cannot read the message; try again later");
                    }
                }
            }
            _ => return self.refuse(out, "not allowed after login"),
        }
        Next::Read
    }

    async fn quit(&mut self, out: &mut Vec<u8>) -> Next {
        let state = std::mem::replace(&mut self.state, State::Done);
        let State::Transaction(drop) = state else {
            ok(out, format_args!("{} POP3 server signing off", self.config.hostname));
            return Next::Close;
        };
        // UPDATE state (RFC 1939 6).
        let marked: Vec<Uid> = drop.entries.iter().filter(|e| e.deleted).map(|e| e.uid).collect();
        if marked.is_empty() {
            ok(out, format_args!("{} POP3 server signing off", self.config.hostname));
            return Next::Close;
        }
        match self.store.expunge(drop.account, drop.folder, &marked).await {
            Ok(removed) => {
                info!(session = %self.id, peer = %self.peer, account = %drop.account, marked = marked.len(),
                    removed = removed.len(), "pop3 update");
                ok(
                    out,
                    format_args!(
                        "{} POP3 server signing off ({} messages deleted)",
                        self.config.hostname,
                        marked.len()
                    ),
                );
            }
            Err(e) => {
                warn!(session = %self.id, peer = %self.peer, error = %e, "pop3 update failed");
                err(out, "[SYS/TEMP] some deleted messages not removed");
            }
        }
        Next::Close
    }
}

/// The snapshot's message `n`, unless out of range or marked deleted.
fn live_entry(drop: &Maildrop, n: u32) -> Result<&Entry, String> {
    match (n as usize).checked_sub(1).and_then(|i| drop.entries.get(i)) {
        None => Err(format!("no such message, only {} messages in maildrop", drop.entries.len())),
        Some(e) if e.deleted => Err(format!("message {n} already deleted")),
        Some(e) => Ok(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axigen_core::directory::DirectoryAdmin;
    use axigen_core::mailstore::{Flags, NewMessage, QuotaLimit};
    use axigen_core::model::{Address, Domain, DomainName, NewAccount};
    use axigen_core::settings::Overrides;
    use axigen_store::{Store, StoreOptions};

    #[test]
    fn dot_stuffing_across_chunks() {
        let mut out = Vec::new();
        let mut s = DotStuffer::default();
        s.encode(b".start\r\nmid\n.", &mut out);
        s.encode(b"dot\r\n", &mut out);
        s.encode(b"..two\r", &mut out);
        s.encode(b"\nend", &mut out);
        s.finish(&mut out);
        assert_eq!(out, b"..start\r\nmid\r\n..dot\r\n...two\r\nend\r\n.\r\n");
        let mut out = Vec::new();
        Transfer { content: Bytes::from_static(b"a\r\n") }.encode_all(&mut out);
        assert_eq!(out, b"a\r\n.\r\n");
        let mut out = Vec::new();
        Transfer { content: Bytes::new() }.encode_all(&mut out);
        assert_eq!(out, b".\r\n");
    }

    /// The byte-at-a-time definition the line-at-a-time encoder must match.
    fn stuff_bytewise(content: &[u8]) -> Vec<u8> {
        let (mut out, mut at_start, mut after_cr) = (Vec::new(), true, false);
        for &b in content {
            if at_start && b == b'.' {
                out.push(b'.');
            }
            if b == b'\n' && !after_cr {
                out.push(b'\r');
            }
            out.push(b);
            at_start = b == b'\n';
            after_cr = b == b'\r';
        }
        if !at_start {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b".\r\n");
        out
    }

    proptest::proptest! {
        #[test]
        fn dot_stuffing_matches_its_definition_whatever_the_chunks(
            content in proptest::collection::vec(proptest::sample::select(vec![b'.', b'\r', b'\n', b'a', b'b']), 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(content.len())).collect();
            cuts.sort_unstable();
            let (mut out, mut s, mut from) = (Vec::new(), DotStuffer::default(), 0);
            for c in cuts.into_iter().chain([content.len()]) {
                s.encode(&content[from..c], &mut out);
                from = c;
            }
            s.finish(&mut out);
            proptest::prop_assert_eq!(out, stuff_bytewise(&content));
        }
    }

    #[test]
    fn top_takes_header_and_lines() {
        let m = Bytes::from_static(b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3");
        assert_eq!(&top_part(&m, 0)[..], b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(&top_part(&m, 2)[..], b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(&top_part(&m, 9)[..], &m[..]);
        let no_body = Bytes::from_static(b"A: 1\r\n");
        assert_eq!(&top_part(&no_body, 3)[..], b"A: 1\r\n");
        let lf = Bytes::from_static(b"A: 1\n\nx\ny\n");
        assert_eq!(&top_part(&lf, 1)[..], b"A: 1\n\nx\n");
    }

    struct Fixture {
        store: Arc<Store>,
        account: AccountId,
        _dir: tempfile::TempDir,
    }

    async fn fixture(settings: Overrides) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path().join("db"), StoreOptions::default()).unwrap());
        store
            .put_domain(Domain {
                name: DomainName::new("example.com").unwrap(),
                settings: Overrides::default(),
                postmaster: None,
            })
            .await
            .unwrap();
        let account = store
            .create_account(NewAccount {
                address: Address::parse("bob@example.com").unwrap(),
                class: None,
                display_name: "Bob".into(),
                password: "pw".into(),
                settings,
            })
            .await
            .unwrap();
        let inbox = store.folder_by_name(account.id, "INBOX").await.unwrap().unwrap();
        for content in ["Subject: one\r\n\r\n.hidden\r\nbody\r\n", "Subject: two\r\n\r\nsecond\r\n"] {
            let message = NewMessage {
                flags: Flags::empty(),
                keywords: vec![],
                internal_date: 1_700_000_000,
                content: Bytes::from(content),
            };
            store.append(account.id, inbox.id, message, QuotaLimit::default()).await.unwrap();
        }
        Fixture { store, account: account.id, _dir: dir }
    }

    fn session(f: &Fixture, plaintext: bool, starttls: bool) -> Session {
        let mut config = Pop3Config::new("pop.example.com");
        config.allow_plaintext_auth = plaintext;
        Session::new(
            Arc::new(config),
            f.store.clone(),
            f.store.clone(),
            "t".into(),
            "127.0.0.1:1".parse().unwrap(),
            false,
            starttls,
        )
    }

    async fn run(s: &mut Session, line: &str) -> (String, Next) {
        let mut out = Vec::new();
        let next = s.execute(line.as_bytes(), &mut out).await;
        if let Next::Send(t) = &next {
            t.encode_all(&mut out);
        }
        (String::from_utf8(out).unwrap(), next)
    }

    #[tokio::test]
    async fn plaintext_refused_then_stls() {
        let f = fixture(Overrides::default()).await;
        let mut s = session(&f, false, true);
        let (capa, _) = run(&mut s, "CAPA").await;
        assert!(capa.contains("STLS\r\n") && !capa.contains("USER\r\n") && capa.ends_with(".\r\n"), "{capa}");
        assert!(run(&mut s, "USER bob@example.com").await.0.starts_with("-ERR [AUTH]"));
        assert!(run(&mut s, "AUTH PLAIN AGJvYkBleGFtcGxlLmNvbQBwdw==").await.0.starts_with("-ERR [AUTH]"));
        assert!(run(&mut s, "STAT").await.0.starts_with("-ERR"));
        assert_eq!(run(&mut s, "STLS").await.1, Next::StartTls);
        s.on_tls_established();
        let (capa, _) = run(&mut s, "CAPA").await;
        assert!(!capa.contains("STLS") && capa.contains("USER\r\n") && capa.contains("SASL PLAIN"), "{capa}");
        assert!(run(&mut s, "STLS").await.0.starts_with("-ERR"));
        assert!(run(&mut s, "USER bob@example.com").await.0.starts_with("+OK"));
        assert!(run(&mut s, "PASS pw").await.0.starts_with("+OK maildrop has 2 messages"));
    }

    #[tokio::test]
    async fn transaction_commands() {
        let f = fixture(Overrides::default()).await;
        let mut s = session(&f, true, false);
        let (reply, next) = run(&mut s, "AUTH PLAIN").await;
        assert_eq!((reply.as_str(), next), ("+ \r\n", Next::AuthLine));
        assert!(run(&mut s, "*").await.0.starts_with("-ERR authentication cancelled"));
        assert_eq!(run(&mut s, "AUTH PLAIN").await.1, Next::AuthLine);
        assert!(run(&mut s, "AGJvYkBleGFtcGxlLmNvbQBwdw==").await.0.starts_with("+OK"));
        assert_eq!(s.account(), Some(f.account));
        let (stat, _) = run(&mut s, "STAT").await;
        assert_eq!(stat, format!("+OK 2 {}\r\n", 31 + 24));
        let (list, _) = run(&mut s, "LIST").await;
        assert_eq!(list, "+OK scan listing follows\r\n1 31\r\n2 24\r\n.\r\n");
        let (uidl, _) = run(&mut s, "UIDL 2").await;
        assert!(uidl.starts_with("+OK 2 ") && uidl.ends_with(".2\r\n"), "{uidl}");
        let (retr, _) = run(&mut s, "RETR 1").await;
        assert_eq!(retr, "+OK 31 octets\r\nSubject: one\r\n\r\n..hidden\r\nbody\r\n.\r\n");
        let (top, _) = run(&mut s, "TOP 1 0").await;
        assert_eq!(top, "+OK top of message follows\r\nSubject: one\r\n\r\n.\r\n");
        assert!(run(&mut s, "RETR 3").await.0.starts_with("-ERR no such message"));
        assert!(run(&mut s, "DELE 1").await.0.starts_with("+OK"));
        assert!(run(&mut s, "RETR 1").await.0.starts_with("-ERR message 1 already deleted"));
        assert_eq!(run(&mut s, "STAT").await.0, "+OK 1 24\r\n");
        assert_eq!(run(&mut s, "LIST").await.0, "+OK scan listing follows\r\n2 24\r\n.\r\n");
        assert!(run(&mut s, "RSET").await.0.starts_with("+OK maildrop has 2"));
        assert!(run(&mut s, "DELE 2").await.0.starts_with("+OK"));
        // Another session expunges message 1 meanwhile.
        let inbox = f.store.folder_by_name(f.account, "INBOX").await.unwrap().unwrap();
        f.store.expunge(f.account, inbox.id, &[Uid(1)]).await.unwrap();
        assert_eq!(run(&mut s, "RETR 1").await.0, "-ERR message was deleted by another session\r\n");
        let (quit, next) = run(&mut s, "QUIT").await;
        assert!(quit.starts_with("+OK") && next == Next::Close, "{quit}");
        assert!(f.store.messages(f.account, inbox.id).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn errors_close_the_session() {
        let f = fixture(Overrides::default()).await;
        let mut s = session(&f, true, false);
        for _ in 1..MAX_ERRORS {
            assert_eq!(run(&mut s, "BOGUS").await, ("-ERR unknown command\r\n".into(), Next::Read));
        }
        assert_eq!(run(&mut s, "BOGUS").await, ("-ERR too many errors\r\n".into(), Next::Close));
        let mut s = session(&f, true, false);
        let long = format!("USER {}", "x".repeat(600));
        assert_eq!(run(&mut s, &long).await.0, "-ERR line too long\r\n");
        assert!(run(&mut s, "NOOP").await.0.starts_with("-ERR"));
        assert!(run(&mut s, "QUIT").await.0.starts_with("+OK"));
    }
}
