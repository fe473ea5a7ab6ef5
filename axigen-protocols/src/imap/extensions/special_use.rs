//! SPECIAL-USE and CREATE-SPECIAL-USE (RFC 6154): the USE parameter of
//! CREATE. The LIST options live with LIST.

use crate::imap::command::CommandWriter;
use crate::imap::parser::{PResult, Parser, syntax};
use crate::imap::types::Atom;

/// ```abnf
/// create          = "CREATE" SP mailbox [create-params]          ; RFC 4466
/// create-params   = SP "(" create-param *( SP create-param) ")"
/// create-param    =/ "USE" SP "(" [use-attr *(SP use-attr)] ")"  ; RFC 6154
/// use-attr        = "\All" / "\Archive" / "\Drafts" / "\Flagged" /
///                   "\Junk" / "\Sent" / "\Trash" / use-attr-ext
/// use-attr-ext    = "\" atom
/// ```
/// Parses the optional parameters after the mailbox; returns the
/// attributes without their backslash.
pub(crate) fn parse_create_params(p: &mut Parser<'_>) -> PResult<Vec<Atom>> {
    let mut attrs = Vec::new();
    if !(p.peek() == Some(b' ') && p.peek_at(1) == Some(b'(')) {
        return Ok(attrs);
    }
    p.sp()?;
    p.list1(|p| {
        if !p.keyword("USE") {
            return Err(syntax("unknown CREATE parameter"));
        }
        p.sp()?;
        attrs.extend(p.list(|p| {
            p.expect(b'\\', "expected a special-use attribute")?;
            Atom::new(p.atom()?).map_err(|_| syntax("expected a special-use attribute"))
        })?);
        Ok(())
    })?;
    Ok(attrs)
}

pub(crate) fn encode_create_params(w: &mut CommandWriter, attrs: &[Atom]) {
    if attrs.is_empty() {
        return;
    }
    let attrs: Vec<String> = attrs.iter().map(|a| format!("\\{a}")).collect();
    w.raw(&format!(" (USE ({}))", attrs.join(" ")));
}
