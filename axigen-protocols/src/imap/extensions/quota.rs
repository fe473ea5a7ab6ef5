//! QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT (parsed with the other
//! one-mailbox commands) and SETQUOTA.

use crate::imap::command::{CommandBody, CommandWriter};
use crate::imap::parser::{PResult, Parser, syntax};
use crate::imap::types::Atom;

/// ```abnf
/// getquota        = "GETQUOTA" SP quota-root-name
/// setquota        = "SETQUOTA" SP quota-root-name SP setquota-list
/// setquota-list   = "(" [setquota-resource *(SP setquota-resource)] ")"
/// setquota-resource = resource-name SP resource-limit
/// quota-root-name = astring
/// resource-name   = "STORAGE" / "MESSAGE" / "MAILBOX" /
///                   "ANNOTATION-STORAGE" / resource-name-ext
/// resource-limit  = number64
/// ```
/// (RFC 9208 7.) Parses what follows the command name.
pub(crate) fn parse(p: &mut Parser<'_>, name: &str) -> PResult<CommandBody> {
    p.sp()?;
    let root = p.astring_utf8()?;
    if name == "GETQUOTA" {
        return Ok(CommandBody::GetQuota(root));
    }
    p.sp()?;
    let limits = p.list(|p| {
        let resource = Atom::new(p.atom()?.to_ascii_uppercase()).map_err(|_| syntax("expected a resource name"))?;
        p.sp()?;
        Ok((resource, p.number64()?))
    })?;
    Ok(CommandBody::SetQuota { root, limits })
}

pub(crate) fn encode(w: &mut CommandWriter, body: &CommandBody) {
    match body {
        CommandBody::GetQuota(root) => {
            w.sp();
            w.astring(root.as_bytes());
        }
        CommandBody::SetQuota { root, limits } => {
            w.sp();
            w.astring(root.as_bytes());
            let limits: Vec<String> = limits.iter().map(|(r, l)| format!("{r} {l}")).collect();
            w.raw(&format!(" ({})", limits.join(" ")));
        }
        _ => {}
    }
}
