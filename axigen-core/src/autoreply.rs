//! Out-of-office auto-replies: what an account keeps (set from a device's
//! ActiveSync `Settings`/`Oof`, or by any other front end), when it applies,
//! and which incoming messages deserve an answer at all.
//!
//! The rules for *whether* to answer follow RFC 3834 (recommendations for
//! automatic responses): never to the null reverse path, never to a message
//! that is itself automatic (`Auto-Submitted` other than `no`, `Precedence:
//! bulk/list/junk`, mailing-list `List-*` fields, mailer daemons), only when
//! one of the account's addresses is among the message's visible
//! recipients, and at most once per sender in an interval
//! ([`DEFAULT_REPLY_INTERVAL`], seven days as in the Sieve vacation
//! extension, RFC 5230), which [`AutoReplyStore::claim_reply`] keeps.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::model::AccountId;

/// Whether the auto-reply is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum OofState {
    /// No replies.
    #[default]
    Disabled,
    /// Replies until turned off.
    Enabled,
    /// Replies from `start` (inclusive) to `end` (exclusive), Unix seconds.
    Scheduled {
        /// First second of the absence.
        start: i64,
        /// First second after it.
        end: i64,
    },
}

/// Who sent the message being answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// A sender in one of the server's hosted domains.
    Internal,
    /// An outside sender the account knows (in its contacts).
    ExternalKnown,
    /// Any other outside sender.
    ExternalUnknown,
}

/// The reply for one audience.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct OofMessage {
    /// Whether this audience gets a reply.
    pub enabled: bool,
    /// The reply's body.
    pub text: String,
    /// `text` is HTML rather than plain text.
    #[serde(default)]
    pub html: bool,
}

/// An account's out-of-office settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AutoReply {
    /// On, off, or for a period.
    #[serde(flatten)]
    pub state: OofState,
    /// To senders in hosted domains.
    #[serde(default)]
    pub internal: Option<OofMessage>,
    /// To outside senders in the account's contacts.
    #[serde(default)]
    pub external_known: Option<OofMessage>,
    /// To other outside senders.
    #[serde(default)]
    pub external_unknown: Option<OofMessage>,
}

/// Longest reply body kept, in bytes.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// One reply per sender in this many seconds (RFC 5230's default of 7 days).
pub const DEFAULT_REPLY_INTERVAL: i64 = 7 * 86_400;

impl AutoReply {
    /// Whether replies go out at `now` (Unix seconds).
    pub fn active_at(&self, now: i64) -> bool {
        match self.state {
            OofState::Disabled => false,
            OofState::Enabled => true,
            OofState::Scheduled { start, end } => start <= now && now < end,
        }
    }

    /// The message for an audience, if that audience gets one.
    pub fn message_for(&self, audience: Audience) -> Option<&OofMessage> {
        let message = match audience {
            Audience::Internal => self.internal.as_ref(),
            Audience::ExternalKnown => self.external_known.as_ref(),
            Audience::ExternalUnknown => self.external_unknown.as_ref(),
        };
        message.filter(|m| m.enabled && !m.text.trim().is_empty())
    }

    /// Checks the settings before they are kept: a period must not end
    /// before it starts, and bodies are bounded.
    pub fn validate(&self) -> Result<()> {
        if let OofState::Scheduled { start, end } = self.state
            && end <= start
        {
            return Err(crate::Error::Invalid("out-of-office period: the end must be after the start".into()));
        }
        for m in [&self.internal, &self.external_known, &self.external_unknown].into_iter().flatten() {
            if m.text.len() > MAX_REPLY_BYTES {
                return Err(crate::Error::Invalid(format!(
                    "out-of-office message: at most {MAX_REPLY_BYTES} bytes, got {}",
                    m.text.len()
                )));
            }
        }
        Ok(())
    }
}

/// Why an incoming message gets no automatic reply, or `None` when it may
/// get one. `headers` are the message's header fields (name, decoded
/// value), `envelope_from` the reverse path (`None` for `<>`), `own` every
/// address of the account that may appear as a recipient (lower case or
/// not: compared without case).
pub fn reason_not_to_reply(
    envelope_from: Option<&str>,
    headers: &[(String, String)],
    own: &[String],
) -> Option<&'static str> {
    let Some(sender) = envelope_from.map(str::trim).filter(|s| !s.is_empty()) else {
        return Some("null reverse path");
    };
    let local = sender.rsplit_once('@').map_or(sender, |(l, _)| l).to_ascii_lowercase();
    // RFC 3834 2: addresses of mail systems and list software.
    if local == "mailer-daemon"
        || local == "postmaster"
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.starts_with("bounce")
        || local.contains("noreply")
        || local.contains("no-reply")
    {
        return Some("sender is a mail system or list address");
    }
    if own.iter().any(|a| a.eq_ignore_ascii_case(sender)) {
        return Some("sender is the account itself");
    }
    let mut addressed = false;
    for (name, value) in headers {
        let value = value.trim();
        if name.eq_ignore_ascii_case("Auto-Submitted") && !value.eq_ignore_ascii_case("no") {
            return Some("message is automatic (Auto-Submitted)");
        }
        if name.eq_ignore_ascii_case("Precedence")
            && ["bulk", "list", "junk"].iter().any(|p| value.eq_ignore_ascii_case(p))
        {
            return Some("message is bulk or list mail (Precedence)");
        }
        if name.len() > 5 && name[..5].eq_ignore_ascii_case("List-") {
            return Some("message comes from a mailing list");
        }
        if name.eq_ignore_ascii_case("X-Auto-Response-Suppress")
            && value.split(',').any(|v| ["all", "oof"].iter().any(|s| v.trim().eq_ignore_ascii_case(s)))
        {
            return Some("sender asked for no out-of-office reply");
        }
        let recipient_field = ["To", "Cc", "Resent-To", "Resent-Cc"].iter().any(|f| name.eq_ignore_ascii_case(f));
        if recipient_field && mentions_any(value, own) {
            addressed = true;
        }
    }
    if !addressed {
        return Some("none of the account's addresses is a visible recipient");
    }
    None
}

/// Whether an address list (as text: `Name <a@b>, c@d`) names one of `own`.
fn mentions_any(list: &str, own: &[String]) -> bool {
    list.split(|c: char| c == ',' || c == ';' || c == '<' || c == '>' || c.is_whitespace())
        .map(|t| t.trim_matches(|c: char| c == '"' || c == '\''))
        .filter(|t| t.contains('@'))
        .any(|t| own.iter().any(|a| a.eq_ignore_ascii_case(t)))
}

/// Storage of out-of-office settings and of whom was answered when.
#[async_trait]
pub trait AutoReplyStore: Send + Sync {
    /// The account's settings (`None`: never set, same as disabled).
    async fn auto_reply(&self, account: AccountId) -> Result<Option<AutoReply>>;
    /// Replaces the settings (durable when it returns) and forgets whom the
    /// previous settings answered, so a new absence answers everyone again.
    async fn set_auto_reply(&self, account: AccountId, settings: AutoReply) -> Result<()>;
    /// Records that `sender` is answered at `now`, unless it was answered
    /// less than `interval` seconds before: `true` when the reply is to be
    /// sent. Atomic, so two deliveries at once send one reply.
    async fn claim_reply(&self, account: AccountId, sender: &str, now: i64, interval: i64) -> Result<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn replies_only_to_personal_mail() {
        let own = vec!["ana@example.com".to_string(), "sales@example.com".to_string()];
        let plain = h(&[("From", "Bob <bob@else.org>"), ("To", "Ana <ANA@example.com>, x@y.z")]);
        assert_eq!(reason_not_to_reply(Some("bob@else.org"), &plain, &own), None);
        let by_alias = h(&[("Cc", "sales@example.com")]);
        assert_eq!(reason_not_to_reply(Some("bob@else.org"), &by_alias, &own), None);
        assert!(reason_not_to_reply(None, &plain, &own).is_some());
        assert!(reason_not_to_reply(Some(""), &plain, &own).is_some());
        assert!(reason_not_to_reply(Some("MAILER-DAEMON@else.org"), &plain, &own).is_some());
        assert!(reason_not_to_reply(Some("list-request@else.org"), &plain, &own).is_some());
        assert!(reason_not_to_reply(Some("ana@example.com"), &plain, &own).is_some());
        for extra in [
            ("Auto-Submitted", "auto-replied"),
            ("Precedence", "bulk"),
            ("List-Id", "<x.else.org>"),
            ("X-Auto-Response-Suppress", "DR, OOF"),
        ] {
            let mut headers = plain.clone();
            headers.push((extra.0.into(), extra.1.into()));
            assert!(reason_not_to_reply(Some("bob@else.org"), &headers, &own).is_some(), "{extra:?}");
        }
        let mut explicit_no = plain.clone();
        explicit_no.push(("Auto-Submitted".into(), "no".into()));
        assert_eq!(reason_not_to_reply(Some("bob@else.org"), &explicit_no, &own), None);
        let bcc = h(&[("To", "someone@else.org"), ("Cc", "anaa@example.com")]);
        assert!(reason_not_to_reply(Some("bob@else.org"), &bcc, &own).is_some());
    }

    #[test]
    fn schedule_and_audiences() {
        let msg = |enabled: bool| Some(OofMessage { enabled, text: "away".into(), html: false });
        let mut r = AutoReply {
            state: OofState::Scheduled { start: 100, end: 200 },
            internal: msg(true),
            external_known: msg(false),
            external_unknown: None,
        };
        assert!(!r.active_at(99) && r.active_at(100) && r.active_at(199) && !r.active_at(200));
        assert!(r.message_for(Audience::Internal).is_some());
        assert!(r.message_for(Audience::ExternalKnown).is_none());
        assert!(r.message_for(Audience::ExternalUnknown).is_none());
        r.validate().unwrap();
        r.state = OofState::Scheduled { start: 200, end: 200 };
        assert!(r.validate().is_err());
        r.state = OofState::Enabled;
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<AutoReply>(&json).unwrap(), r);
        assert!(!AutoReply::default().active_at(0));
    }
}
