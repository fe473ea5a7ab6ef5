//! Updating search and sort results: CONTEXT=SEARCH and CONTEXT=SORT
//! (RFC 5267 4). A SEARCH or SORT with `RETURN (UPDATE)` leaves a context
//! on the selected mailbox; after every command, and while idling, the
//! session works its result out again and reports the difference as
//! `ESEARCH (TAG "t") REMOVEFROM (...) ADDTO (...)`, until CANCELUPDATE or
//! the mailbox is closed.
//!
//! - A message leaving the result because it was expunged is removed
//!   before its EXPUNGE, by the number it had (RFC 5267 4.3.4).
//! - ADDTO follows the EXISTS that announces a new message (4.3.3).
//! - For SEARCH the positions are 0 (the client keeps mailbox order); for
//!   SORT they are the real positions, sent in ascending order so that each
//!   insertion lands where the final list has it. The sort values of a
//!   message never change (they come from its header, date and size), so
//!   only membership changes, never order.
//! - Working the result out again costs a search (and a sort) of the
//!   mailbox per command while a context exists; headers come from the
//!   store's cache. A session may keep [`MAX_CONTEXTS`].

use std::collections::HashSet;

use axigen_core::mailstore::{ModSeq, Uid};

use super::Session;
use crate::imap::data::{ContextUpdate, Data};
use crate::imap::response::{Code, Status, StatusResponse};
use crate::imap::search::SearchKey;
use crate::imap::sequence::SequenceSet;
use crate::imap::sort::SortCriterion;
use crate::imap::types::Tag;

/// Updating contexts one session may keep (RFC 5267 4.3.1: at least one).
pub const MAX_CONTEXTS: usize = 10;

/// One updating search or sort.
#[derive(Debug, Clone)]
pub struct UpdateContext {
    /// The tag of the command that made it.
    pub tag: String,
    /// UID SEARCH / UID SORT: updates carry UIDs.
    pub uid: bool,
    /// The search's charset.
    pub charset: Option<String>,
    /// The search keys.
    pub criteria: Vec<SearchKey>,
    /// The sort criteria of a SORT.
    pub sort: Option<Vec<SortCriterion>>,
    /// The result as the client has it, in its order.
    pub results: Vec<Uid>,
    /// The mailbox as it was when the result was last worked out (owner's
    /// MODSEQ, messages in view, last UID): while it stays so, the result
    /// cannot have changed and is not searched again.
    pub checked: Option<(ModSeq, usize, Option<Uid>)>,
}

/// The `PARTIAL low:high` window (1-based positions, RFC 5267 4.4) of a
/// result list.
pub(super) fn window(numbers: &[u32], (low, high): (u32, u32)) -> impl Iterator<Item = u32> + '_ {
    let start = usize::try_from(low.saturating_sub(1)).unwrap_or(usize::MAX).min(numbers.len());
    let end = usize::try_from(high).unwrap_or(usize::MAX).min(numbers.len()).max(start);
    numbers[start..end].iter().copied()
}

/// Consecutive positions in a run: `(position, numbers)` groups.
fn runs(added: &[(u32, u32)]) -> Vec<(u32, Vec<u32>)> {
    let mut out: Vec<(u32, Vec<u32>)> = Vec::new();
    for &(position, number) in added {
        match out.last_mut() {
            Some((start, numbers)) if *start + u32::try_from(numbers.len()).unwrap_or(u32::MAX) == position => {
                numbers.push(number)
            }
            _ => out.push((position, vec![number])),
        }
    }
    out
}

impl Session {
    /// Whether an updating context has this tag.
    pub(super) fn has_context(&self, tag: &Tag) -> bool {
        self.selected.as_ref().is_some_and(|s| s.contexts.iter().any(|c| c.tag == tag.as_str()))
    }

    /// Keeps a context, or refuses with `NO [NOUPDATE]` past the limit
    /// (RFC 5267 4.3.1); the command itself still succeeds.
    pub(super) fn add_context(&mut self, context: UpdateContext, out: &mut Vec<u8>) {
        let Some(selected) = self.selected.as_mut() else { return };
        if selected.contexts.len() >= MAX_CONTEXTS {
            StatusResponse::untagged(Status::No, "too many updating searches")
                .with_code(Code::NoUpdate(context.tag))
                .encode(out);
            return;
        }
        selected.contexts.push(context);
    }

    /// CANCELUPDATE (RFC 5267 4.3.5).
    pub(super) fn cancel_update(&mut self, tag: &Tag, tags: &[String]) -> StatusResponse {
        let Some(selected) = self.selected.as_mut() else {
            return StatusResponse::tagged(tag.clone(), Status::Bad, "no mailbox selected");
        };
        for t in tags {
            let before = selected.contexts.len();
            selected.contexts.retain(|c| &c.tag != t);
            if selected.contexts.len() == before {
                return StatusResponse::tagged(tag.clone(), Status::No, "no updating search has that tag");
            }
        }
        StatusResponse::tagged(tag.clone(), Status::Ok, "CANCELUPDATE completed")
    }

    /// Before the EXPUNGEs of `expunged`: removes them from every context
    /// that has them, by their numbers before the expunge.
    pub(super) fn contexts_before_expunge(&mut self, expunged: &[Uid], out: &mut Vec<u8>) {
        let Some(selected) = self.selected.as_mut() else { return };
        if selected.contexts.is_empty() {
            return;
        }
        let gone: HashSet<Uid> = expunged.iter().copied().collect();
        let view = selected.uids.clone();
        let seq_of = |uid: Uid| view.binary_search(&uid).ok().and_then(|i| u32::try_from(i + 1).ok());
        for context in &mut selected.contexts {
            let removed: Vec<u32> = context
                .results
                .iter()
                .filter(|u| gone.contains(u))
                .filter_map(|&u| if context.uid { Some(u.0) } else { seq_of(u) })
                .collect();
            if removed.is_empty() {
                continue;
            }
            context.results.retain(|u| !gone.contains(u));
            if let Some(set) = SequenceSet::from_numbers(removed) {
                update_data(&context.tag, context.uid, vec![ContextUpdate::RemoveFrom(0, set)]).encode(out, false);
            }
        }
    }

    /// Works out every context's result again and reports what changed.
    pub(super) async fn update_contexts(&mut self, out: &mut Vec<u8>) {
        let Some(selected) = self.selected.as_mut() else { return };
        if selected.contexts.is_empty() {
            return;
        }
        let owner = selected.owner;
        let mut contexts = std::mem::take(&mut selected.contexts);
        let Ok(highest) = self.store.highest_modseq(owner).await else {
            if let Some(selected) = self.selected.as_mut() {
                selected.contexts = contexts;
            }
            return;
        };
        let state = self.selected.as_ref().map(|s| (highest, s.uids.len(), s.uids.last().copied()));
        for context in &mut contexts {
            if context.checked == state {
                continue;
            }
            context.checked = state;
            let Some(new) = self.context_result(context, out).await else { continue };
            if new == context.results {
                continue;
            }
            let Some(selected) = self.selected.as_ref() else { return };
            let number = |u: Uid| if context.uid { Some(u.0) } else { selected.seq_of(u) };
            let (old, now): (HashSet<Uid>, HashSet<Uid>) =
                (context.results.iter().copied().collect(), new.iter().copied().collect());
            let mut updates = Vec::new();
            let removed: Vec<u32> =
                context.results.iter().filter(|u| !now.contains(u)).filter_map(|&u| number(u)).collect();
            if let Some(set) = SequenceSet::from_numbers(removed) {
                updates.push(ContextUpdate::RemoveFrom(0, set));
            }
            let added: Vec<(u32, u32)> = new
                .iter()
                .enumerate()
                .filter(|(_, u)| !old.contains(u))
                .filter_map(|(i, &u)| Some((u32::try_from(i + 1).ok()?, number(u)?)))
                .collect();
            if context.sort.is_some() {
                for (position, numbers) in runs(&added) {
                    if let Some(set) = SequenceSet::from_numbers_in_order(numbers) {
                        updates.push(ContextUpdate::AddTo(position, set));
                    }
                }
            } else if let Some(set) = SequenceSet::from_numbers(added.iter().map(|a| a.1)) {
                updates.push(ContextUpdate::AddTo(0, set));
            }
            if !updates.is_empty() {
                update_data(&context.tag, context.uid, updates).encode(out, false);
            }
            context.results = new;
        }
        if let Some(selected) = self.selected.as_mut() {
            selected.contexts = contexts;
        }
    }

    /// A context's result now, in its order; `None` when it cannot be
    /// worked out (the store failed: the client keeps the last one).
    async fn context_result(&mut self, context: &UpdateContext, out: &mut Vec<u8>) -> Option<Vec<Uid>> {
        let tag = Tag::new(&context.tag).ok()?;
        let (messages, matched) = self.matching(&tag, context.charset.as_deref(), &context.criteria, out).await.ok()?;
        let ordered = match &context.sort {
            Some(criteria) => self.sorted(&tag, criteria, &messages, matched).await.ok()?,
            None => matched,
        };
        Some(ordered.iter().map(|&(_, i)| messages[i].uid).collect())
    }
}

/// `* ESEARCH (TAG "t") [UID] REMOVEFROM (...) ADDTO (...)`.
fn update_data(tag: &str, uid: bool, updates: Vec<ContextUpdate>) -> Data {
    Data::ESearch {
        tag: Tag::new(tag).ok(),
        uid,
        min: None,
        max: None,
        all: None,
        count: None,
        modseq: None,
        partial: None,
        updates,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_runs() {
        let numbers = [5, 3, 4, 2, 1];
        assert_eq!(window(&numbers, (2, 4)).collect::<Vec<_>>(), vec![3, 4, 2]);
        assert_eq!(window(&numbers, (1, 9)).collect::<Vec<_>>(), vec![5, 3, 4, 2, 1]);
        assert_eq!(window(&numbers, (6, 6)).count(), 0);
        assert_eq!(runs(&[(1, 7), (2, 9), (5, 3)]), vec![(1, vec![7, 9]), (5, vec![3])]);
    }
}
