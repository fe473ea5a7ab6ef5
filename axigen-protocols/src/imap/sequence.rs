//! Sequence sets (RFC 3501 9 `sequence-set`, RFC 9051 9), with the `$`
//! of SEARCHRES (RFC 5182 2.1) and the compression used for VANISHED
//! (RFC 7162 3.2.10) and COPYUID/APPENDUID (RFC 4315 3).

use std::fmt;
use std::num::NonZeroU32;

use super::types::InvalidValue;

/// `seq-number = nz-number / "*"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNumber {
    /// A message sequence number or UID.
    Value(NonZeroU32),
    /// `*`: the largest number in use (RFC 3501 9 `seq-number`).
    Largest,
}

impl SeqNumber {
    /// The number, with `*` standing for `largest`.
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNumber::Value(n) => n.get(),
            SeqNumber::Largest => largest,
        }
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNumber::Value(n) => write!(f, "{n}"),
            SeqNumber::Largest => f.write_str("*"),
        }
    }
}

/// One element of a set: `seq-number / seq-range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqRange {
    /// A single number.
    Single(SeqNumber),
    /// `seq-number ":" seq-number`, in either order (RFC 3501 9: "2:4 and
    /// 4:2 are equivalent").
    Range(SeqNumber, SeqNumber),
}

impl SeqRange {
    /// The inclusive bounds, lowest first, `*` standing for `largest`.
    pub fn bounds(self, largest: u32) -> (u32, u32) {
        let (a, b) = match self {
            SeqRange::Single(n) => (n, n),
            SeqRange::Range(a, b) => (a, b),
        };
        let (a, b) = (a.resolve(largest), b.resolve(largest));
        (a.min(b), a.max(b))
    }

    fn uses_largest(self) -> bool {
        match self {
            SeqRange::Single(n) => n == SeqNumber::Largest,
            SeqRange::Range(a, b) => a == SeqNumber::Largest || b == SeqNumber::Largest,
        }
    }
}

impl fmt::Display for SeqRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqRange::Single(n) => write!(f, "{n}"),
            SeqRange::Range(a, b) => write!(f, "{a}:{b}"),
        }
    }
}

/// A non-empty sequence set, or the saved search result `$` (RFC 5182).
///
/// ```
/// use axigen_protocols::imap::SequenceSet;
/// let set = SequenceSet::parse("2,4:7,9,12:*").unwrap();
/// assert!(set.contains(13, 15));
/// assert!(!set.contains(8, 15));
/// assert_eq!(SequenceSet::from_numbers([5, 1, 2, 3]).unwrap().to_string(), "1:3,5");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceSet {
    ranges: Vec<SeqRange>,
}

impl SequenceSet {
    /// `$`: the result saved by `SEARCH RETURN (SAVE)` (RFC 5182 2.1).
    pub fn saved() -> SequenceSet {
        SequenceSet { ranges: Vec::new() }
    }

    /// A set of the given elements; `None` when there are none.
    pub fn from_ranges(ranges: Vec<SeqRange>) -> Option<SequenceSet> {
        if ranges.is_empty() { None } else { Some(SequenceSet { ranges }) }
    }

    /// A single number.
    pub fn single(n: NonZeroU32) -> SequenceSet {
        SequenceSet { ranges: vec![SeqRange::Single(SeqNumber::Value(n))] }
    }

    /// Parses `sequence-set` (RFC 3501 9), or `$` alone (RFC 5182 2.1).
    ///
    /// ```abnf
    /// sequence-set    = (seq-number / seq-range) *("," sequence-set)
    /// seq-range       = seq-number ":" seq-number
    /// seq-number      = nz-number / "*"
    /// sequence-set    =/ seq-last-command     ; RFC 5182
    /// seq-last-command = "$"
    /// ```
    ///
    /// `$` is accepted only as the whole set.
    pub fn parse(s: &str) -> Result<SequenceSet, InvalidValue> {
        if s == "$" {
            return Ok(SequenceSet::saved());
        }
        let mut ranges = Vec::new();
        for part in s.split(',') {
            let range = match part.split_once(':') {
                Some((a, b)) => SeqRange::Range(seq_number(a)?, seq_number(b)?),
                None => SeqRange::Single(seq_number(part)?),
            };
            ranges.push(range);
        }
        Ok(SequenceSet { ranges })
    }

    /// The compressed set of the given numbers, sorted and deduplicated
    /// (`[5, 1, 2, 3]` gives `1:3,5`); zeros are ignored; `None` when empty.
    pub fn from_numbers(numbers: impl IntoIterator<Item = u32>) -> Option<SequenceSet> {
        let mut numbers: Vec<u32> = numbers.into_iter().filter(|&n| n != 0).collect();
        numbers.sort_unstable();
        numbers.dedup();
        SequenceSet::from_numbers_in_order(numbers)
    }

    /// The compressed set of the given numbers in the order given: only runs
    /// of consecutive ascending numbers are merged. COPYUID needs this: its
    /// source and destination sets correspond element by element (RFC 4315 3).
    pub fn from_numbers_in_order(numbers: impl IntoIterator<Item = u32>) -> Option<SequenceSet> {
        let mut ranges: Vec<(u32, u32)> = Vec::new();
        for n in numbers.into_iter().filter(|&n| n != 0) {
            match ranges.last_mut() {
                Some((_, end)) if end.checked_add(1) == Some(n) => *end = n,
                _ => ranges.push((n, n)),
            }
        }
        let value = |n: u32| SeqNumber::Value(NonZeroU32::new(n).expect("zeros filtered"));
        let ranges = ranges
            .into_iter()
            .map(|(a, b)| if a == b { SeqRange::Single(value(a)) } else { SeqRange::Range(value(a), value(b)) })
            .collect();
        SequenceSet::from_ranges(ranges)
    }

    /// Whether this is `$`.
    pub fn is_saved(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The elements (empty for `$`).
    pub fn ranges(&self) -> &[SeqRange] {
        &self.ranges
    }

    /// Whether `*` occurs (not allowed in the known-uids of QRESYNC,
    /// RFC 7162 3.2.5.2, nor in a UID set of a response).
    pub fn uses_largest(&self) -> bool {
        self.ranges.iter().any(|r| r.uses_largest())
    }

    /// Whether `n` is in the set, `*` standing for `largest`. `$` contains nothing.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.ranges.iter().any(|r| {
            let (a, b) = r.bounds(largest);
            (a..=b).contains(&n)
        })
    }

    /// The members, ascending and without duplicates, `*` standing for
    /// `largest`, members above `largest` left out. Bounded by `largest`.
    pub fn to_numbers(&self, largest: u32) -> Vec<u32> {
        let mut bounds: Vec<(u32, u32)> =
            self.ranges.iter().map(|r| r.bounds(largest)).filter(|&(a, _)| a <= largest).collect();
        bounds.sort_unstable();
        let mut out: Vec<u32> = Vec::new();
        for (a, b) in bounds {
            let start = match out.last() {
                Some(&last) if last >= a => last.saturating_add(1),
                _ => a,
            };
            if start <= b.min(largest) && start >= a {
                out.extend(start..=b.min(largest));
            }
        }
        out
    }
}

fn seq_number(s: &str) -> Result<SeqNumber, InvalidValue> {
    if s == "*" {
        return Ok(SeqNumber::Largest);
    }
    // nz-number = digit-nz *DIGIT: no sign, no leading zero, fits in 32 bits.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return Err(InvalidValue::SequenceSet);
    }
    s.parse::<NonZeroU32>().map(SeqNumber::Value).map_err(|_| InvalidValue::SequenceSet)
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_saved() {
            return f.write_str("$");
        }
        for (i, r) in self.ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print_both_ways() {
        for s in ["1", "*", "1:*", "*:4,5:7", "2,4:7,9,12:*", "4:2", "4294967295", "$", "5:5"] {
            assert_eq!(SequenceSet::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_invalid_sets() {
        for s in ["", "0", "1:0", "01", ",", "1,", ",1", "1::2", "a", "-1", "+1", "4294967296", "1:$", "$,1", " 1"] {
            assert_eq!(SequenceSet::parse(s), Err(InvalidValue::SequenceSet), "{s:?}");
        }
    }

    #[test]
    fn semantics() {
        let set = SequenceSet::parse("*:4,5:7").unwrap();
        assert_eq!(set.to_numbers(10), vec![4, 5, 6, 7, 8, 9, 10]);
        let set = SequenceSet::parse("3291:*").unwrap();
        assert!(set.contains(17, 17), "RFC 3501 9: 3291:* includes the last UID");
        assert_eq!(SequenceSet::parse("5:9").unwrap().to_numbers(6), vec![5, 6]);
        assert_eq!(SequenceSet::parse("1,1,2:3,2").unwrap().to_numbers(9), vec![1, 2, 3]);
        assert!(SequenceSet::parse("1:*").unwrap().uses_largest());
        assert!(SequenceSet::saved().to_numbers(5).is_empty());
    }

    #[test]
    fn compression() {
        let c = |v: &[u32]| SequenceSet::from_numbers(v.iter().copied()).map(|s| s.to_string());
        assert_eq!(c(&[1, 2, 3, 5]).as_deref(), Some("1:3,5"));
        assert_eq!(c(&[7, 3, 2, 9, 8, 2]).as_deref(), Some("2:3,7:9"));
        assert_eq!(c(&[4294967295, 4294967294]).as_deref(), Some("4294967294:4294967295"));
        assert_eq!(c(&[]), None);
        assert_eq!(c(&[0]), None);
        let o = SequenceSet::from_numbers_in_order([10, 11, 12, 3, 4]).unwrap();
        assert_eq!(o.to_string(), "10:12,3:4");
    }
}
