//! QUOTA (RFC 9208): one quota root, `""`, per account, with the STORAGE
//! (in units of 1024 octets, RFC 9208 5.1) and MESSAGE resources of the
//! account's effective quota settings. A limit of 0 means no limit, and the
//! resource is then not reported. Quotas are set by the administrator, so
//! SETQUOTA is refused with `NO [NOPERM]`.

use super::{Session, store_error, tagged};
use crate::imap::data::Data;
use crate::imap::response::{Code, Status, StatusResponse};
use crate::imap::types::{MailboxName, Tag};

/// The account's quota root.
const ROOT: &str = "";

impl Session {
    /// The resources of the quota root: (name, usage, limit).
    async fn quota_resources(&self) -> axigen_core::Result<Vec<(String, u64, u64)>> {
        let limit = self.quota().await?;
        let usage = self.store.quota_usage(self.account()).await?;
        let mut resources = Vec::new();
        if limit.max_bytes > 0 {
            // RFC 9208 5.1: STORAGE is in units of 1024 octets.
            resources.push(("STORAGE".to_owned(), usage.bytes.div_ceil(1024), limit.max_bytes / 1024));
        }
        if limit.max_messages > 0 {
            resources.push(("MESSAGE".to_owned(), usage.messages, limit.max_messages));
        }
        Ok(resources)
    }

    /// GETQUOTAROOT (RFC 9208 4.3): every mailbox is under the root `""`.
    pub(super) async fn get_quota_root(
        &mut self,
        tag: &Tag,
        mailbox: &MailboxName,
        out: &mut Vec<u8>,
    ) -> StatusResponse {
        match self.target(mailbox).await {
            // Another account's folder counts against that account's quota,
            // which is not this user's to see: no quota root.
            Ok(Some(t)) if t.is_shared(self.account()) => {
                self.data(out, &Data::QuotaRoot { mailbox: mailbox.clone(), roots: vec![] });
                return tagged(tag, Status::Ok, "GETQUOTAROOT completed");
            }
            Ok(Some(_)) => {}
            Ok(None) => return tagged(tag, Status::No, "no such mailbox").with_code(Code::NonExistent),
            Err(err) => return store_error(tag, &err),
        }
        let resources = match self.quota_resources().await {
            Ok(r) => r,
            Err(err) => return store_error(tag, &err),
        };
        // RFC 9208 4.3: a mailbox without limits has no quota root.
        let roots = if resources.is_empty() { vec![] } else { vec![ROOT.to_owned()] };
        self.data(out, &Data::QuotaRoot { mailbox: mailbox.clone(), roots });
        if !resources.is_empty() {
            self.data(out, &Data::Quota { root: ROOT.to_owned(), resources });
        }
        tagged(tag, Status::Ok, "GETQUOTAROOT completed")
    }

    /// GETQUOTA (RFC 9208 4.2).
    pub(super) async fn get_quota(&mut self, tag: &Tag, root: &str, out: &mut Vec<u8>) -> StatusResponse {
        let resources = match self.quota_resources().await {
            Ok(r) => r,
            Err(err) => return store_error(tag, &err),
        };
        if root != ROOT || resources.is_empty() {
            return tagged(tag, Status::No, "no such quota root").with_code(Code::NonExistent);
        }
        self.data(out, &Data::Quota { root: ROOT.to_owned(), resources });
        tagged(tag, Status::Ok, "GETQUOTA completed")
    }

    /// SETQUOTA (RFC 9208 4.1): not the user's to change (RFC 5530 3: NOPERM).
    pub(super) fn set_quota(&self, tag: &Tag) -> StatusResponse {
        tagged(tag, Status::No, "quotas are set by the administrator").with_code(Code::NoPerm)
    }
}
