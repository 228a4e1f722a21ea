//! Calendars: weekly opening hours in a time zone (Europe/Madrid and its
//! daylight-saving changes), public-holiday lists, and exceptional closures
//! or openings, read from a TOML file operators edit.
//!
//! INTERFACE PLACEHOLDER written by the lead so the compiler and the
//! interpreter can be built in parallel; the calendar owner replaces the
//! bodies (keeping the signatures) with the real implementation.

use crate::diagnostics::Diagnostic;

/// Index of a named schedule in a [`Calendar`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScheduleId(pub u32);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Calendar {}

impl Calendar {
    /// Parses and checks a calendar file; `file` names it in diagnostics.
    /// Every problem is reported at once.
    pub fn parse(file: &str, text: &str) -> Result<Calendar, Vec<Diagnostic>> {
        let _ = (file, text);
        todo!("calendar owner")
    }

    /// The id of a schedule by name ("staffed").
    pub fn schedule(&self, name: &str) -> Option<ScheduleId> {
        let _ = name;
        todo!("calendar owner")
    }

    /// Whether the schedule is open at this instant.
    pub fn is_open(&self, schedule: ScheduleId, at: jiff::Timestamp) -> bool {
        let _ = (schedule, at);
        todo!("calendar owner")
    }

    /// The next instant after `at` when the schedule opens or closes
    /// (None if it never changes again within a year).
    pub fn next_change(&self, schedule: ScheduleId, at: jiff::Timestamp) -> Option<jiff::Timestamp> {
        let _ = (schedule, at);
        todo!("calendar owner")
    }
}
