//! Dates of SEARCH (`date`) and of APPEND and INTERNALDATE (`date-time`),
//! RFC 3501 9 and RFC 9051 9.

use std::fmt;

use super::types::InvalidValue;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// A calendar date without time or zone: `date-text` (RFC 3501 9), used by
/// the SEARCH keys BEFORE, ON, SINCE, SENTBEFORE, SENTON, SENTSINCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => 29,
        2 => 28,
        _ => 31,
    }
}

impl Date {
    /// Checks a date; `year` is `date-year = 4DIGIT`.
    pub fn new(year: u16, month: u8, day: u8) -> Result<Date, InvalidValue> {
        if year > 9999 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(InvalidValue::Date);
        }
        Ok(Date { year, month, day })
    }

    /// Parses `date-text = date-day "-" date-month "-" date-year`, with
    /// `date-day = 1*2DIGIT` (or, for `date-time`, a leading space).
    pub fn parse(s: &str) -> Result<Date, InvalidValue> {
        let mut parts = s.splitn(3, '-');
        let (Some(day), Some(month), Some(year)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(InvalidValue::Date);
        };
        let day = day.strip_prefix(' ').filter(|d| d.len() == 1).unwrap_or(day);
        if !(1..=2).contains(&day.len()) || year.len() != 4 {
            return Err(InvalidValue::Date);
        }
        let day = digits(day)? as u8;
        let year = digits(year)? as u16;
        let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month)).ok_or(InvalidValue::Date)? as u8 + 1;
        Date::new(year, month, day)
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, from 1.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let (y, m, d) = (i64::from(self.year), i64::from(self.month), i64::from(self.day));
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146097 + doe - 719468
    }
}

fn digits(s: &str) -> Result<u32, InvalidValue> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(InvalidValue::Date);
    }
    s.parse().map_err(|_| InvalidValue::Date)
}

impl fmt::Display for Date {
    /// `date-text` with the day unpadded: `1-Feb-1994`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{:04}", self.day, MONTHS[usize::from(self.month - 1)], self.year)
    }
}

/// A point in time with the sender's zone: `date-time` (RFC 3501 9), the
/// INTERNALDATE of a message and the optional date of APPEND.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
    /// Minutes east of UTC.
    zone: i16,
}

impl DateTime {
    /// Checks the time of day (a leap second 60 is allowed) and the zone,
    /// in minutes east of UTC (`zone = ("+" / "-") 4DIGIT`, hhmm).
    pub fn new(date: Date, hour: u8, minute: u8, second: u8, zone_minutes: i16) -> Result<DateTime, InvalidValue> {
        if hour > 23 || minute > 59 || second > 60 || zone_minutes.unsigned_abs() > 99 * 60 + 59 {
            return Err(InvalidValue::Date);
        }
        Ok(DateTime { date, hour, minute, second, zone: zone_minutes })
    }

    /// The UTC time of a Unix timestamp, zone `+0000`.
    pub fn from_unix(timestamp: i64) -> Option<DateTime> {
        let days = timestamp.div_euclid(86400);
        let secs = timestamp.rem_euclid(86400);
        let (year, month, day) = axigen_core::civil_from_days(days);
        let date = Date::new(u16::try_from(year).ok()?, month as u8, day as u8).ok()?;
        DateTime::new(date, (secs / 3600) as u8, (secs / 60 % 60) as u8, (secs % 60) as u8, 0).ok()
    }

    /// Parses the inside of `date-time` (without the quotes):
    ///
    /// ```abnf
    /// date-time       = DQUOTE date-day-fixed "-" date-month "-" date-year
    ///                   SP time SP zone DQUOTE
    /// date-day-fixed  = (SP DIGIT) / 2DIGIT
    /// time            = 2DIGIT ":" 2DIGIT ":" 2DIGIT
    /// zone            = ("+" / "-") 4DIGIT
    /// ```
    ///
    /// Leniency: a one-digit day without its leading space is accepted.
    pub fn parse(s: &str) -> Result<DateTime, InvalidValue> {
        let (date_part, rest) = if let Some(rest) = s.strip_prefix(' ') {
            let (d, r) = rest.split_once(' ').ok_or(InvalidValue::Date)?;
            (format!(" {d}"), r)
        } else {
            let (d, r) = s.split_once(' ').ok_or(InvalidValue::Date)?;
            (d.to_owned(), r)
        };
        let date = Date::parse(&date_part)?;
        let (time, zone) = rest.split_once(' ').ok_or(InvalidValue::Date)?;
        let t = time.as_bytes();
        if t.len() != 8 || t[2] != b':' || t[5] != b':' {
            return Err(InvalidValue::Date);
        }
        let (hour, minute, second) = (digits(&time[0..2])?, digits(&time[3..5])?, digits(&time[6..8])?);
        let z = zone.as_bytes();
        if z.len() != 5 || !matches!(z[0], b'+' | b'-') {
            return Err(InvalidValue::Date);
        }
        let (zh, zm) = (digits(&zone[1..3])?, digits(&zone[3..5])?);
        if zm > 59 {
            return Err(InvalidValue::Date);
        }
        let magnitude = (zh * 60 + zm) as i16;
        let zone = if z[0] == b'-' { -magnitude } else { magnitude };
        DateTime::new(date, hour as u8, minute as u8, second as u8, zone)
    }

    /// The calendar date in the sender's zone.
    pub fn date(&self) -> Date {
        self.date
    }

    /// The zone in minutes east of UTC.
    pub fn zone_minutes(&self) -> i16 {
        self.zone
    }

    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix_timestamp(&self) -> i64 {
        self.date.days_since_epoch() * 86400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone) * 60
    }
}

impl fmt::Display for DateTime {
    /// The inside of `date-time`, without quotes: `17-Jul-1996 02:44:25 -0700`
    /// (the day as two digits, one of the two `date-day-fixed` forms).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.zone < 0 { '-' } else { '+' };
        let z = self.zone.unsigned_abs();
        write!(
            f,
            "{:02}-{}-{:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
            self.date.day,
            MONTHS[usize::from(self.date.month - 1)],
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            z / 60,
            z % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_both_ways() {
        for s in ["1-Feb-1994", "29-Feb-2024", "31-Dec-9999"] {
            assert_eq!(Date::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Date::parse("01-feb-1994").unwrap().to_string(), "1-Feb-1994");
        for bad in ["29-Feb-2023", "0-Jan-2000", "32-Jan-2000", "1-Foo-2000", "1-Jan-99", "123-Jan-2000", "1-Jan-2000-"]
        {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn date_times_both_ways() {
        let dt = DateTime::parse("17-Jul-1996 02:44:25 -0700").unwrap();
        assert_eq!(dt.to_string(), "17-Jul-1996 02:44:25 -0700");
        assert_eq!(dt.unix_timestamp(), 837_596_665);
        let padded = DateTime::parse(" 7-Jul-1996 02:44:25 +0130").unwrap();
        assert_eq!(padded.to_string(), "07-Jul-1996 02:44:25 +0130");
        assert_eq!(
            DateTime::parse("7-Jul-1996 02:44:25 +0000").unwrap(),
            DateTime::parse("07-Jul-1996 02:44:25 +0000").unwrap()
        );
        for bad in [
            "17-Jul-1996 24:00:00 +0000",
            "17-Jul-1996 02:44 +0000",
            "17-Jul-1996 02:44:25 0700",
            "17-Jul-1996 02:44:25 +0760",
            "17-Jul-1996",
        ] {
            assert!(DateTime::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(DateTime::from_unix(837_596_665).unwrap().to_string(), "17-Jul-1996 09:44:25 +0000");
        assert_eq!(DateTime::from_unix(0).unwrap().to_string(), "01-Jan-1970 00:00:00 +0000");
        assert_eq!(DateTime::from_unix(951_782_400).unwrap().date(), Date::new(2000, 2, 29).unwrap());
    }
}
