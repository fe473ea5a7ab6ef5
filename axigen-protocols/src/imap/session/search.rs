//! SEARCH and UID SEARCH (RFC 9051 6.4.4), with ESEARCH results when the
//! client asks for RETURN options (RFC 4731). Header keys search the stored
//! header fields, BODY and TEXT the content, both as ASCII
//! case-insensitive substrings; CHARSET may be US-ASCII or UTF-8.

use std::sync::Arc;

use axigen_core::mailstore::{Flags, MessageMeta};
use bytes::Bytes;

use super::selected::walk_to;
use super::{Session, store_error, tagged};
use crate::imap::data::Data;
use crate::imap::response::{Code, Status, StatusResponse};
use crate::imap::search::{SearchCommand, SearchKey, SearchReturn};
use crate::imap::sequence::SequenceSet;
use crate::imap::sort_keys::fields;
use crate::imap::types::Tag;

/// One message as a search sees it.
struct Candidate<'a> {
    seq: u32,
    meta: &'a MessageMeta,
    content: Option<Bytes>,
    /// `\Recent` in this session (RFC 3501 2.3.2).
    recent: bool,
}

fn needs_content(key: &SearchKey) -> bool {
    match key {
        SearchKey::Bcc(_)
        | SearchKey::Cc(_)
        | SearchKey::From(_)
        | SearchKey::To(_)
        | SearchKey::Subject(_)
        | SearchKey::Header(..)
        | SearchKey::Body(_)
        | SearchKey::Text(_)
        | SearchKey::SentBefore(_)
        | SearchKey::SentOn(_)
        | SearchKey::SentSince(_) => true,
        SearchKey::Not(k) => needs_content(k),
        SearchKey::Or(a, b) => needs_content(a) || needs_content(b),
        SearchKey::And(keys) => keys.iter().any(needs_content),
        _ => false,
    }
}

/// Keys that read the body, not only the header.
fn needs_body(key: &SearchKey) -> bool {
    match key {
        SearchKey::Body(_) | SearchKey::Text(_) => true,
        SearchKey::Not(k) => needs_body(k),
        SearchKey::Or(a, b) => needs_body(a) || needs_body(b),
        SearchKey::And(keys) => keys.iter().any(needs_body),
        _ => false,
    }
}

/// The day of the Date header field, in the field's own time zone (RFC
/// 9051 6.4.4: SENT* disregard time and timezone); `None` without a
/// readable one.
fn sent_day(raw: &[u8]) -> Option<i64> {
    let (_, value) = fields(raw).find(|(name, _)| name.eq_ignore_ascii_case(b"Date"))?;
    let value = String::from_utf8_lossy(value).into_owned();
    let date = mail_parser::DateTime::parse_rfc822(value.trim())?;
    crate::imap::datetime::Date::new(date.year, date.month, date.day).ok().map(|d| d.days_since_epoch())
}

/// Whether `needle` occurs in `haystack`, ASCII case-insensitively: the
/// candidates for its first byte are found with memchr, then compared.
fn contains_ci(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, tail)) = needle.split_first() else { return true };
    if haystack.len() < needle.len() {
        return false;
    }
    let last_start = haystack.len() - needle.len();
    let (lower, upper) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    memchr::memchr2_iter(lower, upper, &haystack[..=last_start])
        .any(|i| haystack[i + 1..i + needle.len()].eq_ignore_ascii_case(tail))
}

/// The header of a raw message (up to the blank line).
fn header_of(raw: &[u8]) -> &[u8] {
    let end = memchr::memmem::find(raw, b"\r\n\r\n").map(|p| p + 2);
    let end = end.or_else(|| memchr::memmem::find(raw, b"\n\n").map(|p| p + 1));
    &raw[..end.unwrap_or(raw.len())]
}

/// The decoded texts of the header fields called `name`: RFC 2047
/// encoded-words decoded, addresses as display name and address.
fn decoded_values(raw: &[u8], name: &str) -> Vec<String> {
    use mail_parser::{HeaderValue, MessageParser};
    let Some(message) = MessageParser::new().parse_headers(header_of(raw)) else { return Vec::new() };
    let mut out = Vec::new();
    for header in message.headers().iter().filter(|h| h.name.as_str().eq_ignore_ascii_case(name)) {
        match &header.value {
            HeaderValue::Text(t) => out.push(t.to_string()),
            HeaderValue::TextList(list) => out.extend(list.iter().map(|t| t.to_string())),
            HeaderValue::Address(address) => {
                for addr in address.iter() {
                    let name = addr.name.as_deref().unwrap_or_default();
                    let mailbox = addr.address.as_deref().unwrap_or_default();
                    out.push(format!("{name} <{mailbox}>"));
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether a field `name` of the header contains `value` (RFC 9051 6.4.4:
/// an empty value matches every message with the field), and for fields
/// with RFC 2047 encoded-words, the same test on their decoded text,
/// case-insensitive beyond ASCII (the CHARSET of SEARCH is about the text
/// as people read it). Only a field with an encoded-word is decoded.
fn header_matches(raw: &[u8], name: &str, value: &[u8]) -> bool {
    let mut encoded = false;
    for (n, v) in fields(raw) {
        if !n.eq_ignore_ascii_case(name.as_bytes()) {
            continue;
        }
        if contains_ci(v, value) {
            return true;
        }
        encoded |= memchr::memmem::find(v, b"=?").is_some();
    }
    if !encoded {
        return false;
    }
    let needle = String::from_utf8_lossy(value).to_lowercase();
    decoded_values(raw, name).iter().any(|v| v.to_lowercase().contains(&needle))
}

/// FROM, TO, CC and BCC: a substring of the field as written, or, where
/// comments may split an address (`<user (c)@ (c) example.org>`), of an
/// address as `mailbox@host` with its comments and spaces dropped
/// (RFC 3501 6.4.4 asks for the address, RFC 5322 3.2.2 lets comments sit
/// between its tokens).
fn address_matches(raw: &[u8], name: &str, value: &[u8]) -> bool {
    if header_matches(raw, name, value) {
        return true;
    }
    fields(raw).filter(|(n, v)| n.eq_ignore_ascii_case(name.as_bytes()) && v.contains(&b'(')).any(|(_, v)| {
        axigen_core::structure::address_list(v).iter().filter(|a| !a.is_group_marker()).any(|a| {
            let mut spec = a.mailbox.as_ref().map(|m| m.as_bytes().to_vec()).unwrap_or_default();
            spec.push(b'@');
            spec.extend_from_slice(a.host.as_ref().map_or(&[][..], |h| h.as_bytes()));
            contains_ci(&spec, value)
        })
    })
}

fn day_of(timestamp: i64) -> i64 {
    timestamp.div_euclid(86_400)
}

fn matches(key: &SearchKey, c: &Candidate<'_>, largest_seq: u32, largest_uid: u32) -> bool {
    let flags = c.meta.flags;
    let raw: &[u8] = c.content.as_deref().unwrap_or_default();
    let day = day_of(c.meta.internal_date);
    match key {
        SearchKey::All => true,
        SearchKey::Answered => flags.contains(Flags::ANSWERED),
        SearchKey::Deleted => flags.contains(Flags::DELETED),
        SearchKey::Draft => flags.contains(Flags::DRAFT),
        SearchKey::Flagged => flags.contains(Flags::FLAGGED),
        SearchKey::Seen => flags.contains(Flags::SEEN),
        SearchKey::Unanswered => !flags.contains(Flags::ANSWERED),
        SearchKey::Undeleted => !flags.contains(Flags::DELETED),
        SearchKey::Undraft => !flags.contains(Flags::DRAFT),
        SearchKey::Unflagged => !flags.contains(Flags::FLAGGED),
        SearchKey::Unseen => !flags.contains(Flags::SEEN),
        // RFC 3501 6.4.4: NEW is RECENT UNSEEN, OLD is NOT RECENT. A
        // session that enabled IMAP4rev2 has no recent messages.
        SearchKey::Recent => c.recent,
        SearchKey::New => c.recent && !flags.contains(Flags::SEEN),
        SearchKey::Old => !c.recent,
        SearchKey::Keyword(k) => c.meta.keywords.iter().any(|w| w.eq_ignore_ascii_case(k.as_str())),
        SearchKey::Unkeyword(k) => !c.meta.keywords.iter().any(|w| w.eq_ignore_ascii_case(k.as_str())),
        SearchKey::Larger(n) => c.meta.size > *n,
        SearchKey::Smaller(n) => c.meta.size < *n,
        SearchKey::Before(d) => day < d.days_since_epoch(),
        SearchKey::On(d) => day == d.days_since_epoch(),
        SearchKey::Since(d) => day >= d.days_since_epoch(),
        // The Date header's day; the internal date stands in for a message
        // without a readable one.
        SearchKey::SentBefore(d) => sent_day(raw).unwrap_or(day) < d.days_since_epoch(),
        SearchKey::SentOn(d) => sent_day(raw).unwrap_or(day) == d.days_since_epoch(),
        SearchKey::SentSince(d) => sent_day(raw).unwrap_or(day) >= d.days_since_epoch(),
        SearchKey::From(v) => address_matches(raw, "From", v),
        SearchKey::To(v) => address_matches(raw, "To", v),
        SearchKey::Cc(v) => address_matches(raw, "Cc", v),
        SearchKey::Bcc(v) => address_matches(raw, "Bcc", v),
        SearchKey::Subject(v) => header_matches(raw, "Subject", v),
        SearchKey::Header(name, v) => header_matches(raw, name, v),
        SearchKey::Body(v) => contains_ci(raw.get(header_of(raw).len()..).unwrap_or_default(), v),
        SearchKey::Text(v) => contains_ci(raw, v),
        SearchKey::Uid(set) => set.contains(c.meta.uid.0, largest_uid),
        SearchKey::SequenceSet(set) => set.contains(c.seq, largest_seq),
        SearchKey::Not(k) => !matches(k, c, largest_seq, largest_uid),
        SearchKey::Or(a, b) => matches(a, c, largest_seq, largest_uid) || matches(b, c, largest_seq, largest_uid),
        SearchKey::And(keys) => keys.iter().all(|k| matches(k, c, largest_seq, largest_uid)),
        SearchKey::ModSeq { modseq, .. } => c.meta.modseq.0 >= *modseq,
        SearchKey::Older(n) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
            c.meta.internal_date < now - i64::from(n.get())
        }
        SearchKey::Younger(n) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
            c.meta.internal_date >= now - i64::from(n.get())
        }
    }
}

impl Session {
    /// The messages of the selected mailbox that match every key, as
    /// (message number, index in the listing), in UID order, with the
    /// listing: what SEARCH, SORT and THREAD start from.
    pub(super) async fn matching(
        &mut self,
        tag: &Tag,
        charset: Option<&str>,
        criteria: &[SearchKey],
        out: &mut Vec<u8>,
    ) -> Result<(Arc<Vec<MessageMeta>>, Vec<(u32, usize)>), StatusResponse> {
        // RFC 7162 3.1: a SEARCH with MODSEQ enables CONDSTORE.
        if criteria.iter().any(|k| matches!(k, SearchKey::ModSeq { .. })) {
            self.enable_condstore(out).await;
        }
        // RFC 6855 3 (erratum 4029): no CHARSET once UTF8=ACCEPT is enabled.
        if self.utf8_accept && charset.is_some_and(|c| !c.eq_ignore_ascii_case("UTF-8")) {
            return Err(tagged(tag, Status::Bad, "no CHARSET after ENABLE UTF8=ACCEPT"));
        }
        if let Some(charset) = charset
            && !charset.eq_ignore_ascii_case("UTF-8")
            && !charset.eq_ignore_ascii_case("US-ASCII")
        {
            return Err(tagged(tag, Status::No, "unsupported charset")
                .with_code(Code::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()])));
        }
        if self.selected.is_none() {
            return Err(tagged(tag, Status::Bad, "no mailbox selected"));
        }
        let messages = match self.selected_messages().await {
            Ok(m) => m,
            Err(err) => return Err(store_error(tag, &err)),
        };
        let with_content = criteria.iter().any(needs_content);
        // Header keys read the header alone, which the store may keep in
        // memory; BODY and TEXT read the whole message.
        let with_body = criteria.iter().any(needs_body);
        let Some(selected) = self.selected.as_ref() else {
            return Err(tagged(tag, Status::Bad, "no mailbox selected"));
        };
        let largest_seq = selected.exists();
        let largest_uid = selected.uids.last().map_or(0, |u| u.0);
        let mut found = Vec::new();
        // Both lists are in UID order: one walk finds each message's number.
        let mut at = 0usize;
        for (index, meta) in messages.iter().enumerate() {
            let Some(i) = walk_to(&selected.uids, &mut at, meta.uid, |u| *u) else { continue };
            let seq = u32::try_from(i + 1).unwrap_or(u32::MAX);
            let content = if with_body {
                match self.store.content(meta.blob).await {
                    Ok(c) => Some(c),
                    Err(axigen_core::Error::NotFound(_)) => continue,
                    Err(err) => return Err(store_error(tag, &err)),
                }
            } else if with_content {
                match self.store.header(meta.blob).await {
                    Ok(c) => Some(c),
                    Err(axigen_core::Error::NotFound(_)) => continue,
                    Err(err) => return Err(store_error(tag, &err)),
                }
            } else {
                None
            };
            let candidate = Candidate { seq, meta, content, recent: selected.is_recent(meta.uid) };
            if criteria.iter().all(|k| matches(k, &candidate, largest_seq, largest_uid)) {
                found.push((seq, index));
            }
        }
        Ok((messages, found))
    }

    pub(super) async fn search(&mut self, tag: &Tag, cmd: &SearchCommand, out: &mut Vec<u8>) -> StatusResponse {
        // RFC 6855 3 (erratum 4029): no CHARSET at all once UTF8=ACCEPT is enabled.
        if self.utf8_accept && cmd.charset.is_some() {
            return tagged(tag, Status::Bad, "no CHARSET after ENABLE UTF8=ACCEPT");
        }
        let update = cmd.returns.as_ref().is_some_and(|r| r.contains(&SearchReturn::Update));
        if update && self.has_context(tag) {
            return tagged(tag, Status::Bad, "an updating search with this tag exists (RFC 5267 4.3)");
        }
        let (messages, matched) = match self.matching(tag, cmd.charset.as_deref(), &cmd.criteria, out).await {
            Ok(m) => m,
            Err(response) => return response,
        };
        let result_uids: Vec<axigen_core::mailstore::Uid> = matched.iter().map(|&(_, i)| messages[i].uid).collect();
        // (number, MODSEQ) of each match.
        let mut found: Vec<(u32, u64)> = matched
            .iter()
            .map(|&(seq, i)| (if cmd.uid { messages[i].uid.0 } else { seq }, messages[i].modseq.0))
            .collect();
        found.sort_unstable();
        let uses_modseq = cmd.criteria.iter().any(|k| matches!(k, SearchKey::ModSeq { .. }));
        let highest = |list: &mut dyn Iterator<Item = &(u32, u64)>| list.map(|f| f.1).max();
        let mut modseq = if uses_modseq { highest(&mut found.iter()) } else { None };
        // RFC 9051 6.4.4: an IMAP4rev2 client gets ESEARCH, ALL by default.
        let returns = match &cmd.returns {
            None if self.rev2 => Some(vec![SearchReturn::All]),
            other => other.clone(),
        };
        match &returns {
            None => self.data(out, &Data::Search { numbers: found.iter().map(|f| f.0).collect(), modseq }),
            Some(returns) => {
                // RFC 4731 3.1: an empty list (or the CONTEXT hint alone)
                // means ALL.
                let all = returns.is_empty()
                    || returns.contains(&SearchReturn::All)
                    || returns.iter().all(|r| *r == SearchReturn::Context);
                // RFC 7162 3.1.5: with only MIN and/or MAX, the MODSEQ is
                // the highest of the messages returned.
                if uses_modseq && !all && !returns.contains(&SearchReturn::Count) {
                    let min = returns.contains(&SearchReturn::Min).then(|| found.first()).flatten();
                    let max = returns.contains(&SearchReturn::Max).then(|| found.last()).flatten();
                    modseq = highest(&mut min.into_iter().chain(max));
                }
                let found: Vec<u32> = found.iter().map(|f| f.0).collect();
                let data = Data::ESearch {
                    tag: Some(tag.clone()),
                    uid: cmd.uid,
                    min: returns.contains(&SearchReturn::Min).then(|| found.first().copied()).flatten(),
                    max: returns.contains(&SearchReturn::Max).then(|| found.last().copied()).flatten(),
                    all: if all { SequenceSet::from_numbers(found.iter().copied()) } else { None },
                    count: returns
                        .contains(&SearchReturn::Count)
                        .then(|| u32::try_from(found.len()).unwrap_or(u32::MAX)),
                    modseq,
                    // RFC 5267 4.4: positions in the result, in mailbox order.
                    partial: SearchReturn::partial(returns)
                        .map(|range| (range, SequenceSet::from_numbers(super::context::window(&found, range)))),
                    updates: Vec::new(),
                };
                self.data(out, &data);
                if update {
                    let context = super::context::UpdateContext {
                        tag: tag.as_str().to_owned(),
                        uid: cmd.uid,
                        charset: cmd.charset.clone(),
                        criteria: cmd.criteria.clone(),
                        sort: None,
                        results: result_uids,
                        checked: None,
                    };
                    self.add_context(context, out);
                }
            }
        }
        tagged(tag, Status::Ok, "SEARCH completed")
    }
}

#[cfg(test)]
mod tests {
    use super::header_matches;

    proptest::proptest! {
        #[test]
        fn contains_ci_agrees_with_a_window_by_window_search(
            haystack in proptest::collection::vec(proptest::sample::select(b"aAbB.=?\r\n".to_vec()), 0..60),
            needle in proptest::collection::vec(proptest::sample::select(b"aAbB.=?".to_vec()), 0..5),
        ) {
            let naive = needle.is_empty() || haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(&needle));
            proptest::prop_assert_eq!(super::contains_ci(&haystack, &needle), naive);
        }
    }

    #[test]
    fn header_search() {
        let raw = b"From: Alice <alice@example.com>\r\nSubject: Hello\r\n world\r\n\r\nFrom: not a header\r\n";
        assert!(header_matches(raw, "from", b"ALICE"));
        assert!(header_matches(raw, "Subject", b"world"));
        assert!(!header_matches(raw, "Subject", b"header"));
        assert!(!header_matches(raw, "To", b""));
    }

    #[test]
    fn addresses_are_matched_without_their_comments() {
        let raw = b"From: <user-from (comment)@ (comment) domain.org>\r\n\r\n";
        assert!(super::address_matches(raw, "From", b"user-from@domain.org"));
        assert!(super::address_matches(raw, "from", b"USER-FROM@DOMAIN"));
        assert!(!super::address_matches(raw, "From", b"other@domain.org"));
        assert!(!super::address_matches(raw, "To", b"user-from@domain.org"));
    }

    #[test]
    fn encoded_words_are_searched_decoded() {
        use super::header_matches;
        let raw = "Subject: =?UTF-8?Q?Mittagessen_am_Fr=C3=A4itag?=\r\n\
From: =?ISO-8859-1?Q?J=F6rg_M=FCller?= <joerg@example.com>\r\n\r\nbody\r\n"
            .as_bytes();
        assert!(header_matches(raw, "Subject", "Fräitag".as_bytes()));
        assert!(header_matches(raw, "Subject", "FRÄITAG".as_bytes()));
        assert!(header_matches(raw, "subject", b"mittagessen am"));
        assert!(!header_matches(raw, "Subject", "Samstag".as_bytes()));
        assert!(header_matches(raw, "From", "Jörg Müller".as_bytes()));
        assert!(header_matches(raw, "From", b"joerg@example.com"));
        assert!(!header_matches(raw, "To", b""));
    }

    #[test]
    fn sent_day_is_the_date_field_in_its_own_zone() {
        use super::sent_day;
        let day = |y, m, d| crate::imap::datetime::Date::new(y, m, d).unwrap().days_since_epoch();
        // 23:30 at -0800 is the next day in UTC; SENTON compares the 7th.
        let raw = b"Subject: x\r\nDate: Mon, 7 Feb 1994 23:30:00 -0800\r\n\r\nDate: not this\r\n";
        assert_eq!(sent_day(raw), Some(day(1994, 2, 7)));
        let folded = b"Date:\r\n Tue, 1 Mar 2022 08:00:00 +0100\r\n\r\n";
        assert_eq!(sent_day(folded), Some(day(2022, 3, 1)));
        assert_eq!(sent_day(b"Subject: none\r\n\r\n"), None);
        assert_eq!(sent_day(b"Date: garbage\r\n\r\n"), None);
    }
}
