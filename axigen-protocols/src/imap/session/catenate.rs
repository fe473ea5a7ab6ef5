//! CATENATE (RFC 4469): an APPEND whose message is built on the server from
//! literal text and IMAP URLs (RFC 5092) naming messages, or parts of them,
//! the user may read. Webmails use it to forward an attachment or save a
//! draft without downloading and uploading the part again.
//!
//! A URL is the relative form RFC 4469 5 shows, `/mailbox[;UIDVALIDITY=n]
//! /;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]`, or the same after
//! `imap://authority`; it is read with the user's own rights (the r right
//! on a shared mailbox). Any URL that cannot be read fails the whole APPEND
//! with `NO [BADURL url]`, and nothing is stored.

use axigen_core::acl::Rights;
use axigen_core::mailstore::Uid;

use super::Session;
use super::fetch::section_bytes;
use crate::imap::append::CatPart;
use crate::imap::fetch::parse_section_spec;
use crate::imap::response::{Code, Status, StatusResponse};
use crate::imap::types::{MailboxName, Tag};

/// A parsed IMAP URL (RFC 5092 3).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ImapUrl {
    mailbox: String,
    uid_validity: Option<u32>,
    uid: u32,
    section: Vec<u8>,
    /// (offset, length).
    partial: Option<(u64, Option<u64>)>,
}

/// The value of `;NAME=value` (case-insensitive name) at the start of a
/// path segment.
fn param<'a>(segment: &'a str, name: &str) -> Option<&'a str> {
    let rest = segment.strip_prefix(';')?;
    let (key, value) = rest.split_once('=')?;
    key.eq_ignore_ascii_case(name).then_some(value)
}

fn parse_url(url: &str) -> Option<ImapUrl> {
    // `imap://authority/...`: the authority is this server (the session's
    // own user); the path is read as the relative form.
    let path = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("imap://") => &url[url[7..].find('/')? + 7..],
        _ => url,
    };
    let path = path.strip_prefix('/')?;
    let mut segments = path.split('/');
    let first = segments.next()?;
    let (mailbox, uid_validity) = match first.split_once(';') {
        Some((mailbox, rest)) => (mailbox, Some(param(&format!(";{rest}"), "UIDVALIDITY")?.parse().ok()?)),
        None => (first, None),
    };
    let mailbox = String::from_utf8(crate::http::percent_decode(mailbox)?).ok()?;
    let uid: u32 = param(segments.next()?, "UID")?.parse().ok().filter(|u| *u > 0)?;
    let mut url = ImapUrl { mailbox, uid_validity, uid, section: Vec::new(), partial: None };
    for segment in segments {
        if let Some(section) = param(segment, "SECTION") {
            url.section = crate::http::percent_decode(section)?;
        } else if let Some(partial) = param(segment, "PARTIAL") {
            let (offset, length) = match partial.split_once('.') {
                Some((o, l)) => (o.parse().ok()?, Some(l.parse().ok().filter(|l| *l > 0)?)),
                None => (partial.parse().ok()?, None),
            };
            url.partial = Some((offset, length));
        } else {
            // URLAUTH and anything else: not a URL this server reads.
            return None;
        }
    }
    Some(url)
}

fn bad_url(tag: &Tag, url: &str, text: &str) -> StatusResponse {
    StatusResponse::tagged(tag.clone(), Status::No, text).with_code(Code::BadUrl(url.to_owned()))
}

impl Session {
    /// The message a CATENATE builds, at most `limit` octets, or the
    /// refusal of the APPEND.
    pub(super) async fn catenate(&self, tag: &Tag, parts: &[CatPart], limit: u64) -> Result<Vec<u8>, StatusResponse> {
        let mut out = Vec::new();
        for part in parts {
            match part {
                CatPart::Text(data) => out.extend_from_slice(data),
                CatPart::Url(url) => out.extend_from_slice(&self.url_content(tag, url).await?),
            }
            if out.len() as u64 > limit {
                return Err(
                    StatusResponse::tagged(tag.clone(), Status::No, "message too large").with_code(Code::TooBig)
                );
            }
        }
        Ok(out)
    }

    /// The octets an IMAP URL names.
    async fn url_content(&self, tag: &Tag, url: &str) -> Result<Vec<u8>, StatusResponse> {
        let Some(parsed) = parse_url(url) else { return Err(bad_url(tag, url, "not an IMAP URL this server reads")) };
        let mailbox = MailboxName::from_wire(parsed.mailbox.as_bytes(), false)
            .or_else(|_| MailboxName::new(parsed.mailbox.clone()))
            .map_err(|_| bad_url(tag, url, "no such mailbox"))?;
        let target = match self.target(&mailbox).await {
            Ok(Some(t)) if t.rights.contains(Rights::READ) => t,
            Ok(_) => return Err(bad_url(tag, url, "no such mailbox")),
            Err(err) => return Err(super::store_error(tag, &err)),
        };
        if parsed.uid_validity.is_some_and(|v| v != target.folder.uid_validity) {
            return Err(bad_url(tag, url, "UIDVALIDITY has changed"));
        }
        let meta = match self.store.message(target.owner, target.folder.id, Uid(parsed.uid)).await {
            Ok(Some(m)) => m,
            Ok(None) => return Err(bad_url(tag, url, "no such message")),
            Err(err) => return Err(super::store_error(tag, &err)),
        };
        let Some(section) = parse_section_spec(&parsed.section) else {
            return Err(bad_url(tag, url, "invalid section"));
        };
        let (content, structure) = match (self.store.content(meta.blob).await, self.store.structure(meta.blob).await) {
            (Ok(c), Ok(s)) => (c, s),
            (Err(axigen_core::Error::NotFound(_)), _) | (_, Err(axigen_core::Error::NotFound(_))) => {
                return Err(bad_url(tag, url, "no such message"));
            }
            (Err(err), _) | (_, Err(err)) => return Err(super::store_error(tag, &err)),
        };
        let Some(bytes) = section_bytes(&structure, &content, &section) else {
            return Err(bad_url(tag, url, "no such section"));
        };
        Ok(match parsed.partial {
            None => bytes,
            Some((offset, length)) => {
                let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                let end = length.map_or(bytes.len(), |l| {
                    start.saturating_add(usize::try_from(l).unwrap_or(usize::MAX)).min(bytes.len())
                });
                bytes[start..end].to_vec()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = parse_url("/INBOX;UIDVALIDITY=785799047/;UID=113330/;section=1.5.9").unwrap();
        assert_eq!(url.mailbox, "INBOX");
        assert_eq!(url.uid_validity, Some(785_799_047));
        assert_eq!((url.uid, url.section.as_slice()), (113_330, b"1.5.9".as_slice()));
        let url = parse_url("imap://joe@example.com/Drafts%20Old/;uid=20/;partial=100.20").unwrap();
        assert_eq!((url.mailbox.as_str(), url.uid, url.partial), ("Drafts Old", 20, Some((100, Some(20)))));
        assert_eq!(parse_url("/a/;uid=1/;partial=5").unwrap().partial, Some((5, None)));
        assert!(parse_url("INBOX/;UID=1").is_none());
        assert!(parse_url("/INBOX/;UID=0").is_none());
        assert!(parse_url("/INBOX").is_none());
        assert!(parse_url("/INBOX/;UID=1/;URLAUTH=anonymous").is_none());
        assert!(parse_url("/IN%ZZ/;UID=1").is_none());
        assert!(parse_url("/INBOX;UIDVALIDITY=x/;UID=1").is_none());
    }
}
