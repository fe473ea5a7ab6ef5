//! SORT and THREAD algorithms of RFC 5256: the base subject (2.1), the
//! ORDEREDSUBJECT and REFERENCES threading algorithms (BASE.6.4.THREAD) and
//! the `thread-data` wire form (5); with the DISPLAYFROM / DISPLAYTO sort
//! value of RFC 5957 3. Pure algorithms: no I/O, no async.
//!
//! - [`base_subject`], [`base_subject_ext`], [`is_reply_or_forward`]: the
//!   base subject that SORT SUBJECT and both threading algorithms use, and
//!   whether extracting it found a reply or forward.
//! - [`collation_key`], [`display_sort_value`]: the folded strings the
//!   other string sort keys compare.
//! - [`message_ids`], [`reference_ids`]: the normalised Message-IDs of a
//!   `Message-ID`, `References` or `In-Reply-To` header.
//! - [`ordered_subject`], [`references`]: the two algorithms, from
//!   [`ThreadInput`]s to [`Thread`] trees; [`encode`]: the trees on the wire.
//!
//! The caller decodes RFC 2047 encoded-words in the Subject (RFC 5256 2.1
//! step 1) and works out the sent date (RFC 5256 2.2: the Date header in
//! UTC, else the INTERNALDATE).
//!
//! ```
//! use axigen_protocols::imap::thread::{self, ThreadInput};
//!
//! let message = |id, sent, subject: &str, message_id: &str, references: &str| ThreadInput {
//!     id,
//!     sent,
//!     subject: subject.to_owned(),
//!     message_id: thread::message_ids(message_id).into_iter().next(),
//!     references: thread::reference_ids(Some(references), None),
//! };
//! let messages = [
//!     message(1, 100, "Lunch", "<a@example.org>", ""),
//!     message(2, 300, "Re: Lunch", "<b@example.org>", "<a@example.org>"),
//!     message(3, 200, "Minutes", "<c@example.org>", ""),
//!     message(4, 400, "Lunch", "<d@example.org>", ""),
//! ];
//! let mut out = Vec::new();
//! thread::encode(&mut out, &thread::references(&messages));
//! assert_eq!(out, b"((1 2)(4))(3)");
//! out.clear();
//! thread::encode(&mut out, &thread::ordered_subject(&messages));
//! assert_eq!(out, b"(1 (2)(4))(3)");
//! ```
//!
//! # Implementation notes
//!
//! - **No panic, no recursion over message data.** Every walk over a tree
//!   (linking, pruning, sorting, building the output, encoding, comparing
//!   and dropping a [`Thread`]) keeps its work on a heap stack, so a
//!   20,000-deep References chain costs memory, not call stack. Walks up
//!   the parent links are bounded by the number of nodes.
//! - **An arena, not pointers.** REFERENCES keeps its nodes in vectors
//!   indexed by number (message `i` is node `i`, dummies follow), with one
//!   `HashMap` from Message-ID to node.
//! - **Ties go to `id`.** Equal sent dates are ordered by `id` (RFC 5256
//!   2.2: sequence number order; UIDs ascend in the same order). Messages
//!   are processed in `id` order whatever the order of the slice, so "the
//!   first" message with a duplicated Message-ID is the lowest `id`.
//! - **Message-IDs are normalised once**, by [`message_ids`]: without the
//!   angle brackets, quoting and white space, so `<"a"@x>` and `<a@x>` are
//!   one ID (RFC 5256 BASE.6.4.THREAD); they then compare case-sensitively.
//! - **Case folding approximates i;unicode-casemap** (RFC 5256 7, RFC 5051):
//!   every character with a one-character uppercase mapping is replaced by
//!   it; titlecase exceptions and canonical decomposition are not applied.
//!   Folded strings compare bytewise.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

// ---------------------------------------------------------------------------
// Base subject (RFC 5256 2.1)

/// The base subject of RFC 5256 2.1, case-folded by [`collation_key`].
///
/// `subject` is the Subject header with RFC 2047 encoded-words already
/// decoded to UTF-8; an absent Subject is the empty string. Two subjects
/// belong together when their base subjects are equal bytewise.
pub fn base_subject(subject: &str) -> String {
    base_subject_ext(subject).0
}

/// Whether the subject marks a reply or forward: RFC 5256 BASE.6.4.THREAD,
/// "the base subject extraction rules, applied to the original subject,
/// remove any of the following: a subj-refwd, a "(fwd)" subj-trailer, or a
/// subj-fwd-hdr and subj-fwd-trl".
pub fn is_reply_or_forward(subject: &str) -> bool {
    base_subject_ext(subject).1
}

/// [`base_subject`] and [`is_reply_or_forward`] in one pass.
///
/// The steps of RFC 5256 2.1, over the grammar of RFC 5256 5:
///
/// ```text
/// subj-refwd      = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
/// subj-blob       = "[" *BLOBCHAR "]" *WSP
/// subj-fwd-hdr    = "[fwd:"
/// subj-fwd-trl    = "]"
/// subj-leader     = (*subj-blob subj-refwd) / WSP
/// subj-trailer    = "(fwd)" / WSP
/// BLOBCHAR        = %x01-5a / %x5c / %x5e-ff
/// ```
///
/// Literals match case-insensitively (RFC 5234 2.3).
pub fn base_subject_ext(subject: &str) -> (String, bool) {
    // (1) Tabs and continuations to space, runs of spaces to one.
    let normal = collapse_white_space(subject);
    let mut s: &[u8] = &normal;
    let mut reply = false;
    loop {
        // (2) Remove every trailing subj-trailer.
        loop {
            if let Some(rest) = s.strip_suffix(b" ") {
                s = rest;
            } else if let Some(rest) = strip_suffix_ci(s, b"(fwd)") {
                s = rest;
                reply = true;
            } else {
                break;
            }
        }
        // (3) Remove subj-leaders; (4) remove a subj-blob when a non-empty
        // subj-base remains; (5) repeat until neither matches.
        loop {
            if let Some(rest) = s.strip_prefix(b" ") {
                s = rest;
                continue;
            }
            let mut at = 0;
            let mut last_removable = None;
            while let Some(len) = blob_len(&s[at..]) {
                at += len;
                if at < s.len() {
                    last_removable = Some(at);
                }
            }
            if let Some(len) = refwd_len(&s[at..]) {
                s = &s[at + len..];
                reply = true;
                continue;
            }
            // The leader failed after these blobs; step (4) would remove
            // them one by one, each time failing the leader at the same
            // point, as long as something stays behind them.
            match last_removable {
                Some(end) => s = &s[end..],
                None => break,
            }
        }
        // (6) "[fwd:" ... "]": remove both and repeat from (2).
        if let Some(inner) = strip_prefix_ci(s, b"[fwd:").and_then(|rest| rest.strip_suffix(b"]")) {
            s = inner;
            reply = true;
            continue;
        }
        break;
    }
    // Every cut above is next to an ASCII octet, so `s` is still UTF-8.
    (collation_key(&String::from_utf8_lossy(s)), reply)
}

/// Step (1) of RFC 5256 2.1 on an already decoded subject.
fn collapse_white_space(subject: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(subject.len());
    let mut in_space = false;
    for &b in subject.as_bytes() {
        if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            out.push(b);
            in_space = false;
        }
    }
    out
}

/// The length of the `subj-blob` at the start of `s`, if there is one.
fn blob_len(s: &[u8]) -> Option<usize> {
    let body = s.strip_prefix(b"[")?;
    let end = body.iter().position(|&b| matches!(b, b'[' | b']' | 0))?;
    if body[end] != b']' {
        return None;
    }
    let mut len = end + 2;
    while s.get(len) == Some(&b' ') {
        len += 1;
    }
    Some(len)
}

/// The length of the `subj-refwd` at the start of `s`, if there is one.
fn refwd_len(s: &[u8]) -> Option<usize> {
    let mut len = if strip_prefix_ci(s, b"re").is_some() {
        2
    } else if strip_prefix_ci(s, b"fwd").is_some() {
        3
    } else if strip_prefix_ci(s, b"fw").is_some() {
        2
    } else {
        return None;
    };
    while s.get(len) == Some(&b' ') {
        len += 1;
    }
    if let Some(blob) = blob_len(&s[len..]) {
        len += blob;
    }
    (s.get(len) == Some(&b':')).then_some(len + 1)
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let (head, rest) = s.split_at_checked(prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then_some(rest)
}

fn strip_suffix_ci<'a>(s: &'a [u8], suffix: &[u8]) -> Option<&'a [u8]> {
    let (rest, tail) = s.split_at_checked(s.len().checked_sub(suffix.len())?)?;
    tail.eq_ignore_ascii_case(suffix).then_some(rest)
}

// ---------------------------------------------------------------------------
// Collation (RFC 5256 7, RFC 5957 3)

/// `s` case-folded for comparison: the approximation of i;unicode-casemap
/// described in the module notes. Compare the results bytewise; SORT on
/// FROM, TO and CC uses it on the addr-mailbox.
pub fn collation_key(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                return c.to_ascii_uppercase();
            }
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// The DISPLAY sort value of an address (RFC 5957 3), case-folded by
/// [`collation_key`]: the decoded display name when it is not empty, else
/// `mailbox@host`, else the mailbox, else the empty string. For
/// DISPLAYFROM and DISPLAYTO the address is the first of From or To; with
/// none, the caller passes `None` for all three (RFC 5957 4).
pub fn display_sort_value(name: Option<&str>, mailbox: Option<&str>, host: Option<&str>) -> String {
    match (name.filter(|name| !name.is_empty()), mailbox, host) {
        (Some(name), _, _) => collation_key(name),
        (None, Some(mailbox), Some(host)) => collation_key(&format!("{mailbox}@{host}")),
        (None, Some(mailbox), None) => collation_key(mailbox),
        (None, None, _) => String::new(),
    }
}

// ---------------------------------------------------------------------------
// Message-IDs

/// The Message-IDs in a `Message-ID`, `References` or `In-Reply-To` header
/// value, in order, **without their angle brackets**.
///
/// Each `<...>` token is one ID. Comments and quoted strings outside the
/// brackets are skipped, and so is any other text (the phrases some
/// mailers put in In-Reply-To). Inside the brackets the ID is normalised
/// (RFC 5256 BASE.6.4.THREAD: `<"01KF8JCEOCBS0045PS"@xxx.yyy.com>` and
/// `<01KF8JCEOCBS0045PS@xxx.yyy.com>` are one ID): quotes are removed,
/// quoted pairs unescaped, white space and comments dropped. Empty and
/// unterminated tokens are not IDs.
pub fn message_ids(value: &str) -> Vec<String> {
    let b = value.as_bytes();
    let mut ids = Vec::new();
    let mut at = 0;
    while at < b.len() {
        at = match b[at] {
            b'(' => skip_comment(b, at).unwrap_or(at + 1),
            b'"' => skip_quoted(b, at).unwrap_or(at + 1),
            b'<' => {
                let (next, id) = msg_id(b, at);
                ids.extend(id);
                next
            }
            _ => at + 1,
        };
    }
    ids
}

/// The references of a message for REFERENCES threading (RFC 5256
/// BASE.6.4.THREAD): the IDs of the References header when it holds any,
/// else the first ID of In-Reply-To, else none. This is what
/// [`ThreadInput::references`] expects.
pub fn reference_ids(references: Option<&str>, in_reply_to: Option<&str>) -> Vec<String> {
    let ids = references.map(message_ids).unwrap_or_default();
    if !ids.is_empty() {
        return ids;
    }
    in_reply_to.map(message_ids).unwrap_or_default().into_iter().take(1).collect()
}

/// The end of the comment that opens at `start`, nested comments and
/// quoted pairs included; `None` when it is not closed.
fn skip_comment(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut at = start;
    while at < b.len() {
        match b[at] {
            b'\\' => at += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(at + 1);
                }
            }
            _ => {}
        }
        at += 1;
    }
    None
}

/// The end of the quoted string that opens at `start`; `None` when it is
/// not closed.
fn skip_quoted(b: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    while at < b.len() {
        match b[at] {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
    None
}

/// The normalised ID of the `<...>` token that opens at `start`, and where
/// to go on. A `<` before the closing `>` starts over there.
fn msg_id(b: &[u8], start: usize) -> (usize, Option<String>) {
    let mut id = Vec::new();
    let mut at = start + 1;
    while at < b.len() {
        match b[at] {
            b'>' => {
                let id = (!id.is_empty()).then(|| String::from_utf8_lossy(&id).into_owned());
                return (at + 1, id);
            }
            b'<' => return (at, None),
            b'"' => {
                at += 1;
                loop {
                    match b.get(at) {
                        None => return (b.len(), None),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            if let Some(&escaped) = b.get(at + 1) {
                                id.push(escaped);
                            }
                            at += 1;
                        }
                        Some(b'\r' | b'\n') => {}
                        Some(&octet) => id.push(octet),
                    }
                    at += 1;
                }
            }
            b'(' => {
                if let Some(end) = skip_comment(b, at) {
                    at = end;
                    continue;
                }
            }
            b' ' | b'\t' | b'\r' | b'\n' => {}
            octet => id.push(octet),
        }
        at += 1;
    }
    (b.len(), None)
}

/// A Message-ID as passed in [`ThreadInput`], with stray angle brackets
/// removed so that `<a@x>` and `a@x` agree.
fn bare_id(id: &str) -> &str {
    id.strip_prefix('<').and_then(|id| id.strip_suffix('>')).unwrap_or(id)
}

// ---------------------------------------------------------------------------
// Threads

/// One message as threading sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadInput {
    /// The number to print: the sequence number (THREAD) or UID (UID
    /// THREAD). Also the tie-breaker between equal sent dates.
    pub id: u32,
    /// The sent date as Unix seconds (RFC 5256 2.2): the Date header
    /// adjusted to UTC, or the INTERNALDATE when there is no usable Date.
    pub sent: i64,
    /// The Subject with RFC 2047 encoded-words decoded; empty when absent.
    pub subject: String,
    /// The first ID of the Message-ID header, as [`message_ids`] gives it;
    /// `None` when there is none.
    pub message_id: Option<String>,
    /// The references: [`reference_ids`] (the References IDs, else the
    /// first In-Reply-To ID).
    pub references: Vec<String>,
}

impl ThreadInput {
    fn key(&self) -> (i64, u32) {
        (self.sent, self.id)
    }
}

/// A node of a thread tree. `id: None` is a dummy: a parent that is not
/// among the messages, kept only because it holds several top-level
/// children, as in `((3)(5))` (RFC 5256 BASE.7.2.THREAD).
///
/// Comparing, printing with `{:?}` and dropping a `Thread` do not recurse,
/// so trees of any depth are safe.
pub struct Thread {
    /// The message number, or `None` for a dummy.
    pub id: Option<u32>,
    /// The replies, in order.
    pub children: Vec<Thread>,
}

impl Drop for Thread {
    fn drop(&mut self) {
        // The derived drop would recurse once per level.
        let mut pending = std::mem::take(&mut self.children);
        while let Some(mut thread) = pending.pop() {
            pending.append(&mut thread.children);
        }
    }
}

impl PartialEq for Thread {
    fn eq(&self, other: &Self) -> bool {
        let mut pending = vec![(self, other)];
        while let Some((a, b)) = pending.pop() {
            if a.id != b.id || a.children.len() != b.children.len() {
                return false;
            }
            pending.extend(a.children.iter().zip(&b.children));
        }
        true
    }
}

impl Eq for Thread {}

impl fmt::Debug for Thread {
    /// `1 [2 [3], 4]`, with `*` for a dummy.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        enum Item<'a> {
            Node(&'a Thread),
            Text(&'static str),
        }
        let mut pending = vec![Item::Node(self)];
        while let Some(item) = pending.pop() {
            match item {
                Item::Text(text) => f.write_str(text)?,
                Item::Node(thread) => {
                    match thread.id {
                        Some(id) => write!(f, "{id}")?,
                        None => f.write_str("*")?,
                    }
                    if !thread.children.is_empty() {
                        pending.push(Item::Text("]"));
                        for (n, child) in thread.children.iter().enumerate().rev() {
                            pending.push(Item::Node(child));
                            pending.push(Item::Text(if n == 0 { " [" } else { ", " }));
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 BASE.6.4.THREAD): messages grouped by
/// base subject; in each group the earliest message is the root and the
/// others, by sent date, its children; groups ordered by the sent date of
/// their root. Messages with an empty base subject form one group too.
pub fn ordered_subject(messages: &[ThreadInput]) -> Vec<Thread> {
    let subjects: Vec<(String, bool)> = messages.iter().map(|m| base_subject_ext(&m.subject)).collect();
    let subjects: Vec<(&str, bool)> = subjects.iter().map(|(s, r)| (s.as_str(), *r)).collect();
    ordered_subject_with(messages, &subjects)
}

/// [`ordered_subject`] with each message's base subject and reply flag
/// ([`base_subject_ext`]) worked out already, as a cache keeps them.
pub fn ordered_subject_with(messages: &[ThreadInput], subjects: &[(&str, bool)]) -> Vec<Thread> {
    let subjects: Vec<&str> = subjects.iter().map(|s| s.0).collect();
    let mut order: Vec<usize> = (0..messages.len()).collect();
    order.sort_by(|&a, &b| subjects[a].cmp(subjects[b]).then_with(|| messages[a].key().cmp(&messages[b].key())));
    let mut threads: Vec<((i64, u32), Thread)> = order
        .chunk_by(|&a, &b| subjects[a] == subjects[b])
        .filter_map(|group| {
            let (&first, rest) = group.split_first()?;
            let children = rest.iter().map(|&m| Thread { id: Some(messages[m].id), children: Vec::new() }).collect();
            Some((messages[first].key(), Thread { id: Some(messages[first].id), children }))
        })
        .collect();
    threads.sort_by_key(|(key, _)| *key);
    threads.into_iter().map(|(_, thread)| thread).collect()
}

/// THREAD=REFERENCES (RFC 5256 BASE.6.4.THREAD), all six steps: link the
/// messages by their references (1), gather the roots (2), prune dummies
/// (3), sort the roots (4), merge the roots with the same base subject (5)
/// and sort every set of siblings by sent date, then `id` (6).
pub fn references(messages: &[ThreadInput]) -> Vec<Thread> {
    let subjects: Vec<(String, bool)> = messages.iter().map(|m| base_subject_ext(&m.subject)).collect();
    let subjects: Vec<(&str, bool)> = subjects.iter().map(|(s, r)| (s.as_str(), *r)).collect();
    references_with(messages, &subjects)
}

/// [`references`] with each message's base subject and reply flag
/// ([`base_subject_ext`]) worked out already, as a cache keeps them.
pub fn references_with(messages: &[ThreadInput], subjects: &[(&str, bool)]) -> Vec<Thread> {
    let mut order: Vec<usize> = (0..messages.len()).collect();
    order.sort_by_key(|&m| messages[m].id);

    let mut links = Links::new(messages, &order);
    for &m in &order {
        links.link_message(m, &messages[m].references);
    }
    let mut tree = Tree::from(links);
    tree.prune();
    tree.sort_roots(messages);
    tree.merge_subjects(subjects);
    tree.sort_all(messages);
    tree.into_threads(messages)
}

/// Step (1): the parent links. Node `m < messages.len()` is message `m`;
/// dummies follow.
struct Links<'a> {
    /// The message of each node; `None` for a dummy.
    message: Vec<Option<usize>>,
    parent: Vec<Option<usize>>,
    /// How many children each node has, so a childless node skips the loop
    /// check.
    child_count: Vec<u32>,
    by_id: HashMap<&'a str, usize>,
}

impl<'a> Links<'a> {
    fn new(messages: &'a [ThreadInput], order: &[usize]) -> Self {
        let n = messages.len();
        let mut by_id = HashMap::with_capacity(n);
        // "If two or more messages have the same Message ID, then only use
        // that Message ID in the first (lowest sequence number) message":
        // the others, like messages without one, are reached by no ID.
        for &m in order {
            if let Some(id) = messages[m].message_id.as_deref().map(bare_id).filter(|id| !id.is_empty()) {
                by_id.entry(id).or_insert(m);
            }
        }
        Links { message: (0..n).map(Some).collect(), parent: vec![None; n], child_count: vec![0; n], by_id }
    }

    /// The node of a referenced ID, a new dummy when no message has it.
    fn node(&mut self, id: &'a str) -> usize {
        if let Some(&node) = self.by_id.get(id) {
            return node;
        }
        let node = self.message.len();
        self.message.push(None);
        self.parent.push(None);
        self.child_count.push(0);
        self.by_id.insert(id, node);
        node
    }

    /// Steps (1.A) and (1.B) for message `m`.
    fn link_message(&mut self, m: usize, references: &'a [String]) {
        let chain: Vec<usize> =
            references.iter().map(|id| bare_id(id)).filter(|id| !id.is_empty()).map(|id| self.node(id)).collect();
        // (1.A) Each reference is the parent of the next, unless the next
        // already has a parent or the link would make a loop.
        for pair in chain.windows(2) {
            let (parent, child) = (pair[0], pair[1]);
            if self.parent[child].is_none() && !self.would_loop(parent, child) {
                self.link(parent, child);
            }
        }
        // (1.B) The last reference is the parent of the message: break the
        // current link, then link unless that makes a loop.
        self.unlink(m);
        if let Some(&parent) = chain.last()
            && !self.would_loop(parent, m)
        {
            self.link(parent, m);
        }
    }

    /// Whether making `parent` the parent of `child` would make a loop:
    /// `parent` is `child` or one of its descendants.
    fn would_loop(&self, parent: usize, child: usize) -> bool {
        if parent == child {
            return true;
        }
        if self.child_count[child] == 0 {
            return false;
        }
        let mut node = parent;
        for _ in 0..self.parent.len() {
            match self.parent[node] {
                Some(up) if up == child => return true,
                Some(up) => node = up,
                None => return false,
            }
        }
        true
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.parent[child] = Some(parent);
        self.child_count[parent] += 1;
    }

    fn unlink(&mut self, child: usize) {
        if let Some(parent) = self.parent[child].take() {
            self.child_count[parent] -= 1;
        }
    }
}

/// Steps (2) to (6), over child lists.
struct Tree {
    message: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
    roots: Vec<usize>,
}

impl From<Links<'_>> for Tree {
    /// Step (2): the nodes without a parent are the roots.
    fn from(links: Links<'_>) -> Self {
        let mut children = vec![Vec::new(); links.message.len()];
        let mut roots = Vec::new();
        for (node, parent) in links.parent.iter().enumerate() {
            match parent {
                Some(parent) => children[*parent].push(node),
                None => roots.push(node),
            }
        }
        Tree { message: links.message, children, roots }
    }
}

impl Tree {
    fn is_dummy(&self, node: usize) -> bool {
        self.message[node].is_none()
    }

    /// Every node under the roots, each parent before its children.
    fn preorder(&self) -> Vec<usize> {
        let mut seen = vec![false; self.message.len()];
        let mut order = Vec::with_capacity(self.message.len());
        let mut pending: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(node) = pending.pop() {
            if std::mem::replace(&mut seen[node], true) {
                continue;
            }
            order.push(node);
            pending.extend(self.children[node].iter().rev());
        }
        order
    }

    /// Step (3): below the roots every dummy goes, its children taking its
    /// place; a dummy root goes when it has no child, and gives way to its
    /// child when it has one.
    fn prune(&mut self) {
        for node in self.preorder().into_iter().rev() {
            if !self.children[node].iter().any(|&child| self.is_dummy(child)) {
                continue;
            }
            // The children were pruned first, so what a dummy child hands
            // up holds no dummy.
            let old = std::mem::take(&mut self.children[node]);
            let mut new = Vec::with_capacity(old.len());
            for child in old {
                if self.is_dummy(child) {
                    new.append(&mut std::mem::take(&mut self.children[child]));
                } else {
                    new.push(child);
                }
            }
            self.children[node] = new;
        }
        let roots = std::mem::take(&mut self.roots);
        self.roots = roots
            .into_iter()
            .filter_map(|root| match self.children[root].as_slice() {
                _ if !self.is_dummy(root) => Some(root),
                [] => None,
                [only] => Some(*only),
                _ => Some(root),
            })
            .collect();
    }

    /// The sort key of a node: its message's sent date and id; for a dummy,
    /// its first child's (RFC 5256 steps (4) and (6)).
    fn key(&self, messages: &[ThreadInput], node: usize) -> (i64, u32) {
        let mut node = node;
        for _ in 0..self.message.len() {
            match (self.message[node], self.children[node].first()) {
                (Some(m), _) => return messages[m].key(),
                (None, Some(&first)) => node = first,
                (None, None) => break,
            }
        }
        (i64::MAX, u32::MAX)
    }

    fn sort_children(&mut self, messages: &[ThreadInput], node: usize) {
        let mut children = std::mem::take(&mut self.children[node]);
        children.sort_by_key(|&child| self.key(messages, child));
        self.children[node] = children;
    }

    /// Step (4): the roots by sent date, a dummy by its earliest child.
    fn sort_roots(&mut self, messages: &[ThreadInput]) {
        for root in self.roots.clone() {
            if self.is_dummy(root) {
                self.sort_children(messages, root);
            }
        }
        let mut roots = std::mem::take(&mut self.roots);
        roots.sort_by_key(|&root| self.key(messages, root));
        self.roots = roots;
    }

    /// The message whose base subject is the thread subject of a root:
    /// the root's own, or its first child's for a dummy (step (5.B.i)).
    fn subject_message(&self, root: usize) -> Option<usize> {
        self.message[root].or_else(|| self.children[root].first().and_then(|&first| self.message[first]))
    }

    fn is_reply(&self, subjects: &[(&str, bool)], node: usize) -> bool {
        self.message[node].is_some_and(|m| subjects[m].1)
    }

    /// Makes `child` a child of `parent`; a dummy `child` hands over its
    /// children instead, so that dummies never nest.
    fn adopt(&mut self, parent: usize, child: usize) {
        if self.is_dummy(child) {
            let mut children = std::mem::take(&mut self.children[child]);
            self.children[parent].append(&mut children);
        } else {
            self.children[parent].push(child);
        }
    }

    /// Step (5): the roots with the same base subject become one thread.
    fn merge_subjects(&mut self, subjects: &[(&str, bool)]) {
        let thread_subject = |tree: &Tree, root: usize| {
            tree.subject_message(root).map(|m| subjects[m].0).filter(|subject| !subject.is_empty())
        };
        // (5.B) One root per subject: a dummy if there is one, else a
        // message that is not a reply if there is one, else the first.
        let mut table: HashMap<&str, usize> = HashMap::new();
        for &root in &self.roots {
            let Some(subject) = thread_subject(self, root) else { continue };
            match table.entry(subject) {
                Entry::Vacant(entry) => {
                    entry.insert(root);
                }
                Entry::Occupied(mut entry) => {
                    let kept = *entry.get();
                    if !self.is_dummy(kept)
                        && (self.is_dummy(root) || (self.is_reply(subjects, kept) && !self.is_reply(subjects, root)))
                    {
                        entry.insert(root);
                    }
                }
            }
        }
        // (5.C) Merge every other root into the one in the table.
        let mut slots: Vec<Option<usize>> = self.roots.iter().copied().map(Some).collect();
        let mut slot_of: HashMap<usize, usize> =
            self.roots.iter().enumerate().map(|(slot, &root)| (root, slot)).collect();
        for slot in 0..slots.len() {
            let Some(current) = slots[slot] else { continue };
            let Some(subject) = thread_subject(self, current) else { continue };
            let Some(&kept) = table.get(subject) else { continue };
            if kept == current {
                continue;
            }
            slots[slot] = None;
            if self.is_dummy(kept) || (self.is_reply(subjects, current) && !self.is_reply(subjects, kept)) {
                // Both dummies: the children join; a dummy in the table, or
                // a reply to a non-reply: the current root becomes a child.
                self.adopt(kept, current);
            } else {
                // A new dummy takes the kept root's place, with both below.
                let dummy = self.message.len();
                self.message.push(None);
                self.children.push(Vec::new());
                self.adopt(dummy, kept);
                self.adopt(dummy, current);
                let dummy_slot = slot_of.get(&kept).copied().unwrap_or_else(|| {
                    slots.push(None);
                    slots.len() - 1
                });
                slots[dummy_slot] = Some(dummy);
                slot_of.insert(dummy, dummy_slot);
                table.insert(subject, dummy);
            }
        }
        self.roots = slots.into_iter().flatten().collect();
    }

    /// Step (6): every set of siblings by sent date, the deepest first, the
    /// roots last.
    fn sort_all(&mut self, messages: &[ThreadInput]) {
        for node in self.preorder().into_iter().rev() {
            if self.children[node].len() > 1 {
                self.sort_children(messages, node);
            }
        }
        let mut roots = std::mem::take(&mut self.roots);
        roots.sort_by_key(|&root| self.key(messages, root));
        self.roots = roots;
    }

    /// The result, built from the leaves up.
    fn into_threads(mut self, messages: &[ThreadInput]) -> Vec<Thread> {
        let mut built: Vec<Option<Thread>> = Vec::new();
        built.resize_with(self.message.len(), || None);
        for node in self.preorder().into_iter().rev() {
            let children = std::mem::take(&mut self.children[node]);
            let children = children.into_iter().filter_map(|child| built[child].take()).collect();
            built[node] = Some(Thread { id: self.message[node].map(|m| messages[m].id), children });
        }
        self.roots.iter().filter_map(|&root| built[root].take()).collect()
    }
}

// ---------------------------------------------------------------------------
// Wire form (RFC 5256 5)

/// Appends the threads as in `thread-data`, without the leading `THREAD`
/// and its space (RFC 5256 5):
///
/// ```text
/// thread-list     = "(" (thread-members / thread-nested) ")"
/// thread-members  = nz-number *(SP nz-number) [SP thread-nested]
/// thread-nested   = 2*thread-list
/// ```
///
/// A chain of single children prints flat (`(1 2 3)`), siblings as
/// parenthesised sub-lists (`(3 6 (4 23)(44 7 96))`). A dummy prints only
/// as the `((3)(5))` of a top-level dummy with several children: a dummy
/// elsewhere is replaced by its children, one with a single child by that
/// child, one without children is left out.
pub fn encode(out: &mut Vec<u8>, threads: &[Thread]) {
    for thread in threads {
        encode_thread(out, thread);
    }
}

/// One top-level `thread-list`.
fn encode_thread(out: &mut Vec<u8>, thread: &Thread) {
    let shown = if thread.id.is_some() { vec![thread] } else { shown_children(thread) };
    match shown.as_slice() {
        [] => {}
        [only] => {
            out.push(b'(');
            members(out, only);
            out.push(b')');
        }
        several => {
            out.push(b'(');
            for thread in several {
                out.push(b'(');
                members(out, thread);
                out.push(b')');
            }
            out.push(b')');
        }
    }
}

/// `thread-members` from a message: its number, the chain of single
/// children, then the `thread-nested` of its replies.
fn members(out: &mut Vec<u8>, first: &Thread) {
    enum Step<'a> {
        Members(&'a Thread),
        Open,
        Close,
    }
    let mut pending = vec![Step::Members(first)];
    while let Some(step) = pending.pop() {
        let mut node = match step {
            Step::Open => {
                out.push(b'(');
                continue;
            }
            Step::Close => {
                out.push(b')');
                continue;
            }
            Step::Members(node) => node,
        };
        number(out, node.id.unwrap_or_default());
        loop {
            let shown = shown_children(node);
            match shown.as_slice() {
                [] => break,
                [only] => {
                    out.push(b' ');
                    number(out, only.id.unwrap_or_default());
                    node = only;
                }
                several => {
                    out.push(b' ');
                    for child in several.iter().rev() {
                        pending.push(Step::Close);
                        pending.push(Step::Members(child));
                        pending.push(Step::Open);
                    }
                    break;
                }
            }
        }
    }
}

/// The children of a node as printed: dummies replaced by their children.
fn shown_children(node: &Thread) -> Vec<&Thread> {
    let mut shown = Vec::with_capacity(node.children.len());
    let mut pending: Vec<&Thread> = node.children.iter().rev().collect();
    while let Some(thread) = pending.pop() {
        if thread.id.is_some() {
            shown.push(thread);
        } else {
            pending.extend(thread.children.iter().rev());
        }
    }
    shown
}

fn number(out: &mut Vec<u8>, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests;
