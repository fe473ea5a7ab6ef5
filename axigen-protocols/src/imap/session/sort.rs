//! SORT and THREAD over the selected mailbox (RFC 5256, RFC 5957, ESORT of
//! RFC 5267). The messages come from the same matching as SEARCH; the sort
//! values and thread links from each message's header, which the store
//! keeps in its header cache, so a mailbox sorted again costs no disk read.

use std::cmp::Ordering;

use axigen_core::mailstore::MessageMeta;
use axigen_core::structure::{EnvelopeAddress, address_list};

use super::context::{UpdateContext, window};
use super::search::fields;
use super::{Session, store_error, tagged};
use crate::imap::data::Data;
use crate::imap::response::{Status, StatusResponse};
use crate::imap::search::SearchReturn;
use crate::imap::sequence::SequenceSet;
use crate::imap::sort::{SortCommand, SortCriterion, SortKey, ThreadAlgorithm, ThreadCommand};
use crate::imap::thread::{self, ThreadInput};
use crate::imap::types::Tag;

/// One sort value: numbers for dates and sizes, folded text for the rest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Number(i64),
    Text(String),
}

/// The value of the first field called `name`.
fn field<'a>(header: &'a [u8], name: &str) -> Option<&'a [u8]> {
    fields(header).find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes())).map(|(_, v)| v)
}

/// A header value as text, RFC 2047 encoded-words decoded, unfolded.
fn text(value: &[u8]) -> String {
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

/// The first address of an address field as ENVELOPE lists it: for a
/// group, its start marker, whose mailbox is the group's name (so a group
/// sorts by its name, as Dovecot sorts it).
fn first_address(header: &[u8], name: &str) -> Option<EnvelopeAddress> {
    address_list(field(header, name)?).into_iter().next()
}

/// The sent date (RFC 5256 2.2): the Date field in UTC, else INTERNALDATE.
fn sent_date(header: &[u8], meta: &MessageMeta) -> i64 {
    field(header, "Date")
        .and_then(|v| mail_parser::DateTime::parse_rfc822(String::from_utf8_lossy(v).trim()))
        .map_or(meta.internal_date, |d| d.to_timestamp())
}

/// The value a message sorts by for one key.
fn sort_value(key: SortKey, header: &[u8], meta: &MessageMeta) -> Value {
    let mailbox = |name: &str| {
        let mailbox = first_address(header, name).and_then(|a| a.mailbox).map(|m| m.to_str_lossy().into_owned());
        Value::Text(thread::collation_key(&mailbox.unwrap_or_default()))
    };
    let display = |name: &str| {
        let address = first_address(header, name);
        let display = address.as_ref().and_then(|a| a.name.as_ref()).map(|n| text(n.as_bytes()));
        let part = |v: Option<&axigen_core::structure::HeaderText>| v.map(|t| t.to_str_lossy().into_owned());
        let (mailbox, host) = (
            part(address.as_ref().and_then(|a| a.mailbox.as_ref())),
            part(address.as_ref().and_then(|a| a.host.as_ref())),
        );
        Value::Text(thread::display_sort_value(display.as_deref(), mailbox.as_deref(), host.as_deref()))
    };
    match key {
        SortKey::Arrival => Value::Number(meta.internal_date),
        SortKey::Size => Value::Number(i64::try_from(meta.size).unwrap_or(i64::MAX)),
        SortKey::Date => Value::Number(sent_date(header, meta)),
        SortKey::Subject => Value::Text(thread::base_subject(&field(header, "Subject").map(text).unwrap_or_default())),
        SortKey::From => mailbox("From"),
        SortKey::To => mailbox("To"),
        SortKey::Cc => mailbox("Cc"),
        SortKey::DisplayFrom => display("From"),
        SortKey::DisplayTo => display("To"),
    }
}

impl Session {
    /// The headers of the matched messages, when a key needs them; a
    /// message whose content is gone (expunged meanwhile) is left out.
    async fn headers_of(
        &self,
        tag: &Tag,
        messages: &[MessageMeta],
        matched: &mut Vec<(u32, usize)>,
    ) -> Result<Vec<bytes::Bytes>, StatusResponse> {
        let mut headers = Vec::with_capacity(matched.len());
        let mut kept = Vec::with_capacity(matched.len());
        for &(seq, i) in matched.iter() {
            match self.store.header(messages[i].blob).await {
                Ok(h) => {
                    headers.push(h);
                    kept.push((seq, i));
                }
                Err(axigen_core::Error::NotFound(_)) => {}
                Err(err) => return Err(store_error(tag, &err)),
            }
        }
        *matched = kept;
        Ok(headers)
    }

    /// The matched messages, (number, listing index), in the order of the
    /// sort criteria (RFC 5256 3: keys in order, REVERSE flips one; equal
    /// messages stay in message number order).
    pub(super) async fn sorted(
        &self,
        tag: &Tag,
        criteria: &[SortCriterion],
        messages: &[MessageMeta],
        mut matched: Vec<(u32, usize)>,
    ) -> Result<Vec<(u32, usize)>, StatusResponse> {
        let needs_header = criteria.iter().any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size));
        let headers = if needs_header { self.headers_of(tag, messages, &mut matched).await? } else { Vec::new() };
        // Each message's values, most significant first.
        let values: Vec<Vec<Value>> = matched
            .iter()
            .enumerate()
            .map(|(n, &(_, i))| {
                let header: &[u8] = headers.get(n).map_or(&[], |h| h.as_ref());
                criteria.iter().map(|c| sort_value(c.key, header, &messages[i])).collect()
            })
            .collect();
        let mut order: Vec<usize> = (0..matched.len()).collect();
        order.sort_by(|&a, &b| {
            for (k, c) in criteria.iter().enumerate() {
                let o = values[a][k].cmp(&values[b][k]);
                let o = if c.reverse { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            matched[a].0.cmp(&matched[b].0)
        });
        Ok(order.into_iter().map(|n| matched[n]).collect())
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
                    };
                    self.add_context(context, out);
                }
            }
        }
        tagged(tag, Status::Ok, "SORT completed")
    }

    pub(super) async fn thread(&mut self, tag: &Tag, cmd: &ThreadCommand, out: &mut Vec<u8>) -> StatusResponse {
        let (messages, mut matched) = match self.matching(tag, Some(&cmd.charset), &cmd.keys, out).await {
            Ok(m) => m,
            Err(response) => return response,
        };
        let headers = match self.headers_of(tag, &messages, &mut matched).await {
            Ok(h) => h,
            Err(response) => return response,
        };
        let inputs: Vec<ThreadInput> = matched
            .iter()
            .zip(&headers)
            .map(|(&(seq, i), header)| {
                let meta = &messages[i];
                let value = |name: &str| field(header, name).map(|v| String::from_utf8_lossy(v).into_owned());
                ThreadInput {
                    id: if cmd.uid { meta.uid.0 } else { seq },
                    sent: sent_date(header, meta),
                    subject: field(header, "Subject").map(text).unwrap_or_default(),
                    message_id: value("Message-ID").and_then(|v| thread::message_ids(&v).into_iter().next()),
                    references: thread::reference_ids(value("References").as_deref(), value("In-Reply-To").as_deref()),
                }
            })
            .collect();
        let threads = match cmd.algorithm {
            ThreadAlgorithm::OrderedSubject => thread::ordered_subject(&inputs),
            ThreadAlgorithm::References => thread::references(&inputs),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_the_header() {
        let header = b"From: =?UTF-8?Q?J=C3=B6rg?= <Joerg@Example.org>\r\nTo: Bob <bob@example.org>, group:;\r\n\
Subject: Re: [list] =?UTF-8?Q?Caf=C3=A9?=\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n";
        let meta = MessageMeta {
            uid: axigen_core::mailstore::Uid(1),
            modseq: axigen_core::mailstore::ModSeq(1),
            flags: axigen_core::mailstore::Flags::empty(),
            keywords: vec![],
            internal_date: 5,
            size: 10,
            blob: axigen_core::mailstore::BlobId([0; 32]),
        };
        assert_eq!(sort_value(SortKey::From, header, &meta), Value::Text(thread::collation_key("Joerg")));
        assert_eq!(sort_value(SortKey::To, header, &meta), Value::Text(thread::collation_key("bob")));
        assert_eq!(sort_value(SortKey::Subject, header, &meta), Value::Text(thread::base_subject("Café")));
        assert_eq!(sort_value(SortKey::Date, header, &meta), Value::Number(760_686_745));
        assert_eq!(sort_value(SortKey::Date, b"Date: garbage\r\n\r\n", &meta), Value::Number(5));
        assert_eq!(
            sort_value(SortKey::DisplayFrom, header, &meta),
            Value::Text(thread::display_sort_value(Some("Jörg"), Some("Joerg"), Some("Example.org")))
        );
        assert_eq!(sort_value(SortKey::Cc, header, &meta), Value::Text(String::new()));
    }
}
