//! The iCalendar and vCard path every groupware item takes before it is
//! stored (structure check, calcard's parser, recurrence expansion): never
//! panics, and an index it gives is consistent (a span never ends before
//! it starts, a card has no dates).
#![no_main]

use axigen_core::groupware::{ItemKind, index_calendar, index_card};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = index_calendar(data) {
        assert!(!index.uid.is_empty());
        assert_ne!(index.kind, ItemKind::Card);
        if let (Some(start), Some(end)) = (index.start, index.end) {
            assert!(end >= start, "span {start}..{end}");
        }
    }
    if let Ok(index) = index_card(data) {
        assert_eq!((index.kind, index.start, index.end), (ItemKind::Card, None, None));
    }
});
