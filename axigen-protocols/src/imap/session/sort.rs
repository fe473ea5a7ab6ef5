//! SORT and THREAD over the selected mailbox (RFC 5256, RFC 5957, ESORT of
//! RFC 5267). The messages come from the same matching as SEARCH; the sort
//! values and thread links from each message's header, worked out once
//! and kept in the server's [`KeyCache`](crate::imap::sort_keys::KeyCache),
//! so a mailbox sorted again reads no header and parses nothing.

use std::cmp::Ordering;
use std::sync::Arc;

use axigen_core::mailstore::MessageMeta;

use super::context::{UpdateContext, window};
use super::{Session, store_error, tagged};
use crate::imap::data::Data;
use crate::imap::response::{Status, StatusResponse};
use crate::imap::search::SearchReturn;
use crate::imap::sequence::SequenceSet;
use crate::imap::sort::{SortCommand, SortCriterion, SortKey, ThreadAlgorithm, ThreadCommand};
use crate::imap::sort_keys::MessageKeys;
use crate::imap::thread::{self, ThreadInput};
use crate::imap::types::Tag;

/// One matched message with what it sorts and threads by.
struct Entry {
    seq: u32,
    index: usize,
    keys: Arc<MessageKeys>,
    /// The sent date: the Date field, else INTERNALDATE (RFC 5256 2.2).
    sent: i64,
}

/// How two messages compare on one key.
fn compare(key: SortKey, a: &Entry, b: &Entry, messages: &[MessageMeta]) -> Ordering {
    let (ma, mb) = (&messages[a.index], &messages[b.index]);
    match key {
        SortKey::Arrival => ma.internal_date.cmp(&mb.internal_date),
        SortKey::Size => ma.size.cmp(&mb.size),
        SortKey::Date => a.sent.cmp(&b.sent),
        SortKey::Subject => a.keys.base_subject.cmp(&b.keys.base_subject),
        SortKey::From => a.keys.from.cmp(&b.keys.from),
        SortKey::To => a.keys.to.cmp(&b.keys.to),
        SortKey::Cc => a.keys.cc.cmp(&b.keys.cc),
        SortKey::DisplayFrom => a.keys.display_from.cmp(&b.keys.display_from),
        SortKey::DisplayTo => a.keys.display_to.cmp(&b.keys.display_to),
    }
}

impl Session {
    /// The keys of the matched messages, from the shared cache or their
    /// headers; a message whose content is gone (expunged meanwhile) is
    /// left out.
    async fn entries(
        &self,
        tag: &Tag,
        messages: &[MessageMeta],
        matched: &[(u32, usize)],
    ) -> Result<Vec<Entry>, StatusResponse> {
        let mut entries = Vec::with_capacity(matched.len());
        let cached = self.sort_keys.get_many(matched.iter().map(|&(_, i)| messages[i].blob));
        for (&(seq, index), cached) in matched.iter().zip(cached) {
            let meta = &messages[index];
            let keys = match cached {
                Some(keys) => keys,
                None => match self.store.header(meta.blob).await {
                    Ok(header) => self.sort_keys.get_or_insert(meta.blob, || MessageKeys::from_header(&header)),
                    Err(axigen_core::Error::NotFound(_)) => continue,
                    Err(err) => return Err(store_error(tag, &err)),
                },
            };
            let sent = keys.date.unwrap_or(meta.internal_date);
            entries.push(Entry { seq, index, keys, sent });
        }
        Ok(entries)
    }

    /// The matched messages, (number, listing index), in the order of the
    /// sort criteria (RFC 5256 3: keys in order, REVERSE flips one; equal
    /// messages stay in message number order).
    pub(super) async fn sorted(
        &self,
        tag: &Tag,
        criteria: &[SortCriterion],
        messages: &[MessageMeta],
        matched: Vec<(u32, usize)>,
    ) -> Result<Vec<(u32, usize)>, StatusResponse> {
        let needs_keys = criteria.iter().any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size));
        if !needs_keys {
            let mut ordered = matched;
            ordered.sort_unstable_by(|&(sa, ia), &(sb, ib)| {
                let (ma, mb) = (&messages[ia], &messages[ib]);
                for c in criteria {
                    let o = match c.key {
                        SortKey::Size => ma.size.cmp(&mb.size),
                        _ => ma.internal_date.cmp(&mb.internal_date),
                    };
                    let o = if c.reverse { o.reverse() } else { o };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                sa.cmp(&sb)
            });
            return Ok(ordered);
        }
        let mut entries = self.entries(tag, messages, &matched).await?;
        // Ties end at the message number, which is unique: an unstable
        // sort gives the one order.
        entries.sort_unstable_by(|a, b| {
            for c in criteria {
                let o = compare(c.key, a, b, messages);
                let o = if c.reverse { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            a.seq.cmp(&b.seq)
        });
        Ok(entries.into_iter().map(|e| (e.seq, e.index)).collect())
    }

    pub(super) async fn sort(&mut self, tag: &Tag, cmd: &SortCommand, out: &mut Vec<u8>) -> StatusResponse {
        let update = cmd.returns.as_ref().is_some_and(|r| r.contains(&SearchReturn::Update));
        if update && self.has_context(tag) {
            return tagged(tag, Status::Bad, "an updating search with this tag exists (RFC 5267 4.3)");
        }
        let (messages, matched) = match self.matching(tag, Some(&cmd.charset), &cmd.keys, out).await {
            Ok(m) => m,
            Err(response) => return response,
        };
        let ordered = match self.sorted(tag, &cmd.criteria, &messages, matched).await {
            Ok(o) => o,
            Err(response) => return response,
        };
        let numbers: Vec<u32> = ordered.iter().map(|&(seq, i)| if cmd.uid { messages[i].uid.0 } else { seq }).collect();
        match &cmd.returns {
            None => {
                out.extend_from_slice(b"* SORT");
                for n in &numbers {
                    out.extend_from_slice(format!(" {n}").as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
            Some(returns) => {
                // RFC 5267 3.2: MIN and MAX are the first and last in sort
                // order, ALL and PARTIAL the numbers in that order.
                let all = returns.is_empty()
                    || returns.contains(&SearchReturn::All)
                    || returns.iter().all(|r| *r == SearchReturn::Context);
                let data = Data::ESearch {
                    tag: Some(tag.clone()),
                    uid: cmd.uid,
                    min: returns.contains(&SearchReturn::Min).then(|| numbers.first().copied()).flatten(),
                    max: returns.contains(&SearchReturn::Max).then(|| numbers.last().copied()).flatten(),
                    all: if all { SequenceSet::from_numbers_in_order(numbers.iter().copied()) } else { None },
                    count: returns
                        .contains(&SearchReturn::Count)
                        .then(|| u32::try_from(numbers.len()).unwrap_or(u32::MAX)),
                    modseq: None,
                    partial: SearchReturn::partial(returns)
                        .map(|range| (range, SequenceSet::from_numbers_in_order(window(&numbers, range)))),
                    updates: Vec::new(),
                };
                self.data(out, &data);
                if update {
                    let results = ordered.iter().map(|&(_, i)| messages[i].uid).collect();
                    let context = UpdateContext {
                        tag: tag.as_str().to_owned(),
                        uid: cmd.uid,
                        charset: Some(cmd.charset.clone()),
                        criteria: cmd.keys.clone(),
                        sort: Some(cmd.criteria.clone()),
                        results,
                        checked: None,
                    };
                    self.add_context(context, out);
                }
            }
        }
        tagged(tag, Status::Ok, "SORT completed")
    }

    pub(super) async fn thread(&mut self, tag: &Tag, cmd: &ThreadCommand, out: &mut Vec<u8>) -> StatusResponse {
        let (messages, matched) = match self.matching(tag, Some(&cmd.charset), &cmd.keys, out).await {
            Ok(m) => m,
            Err(response) => return response,
        };
        let entries = match self.entries(tag, &messages, &matched).await {
            Ok(e) => e,
            Err(response) => return response,
        };
        let inputs: Vec<ThreadInput> = entries
            .iter()
            .map(|e| ThreadInput {
                id: if cmd.uid { messages[e.index].uid.0 } else { e.seq },
                sent: e.sent,
                subject: e.keys.subject.clone(),
                message_id: e.keys.message_id.clone(),
                references: e.keys.references.clone(),
            })
            .collect();
        let subjects: Vec<(&str, bool)> =
            entries.iter().map(|e| (e.keys.base_subject.as_str(), e.keys.reply)).collect();
        let threads = match cmd.algorithm {
            ThreadAlgorithm::OrderedSubject => thread::ordered_subject_with(&inputs, &subjects),
            ThreadAlgorithm::References => thread::references_with(&inputs, &subjects),
        };
        out.extend_from_slice(b"* THREAD");
        if !threads.is_empty() {
            out.push(b' ');
            thread::encode(out, &threads);
        }
        out.extend_from_slice(b"\r\n");
        tagged(tag, Status::Ok, "THREAD completed")
    }
}
