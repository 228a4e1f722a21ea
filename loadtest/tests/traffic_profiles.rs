//! The 012 line's traffic model: the year's shape (intraday, weekly,
//! seasonal, campaign), the arrival stream, and the journey mix, as the
//! simulated year and the live generator use them.

use jiff::civil::{Date, Weekday, date};
use loadtest::traffic::{
    ContactChoice, DtmfMethod, DurationDist, Intent, Journey, JourneyMix, JourneyState, Keys, Language, Reply, Topic,
    TrafficProfile,
};

fn holidays() -> Vec<Date> {
    vec![date(2026, 1, 1), date(2026, 1, 6), date(2026, 4, 3), date(2026, 4, 6), date(2026, 12, 25)]
}

fn year() -> TrafficProfile {
    TrafficProfile::line_year(2026, 2_000_000, holidays()).expect("the line's year")
}

fn calls_on(profile: &TrafficProfile, day: Date) -> f64 {
    profile.slots().expect("slots").iter().filter(|s| s.local_date == day).map(|s| s.expected_calls).sum()
}

#[test]
fn the_year_has_two_million_calls_over_365_local_days_including_both_dst_changes() {
    let y = year();
    let slots = y.slots().expect("slots");
    let total: f64 = slots.iter().map(|s| s.expected_calls).sum();
    assert!((total - 2_000_000.0).abs() < 1e-3, "{total}");
    // 365 days of 48 half-hours, minus the lost hour in March, plus the
    // repeated one in October.
    assert_eq!(slots.len(), 365 * 48);
    let march_change = slots.iter().filter(|s| s.local_date == date(2026, 3, 29)).count();
    let october_change = slots.iter().filter(|s| s.local_date == date(2026, 10, 25)).count();
    assert_eq!((march_change, october_change), (46, 50));
}

#[test]
fn mondays_are_the_busiest_days_and_sundays_and_holidays_the_quietest() {
    let y = year();
    // The week of 12 January 2026 (no holiday).
    let week: Vec<f64> = (12..19).map(|d| calls_on(&y, date(2026, 1, d))).collect();
    assert!(week.windows(2).all(|w| w[0] > w[1]), "Monday to Sunday, falling: {week:?}");
    assert_eq!(date(2026, 1, 12).weekday(), Weekday::Monday);
    // Reis (6 January, a Tuesday) weighs as a Sunday of its month.
    assert!((calls_on(&y, date(2026, 1, 6)) - week[6]).abs() < 1e-6);
}

#[test]
fn january_is_high_and_august_low() {
    let y = year();
    let month = |m: i8| -> f64 {
        y.slots().expect("slots").iter().filter(|s| s.local_date.month() == m).map(|s| s.expected_calls).sum::<f64>()
            / f64::from(date(2026, m, 1).days_in_month())
    };
    let per_day: Vec<f64> = (1..=12).map(month).collect();
    let highest = per_day.iter().cloned().fold(f64::MIN, f64::max);
    let lowest = per_day.iter().cloned().fold(f64::MAX, f64::min);
    assert_eq!(per_day[7], lowest, "August lowest: {per_day:?}");
    // January, or the September campaign.
    assert!(per_day[0] == highest || per_day[8] == highest, "{per_day:?}");
    assert!(per_day[0] > 2.0 * per_day[7]);
}

#[test]
fn the_day_peaks_mid_morning_and_the_ivr_still_takes_calls_at_night() {
    let y = year();
    let day = date(2026, 2, 9);
    let slots: Vec<_> = y.slots().expect("slots").into_iter().filter(|s| s.local_date == day).collect();
    let peak = slots.iter().max_by(|a, b| a.expected_calls.total_cmp(&b.expected_calls)).expect("a day has slots");
    assert!((20..24).contains(&peak.half_hour), "peak at half-hour {}", peak.half_hour);
    let three_am = &slots[6];
    assert!(three_am.expected_calls > 0.0 && three_am.expected_calls < peak.expected_calls / 20.0);
}

#[test]
fn the_busy_hour_is_a_campaign_monday_mid_morning_and_the_busy_day_a_january_monday() {
    let y = year();
    let busy = y.busy_hour().expect("busy hour");
    assert_eq!(busy.local_date, date(2026, 9, 14), "the campaign's first day, a Monday");
    assert!((10..12).contains(&busy.hour), "{}", busy.hour);
    // About 2,000 calls in the busy hour: the sizing figure of docs/capacity.md.
    assert!((1_500.0..2_500.0).contains(&busy.calls), "{}", busy.calls);
    let day = y.busiest_day(false).expect("busiest day");
    assert_eq!((day.month(), day.weekday()), (1, Weekday::Monday));
    let busy_day = TrafficProfile::named("busy-day", holidays()).expect("busy-day");
    assert!((busy_day.total_calls as f64 - calls_on(&y, day)).abs() <= 1.0);
    assert!(TrafficProfile::named("no-such", holidays()).is_err());
}

#[test]
fn arrivals_are_exact_in_number_sorted_in_time_within_the_profile_and_seeded() {
    let y = TrafficProfile { total_calls: 50_000, ..year() };
    let arrivals: Vec<i64> = y.arrivals(7).expect("arrivals").collect();
    assert_eq!(arrivals.len(), 50_000);
    assert!(arrivals.windows(2).all(|w| w[0] <= w[1]));
    let slots = y.slots().expect("slots");
    let (first, last) = (slots[0].start.as_millisecond(), slots[slots.len() - 1].start.as_millisecond() + 1_800_000);
    assert!(arrivals.iter().all(|t| (first..last).contains(t)));
    let again: Vec<i64> = y.arrivals(7).expect("arrivals").collect();
    assert_eq!(arrivals, again);
    let other: Vec<i64> = y.arrivals(8).expect("arrivals").collect();
    assert_ne!(arrivals, other);
}

#[test]
fn arrivals_follow_the_profile_with_poisson_spread() {
    // One Monday, 100,000 calls: each half-hour gets its share, and the
    // counts spread like Poisson counts (variance about the mean).
    let y = year();
    let day = y.window("day", date(2026, 1, 12), 1).expect("window");
    let day = TrafficProfile { total_calls: 100_000, ..day };
    let slots = day.slots().expect("slots");
    let mut counts = vec![0u32; slots.len()];
    for t in day.arrivals(3).expect("arrivals") {
        let i = slots.partition_point(|s| s.start.as_millisecond() <= t) - 1;
        counts[i] += 1;
    }
    let mut chi2 = 0.0;
    for (s, &c) in slots.iter().zip(&counts) {
        chi2 += (f64::from(c) - s.expected_calls).powi(2) / s.expected_calls;
    }
    // 47 degrees of freedom: mean 47, 99.9th percentile about 86.
    assert!((15.0..86.0).contains(&chi2), "chi2 {chi2}: {counts:?}");
}

#[test]
fn the_journey_mix_has_the_lines_shares() {
    let mix = JourneyMix::default();
    let mut rng = fastrand::Rng::with_seed(21);
    let n = 100_000;
    let journeys: Vec<Journey> = (0..n).map(|_| mix.draw(&mut rng)).collect();
    let share = |f: &dyn Fn(&Journey) -> bool| journeys.iter().filter(|j| f(j)).count() as f64 / f64::from(n);
    let total: f64 = mix.languages.iter().sum();
    for (i, language) in Language::ALL.iter().enumerate() {
        let got = share(&|j| j.language == *language);
        assert!((got - mix.languages[i] / total).abs() < 0.01, "{language:?}: {got}");
    }
    assert!((share(&|j| matches!(j.intent, Intent::Operator | Intent::NoInput)) - mix.operator_share()).abs() < 0.01);
    assert_eq!(share(&|j| j.intent == Intent::SelfService && j.topic == Topic::Other), 0.0, "no information for 'other'");
    assert!((share(&|j| j.dtmf == DtmfMethod::Rfc4733) - 0.85).abs() < 0.01);
    assert!((share(&|j| j.contact_choice == ContactChoice::Callback) - 0.35).abs() < 0.01);
    // Satisfaction averages about 8.5 out of 10.
    let scores: Vec<u8> = journeys.iter().filter_map(|j| j.survey).flatten().flatten().collect();
    let mean = scores.iter().map(|s| f64::from(*s)).sum::<f64>() / scores.len() as f64;
    assert!((mean - 8.5).abs() < 0.05 && (mix.mean_score() - 8.5).abs() < 0.02, "{mean}");
    assert!(scores.iter().all(|s| *s <= 10));
    let talk = journeys.iter().map(|j| j.talk.as_secs_f64()).sum::<f64>() / f64::from(n);
    assert!((talk - mix.talk.mean_secs()).abs() / mix.talk.mean_secs() < 0.02, "{talk}");
    // Seeded: the same seed draws the same callers.
    let mut again = fastrand::Rng::with_seed(21);
    assert_eq!(mix.draw(&mut again), journeys[0]);
}

fn journey(intent: Intent, topic: Topic) -> Journey {
    let mut rng = fastrand::Rng::with_seed(1);
    Journey {
        intent,
        topic,
        language: Language::Es,
        hear_again: false,
        survey: Some([Some(9), None, Some(10)]),
        contact_choice: ContactChoice::Message,
        think: DurationDist::Fixed { secs: 1.0 }.sample(&mut rng),
        ..JourneyMix::default().draw(&mut rng)
    }
}

#[test]
fn a_caller_who_wants_an_operator_chooses_language_topic_and_operator_then_scores() {
    let j = journey(Intent::Operator, Topic::Health);
    let mut m = JourneyState::default();
    assert_eq!(j.reply(&mut m, "choose-language"), Reply::Press(Keys::one('2')));
    assert_eq!(j.reply(&mut m, "main-menu"), Reply::Press(Keys::one('2')));
    assert_eq!(j.reply(&mut m, "info-options"), Reply::Press(Keys::one('2')));
    assert_eq!(j.reply(&mut m, "survey-overall"), Reply::Press(Keys::score(9)));
    assert_eq!(j.reply(&mut m, "survey-resolved"), Reply::Wait, "left to time out");
    assert_eq!(j.reply(&mut m, "survey-resolved"), Reply::Wait, "and again when asked again");
    assert_eq!(j.reply(&mut m, "survey-operator"), Reply::Press(Keys::score(10)));
    assert_eq!(Keys::score(10).as_slice(), &['1', '0', '#']);
    assert_eq!(j.reply(&mut m, "contact-options"), Reply::Press(Keys::one('2')), "a message");
    assert_eq!(j.reply(&mut m, "some-new-prompt"), Reply::HangUp, "unknown: leave, never loop");
    // "Other" is the main menu's operator option.
    let other = journey(Intent::Operator, Topic::Other);
    assert_eq!(other.reply(&mut JourneyState::default(), "main-menu"), Reply::Press(Keys::one('6')));
}

#[test]
fn a_self_service_caller_hears_the_information_and_leaves_and_a_silent_one_presses_nothing() {
    let j = Journey { hear_again: true, ..journey(Intent::SelfService, Topic::Work) };
    let mut m = JourneyState::default();
    assert_eq!(j.reply(&mut m, "main-menu"), Reply::Press(Keys::one('4')));
    assert_eq!(j.reply(&mut m, "info-options"), Reply::Press(Keys::one('1')), "again");
    assert_eq!(j.reply(&mut m, "info-options"), Reply::HangUp);
    let silent = journey(Intent::NoInput, Topic::Work);
    let mut m = JourneyState::default();
    assert_eq!(silent.reply(&mut m, "choose-language"), Reply::Wait);
    assert_eq!(silent.reply(&mut m, "main-menu"), Reply::Wait);
}
