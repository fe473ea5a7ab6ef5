//! FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2). ENVELOPE and BODYSTRUCTURE
//! come from [`MailStore::structure`](axigen_core::mailstore::MailStore::structure);
//! body sections are cut from the content with [`MessageStructure::section`].

use std::collections::HashSet;
use std::io::Write as _;

use axigen_core::mailstore::{ChangeKind, FlagChange, FlagOp, Flags, MessageMeta, ModSeq, Uid};
use axigen_core::structure::{MessageStructure, SectionKind};
use bytes::Bytes;

use super::binary::{self, UnknownCte};
use super::selected::walk_to;
use super::{Session, render, store_error, tagged, write_flag_list};
use crate::imap::data::Data;
use crate::imap::datetime::DateTime;
use crate::imap::encode;
use crate::imap::fetch::{FetchAttribute, FetchCommand, Partial, Section, SectionText};
use crate::imap::response::{Code, Status, StatusResponse};
use crate::imap::sequence::SequenceSet;
use crate::imap::types::Tag;

/// The fields of a header (`HEADER.FIELDS`, or `.NOT` with `not`), with
/// the blank line that ends a header (RFC 9051 6.4.5).
fn header_fields(header: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < header.len() {
        let start = i;
        loop {
            i = match header[i..].iter().position(|&b| b == b'\n') {
                Some(p) => i + p + 1,
                None => header.len(),
            };
            if i >= header.len() || (header[i] != b' ' && header[i] != b'\t') {
                break;
            }
        }
        let field = &header[start..i];
        let Some(colon) = field.iter().position(|&b| b == b':') else { continue };
        let name = field[..colon].trim_ascii();
        let wanted = names.iter().any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if wanted != not {
            out.extend_from_slice(field);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `section-spec` as echoed in the response (RFC 9051 7.5.2).
fn section_name(section: &Section) -> String {
    let mut s: Vec<String> = section.part.iter().map(|n| n.to_string()).collect();
    match &section.text {
        None => {}
        Some(SectionText::Header) => s.push("HEADER".into()),
        Some(SectionText::Text) => s.push("TEXT".into()),
        Some(SectionText::Mime) => s.push("MIME".into()),
        Some(SectionText::HeaderFields(names)) => s.push(format!("HEADER.FIELDS ({})", names.join(" "))),
        Some(SectionText::HeaderFieldsNot(names)) => s.push(format!("HEADER.FIELDS.NOT ({})", names.join(" "))),
    }
    s.join(".")
}

/// The octets of a section, or `None` when it does not exist.
pub(super) fn section_bytes(structure: &MessageStructure, raw: &[u8], section: &Section) -> Option<Vec<u8>> {
    let path: Vec<u32> = section.part.iter().map(|n| n.get()).collect();
    let kind = match &section.text {
        None => SectionKind::Full,
        Some(SectionText::Header | SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_)) => {
            SectionKind::Header
        }
        Some(SectionText::Text) => SectionKind::Text,
        Some(SectionText::Mime) => SectionKind::Mime,
    };
    let range = structure.section(raw, &path, kind)?;
    let bytes = raw.get(range)?;
    Some(match &section.text {
        Some(SectionText::HeaderFields(names)) => header_fields(bytes, names, false),
        Some(SectionText::HeaderFieldsNot(names)) => header_fields(bytes, names, true),
        _ => bytes.to_vec(),
    })
}

/// `partial` applied: the octets and the origin to echo.
fn cut(bytes: &[u8], partial: Option<Partial>) -> (&[u8], Option<u64>) {
    match partial {
        None => (bytes, None),
        Some(p) => {
            let start = usize::try_from(p.offset).unwrap_or(usize::MAX).min(bytes.len());
            let len = usize::try_from(p.length.get()).unwrap_or(usize::MAX);
            let end = start.saturating_add(len).min(bytes.len());
            (&bytes[start..end], Some(p.offset))
        }
    }
}

fn needs_structure(a: &FetchAttribute) -> bool {
    matches!(a, FetchAttribute::Envelope | FetchAttribute::Body | FetchAttribute::BodyStructure) || needs_content(a)
}

fn needs_content(a: &FetchAttribute) -> bool {
    matches!(
        a,
        FetchAttribute::BodySection { .. }
            | FetchAttribute::Rfc822
            | FetchAttribute::Rfc822Header
            | FetchAttribute::Rfc822Text
            | FetchAttribute::Binary { .. }
            | FetchAttribute::BinarySize { .. }
    )
}

/// Whether an attribute reads only the message's own header (what clients
/// fetch to draw a message list), which the store may keep in memory.
fn header_only(a: &FetchAttribute) -> bool {
    match a {
        FetchAttribute::Rfc822Header => true,
        FetchAttribute::BodySection { section, .. } => {
            section.part.is_empty()
                && matches!(
                    section.text,
                    Some(SectionText::Header | SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_))
                )
        }
        _ => !needs_content(a),
    }
}

/// Decimal digits of `n`, without the formatting machinery (FETCH writes
/// one line per message of the folder).
fn push_number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A folder's messages by UID (the store lists them in UID order), shared
/// with the session's copy; the few this FETCH changes are kept aside.
struct ByUid {
    list: std::sync::Arc<Vec<MessageMeta>>,
    changed: std::collections::HashMap<Uid, MessageMeta>,
}

impl ByUid {
    fn get(&self, uid: &Uid) -> Option<&MessageMeta> {
        if !self.changed.is_empty()
            && let Some(meta) = self.changed.get(uid)
        {
            return Some(meta);
        }
        self.list.binary_search_by_key(uid, |m| m.uid).ok().map(|i| &self.list[i])
    }

    fn get_mut(&mut self, uid: &Uid) -> Option<&mut MessageMeta> {
        if !self.changed.contains_key(uid) {
            let meta = self.list.binary_search_by_key(uid, |m| m.uid).ok().map(|i| self.list[i].clone())?;
            self.changed.insert(*uid, meta);
        }
        self.changed.get_mut(uid)
    }

    fn contains_key(&self, uid: &Uid) -> bool {
        self.get(uid).is_some()
    }
}

fn sets_seen(a: &FetchAttribute) -> bool {
    matches!(
        a,
        FetchAttribute::BodySection { peek: false, .. }
            | FetchAttribute::Binary { peek: false, .. }
            | FetchAttribute::Rfc822
            | FetchAttribute::Rfc822Text
    )
}

impl Session {
    pub(super) async fn fetch(&mut self, tag: &Tag, cmd: &FetchCommand, out: &mut Vec<u8>) -> StatusResponse {
        let Some(selected) = self.selected.as_ref() else {
            return tagged(tag, Status::Bad, "no mailbox selected");
        };
        let account = selected.owner;
        let mut attrs = cmd.items.expand();
        // RFC 9051 6.4.8: UID FETCH always returns the UID.
        if cmd.uid && !attrs.contains(&FetchAttribute::Uid) {
            attrs.insert(0, FetchAttribute::Uid);
        }
        if !selected.valid_numbers(&cmd.set, cmd.uid) {
            return tagged(tag, Status::Bad, "invalid message number");
        }
        // RFC 7162 3.2.6: VANISHED only in UID FETCH with CHANGEDSINCE, once
        // QRESYNC is enabled.
        if cmd.vanished && (!cmd.uid || cmd.changed_since.is_none() || !self.qresync) {
            return tagged(tag, Status::Bad, "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC");
        }
        // RFC 7162 3.1: FETCH MODSEQ and CHANGEDSINCE enable CONDSTORE;
        // RFC 7162 3.1.4.1: CHANGEDSINCE implies the MODSEQ item.
        if cmd.changed_since.is_some() && !attrs.contains(&FetchAttribute::ModSeq) {
            attrs.push(FetchAttribute::ModSeq);
        }
        if attrs.contains(&FetchAttribute::ModSeq) {
            self.enable_condstore(out).await;
        }
        let Some(selected) = self.selected.as_ref() else {
            return tagged(tag, Status::Bad, "no mailbox selected");
        };
        let mut uids = selected.resolve(&cmd.set, cmd.uid);
        let folder = selected.folder;
        // RFC 4314 4: \Seen is set by a body fetch only with the s right.
        let read_only = selected.read_only || !selected.rights.contains(axigen_core::acl::Rights::SEEN);
        let messages = match self.selected_messages().await {
            Ok(m) => m,
            Err(err) => return store_error(tag, &err),
        };
        let mut metas = ByUid { list: messages, changed: std::collections::HashMap::new() };
        if let Some(since) = cmd.changed_since {
            if cmd.vanished {
                // RFC 7162 3.2.6: the UIDs of the set expunged since CHANGEDSINCE.
                let changes = match self.store.changes_since(account, ModSeq(since.get())).await {
                    Ok(c) => c,
                    Err(err) => return store_error(tag, &err),
                };
                let vanished: Vec<u32> = changes
                    .iter()
                    .filter(|c| c.folder == folder)
                    .filter_map(|c| match c.kind {
                        ChangeKind::Expunged { uid } if !metas.contains_key(&uid) => Some(uid.0),
                        _ => None,
                    })
                    .filter(|u| cmd.set.contains(*u, u32::MAX))
                    .collect();
                if let Some(uids) = SequenceSet::from_numbers(vanished) {
                    Data::Vanished { earlier: true, uids }.encode(out, false);
                }
            }
            // RFC 7162 3.1.4.1: only messages whose MODSEQ is above CHANGEDSINCE.
            uids.retain(|u| metas.get(u).is_some_and(|m| m.modseq.0 > since.get()));
        }
        // A body fetch without PEEK sets \Seen (RFC 9051 6.4.5); the new
        // flags are then part of the response.
        let mut flags_changed: HashSet<Uid> = HashSet::new();
        if !read_only && attrs.iter().any(sets_seen) {
            let unseen: Vec<Uid> =
                uids.iter().copied().filter(|u| metas.get(u).is_some_and(|m| !m.flags.contains(Flags::SEEN))).collect();
            if !unseen.is_empty() {
                let change =
                    FlagChange { op: FlagOp::Add, flags: Flags::SEEN, keywords: vec![], unchanged_since: None };
                match self.store.change_flags(account, folder, &unseen, &change).await {
                    Ok(changed) => {
                        if let Some(selected) = self.selected.as_mut() {
                            selected.note_own(changed.changed.iter().map(|c| c.1));
                        }
                        for (uid, modseq, flags, keywords) in changed.changed {
                            if let Some(m) = metas.get_mut(&uid) {
                                m.modseq = modseq;
                                m.flags = flags;
                                m.keywords = keywords;
                            }
                            flags_changed.insert(uid);
                        }
                    }
                    Err(err) => return store_error(tag, &err),
                }
            }
        }
        // RFC 3501 7.2.6: keywords are announced before a FETCH carries
        // them; those of the whole listing, in one pass (setting \Seen
        // above changed no keyword).
        if attrs.contains(&FetchAttribute::Flags) || !flags_changed.is_empty() {
            self.announce_keywords(out, super::selected::keywords_in_use(&metas.list));
        }
        let with_structure = attrs.iter().any(needs_structure);
        let with_content = attrs.iter().any(needs_content);
        let with_header_only = with_content && attrs.iter().all(header_only);
        let Some(selected) = self.selected.as_ref() else {
            return tagged(tag, Status::Bad, "no mailbox selected");
        };
        // The set's UIDs, the listing and the session's UIDs are all in UID
        // order: one walk finds each message and its number.
        let (mut at_meta, mut at_seq) = (0usize, 0usize);
        for uid in uids {
            let Some(at) = walk_to(&selected.uids, &mut at_seq, uid, |u| *u) else { continue };
            let seq = u32::try_from(at + 1).unwrap_or(u32::MAX);
            let meta = match metas.changed.get(&uid) {
                Some(meta) => meta,
                None => match walk_to(&metas.list, &mut at_meta, uid, |m| m.uid) {
                    Some(i) => &metas.list[i],
                    None => continue,
                },
            };
            // A message another session expunged since this one's last
            // report may lose its content before the EXPUNGE reaches this
            // client: it is left out, as if the command had come later
            // (RFC 2180 4.1.3), rather than failing the whole FETCH.
            let structure = if with_structure {
                match self.store.structure(meta.blob).await {
                    Ok(s) => Some(s),
                    Err(axigen_core::Error::NotFound(_)) => continue,
                    Err(err) => return store_error(tag, &err),
                }
            } else {
                None
            };
            let mut content = None;
            if with_header_only {
                // The header alone serves, unless the parsed structure puts
                // the header's end elsewhere (unusual line ends).
                match self.store.header(meta.blob).await {
                    Ok(h) if structure.as_ref().is_some_and(|s| s.section(&h, &[], SectionKind::Header).is_some()) => {
                        content = Some(h)
                    }
                    Ok(_) => {}
                    Err(axigen_core::Error::NotFound(_)) => continue,
                    Err(err) => return store_error(tag, &err),
                }
            }
            if with_content && content.is_none() {
                match self.store.content(meta.blob).await {
                    Ok(c) => content = Some(c),
                    Err(axigen_core::Error::NotFound(_)) => continue,
                    Err(err) => return store_error(tag, &err),
                }
            }
            let extra_flags = flags_changed.contains(&uid) && !attrs.contains(&FetchAttribute::Flags);
            if self.fetch_one(out, seq, meta, &attrs, extra_flags, structure.as_deref(), content.as_ref()).is_err() {
                // RFC 3516 4.3: a transfer encoding the server cannot decode.
                return tagged(tag, Status::No, "unknown Content-Transfer-Encoding").with_code(Code::UnknownCte);
            }
        }
        tagged(tag, Status::Ok, "FETCH completed")
    }

    #[allow(clippy::too_many_arguments)]
    fn fetch_one(
        &self,
        out: &mut Vec<u8>,
        seq: u32,
        meta: &MessageMeta,
        attrs: &[FetchAttribute],
        extra_flags: bool,
        structure: Option<&MessageStructure>,
        content: Option<&Bytes>,
    ) -> Result<(), UnknownCte> {
        // A part that cannot be decoded leaves no half-written response.
        let start = out.len();
        let result = self.fetch_into(out, seq, meta, attrs, extra_flags, structure, content);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    fn fetch_into(
        &self,
        out: &mut Vec<u8>,
        seq: u32,
        meta: &MessageMeta,
        attrs: &[FetchAttribute],
        extra_flags: bool,
        structure: Option<&MessageStructure>,
        content: Option<&Bytes>,
    ) -> Result<(), UnknownCte> {
        let utf8 = self.utf8;
        let recent = self.selected.as_ref().is_some_and(|s| s.is_recent(meta.uid));
        // RFC 7162 3.1.4: once CONDSTORE is enabled, a FETCH with FLAGS carries MODSEQ.
        let add_modseq = self.condstore
            && (extra_flags || attrs.contains(&FetchAttribute::Flags))
            && !attrs.contains(&FetchAttribute::ModSeq);
        out.extend_from_slice(b"* ");
        push_number(out, u64::from(seq));
        out.extend_from_slice(b" FETCH (");
        let mut first = true;
        let mut sep = |out: &mut Vec<u8>| {
            if !first {
                out.push(b' ');
            }
            first = false;
        };
        let empty = Bytes::new();
        let raw: &[u8] = content.unwrap_or(&empty);
        for attr in attrs {
            sep(out);
            match attr {
                FetchAttribute::Uid => {
                    out.extend_from_slice(b"UID ");
                    push_number(out, u64::from(meta.uid.0));
                }
                FetchAttribute::Flags => {
                    out.extend_from_slice(b"FLAGS ");
                    write_flag_list(out, meta.flags, &meta.keywords, recent);
                }
                FetchAttribute::InternalDate => {
                    let date = DateTime::from_unix(meta.internal_date).map_or_else(String::new, |d| d.to_string());
                    out.extend_from_slice(format!("INTERNALDATE \"{date}\"").as_bytes());
                }
                FetchAttribute::Rfc822Size => {
                    let _ = write!(out, "RFC822.SIZE {}", meta.size);
                }
                FetchAttribute::ModSeq => {
                    out.extend_from_slice(b"MODSEQ (");
                    push_number(out, meta.modseq.0);
                    out.push(b')');
                }
                FetchAttribute::Envelope => {
                    out.extend_from_slice(b"ENVELOPE ");
                    if let Some(s) = structure {
                        render::envelope(out, &s.envelope, utf8);
                    }
                }
                FetchAttribute::Body | FetchAttribute::BodyStructure => {
                    let extended = *attr == FetchAttribute::BodyStructure;
                    out.extend_from_slice(if extended { b"BODYSTRUCTURE " } else { b"BODY " });
                    if let Some(s) = structure {
                        render::body(out, &s.body, extended, utf8);
                    }
                }
                FetchAttribute::Rfc822 => {
                    out.extend_from_slice(b"RFC822 ");
                    encode::literal(out, raw, false);
                }
                FetchAttribute::Rfc822Header | FetchAttribute::Rfc822Text => {
                    let header = *attr == FetchAttribute::Rfc822Header;
                    let kind = if header { SectionKind::Header } else { SectionKind::Text };
                    let bytes = structure.and_then(|s| s.section(raw, &[], kind)).and_then(|r| raw.get(r));
                    out.extend_from_slice(if header { b"RFC822.HEADER " } else { b"RFC822.TEXT " });
                    encode::literal(out, bytes.unwrap_or_default(), false);
                }
                FetchAttribute::BodySection { section, partial, .. } => {
                    let bytes = structure.and_then(|s| section_bytes(s, raw, section));
                    out.extend_from_slice(format!("BODY[{}]", section_name(section)).as_bytes());
                    let bytes = bytes.unwrap_or_default();
                    let (cut, origin) = cut(&bytes, *partial);
                    if let Some(origin) = origin {
                        out.extend_from_slice(format!("<{origin}>").as_bytes());
                    }
                    out.push(b' ');
                    encode::literal(out, cut, false);
                }
                FetchAttribute::Binary { part, partial, .. } => {
                    let path: Vec<u32> = part.iter().map(|n| n.get()).collect();
                    let decoded = match structure {
                        Some(s) => binary::part_content(s, raw, &path)?,
                        None => None,
                    };
                    // RFC 3516 4.2: the response names BINARY[part], never .PEEK.
                    out.extend_from_slice(format!("BINARY[{}]", part_name(part)).as_bytes());
                    match decoded {
                        Some(bytes) => {
                            let (cut, origin) = cut(&bytes, *partial);
                            if let Some(origin) = origin {
                                out.extend_from_slice(format!("<{origin}>").as_bytes());
                            }
                            out.push(b' ');
                            binary::literal(out, cut);
                        }
                        None => out.extend_from_slice(b" NIL"),
                    }
                }
                FetchAttribute::BinarySize { part } => {
                    let path: Vec<u32> = part.iter().map(|n| n.get()).collect();
                    let decoded = match structure {
                        Some(s) => binary::part_content(s, raw, &path)?,
                        None => None,
                    };
                    let size = decoded.map_or(0, |d| d.len());
                    out.extend_from_slice(format!("BINARY.SIZE[{}] {size}", part_name(part)).as_bytes());
                }
            }
        }
        if extra_flags {
            sep(out);
            out.extend_from_slice(b"FLAGS ");
            write_flag_list(out, meta.flags, &meta.keywords, recent);
        }
        if add_modseq {
            sep(out);
            let _ = write!(out, "MODSEQ ({})", meta.modseq.0);
        }
        out.extend_from_slice(b")\r\n");
        Ok(())
    }
}

/// `section-binary` as echoed in the response: `1.2`.
fn part_name(part: &[std::num::NonZeroU32]) -> String {
    part.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::header_fields;

    #[test]
    fn numbers() {
        for n in [0u64, 7, 10, 4_294_967_295, u64::MAX] {
            let mut out = Vec::new();
            super::push_number(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn header_fields_filter() {
        let header = b"From: a\r\nSubject: one\r\n two\r\nTo: b\r\n\r\n";
        assert_eq!(header_fields(header, &["SUBJECT".into()], false), b"Subject: one\r\n two\r\n\r\n");
        assert_eq!(header_fields(header, &["subject".into()], true), b"From: a\r\nTo: b\r\n\r\n");
    }
}
