//! LIST (RFC 9051 6.3.9), with LIST-EXTENDED (RFC 5258), LIST-STATUS
//! (RFC 5819) and the SPECIAL-USE options (RFC 6154).

use super::command::CommandWriter;
use super::parser::{PResult, Parser, syntax};
use super::status::{self, StatusItem};

/// A LIST command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCommand {
    /// Selection options (RFC 5258 3.1).
    pub selection: Vec<ListSelect>,
    /// The reference name, decoded; may be empty.
    pub reference: String,
    /// The patterns, decoded (several with RFC 5258); never empty.
    pub patterns: Vec<String>,
    /// Return options (RFC 5258 3.2, RFC 5819, RFC 6154).
    pub returns: Vec<ListReturn>,
}

/// A LIST selection option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListSelect {
    /// `SUBSCRIBED` (RFC 5258 3.1).
    Subscribed,
    /// `REMOTE` (RFC 5258 3.1).
    Remote,
    /// `RECURSIVEMATCH` (RFC 5258 3.1).
    RecursiveMatch,
    /// `SPECIAL-USE` (RFC 6154 3).
    SpecialUse,
}

/// A LIST return option.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListReturn {
    /// `SUBSCRIBED` (RFC 5258 3.2).
    Subscribed,
    /// `CHILDREN` (RFC 5258 3.2).
    Children,
    /// `SPECIAL-USE` (RFC 6154 3).
    SpecialUse,
    /// `STATUS (items)` (RFC 5819 2).
    Status(Vec<StatusItem>),
}

impl ListCommand {
    /// Whether this is an extended LIST (RFC 5258 3: selection options,
    /// several patterns or return options), whose answers may carry
    /// extended data items.
    pub fn is_extended(&self) -> bool {
        !self.selection.is_empty() || self.patterns.len() > 1 || !self.returns.is_empty()
    }

    /// ```abnf
    /// list            = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
    ///                   [SP list-return-opts]
    /// list-select-opts = "(" [
    ///                    (*(list-select-mod-opt SP) list-select-base-opt
    ///                    *(SP list-select-opt)) /
    ///                    (list-select-independent-opt
    ///                    *(SP list-select-independent-opt))
    ///                    ] ")"
    /// mbox-or-pat     = list-mailbox / patterns
    /// patterns        = "(" list-mailbox *(SP list-mailbox) ")"
    /// list-return-opts = "RETURN" SP "(" [return-option *(SP return-option)] ")"
    /// ```
    /// (RFC 5258 4.) Options are accepted in any order; unknown ones are
    /// refused (RFC 5258 3: the server MUST reject them with BAD).
    pub(crate) fn parse(p: &mut Parser<'_>) -> PResult<ListCommand> {
        p.sp()?;
        let selection = if p.peek() == Some(b'(') {
            let selection = p.list(select_opt)?;
            p.sp()?;
            selection
        } else {
            Vec::new()
        };
        // RFC 5258 3.1: RECURSIVEMATCH alone (or with REMOTE only) is BAD.
        if selection.contains(&ListSelect::RecursiveMatch)
            && !selection.iter().any(|s| matches!(s, ListSelect::Subscribed | ListSelect::SpecialUse))
        {
            return Err(syntax("RECURSIVEMATCH needs another selection option (RFC 5258 3.1)"));
        }
        let reference = p.mailbox_or_empty()?;
        p.sp()?;
        let patterns = if p.peek() == Some(b'(') { p.list1(|p| p.list_mailbox())? } else { vec![p.list_mailbox()?] };
        let mut returns = Vec::new();
        if p.peek() == Some(b' ') && !matches!(p.peek_at(1), None | Some(b'\r') | Some(b'\n')) {
            p.sp()?;
            if !p.keyword("RETURN") {
                return Err(syntax("expected RETURN"));
            }
            p.sp()?;
            returns = p.list(return_opt)?;
        }
        Ok(ListCommand { selection, reference, patterns, returns })
    }

    pub(crate) fn encode(&self, w: &mut CommandWriter) {
        if !self.selection.is_empty() {
            let names: Vec<&str> = self
                .selection
                .iter()
                .map(|s| match s {
                    ListSelect::Subscribed => "SUBSCRIBED",
                    ListSelect::Remote => "REMOTE",
                    ListSelect::RecursiveMatch => "RECURSIVEMATCH",
                    ListSelect::SpecialUse => "SPECIAL-USE",
                })
                .collect();
            w.raw(&format!(" ({})", names.join(" ")));
        }
        w.sp();
        w.mailbox_str(&self.reference);
        w.sp();
        if self.patterns.len() == 1 {
            w.list_mailbox(&self.patterns[0]);
        } else {
            w.raw("(");
            for (i, pattern) in self.patterns.iter().enumerate() {
                if i > 0 {
                    w.sp();
                }
                w.list_mailbox(pattern);
            }
            w.raw(")");
        }
        if !self.returns.is_empty() {
            w.raw(" RETURN (");
            for (i, r) in self.returns.iter().enumerate() {
                if i > 0 {
                    w.sp();
                }
                match r {
                    ListReturn::Subscribed => w.raw("SUBSCRIBED"),
                    ListReturn::Children => w.raw("CHILDREN"),
                    ListReturn::SpecialUse => w.raw("SPECIAL-USE"),
                    ListReturn::Status(items) => {
                        w.raw("STATUS ");
                        status::encode_list(&mut w.buf, items);
                    }
                }
            }
            w.raw(")");
        }
    }
}

/// ```abnf
/// list-select-base-opt = "SUBSCRIBED" / option-extension
/// list-select-independent-opt = "REMOTE" / option-extension
/// list-select-mod-opt = "RECURSIVEMATCH" / option-extension
/// list-select-independent-opt =/ "SPECIAL-USE"    ; RFC 6154 6
/// ```
fn select_opt(p: &mut Parser<'_>) -> PResult<ListSelect> {
    Ok(match p.atom()?.to_ascii_uppercase().as_str() {
        "SUBSCRIBED" => ListSelect::Subscribed,
        "REMOTE" => ListSelect::Remote,
        "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
        "SPECIAL-USE" => ListSelect::SpecialUse,
        _ => return Err(syntax("unknown LIST selection option")),
    })
}

/// ```abnf
/// return-option   = "SUBSCRIBED" / "CHILDREN" / return-option-extension
/// return-option   =/ "STATUS" SP "(" status-att *(SP status-att) ")"  ; RFC 5819
/// return-option   =/ "SPECIAL-USE"                                    ; RFC 6154
/// ```
fn return_opt(p: &mut Parser<'_>) -> PResult<ListReturn> {
    Ok(match p.atom()?.to_ascii_uppercase().as_str() {
        "SUBSCRIBED" => ListReturn::Subscribed,
        "CHILDREN" => ListReturn::Children,
        "SPECIAL-USE" => ListReturn::SpecialUse,
        "STATUS" => {
            p.sp()?;
            ListReturn::Status(status::status_att_list(p)?)
        }
        _ => return Err(syntax("unknown LIST return option")),
    })
}
