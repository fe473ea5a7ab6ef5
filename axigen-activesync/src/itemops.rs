//! ItemOperations (MS-ASCMD 2.2.1.10) for mail: Fetch of a message or of
//! an attachment, and EmptyFolderContents.
//!
//! A message is fetched by `airsync:CollectionId` and `airsync:ServerId`
//! (the `folder:uid` ids of Sync), with its ApplicationData in
//! `Properties` in the body form the `airsyncbase:BodyPreference` asks for
//! (type 4 is the whole MIME message); `TruncationSize` and `AllOrNone`
//! apply as in Sync. An attachment is fetched by its
//! `airsyncbase:FileReference`, `folder:uid:index` where `index` counts the
//! message's attachments in the order the MIME parser lists them (the
//! order Sync lists them in `airsyncbase:Attachments`); its decoded bytes
//! come back base64-encoded in `Properties/Data`, cut to the `Range` asked
//! for. EmptyFolderContents expunges every message of a mail folder and,
//! with `DeleteSubFolders`, deletes the folders under it.
//!
//! Only folders the device sees (mail folders, with the account's
//! `activesync.email` on) are reached. Each operation answers with its own
//! Status (MS-ASCMD 2.2.3.177.8); the top-level Status is 2 only when the
//! request itself is not an ItemOperations request.

use axigen_core::mailstore::{FolderId, FolderInfo, FolderKind, Uid};
use base64::Engine as _;
use bytes::Bytes;
use hyper::Response;
use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};
use tracing::{debug, info, warn};

use crate::service::{ActiveSync, Context, status_only, wbxml_response};
use crate::sync::{body_preference, email_data, parse_server_id};
use crate::wbxml::{CodePage, Element};

/// MS-ASCMD 2.2.3.177.8: the ItemOperations status codes used here.
mod status {
    pub const SUCCESS: u16 = 1;
    /// Protocol error: a protocol violation or a request that does not validate.
    pub const PROTOCOL: u16 = 2;
    /// Server error.
    pub const SERVER: u16 = 3;
    /// The object was not found, or access to it was denied.
    pub const NOT_FOUND: u16 = 6;
    /// The byte range is invalid or too large.
    pub const BAD_RANGE: u16 = 8;
    /// The store is unknown or unsupported.
    pub const UNKNOWN_STORE: u16 = 9;
    /// The attachment or attachment id is invalid.
    pub const BAD_ATTACHMENT: u16 = 15;
    /// Access to the resource is denied.
    pub const DENIED: u16 = 16;
    /// The action is not supported.
    pub const UNSUPPORTED: u16 = 156;
}

/// MS-ASAIRS 2.2.2.31: Method 1, a normal attachment; 5, an embedded message.
const METHOD_NORMAL: &str = "1";
const METHOD_EMBEDDED: &str = "5";

/// An attachment's reference: `folder:uid:index`.
pub(crate) fn file_reference(folder: FolderId, uid: Uid, index: usize) -> String {
    format!("{}:{}:{index}", folder.0, uid.0)
}

/// The parts of a reference, when it is one.
pub(crate) fn parse_file_reference(reference: &str) -> Option<(FolderId, Uid, usize)> {
    let mut parts = reference.trim().split(':');
    let folder = FolderId(parts.next()?.parse().ok()?);
    let uid = Uid(parts.next()?.parse().ok()?);
    let index = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((folder, uid, index))
}

/// What an attachment is called on the device.
fn display_name(part: &MessagePart<'_>, index: usize) -> String {
    if let Some(name) = part.attachment_name().map(str::trim).filter(|n| !n.is_empty()) {
        return name.to_owned();
    }
    if let PartType::Message(message) = &part.body {
        let subject = message.subject().map(str::trim).filter(|s| !s.is_empty()).unwrap_or("message");
        return format!("{subject}.eml");
    }
    format!("attachment-{}", index + 1)
}

/// The MIME type of an attachment, `type/subtype`.
fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None if matches!(part.body, PartType::Message(_)) => "message/rfc822".to_owned(),
        None if matches!(part.body, PartType::Text(_)) => "text/plain".to_owned(),
        None => "application/octet-stream".to_owned(),
    }
}

/// The `airsyncbase:Attachments` of a message (MS-ASAIRS 2.2.2.8), or
/// `None` when it has none.
pub(crate) fn attachments(folder: FolderId, uid: Uid, message: &mail_parser::Message<'_>) -> Option<Element> {
    let mut list = Element::new(CodePage::AirSyncBase, "Attachments");
    for (index, part) in message.attachments().enumerate() {
        let method = if matches!(part.body, PartType::Message(_)) { METHOD_EMBEDDED } else { METHOD_NORMAL };
        let mut a = Element::new(CodePage::AirSyncBase, "Attachment")
            .with_text_child("DisplayName", display_name(part, index))
            .with_text_child("FileReference", file_reference(folder, uid, index))
            .with_text_child("Method", method)
            .with_text_child("EstimatedDataSize", part.contents().len().to_string());
        if let Some(id) = part.content_id().map(str::trim).filter(|i| !i.is_empty()) {
            a.push(Element::new(CodePage::AirSyncBase, "ContentId").with_text(id.to_owned()));
        }
        if let Some(location) = part.content_location().map(str::trim).filter(|l| !l.is_empty()) {
            a.push(Element::new(CodePage::AirSyncBase, "ContentLocation").with_text(location.to_owned()));
        }
        if part.content_disposition().is_some_and(|d| d.is_inline()) {
            a.push(Element::new(CodePage::AirSyncBase, "IsInline").with_text("1"));
        }
        list.push(a);
    }
    (!list.children.is_empty()).then_some(list)
}

/// A byte range `m-n` (zero-based, inclusive; MS-ASCMD 2.2.3.143.2).
fn parse_range(text: &str) -> Option<(usize, usize)> {
    let (m, n) = text.trim().split_once('-')?;
    let (m, n) = (m.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?);
    (m <= n).then_some((m, n))
}

/// The part of `total` bytes a range stands for: `start..end`, the end cut
/// to what there is; `None` when it starts past the end.
fn clip_range((m, n): (usize, usize), total: usize) -> Option<(usize, usize)> {
    (m < total).then(|| (m, n.saturating_add(1).min(total)))
}

/// AllOrNone (MS-ASAIRS 2.2.2.3): a body that would be truncated is sent
/// without its data.
fn all_or_none(options: Option<&Element>) -> bool {
    options
        .and_then(|o| o.child(CodePage::AirSyncBase, "BodyPreference"))
        .and_then(|p| p.child_text(CodePage::AirSyncBase, "AllOrNone"))
        .is_some_and(|v| v.trim() == "1")
}

/// Drops the Data of a truncated Body.
fn drop_truncated_data(data: &mut Element) {
    use crate::wbxml::Node;
    for node in &mut data.children {
        if let Node::Element(body) = node
            && body.is(CodePage::AirSyncBase, "Body")
            && body.child_text(CodePage::AirSyncBase, "Truncated").is_some_and(|t| t.trim() == "1")
        {
            body.children.retain(|n| !matches!(n, Node::Element(e) if e.is(CodePage::AirSyncBase, "Data")));
        }
    }
}

impl ActiveSync {
    /// The ItemOperations command.
    pub(crate) async fn item_operations(&self, ctx: Context, root: Option<Element>) -> Response<Bytes> {
        let command = ctx.request.command;
        let (account, device) = (ctx.principal.account, ctx.device.device_id.clone());
        let Some(root) = root.filter(|r| r.is(CodePage::ItemOperations, "ItemOperations")) else {
            info!(account = %account, device = %device, "ItemOperations refused: not an ItemOperations request");
            return status_only(command, status::PROTOCOL);
        };
        let operations: Vec<&Element> = root.elements().collect();
        if operations.is_empty()
            || operations.iter().any(|op| {
                op.page() != CodePage::ItemOperations || !matches!(op.name(), "Fetch" | "EmptyFolderContents" | "Move")
            })
        {
            info!(account = %account, device = %device, "ItemOperations refused: no operation, or an unknown one");
            return status_only(command, status::PROTOCOL);
        }
        let mut response = Element::new(CodePage::ItemOperations, "Response");
        for op in operations {
            let answer = match op.name() {
                "Fetch" => self.fetch(&ctx, op).await,
                "EmptyFolderContents" => self.empty_folder_contents(&ctx, op).await,
                _ => {
                    // Moving conversations needs conversation ids, which
                    // this server does not hand out.
                    info!(account = %account, device = %device, "ItemOperations Move refused: conversations are not supported");
                    let mut e = Element::new(CodePage::ItemOperations, "Move")
                        .with_text_child("Status", status::UNSUPPORTED.to_string());
                    if let Some(id) = op.child_text(CodePage::ItemOperations, "ConversationId") {
                        e.push(Element::new(CodePage::ItemOperations, "ConversationId").with_text(id.into_owned()));
                    }
                    e
                }
            };
            response.push(answer);
        }
        wbxml_response(
            &Element::new(CodePage::ItemOperations, "ItemOperations")
                .with_text_child("Status", status::SUCCESS.to_string())
                .with(response),
        )
    }

    /// One Fetch: a message, or an attachment.
    async fn fetch(&self, ctx: &Context, op: &Element) -> Element {
        let (account, device) = (ctx.principal.account, &ctx.device.device_id);
        let answer =
            |status: u16| Element::new(CodePage::ItemOperations, "Fetch").with_text_child("Status", status.to_string());
        let store = op.child_text(CodePage::ItemOperations, "Store").map(|s| s.trim().to_owned());
        match store.as_deref() {
            Some(s) if s.eq_ignore_ascii_case("Mailbox") => {}
            Some(other) => {
                info!(account = %account, device = %device, store = %other, "ItemOperations Fetch refused: unsupported store");
                return answer(status::UNKNOWN_STORE);
            }
            None => {
                info!(account = %account, device = %device, "ItemOperations Fetch refused: no Store");
                return answer(status::PROTOCOL);
            }
        }
        let options = op.child(CodePage::ItemOperations, "Options");
        if let Some(reference) = op.child_text(CodePage::AirSyncBase, "FileReference") {
            return self.fetch_attachment(ctx, reference.trim(), options).await;
        }
        let Some(id) = op.child_text(CodePage::AirSync, "ServerId").map(|s| s.trim().to_owned()) else {
            info!(account = %account, device = %device, "ItemOperations Fetch refused: neither ServerId nor FileReference");
            return answer(status::PROTOCOL);
        };
        let collection = op.child_text(CodePage::AirSync, "CollectionId").map(|s| s.trim().to_owned());
        let mut out = answer(status::NOT_FOUND);
        let ids = |e: &mut Element, status: u16| {
            *e = answer(status);
            if let Some(c) = &collection {
                e.push(Element::new(CodePage::AirSync, "CollectionId").with_text(c.clone()));
            }
            e.push(Element::new(CodePage::AirSync, "ServerId").with_text(id.clone()));
        };
        // The folder is the one in the id; a CollectionId, when given, must name it.
        let target =
            parse_server_id(&id).filter(|(folder, _)| collection.as_deref().is_none_or(|c| c == folder.0.to_string()));
        let Some((folder_id, uid)) = target else {
            info!(account = %account, device = %device, server_id = %id, "ItemOperations Fetch: no such item");
            ids(&mut out, status::NOT_FOUND);
            return out;
        };
        let found = match self.visible_message(ctx, folder_id, uid).await {
            Ok(found) => found,
            Err(err) => {
                warn!(account = %account, error = %err, "ItemOperations Fetch failed");
                ids(&mut out, status::SERVER);
                return out;
            }
        };
        let Some((meta, content)) = found else {
            info!(account = %account, device = %device, server_id = %id, "ItemOperations Fetch: no such item");
            ids(&mut out, status::NOT_FOUND);
            return out;
        };
        if options.and_then(|o| o.child(CodePage::ItemOperations, "Range")).is_some() {
            // Range is for document library items and attachments.
            debug!(account = %account, device = %device, "ItemOperations Fetch: Range ignored for a message");
        }
        let mut data = email_data(&meta, folder_id, &content, body_preference(options));
        if all_or_none(options) {
            drop_truncated_data(&mut data);
        }
        let mut properties = Element::new(CodePage::ItemOperations, "Properties");
        properties.children = data.children;
        ids(&mut out, status::SUCCESS);
        out.push(Element::new(CodePage::AirSync, "Class").with_text("Email"));
        out.push(properties);
        out
    }

    /// A message of a folder the device sees, with its content.
    async fn visible_message(
        &self,
        ctx: &Context,
        folder: FolderId,
        uid: Uid,
    ) -> axigen_core::Result<Option<(axigen_core::mailstore::MessageMeta, Bytes)>> {
        if self.sync_folder(ctx, &folder.0.to_string()).await?.is_none() {
            return Ok(None);
        }
        let Some(meta) = self.store.message(ctx.principal.account, folder, uid).await? else { return Ok(None) };
        let content = self.store.content(meta.blob).await?;
        Ok(Some((meta, content)))
    }

    /// A Fetch by FileReference: the attachment's decoded bytes.
    async fn fetch_attachment(&self, ctx: &Context, reference: &str, options: Option<&Element>) -> Element {
        let (account, device) = (ctx.principal.account, &ctx.device.device_id);
        let answer = |status: u16| {
            Element::new(CodePage::ItemOperations, "Fetch")
                .with_text_child("Status", status.to_string())
                .with(Element::new(CodePage::AirSyncBase, "FileReference").with_text(reference.to_owned()))
        };
        let range = match options.and_then(|o| o.child_text(CodePage::ItemOperations, "Range")) {
            None => None,
            Some(text) => match parse_range(&text) {
                Some(r) => Some(r),
                None => {
                    info!(account = %account, device = %device, range = %text, "ItemOperations Fetch refused: invalid Range");
                    return answer(status::BAD_RANGE);
                }
            },
        };
        let Some((folder, uid, index)) = parse_file_reference(reference) else {
            info!(account = %account, device = %device, reference = %reference, "ItemOperations Fetch refused: not a FileReference of this server");
            return answer(status::BAD_ATTACHMENT);
        };
        let content = match self.visible_message(ctx, folder, uid).await {
            Ok(Some((_, content))) => content,
            Ok(None) => {
                info!(account = %account, device = %device, reference = %reference, "ItemOperations Fetch: no such attachment");
                return answer(status::BAD_ATTACHMENT);
            }
            Err(err) => {
                warn!(account = %account, error = %err, "ItemOperations Fetch failed");
                return answer(status::SERVER);
            }
        };
        let Some(message) = MessageParser::new().parse(&content[..]) else {
            info!(account = %account, device = %device, reference = %reference, "ItemOperations Fetch: the message cannot be parsed");
            return answer(status::BAD_ATTACHMENT);
        };
        let Some(part) = message.attachment(u32::try_from(index).unwrap_or(u32::MAX)) else {
            info!(account = %account, device = %device, reference = %reference, "ItemOperations Fetch: no such attachment");
            return answer(status::BAD_ATTACHMENT);
        };
        let bytes = part.contents();
        let mut properties = Element::new(CodePage::ItemOperations, "Properties")
            .with(Element::new(CodePage::AirSyncBase, "ContentType").with_text(content_type(part)));
        let slice = match range {
            None => bytes,
            Some(_) if bytes.is_empty() => bytes,
            Some(r) => match clip_range(r, bytes.len()) {
                Some((start, end)) => {
                    properties.push(
                        Element::new(CodePage::ItemOperations, "Range").with_text(format!("{start}-{}", end - 1)),
                    );
                    properties.push(Element::new(CodePage::ItemOperations, "Total").with_text(bytes.len().to_string()));
                    &bytes[start..end]
                }
                None => {
                    info!(account = %account, device = %device, reference = %reference, "ItemOperations Fetch refused: Range past the end");
                    return answer(status::BAD_RANGE);
                }
            },
        };
        properties.push(
            Element::new(CodePage::ItemOperations, "Data")
                .with_text(base64::engine::general_purpose::STANDARD.encode(slice)),
        );
        let mut out = answer(status::SUCCESS);
        out.push(properties);
        out
    }

    /// EmptyFolderContents: every message of the folder is expunged; with
    /// DeleteSubFolders, the folders under it are deleted too.
    async fn empty_folder_contents(&self, ctx: &Context, op: &Element) -> Element {
        let (account, device) = (ctx.principal.account, &ctx.device.device_id);
        let collection = op.child_text(CodePage::AirSync, "CollectionId").map(|s| s.trim().to_owned());
        let answer = |status: u16| {
            let mut e = Element::new(CodePage::ItemOperations, "EmptyFolderContents")
                .with_text_child("Status", status.to_string());
            if let Some(c) = &collection {
                e.push(Element::new(CodePage::AirSync, "CollectionId").with_text(c.clone()));
            }
            e
        };
        let Some(id) = collection.as_deref() else {
            info!(account = %account, device = %device, "EmptyFolderContents refused: no CollectionId");
            return answer(status::PROTOCOL);
        };
        let delete_subfolders = op
            .child(CodePage::ItemOperations, "Options")
            .and_then(|o| o.child(CodePage::ItemOperations, "DeleteSubFolders"))
            .is_some_and(|d| d.text().is_none_or(|t| t.trim() != "0"));
        let folder = match self.sync_folder(ctx, id).await {
            Ok(Some(f)) => f,
            Ok(None) => {
                info!(account = %account, device = %device, folder = %id, "EmptyFolderContents refused: no such folder");
                return answer(status::NOT_FOUND);
            }
            Err(err) => {
                warn!(account = %account, error = %err, "EmptyFolderContents failed");
                return answer(status::SERVER);
            }
        };
        match self.empty_folder(ctx, &folder, delete_subfolders).await {
            Ok(Ok((messages, folders))) => {
                info!(account = %account, device = %device, folder = %folder.name, messages, folders, "EmptyFolderContents");
                answer(status::SUCCESS)
            }
            Ok(Err(blocker)) => {
                info!(account = %account, device = %device, folder = %folder.name, blocker = %blocker, "EmptyFolderContents refused: a subfolder cannot be deleted");
                answer(status::DENIED)
            }
            Err(err) => {
                warn!(account = %account, error = %err, "EmptyFolderContents failed");
                answer(status::SERVER)
            }
        }
    }

    /// Expunges a folder's messages and, when asked, deletes its
    /// subfolders: (messages expunged, folders deleted), or the name of a
    /// subfolder that stops it (one the device does not see as a plain
    /// mail folder: nothing is changed then).
    async fn empty_folder(
        &self,
        ctx: &Context,
        folder: &FolderInfo,
        delete_subfolders: bool,
    ) -> axigen_core::Result<Result<(usize, usize), String>> {
        let account = ctx.principal.account;
        let mut doomed = Vec::new();
        if delete_subfolders {
            let prefix = format!("{}/", folder.name);
            let under: Vec<FolderInfo> =
                self.store.folders(account).await?.into_iter().filter(|f| f.name.starts_with(&prefix)).collect();
            if let Some(blocker) = under.iter().find(|f| f.kind != FolderKind::Mail || f.special_use.is_some()) {
                return Ok(Err(blocker.name.clone()));
            }
            doomed = under;
            // The deepest first.
            doomed.sort_by(|a, b| b.name.cmp(&a.name));
        }
        let uids: Vec<Uid> = self.store.messages(account, folder.id).await?.iter().map(|m| m.uid).collect();
        let expunged = if uids.is_empty() { 0 } else { self.store.expunge(account, folder.id, &uids).await?.len() };
        for sub in &doomed {
            self.store.delete_folder(account, sub.id).await?;
        }
        Ok(Ok((expunged, doomed.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_references_round_trip() {
        assert_eq!(parse_file_reference(&file_reference(FolderId(3), Uid(9), 2)), Some((FolderId(3), Uid(9), 2)));
        assert_eq!(parse_file_reference("3:9"), None);
        assert_eq!(parse_file_reference("3:9:x"), None);
        assert_eq!(parse_file_reference("3:9:1:4"), None);
        assert_eq!(parse_file_reference(""), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("0-9"), Some((0, 9)));
        assert_eq!(parse_range(" 5 - 5 "), Some((5, 5)));
        assert_eq!(parse_range("9-0"), None);
        assert_eq!(parse_range("a-1"), None);
        assert_eq!(parse_range("7"), None);
        assert_eq!(clip_range((0, 9), 4), Some((0, 4)));
        assert_eq!(clip_range((2, 3), 10), Some((2, 4)));
        assert_eq!(clip_range((10, 20), 10), None);
        assert_eq!(clip_range((0, usize::MAX), 3), Some((0, 3)));
    }

    #[test]
    fn attachments_are_listed_in_parser_order() {
        let raw = concat!(
            "From: a@example.com\r\nTo: b@example.com\r\nSubject: files\r\nMIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
            "--b\r\nContent-Type: text/plain\r\n\r\nHello\r\n",
            "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n",
            "--b\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=\"logo.png\"\r\n",
            "Content-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw==\r\n",
            "--b--\r\n"
        );
        let message = MessageParser::new().parse(raw.as_bytes()).unwrap();
        let list = attachments(FolderId(4), Uid(7), &message).unwrap();
        let items: Vec<&Element> = list.elements().collect();
        assert_eq!(items.len(), 2);
        let text = |e: &Element, n: &str| e.child_text(CodePage::AirSyncBase, n).map(|t| t.into_owned());
        assert_eq!(text(items[0], "DisplayName").as_deref(), Some("data.bin"));
        assert_eq!(text(items[0], "FileReference").as_deref(), Some("4:7:0"));
        assert_eq!(text(items[0], "Method").as_deref(), Some("1"));
        assert_eq!(text(items[0], "EstimatedDataSize").as_deref(), Some("4"));
        assert_eq!(text(items[0], "IsInline"), None);
        assert_eq!(text(items[1], "FileReference").as_deref(), Some("4:7:1"));
        assert_eq!(text(items[1], "ContentId").as_deref(), Some("logo@x"));
        assert_eq!(text(items[1], "IsInline").as_deref(), Some("1"));
        assert_eq!(content_type(message.attachment(1).unwrap()), "image/png");
        assert_eq!(message.attachment(0).unwrap().contents(), &[0, 1, 2, 3]);
        // A message without attachments lists none.
        let plain = MessageParser::new().parse(b"Subject: x\r\n\r\nbody\r\n".as_slice()).unwrap();
        assert!(attachments(FolderId(4), Uid(8), &plain).is_none());
    }

    #[test]
    fn all_or_none_drops_truncated_data_only() {
        let body = |truncated: bool| {
            let mut b = Element::new(CodePage::AirSyncBase, "Body").with_text_child("Type", "1");
            if truncated {
                b = b.with_text_child("Truncated", "1");
            }
            b.with_text_child("Data", "text")
        };
        let mut data = Element::new(CodePage::AirSync, "ApplicationData").with(body(true));
        drop_truncated_data(&mut data);
        let b = data.child(CodePage::AirSyncBase, "Body").unwrap();
        assert!(b.child(CodePage::AirSyncBase, "Data").is_none());
        let mut whole = Element::new(CodePage::AirSync, "ApplicationData").with(body(false));
        drop_truncated_data(&mut whole);
        assert!(whole.child(CodePage::AirSyncBase, "Body").unwrap().child(CodePage::AirSyncBase, "Data").is_some());
    }
}
