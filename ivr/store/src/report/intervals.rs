//! Local-time intervals (hours, days, ISO weeks) as UTC millisecond bounds.
//!
//! Owns the one place where wall-clock time enters the reports: the database
//! only ever sees `[start_ms, end_ms)` in UTC, so SQLite and PostgreSQL group
//! alike and daylight-saving days come out right (23 or 25 hours long; the
//! repeated October hour is two intervals told apart by their offset).
//! Never reads the clock.

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

use super::ReportError;

/// A calendar period that report rows can be cut into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Hour,
    Day,
    Week,
}

/// One row's interval: `[start_ms, end_ms)`, cut to the query's range, and
/// the local start of the whole period it belongs to (for labels and for
/// folding hours into hours of the day).
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    pub start_ms: i64,
    pub end_ms: i64,
    pub period_start: Zoned,
}

impl Interval {
    /// `2026-03-29` for days, `2026-W13` for weeks, and for hours the local
    /// start with its offset, `2026-10-25 02:00 +02:00`, so that the two
    /// 02:00 hours of the October change differ.
    pub fn label(&self, period: Period) -> String {
        let start = &self.period_start;
        match period {
            Period::Hour => start.strftime("%Y-%m-%d %H:%M %:z").to_string(),
            Period::Day => start.date().to_string(),
            Period::Week => {
                let week = start.date().iso_week_date();
                format!("{:04}-W{:02}", week.year(), week.week())
            }
        }
    }
}

/// The intervals of `period` covering `[from, to)` in `tz`, in order; the
/// first and last are cut to the range. Fails with `TooManyRows` past `max`.
pub fn intervals(
    period: Period,
    from: Timestamp,
    to: Timestamp,
    tz: &TimeZone,
    max: usize,
) -> Result<Vec<Interval>, ReportError> {
    let (from_ms, to_ms) = (from.as_millisecond(), to.as_millisecond());
    let mut out = Vec::new();
    let mut start = period_start(period, &from.to_zoned(tz.clone()))?;
    while start.timestamp().as_millisecond() < to_ms {
        if out.len() == max {
            return Err(ReportError::TooManyRows { max });
        }
        let next = next_start(period, &start)?;
        let end_ms = next.timestamp().as_millisecond();
        out.push(Interval {
            start_ms: start.timestamp().as_millisecond().max(from_ms),
            end_ms: end_ms.min(to_ms),
            period_start: start,
        });
        start = next;
    }
    Ok(out)
}

/// The start of the period containing `at`.
fn period_start(period: Period, at: &Zoned) -> Result<Zoned, ReportError> {
    match period {
        // Go back by the local minutes and seconds rather than rebuilding
        // the local time: 02:30 in the repeated October hour must floor to
        // the 02:00 with the same offset, which a civil rebuild would not
        // know to choose.
        Period::Hour => {
            let into_hour = (i64::from(at.minute()) * 60 + i64::from(at.second())) * 1_000
                + i64::from(at.subsec_nanosecond()) / 1_000_000;
            let ms = at.timestamp().as_millisecond() - into_hour;
            Ok(Timestamp::from_millisecond(ms).map_err(ReportError::Time)?.to_zoned(at.time_zone().clone()))
        }
        Period::Day => at.start_of_day().map_err(ReportError::Time),
        Period::Week => {
            let back = i64::from(at.date().weekday().to_monday_zero_offset());
            let monday = at.date().checked_sub(back.days()).map_err(ReportError::Time)?;
            debug_assert_eq!(monday.weekday(), Weekday::Monday);
            monday.to_zoned(at.time_zone().clone()).and_then(|z| z.start_of_day()).map_err(ReportError::Time)
        }
    }
}

/// The start of the period after the one starting at `start`.
fn next_start(period: Period, start: &Zoned) -> Result<Zoned, ReportError> {
    let tz = start.time_zone().clone();
    match period {
        // An hour of elapsed time, not of the clock face: across a change
        // the next hour may have another offset.
        Period::Hour => start.timestamp().checked_add(1.hour()).map(|t| t.to_zoned(tz)),
        Period::Day => start.date().tomorrow().and_then(|d| d.to_zoned(tz)).and_then(|z| z.start_of_day()),
        Period::Week => start.date().checked_add(7.days()).and_then(|d| d.to_zoned(tz)).and_then(|z| z.start_of_day()),
    }
    .map_err(ReportError::Time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn madrid() -> TimeZone {
        TimeZone::get("Europe/Madrid").expect("bundled tzdb has Europe/Madrid")
    }

    fn local(text: &str) -> Timestamp {
        format!("{text}[Europe/Madrid]").parse::<Zoned>().expect("valid test time").timestamp()
    }

    #[test]
    fn the_march_change_day_has_23_hours_and_no_2am() {
        let hours = intervals(Period::Hour, local("2026-03-29T00:00"), local("2026-03-30T00:00"), &madrid(), 100)
            .expect("a day of hours");
        assert_eq!(hours.len(), 23);
        let labels: Vec<String> = hours.iter().map(|h| h.label(Period::Hour)).collect();
        assert_eq!(labels[1], "2026-03-29 01:00 +01:00");
        assert_eq!(labels[2], "2026-03-29 03:00 +02:00");
        let days = intervals(Period::Day, local("2026-03-29T00:00"), local("2026-03-30T00:00"), &madrid(), 10)
            .expect("one day");
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].end_ms - days[0].start_ms, 23 * 3_600_000);
    }

    #[test]
    fn the_october_change_day_has_two_2am_hours_told_apart_by_offset() {
        let hours = intervals(Period::Hour, local("2026-10-25T00:00"), local("2026-10-26T00:00"), &madrid(), 100)
            .expect("a day of hours");
        assert_eq!(hours.len(), 25);
        assert_eq!(hours[2].label(Period::Hour), "2026-10-25 02:00 +02:00");
        assert_eq!(hours[3].label(Period::Hour), "2026-10-25 02:00 +01:00");
        // 02:30 in the second 02:00 hour floors to that hour, not the first.
        let second_half = local("2026-10-25T02:30+01:00");
        let from_inside = intervals(Period::Hour, second_half, local("2026-10-25T04:00"), &madrid(), 10)
            .expect("hours");
        assert_eq!(from_inside[0].period_start, hours[3].period_start);
        assert_eq!(from_inside[0].start_ms, second_half.as_millisecond());
    }

    #[test]
    fn weeks_are_iso_weeks_from_monday_and_ranges_are_cut() {
        // Wednesday 2026-01-07 12:00 to Tuesday 2026-01-13 00:00.
        let weeks = intervals(Period::Week, local("2026-01-07T12:00"), local("2026-01-13T00:00"), &madrid(), 10)
            .expect("weeks");
        let labels: Vec<String> = weeks.iter().map(|w| w.label(Period::Week)).collect();
        assert_eq!(labels, ["2026-W02", "2026-W03"]);
        assert_eq!(weeks[0].start_ms, local("2026-01-07T12:00").as_millisecond());
        assert_eq!(weeks[0].end_ms, local("2026-01-12T00:00").as_millisecond());
        assert_eq!(weeks[1].end_ms, local("2026-01-13T00:00").as_millisecond());
    }

    #[test]
    fn too_many_rows_is_refused() {
        let refused = intervals(Period::Hour, local("2026-01-01T00:00"), local("2026-01-02T00:00"), &madrid(), 23);
        assert!(matches!(refused, Err(ReportError::TooManyRows { max: 23 })));
    }
}
