//! ACL (RFC 4314): SETACL, DELETEACL, LISTRIGHTS here; GETACL and MYRIGHTS
//! take only a mailbox and are parsed with the other one-mailbox commands.

use std::fmt;

use crate::imap::command::{CommandBody, CommandWriter};
use crate::imap::parser::{PResult, Parser, syntax};

/// A set of rights (RFC 4314 2.1): the standard letters `lrswipkxtea`,
/// the obsolete `c` and `d` (RFC 4314 2.1.1), and the digits reserved for
/// site-defined rights. Kept in the order given, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Rights(String);

/// The letters and digits a rights string may hold.
const RIGHT_CHARS: &str = "lrswipkxteacd0123456789";

impl Rights {
    /// Checks a rights string; an unknown right is refused (RFC 4314 3.1:
    /// "... a BAD response ..." for rights the server does not recognise).
    pub fn new(rights: &str) -> Option<Rights> {
        if !rights.chars().all(|c| RIGHT_CHARS.contains(c)) {
            return None;
        }
        let mut out = String::new();
        for c in rights.chars() {
            if !out.contains(c) {
                out.push(c);
            }
        }
        Some(Rights(out))
    }

    /// Whether the right `c` is in the set.
    pub fn contains(&self, c: char) -> bool {
        self.0.contains(c)
    }

    /// The rights as letters.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Rights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How SETACL changes an entry (RFC 4314 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RightsMode {
    /// No prefix: replace.
    Replace,
    /// `+`: add.
    Add,
    /// `-`: remove.
    Remove,
}

/// The `mod-rights` of SETACL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RightsChange {
    /// Replace, add or remove.
    pub mode: RightsMode,
    /// The rights.
    pub rights: Rights,
}

/// ```abnf
/// setacl          = "SETACL" SP mailbox SP identifier SP mod-rights
/// deleteacl       = "DELETEACL" SP mailbox SP identifier
/// listrights      = "LISTRIGHTS" SP mailbox SP identifier
/// identifier      = astring
/// mod-rights      = astring
///                     ;; +rights to add, -rights to remove
///                     ;; rights to replace
/// ```
/// (RFC 4314 4.) Parses what follows the command name.
pub(crate) fn parse(p: &mut Parser<'_>, name: &str) -> PResult<CommandBody> {
    p.sp()?;
    let mailbox = p.mailbox()?;
    p.sp()?;
    let identifier = p.astring_utf8()?;
    Ok(match name {
        "DELETEACL" => CommandBody::DeleteAcl { mailbox, identifier },
        "LISTRIGHTS" => CommandBody::ListRights { mailbox, identifier },
        _ => {
            p.sp()?;
            let text = p.astring_utf8()?;
            let (mode, letters) = match text.as_bytes().first() {
                Some(b'+') => (RightsMode::Add, &text[1..]),
                Some(b'-') => (RightsMode::Remove, &text[1..]),
                _ => (RightsMode::Replace, text.as_str()),
            };
            let rights = Rights::new(letters).ok_or(syntax("unknown right (RFC 4314 2.1)"))?;
            CommandBody::SetAcl { mailbox, identifier, rights: RightsChange { mode, rights } }
        }
    })
}

pub(crate) fn encode(w: &mut CommandWriter, body: &CommandBody) {
    let (mailbox, identifier) = match body {
        CommandBody::SetAcl { mailbox, identifier, .. }
        | CommandBody::DeleteAcl { mailbox, identifier }
        | CommandBody::ListRights { mailbox, identifier } => (mailbox, identifier),
        _ => return,
    };
    w.sp();
    w.mailbox(mailbox);
    w.sp();
    w.astring(identifier.as_bytes());
    if let CommandBody::SetAcl { rights, .. } = body {
        let prefix = match rights.mode {
            RightsMode::Replace => "",
            RightsMode::Add => "+",
            RightsMode::Remove => "-",
        };
        w.sp();
        w.astring(format!("{prefix}{}", rights.rights).as_bytes());
    }
}
