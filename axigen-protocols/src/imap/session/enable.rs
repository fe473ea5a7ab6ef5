//! ENABLE (RFC 5161): IMAP4rev2 (RFC 9051 Appendix E), UTF8=ACCEPT
//! (RFC 6855 3), CONDSTORE and QRESYNC (RFC 7162 3.1.8, 3.2.3).

use super::{Session, State, tagged};
use crate::imap::data::Data;
use crate::imap::response::{Status, StatusResponse};
use crate::imap::types::{Atom, Tag};

impl Session {
    pub(super) fn enable(&mut self, tag: &Tag, caps: &[Atom], out: &mut Vec<u8>) -> StatusResponse {
        if self.state == State::NotAuthenticated {
            return tagged(tag, Status::Bad, "ENABLE needs authentication");
        }
        let asked = |name: &str| caps.iter().any(|c| c.eq_ignore_case(name));
        let mut enabled: Vec<String> = Vec::new();
        // RFC 5161 3.1: only what was not enabled before is listed.
        if !self.rev2 && asked("IMAP4rev2") {
            // RFC 9051 Appendix E: UTF-8 mailbox names, no RECENT, ESEARCH answers.
            self.rev2 = true;
            self.utf8 = true;
            enabled.push("IMAP4rev2".to_owned());
        }
        // RFC 6855 3: UTF-8 mailbox names and quoted strings.
        if !self.utf8_accept && asked("UTF8=ACCEPT") {
            self.utf8_accept = true;
            self.utf8 = true;
            enabled.push("UTF8=ACCEPT".to_owned());
        }
        if !self.condstore && asked("CONDSTORE") {
            self.condstore = true;
            enabled.push("CONDSTORE".to_owned());
        }
        // RFC 7162 3.2.3: enabling QRESYNC also enables CONDSTORE.
        if !self.qresync && asked("QRESYNC") {
            self.qresync = true;
            self.condstore = true;
            enabled.push("QRESYNC".to_owned());
        }
        self.data(out, &Data::Enabled(enabled));
        tagged(tag, Status::Ok, "ENABLE completed")
    }
}
