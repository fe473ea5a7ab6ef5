//! The out-of-office reply (RFC 3834) for a message just stored for an
//! account whose [`AutoReply`] is active.
//!
//! The reply goes to the envelope sender with the null reverse path, so
//! that a failure to deliver it bounces nowhere; it carries
//! `Auto-Submitted: auto-replied` (RFC 3834 5) and
//! `X-Auto-Response-Suppress: All`, so that well-behaved responders (ours
//! included) do not answer it, and `In-Reply-To`/`References` to the
//! original. Which senders are answered is decided by
//! [`reason_not_to_reply`] and, once per sender and interval, by
//! [`AutoReplyStore::claim_reply`].
//!
//! Senders in a hosted domain get the internal message; every other sender
//! gets the message for unknown external senders, since the server keeps
//! no contacts from which to tell known ones apart.

use axigen_core::autoreply::{Audience, AutoReply};
use axigen_core::model::Account;
use mail_builder::MessageBuilder;
use mail_builder::headers::raw::Raw;

/// Prefix of the reply's subject.
const SUBJECT_PREFIX: &str = "Automatic reply: ";

/// The reply from `account` to `sender` about the message whose decoded
/// header fields are `headers`, or `None` when its audience gets none.
#[allow(clippy::too_many_arguments)] // the reply's every input, all borrowed
pub(crate) fn build(
    settings: &AutoReply,
    audience: Audience,
    account: &Account,
    sender: &str,
    headers: &[(String, String)],
    hostname: &str,
    now: i64,
    unique: &str,
) -> Option<Vec<u8>> {
    let message = settings.message_for(audience)?;
    let field = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim());
    let subject = match field("Subject").filter(|s| !s.is_empty()) {
        Some(s) => format!("{SUBJECT_PREFIX}{s}"),
        None => SUBJECT_PREFIX.trim_end().trim_end_matches(':').to_owned(),
    };
    let from = account.address.to_string();
    let mut builder = MessageBuilder::new()
        .from((account.display_name.as_str(), from.as_str()))
        .to(sender)
        .subject(subject)
        .date(now)
        .message_id(format!("oof.{unique}.{}.{now}@{hostname}", account.id.0))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .header("X-Auto-Response-Suppress", Raw::new("All"));
    // mail-parser gives the Message-ID without its angle brackets.
    if let Some(id) = field("Message-ID").map(|v| v.trim_matches(|c| c == '<' || c == '>')).filter(|v| !v.is_empty()) {
        builder = builder.in_reply_to(id.to_owned()).references(id.to_owned());
    }
    builder =
        if message.html { builder.html_body(message.text.as_str()) } else { builder.text_body(message.text.as_str()) };
    builder.write_to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axigen_core::autoreply::{OofMessage, OofState};
    use axigen_core::model::{AccountId, Address};

    #[test]
    fn reply_is_marked_automatic_and_threads_to_the_original() {
        let settings = AutoReply {
            state: OofState::Enabled,
            internal: Some(OofMessage { enabled: true, text: "Zurück am Montag.".into(), html: false }),
            external_known: None,
            external_unknown: None,
        };
        let account = Account {
            id: AccountId(7),
            address: Address::parse("ana@example.com").unwrap(),
            class: None,
            display_name: "Ana Pérez".into(),
            password_hash: String::new(),
            settings: Default::default(),
        };
        let headers = vec![("Subject".to_string(), "Café?".to_string()), ("Message-ID".into(), "abc@else".into())];
        let raw =
            build(&settings, Audience::Internal, &account, "bob@example.com", &headers, "mx.example.com", 0, "s1")
                .unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.subject(), Some("Automatic reply: Café?"));
        assert_eq!(parsed.in_reply_to().as_text(), Some("abc@else"));
        assert_eq!(parsed.header_raw("Auto-Submitted").map(str::trim), Some("auto-replied"));
        assert_eq!(parsed.to().unwrap().first().unwrap().address(), Some("bob@example.com"));
        assert_eq!(parsed.from().unwrap().first().unwrap().name(), Some("Ana Pérez"));
        assert_eq!(parsed.body_text(0).as_deref().map(str::trim), Some("Zurück am Montag."));
        assert!(build(&settings, Audience::ExternalUnknown, &account, "x@y.z", &headers, "h", 0, "s").is_none());
    }
}
