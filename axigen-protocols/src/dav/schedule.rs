//! Outgoing iMIP (RFC 6047): an event with attendees, written or removed
//! over DAV by its organizer, sends iTIP REQUEST and CANCEL messages
//! through the submission path (sender rules, relay settings, processing
//! rules, local delivery and the queue apply).
//!
//! - A new event: REQUEST to every attendee.
//! - A changed event: REQUEST to every attendee when what matters changed
//!   (times, recurrence, place, title, status or SEQUENCE), else only to
//!   attendees it did not have; CANCEL to attendees it no longer has.
//! - A removed event: CANCEL to every attendee.
//!
//! And on the attendee's side: when an attendee's own copy changes its
//! PARTSTAT (accepted, declined, tentative), a REPLY goes to the organizer.
//!
//! Only the owner's own copy schedules (the account that owns the
//! calendar is the one writing, as ORGANIZER or ATTENDEE), attendees marked
//! `SCHEDULE-AGENT=CLIENT` are left to the client, and a failure to send is
//! logged: the calendar write has happened and stands.

use axigen_core::model::Principal;
use bytes::Bytes;
use tracing::{info, warn};

use super::service::Dav;
use crate::itip::{self, Method};

impl Dav {
    /// Sends what a change of an event from `old` to `new` (either may be
    /// absent) asks for, if `me` organizes it.
    pub(super) async fn schedule(&self, me: &Principal, old: Option<&str>, new: Option<&str>) {
        if self.submission.is_none() {
            return;
        }
        let me_address = me.address.to_string();
        let old_s = old.and_then(itip::read);
        let new_s = new.and_then(itip::read);
        let organizes = |s: &Option<itip::Scheduling>| {
            s.as_ref().is_some_and(|s| s.organizer.as_deref() == Some(me_address.as_str()))
        };
        if !organizes(&old_s) && !organizes(&new_s) {
            self.reply_if_answered(me, old_s.as_ref(), new_s.as_ref(), new).await;
            return;
        }
        let invitees = |s: &itip::Scheduling| -> Vec<String> {
            s.attendees
                .iter()
                .filter(|a| !a.client_scheduled && a.address != me_address)
                .map(|a| a.address.clone())
                .collect()
        };
        let before = old_s.as_ref().filter(|_| organizes(&old_s)).map(invitees).unwrap_or_default();
        let (request, after) = match (&new_s, new) {
            (Some(s), Some(text)) if organizes(&new_s) => {
                let after = invitees(s);
                let changed = old_s.as_ref().is_none_or(|o| o.fingerprint != s.fingerprint);
                let to: Vec<String> = after.iter().filter(|a| changed || !before.contains(a)).cloned().collect();
                (Some((to, itip::with_method(text, Some(Method::Request)), s.summary.clone())), after)
            }
            _ => (None, Vec::new()),
        };
        if let Some((to, object, summary)) = request
            && !to.is_empty()
        {
            self.send_itip(me, Method::Request, &to, &object, &summary).await;
        }
        let dropped: Vec<String> = before.iter().filter(|a| !after.contains(a)).cloned().collect();
        if let (false, Some(text), Some(s)) = (dropped.is_empty(), old.or(new), old_s.as_ref().or(new_s.as_ref())) {
            let object = itip::with_method(&itip::cancelled(text), Some(Method::Cancel));
            self.send_itip(me, Method::Cancel, &dropped, &object, &s.summary).await;
        }
    }

    /// An attendee's copy whose PARTSTAT for `me` changed: a REPLY to
    /// the organizer with that answer.
    async fn reply_if_answered(
        &self,
        me: &Principal,
        old: Option<&itip::Scheduling>,
        new: Option<&itip::Scheduling>,
        new_text: Option<&str>,
    ) {
        let me_address = me.address.to_string();
        let (Some(new), Some(text)) = (new, new_text) else { return };
        let Some(organizer) = new.organizer.clone().filter(|o| *o != me_address) else { return };
        let Some(mine) = new.attendees.iter().find(|a| a.address == me_address) else { return };
        let before =
            old.and_then(|o| o.attendees.iter().find(|a| a.address == me_address)).and_then(|a| a.partstat.clone());
        let answered = mine.partstat.as_deref().is_some_and(|p| p != "NEEDS-ACTION");
        if mine.client_scheduled || !answered || mine.partstat == before {
            return;
        }
        let object = itip::with_method(&itip::only_attendee(text, &me_address), Some(Method::Reply));
        self.send_itip(me, Method::Reply, &[organizer], &object, &new.summary).await;
    }

    async fn send_itip(&self, me: &Principal, method: Method, to: &[String], object: &str, summary: &str) {
        let Some(backend) = &self.submission else { return };
        let message = itip::mail(&me.address.to_string(), to, method, object, summary, &self.config.hostname);
        match crate::smtp::submit(backend.as_ref(), me, "dav-itip", to, Bytes::from(message)).await {
            Ok(()) => info!(account = %me.account, method = method.as_str(), recipients = to.len(), "iMIP sent"),
            Err(reply) => {
                warn!(account = %me.account, method = method.as_str(), %reply, "iMIP not sent: refused by the submission path")
            }
        }
    }
}
