//! Incoming iMIP (RFC 6047): a delivered message whose `text/calendar`
//! part carries an iTIP method is applied to the local recipient's
//! calendar, besides landing in the INBOX as mail.
//!
//! - REQUEST to an attendee: the event is stored in (or updated in) the
//!   attendee's default calendar without its METHOD (RFC 4791 4.1), the
//!   attendee's PARTSTAT `NEEDS-ACTION` unless the organizer gave one; an
//!   update older (by SEQUENCE) than the stored copy is ignored.
//! - CANCEL to an attendee: the stored copy's events get `STATUS:CANCELLED`.
//! - REPLY to the organizer: the organizer's copy takes the replying
//!   attendee's PARTSTAT.
//!
//! A method is applied only when the mail comes from whom it must: the
//! organizer for REQUEST and CANCEL, the answering attendee for REPLY (the
//! envelope sender or the From address), and the recipient is who it must
//! be (an attendee, or the organizer). Failures are logged; the mail is
//! delivered in any case.

use axigen_core::groupware::ItemKind;
use axigen_core::itemstore::{ItemMeta, ItemWrite, NewItem, Precondition};
use axigen_core::mailstore::{FolderInfo, FolderKind, QuotaLimit};
use axigen_core::model::AccountId;
use bytes::Bytes;
use mail_parser::MessageParser;
use tracing::{info, warn};

use super::InboundBackend;
use crate::itip::{self, Method, Scheduling};

impl InboundBackend {
    /// Applies the iTIP content of `content` for each local recipient
    /// (account, address as addressed).
    pub(super) async fn apply_scheduling(
        &self,
        envelope_from: Option<&str>,
        content: &Bytes,
        recipients: &[(AccountId, String)],
    ) {
        let Some(items) = &self.items else { return };
        if recipients.is_empty() || memchr::memmem::find(content, b"text/calendar").is_none() {
            return;
        }
        let Some(object) = itip::calendar_part(content) else { return };
        let Some(scheduling) = itip::read(&object) else { return };
        let Some(method) = scheduling.method else { return };
        let header_from = MessageParser::default()
            .parse_headers(content)
            .and_then(|m| m.from().and_then(|f| f.first()).and_then(|a| a.address()).map(str::to_ascii_lowercase));
        let senders: Vec<String> = envelope_from.map(str::to_ascii_lowercase).into_iter().chain(header_from).collect();
        let mut done: Vec<AccountId> = Vec::new();
        for (account, address) in recipients {
            if done.contains(account) {
                continue;
            }
            done.push(*account);
            let Ok(Some(record)) = self.directory.account(*account).await else { continue };
            let mine = [address.to_ascii_lowercase(), record.address.to_string()];
            let outcome = self.apply_one(items.as_ref(), *account, &mine, &senders, method, &scheduling, &object).await;
            match outcome {
                Ok(Some(what)) => {
                    info!(%account, uid = %scheduling.uid, method = method.as_str(), what, "iMIP applied")
                }
                Ok(None) => {}
                Err(why) => warn!(%account, uid = %scheduling.uid, method = method.as_str(), %why, "iMIP not applied"),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_one(
        &self,
        items: &dyn axigen_core::itemstore::ItemStore,
        account: AccountId,
        mine: &[String],
        senders: &[String],
        method: Method,
        s: &Scheduling,
        object: &str,
    ) -> Result<Option<&'static str>, String> {
        let is_mine = |a: &str| mine.iter().any(|m| m == a);
        let organizer = s.organizer.as_deref().unwrap_or("");
        let from_organizer = senders.iter().any(|x| x == organizer);
        match method {
            Method::Request | Method::Cancel => {
                if !s.attendees.iter().any(|a| is_mine(&a.address)) || is_mine(organizer) {
                    return Ok(None);
                }
                if !from_organizer {
                    return Err(format!("not sent by the organizer {organizer}"));
                }
            }
            Method::Reply => {
                if !is_mine(organizer) {
                    return Ok(None);
                }
                if !s.attendees.iter().any(|a| senders.contains(&a.address)) {
                    return Err("not sent by the attendee it answers for".into());
                }
            }
        }
        let Some(calendar) = self.default_calendar(account).await? else {
            return Err("the account has no calendar".into());
        };
        let existing = items
            .items(account, calendar.id)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .find(|i| i.index.uid == s.uid && i.index.kind == ItemKind::Event);
        let stored = match &existing {
            Some(item) => Some(self.text(item).await?),
            None => None,
        };
        let (content, what) = match method {
            Method::Request => {
                if let Some(old) = stored.as_deref().and_then(itip::read)
                    && old.sequence > s.sequence
                {
                    return Ok(Some("an older update, ignored"));
                }
                let mut text = itip::with_method(object, None);
                for a in s.attendees.iter().filter(|a| is_mine(&a.address) && a.partstat.is_none()) {
                    text = itip::with_partstat(&text, &a.address, "NEEDS-ACTION");
                }
                (text, if existing.is_some() { "invitation updated" } else { "invitation stored" })
            }
            Method::Cancel => match &stored {
                Some(text) => (itip::cancelled(text), "event cancelled"),
                None => return Ok(None),
            },
            Method::Reply => match &stored {
                Some(text) => {
                    let known = itip::read(text).map(|k| k.attendees).unwrap_or_default();
                    let mut text = text.clone();
                    for a in &s.attendees {
                        if let Some(partstat) = &a.partstat
                            && senders.contains(&a.address)
                            && known.iter().any(|k| k.address == a.address)
                        {
                            text = itip::with_partstat(&text, &a.address, partstat);
                        }
                    }
                    (text, "answer recorded")
                }
                None => return Ok(None),
            },
        };
        let item = NewItem::parse(Bytes::from(content), calendar.kind).map_err(|e| e.to_string())?;
        let (name, condition) = match &existing {
            Some(i) => (i.name.clone(), Precondition { if_match: Some(vec![i.etag()]), if_none_match: false }),
            None => (itip::resource_name(&s.uid), Precondition { if_match: None, if_none_match: true }),
        };
        match items.put_item(account, calendar.id, &name, item, condition, QuotaLimit::default()).await {
            Ok(ItemWrite::Created(_) | ItemWrite::Replaced(_)) => Ok(Some(what)),
            Ok(other) => Err(format!("the calendar changed meanwhile: {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The account's calendar for invitations: the one named `Calendar`,
    /// else its first calendar.
    async fn default_calendar(&self, account: AccountId) -> Result<Option<FolderInfo>, String> {
        let folders = self.store.folders(account).await.map_err(|e| e.to_string())?;
        let calendars: Vec<FolderInfo> = folders.into_iter().filter(|f| f.kind == FolderKind::Calendar).collect();
        Ok(calendars.iter().find(|f| f.name == "Calendar").or(calendars.first()).cloned())
    }

    async fn text(&self, item: &ItemMeta) -> Result<String, String> {
        let bytes = self.store.content(item.blob).await.map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
