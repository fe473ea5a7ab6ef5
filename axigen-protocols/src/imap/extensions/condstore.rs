//! CONDSTORE and QRESYNC (RFC 7162): the SELECT/EXAMINE parameters, the
//! CHANGEDSINCE and VANISHED FETCH modifiers and the UNCHANGEDSINCE STORE
//! modifier. The MODSEQ fetch item and search key live with FETCH and SEARCH.

use std::num::{NonZeroU32, NonZeroU64};

use crate::imap::command::CommandWriter;
use crate::imap::parser::{PResult, Parser, syntax};
use crate::imap::sequence::SequenceSet;

/// The parameters of SELECT and EXAMINE (RFC 4466 2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    /// `CONDSTORE` (RFC 7162 3.1.8).
    pub condstore: bool,
    /// `QRESYNC (...)` (RFC 7162 3.2.5).
    pub qresync: Option<QResync>,
}

/// `QRESYNC (uidvalidity modseq [known-uids] [(seqs uids)])` (RFC 7162 3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    /// The UIDVALIDITY the client last knew.
    pub uid_validity: NonZeroU32,
    /// The HIGHESTMODSEQ the client last knew.
    pub modseq: NonZeroU64,
    /// The UIDs the client knows (no `*`).
    pub known_uids: Option<SequenceSet>,
    /// `seq-match-data`: message numbers and the UIDs they map to.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// ```abnf
/// select-params   = SP "(" select-param *(SP select-param) ")"  ; RFC 4466
/// select-param    =/ condstore-param                            ; RFC 7162
/// condstore-param = "CONDSTORE"
/// select-param    =/ "QRESYNC" SP "(" uidvalidity SP
///                    mod-sequence-value [SP known-uids]
///                    [SP seq-match-data] ")"
/// seq-match-data  = "(" known-sequence-set SP known-uid-set ")"
/// ```
/// Parses the optional `select-params` after the mailbox.
pub(crate) fn parse_select_params(p: &mut Parser<'_>) -> PResult<SelectParams> {
    let mut params = SelectParams::default();
    if !(p.peek() == Some(b' ') && p.peek_at(1) == Some(b'(')) {
        return Ok(params);
    }
    p.sp()?;
    p.list(|p| {
        if p.keyword("CONDSTORE") {
            params.condstore = true;
        } else if p.keyword("QRESYNC") {
            p.sp()?;
            params.qresync = Some(qresync(p)?);
        } else {
            return Err(syntax("unknown SELECT parameter"));
        }
        Ok(())
    })?;
    Ok(params)
}

fn qresync(p: &mut Parser<'_>) -> PResult<QResync> {
    p.expect(b'(', "expected '(' after QRESYNC")?;
    let uid_validity = p.nz_number()?;
    p.sp()?;
    let modseq = p.mod_sequence_value()?;
    let mut known_uids = None;
    let mut seq_match = None;
    if p.eat(b' ') && p.peek() != Some(b'(') {
        // RFC 7162 3.2.5.2: known-uids, "*" is not allowed.
        known_uids = Some(p.known_set()?);
        p.eat(b' ');
    }
    if p.eat(b'(') {
        let seqs = p.known_set()?;
        p.sp()?;
        let uids = p.known_set()?;
        p.expect(b')', "expected ')' closing seq-match-data")?;
        seq_match = Some((seqs, uids));
    }
    p.expect(b')', "expected ')' closing QRESYNC")?;
    Ok(QResync { uid_validity, modseq, known_uids, seq_match })
}

impl SelectParams {
    pub(crate) fn encode(&self, w: &mut CommandWriter) {
        let mut parts = Vec::new();
        if self.condstore {
            parts.push("CONDSTORE".to_owned());
        }
        if let Some(q) = &self.qresync {
            let mut s = format!("QRESYNC ({} {}", q.uid_validity, q.modseq);
            if let Some(k) = &q.known_uids {
                s.push_str(&format!(" {k}"));
            }
            if let Some((seqs, uids)) = &q.seq_match {
                s.push_str(&format!(" ({seqs} {uids})"));
            }
            s.push(')');
            parts.push(s);
        }
        if !parts.is_empty() {
            w.raw(&format!(" ({})", parts.join(" ")));
        }
    }
}

/// ```abnf
/// fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"  ; RFC 4466
/// fetch-modifier  =/ chgsince-fetch-mod / rexpunges-fetch-mod       ; RFC 7162
/// chgsince-fetch-mod = "CHANGEDSINCE" SP mod-sequence-value
/// rexpunges-fetch-mod = "VANISHED"
/// ```
/// Parses the optional modifiers after the fetch items; returns
/// CHANGEDSINCE and whether VANISHED was given.
pub(crate) fn parse_fetch_modifiers(p: &mut Parser<'_>) -> PResult<(Option<NonZeroU64>, bool)> {
    let (mut changed_since, mut vanished) = (None, false);
    if !(p.peek() == Some(b' ') && p.peek_at(1) == Some(b'(')) {
        return Ok((changed_since, vanished));
    }
    p.sp()?;
    p.list1(|p| {
        if p.keyword("CHANGEDSINCE") {
            p.sp()?;
            changed_since = Some(p.mod_sequence_value()?);
        } else if p.keyword("VANISHED") {
            vanished = true;
        } else {
            return Err(syntax("unknown FETCH modifier"));
        }
        Ok(())
    })?;
    Ok((changed_since, vanished))
}

pub(crate) fn encode_fetch_modifiers(w: &mut CommandWriter, changed_since: Option<NonZeroU64>, vanished: bool) {
    match (changed_since, vanished) {
        (Some(n), true) => w.raw(&format!(" (CHANGEDSINCE {n} VANISHED)")),
        (Some(n), false) => w.raw(&format!(" (CHANGEDSINCE {n})")),
        (None, true) => w.raw(" (VANISHED)"),
        (None, false) => {}
    }
}

/// ```abnf
/// store-modifiers = SP "(" store-modifier *(SP store-modifier) ")"  ; RFC 4466
/// store-modifier  =/ "UNCHANGEDSINCE" SP mod-sequence-valzer        ; RFC 7162
/// ```
/// Parses the list (the caller consumed the SP before it).
pub(crate) fn parse_store_modifiers(p: &mut Parser<'_>) -> PResult<Option<u64>> {
    let mut unchanged_since = None;
    p.list1(|p| {
        if p.keyword("UNCHANGEDSINCE") {
            p.sp()?;
            unchanged_since = Some(p.number64()?);
            Ok(())
        } else {
            Err(syntax("unknown STORE modifier"))
        }
    })?;
    Ok(unchanged_since)
}

pub(crate) fn encode_store_modifiers(w: &mut CommandWriter, unchanged_since: Option<u64>) {
    if let Some(n) = unchanged_since {
        w.raw(&format!(" (UNCHANGEDSINCE {n})"));
    }
}
