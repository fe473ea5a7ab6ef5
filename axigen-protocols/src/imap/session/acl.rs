//! Shared folders and ACL (RFC 4314, seed 3.5.2).
//!
//! Another account's folders appear under the "other users" namespace
//! (RFC 2342 5): `Other Users/<owner's address>/<folder>`. A folder is
//! there only while the user has the `l` right on it (through an entry for
//! the user or for `anyone`); intermediate names the user may not list are
//! shown `\Noselect`. Without `l` and `r`, a shared name answers exactly as
//! a name that does not exist, so its existence is not revealed.
//!
//! Every command resolves its mailbox to a [`Target`] (owner, folder,
//! rights) and checks the rights RFC 4314 4 requires: `r` for SELECT,
//! EXAMINE and STATUS; `i` for APPEND and as COPY/MOVE destination; `s`,
//! `w`, `t` per flag for STORE, APPEND and COPY (flags the user may not set
//! are left out, as RFC 4314 4 asks); `e` for EXPUNGE (CLOSE expunges only
//! with it); `t` and `e` on the source of MOVE; `k` on the parent for
//! CREATE; `x` for DELETE and on the source of RENAME; `a` for the ACL
//! commands. A refusal on a visible mailbox is `NO [NOPERM]` (RFC 5530).
//!
//! Flags are the folder's: a user with `s` on a shared folder sets \Seen
//! for every user of it. Identifiers are account addresses and `anyone`;
//! negative rights (`-user`) are not supported and are refused.

use axigen_core::acl::{Grantee, Rights};
use axigen_core::mailstore::{FolderInfo, FolderKind};
use axigen_core::model::{AccountId, Address};

use super::mailbox::{DELIMITER, folder_name};
use super::{Session, store_error, tagged};
use crate::imap::data::Data;
use crate::imap::extensions::acl::{RightsChange, RightsMode};
use crate::imap::response::{Code, Status, StatusResponse};
use crate::imap::types::{Flag, MailboxName, Tag};

/// The prefix of the other users namespace, without its delimiter.
pub const OTHER_USERS: &str = "Other Users";

/// A mailbox a command names, with its owner and the user's rights.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// Whose folder it is.
    pub owner: AccountId,
    /// The folder in the owner's store.
    pub folder: FolderInfo,
    /// What the user may do with it.
    pub rights: Rights,
}

impl Target {
    /// Whether the folder belongs to another account.
    pub fn is_shared(&self, me: AccountId) -> bool {
        self.owner != me
    }
}

/// A name in the other users namespace: the owner's address and the
/// folder's name in the owner's hierarchy (`None` for the owner's root).
pub(super) fn split_shared(name: &str) -> Option<(&str, Option<&str>)> {
    let rest = name.strip_prefix(OTHER_USERS)?.strip_prefix(DELIMITER)?;
    match rest.split_once(DELIMITER) {
        Some((user, folder)) if !folder.is_empty() => Some((user, Some(folder))),
        Some((user, _)) => Some((user, None)),
        None => Some((rest, None)),
    }
}

/// The name under which `owner_address`'s folder `folder` appears.
pub(super) fn shared_name(owner_address: &str, folder: &str) -> String {
    format!("{OTHER_USERS}{DELIMITER}{owner_address}{DELIMITER}{folder}")
}

/// The rights a flag needs (RFC 4314 4: STORE).
pub(super) fn flag_right(flag: &Flag) -> Rights {
    match flag {
        Flag::Seen => Rights::SEEN,
        Flag::Deleted => Rights::DELETE_MESSAGES,
        _ => Rights::WRITE,
    }
}

/// The flags of `flags` that `rights` allow setting.
pub(super) fn allowed_flags(flags: &[Flag], rights: Rights) -> Vec<Flag> {
    flags.iter().filter(|f| rights.contains(flag_right(f))).cloned().collect()
}

/// `NO [NOPERM]` for a missing right.
pub(super) fn no_permission(tag: &Tag, what: &str) -> StatusResponse {
    StatusResponse::tagged(tag.clone(), Status::No, format!("permission denied: {what}")).with_code(Code::NoPerm)
}

/// The answer for a name that does not exist or may not be known.
pub(super) fn nonexistent(tag: &Tag) -> StatusResponse {
    tagged(tag, Status::No, "no such mailbox").with_code(Code::NonExistent)
}

impl Session {
    /// The account of a shared name's owner, by address.
    async fn owner_by_address(&self, user: &str) -> axigen_core::Result<Option<AccountId>> {
        let Ok(address) = Address::parse(user) else { return Ok(None) };
        Ok(self.directory.account_by_address(&address).await?.map(|a| a.id))
    }

    /// Resolves a mailbox name: one of the user's folders (every right), or
    /// a shared folder the user may know of. `None` when there is no such
    /// mailbox for this user.
    pub(super) async fn target(&self, name: &MailboxName) -> axigen_core::Result<Option<Target>> {
        self.resolve(name, false).await
    }

    /// [`Session::target`], groupware folders (calendars, task lists, notes,
    /// contacts) included when `groupware`: the ACL commands share them
    /// (seed 3.5.2), though LIST and SELECT show mail folders only.
    async fn resolve(&self, name: &MailboxName, groupware: bool) -> axigen_core::Result<Option<Target>> {
        let me = self.account();
        let kind_ok = |f: &axigen_core::mailstore::FolderInfo| groupware || f.kind == FolderKind::Mail;
        let Some((user, Some(folder))) = split_shared(name.as_str()) else {
            if split_shared(name.as_str()).is_some() {
                return Ok(None);
            }
            let folder = self.store.folder_by_name(me, folder_name(name)).await?;
            return Ok(folder.filter(kind_ok).map(|folder| Target { owner: me, folder, rights: Rights::ALL }));
        };
        let Some(owner) = self.owner_by_address(user).await? else { return Ok(None) };
        let folder = folder.trim_end_matches(DELIMITER);
        let Some(folder) = self.store.folder_by_name(owner, folder).await?.filter(kind_ok) else {
            return Ok(None);
        };
        let rights = self.store.rights(me, owner, folder.id).await?;
        if !rights.intersects(Rights::LOOKUP.union(Rights::READ)) {
            return Ok(None);
        }
        Ok(Some(Target { owner, folder, rights }))
    }

    /// The mailbox of an ACL command, which needs `a` (MYRIGHTS needs any
    /// right, `admin` false).
    async fn acl_target(&self, tag: &Tag, mailbox: &MailboxName, admin: bool) -> Result<Target, StatusResponse> {
        let target = match self.resolve(mailbox, true).await {
            Ok(Some(t)) => t,
            Ok(None) => return Err(nonexistent(tag)),
            Err(err) => return Err(store_error(tag, &err)),
        };
        if admin && !target.rights.contains(Rights::ADMIN) {
            return Err(no_permission(tag, "the a right is needed to read or change the access list"));
        }
        Ok(target)
    }

    /// An identifier as a grantee: `anyone` or an account's address.
    async fn grantee(&self, tag: &Tag, identifier: &str) -> Result<Grantee, StatusResponse> {
        if identifier.eq_ignore_ascii_case("anyone") {
            return Ok(Grantee::Anyone);
        }
        if identifier.starts_with('-') {
            return Err(tagged(tag, Status::No, "negative rights are not supported").with_code(Code::Cannot));
        }
        match self.owner_by_address(identifier).await {
            Ok(Some(id)) => Ok(Grantee::Account(id)),
            Ok(None) => Err(tagged(tag, Status::No, "no such user").with_code(Code::NonExistent)),
            Err(err) => Err(store_error(tag, &err)),
        }
    }

    /// A grantee as an identifier; `None` for an account that is gone.
    async fn identifier(&self, grantee: Grantee) -> axigen_core::Result<Option<String>> {
        match grantee {
            Grantee::Anyone => Ok(Some("anyone".to_owned())),
            Grantee::Account(id) => Ok(self.directory.account(id).await?.map(|a| a.address.to_string())),
        }
    }

    /// SETACL (RFC 4314 3.1) and DELETEACL (3.2, `change` None).
    pub(super) async fn set_acl(
        &mut self,
        tag: &Tag,
        mailbox: &MailboxName,
        identifier: &str,
        change: Option<&RightsChange>,
    ) -> StatusResponse {
        let target = match self.acl_target(tag, mailbox, true).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        let grantee = match self.grantee(tag, identifier).await {
            Ok(g) => g,
            Err(r) => return r,
        };
        if grantee == Grantee::Account(target.owner) {
            return tagged(tag, Status::No, "the owner always has every right").with_code(Code::Cannot);
        }
        let current = match self.store.acl(target.owner, target.folder.id).await {
            Ok(entries) => entries.into_iter().find(|(g, _)| *g == grantee).map_or(Rights::NONE, |(_, r)| r),
            Err(err) => return store_error(tag, &err),
        };
        let rights = match change {
            None => Rights::NONE,
            Some(change) => {
                // The wire type accepted only known letters and digits; the
                // digits (site-defined rights) mean nothing here.
                let letters: String = change.rights.as_str().chars().filter(char::is_ascii_alphabetic).collect();
                let Ok(given) = Rights::parse(&letters) else {
                    return tagged(tag, Status::Bad, "unknown right");
                };
                match change.mode {
                    RightsMode::Replace => given,
                    RightsMode::Add => current.union(given),
                    RightsMode::Remove => current.difference(given),
                }
            }
        };
        if let Err(err) = self.store.set_rights(target.owner, target.folder.id, grantee, rights).await {
            return store_error(tag, &err);
        }
        tracing::info!(
            session = %self.id, account = %self.account(), owner = %target.owner, folder = %target.folder.name,
            identifier = %identifier, rights = %rights, "folder rights changed"
        );
        tagged(tag, Status::Ok, if change.is_some() { "SETACL completed" } else { "DELETEACL completed" })
    }

    /// GETACL (RFC 4314 3.3): the owner first, with every right.
    pub(super) async fn get_acl(&mut self, tag: &Tag, mailbox: &MailboxName, out: &mut Vec<u8>) -> StatusResponse {
        let target = match self.acl_target(tag, mailbox, true).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        let mut entries = Vec::new();
        match self.identifier(Grantee::Account(target.owner)).await {
            Ok(Some(owner)) => entries.push((owner, Rights::ALL.to_string())),
            Ok(None) => {}
            Err(err) => return store_error(tag, &err),
        }
        let acl = match self.store.acl(target.owner, target.folder.id).await {
            Ok(acl) => acl,
            Err(err) => return store_error(tag, &err),
        };
        for (grantee, rights) in acl {
            match self.identifier(grantee).await {
                Ok(Some(id)) => entries.push((id, rights.to_string())),
                Ok(None) => {}
                Err(err) => return store_error(tag, &err),
            }
        }
        self.data(out, &Data::Acl { mailbox: mailbox.clone(), entries });
        tagged(tag, Status::Ok, "GETACL completed")
    }

    /// LISTRIGHTS (RFC 4314 3.4): the owner has every right, fixed; anyone
    /// else may get each right on its own.
    pub(super) async fn list_rights(
        &mut self,
        tag: &Tag,
        mailbox: &MailboxName,
        identifier: &str,
        out: &mut Vec<u8>,
    ) -> StatusResponse {
        let target = match self.acl_target(tag, mailbox, true).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        let grantee = match self.grantee(tag, identifier).await {
            Ok(g) => g,
            Err(r) => return r,
        };
        let (required, optional) = if grantee == Grantee::Account(target.owner) {
            (Rights::ALL.to_string(), vec![])
        } else {
            (String::new(), Rights::LETTERS.iter().map(|(_, c)| c.to_string()).collect())
        };
        self.data(
            out,
            &Data::ListRights { mailbox: mailbox.clone(), identifier: identifier.to_owned(), required, optional },
        );
        tagged(tag, Status::Ok, "LISTRIGHTS completed")
    }

    /// MYRIGHTS (RFC 4314 3.5).
    pub(super) async fn my_rights(&mut self, tag: &Tag, mailbox: &MailboxName, out: &mut Vec<u8>) -> StatusResponse {
        let target = match self.acl_target(tag, mailbox, false).await {
            Ok(t) => t,
            Err(r) => return r,
        };
        self.data(out, &Data::MyRights { mailbox: mailbox.clone(), rights: target.rights.to_string() });
        tagged(tag, Status::Ok, "MYRIGHTS completed")
    }

    /// The shared folders the user may list, under their shared names, with
    /// the owner and rights; by name.
    pub(super) async fn shared_folders(&self) -> axigen_core::Result<Vec<(String, Target, bool)>> {
        let mut out = Vec::new();
        let mut owners: std::collections::HashMap<AccountId, Option<String>> = std::collections::HashMap::new();
        for shared in self.store.shared_with(self.account()).await? {
            if !shared.rights.contains(Rights::LOOKUP) {
                continue;
            }
            let address = match owners.get(&shared.owner) {
                Some(a) => a.clone(),
                None => {
                    let a = self.directory.account(shared.owner).await?.map(|a| a.address.to_string());
                    owners.insert(shared.owner, a.clone());
                    a
                }
            };
            let Some(address) = address else { continue };
            let Some(folder) = self.store.folder(shared.owner, shared.folder).await? else { continue };
            if folder.kind != FolderKind::Mail {
                continue;
            }
            let name = shared_name(&address, &folder.name);
            out.push((name, Target { owner: shared.owner, folder, rights: shared.rights }, shared.subscribed));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_names_split_into_owner_and_folder() {
        assert_eq!(split_shared("Other Users/a@example.com/Team/x"), Some(("a@example.com", Some("Team/x"))));
        assert_eq!(split_shared("Other Users/a@example.com"), Some(("a@example.com", None)));
        assert_eq!(split_shared("Other Users/a@example.com/"), Some(("a@example.com", None)));
        assert_eq!(split_shared("Other Users"), None);
        assert_eq!(split_shared("Other Usersx/a"), None);
        assert_eq!(split_shared("INBOX"), None);
        assert_eq!(shared_name("a@example.com", "Team"), "Other Users/a@example.com/Team");
    }

    #[test]
    fn flags_need_their_rights() {
        let flags = vec![Flag::Seen, Flag::Deleted, Flag::Flagged];
        assert_eq!(allowed_flags(&flags, Rights::SEEN), vec![Flag::Seen]);
        assert_eq!(allowed_flags(&flags, Rights::parse("tw").unwrap()), vec![Flag::Deleted, Flag::Flagged]);
        assert_eq!(allowed_flags(&flags, Rights::ALL), flags);
    }
}
