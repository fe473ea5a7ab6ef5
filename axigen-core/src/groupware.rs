//! Groupware items: the iCalendar objects (RFC 5545) of calendar, task and
//! notes folders and the vCards (RFC 6350 4.0, RFC 2426 3.0) of contacts
//! folders, as the store keeps them: the client's bytes, unchanged, and an
//! [`ItemIndex`] worked out from them once, so that CalDAV, CardDAV and
//! ActiveSync answer "which items, in which time range" from the index
//! instead of parsing every object.
//!
//! Parsing is `calcard`'s (Apache-2.0 OR MIT): it keeps properties and
//! components it does not know, unfolds lines, reads vCard 2.1, 3.0 and
//! 4.0, resolves TZIDs (IANA, Windows and Outlook names) and expands
//! recurrences (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides) with
//! `chrono-tz`. The `ical` crate of the first design card was tried and
//! set aside: it panicked while writing an empty parameter, rewrote quoted
//! parameters wrongly and refused components it did not know. calcard's
//! lenient parser closes what a truncated object leaves open, so the
//! BEGIN/END structure is checked here first: a malformed object is an
//! error, never half an item.

use std::panic::AssertUnwindSafe;

use calcard::icalendar::{ICalendar, ICalendarComponentType, ICalendarProperty, ICalendarValue};
use calcard::vcard::VCard;

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ItemKind {
    /// VEVENT.
    Event,
    /// VTODO.
    Todo,
    /// VJOURNAL (notes).
    Journal,
    /// A vCard.
    Card,
}

/// What the store keeps about an item besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ItemIndex {
    /// The UID every component of the object shares (CalDAV and CardDAV
    /// allow one per resource).
    pub uid: String,
    /// The kind.
    pub kind: ItemKind,
    /// The earliest instant any occurrence covers, unix seconds UTC;
    /// `None` for an item without dates (a contact, a note or task without
    /// any).
    pub start: Option<i64>,
    /// The latest instant any occurrence covers; `None` with a `start` is
    /// an open-ended series (an RRULE without COUNT or UNTIL).
    pub end: Option<i64>,
    /// Whether the item repeats (RRULE or RDATE).
    pub recurring: bool,
}

impl ItemIndex {
    /// Whether some occurrence of the item overlaps `[from, to)` (a CalDAV
    /// time-range, RFC 4791 9.9), judged from the index alone: the item's
    /// whole span, so a series may match with no occurrence in the range
    /// (the caller expands those that do to be exact).
    pub fn may_overlap(&self, from: i64, to: i64) -> bool {
        match (self.start, self.end) {
            (None, _) => false,
            (Some(start), None) => start < to,
            (Some(start), Some(end)) => start < to && end.max(start + 1) > from,
        }
    }
}

/// Why bytes are not an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemError {
    /// Not UTF-8.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// Larger than the limit.
    #[error("larger than {0} octets")]
    TooLarge(usize),
    /// BEGIN and END lines do not pair up, nest too deeply, or the object
    /// is not one VCALENDAR / VCARD.
    #[error("malformed structure: {0}")]
    Structure(String),
    /// The parser refused a line or value.
    #[error("cannot parse: {0}")]
    Parse(String),
    /// No VEVENT, VTODO or VJOURNAL.
    #[error("no event, task or journal entry")]
    NoComponent,
    /// Components of different kinds in one object.
    #[error("components of more than one kind")]
    MixedComponents,
    /// A component without UID.
    #[error("missing UID")]
    NoUid,
    /// Components with different UIDs.
    #[error("more than one UID")]
    MixedUids,
    /// An object of a kind the folder does not hold (a task in a contacts
    /// folder, an event in a task list).
    #[error("not a kind of item this folder holds")]
    WrongKind,
}

/// The largest item accepted (CalDAV `max-resource-size`).
pub const MAX_ITEM_BYTES: usize = 2 << 20;
/// Deepest BEGIN nesting (VCALENDAR > VEVENT > VALARM needs 3).
const MAX_DEPTH: usize = 8;
/// Occurrences expanded to find a bounded series' end; past them the
/// series is indexed as open-ended, which only widens what a range query
/// considers.
const EXPAND_LIMIT: usize = 5000;

/// Checks the BEGIN/END structure over unfolded lines: one `outer` object,
/// properly nested, nothing after it but blank lines.
fn check_structure(text: &str, outer: &str) -> Result<(), ItemError> {
    let mut stack: Vec<String> = Vec::new();
    let mut closed = false;
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if closed {
            return Err(ItemError::Structure(format!("content after END:{outer}")));
        }
        let upper = |s: &str| s.trim().to_ascii_uppercase();
        if let Some(name) = line.get(..6).filter(|p| p.eq_ignore_ascii_case("BEGIN:")).map(|_| upper(&line[6..])) {
            if stack.is_empty() && name != outer {
                return Err(ItemError::Structure(format!("expected BEGIN:{outer}")));
            }
            if stack.len() >= MAX_DEPTH {
                return Err(ItemError::Structure("components nested too deeply".into()));
            }
            stack.push(name);
        } else if let Some(name) = line.get(..4).filter(|p| p.eq_ignore_ascii_case("END:")).map(|_| upper(&line[4..])) {
            match stack.pop() {
                Some(open) if open == name => closed = stack.is_empty(),
                Some(open) => return Err(ItemError::Structure(format!("END:{name} closes BEGIN:{open}"))),
                None => return Err(ItemError::Structure(format!("END:{name} without BEGIN"))),
            }
        } else if stack.is_empty() {
            return Err(ItemError::Structure(format!("expected BEGIN:{outer}")));
        }
    }
    if !closed {
        return Err(ItemError::Structure(format!("no END:{outer}")));
    }
    Ok(())
}

fn text_of(bytes: &[u8]) -> Result<&str, ItemError> {
    if bytes.len() > MAX_ITEM_BYTES {
        return Err(ItemError::TooLarge(MAX_ITEM_BYTES));
    }
    std::str::from_utf8(bytes).map_err(|_| ItemError::NotUtf8)
}

/// The index of an iCalendar object (a CalDAV calendar object resource):
/// one or more components of one kind sharing one UID (a series and its
/// overrides), with VTIMEZONEs.
pub fn index_calendar(bytes: &[u8]) -> Result<ItemIndex, ItemError> {
    let text = text_of(bytes)?;
    check_structure(text, "VCALENDAR")?;
    // The parser is third-party code fed client bytes: a panic in it is a
    // refused item, not a dead session.
    let calendar = std::panic::catch_unwind(AssertUnwindSafe(|| ICalendar::parse(text)))
        .map_err(|_| ItemError::Parse("the parser failed on this object".into()))?
        .map_err(|e| ItemError::Parse(format!("{e:?}")))?;
    let mut kind = None;
    let mut uid: Option<&str> = None;
    let (mut recurring, mut open_ended) = (false, false);
    for component in &calendar.components {
        let this = match component.component_type {
            ICalendarComponentType::VEvent => ItemKind::Event,
            ICalendarComponentType::VTodo => ItemKind::Todo,
            ICalendarComponentType::VJournal => ItemKind::Journal,
            _ => continue,
        };
        if kind.is_some_and(|k| k != this) {
            return Err(ItemError::MixedComponents);
        }
        kind = Some(this);
        let this_uid = component.uid().filter(|u| !u.trim().is_empty()).ok_or(ItemError::NoUid)?;
        if uid.is_some_and(|u| u != this_uid) {
            return Err(ItemError::MixedUids);
        }
        uid = Some(this_uid);
        for entry in &component.entries {
            match entry.name {
                ICalendarProperty::Rdate => recurring = true,
                ICalendarProperty::Rrule => {
                    recurring = true;
                    if entry.values.iter().any(|v| {
                        matches!(v, ICalendarValue::RecurrenceRule(rule) if rule.count.is_none() && rule.until.is_none())
                    }) {
                        open_ended = true;
                    }
                }
                _ => {}
            }
        }
    }
    let (Some(kind), Some(uid)) = (kind, uid) else { return Err(ItemError::NoComponent) };
    // calcard pairs an override with its series only when their SEQUENCE
    // values are equal; RFC 5545 pairs them by RECURRENCE-ID alone.
    let has = |p: ICalendarProperty| calendar.components.iter().any(|c| c.property(&p).is_some());
    let unsequenced = (has(ICalendarProperty::RecurrenceId) && has(ICalendarProperty::Sequence)).then(|| {
        let mut copy = calendar.clone();
        for comp in &mut copy.components {
            comp.entries.retain(|e| e.name != ICalendarProperty::Sequence);
        }
        copy
    });
    let source = unsequenced.as_ref().unwrap_or(&calendar);
    let expanded = std::panic::catch_unwind(AssertUnwindSafe(|| source.expand_dates(chrono_tz::Tz::UTC, EXPAND_LIMIT)))
        .map_err(|_| ItemError::Parse("cannot expand the recurrence".into()))?;
    let (mut start, mut end): (Option<i64>, Option<i64>) = (None, None);
    for event in &expanded.events {
        let from = event.start.timestamp();
        let to = match &event.end {
            calcard::icalendar::dates::TimeOrDelta::Time(t) => t.timestamp(),
            calcard::icalendar::dates::TimeOrDelta::Delta(d) => from.saturating_add(d.num_seconds()),
        }
        // An end before the start (DTEND < DTSTART, a negative DURATION)
        // is an instant, as RFC 4791 9.9 reads it.
        .max(from);
        start = Some(start.map_or(from, |s| s.min(from)));
        end = Some(end.map_or(to, |e| e.max(to)));
    }
    if expanded.events.len() >= EXPAND_LIMIT {
        open_ended = true;
    }
    Ok(ItemIndex { uid: uid.to_owned(), kind, start, end: if open_ended { None } else { end }, recurring })
}

/// The index of a vCard (a CardDAV address object resource).
pub fn index_card(bytes: &[u8]) -> Result<ItemIndex, ItemError> {
    let text = text_of(bytes)?;
    check_structure(text, "VCARD")?;
    let card = std::panic::catch_unwind(AssertUnwindSafe(|| VCard::parse(text)))
        .map_err(|_| ItemError::Parse("the parser failed on this card".into()))?
        .map_err(|e| ItemError::Parse(format!("{e:?}")))?;
    let uid = card.uid().map(str::trim).filter(|u| !u.is_empty()).ok_or(ItemError::NoUid)?;
    Ok(ItemIndex { uid: uid.to_owned(), kind: ItemKind::Card, start: None, end: None, recurring: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(body: &str) -> String {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n")
    }

    const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n\
BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n\
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n";

    #[test]
    fn a_single_event_in_a_time_zone() {
        let text = cal(&format!(
            "{BERLIN}BEGIN:VEVENT\r\nUID:ev-1@example.org\r\nDTSTAMP:20240101T000000Z\r\n\
DTSTART;TZID=Europe/Berlin:20240115T100000\r\nDTEND;TZID=Europe/Berlin:20240115T113000\r\n\
SUMMARY:Planning\r\nX-UNKNOWN;X-P=\"a:b\":kept\r\nEND:VEVENT\r\n"
        ));
        let index = index_calendar(text.as_bytes()).unwrap();
        assert_eq!(index.uid, "ev-1@example.org");
        assert_eq!(index.kind, ItemKind::Event);
        // 10:00 in Berlin in January is 09:00 UTC.
        assert_eq!(index.start, Some(1_705_309_200));
        assert_eq!(index.end, Some(1_705_309_200 + 5400));
        assert!(!index.recurring);
        assert!(index.may_overlap(1_705_309_200, 1_705_309_201));
        assert!(!index.may_overlap(1_705_309_200 + 5400, 1_705_400_000));
    }

    #[test]
    fn series_bounded_open_and_overridden() {
        // Three weekly occurrences, the last moved a day later.
        let bounded = cal("BEGIN:VEVENT\r\nUID:s1\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\n\
DURATION:PT1H\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:s1\r\n\
DTSTAMP:20240101T000000Z\r\nRECURRENCE-ID:20240115T100000Z\r\nDTSTART:20240116T100000Z\r\n\
DURATION:PT1H\r\nEND:VEVENT\r\n");
        let index = index_calendar(bounded.as_bytes()).unwrap();
        assert!(index.recurring);
        assert_eq!(index.start, Some(1_704_103_200));
        // 16 Jan 2024 11:00 UTC: the moved occurrence ends the series.
        assert_eq!(index.end, Some(1_705_402_800));
        // The last occurrence moved earlier by an override of a lower
        // SEQUENCE than the series': the series ends with the override.
        let bumped = cal("BEGIN:VEVENT\r\nUID:s3\r\nSEQUENCE:2\r\nDTSTART:20240101T100000Z\r\nDURATION:PT1H\r\n\
RRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:s3\r\nSEQUENCE:1\r\n\
RECURRENCE-ID:20240115T100000Z\r\nDTSTART:20240114T100000Z\r\nDURATION:PT1H\r\nEND:VEVENT\r\n");
        assert_eq!(index_calendar(bumped.as_bytes()).unwrap().end, Some(1_705_230_000));
        let open = cal("BEGIN:VEVENT\r\nUID:s2\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240101T100000Z\r\n\
RRULE:FREQ=DAILY\r\nEND:VEVENT\r\n");
        let index = index_calendar(open.as_bytes()).unwrap();
        assert_eq!((index.start, index.end), (Some(1_704_103_200), None));
        assert!(index.may_overlap(2_000_000_000, 2_000_003_600));
        // An end before the start is an instant at the start.
        let backwards =
            cal("BEGIN:VEVENT\r\nUID:b\r\nDTSTART:20240109T000000Z\r\nDTEND:20240101T110000Z\r\nEND:VEVENT\r\n");
        let index = index_calendar(backwards.as_bytes()).unwrap();
        assert_eq!(index.start, index.end);
    }

    #[test]
    fn tasks_and_journal_entries() {
        let todo = cal("BEGIN:VTODO\r\nUID:t1\r\nDTSTAMP:20240101T000000Z\r\nSUMMARY:Call\r\nEND:VTODO\r\n");
        let index = index_calendar(todo.as_bytes()).unwrap();
        assert_eq!((index.kind, index.uid.as_str()), (ItemKind::Todo, "t1"));
        let note = cal("BEGIN:VJOURNAL\r\nUID:j1\r\nDTSTAMP:20240101T000000Z\r\nDESCRIPTION:x\r\nEND:VJOURNAL\r\n");
        assert_eq!(index_calendar(note.as_bytes()).unwrap().kind, ItemKind::Journal);
    }

    #[test]
    fn malformed_objects_are_errors() {
        let event = "BEGIN:VEVENT\r\nUID:a\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\n";
        type Expected = fn(&ItemError) -> bool;
        let cases: Vec<(String, Expected)> = vec![
            (format!("BEGIN:VCALENDAR\r\n{event}"), |e| matches!(e, ItemError::Structure(_))),
            ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:a\r\nEND:VCALENDAR\r\nEND:VEVENT\r\n".into(), |e| {
                matches!(e, ItemError::Structure(_))
            }),
            (format!("{}BEGIN:VCALENDAR\r\n", cal(event)), |e| matches!(e, ItemError::Structure(_))),
            (cal(""), |e| *e == ItemError::NoComponent),
            (cal("BEGIN:VEVENT\r\nDTSTART:20240101T100000Z\r\nEND:VEVENT\r\n"), |e| *e == ItemError::NoUid),
            (cal(&format!("{event}BEGIN:VEVENT\r\nUID:b\r\nEND:VEVENT\r\n")), |e| *e == ItemError::MixedUids),
            (cal(&format!("{event}BEGIN:VTODO\r\nUID:a\r\nEND:VTODO\r\n")), |e| *e == ItemError::MixedComponents),
            ("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nUID:c\r\nEND:VCARD\r\n".into(), |e| {
                matches!(e, ItemError::Structure(_))
            }),
        ];
        for (text, expected) in cases {
            let err = index_calendar(text.as_bytes()).unwrap_err();
            assert!(expected(&err), "{text:?}: {err:?}");
        }
        assert_eq!(index_calendar(b"BEGIN:VCALENDAR\r\n\xff\r\n"), Err(ItemError::NotUtf8));
        let deep = format!("BEGIN:VCALENDAR\r\n{}", "BEGIN:X\r\n".repeat(20));
        assert!(matches!(index_calendar(deep.as_bytes()), Err(ItemError::Structure(_))));
        assert!(matches!(index_calendar(&vec![b'a'; MAX_ITEM_BYTES + 1]), Err(ItemError::TooLarge(_))));
    }

    #[test]
    fn cards_of_both_versions() {
        let v3 = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Doe\r\nN:Doe;Jane;;;\r\nUID:urn:uuid:1\r\nEND:VCARD\r\n";
        let index = index_card(v3.as_bytes()).unwrap();
        assert_eq!((index.kind, index.uid.as_str()), (ItemKind::Card, "urn:uuid:1"));
        let v4 =
            "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Bob\r\nUID:bob-4\r\nEMAIL;TYPE=work:bob@example.org\r\nEND:VCARD\r\n";
        assert_eq!(index_card(v4.as_bytes()).unwrap().uid, "bob-4");
        assert_eq!(index_card(b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nEND:VCARD\r\n"), Err(ItemError::NoUid));
        assert!(matches!(index_card(b"BEGIN:VCARD\r\nFN:x\r\n"), Err(ItemError::Structure(_))));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_an_answer_not_a_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            let _ = index_calendar(&bytes);
            let _ = index_card(&bytes);
        }

        #[test]
        fn mangled_calendars_give_an_answer(cut in 0usize..200, junk in "[A-Z:;=\\r\\n ]{0,20}") {
            let text = cal("BEGIN:VEVENT\r\nUID:p\r\nDTSTART;TZID=Europe/Paris:20240101T100000\r\nRRULE:FREQ=DAILY;COUNT=5\r\nEND:VEVENT\r\n");
            let mut bytes = text.into_bytes();
            let at = cut.min(bytes.len());
            bytes.splice(at..at, junk.into_bytes());
            let _ = index_calendar(&bytes);
        }
    }
}
