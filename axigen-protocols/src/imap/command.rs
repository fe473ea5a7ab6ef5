//! IMAP commands as the server receives them (RFC 9051 6, RFC 3501 6, and
//! the extensions in [`extensions`](super::extensions)).
//!
//! [`Command::parse`] takes one complete command, its literals inline and
//! its CRLF at the end, as framed by [`CommandReader`](super::CommandReader).
//! Keywords are case-insensitive (RFC 3501 9, note 1); `SP` is exactly one
//! space (note 2), except that trailing spaces before CRLF are tolerated.
//!
//! [`Command::encode`] writes the canonical form (upper-case keywords,
//! strings as atom/quoted/literal chosen from their octets, literals in
//! the `{n+}` form of RFC 7888): canonical input prints back unchanged, and
//! every command prints to bytes that parse to the same command.

use std::borrow::Cow;

use super::append::{self, AppendMessage};
use super::encode;
use super::error::{CommandError, ErrorKind};
use super::extensions::{acl, condstore, id, notify, quota, sasl, special_use};
use super::fetch::FetchCommand;
use super::list::ListCommand;
use super::parser::{PResult, Parser, syntax};
use super::search::SearchCommand;
use super::sequence::SequenceSet;
use super::sort::{SortCommand, ThreadCommand};
use super::status::{self, StatusItem};
use super::store::StoreCommand;
use super::types::{Atom, MailboxName, Secret, Tag, is_list_char, is_tag_char};

pub use acl::{Rights, RightsChange, RightsMode};
pub use condstore::{QResync, SelectParams};

/// How commands are parsed; changes during a session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// `ENABLE UTF8=ACCEPT` succeeded (RFC 6855 3): mailbox names are UTF-8,
    /// not modified UTF-7.
    pub utf8_accept: bool,
}

/// A tagged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The tag the client chose.
    pub tag: Tag,
    /// The command and its arguments.
    pub body: CommandBody,
}

/// The commands this parser knows. Which ones are valid in the session's
/// current state is the session's decision (RFC 9051 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    /// `CAPABILITY` (RFC 9051 6.1.1).
    Capability,
    /// `NOOP` (RFC 9051 6.1.2).
    Noop,
    /// `LOGOUT` (RFC 9051 6.1.3).
    Logout,
    /// `STARTTLS` (RFC 9051 6.2.1).
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (RFC 9051 6.2.2, SASL-IR RFC 4959).
    Authenticate {
        /// The SASL mechanism, as sent.
        mechanism: Atom,
        /// The decoded initial response; `Some` of zero octets for `=`.
        initial_response: Option<Secret>,
    },
    /// `LOGIN userid password` (RFC 9051 6.2.3).
    Login {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// `ENABLE capability...` (RFC 5161 3.1).
    Enable(Vec<Atom>),
    /// `ID (...)` or `ID NIL` (RFC 2971 3.1): field/value pairs.
    Id(Option<id::IdParams>),
    /// `NAMESPACE` (RFC 2342 5).
    Namespace,
    /// `SELECT mailbox [(params)]` (RFC 9051 6.3.2, RFC 7162).
    Select {
        /// The mailbox.
        mailbox: MailboxName,
        /// CONDSTORE / QRESYNC.
        params: SelectParams,
    },
    /// `EXAMINE mailbox [(params)]` (RFC 9051 6.3.3).
    Examine {
        /// The mailbox.
        mailbox: MailboxName,
        /// CONDSTORE / QRESYNC.
        params: SelectParams,
    },
    /// `CREATE mailbox [(USE (...))]` (RFC 9051 6.3.4, RFC 6154 5).
    Create {
        /// The mailbox.
        mailbox: MailboxName,
        /// Special-use attributes without the backslash (`Sent`, `Trash`).
        special_use: Vec<Atom>,
    },
    /// `DELETE mailbox` (RFC 9051 6.3.5).
    Delete(MailboxName),
    /// `RENAME from to` (RFC 9051 6.3.6).
    Rename {
        /// The current name.
        from: MailboxName,
        /// The new name.
        to: MailboxName,
    },
    /// `SUBSCRIBE mailbox` (RFC 9051 6.3.7).
    Subscribe(MailboxName),
    /// `UNSUBSCRIBE mailbox` (RFC 9051 6.3.8).
    Unsubscribe(MailboxName),
    /// `LIST`, basic or extended (RFC 9051 6.3.9, RFC 5258).
    List(ListCommand),
    /// `LSUB reference pattern` (RFC 3501 6.3.9).
    Lsub {
        /// The reference name, decoded; may be empty.
        reference: String,
        /// The pattern, decoded.
        pattern: String,
    },
    /// `STATUS mailbox (items)` (RFC 9051 6.3.11).
    Status {
        /// The mailbox.
        mailbox: MailboxName,
        /// The items asked for.
        items: Vec<StatusItem>,
    },
    /// `APPEND mailbox [flags] [date-time] literal ...` (RFC 9051 6.3.12).
    Append {
        /// The destination.
        mailbox: MailboxName,
        /// One message, or several with MULTIAPPEND (RFC 3502).
        messages: Vec<AppendMessage>,
    },
    /// `CHECK` (RFC 3501 6.4.1).
    Check,
    /// `CLOSE` (RFC 9051 6.4.1).
    Close,
    /// `UNSELECT` (RFC 9051 6.4.2, RFC 3691).
    Unselect,
    /// `EXPUNGE` (RFC 9051 6.4.3).
    Expunge,
    /// `UID EXPUNGE set` (RFC 9051 6.4.9, RFC 4315 2.1).
    UidExpunge(SequenceSet),
    /// `SEARCH` / `UID SEARCH` (RFC 9051 6.4.4, ESEARCH RFC 4731).
    Search(SearchCommand),
    /// `SORT` / `UID SORT` (RFC 5256, ESORT RFC 5267).
    Sort(SortCommand),
    /// `THREAD` / `UID THREAD` (RFC 5256).
    Thread(ThreadCommand),
    /// `CANCELUPDATE "tag" ...` (RFC 5267 4.3.5).
    CancelUpdate(Vec<String>),
    /// `NOTIFY SET ...` / `NOTIFY NONE` (RFC 5465).
    Notify(Option<notify::NotifySet>),
    /// `FETCH` / `UID FETCH` (RFC 9051 6.4.5).
    Fetch(FetchCommand),
    /// `STORE` / `UID STORE` (RFC 9051 6.4.6).
    Store(StoreCommand),
    /// `COPY` / `UID COPY` (RFC 9051 6.4.7).
    Copy {
        /// UID COPY.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The destination.
        mailbox: MailboxName,
    },
    /// `MOVE` / `UID MOVE` (RFC 6851 3.1).
    Move {
        /// UID MOVE.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The destination.
        mailbox: MailboxName,
    },
    /// `IDLE` (RFC 2177 3); the `DONE` line is read with
    /// [`CommandReader::expect_line`](super::CommandReader::expect_line).
    Idle,
    /// `GETQUOTA root` (RFC 9208 4.2).
    GetQuota(String),
    /// `GETQUOTAROOT mailbox` (RFC 9208 4.3).
    GetQuotaRoot(MailboxName),
    /// `SETQUOTA root (resource limit ...)` (RFC 9208 4.1).
    SetQuota {
        /// The quota root.
        root: String,
        /// Resource names (upper-case as sent) and limits.
        limits: Vec<(Atom, u64)>,
    },
    /// `SETACL mailbox identifier rights` (RFC 4314 3.1).
    SetAcl {
        /// The mailbox.
        mailbox: MailboxName,
        /// Whose rights (`anyone`, a user, `-user` for negative rights).
        identifier: String,
        /// Add, remove or replace which rights.
        rights: RightsChange,
    },
    /// `DELETEACL mailbox identifier` (RFC 4314 3.2).
    DeleteAcl {
        /// The mailbox.
        mailbox: MailboxName,
        /// Whose entry.
        identifier: String,
    },
    /// `GETACL mailbox` (RFC 4314 3.3).
    GetAcl(MailboxName),
    /// `LISTRIGHTS mailbox identifier` (RFC 4314 3.4).
    ListRights {
        /// The mailbox.
        mailbox: MailboxName,
        /// Whose rights.
        identifier: String,
    },
    /// `MYRIGHTS mailbox` (RFC 4314 3.5).
    MyRights(MailboxName),
}

/// Every command name the parser knows (after `UID`: COPY, MOVE, FETCH,
/// SEARCH, SORT, THREAD, STORE, EXPUNGE).
pub(crate) const COMMAND_NAMES: &[&str] = &[
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "AUTHENTICATE",
    "LOGIN",
    "ENABLE",
    "ID",
    "NAMESPACE",
    "SELECT",
    "EXAMINE",
    "CREATE",
    "DELETE",
    "RENAME",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "LIST",
    "LSUB",
    "STATUS",
    "APPEND",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "SEARCH",
    "SORT",
    "THREAD",
    "CANCELUPDATE",
    "NOTIFY",
    "FETCH",
    "STORE",
    "COPY",
    "MOVE",
    "UID",
    "IDLE",
    "GETQUOTA",
    "GETQUOTAROOT",
    "SETQUOTA",
    "SETACL",
    "DELETEACL",
    "GETACL",
    "LISTRIGHTS",
    "MYRIGHTS",
];

/// ```abnf
/// tag             = 1*<any ASTRING-CHAR except "+">
/// ```
pub(crate) fn parse_tag(p: &mut Parser<'_>) -> PResult<Tag> {
    let bytes = p.take_while(is_tag_char);
    let text = std::str::from_utf8(bytes).map_err(|_| ErrorKind::MissingTag)?;
    Tag::new(text).map_err(|_| ErrorKind::MissingTag)
}

impl Command {
    /// Parses one complete command (its literals inline).
    ///
    /// ```
    /// use axigen_protocols::imap::{Command, CommandBody, ParseOptions};
    /// let cmd = Command::parse(b"A1 SELECT \"INBOX\" (CONDSTORE)\r\n", &ParseOptions::default()).unwrap();
    /// assert_eq!(cmd.tag.as_str(), "A1");
    /// let CommandBody::Select { mailbox, params } = cmd.body else { panic!() };
    /// assert!(mailbox.is_inbox() && params.condstore);
    /// ```
    pub fn parse(input: &[u8], options: &ParseOptions) -> Result<Command, CommandError> {
        let mut p = Parser::new(input, options.utf8_accept);
        let tag = parse_tag(&mut p).map_err(CommandError::untagged)?;
        let body = (|| {
            p.sp()?;
            let body = CommandBody::parse(&mut p)?;
            p.end()?;
            Ok(body)
        })()
        .map_err(|kind| CommandError { tag: Some(tag.clone()), kind })?;
        Ok(Command { tag, body })
    }

    /// The canonical wire form, CRLF included; `utf8` as in [`ParseOptions`].
    pub fn encode(&self, utf8: bool) -> Vec<u8> {
        let mut w = CommandWriter { buf: Vec::new(), utf8 };
        w.raw(self.tag.as_str());
        w.sp();
        self.body.encode(&mut w);
        w.raw("\r\n");
        w.buf
    }
}

/// ```abnf
/// command         = tag SP (command-any / command-auth / command-nonauth /
///                   command-select) CRLF
/// ```
/// Parses what follows `tag SP`; the caller checks the CRLF.
impl CommandBody {
    fn parse(p: &mut Parser<'_>) -> PResult<CommandBody> {
        let name = p.atom().map_err(|_| ErrorKind::UnknownCommand)?.to_ascii_uppercase();
        Ok(match name.as_str() {
            "CAPABILITY" => CommandBody::Capability,
            "NOOP" => CommandBody::Noop,
            "LOGOUT" => CommandBody::Logout,
            "STARTTLS" => CommandBody::StartTls,
            "NAMESPACE" => CommandBody::Namespace,
            "CHECK" => CommandBody::Check,
            "CLOSE" => CommandBody::Close,
            "UNSELECT" => CommandBody::Unselect,
            "EXPUNGE" => CommandBody::Expunge,
            "IDLE" => CommandBody::Idle,
            "AUTHENTICATE" => sasl::parse_authenticate(p)?,
            "LOGIN" => {
                // login = "LOGIN" SP userid SP password
                p.sp()?;
                let username = p.astring_utf8()?;
                p.sp()?;
                CommandBody::Login { username, password: Secret::new(p.astring()?.into_owned()) }
            }
            "ENABLE" => {
                // enable = "ENABLE" 1*(SP capability)   (RFC 5161 4)
                let mut caps = Vec::new();
                while p.peek() == Some(b' ') && !matches!(p.peek_at(1), None | Some(b'\r') | Some(b'\n')) {
                    p.sp()?;
                    caps.push(Atom::new(p.atom()?).map_err(|_| syntax("expected a capability"))?);
                }
                if caps.is_empty() {
                    return Err(syntax("ENABLE needs at least one capability"));
                }
                CommandBody::Enable(caps)
            }
            "ID" => id::parse(p)?,
            "SELECT" | "EXAMINE" => {
                // select = "SELECT" SP mailbox [select-params]   (RFC 4466 2.1)
                p.sp()?;
                let mailbox = p.mailbox()?;
                let params = condstore::parse_select_params(p)?;
                if name == "SELECT" {
                    CommandBody::Select { mailbox, params }
                } else {
                    CommandBody::Examine { mailbox, params }
                }
            }
            "CREATE" => {
                // create = "CREATE" SP mailbox [create-params]   (RFC 4466 2.2)
                p.sp()?;
                let mailbox = p.mailbox()?;
                CommandBody::Create { mailbox, special_use: special_use::parse_create_params(p)? }
            }
            "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" | "GETACL" | "MYRIGHTS" | "GETQUOTAROOT" => {
                p.sp()?;
                let mailbox = p.mailbox()?;
                match name.as_str() {
                    "DELETE" => CommandBody::Delete(mailbox),
                    "SUBSCRIBE" => CommandBody::Subscribe(mailbox),
                    "UNSUBSCRIBE" => CommandBody::Unsubscribe(mailbox),
                    "GETACL" => CommandBody::GetAcl(mailbox),
                    "MYRIGHTS" => CommandBody::MyRights(mailbox),
                    _ => CommandBody::GetQuotaRoot(mailbox),
                }
            }
            "RENAME" => {
                // rename = "RENAME" SP mailbox SP mailbox
                p.sp()?;
                let from = p.mailbox()?;
                p.sp()?;
                CommandBody::Rename { from, to: p.mailbox()? }
            }
            "LIST" => CommandBody::List(ListCommand::parse(p)?),
            "LSUB" => {
                // lsub = "LSUB" SP mailbox SP list-mailbox
                p.sp()?;
                let reference = p.mailbox_or_empty()?;
                p.sp()?;
                CommandBody::Lsub { reference, pattern: p.list_mailbox()? }
            }
            "STATUS" => {
                // status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
                p.sp()?;
                let mailbox = p.mailbox()?;
                p.sp()?;
                CommandBody::Status { mailbox, items: status::status_att_list(p)? }
            }
            "APPEND" => append::parse(p)?,
            "SEARCH" => CommandBody::Search(SearchCommand::parse(p, false)?),
            "SORT" => CommandBody::Sort(SortCommand::parse(p, false)?),
            "THREAD" => CommandBody::Thread(ThreadCommand::parse(p, false)?),
            "NOTIFY" => notify::parse(p)?,
            "CANCELUPDATE" => {
                // command-select =/ "CANCELUPDATE" 1*(SP quoted)   (RFC 5267 5)
                let mut tags = Vec::new();
                while p.peek() == Some(b' ') {
                    p.sp()?;
                    let tag = p.quoted()?;
                    tags.push(String::from_utf8(tag.into_owned()).map_err(|_| syntax("tag is not UTF-8"))?);
                }
                if tags.is_empty() {
                    return Err(syntax("CANCELUPDATE needs the tags of the searches"));
                }
                CommandBody::CancelUpdate(tags)
            }
            "FETCH" => CommandBody::Fetch(FetchCommand::parse(p, false)?),
            "STORE" => CommandBody::Store(StoreCommand::parse(p, false)?),
            "COPY" | "MOVE" => parse_copy_move(p, name == "MOVE", false)?,
            "UID" => {
                // uid = "UID" SP (copy / move / fetch / search / store / uid-expunge)
                p.sp()?;
                let sub = p.atom().map_err(|_| syntax("expected a command after UID"))?.to_ascii_uppercase();
                match sub.as_str() {
                    "SEARCH" => CommandBody::Search(SearchCommand::parse(p, true)?),
                    "SORT" => CommandBody::Sort(SortCommand::parse(p, true)?),
                    "THREAD" => CommandBody::Thread(ThreadCommand::parse(p, true)?),
                    "FETCH" => CommandBody::Fetch(FetchCommand::parse(p, true)?),
                    "STORE" => CommandBody::Store(StoreCommand::parse(p, true)?),
                    "COPY" | "MOVE" => parse_copy_move(p, sub == "MOVE", true)?,
                    "EXPUNGE" => {
                        // uid-expunge = "UID" SP "EXPUNGE" SP sequence-set   (RFC 4315 4)
                        p.sp()?;
                        CommandBody::UidExpunge(p.sequence_set()?)
                    }
                    _ => return Err(syntax("unknown UID command")),
                }
            }
            "GETQUOTA" | "SETQUOTA" => quota::parse(p, &name)?,
            "SETACL" | "DELETEACL" | "LISTRIGHTS" => acl::parse(p, &name)?,
            _ => return Err(ErrorKind::UnknownCommand),
        })
    }

    /// The command name, upper-case (`UID FETCH` for UID commands).
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Enable(_) => "ENABLE",
            CommandBody::Id(_) => "ID",
            CommandBody::Namespace => "NAMESPACE",
            CommandBody::Select { .. } => "SELECT",
            CommandBody::Examine { .. } => "EXAMINE",
            CommandBody::Create { .. } => "CREATE",
            CommandBody::Delete(_) => "DELETE",
            CommandBody::Rename { .. } => "RENAME",
            CommandBody::Subscribe(_) => "SUBSCRIBE",
            CommandBody::Unsubscribe(_) => "UNSUBSCRIBE",
            CommandBody::List(_) => "LIST",
            CommandBody::Lsub { .. } => "LSUB",
            CommandBody::Status { .. } => "STATUS",
            CommandBody::Append { .. } => "APPEND",
            CommandBody::Check => "CHECK",
            CommandBody::Close => "CLOSE",
            CommandBody::Unselect => "UNSELECT",
            CommandBody::Expunge => "EXPUNGE",
            CommandBody::UidExpunge(_) => "UID EXPUNGE",
            CommandBody::Search(s) if s.uid => "UID SEARCH",
            CommandBody::Search(_) => "SEARCH",
            CommandBody::Sort(s) if s.uid => "UID SORT",
            CommandBody::Sort(_) => "SORT",
            CommandBody::Thread(t) if t.uid => "UID THREAD",
            CommandBody::Thread(_) => "THREAD",
            CommandBody::CancelUpdate(_) => "CANCELUPDATE",
            CommandBody::Notify(_) => "NOTIFY",
            CommandBody::Fetch(f) if f.uid => "UID FETCH",
            CommandBody::Fetch(_) => "FETCH",
            CommandBody::Store(s) if s.uid => "UID STORE",
            CommandBody::Store(_) => "STORE",
            CommandBody::Copy { uid: true, .. } => "UID COPY",
            CommandBody::Copy { .. } => "COPY",
            CommandBody::Move { uid: true, .. } => "UID MOVE",
            CommandBody::Move { .. } => "MOVE",
            CommandBody::Idle => "IDLE",
            CommandBody::GetQuota(_) => "GETQUOTA",
            CommandBody::GetQuotaRoot(_) => "GETQUOTAROOT",
            CommandBody::SetQuota { .. } => "SETQUOTA",
            CommandBody::SetAcl { .. } => "SETACL",
            CommandBody::DeleteAcl { .. } => "DELETEACL",
            CommandBody::GetAcl(_) => "GETACL",
            CommandBody::ListRights { .. } => "LISTRIGHTS",
            CommandBody::MyRights(_) => "MYRIGHTS",
        }
    }

    fn encode(&self, w: &mut CommandWriter) {
        w.raw(self.name());
        match self {
            CommandBody::Capability
            | CommandBody::Noop
            | CommandBody::Logout
            | CommandBody::StartTls
            | CommandBody::Namespace
            | CommandBody::Check
            | CommandBody::Close
            | CommandBody::Unselect
            | CommandBody::Expunge
            | CommandBody::Idle => {}
            CommandBody::Authenticate { mechanism, initial_response } => {
                sasl::encode_authenticate(w, mechanism, initial_response.as_ref())
            }
            CommandBody::Login { username, password } => {
                w.sp();
                w.astring(username.as_bytes());
                w.sp();
                w.astring(password.expose());
            }
            CommandBody::Enable(caps) => {
                for c in caps {
                    w.sp();
                    w.raw(c.as_str());
                }
            }
            CommandBody::Id(params) => id::encode(w, params.as_ref()),
            CommandBody::Select { mailbox, params } | CommandBody::Examine { mailbox, params } => {
                w.sp();
                w.mailbox(mailbox);
                params.encode(w);
            }
            CommandBody::Create { mailbox, special_use } => {
                w.sp();
                w.mailbox(mailbox);
                special_use::encode_create_params(w, special_use);
            }
            CommandBody::Delete(m)
            | CommandBody::Subscribe(m)
            | CommandBody::Unsubscribe(m)
            | CommandBody::GetAcl(m)
            | CommandBody::MyRights(m)
            | CommandBody::GetQuotaRoot(m) => {
                w.sp();
                w.mailbox(m);
            }
            CommandBody::Rename { from, to } => {
                w.sp();
                w.mailbox(from);
                w.sp();
                w.mailbox(to);
            }
            CommandBody::List(list) => list.encode(w),
            CommandBody::Lsub { reference, pattern } => {
                w.sp();
                w.mailbox_str(reference);
                w.sp();
                w.list_mailbox(pattern);
            }
            CommandBody::Status { mailbox, items } => {
                w.sp();
                w.mailbox(mailbox);
                w.sp();
                status::encode_list(&mut w.buf, items);
            }
            CommandBody::Append { mailbox, messages } => append::encode(w, mailbox, messages),
            CommandBody::UidExpunge(set) => w.raw(&format!(" {set}")),
            CommandBody::Search(search) => search.encode(w),
            CommandBody::Sort(sort) => sort.encode(w),
            CommandBody::Thread(thread) => thread.encode(w),
            CommandBody::Notify(set) => notify::encode(w, set.as_ref()),
            CommandBody::CancelUpdate(tags) => {
                for tag in tags {
                    w.sp();
                    encode::quoted(&mut w.buf, tag.as_bytes());
                }
            }
            CommandBody::Fetch(fetch) => fetch.encode(w),
            CommandBody::Store(store) => store.encode(w),
            CommandBody::Copy { set, mailbox, .. } | CommandBody::Move { set, mailbox, .. } => {
                w.raw(&format!(" {set} "));
                w.mailbox(mailbox);
            }
            CommandBody::GetQuota(_) | CommandBody::SetQuota { .. } => quota::encode(w, self),
            CommandBody::SetAcl { .. } | CommandBody::DeleteAcl { .. } | CommandBody::ListRights { .. } => {
                acl::encode(w, self)
            }
        }
    }
}

/// ```abnf
/// copy            = "COPY" SP sequence-set SP mailbox
/// move            = "MOVE" SP sequence-set SP mailbox   ; RFC 6851 3.1
/// ```
fn parse_copy_move(p: &mut Parser<'_>, is_move: bool, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = p.sequence_set()?;
    p.sp()?;
    let mailbox = p.mailbox()?;
    Ok(if is_move { CommandBody::Move { uid, set, mailbox } } else { CommandBody::Copy { uid, set, mailbox } })
}

/// Writes the canonical form of commands.
pub(crate) struct CommandWriter {
    pub buf: Vec<u8>,
    pub utf8: bool,
}

impl CommandWriter {
    pub fn raw(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub fn sp(&mut self) {
        self.buf.push(b' ');
    }

    pub fn astring(&mut self, value: &[u8]) {
        encode::astring_with(&mut self.buf, value, self.utf8, true)
    }

    pub fn string(&mut self, value: &[u8]) {
        encode::string_with(&mut self.buf, value, self.utf8, true)
    }

    pub fn nstring(&mut self, value: Option<&[u8]>) {
        match value {
            Some(v) => self.string(v),
            None => self.raw("NIL"),
        }
    }

    pub fn mailbox(&mut self, name: &MailboxName) {
        let wire = name.to_wire(self.utf8);
        self.astring(wire.as_bytes())
    }

    pub fn mailbox_str(&mut self, name: &str) {
        let wire: Cow<'_, str> = if self.utf8 { Cow::Borrowed(name) } else { Cow::Owned(super::mutf7::encode(name)) };
        self.astring(wire.as_bytes())
    }

    /// `list-mailbox = 1*list-char / string`.
    pub fn list_mailbox(&mut self, pattern: &str) {
        let wire: Cow<'_, str> =
            if self.utf8 { Cow::Borrowed(pattern) } else { Cow::Owned(super::mutf7::encode(pattern)) };
        if !wire.is_empty() && wire.bytes().all(is_list_char) { self.raw(&wire) } else { self.string(wire.as_bytes()) }
    }
}
