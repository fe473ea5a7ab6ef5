//! What SORT and THREAD read from a message's header (RFC 5256, RFC
//! 5957), worked out once per message content and kept in a [`KeyCache`]
//! shared by the sessions of a server: a webmail sorts the same mailbox
//! at every page turn, and a stored message's content never changes, so a
//! key never goes stale; the cache only has to stay bounded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axigen_core::mailstore::BlobId;
use axigen_core::structure::{EnvelopeAddress, HeaderText, address_list};

use super::thread;

/// A message's sort and thread values. Text values are folded for
/// comparison ([`thread::collation_key`]); dates are unix seconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageKeys {
    /// The Date field in UTC; `None` when absent or unreadable (SORT and
    /// THREAD then use INTERNALDATE, RFC 5256 2.2).
    pub date: Option<i64>,
    /// The Subject, encoded-words decoded (THREAD's input).
    pub subject: String,
    /// Its base subject (RFC 5256 2.1).
    pub base_subject: String,
    /// Whether extracting the base subject found a reply or forward
    /// (THREAD=REFERENCES merges those under the original).
    pub reply: bool,
    /// The mailbox of the first From, To and Cc address (a group's name
    /// for a group).
    pub from: String,
    /// See `from`.
    pub to: String,
    /// See `from`.
    pub cc: String,
    /// The DISPLAYFROM and DISPLAYTO values (RFC 5957 3).
    pub display_from: String,
    /// See `display_from`.
    pub display_to: String,
    /// The Message-ID, normalised ([`thread::message_ids`]).
    pub message_id: Option<String>,
    /// The References ids, else In-Reply-To's ([`thread::reference_ids`]).
    pub references: Vec<String>,
}

/// The fields of a message's header, in order, as (name, value) with the
/// folded continuation lines in the value; stops at the blank line that
/// ends the header. One pass, no allocation: SEARCH runs it over every
/// message of a folder.
pub(crate) fn fields(raw: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        loop {
            let rest = raw.get(at..).filter(|r| !r.is_empty())?;
            if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
                at = raw.len();
                return None;
            }
            let mut end = 0;
            loop {
                end = rest[end..].iter().position(|&b| b == b'\n').map_or(rest.len(), |p| end + p + 1);
                if end >= rest.len() || !matches!(rest[end], b' ' | b'\t') {
                    break;
                }
            }
            at += end;
            let field = &rest[..end];
            if let Some(colon) = field.iter().position(|&c| c == b':') {
                return Some((field[..colon].trim_ascii(), &field[colon + 1..]));
            }
        }
    })
}

/// A header value as text: RFC 2047 encoded-words decoded, unfolded.
pub fn decoded_text(value: &[u8]) -> String {
    if memchr::memmem::find(value, b"=?").is_some() {
        let mut header = b"Subject:".to_vec();
        header.extend_from_slice(value);
        header.extend_from_slice(b"\r\n\r\n");
        if let Some(subject) =
            mail_parser::MessageParser::new().parse_headers(&header).as_ref().and_then(|m| m.subject())
        {
            return subject.to_owned();
        }
    }
    let raw = String::from_utf8_lossy(value);
    raw.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn lossy(v: Option<&HeaderText>) -> Option<String> {
    v.map(|t| t.to_str_lossy().into_owned())
}

/// The first address of a field as ENVELOPE lists it: for a group, its
/// start marker, whose mailbox is the group's name (so a group sorts by its
/// name, as Dovecot sorts it).
fn first_address(value: Option<&[u8]>) -> Option<EnvelopeAddress> {
    address_list(value?).into_iter().next()
}

fn mailbox_key(address: Option<&EnvelopeAddress>) -> String {
    thread::collation_key(&lossy(address.and_then(|a| a.mailbox.as_ref())).unwrap_or_default())
}

fn display_key(address: Option<&EnvelopeAddress>) -> String {
    let name = address.and_then(|a| a.name.as_ref()).map(|n| decoded_text(n.as_bytes()));
    let mailbox = lossy(address.and_then(|a| a.mailbox.as_ref()));
    let host = lossy(address.and_then(|a| a.host.as_ref()));
    thread::display_sort_value(name.as_deref(), mailbox.as_deref(), host.as_deref())
}

/// Longest text kept (in characters): a subject past it sorts by its start.
const MAX_TEXT: usize = 1000;
/// References kept: the nearest ancestors, which decide the parent.
const MAX_REFERENCES: usize = 64;
/// Longest Message-ID kept, in octets; a longer one is not an ID anyone
/// refers to.
const MAX_ID: usize = 250;

fn capped(mut text: String) -> String {
    if let Some((at, _)) = text.char_indices().nth(MAX_TEXT) {
        text.truncate(at);
    }
    text
}

impl MessageKeys {
    /// Roughly the memory the keys hold, for the cache's bound.
    fn weight(&self) -> usize {
        let texts =
            [&self.subject, &self.base_subject, &self.from, &self.to, &self.cc, &self.display_from, &self.display_to];
        std::mem::size_of::<Self>()
            + texts.iter().map(|t| t.len()).sum::<usize>()
            + self.message_id.as_ref().map_or(0, String::len)
            + self.references.iter().map(|r| r.len() + std::mem::size_of::<String>()).sum::<usize>()
    }

    /// The keys of a message header, read in one pass over its fields.
    pub fn from_header(header: &[u8]) -> MessageKeys {
        let mut wanted: [Option<&[u8]>; 8] = [None; 8];
        const NAMES: [&str; 8] = ["Date", "Subject", "From", "To", "Cc", "Message-ID", "References", "In-Reply-To"];
        for (name, value) in fields(header) {
            if let Some(i) = NAMES.iter().position(|n| name.eq_ignore_ascii_case(n.as_bytes()))
                && wanted[i].is_none()
            {
                wanted[i] = Some(value);
            }
        }
        let [date, subject, from, to, cc, message_id, references, in_reply_to] = wanted;
        let text = |v: Option<&[u8]>| v.map(|v| String::from_utf8_lossy(v).into_owned());
        let subject = capped(subject.map(decoded_text).unwrap_or_default());
        let (base_subject, reply) = thread::base_subject_ext(&subject);
        let (from, to, cc) = (first_address(from), first_address(to), first_address(cc));
        MessageKeys {
            date: date
                .and_then(|v| mail_parser::DateTime::parse_rfc822(String::from_utf8_lossy(v).trim()))
                .map(|d| d.to_timestamp()),
            base_subject,
            reply,
            subject,
            from: capped(mailbox_key(from.as_ref())),
            to: capped(mailbox_key(to.as_ref())),
            cc: capped(mailbox_key(cc.as_ref())),
            display_from: capped(display_key(from.as_ref())),
            display_to: capped(display_key(to.as_ref())),
            message_id: text(message_id)
                .and_then(|v| thread::message_ids(&v).into_iter().next())
                .filter(|id| id.len() <= MAX_ID),
            references: {
                let mut ids = thread::reference_ids(text(references).as_deref(), text(in_reply_to).as_deref());
                ids.retain(|id| id.len() <= MAX_ID);
                ids.split_off(ids.len().saturating_sub(MAX_REFERENCES))
            },
        }
    }
}

/// Messages whose keys a [`KeyCache`] holds in each of its two
/// generations: up to twice this many in all, a few hundred bytes each.
pub const KEY_CACHE_GENERATION: usize = 50_000;
/// And the memory one generation may hold (keys of unusual messages can
/// be large, up to a few tens of kilobytes each).
pub const KEY_CACHE_GENERATION_BYTES: usize = 32 << 20;

/// Keys by message content, bounded: entries go to a young generation;
/// when it is full it becomes the old one (the previous old one is
/// dropped), and an entry read from the old generation moves back to the
/// young. What a session keeps sorting stays; what nobody reads ages out.
#[derive(Debug)]
pub struct KeyCache {
    generation: usize,
    maps: Mutex<Generations>,
}

/// The young and the old generation, with the bytes the young one holds.
#[derive(Debug, Default)]
struct Generations {
    maps: [HashMap<BlobId, Arc<MessageKeys>>; 2],
    young_bytes: usize,
}

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache::new(KEY_CACHE_GENERATION)
    }
}

impl KeyCache {
    /// A cache of up to `2 * generation` messages.
    pub fn new(generation: usize) -> KeyCache {
        KeyCache { generation: generation.max(1), maps: Mutex::default() }
    }

    /// The keys of a message, from the cache or worked out by `compute`.
    pub fn get_or_insert(&self, blob: BlobId, compute: impl FnOnce() -> MessageKeys) -> Arc<MessageKeys> {
        if let Some(keys) = self.get(blob) {
            return keys;
        }
        // Worked out outside the lock: header parsing is the slow part.
        let keys = Arc::new(compute());
        self.insert(blob, keys.clone());
        keys
    }

    /// The keys, if cached.
    pub fn get(&self, blob: BlobId) -> Option<Arc<MessageKeys>> {
        let mut maps = self.maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(keys) = maps.maps[0].get(&blob) {
            return Some(keys.clone());
        }
        let keys = maps.maps[1].remove(&blob)?;
        Self::insert_young(&mut maps, self.generation, blob, keys.clone());
        Some(keys)
    }

    /// The keys of many messages under one lock (a SORT of a whole
    /// mailbox), `None` for those not cached.
    pub fn get_many(&self, blobs: impl Iterator<Item = BlobId>) -> Vec<Option<Arc<MessageKeys>>> {
        let mut maps = self.maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        blobs
            .map(|blob| {
                if let Some(keys) = maps.maps[0].get(&blob) {
                    return Some(keys.clone());
                }
                let keys = maps.maps[1].remove(&blob)?;
                Self::insert_young(&mut maps, self.generation, blob, keys.clone());
                Some(keys)
            })
            .collect()
    }

    fn insert(&self, blob: BlobId, keys: Arc<MessageKeys>) {
        let mut maps = self.maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Self::insert_young(&mut maps, self.generation, blob, keys);
    }

    fn insert_young(maps: &mut Generations, generation: usize, blob: BlobId, keys: Arc<MessageKeys>) {
        if maps.maps[0].len() >= generation || maps.young_bytes >= KEY_CACHE_GENERATION_BYTES {
            maps.maps[1] = std::mem::take(&mut maps.maps[0]);
            maps.young_bytes = 0;
        }
        maps.young_bytes += keys.weight();
        maps.maps[0].insert(blob, keys);
    }

    /// Messages held.
    pub fn len(&self) -> usize {
        let maps = self.maps.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        maps.maps[0].len() + maps.maps[1].len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_a_header() {
        let header = b"From: =?UTF-8?Q?J=C3=B6rg?= <Joerg@Example.org>\r\nTo: Bob <bob@example.org>, group:;\r\n\
Subject: Re: [list] =?UTF-8?Q?Caf=C3=A9?=\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\
Message-ID: <a@x>\r\nIn-Reply-To: <b@x>\r\n\r\nFrom: not@this\r\n";
        let keys = MessageKeys::from_header(header);
        assert_eq!(keys.date, Some(760_686_745));
        assert_eq!(keys.subject, "Re: [list] Café");
        assert_eq!(keys.base_subject, thread::base_subject("Café"));
        assert_eq!(keys.from, thread::collation_key("Joerg"));
        assert_eq!(keys.to, thread::collation_key("bob"));
        assert_eq!(keys.cc, "");
        assert_eq!(keys.display_from, thread::display_sort_value(Some("Jörg"), Some("Joerg"), Some("Example.org")));
        assert_eq!(keys.message_id.as_deref(), Some("a@x"));
        assert_eq!(keys.references, vec!["b@x".to_owned()]);
        assert_eq!(MessageKeys::from_header(b"Date: garbage\r\n\r\n").date, None);
        // Long values are capped: a subject at MAX_TEXT characters, the
        // references at the nearest MAX_REFERENCES.
        let long = format!(
            "Subject: {}\r\nReferences: {}\r\n\r\n",
            "é".repeat(5000),
            (0..500).map(|i| format!("<{i}@x>")).collect::<String>()
        );
        let keys = MessageKeys::from_header(long.as_bytes());
        assert_eq!(keys.subject.chars().count(), MAX_TEXT);
        assert_eq!(keys.references.len(), MAX_REFERENCES);
        assert_eq!(keys.references.last().map(String::as_str), Some("499@x"));
        // A group sorts by its name.
        assert_eq!(MessageKeys::from_header(b"To: team: a@x, b@y;\r\n\r\n").to, thread::collation_key("team"));
    }

    #[test]
    fn the_cache_stays_bounded_and_keeps_what_is_read() {
        let cache = KeyCache::new(2);
        let blob = |n: u8| BlobId([n; 32]);
        let keys = |s: &str| MessageKeys { subject: s.into(), ..Default::default() };
        cache.get_or_insert(blob(1), || keys("1"));
        cache.get_or_insert(blob(2), || keys("2"));
        cache.get_or_insert(blob(3), || keys("3")); // 1 and 2 become old
        assert_eq!(cache.len(), 3);
        // Reading 1 brings it back; 2 is left in the old generation.
        assert_eq!(cache.get(blob(1)).unwrap().subject, "1");
        cache.get_or_insert(blob(4), || keys("4")); // young {3,1} full: it becomes old
        assert!(cache.get(blob(2)).is_none(), "2 aged out");
        assert_eq!(cache.get_or_insert(blob(3), || keys("x")).subject, "3");
        assert!(cache.len() <= 4);
    }
}
