//! ID (RFC 2971): the client's name and version, for logs.

use crate::imap::command::{CommandBody, CommandWriter};
use crate::imap::parser::{PResult, Parser};

/// The field/value pairs of ID, as sent; `None` values were NIL.
pub type IdParams = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// ```abnf
/// id              = "ID" SP id-params-list
/// id-params-list  = "(" *(string SP nstring) ")" / nil
/// ```
/// (RFC 2971 4; the pairs are separated by SP.) RFC 2971 3.3 limits fields
/// to 30 octets, values to 1024 and pairs to 30; they are accepted up to
/// the line length limit and the session may truncate what it logs.
pub(crate) fn parse(p: &mut Parser<'_>) -> PResult<CommandBody> {
    p.sp()?;
    if p.keyword("NIL") {
        return Ok(CommandBody::Id(None));
    }
    let mut pairs = Vec::new();
    p.list(|p| {
        let field = p.string()?.into_owned();
        p.sp()?;
        let value = p.nstring()?.map(|v| v.into_owned());
        pairs.push((field, value));
        Ok(())
    })?;
    Ok(CommandBody::Id(Some(pairs)))
}

pub(crate) fn encode(w: &mut CommandWriter, params: Option<&IdParams>) {
    w.sp();
    let Some(params) = params else {
        w.raw("NIL");
        return;
    };
    w.raw("(");
    for (i, (field, value)) in params.iter().enumerate() {
        if i > 0 {
            w.sp();
        }
        w.string(field);
        w.sp();
        w.nstring(value.as_deref());
    }
    w.raw(")");
}
