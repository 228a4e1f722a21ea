//! Calendars as the 012 line uses them: the real file
//! `dialplans/calendars/catalonia.toml`, the edge cases of its hours
//! (23:00 exactly, the nights the clocks change, holidays), and every
//! message a broken file gets, word for word.

use ivr_dialplan::calendar::{Calendar, ScheduleId};
use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use proptest::prelude::*;

const REAL_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dialplans/calendars/catalonia.toml");

fn real() -> Calendar {
    let text = std::fs::read_to_string(REAL_FILE).expect("the line's calendar file is in the repository");
    match Calendar::parse("dialplans/calendars/catalonia.toml", &text) {
        Ok(calendar) => calendar,
        Err(errors) => panic!("the line's calendar does not check: {errors:#?}"),
    }
}

fn parse(text: &str) -> Calendar {
    match Calendar::parse("test.toml", text) {
        Ok(calendar) => calendar,
        Err(errors) => panic!("{errors:#?}"),
    }
}

fn schedule(calendar: &Calendar, name: &str) -> ScheduleId {
    calendar.schedule(name).unwrap_or_else(|| panic!("schedule `{name}`"))
}

/// A wall-clock time in Madrid ("2026-11-30 07:00:00"); the earlier of the
/// two on the night the clocks go back.
fn madrid(local: &str) -> Timestamp {
    let dt: DateTime = local.parse().expect("test datetime");
    let tz = TimeZone::get("Europe/Madrid").expect("bundled tz database");
    tz.to_ambiguous_timestamp(dt).earlier().expect("in range")
}

fn utc(instant: &str) -> Timestamp {
    instant.parse().expect("test timestamp")
}

fn staffed_open(local: &str) -> bool {
    let calendar = real();
    calendar.is_open(schedule(&calendar, "staffed"), madrid(local))
}

// --- Opening hours ---------------------------------------------------------

#[test]
fn staffed_hours_are_seven_inclusive_to_eleven_exclusive() {
    // Monday 30 November 2026.
    assert!(!staffed_open("2026-11-30 06:59:59"));
    assert!(staffed_open("2026-11-30 07:00:00"));
    assert!(staffed_open("2026-11-30 22:59:59"));
    assert!(!staffed_open("2026-11-30 23:00:00"));
    assert!(!staffed_open("2026-11-30 23:59:59"));
    // Saturday is a working day for the line.
    assert!(staffed_open("2026-11-28 12:00:00"));
}

#[test]
fn sunday_is_closed_all_day_but_the_ivr_never_closes() {
    let calendar = real();
    let (staffed, ivr) = (schedule(&calendar, "staffed"), schedule(&calendar, "ivr"));
    for time in ["2026-11-29 00:00:00", "2026-11-29 07:00:00", "2026-11-29 12:00:00", "2026-11-29 22:59:59"] {
        assert!(!calendar.is_open(staffed, madrid(time)), "{time}");
        assert!(calendar.is_open(ivr, madrid(time)), "{time}");
    }
    assert_eq!(calendar.next_change(ivr, madrid("2026-11-29 12:00:00")), None);
}

#[test]
fn catalan_public_holidays_close_the_staffed_line() {
    // 6 January (Tuesday), 11 September (Friday), 26 December (Saturday).
    assert!(!staffed_open("2026-01-06 12:00:00"));
    assert!(staffed_open("2026-01-07 12:00:00"));
    assert!(!staffed_open("2026-09-11 07:00:00"));
    assert!(staffed_open("2026-09-10 22:59:59"));
    assert!(!staffed_open("2026-12-26 12:00:00"));
    assert!(!staffed_open("2026-12-25 12:00:00"));
    assert!(staffed_open("2026-12-24 12:00:00"));
    // Easter: Good Friday and Easter Monday.
    assert!(!staffed_open("2026-04-03 12:00:00"));
    assert!(!staffed_open("2026-04-06 12:00:00"));
    assert!(staffed_open("2026-04-04 12:00:00"));
    assert!(!staffed_open("2027-03-26 12:00:00"));
    assert!(!staffed_open("2027-03-29 12:00:00"));
    // Sant Joan and the Diada in 2027 (a Thursday and a Saturday).
    assert!(!staffed_open("2027-06-24 12:00:00"));
    assert!(!staffed_open("2027-09-11 12:00:00"));
}

#[test]
fn the_holiday_list_has_twelve_days_a_year() {
    let holidays = real().holidays("catalonia").expect("list");
    for year in [2026, 2027] {
        assert_eq!(holidays.iter().filter(|h| h.date.year() == year).count(), 12, "{year}");
    }
    let sant_joan = holidays.iter().find(|h| h.date.to_string() == "2026-06-24").expect("Sant Joan");
    assert_eq!(sant_joan.name, "Sant Joan");
    assert!(holidays.iter().all(|h| h.date.weekday() != jiff::civil::Weekday::Sunday));
}

// --- The nights the clocks change ------------------------------------------

#[test]
fn spring_forward_night_the_line_reopens_at_seven_summer_time() {
    let calendar = real();
    let staffed = schedule(&calendar, "staffed");
    // Saturday 28 March 2026 closes at 23:00 CET = 22:00 UTC; the clocks go
    // from 02:00 to 03:00 on Sunday 29; Monday 07:00 CEST = 05:00 UTC.
    let saturday_close = calendar.next_change(staffed, madrid("2026-03-28 12:00:00"));
    assert_eq!(saturday_close, Some(utc("2026-03-28T22:00:00Z")));
    let monday_open = calendar.next_change(staffed, utc("2026-03-28T22:00:00Z"));
    assert_eq!(monday_open, Some(utc("2026-03-30T05:00:00Z")));
    assert_eq!(calendar.clock_time(utc("2026-03-30T05:00:00Z")), "07:00");
    assert!(!calendar.is_open(staffed, utc("2026-03-30T04:59:59Z")));
}

#[test]
fn fall_back_night_the_line_reopens_at_seven_winter_time() {
    let calendar = real();
    let staffed = schedule(&calendar, "staffed");
    // Saturday 24 October 2026 closes at 23:00 CEST = 21:00 UTC; Monday 26
    // opens at 07:00 CET = 06:00 UTC.
    assert_eq!(calendar.next_change(staffed, madrid("2026-10-24 12:00:00")), Some(utc("2026-10-24T21:00:00Z")));
    assert_eq!(calendar.next_change(staffed, utc("2026-10-24T21:00:00Z")), Some(utc("2026-10-26T06:00:00Z")));
    assert!(!calendar.is_open(staffed, utc("2026-10-26T05:59:59Z")));
    assert!(calendar.is_open(staffed, utc("2026-10-26T06:00:00Z")));
}

const NIGHT_SHIFTS: &str = r#"
time_zone = "Europe/Madrid"

[schedules.repeated-hour]
sunday = ["02:00-03:00"]

[schedules.across-the-gap]
sunday = ["01:00-04:00"]

[schedules.inside-the-gap]
sunday = ["02:30-05:00"]
"#;

#[test]
fn an_hour_that_happens_twice_is_open_both_times() {
    let calendar = parse(NIGHT_SHIFTS);
    let s = schedule(&calendar, "repeated-hour");
    // 25 October 2026: 02:00 CEST = 00:00 UTC, then 03:00 CEST becomes
    // 02:00 CET = 01:00 UTC, and 03:00 CET = 02:00 UTC.
    assert!(!calendar.is_open(s, utc("2026-10-24T23:59:59Z")));
    assert!(calendar.is_open(s, utc("2026-10-25T00:30:00Z")));
    assert!(calendar.is_open(s, utc("2026-10-25T01:30:00Z")));
    assert!(!calendar.is_open(s, utc("2026-10-25T02:00:00Z")));
    assert_eq!(calendar.next_change(s, utc("2026-10-24T12:00:00Z")), Some(utc("2026-10-25T00:00:00Z")));
    assert_eq!(calendar.next_change(s, utc("2026-10-25T00:00:00Z")), Some(utc("2026-10-25T02:00:00Z")));
}

#[test]
fn an_hour_that_never_happens_is_never_open() {
    let calendar = parse(NIGHT_SHIFTS);
    let s = schedule(&calendar, "repeated-hour");
    // 29 March 2026: from 01:59:59 CET straight to 03:00 CEST.
    assert!(!calendar.is_open(s, utc("2026-03-29T00:59:59Z")));
    assert!(!calendar.is_open(s, utc("2026-03-29T01:00:00Z")));
    // So the next opening is the following Sunday, 02:00 CEST.
    assert_eq!(calendar.next_change(s, utc("2026-03-28T12:00:00Z")), Some(utc("2026-04-05T00:00:00Z")));
}

#[test]
fn a_range_across_the_skipped_hour_lasts_one_hour_less() {
    let calendar = parse(NIGHT_SHIFTS);
    let across = schedule(&calendar, "across-the-gap");
    // 01:00 CET = 00:00 UTC to 04:00 CEST = 02:00 UTC.
    assert_eq!(calendar.next_change(across, utc("2026-03-28T12:00:00Z")), Some(utc("2026-03-29T00:00:00Z")));
    assert_eq!(calendar.next_change(across, utc("2026-03-29T00:00:00Z")), Some(utc("2026-03-29T02:00:00Z")));
    // A range that starts inside the skipped hour opens when the clocks
    // jump (02:00 CET = 01:00 UTC, which reads 03:00 CEST).
    let inside = schedule(&calendar, "inside-the-gap");
    assert_eq!(calendar.next_change(inside, utc("2026-03-28T12:00:00Z")), Some(utc("2026-03-29T01:00:00Z")));
    assert!(calendar.is_open(inside, utc("2026-03-29T01:00:00Z")));
}

// --- Exceptions --------------------------------------------------------------

const WITH_EXCEPTIONS: &str = r#"
time_zone = "Europe/Madrid"

[holidays.catalonia]
dates = ["2026-12-25", { date = "2026-12-26", name = "Sant Esteve" }]

[schedules.staffed]
monday-saturday = ["07:00-23:00"]
closed_on = ["catalonia"]
exceptions = [
  { date = "2026-12-24", hours = ["07:00-15:00"], name = "Nit de Nadal" },
  { date = "2026-12-26", hours = ["09:00-13:00", "16:00-20:00"], name = "Sant Esteve: exceptional opening" },
  { date = "2026-12-31", hours = [], name = "Closed for maintenance" },
]
"#;

#[test]
fn an_exception_replaces_the_hours_of_its_date() {
    let calendar = parse(WITH_EXCEPTIONS);
    let s = schedule(&calendar, "staffed");
    // Shorter day on Thursday 24 December.
    assert!(calendar.is_open(s, madrid("2026-12-24 14:59:59")));
    assert!(!calendar.is_open(s, madrid("2026-12-24 15:00:00")));
    assert_eq!(calendar.next_change(s, madrid("2026-12-24 12:00:00")), Some(madrid("2026-12-24 15:00:00")));
    // Closed all day on Thursday 31 December.
    assert!(!calendar.is_open(s, madrid("2026-12-31 12:00:00")));
    // Open on a holiday, in two shifts.
    assert!(calendar.is_open(s, madrid("2026-12-26 09:00:00")));
    assert!(!calendar.is_open(s, madrid("2026-12-26 14:00:00")));
    assert!(calendar.is_open(s, madrid("2026-12-26 19:59:59")));
    assert_eq!(calendar.next_change(s, madrid("2026-12-26 13:00:00")), Some(madrid("2026-12-26 16:00:00")));
    // The holiday with no exception stays closed; the weekday rule is back
    // on the 28th.
    assert!(!calendar.is_open(s, madrid("2026-12-25 12:00:00")));
    assert_eq!(calendar.hours_on(s, "2026-12-28".parse().expect("date")).len(), 1);
}

// --- "We open again at 07:00" ----------------------------------------------

#[test]
fn next_change_crosses_a_weekend() {
    let calendar = real();
    let s = schedule(&calendar, "staffed");
    // Saturday 28 November 2026, 23:00: closed until Monday 07:00.
    let at = madrid("2026-11-28 23:00:00");
    assert_eq!(calendar.next_change(s, at), Some(madrid("2026-11-30 07:00:00")));
    assert_eq!(calendar.next_opening(s, at), Some(madrid("2026-11-30 07:00:00")));
    // While open, the next change is the closing and the next opening is
    // the morning after.
    let noon = madrid("2026-11-27 12:00:00");
    assert_eq!(calendar.next_change(s, noon), Some(madrid("2026-11-27 23:00:00")));
    assert_eq!(calendar.next_opening(s, noon), Some(madrid("2026-11-28 07:00:00")));
}

#[test]
fn next_change_crosses_holidays() {
    let calendar = real();
    let s = schedule(&calendar, "staffed");
    // Thursday 24 December 2026 at closing: Christmas, Sant Esteve (a
    // Saturday) and Sunday go by; Monday 28 December at 07:00.
    let change = calendar.next_change(s, madrid("2026-12-24 23:00:00")).expect("a change");
    assert_eq!(change, madrid("2026-12-28 07:00:00"));
    assert_eq!(calendar.clock_time(change), "07:00");
    // Monday 5 January: Reis on the Tuesday, open again on the Wednesday.
    assert_eq!(calendar.next_change(s, madrid("2026-01-05 23:30:00")), Some(madrid("2026-01-07 07:00:00")));
}

#[test]
fn a_schedule_with_no_hours_never_changes_and_unknown_ids_are_closed() {
    let calendar = parse("time_zone = \"Europe/Madrid\"\n[schedules.never]\n");
    let never = schedule(&calendar, "never");
    assert!(!calendar.is_open(never, utc("2026-06-01T10:00:00Z")));
    assert_eq!(calendar.next_change(never, utc("2026-06-01T10:00:00Z")), None);
    assert!(!calendar.is_open(ScheduleId(7), utc("2026-06-01T10:00:00Z")));
    assert_eq!(calendar.next_change(ScheduleId(7), utc("2026-06-01T10:00:00Z")), None);
    assert_eq!(calendar.schedule("staffed"), None);
}

// --- Messages for broken files ---------------------------------------------

fn messages(text: &str) -> Vec<String> {
    match Calendar::parse("calendars/broken.toml", text) {
        Ok(_) => panic!("a broken file was accepted"),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_bad_value_is_reported_at_its_line_and_column() {
    let text = r#"time_zone = "Europe/Madird"
timezone = "UTC"

[holidays.catalonia]
dates = [
  { date = "2026-02-30", name = "Not a day" },
  "2026-13-01",
  "26-1-1",
  { date = "2026-12-25", nom = "Nadal" },
  "2026-12-25",
]

[schedules.staffed]
monday = ["07:00-25:00"]
tuesday = ["10:00-09:00"]
wednesday = ["07:00-13:00", "12:00-15:00"]
thursday = ["7-23"]
friday = ["10:00-10:00"]
saturday = ["07:60-08:00"]
sundays = ["10:00-14:00"]
closed_on = ["catalunya"]
exceptions = [
  { date = "2026-12-24", hours = ["07:00-15:00"] },
  { date = "2026-12-24", hours = [] },
  { date = "2026-12-31" },
]
"#;
    assert_eq!(
        messages(text),
        [
            "calendars/broken.toml:1:13: error: unknown time zone `Europe/Madird`",
            "calendars/broken.toml:2:1: error: unknown key `timezone` (expected time_zone, holidays, schedules)",
            "calendars/broken.toml:6:12: error: invalid date `2026-02-30`: February 2026 has 28 days",
            "calendars/broken.toml:7:3: error: invalid date `2026-13-01`: there is no month 13",
            "calendars/broken.toml:8:3: error: invalid date `26-1-1`: expected `YYYY-MM-DD`",
            "calendars/broken.toml:9:26: error: unknown key `nom` in a holiday (expected date, name)",
            "calendars/broken.toml:10:3: error: `2026-12-25` is listed twice in holiday list `catalonia` (first at line 9)",
            "calendars/broken.toml:14:11: error: invalid time `25:00` in `07:00-25:00`: the day goes from 00:00 to 24:00",
            "calendars/broken.toml:15:12: error: time range `10:00-09:00` ends before it starts (a range past midnight is two ranges: `22:00-24:00` on one day and `00:00-02:00` on the next)",
            "calendars/broken.toml:16:29: error: time range `12:00-15:00` overlaps `07:00-13:00`",
            "calendars/broken.toml:17:13: error: invalid time range `7-23`: expected `HH:MM-HH:MM`, e.g. `\"07:00-23:00\"`",
            "calendars/broken.toml:18:11: error: time range `10:00-10:00` is empty",
            "calendars/broken.toml:19:13: error: invalid time `07:60` in `07:60-08:00`: minutes go from 00 to 59",
            "calendars/broken.toml:20:1: error: unknown key `sundays` in schedule `staffed` (expected description, a day (monday .. sunday) or a range of days (monday-friday), closed_on, exceptions)",
            "calendars/broken.toml:21:14: error: unknown holiday list `catalunya` (defined: catalonia)",
            "calendars/broken.toml:24:12: error: two exceptions for `2026-12-24` in schedule `staffed` (the first at line 23)",
            "calendars/broken.toml:25:3: error: the exception for `2026-12-31` needs `hours` (`hours = []` closes all day)",
        ]
    );
}

#[test]
fn wrong_types_and_missing_parts_are_named() {
    let text = r#"
[holidays.catalonia]
description = 2026

[holidays.spain]
dates = [20260101, { name = "no date" }]

[schedules.staffed]
monday = "07:00-23:00"
tuesday = [700]
closed_on = ["spain", "nowhere"]
exceptions = ["2026-12-24"]
"#;
    assert_eq!(
        messages(text),
        [
            "calendars/broken.toml:1:1: error: missing `time_zone`, e.g. `time_zone = \"Europe/Madrid\"`",
            "calendars/broken.toml:2:1: error: holiday list `catalonia` has no `dates`",
            "calendars/broken.toml:3:15: error: `description` must be a string, found integer",
            "calendars/broken.toml:6:10: error: a holiday must be a date like `\"2026-01-01\"` or a table like `{ date = \"2026-01-01\", name = \"Cap d'Any\" }`, found integer",
            "calendars/broken.toml:6:20: error: a holiday needs a `date`",
            "calendars/broken.toml:9:10: error: `monday` must be a list, found string",
            "calendars/broken.toml:10:12: error: a time range (e.g. `\"07:00-23:00\"`) must be a string, found integer",
            "calendars/broken.toml:11:23: error: unknown holiday list `nowhere` (defined: catalonia, spain)",
            "calendars/broken.toml:12:15: error: an exception must be a table like `{ date = \"2026-12-24\", hours = [\"07:00-15:00\"] }`, found string",
        ]
    );
}

#[test]
fn unknown_keys_in_lists_and_exceptions_are_named() {
    let text = r#"time_zone = "UTC"
[holidays.catalonia]
date = "2026-01-01"
dates = []
[schedules.staffed]
exceptions = [{ date = "2026-12-24", hour = ["07:00-15:00"], hours = [] }]
"#;
    assert_eq!(
        messages(text),
        [
            "calendars/broken.toml:3:1: error: unknown key `date` in holiday list `catalonia` (expected description, dates)",
            "calendars/broken.toml:6:38: error: unknown key `hour` in an exception (expected date, hours, name)",
        ]
    );
}

#[test]
fn toml_syntax_errors_are_located_too() {
    let errors = messages("time_zone = \"Europe/Madrid\"\n[schedules.staffed]\nmonday = [\"07:00-23:00\"\n");
    assert_eq!(errors, ["calendars/broken.toml:3:24: error: unclosed array, expected `]`"]);
}

#[test]
fn day_ranges_set_several_days_once() {
    let calendar = parse(
        "time_zone = \"UTC\"\n[schedules.office]\nmonday-friday = [\"09:00-14:00\"]\nsaturday = [\"10:00-12:00\"]\n",
    );
    let office = schedule(&calendar, "office");
    let friday: jiff::civil::Date = "2026-11-27".parse().expect("date");
    assert_eq!(calendar.hours_on(office, friday).iter().map(ToString::to_string).collect::<Vec<_>>(), ["09:00-14:00"]);
    let saturday = friday.tomorrow().expect("date");
    assert_eq!(
        calendar.hours_on(office, saturday).iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["10:00-12:00"]
    );
    assert!(calendar.hours_on(office, saturday.tomorrow().expect("date")).is_empty());

    let text =
        "time_zone = \"UTC\"\n[schedules.office]\nmonday-friday = [\"09:00-14:00\"]\nfriday = []\nsunday-monday = []\n";
    assert_eq!(
        messages(text),
        [
            "calendars/broken.toml:4:1: error: `friday` sets friday again (`monday-friday` at line 3)",
            "calendars/broken.toml:5:1: error: day range `sunday-monday` must run from Monday towards Sunday",
        ]
    );
}

// --- Properties ------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any text is either a calendar or a list of located errors, never a
    /// panic.
    #[test]
    fn any_text_parses_or_reports(text in "[a-z_=\\[\\]\\.\" 0-9:{},\\-\n]{0,200}") {
        if let Err(errors) = Calendar::parse("fuzz.toml", &text) {
            prop_assert!(!errors.is_empty());
            prop_assert!(errors.iter().all(|e| e.position.line >= 1 && e.position.column >= 1));
        }
    }

    /// `next_change` is the first instant the answer changes: the state is
    /// the same at every sampled instant before it and different at it.
    #[test]
    fn next_change_is_the_first_change(seconds in 1_767_225_600i64..1_830_297_600i64) {
        let calendar = real();
        let s = schedule(&calendar, "staffed");
        let at = Timestamp::from_second(seconds).expect("in range");
        let open = calendar.is_open(s, at);
        let change = calendar.next_change(s, at).expect("staffed changes within days");
        prop_assert!(change > at);
        prop_assert!(change.as_second() - at.as_second() <= 5 * 86_400);
        prop_assert_ne!(calendar.is_open(s, change), open);
        let span = change.as_second() - at.as_second();
        for i in 0..97 {
            let t = Timestamp::from_second(at.as_second() + span * i / 97).expect("in range");
            prop_assert_eq!(calendar.is_open(s, t), open);
        }
        prop_assert_eq!(calendar.is_open(s, Timestamp::from_second(change.as_second() - 1).expect("in range")), open);
    }
}
