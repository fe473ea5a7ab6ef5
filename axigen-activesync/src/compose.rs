//! SendMail, SmartReply and SmartForward (MS-ASCMD 2.2.1.17, 2.2.1.20,
//! 2.2.1.19): mail a device sends goes through the same submission path as
//! SMTP submission (sender check, relay policy, processing rules, local
//! delivery and the outbound queue), then a copy goes to Sent.
//!
//! The recipients are those of the To, Cc and Bcc fields; Bcc is removed
//! from what is sent. SmartReply and SmartForward name the original item;
//! unless the device says it sent the whole message (`ReplaceMime`), the
//! original is appended to a reply (quoted as text) or attached to a forward
//! (as `message/rfc822`).

use axigen_core::mailstore::{FolderKind, NewMessage, QuotaLimit, SpecialUse};
use bytes::Bytes;
use hyper::{Response, StatusCode};
use mail_parser::MimeHeaders as _;
use tracing::{info, warn};

use crate::request::Command;
use crate::service::{ActiveSync, Context, plain, status_only};
use crate::wbxml::{CodePage, Element};

/// MS-ASCMD 2.2.3.177.14: the message was not submitted.
const NOT_SUBMITTED: u16 = 120;
/// 110 (message submit failed) where the protocol has no closer code.
const SUBMIT_FAILED: u16 = 110;
/// 150: the original of a SmartReply/SmartForward was not found.
const ITEM_NOT_FOUND: u16 = 150;

/// The header of `raw` without its Bcc field (and its continuation lines).
fn without_bcc(raw: &[u8]) -> Vec<u8> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |p| p + 2);
    let (header, body) = raw.split_at(end);
    let mut out = Vec::with_capacity(raw.len());
    let mut skipping = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            skipping = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(body);
    out
}

/// Every recipient address of To, Cc and Bcc.
fn recipients(raw: &[u8]) -> Vec<String> {
    let Some(message) = mail_parser::MessageParser::new().parse_headers(raw) else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for list in [message.to(), message.cc(), message.bcc()].into_iter().flatten() {
        for addr in list.iter() {
            if let Some(a) = addr.address.as_deref()
                && !out.iter().any(|o| o.eq_ignore_ascii_case(a))
            {
                out.push(a.to_owned());
            }
        }
    }
    out
}

/// Adds Date and Message-ID when the device left them out.
fn complete_header(raw: Vec<u8>, hostname: &str) -> Vec<u8> {
    let header_end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |p| p + 2);
    let header = &raw[..header_end];
    let has = |name: &[u8]| {
        header.split(|&b| b == b'\n').any(|l| l.len() > name.len() && l[..name.len()].eq_ignore_ascii_case(name))
    };
    let mut extra = Vec::new();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    if !has(b"date:") {
        extra.extend_from_slice(format!("Date: {}\r\n", axigen_protocols::inbound::rfc5322_date(now)).as_bytes());
    }
    if !has(b"message-id:") {
        let id: u64 = rand::random();
        extra.extend_from_slice(format!("Message-ID: <{id:016x}.{now}@{hostname}>\r\n").as_bytes());
    }
    if extra.is_empty() {
        return raw;
    }
    extra.extend_from_slice(&raw);
    extra
}

/// A message split at the end of its header (the empty line kept with the header).
fn split_message(raw: &[u8]) -> (&[u8], &[u8]) {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |p| p + 4);
    raw.split_at(end)
}

/// Whether a header field line is one of the MIME content fields.
fn is_content_field(line: &[u8]) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.starts_with(b"content-") || lower.starts_with(b"mime-version:")
}

/// The header without (`content` false) or with only (`content` true) its
/// MIME content fields, continuation lines kept with their field.
fn header_fields(header: &[u8], content: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut keep = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" {
            break;
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) {
            keep = is_content_field(line) == content;
        }
        if keep {
            out.extend_from_slice(line);
        }
    }
    out
}

/// A reply with the original's text quoted below a plain-text body; a
/// reply that is not plain text goes as the device wrote it.
fn reply_with_quote(new: &[u8], original: &[u8]) -> Vec<u8> {
    let Some(parsed) = mail_parser::MessageParser::new().parse(new) else { return new.to_vec() };
    let plain = parsed.content_type().is_none_or(|ct| {
        ct.ctype().eq_ignore_ascii_case("text") && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
    });
    let encoded = parsed
        .header_raw("Content-Transfer-Encoding")
        .is_some_and(|e| !matches!(e.trim().to_ascii_lowercase().as_str(), "7bit" | "8bit"));
    if !plain || encoded {
        return new.to_vec();
    }
    let Some(orig) = mail_parser::MessageParser::new().parse(original) else { return new.to_vec() };
    let who = orig.from().and_then(|f| f.first()).and_then(|a| a.address.as_deref()).unwrap_or("the sender").to_owned();
    let text = orig.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let mut out = new.to_vec();
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n{who} wrote:\r\n").as_bytes());
    for line in text.lines() {
        out.extend_from_slice(b"> ");
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A forward: the device's message as the first part and the original,
/// whole, as a `message/rfc822` attachment.
fn forward_with_attachment(new: &[u8], original: &[u8]) -> Vec<u8> {
    let (header, body) = split_message(new);
    let boundary = format!("=_axigen_{:016x}", rand::random::<u64>());
    let mut out = header_fields(header, false);
    out.extend_from_slice(
        format!("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n").as_bytes(),
    );
    out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    let content = header_fields(header, true);
    if content.is_empty() {
        out.extend_from_slice(b"Content-Type: text/plain; charset=utf-8\r\n");
    } else {
        out.extend_from_slice(&content);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n").as_bytes(),
    );
    out.extend_from_slice(original);
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

impl ActiveSync {
    /// SendMail, SmartReply and SmartForward.
    pub(crate) async fn compose(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        let name = command.name();
        // 14.0 and later: a ComposeMail document; 12.1: the MIME itself.
        let (mime, save, source, replace) = match &root {
            Some(root) if root.is(CodePage::ComposeMail, name) => {
                let mime = root
                    .child(CodePage::ComposeMail, "MIME")
                    .and_then(|m| m.opaque().map(<[u8]>::to_vec).or_else(|| m.text().map(|t| t.as_bytes().to_vec())));
                let source = root.child(CodePage::ComposeMail, "Source").map(|s| {
                    let t = |n: &str| s.child_text(CodePage::ComposeMail, n).map(|v| v.trim().to_owned());
                    (t("FolderId"), t("ItemId"))
                });
                (
                    mime,
                    root.child(CodePage::ComposeMail, "SaveInSentItems").is_some(),
                    source,
                    root.child(CodePage::ComposeMail, "ReplaceMime").is_some(),
                )
            }
            Some(_) => return status_only(command, 103),
            None => (
                Some(ctx.body.to_vec()).filter(|b| !b.is_empty()),
                ctx.request.save_in_sent,
                (command != Command::SendMail)
                    .then(|| (ctx.request.collection_id.clone(), ctx.request.item_id.clone())),
                false,
            ),
        };
        let Some(mime) = mime else { return self.compose_refused(&ctx, 103, "no MIME") };
        let account = ctx.principal.account;
        let mut message = mime.replace_crlf();
        if command != Command::SendMail && !replace {
            let Some((Some(folder), Some(item))) = source else {
                return self.compose_refused(&ctx, ITEM_NOT_FOUND, "no source item");
            };
            let original = match self.original(&ctx, &folder, &item).await {
                Some(o) => o,
                None => return self.compose_refused(&ctx, ITEM_NOT_FOUND, "source item not found"),
            };
            message = if command == Command::SmartReply {
                reply_with_quote(&message, &original)
            } else {
                forward_with_attachment(&message, &original)
            };
        }
        let message = complete_header(message, &self.hostname());
        let to = recipients(&message);
        if to.is_empty() {
            return self.compose_refused(&ctx, NOT_SUBMITTED, "no recipients");
        }
        let sent = Bytes::from(without_bcc(&message));
        let Some(backend) = &self.submission else {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "sending is not configured");
        };
        let tag = format!("eas-{}", ctx.device.device_id);
        if let Err(reply) =
            axigen_protocols::smtp::submit(backend.as_ref(), &ctx.principal, &tag, &to, sent.clone()).await
        {
            info!(account = %account, reply = %reply, "SendMail refused by the submission path");
            return self.compose_refused(&ctx, SUBMIT_FAILED, &reply.to_string());
        }
        info!(account = %account, device = %ctx.device.device_id, command = name, recipients = to.len(), "mail sent from the device");
        if save && let Err(err) = self.save_in_sent(&ctx, sent).await {
            warn!(account = %account, error = %err, "sent mail not saved in Sent");
        }
        // Success: an empty body (MS-ASCMD 2.2.1.17).
        plain(StatusCode::OK, "")
    }

    fn compose_refused(&self, ctx: &Context, status: u16, why: &str) -> Response<Bytes> {
        info!(account = %ctx.principal.account, device = %ctx.device.device_id, command = ctx.request.command.name(), status, why, "mail not sent");
        status_only(ctx.request.command, status)
    }

    /// The content of a `folder:uid` item the device may see.
    async fn original(&self, ctx: &Context, folder: &str, item: &str) -> Option<Bytes> {
        let f = self.sync_folder(ctx, folder).await.ok()??;
        let uid = item.split_once(':').filter(|(fid, _)| *fid == folder).and_then(|(_, u)| u.parse::<u32>().ok())?;
        let meta = self.store.message(ctx.principal.account, f.id, axigen_core::mailstore::Uid(uid)).await.ok()??;
        self.store.content(meta.blob).await.ok()
    }

    async fn save_in_sent(&self, ctx: &Context, content: Bytes) -> axigen_core::Result<()> {
        let account = ctx.principal.account;
        let folders = self.store.folders(account).await?;
        let Some(sent) = folders.iter().find(|f| f.kind == FolderKind::Mail && f.special_use == Some(SpecialUse::Sent))
        else {
            return Ok(());
        };
        let settings = self.directory.effective_settings(account).await?;
        let quota =
            QuotaLimit { max_bytes: settings.quota_storage_bytes.value, max_messages: settings.quota_messages.value };
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let message =
            NewMessage { flags: axigen_core::mailstore::Flags::SEEN, keywords: vec![], internal_date: now, content };
        self.store.append(account, sent.id, message, quota).await.map(|_| ())
    }
}

/// Line ends made CRLF (devices send either).
trait ReplaceCrlf {
    fn replace_crlf(self) -> Vec<u8>;
}

impl ReplaceCrlf for Vec<u8> {
    fn replace_crlf(self) -> Vec<u8> {
        if !self.contains(&b'\n')
            || self.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r') && self.first() != Some(&b'\n')
        {
            return self;
        }
        let mut out = Vec::with_capacity(self.len() + self.len() / 40);
        for (i, &b) in self.iter().enumerate() {
            if b == b'\n' && (i == 0 || self[i - 1] != b'\r') {
                out.push(b'\r');
            }
            out.push(b);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_is_removed_with_its_continuation() {
        let raw = b"From: a@x\r\nBcc: hidden@y,\r\n  other@z\r\nTo: b@y\r\n\r\nBcc: stays in the body\r\n";
        assert_eq!(without_bcc(raw), b"From: a@x\r\nTo: b@y\r\n\r\nBcc: stays in the body\r\n".to_vec());
        assert_eq!(recipients(raw), vec!["b@y".to_owned(), "hidden@y".to_owned(), "other@z".to_owned()]);
    }

    #[test]
    fn forwards_attach_and_replies_quote() {
        let original = b"From: Ann <ann@example.com>\r\nSubject: Plan\r\n\r\nLine one\r\nLine two\r\n";
        let new = b"From: pat@example.com\r\nTo: bob@example.com\r\nSubject: Fw: Plan\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n";
        let fwd = forward_with_attachment(new, original);
        let parsed = mail_parser::MessageParser::new().parse(&fwd).unwrap();
        assert_eq!(parsed.subject(), Some("Fw: Plan"));
        assert_eq!(parsed.body_text(0).as_deref().map(str::trim), Some("See below."));
        assert_eq!(parsed.attachment_count(), 1);
        let attached = parsed.attachment(0).unwrap().message().unwrap();
        assert_eq!(attached.subject(), Some("Plan"));
        let reply = reply_with_quote(b"To: ann@example.com\r\nSubject: Re: Plan\r\n\r\nYes.\r\n", original);
        let text = String::from_utf8(reply).unwrap();
        assert!(text.ends_with("Yes.\r\n\r\nann@example.com wrote:\r\n> Line one\r\n> Line two\r\n"), "{text}");
        // Not plain text: sent as written.
        let html = b"Content-Type: text/html\r\n\r\n<p>Yes</p>\r\n";
        assert_eq!(reply_with_quote(html, original), html.to_vec());
    }

    #[test]
    fn line_ends_and_missing_fields() {
        assert_eq!(b"a\nb\r\nc\n".to_vec().replace_crlf(), b"a\r\nb\r\nc\r\n".to_vec());
        assert_eq!(b"a\r\nb\r\n".to_vec().replace_crlf(), b"a\r\nb\r\n".to_vec());
        let done = complete_header(b"Subject: x\r\n\r\nbody".to_vec(), "mail.example.com");
        let text = String::from_utf8(done).unwrap();
        assert!(
            text.starts_with("Date: ") && text.contains("Message-ID: <") && text.ends_with("Subject: x\r\n\r\nbody")
        );
        let kept = complete_header(b"Date: now\r\nMessage-ID: <1@x>\r\n\r\n".to_vec(), "h");
        assert_eq!(kept, b"Date: now\r\nMessage-ID: <1@x>\r\n\r\n".to_vec());
    }
}
