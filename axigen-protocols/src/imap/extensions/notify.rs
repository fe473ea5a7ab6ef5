//! NOTIFY (RFC 5465): which changes, in which mailboxes, the client wants
//! to hear about without asking.

use crate::imap::command::{CommandBody, CommandWriter};
use crate::imap::fetch::{FetchAttribute, encode_att, fetch_att};
use crate::imap::parser::{PResult, Parser, syntax};
use crate::imap::types::{Atom, MailboxName};

/// `NOTIFY SET ...`; NOTIFY NONE is no set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySet {
    /// `STATUS`: the current STATUS of the other mailboxes first.
    pub status: bool,
    /// The event groups, in order (never empty).
    pub groups: Vec<EventGroup>,
}

/// `"(" filter-mailboxes SP events ")"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    /// Which mailboxes.
    pub filter: Filter,
    /// What of them; empty is `NONE`.
    pub events: Vec<Event>,
}

/// `filter-mailboxes` (RFC 5465 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `SELECTED`: the selected mailbox, changes reported at once.
    Selected,
    /// `SELECTED-DELAYED`: the same, expunges only when allowed.
    SelectedDelayed,
    /// `INBOXES`: the mailboxes mail is delivered to.
    Inboxes,
    /// `PERSONAL`: every mailbox of the user's own.
    Personal,
    /// `SUBSCRIBED`.
    Subscribed,
    /// `SUBTREE`: these mailboxes and those below them.
    Subtree(Vec<MailboxName>),
    /// `MAILBOXES`: these mailboxes.
    Mailboxes(Vec<MailboxName>),
}

/// An `event` (RFC 5465 5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `MessageNew [(fetch-att ...)]`.
    MessageNew(Vec<FetchAttribute>),
    /// `MessageExpunge`.
    MessageExpunge,
    /// `FlagChange`.
    FlagChange,
    /// `AnnotationChange`.
    AnnotationChange,
    /// `MailboxName`.
    MailboxName,
    /// `SubscriptionChange`.
    SubscriptionChange,
    /// `MailboxMetadataChange`.
    MailboxMetadataChange,
    /// `ServerMetadataChange`.
    ServerMetadataChange,
    /// An event of another extension.
    Other(Atom),
}

impl Event {
    /// The event's name.
    pub fn name(&self) -> String {
        match self {
            Event::MessageNew(_) => "MessageNew".into(),
            Event::MessageExpunge => "MessageExpunge".into(),
            Event::FlagChange => "FlagChange".into(),
            Event::AnnotationChange => "AnnotationChange".into(),
            Event::MailboxName => "MailboxName".into(),
            Event::SubscriptionChange => "SubscriptionChange".into(),
            Event::MailboxMetadataChange => "MailboxMetadataChange".into(),
            Event::ServerMetadataChange => "ServerMetadataChange".into(),
            Event::Other(atom) => atom.as_str().to_owned(),
        }
    }
}

/// `one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"`.
fn mailboxes(p: &mut Parser<'_>) -> PResult<Vec<MailboxName>> {
    if p.peek() == Some(b'(') { p.list1(|p| p.mailbox()) } else { Ok(vec![p.mailbox()?]) }
}

fn event(p: &mut Parser<'_>) -> PResult<Event> {
    let name = p.atom()?;
    Ok(match name.to_ascii_lowercase().as_str() {
        "messagenew" => {
            let atts = if p.peek() == Some(b' ') && p.peek_at(1) == Some(b'(') {
                p.sp()?;
                p.list1(fetch_att)?
            } else {
                Vec::new()
            };
            Event::MessageNew(atts)
        }
        "messageexpunge" => Event::MessageExpunge,
        "flagchange" => Event::FlagChange,
        "annotationchange" => Event::AnnotationChange,
        "mailboxname" => Event::MailboxName,
        "subscriptionchange" => Event::SubscriptionChange,
        "mailboxmetadatachange" => Event::MailboxMetadataChange,
        "servermetadatachange" => Event::ServerMetadataChange,
        _ => Event::Other(Atom::new(name).map_err(|_| syntax("expected an event"))?),
    })
}

fn event_group(p: &mut Parser<'_>) -> PResult<EventGroup> {
    p.expect(b'(', "expected '(' opening an event group")?;
    let filter = match p.atom()?.to_ascii_uppercase().as_str() {
        "SELECTED" => Filter::Selected,
        "SELECTED-DELAYED" => Filter::SelectedDelayed,
        "INBOXES" => Filter::Inboxes,
        "PERSONAL" => Filter::Personal,
        "SUBSCRIBED" => Filter::Subscribed,
        "SUBTREE" => {
            p.sp()?;
            Filter::Subtree(mailboxes(p)?)
        }
        "MAILBOXES" => {
            p.sp()?;
            Filter::Mailboxes(mailboxes(p)?)
        }
        _ => return Err(syntax("unknown mailbox filter (RFC 5465 6)")),
    };
    p.sp()?;
    let events = if p.keyword("NONE") { Vec::new() } else { p.list1(event)? };
    p.expect(b')', "expected ')' closing the event group")?;
    Ok(EventGroup { filter, events })
}

/// ```abnf
/// notify          = "NOTIFY" SP (notify-set / notify-none)
/// notify-none     = "NONE"
/// notify-set      = "SET" [status-indicator] SP event-groups
/// status-indicator = SP "STATUS"
/// event-groups    = event-group *(SP event-group)
/// event-group     = "(" filter-mailboxes SP events ")"
/// events          = ( "(" event *(SP event) ")" ) / "NONE"
/// ```
/// (RFC 5465 8.) Parses what follows the command name.
pub(crate) fn parse(p: &mut Parser<'_>) -> PResult<CommandBody> {
    p.sp()?;
    if p.keyword("NONE") {
        return Ok(CommandBody::Notify(None));
    }
    if !p.keyword("SET") {
        return Err(syntax("expected SET or NONE"));
    }
    p.sp()?;
    let status = p.keyword("STATUS");
    if status {
        p.sp()?;
    }
    let mut groups = vec![event_group(p)?];
    while p.peek() == Some(b' ') && p.peek_at(1) == Some(b'(') {
        p.sp()?;
        groups.push(event_group(p)?);
    }
    Ok(CommandBody::Notify(Some(NotifySet { status, groups })))
}

pub(crate) fn encode(w: &mut CommandWriter, set: Option<&NotifySet>) {
    let Some(set) = set else {
        w.raw(" NONE");
        return;
    };
    w.raw(if set.status { " SET STATUS" } else { " SET" });
    for group in &set.groups {
        w.raw(" (");
        let names = |w: &mut CommandWriter, list: &[MailboxName]| {
            if let [one] = list {
                w.mailbox(one);
            } else {
                w.raw("(");
                for (i, m) in list.iter().enumerate() {
                    if i > 0 {
                        w.sp();
                    }
                    w.mailbox(m);
                }
                w.raw(")");
            }
        };
        match &group.filter {
            Filter::Selected => w.raw("SELECTED"),
            Filter::SelectedDelayed => w.raw("SELECTED-DELAYED"),
            Filter::Inboxes => w.raw("INBOXES"),
            Filter::Personal => w.raw("PERSONAL"),
            Filter::Subscribed => w.raw("SUBSCRIBED"),
            Filter::Subtree(list) => {
                w.raw("SUBTREE ");
                names(w, list);
            }
            Filter::Mailboxes(list) => {
                w.raw("MAILBOXES ");
                names(w, list);
            }
        }
        if group.events.is_empty() {
            w.raw(" NONE)");
            continue;
        }
        w.raw(" (");
        for (i, event) in group.events.iter().enumerate() {
            if i > 0 {
                w.sp();
            }
            w.raw(&event.name());
            if let Event::MessageNew(atts) = event
                && !atts.is_empty()
            {
                w.raw(" (");
                for (j, att) in atts.iter().enumerate() {
                    if j > 0 {
                        w.sp();
                    }
                    encode_att(w, att);
                }
                w.raw(")");
            }
        }
        w.raw("))");
    }
}
