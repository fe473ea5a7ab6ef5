//! STORE and UID STORE (RFC 9051 6.4.6), with the UNCHANGEDSINCE modifier
//! of CONDSTORE (RFC 7162 3.1.3).

use super::command::CommandWriter;
use super::encode;
use super::extensions::condstore;
use super::parser::{PResult, Parser, syntax};
use super::sequence::SequenceSet;
use super::types::Flag;

/// How STORE changes flags (RFC 9051 6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreAction {
    /// `FLAGS`: replace.
    Replace,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// STORE / UID STORE (RFC 9051 6.4.6, RFC 7162 3.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreCommand {
    /// UID STORE.
    pub uid: bool,
    /// The messages.
    pub set: SequenceSet,
    /// `(UNCHANGEDSINCE n)`: store only where the mod-sequence is at most n.
    pub unchanged_since: Option<u64>,
    /// Replace, add or remove.
    pub action: StoreAction,
    /// `.SILENT`: no untagged FETCH with the new flags.
    pub silent: bool,
    /// The flags.
    pub flags: Vec<Flag>,
}

impl StoreCommand {
    /// ```abnf
    /// store           = "STORE" SP sequence-set [store-modifiers] SP
    ///                   store-att-flags                          ; RFC 4466 2.5
    /// store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP
    ///                   (flag-list / (flag *(SP flag)))
    /// ```
    pub(crate) fn parse(p: &mut Parser<'_>, uid: bool) -> PResult<StoreCommand> {
        p.sp()?;
        let set = p.sequence_set()?;
        p.sp()?;
        let unchanged_since = if p.peek() == Some(b'(') {
            let u = condstore::parse_store_modifiers(p)?;
            p.sp()?;
            u
        } else {
            None
        };
        let action = if p.eat(b'+') {
            StoreAction::Add
        } else if p.eat(b'-') {
            StoreAction::Remove
        } else {
            StoreAction::Replace
        };
        let silent = match p.word().to_ascii_uppercase().as_str() {
            "FLAGS" => false,
            "FLAGS.SILENT" => true,
            _ => return Err(syntax("expected FLAGS, +FLAGS or -FLAGS")),
        };
        p.sp()?;
        let flags = if p.peek() == Some(b'(') {
            p.flag_list()?
        } else {
            let mut flags = vec![p.flag()?];
            while p.peek() == Some(b' ') && !matches!(p.peek_at(1), None | Some(b'\r') | Some(b'\n')) {
                p.sp()?;
                flags.push(p.flag()?);
            }
            flags
        };
        Ok(StoreCommand { uid, set, unchanged_since, action, silent, flags })
    }

    pub(crate) fn encode(&self, w: &mut CommandWriter) {
        let store = self;
        w.raw(&format!(" {}", store.set));
        condstore::encode_store_modifiers(w, store.unchanged_since);
        let sign = match store.action {
            StoreAction::Replace => "",
            StoreAction::Add => "+",
            StoreAction::Remove => "-",
        };
        w.raw(&format!(" {sign}FLAGS{} ", if store.silent { ".SILENT" } else { "" }));
        encode::flag_list(&mut w.buf, &store.flags);
    }
}
