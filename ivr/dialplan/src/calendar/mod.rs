//! Calendars: weekly opening hours in a time zone (Europe/Madrid and its
//! daylight-saving changes), public-holiday lists, and exceptional closures
//! or openings, read from a TOML file operators edit (`docs/calendars.md`).
//!
//! Owns: the calendar file format ([`parse`](Calendar::parse), every problem
//! reported with line and column) and the answer to "is this schedule open
//! at this instant, and when does that change?".
//!
//! Must never read the clock (the wallclock instant is always an argument),
//! never do IO (the caller reads the file) and never panic on any file
//! content or any instant.
//!
//! Semantics, in one place:
//! - Hours are local wall-clock hours in the calendar's time zone. A range
//!   `"07:00-23:00"` is open from 07:00:00 inclusive to 23:00:00 exclusive;
//!   `"00:00-24:00"` is the whole day.
//! - The hours of a date are, first match wins: the schedule's exception
//!   for that date; closed all day if the date is in a holiday list the
//!   schedule is `closed_on`; the weekly hours of its weekday.
//! - On the night the clocks go forward the skipped wall-clock hour never
//!   happens; on the night they go back the repeated hour is judged by its
//!   wall-clock reading both times.

mod parse;

use std::collections::BTreeMap;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::diagnostics::Diagnostic;

/// Index of a named schedule in a [`Calendar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScheduleId(pub u32);

/// Minutes in a day: the end of a range that runs to midnight (`24:00`).
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// A half-open range of wall-clock minutes within one day:
/// `start <= minute < end`, with `0 <= start < end <= 1440`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeRange {
    pub start: u16,
    pub end: u16,
}

impl TimeRange {
    /// Whether a second of the day (0..86_400) falls in the range.
    fn contains_second(self, second: u32) -> bool {
        u32::from(self.start) * 60 <= second && second < u32::from(self.end) * 60
    }
}

impl std::fmt::Display for TimeRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}-{:02}:{:02}", self.start / 60, self.start % 60, self.end / 60, self.end % 60)
    }
}

/// One dated entry: a public holiday, or an exception's date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub date: Date,
    /// "Sant Joan"; empty when the file gives no name.
    pub name: String,
}

/// A named list of holidays (`[holidays.catalonia]`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct HolidayList {
    name: String,
    dates: BTreeMap<Date, String>,
}

/// Hours that replace the usual ones on one date (empty: closed all day).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exception {
    hours: Vec<TimeRange>,
    name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Schedule {
    name: String,
    /// Indexed by `Weekday::to_monday_zero_offset()`; sorted, disjoint.
    weekly: [Vec<TimeRange>; 7],
    /// Indexes into `Calendar::holidays`.
    closed_on: Vec<usize>,
    exceptions: BTreeMap<Date, Exception>,
}

/// A checked calendar file: a time zone, holiday lists and schedules.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    time_zone: TimeZone,
    holidays: Vec<HolidayList>,
    schedules: Vec<Schedule>,
}

/// An empty calendar in UTC with no schedules (every `schedule` lookup
/// fails, so a dialplan that uses `when` cannot compile against it).
impl Default for Calendar {
    fn default() -> Calendar {
        Calendar { time_zone: TimeZone::UTC, holidays: Vec::new(), schedules: Vec::new() }
    }
}

/// How far ahead `next_change` looks.
const HORIZON_DAYS: i64 = 366;

impl Calendar {
    /// Parses and checks a calendar file; `file` names it in diagnostics.
    /// Every problem is reported at once.
    pub fn parse(file: &str, text: &str) -> Result<Calendar, Vec<Diagnostic>> {
        parse::parse(file, text)
    }

    /// The id of a schedule by name ("staffed").
    pub fn schedule(&self, name: &str) -> Option<ScheduleId> {
        let index = self.schedules.iter().position(|s| s.name == name)?;
        u32::try_from(index).ok().map(ScheduleId)
    }

    /// Schedule names in file order (for "did you mean" messages).
    pub fn schedule_names(&self) -> impl Iterator<Item = &str> {
        self.schedules.iter().map(|s| s.name.as_str())
    }

    /// The calendar's time zone ("Europe/Madrid").
    pub fn time_zone(&self) -> &TimeZone {
        &self.time_zone
    }

    /// The holidays of a named list, in date order (None: no such list).
    pub fn holidays(&self, list: &str) -> Option<Vec<Holiday>> {
        let list = self.holidays.iter().find(|l| l.name == list)?;
        Some(list.dates.iter().map(|(date, name)| Holiday { date: *date, name: name.clone() }).collect())
    }

    /// The opening hours of a schedule on a local date, after holidays and
    /// exceptions (empty: closed all day, or no such schedule).
    pub fn hours_on(&self, schedule: ScheduleId, date: Date) -> &[TimeRange] {
        match self.schedule_by_id(schedule) {
            Some(s) => self.hours_of(s, date),
            None => &[],
        }
    }

    /// Whether the schedule is open at this instant. An id that is not of
    /// this calendar is never open.
    pub fn is_open(&self, schedule: ScheduleId, at: Timestamp) -> bool {
        self.schedule_by_id(schedule).is_some_and(|s| self.open_in(s, at))
    }

    /// The next instant after `at` when the schedule opens or closes
    /// (None if it never changes again within a year).
    pub fn next_change(&self, schedule: ScheduleId, at: Timestamp) -> Option<Timestamp> {
        let s = self.schedule_by_id(schedule)?;
        let open_now = self.open_in(s, at);
        let horizon = at.saturating_add(SignedDuration::from_hours(24 * HORIZON_DAYS)).ok()?;
        let mut candidates = self.boundaries(s, at, horizon);
        candidates.retain(|t| *t > at && *t <= horizon);
        candidates.sort_unstable();
        candidates.dedup();
        candidates.into_iter().find(|t| self.open_in(s, *t) != open_now)
    }

    /// The next instant after `at` when the schedule opens (if it is open
    /// now, the opening after the coming closing): "we open again at 07:00".
    pub fn next_opening(&self, schedule: ScheduleId, at: Timestamp) -> Option<Timestamp> {
        let change = self.next_change(schedule, at)?;
        if self.is_open(schedule, change) { Some(change) } else { self.next_change(schedule, change) }
    }

    /// The wall-clock time of an instant in the calendar's zone as "HH:MM",
    /// ready for `say` with kind `Time`.
    pub fn clock_time(&self, at: Timestamp) -> String {
        let local = self.time_zone.to_datetime(at);
        format!("{:02}:{:02}", local.hour(), local.minute())
    }

    fn schedule_by_id(&self, id: ScheduleId) -> Option<&Schedule> {
        self.schedules.get(usize::try_from(id.0).ok()?)
    }

    fn hours_of<'a>(&'a self, s: &'a Schedule, date: Date) -> &'a [TimeRange] {
        if let Some(exception) = s.exceptions.get(&date) {
            return &exception.hours;
        }
        let holiday = s.closed_on.iter().any(|&l| self.holidays.get(l).is_some_and(|l| l.dates.contains_key(&date)));
        if holiday {
            return &[];
        }
        &s.weekly[weekday_index(date.weekday())]
    }

    fn open_in(&self, s: &Schedule, at: Timestamp) -> bool {
        let local = self.time_zone.to_datetime(at);
        let second = u32::from(local.hour().unsigned_abs()) * 3600
            + u32::from(local.minute().unsigned_abs()) * 60
            + u32::from(local.second().unsigned_abs());
        self.hours_of(s, local.date()).iter().any(|r| r.contains_second(second))
    }

    /// Every instant in `[at, horizon]` where the schedule may change: each
    /// local midnight and range edge (both instants of a repeated
    /// wall-clock time) and every offset transition of the zone (where the
    /// wall clock jumps). Extra candidates are harmless: the caller keeps
    /// the first one where the state differs.
    fn boundaries(&self, s: &Schedule, at: Timestamp, horizon: Timestamp) -> Vec<Timestamp> {
        let mut out = Vec::new();
        let mut date = self.time_zone.to_datetime(at).date();
        // One day before and after the horizon covers zones whose offset
        // moves a local day across it.
        if let Ok(yesterday) = date.yesterday() {
            date = yesterday;
        }
        for _ in 0..HORIZON_DAYS + 3 {
            let mut minutes = vec![0u16];
            for r in self.hours_of(s, date) {
                minutes.push(r.start);
                minutes.push(r.end);
            }
            for minute in minutes.into_iter().filter(|m| *m < MINUTES_PER_DAY) {
                let hour = i8::try_from(minute / 60).expect("invariant: minute < 1440");
                let min = i8::try_from(minute % 60).expect("invariant: minute % 60 < 60");
                let ambiguous = self.time_zone.to_ambiguous_timestamp(date.at(hour, min, 0, 0));
                out.extend(ambiguous.earlier().ok());
                out.extend(ambiguous.later().ok());
            }
            match date.tomorrow() {
                Ok(next) => date = next,
                Err(_) => break,
            }
        }
        out.extend(self.time_zone.following(at).map(|t| t.timestamp()).take_while(|t| *t <= horizon));
        out
    }
}

fn weekday_index(day: Weekday) -> usize {
    usize::try_from(day.to_monday_zero_offset()).expect("invariant: weekday offset is 0..=6")
}
