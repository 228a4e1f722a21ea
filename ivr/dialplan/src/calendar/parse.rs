//! Reading a calendar file: TOML with spans, so that every bad key or value
//! is reported at its own line and column, all at once.
//!
//! Owns: the file format and its messages (quoted word for word in
//! `tests/calendar_*.rs` and `docs/calendars.md`). Must never panic on any
//! text.

use std::collections::BTreeMap;
use std::ops::Range;

use jiff::civil::Date;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{Calendar, Exception, HolidayList, MINUTES_PER_DAY, Schedule, TimeRange};
use crate::diagnostics::{Diagnostic, Position};

const TOP_KEYS: &str = "time_zone, holidays, schedules";
const LIST_KEYS: &str = "description, dates";
const HOLIDAY_KEYS: &str = "date, name";
const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const SCHEDULE_KEYS: &str =
    "description, a day (monday .. sunday) or a range of days (monday-friday), closed_on, exceptions";
const EXCEPTION_KEYS: &str = "date, hours, name";
const RANGE_EXAMPLE: &str = "e.g. `\"07:00-23:00\"`";

type Value<'i> = Spanned<DeValue<'i>>;

/// Collects diagnostics for one file.
struct Checker<'t> {
    file: &'t str,
    text: &'t str,
    diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn error(&mut self, span: Range<usize>, message: String) {
        let position = Position::of_offset(self.text, span.start);
        self.diagnostics.push(Diagnostic::error(self.file, position, message));
    }

    fn line_of(&self, span: &Range<usize>) -> u32 {
        Position::of_offset(self.text, span.start).line
    }

    fn unknown_key(&mut self, key: &Spanned<std::borrow::Cow<'_, str>>, place: &str, expected: &str) {
        self.error(key.span(), format!("unknown key `{}`{place} (expected {expected})", key.get_ref()));
    }

    /// The value as a table, or an error naming what was expected.
    fn table<'a, 'i>(&mut self, value: &'a Value<'i>, what: &str) -> Option<&'a DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.error(value.span(), format!("{what} must be a table, found {}", other.type_str()));
                None
            }
        }
    }

    fn array<'a, 'i>(&mut self, value: &'a Value<'i>, what: &str) -> Option<&'a [Value<'i>]> {
        match value.get_ref() {
            DeValue::Array(a) => Some(a),
            other => {
                self.error(value.span(), format!("{what} must be a list, found {}", other.type_str()));
                None
            }
        }
    }

    fn string<'a>(&mut self, value: &'a Value<'_>, what: &str) -> Option<&'a str> {
        match value.get_ref() {
            DeValue::String(s) => Some(s),
            other => {
                self.error(value.span(), format!("{what} must be a string, found {}", other.type_str()));
                None
            }
        }
    }
}

pub(super) fn parse(file: &str, text: &str) -> Result<Calendar, Vec<Diagnostic>> {
    let mut checker = Checker { file, text, diagnostics: Vec::new() };
    let (root, syntax_errors) = DeTable::parse_recoverable(text);
    if !syntax_errors.is_empty() {
        for e in syntax_errors {
            let span = e.span().unwrap_or(0..0);
            checker.error(span, e.message().trim().to_owned());
        }
        return Err(sorted(checker.diagnostics));
    }
    let root = root.get_ref();

    let mut calendar = Calendar::default();
    match root.get("time_zone") {
        Some(value) => {
            if let Some(name) = checker.string(value, "`time_zone`") {
                match jiff::tz::db().get(name) {
                    Ok(tz) => calendar.time_zone = tz,
                    Err(_) => checker.error(value.span(), format!("unknown time zone `{name}`")),
                }
            }
        }
        None => checker.error(0..0, "missing `time_zone`, e.g. `time_zone = \"Europe/Madrid\"`".to_owned()),
    }
    for (key, _) in root.iter() {
        if !matches!(key.get_ref().as_ref(), "time_zone" | "holidays" | "schedules") {
            checker.unknown_key(key, "", TOP_KEYS);
        }
    }
    if let Some(value) = root.get("holidays")
        && let Some(lists) = checker.table(value, "`holidays`")
    {
        for (name, list) in lists.iter() {
            let list = holiday_list(&mut checker, name.get_ref(), list);
            calendar.holidays.push(list);
        }
    }
    if let Some(value) = root.get("schedules")
        && let Some(schedules) = checker.table(value, "`schedules`")
    {
        for (name, s) in schedules.iter() {
            if let Some(s) = schedule(&mut checker, &calendar.holidays, name.get_ref(), s) {
                calendar.schedules.push(s);
            }
        }
    }
    if checker.diagnostics.is_empty() { Ok(calendar) } else { Err(sorted(checker.diagnostics)) }
}

fn sorted(mut diagnostics: Vec<Diagnostic>) -> Vec<Diagnostic> {
    diagnostics.sort_by_key(|d| d.position);
    diagnostics
}

/// A holiday list; one with errors is still returned (with the dates that
/// were right) so that schedules naming it get no second error.
fn holiday_list(checker: &mut Checker<'_>, name: &str, value: &Value<'_>) -> HolidayList {
    let mut list = HolidayList { name: name.to_owned(), dates: BTreeMap::new() };
    let Some(table) = checker.table(value, &format!("holiday list `{name}`")) else { return list };
    for (key, v) in table.iter() {
        match key.get_ref().as_ref() {
            "description" => {
                checker.string(v, "`description`");
            }
            "dates" => {}
            _ => checker.unknown_key(key, &format!(" in holiday list `{name}`"), LIST_KEYS),
        }
    }
    let mut first_seen: BTreeMap<Date, u32> = BTreeMap::new();
    let Some(items) = table.get("dates") else {
        checker.error(value.span(), format!("holiday list `{name}` has no `dates`"));
        return list;
    };
    let Some(items) = checker.array(items, "`dates`") else { return list };
    for item in items {
        let Some((date, label, span)) = dated_entry(checker, item, HOLIDAY_KEYS, "a holiday") else { continue };
        if let Some(line) = first_seen.get(&date) {
            checker.error(span, format!("`{date}` is listed twice in holiday list `{name}` (first at line {line})"));
            continue;
        }
        first_seen.insert(date, checker.line_of(&span));
        list.dates.insert(date, label);
    }
    list
}

/// A holiday or exception entry: `"2026-01-01"`, or a table with `date`
/// and `name` (and, for exceptions, `hours`, checked by the caller).
/// Returns the date, the name and the span of the date.
fn dated_entry(
    checker: &mut Checker<'_>,
    item: &Value<'_>,
    keys: &str,
    what: &str,
) -> Option<(Date, String, Range<usize>)> {
    match item.get_ref() {
        DeValue::String(_) | DeValue::Datetime(_) if keys == HOLIDAY_KEYS => {
            date(checker, item).map(|d| (d, String::new(), item.span()))
        }
        DeValue::Table(table) => {
            for (key, _) in table.iter() {
                if !keys.split(", ").any(|k| k == key.get_ref().as_ref()) {
                    checker.unknown_key(key, &format!(" in {what}"), keys);
                }
            }
            let name = match table.get("name") {
                Some(v) => checker.string(v, "`name`").unwrap_or_default().to_owned(),
                None => String::new(),
            };
            let Some(date_value) = table.get("date") else {
                checker.error(item.span(), format!("{what} needs a `date`"));
                return None;
            };
            date(checker, date_value).map(|d| (d, name, date_value.span()))
        }
        other => {
            let expected = if keys == HOLIDAY_KEYS {
                "a date like `\"2026-01-01\"` or a table like `{ date = \"2026-01-01\", name = \"Cap d'Any\" }`"
            } else {
                "a table like `{ date = \"2026-12-24\", hours = [\"07:00-15:00\"] }`"
            };
            checker.error(item.span(), format!("{what} must be {expected}, found {}", other.type_str()));
            None
        }
    }
}

/// A date written `"YYYY-MM-DD"` (or as a bare TOML date).
fn date(checker: &mut Checker<'_>, value: &Value<'_>) -> Option<Date> {
    let text = match value.get_ref() {
        DeValue::String(s) => s.to_string(),
        DeValue::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => dt.to_string(),
        other => {
            checker.error(
                value.span(),
                format!("a date must be a string like `\"2026-01-01\"`, found {}", other.type_str()),
            );
            return None;
        }
    };
    match parse_date(&text) {
        Ok(d) => Some(d),
        Err(why) => {
            checker.error(value.span(), format!("invalid date `{text}`: {why}"));
            None
        }
    }
}

fn parse_date(text: &str) -> Result<Date, String> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shape_ok {
        return Err("expected `YYYY-MM-DD`".to_owned());
    }
    let number = |range: Range<usize>| text.get(range).and_then(|s| s.parse::<i16>().ok()).unwrap_or(0);
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let Ok(month8) = i8::try_from(month) else { return Err(format!("there is no month {month}")) };
    if !(1..=12).contains(&month8) {
        return Err(format!("there is no month {month}"));
    }
    let first = Date::new(year, month8, 1).map_err(|_| format!("year {year} is out of range"))?;
    let days = first.days_in_month();
    match i8::try_from(day) {
        Ok(d) if (1..=days).contains(&d) => Date::new(year, month8, d).map_err(|e| e.to_string()),
        _ => Err(format!("{} {year} has {days} days", first.strftime("%B"))),
    }
}

fn schedule(checker: &mut Checker<'_>, lists: &[HolidayList], name: &str, value: &Value<'_>) -> Option<Schedule> {
    let table = checker.table(value, &format!("schedule `{name}`"))?;
    let mut s = Schedule {
        name: name.to_owned(),
        weekly: Default::default(),
        closed_on: Vec::new(),
        exceptions: BTreeMap::new(),
    };
    // In file order, so that "already set" names the earlier key.
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    let mut set_by: [Option<(&str, u32)>; 7] = Default::default();
    for (key, v) in entries {
        let key_name = key.get_ref().as_ref();
        if let Some(days) = day_key(key_name) {
            let days = match days {
                Ok(days) => days,
                Err(why) => {
                    checker.error(key.span(), why);
                    continue;
                }
            };
            let ranges = hours(checker, v, &format!("`{key_name}`"));
            for day in days {
                if let Some((other, line)) = set_by[day] {
                    let message = format!("`{key_name}` sets {} again (`{other}` at line {line})", DAYS[day]);
                    checker.error(key.span(), message);
                    break;
                }
                set_by[day] = Some((key_name, checker.line_of(&key.span())));
                s.weekly[day] = ranges.clone();
            }
            continue;
        }
        match key_name {
            "description" => {
                checker.string(v, "`description`");
            }
            "closed_on" => s.closed_on = closed_on(checker, lists, v),
            "exceptions" => s.exceptions = exceptions(checker, name, v),
            _ => checker.unknown_key(key, &format!(" in schedule `{name}`"), SCHEDULE_KEYS),
        }
    }
    Some(s)
}

/// `monday` (one day) or `monday-friday` (Monday to Friday); None: not a
/// day key at all.
fn day_key(key: &str) -> Option<Result<std::ops::RangeInclusive<usize>, String>> {
    let index = |name: &str| DAYS.iter().position(|d| *d == name);
    if let Some(day) = index(key) {
        return Some(Ok(day..=day));
    }
    let (first, last) = key.split_once('-')?;
    let (first, last) = (index(first)?, index(last)?);
    if first > last {
        return Some(Err(format!("day range `{key}` must run from Monday towards Sunday")));
    }
    Some(Ok(first..=last))
}

fn closed_on(checker: &mut Checker<'_>, lists: &[HolidayList], value: &Value<'_>) -> Vec<usize> {
    let Some(items) = checker.array(value, "`closed_on`") else { return Vec::new() };
    let mut out = Vec::new();
    for item in items {
        let Some(list) = checker.string(item, "a holiday list name") else { continue };
        match lists.iter().position(|l| l.name == list) {
            Some(index) => out.push(index),
            None => {
                let defined: Vec<&str> = lists.iter().map(|l| l.name.as_str()).collect();
                let defined = if defined.is_empty() {
                    "no holiday lists are defined".to_owned()
                } else {
                    format!("defined: {}", defined.join(", "))
                };
                checker.error(item.span(), format!("unknown holiday list `{list}` ({defined})"));
            }
        }
    }
    out
}

fn exceptions(checker: &mut Checker<'_>, schedule: &str, value: &Value<'_>) -> BTreeMap<Date, Exception> {
    let mut out = BTreeMap::new();
    let mut first_seen: BTreeMap<Date, u32> = BTreeMap::new();
    let Some(items) = checker.array(value, "`exceptions`") else { return out };
    for item in items {
        let Some((date, name, span)) = dated_entry(checker, item, EXCEPTION_KEYS, "an exception") else { continue };
        let DeValue::Table(table) = item.get_ref() else { continue };
        let Some(hours_value) = table.get("hours") else {
            checker
                .error(item.span(), format!("the exception for `{date}` needs `hours` (`hours = []` closes all day)"));
            continue;
        };
        let ranges = hours(checker, hours_value, "`hours`");
        if let Some(line) = first_seen.get(&date) {
            checker.error(
                span,
                format!("two exceptions for `{date}` in schedule `{schedule}` (the first at line {line})"),
            );
            continue;
        }
        first_seen.insert(date, checker.line_of(&span));
        out.insert(date, Exception { hours: ranges, name });
    }
    out
}

/// A list of time ranges: each valid, none overlapping another. Returns the
/// valid ones, sorted.
fn hours(checker: &mut Checker<'_>, value: &Value<'_>, what: &str) -> Vec<TimeRange> {
    let Some(items) = checker.array(value, what) else { return Vec::new() };
    let mut seen: Vec<(TimeRange, &str)> = Vec::new();
    for item in items {
        let Some(text) = checker.string(item, &format!("a time range ({RANGE_EXAMPLE})")) else { continue };
        let range = match parse_range(text) {
            Ok(range) => range,
            Err(why) => {
                checker.error(item.span(), why);
                continue;
            }
        };
        if let Some((_, other)) = seen.iter().find(|(r, _)| r.start < range.end && range.start < r.end) {
            checker.error(item.span(), format!("time range `{text}` overlaps `{other}`"));
            continue;
        }
        seen.push((range, text));
    }
    let mut out: Vec<TimeRange> = seen.into_iter().map(|(r, _)| r).collect();
    out.sort();
    out
}

fn parse_range(text: &str) -> Result<TimeRange, String> {
    let shape = || format!("invalid time range `{text}`: expected `HH:MM-HH:MM`, {RANGE_EXAMPLE}");
    let (start, end) = text.split_once('-').ok_or_else(shape)?;
    let start = parse_clock(start).ok_or_else(shape)?;
    let end = parse_clock(end).ok_or_else(shape)?;
    for (hour, minute) in [start, end] {
        if minute > 59 {
            return Err(format!("invalid time `{hour:02}:{minute:02}` in `{text}`: minutes go from 00 to 59"));
        }
        if hour > 24 || (hour == 24 && minute > 0) {
            return Err(format!("invalid time `{hour:02}:{minute:02}` in `{text}`: the day goes from 00:00 to 24:00"));
        }
    }
    let (start, end) = (start.0 * 60 + start.1, end.0 * 60 + end.1);
    if start == end {
        return Err(format!("time range `{text}` is empty"));
    }
    if start > end {
        return Err(format!(
            "time range `{text}` ends before it starts (a range past midnight is two ranges: \
             `22:00-24:00` on one day and `00:00-02:00` on the next)"
        ));
    }
    debug_assert!(end <= MINUTES_PER_DAY);
    Ok(TimeRange { start, end })
}

/// "HH:MM" with exactly two digits each; range checks are the caller's.
fn parse_clock(text: &str) -> Option<(u16, u16)> {
    let (hour, minute) = text.split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hour) || !two_digits(minute) {
        return None;
    }
    Some((hour.parse().ok()?, minute.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_half_open_minutes_of_the_day() {
        assert_eq!(parse_range("07:00-23:00"), Ok(TimeRange { start: 420, end: 1380 }));
        assert_eq!(parse_range("00:00-24:00"), Ok(TimeRange { start: 0, end: 1440 }));
        assert!(parse_range("7:00-23:00").is_err());
        assert!(parse_range("07:00 - 23:00").is_err());
        assert!(parse_range("24:00-24:00").is_err());
    }

    #[test]
    fn dates_are_checked_against_the_month() {
        assert_eq!(parse_date("2028-02-29").map(|d| d.day()), Ok(29));
        assert_eq!(parse_date("2026-02-29"), Err("February 2026 has 28 days".to_owned()));
        assert_eq!(parse_date("2026-00-10"), Err("there is no month 0".to_owned()));
        assert_eq!(parse_date("2026-1-10"), Err("expected `YYYY-MM-DD`".to_owned()));
        assert_eq!(parse_date("２０２６-01-01"), Err("expected `YYYY-MM-DD`".to_owned()));
    }
}
