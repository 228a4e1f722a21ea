//! When calls arrive: the 012 line's year as a product of shapes (month ×
//! weekday or holiday × campaign × half-hour of the day), scaled to a total,
//! cut into half-hour slots in local time, and turned into seeded arrival
//! instants.
//!
//! Owns the traffic shapes and the arrival process. Must never read the
//! clock or the calendar files (holidays are given as dates), and never
//! allocate per arrival beyond one slot's buffer: the year is streamed.
//!
//! Arrivals: exactly `total_calls` independent instants drawn from the
//! profile's intensity and streamed in time order ([`Arrivals`]): a Poisson
//! process conditioned on its total.

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// Half-hours in a day of 24 hours.
pub const SLOTS_PER_DAY: usize = 48;
/// A slot is this long (a local day of 23 or 25 hours has 46 or 50).
pub const SLOT: SignedDuration = SignedDuration::from_mins(30);

/// A profile that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown traffic profile {0:?} (expected year, busy-day or campaign-day)")]
    UnknownName(String),
    #[error("unknown time zone {0:?}")]
    TimeZone(String),
    #[error("the profile covers no day")]
    NoDays,
    #[error("every slot of the profile has zero weight")]
    NoTraffic,
    #[error("date out of range")]
    Date,
}

/// Several days of heavier traffic (a grant or tax campaign, a news item).
#[derive(Debug, Clone, PartialEq)]
pub struct Campaign {
    pub name: String,
    pub first_day: Date,
    pub days: u32,
    /// Multiplies the day's weight (2.0: twice the calls).
    pub factor: f64,
}

/// A traffic profile: which days, how many calls, and their shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficProfile {
    pub name: String,
    /// IANA zone the shapes are in ("Europe/Madrid").
    pub time_zone: String,
    pub first_day: Date,
    pub days: u32,
    /// Calls over the whole profile.
    pub total_calls: u64,
    /// Relative weight of each local half-hour, 00:00 first.
    pub intraday: [f64; SLOTS_PER_DAY],
    /// Relative weight of each weekday, Monday first.
    pub weekday: [f64; 7],
    /// Relative weight of each month, January first.
    pub monthly: [f64; 12],
    /// Public holidays: weighted as Sundays.
    pub holidays: Vec<Date>,
    pub campaigns: Vec<Campaign>,
}

/// One half-hour of the profile with its expected calls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub start: Timestamp,
    pub local_date: Date,
    /// Local half-hour index, 0 = 00:00-00:30.
    pub half_hour: usize,
    pub expected_calls: f64,
}

/// The busiest clock hour of a profile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BusyHour {
    pub start: Timestamp,
    pub local_date: Date,
    pub hour: usize,
    pub calls: f64,
}

/// The 012 line's intraday curve: a trickle at night (the IVR answers 24×7),
/// the climb from 07:00, the peak from 10:00 to 12:00, a lunchtime dip, a
/// smaller afternoon bump, and the evening fall to 23:00.
pub const LINE_INTRADAY: [f64; SLOTS_PER_DAY] = [
    0.10, 0.08, 0.06, 0.05, 0.04, 0.04, 0.04, 0.04, 0.04, 0.04, 0.05, 0.06, // 00:00-06:00
    0.10, 0.15, 0.45, 0.70, 1.00, 1.35, 1.70, 1.95, 2.15, 2.25, 2.25, 2.15, // 06:00-12:00
    1.95, 1.75, 1.45, 1.20, 1.05, 1.00, 1.10, 1.25, 1.35, 1.40, 1.35, 1.25, // 12:00-18:00
    1.10, 0.95, 0.80, 0.65, 0.55, 0.45, 0.38, 0.32, 0.25, 0.20, 0.15, 0.12, // 18:00-24:00
];
/// Monday highest; Saturday mornings only half; Sunday IVR only.
pub const LINE_WEEKDAY: [f64; 7] = [1.30, 1.15, 1.10, 1.05, 0.95, 0.50, 0.22];
/// January high (new year's procedures, grants), August low.
pub const LINE_MONTHLY: [f64; 12] = [1.30, 1.10, 1.05, 1.00, 1.00, 1.00, 0.85, 0.55, 1.10, 1.05, 1.00, 0.90];

impl TrafficProfile {
    /// The line's year: 2 million calls over `year`, Catalan `holidays`
    /// weighted as Sundays, and a one-week campaign spike in mid-September
    /// (school grants) at twice the usual calls.
    pub fn line_year(year: i16, total_calls: u64, holidays: Vec<Date>) -> Result<TrafficProfile, ProfileError> {
        let first_day = Date::new(year, 1, 1).map_err(|_| ProfileError::Date)?;
        let days = u32::try_from(first_day.days_in_year()).map_err(|_| ProfileError::Date)?;
        let campaign_day = Date::new(year, 9, 14).map_err(|_| ProfileError::Date)?;
        Ok(TrafficProfile {
            name: "year".to_owned(),
            time_zone: "Europe/Madrid".to_owned(),
            first_day,
            days,
            total_calls,
            intraday: LINE_INTRADAY,
            weekday: LINE_WEEKDAY,
            monthly: LINE_MONTHLY,
            holidays,
            campaigns: vec![Campaign { name: "school grants".to_owned(), first_day: campaign_day, days: 5, factor: 2.0 }],
        })
    }

    /// The same shapes cut to `days` days from `first_day`, with the calls
    /// the year would have in them (`year_calls` a year).
    pub fn window(&self, name: &str, first_day: Date, days: u32) -> Result<TrafficProfile, ProfileError> {
        let full = self.slots()?;
        let last = first_day.checked_add(jiff::Span::new().days(i64::from(days))).map_err(|_| ProfileError::Date)?;
        let calls: f64 = full.iter().filter(|s| s.local_date >= first_day && s.local_date < last).map(|s| s.expected_calls).sum();
        Ok(TrafficProfile { name: name.to_owned(), first_day, days, total_calls: calls.round() as u64, ..self.clone() })
    }

    /// A profile by name: `year` (2026, 2 million calls), `busy-day` (the
    /// busiest day of that year that is not a campaign day), `campaign-day`
    /// (the first day of the campaign).
    pub fn named(name: &str, holidays: Vec<Date>) -> Result<TrafficProfile, ProfileError> {
        let year = TrafficProfile::line_year(2026, 2_000_000, holidays)?;
        match name {
            "year" => Ok(year),
            "busy-day" => {
                let day = year.busiest_day(false)?;
                year.window("busy-day", day, 1)
            }
            "campaign-day" => {
                let day = year.campaigns.first().map(|c| c.first_day).ok_or(ProfileError::NoTraffic)?;
                year.window("campaign-day", day, 1)
            }
            other => Err(ProfileError::UnknownName(other.to_owned())),
        }
    }

    pub fn tz(&self) -> Result<TimeZone, ProfileError> {
        TimeZone::get(&self.time_zone).map_err(|_| ProfileError::TimeZone(self.time_zone.clone()))
    }

    /// The relative weight of a local day.
    pub fn day_weight(&self, date: Date) -> f64 {
        let weekday = if self.holidays.contains(&date) { Weekday::Sunday } else { date.weekday() };
        let mut w = self.weekday[usize::from(weekday.to_monday_zero_offset() as u8)] * self.monthly[usize::from(date.month() as u8 - 1)];
        for c in &self.campaigns {
            let offset = (date - c.first_day).get_days();
            if offset >= 0 && i64::from(offset) < i64::from(c.days) {
                w *= c.factor;
            }
        }
        w
    }

    /// Every half-hour of the profile, in time order, with its expected
    /// calls (summing to `total_calls`). Days of 23 or 25 hours have 46 or
    /// 50 slots.
    pub fn slots(&self) -> Result<Vec<Slot>, ProfileError> {
        if self.days == 0 {
            return Err(ProfileError::NoDays);
        }
        let tz = self.tz()?;
        let start = self.first_day.to_zoned(tz.clone()).map_err(|_| ProfileError::Date)?.timestamp();
        let end_day = self.first_day.checked_add(jiff::Span::new().days(i64::from(self.days))).map_err(|_| ProfileError::Date)?;
        let end = end_day.to_zoned(tz.clone()).map_err(|_| ProfileError::Date)?.timestamp();
        let mut slots = Vec::with_capacity(self.days as usize * SLOTS_PER_DAY + 2);
        let mut at = start;
        while at < end {
            let local = tz.to_datetime(at);
            let half_hour = usize::from(local.hour() as u8) * 2 + usize::from(local.minute() >= 30);
            let weight = self.day_weight(local.date()) * self.intraday[half_hour.min(SLOTS_PER_DAY - 1)];
            slots.push(Slot { start: at, local_date: local.date(), half_hour, expected_calls: weight.max(0.0) });
            at = at.checked_add(SLOT).map_err(|_| ProfileError::Date)?;
        }
        let total: f64 = slots.iter().map(|s| s.expected_calls).sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(ProfileError::NoTraffic);
        }
        let scale = self.total_calls as f64 / total;
        for s in &mut slots {
            s.expected_calls *= scale;
        }
        Ok(slots)
    }

    /// The busiest clock hour (two half-hours starting on the hour).
    pub fn busy_hour(&self) -> Result<BusyHour, ProfileError> {
        let slots = self.slots()?;
        slots
            .windows(2)
            .filter(|w| w[0].half_hour % 2 == 0 && w[1].half_hour == w[0].half_hour + 1)
            .map(|w| BusyHour {
                start: w[0].start,
                local_date: w[0].local_date,
                hour: w[0].half_hour / 2,
                calls: w[0].expected_calls + w[1].expected_calls,
            })
            .max_by(|a, b| a.calls.total_cmp(&b.calls))
            .ok_or(ProfileError::NoTraffic)
    }

    /// The local day with the most calls (optionally skipping campaigns).
    pub fn busiest_day(&self, with_campaigns: bool) -> Result<Date, ProfileError> {
        let mut best: Option<(f64, Date)> = None;
        let mut day = self.first_day;
        for _ in 0..self.days {
            let in_campaign = self.campaigns.iter().any(|c| {
                let offset = (day - c.first_day).get_days();
                offset >= 0 && i64::from(offset) < i64::from(c.days)
            });
            if with_campaigns || !in_campaign {
                let w = self.day_weight(day);
                if best.is_none_or(|(bw, _)| w > bw) {
                    best = Some((w, day));
                }
            }
            day = day.tomorrow().map_err(|_| ProfileError::Date)?;
        }
        best.map(|(_, d)| d).ok_or(ProfileError::NoTraffic)
    }

    /// The arrivals of the whole profile, seeded, in time order, exactly
    /// `total_calls` of them.
    pub fn arrivals(&self, seed: u64) -> Result<Arrivals, ProfileError> {
        Ok(Arrivals::new(self.slots()?, self.total_calls, seed))
    }
}

/// A stream of arrival instants: exactly `total_calls` independent draws
/// from the profile's intensity, produced in time order without storing
/// them.
///
/// Sorted uniforms are generated one after the other (the k-th smallest of
/// n uniforms, given the one before: `1 - (1 - x) · V^(1/(n-k+1))`), and
/// each is mapped through the inverse of the cumulative expected calls,
/// linear within a slot. This is a Poisson process conditioned on its total:
/// slots keep their Poisson-like variability even when they expect less
/// than one call, which a rounded share per slot would remove.
#[derive(Debug)]
pub struct Arrivals {
    slots: Vec<Slot>,
    /// Cumulative share of the expected calls at the start of each slot,
    /// with 1.0 appended.
    cumulative: Vec<f64>,
    slot: usize,
    remaining: u64,
    last: f64,
    rng: fastrand::Rng,
}

impl Arrivals {
    fn new(slots: Vec<Slot>, total: u64, seed: u64) -> Arrivals {
        let sum: f64 = slots.iter().map(|s| s.expected_calls).sum();
        let mut cumulative = Vec::with_capacity(slots.len() + 1);
        let mut running = 0.0;
        for s in &slots {
            cumulative.push(if sum > 0.0 { running / sum } else { 0.0 });
            running += s.expected_calls;
        }
        cumulative.push(1.0);
        Arrivals { slots, cumulative, slot: 0, remaining: total, last: 0.0, rng: fastrand::Rng::with_seed(seed) }
    }

    /// Arrivals still to come.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }
}

impl Iterator for Arrivals {
    /// Epoch milliseconds of one arrival.
    type Item = i64;

    fn next(&mut self) -> Option<i64> {
        if self.remaining == 0 || self.slots.is_empty() {
            return None;
        }
        let v = 1.0 - self.rng.f64();
        self.last = 1.0 - (1.0 - self.last) * v.powf(1.0 / self.remaining as f64);
        self.remaining -= 1;
        let u = self.last.clamp(0.0, 1.0);
        while self.slot + 1 < self.slots.len() && self.cumulative[self.slot + 1] <= u {
            self.slot += 1;
        }
        let (lo, hi) = (self.cumulative[self.slot], self.cumulative[self.slot + 1]);
        let fraction = if hi > lo { ((u - lo) / (hi - lo)).clamp(0.0, 1.0) } else { 0.0 };
        let len_ms = SLOT.as_millis() as f64;
        let start = self.slots[self.slot].start.as_millisecond();
        Some(start + ((fraction * len_ms) as i64).min(len_ms as i64 - 1))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        (n, Some(n))
    }
}
