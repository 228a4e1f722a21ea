//! `report` against the fixture: every metric of `docs/metrics.md`, by
//! every grouping, with the figures worked out in `fixture.rs`.

use ivr_store::Store;
use ivr_store::report::{GroupBy, ReportError, ReportQuery, ReportTable, Tally, report};
use jiff::civil::date;

use crate::fixture::{self, at};

fn two_days(by: GroupBy) -> ReportQuery {
    ReportQuery::days(date(2026, 10, 24), date(2026, 10, 25), by).expect("valid days")
}

async fn run(store: &Store, query: &ReportQuery) -> ReportTable {
    report(store, query).await.expect("report runs")
}

fn close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: undefined, expected {expected}"));
    assert!((actual - expected).abs() < 1e-9, "{what}: {actual} != {expected}");
}

fn row<'a>(table: &'a ReportTable, group: &str) -> &'a Tally {
    &table.rows.iter().find(|r| r.group == group).unwrap_or_else(|| panic!("no row {group}")).tally
}

pub async fn totals_match_the_hand_computed_figures(store: Store) {
    fixture::load(&store, true).await;
    let t = run(&store, &two_days(GroupBy::Day)).await.total;
    assert_eq!(
        (t.offered, t.ivr_completed, t.ivr_abandoned, t.out_of_hours, t.queued, t.answered),
        (13, 1, 1, 2, 9, 5)
    );
    assert_eq!((t.abandoned, t.short_abandoned, t.called_back, t.other()), (3, 1, 1, 0));
    close(t.service_level(), 0.4, "SL");
    close(t.service_level_2(), 3.0 / 7.0, "SL2");
    close(t.abandon_rate(), 0.25, "abandon rate");
    close(t.asa_s(), 21.6, "ASA");
    assert_eq!((t.talk_ms, t.hold_ms, t.wrap_up_ms), (780_000, 80_000, 120_000));
    close(t.aht_s(), 196.0, "AHT");
    close(t.acw_s(), 24.0, "ACW");
    assert_eq!(t.longest_wait_ms, Some(45_000));
    assert_eq!(t.staffed_ms, Some(7 * 3_600_000));
    close(t.occupancy(), 980.0 / 25_200.0, "occupancy");
    assert_eq!(t.scores, [0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 2]);
    close(t.satisfaction(), 8.6, "satisfaction");

    // Grouped by week the same calls give the same totals.
    let weeks = run(&store, &two_days(GroupBy::Week)).await;
    assert_eq!(weeks.rows.iter().map(|r| r.group.as_str()).collect::<Vec<_>>(), ["2026-W43"]);
    assert_eq!(weeks.total, t);
}

pub async fn days_follow_madrid_midnights_and_the_long_day_has_25_hours(store: Store) {
    fixture::load(&store, true).await;
    let table = run(&store, &two_days(GroupBy::Day)).await;
    assert_eq!(table.rows.iter().map(|r| r.group.as_str()).collect::<Vec<_>>(), ["2026-10-24", "2026-10-25"]);
    let sunday = table.rows[1].interval.as_ref().expect("a day has an interval");
    assert_eq!(sunday.end_ms - sunday.start_ms, 25 * 3_600_000);
    assert_eq!(sunday.start_ms, at("2026-10-25T00:00+02:00"));

    let sat = row(&table, "2026-10-24");
    assert_eq!((sat.offered, sat.queued, sat.answered, sat.abandoned), (7, 5, 2, 3));
    close(sat.service_level(), 0.5, "Saturday SL");
    close(sat.service_level_2(), 0.5, "Saturday SL2: (1 + 1) / (2 + 3 - 1)");
    close(sat.asa_s(), 18.5, "Saturday ASA");
    close(sat.aht_s(), 185.0, "Saturday AHT: (250 + 120) / 2");
    assert_eq!(sat.longest_wait_ms, Some(45_000));
    close(sat.satisfaction(), 25.0 / 3.0, "Saturday satisfaction");
    close(sat.occupancy(), 370.0 / 14_400.0, "Saturday occupancy");

    // c13 started at 23:59:50 and was answered after midnight: Sunday's.
    let sun = row(&table, "2026-10-25");
    assert_eq!((sun.offered, sun.out_of_hours, sun.queued, sun.answered, sun.called_back), (6, 2, 4, 3, 1));
    close(sun.service_level(), 1.0 / 3.0, "Sunday SL (c10 at exactly 20 s counts)");
    close(sun.asa_s(), 71.0 / 3.0, "Sunday ASA");
    close(sun.aht_s(), 610.0 / 3.0, "Sunday AHT");
    assert_eq!(sun.longest_wait_ms, Some(30_000));
    close(sun.satisfaction(), 9.0, "Sunday satisfaction (the unanswered question is no score)");
    // a2's shift runs to 00:30 on Monday; only the hour before midnight is Sunday's.
    assert_eq!(sun.staffed_ms, Some(3 * 3_600_000));
}

pub async fn the_repeated_october_hour_is_two_rows(store: Store) {
    fixture::load(&store, true).await;
    let table = run(&store, &two_days(GroupBy::Hour)).await;
    assert_eq!(table.rows.len(), 24 + 25);
    let first = row(&table, "2026-10-25 02:00 +02:00");
    let second = row(&table, "2026-10-25 02:00 +01:00");
    assert_eq!((first.offered, first.out_of_hours), (1, 1), "c08");
    assert_eq!((second.offered, second.out_of_hours), (1, 1), "c09");
    assert_eq!(row(&table, "2026-10-24 10:00 +02:00").offered, 4);
    assert_eq!(row(&table, "2026-10-25 23:00 +01:00").offered, 1);
    // Hours add up to the days.
    let days = run(&store, &two_days(GroupBy::Day)).await;
    assert_eq!(table.total, days.total);
}

pub async fn by_agent_gives_each_agent_their_calls_scores_and_occupancy(store: Store) {
    fixture::load(&store, true).await;
    let table = run(&store, &two_days(GroupBy::Agent)).await;
    assert_eq!(table.rows.iter().map(|r| r.group.as_str()).collect::<Vec<_>>(), ["(none)", "a1", "a2"]);
    let a1 = row(&table, "a1");
    assert_eq!((a1.offered, a1.answered, a1.answered_in_sl), (3, 3, 2));
    close(a1.satisfaction(), 37.0 / 4.0, "a1 satisfaction");
    close(a1.occupancy(), 790.0 / 14_400.0, "a1 occupancy: 790 s handled in 4 h ready");
    let a2 = row(&table, "a2");
    assert_eq!((a2.offered, a2.answered), (2, 2));
    close(a2.satisfaction(), 6.0, "a2 satisfaction");
    close(a2.occupancy(), 190.0 / 10_800.0, "a2 occupancy: 190 s in 3 h");
    let none = row(&table, "(none)");
    assert_eq!((none.offered, none.answered, none.surveys()), (8, 0, 0));
    assert_eq!(none.occupancy(), None);
    assert_eq!(table.total.offered, 13);
    close(table.total.occupancy(), 980.0 / 25_200.0, "total occupancy");
}

pub async fn by_topic_and_language_put_calls_without_one_under_none(store: Store) {
    fixture::load(&store, true).await;
    let topics = run(&store, &two_days(GroupBy::Topic)).await;
    let offered: Vec<(&str, i64)> = topics.rows.iter().map(|r| (r.group.as_str(), r.tally.offered)).collect();
    assert_eq!(offered, [("(none)", 3), ("health", 6), ("housing", 1), ("taxes", 2), ("transport", 1)]);
    close(row(&topics, "health").satisfaction(), 29.0 / 3.0, "health satisfaction");
    close(row(&topics, "taxes").service_level(), 0.0, "taxes SL: c04 waited 25 s");
    close(row(&topics, "health").service_level_2(), 3.0 / 5.0, "health SL2: c03, c10, c06 of c03 c10 c13 c06 c07");
    // Occupancy is about agents, not topics.
    assert_eq!(row(&topics, "health").occupancy(), None);

    let languages = run(&store, &two_days(GroupBy::Language)).await;
    let offered: Vec<(&str, i64)> = languages.rows.iter().map(|r| (r.group.as_str(), r.tally.offered)).collect();
    assert_eq!(offered, [("ca", 8), ("en", 1), ("es", 4)]);
    close(row(&languages, "es").satisfaction(), 6.0, "es satisfaction");

    let queues = run(&store, &two_days(GroupBy::Queue)).await;
    assert_eq!(row(&queues, "general").queued, 9);
    assert_eq!(row(&queues, "(none)").queued, 0);
}

pub async fn a_survey_question_can_be_reported_alone(store: Store) {
    fixture::load(&store, true).await;
    let query = ReportQuery { question: Some("overall".to_owned()), ..two_days(GroupBy::Day) };
    let t = run(&store, &query).await.total;
    // overall: 9 (c03), 6 (c04), 10 (c10), 8 (c11).
    assert_eq!(t.surveys(), 4);
    close(t.satisfaction(), 8.25, "overall satisfaction");
    assert_eq!(t.offered, 13, "the question filters scores, not calls");
}

pub async fn csv_text_and_json_show_the_same_figures(store: Store) {
    fixture::load(&store, true).await;
    let table = run(&store, &two_days(GroupBy::Day)).await;

    let csv = table.to_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "header, two days, total:\n{csv}");
    assert_eq!(
        lines[0],
        "day,offered,ivr_completed,ivr_abandoned,out_of_hours,queued,answered,abandoned,short_abandoned,\
         called_back,other,abandon_rate,service_level,sl2,asa_s,aht_s,acw_s,occupancy,longest_wait_s,surveys,\
         satisfaction,score_0,score_1,score_2,score_3,score_4,score_5,score_6,score_7,score_8,score_9,score_10"
    );
    assert_eq!(
        lines[3],
        "Total,13,1,1,2,9,5,3,1,1,0,0.2500,0.4000,0.4286,21.6,196.0,24.0,0.0389,45.0,5,8.60,0,0,0,0,0,0,1,0,1,1,2"
    );

    let text = table.to_text();
    let total_line = text.lines().last().expect("text has lines");
    let cells: Vec<&str> = total_line.split_whitespace().collect();
    assert_eq!(cells[..8], ["Total", "13", "1", "1", "2", "9", "5", "3"]);
    assert!(total_line.contains("40.0%") && total_line.contains("42.9%") && total_line.contains("8.60"), "{total_line}");
    // Every line of the table has the same width up to its last column.
    assert!(text.contains("Europe/Madrid"));

    let json: serde_json::Value = serde_json::from_str(&table.to_json()).expect("valid JSON");
    assert_eq!(json["by"], "day");
    assert_eq!(json["total"]["service_level"], 0.4);
    assert_eq!(json["total"]["sl2"], 0.4286);
    assert_eq!(json["total"]["scores"][10], 2);
    assert_eq!(json["rows"][1]["group"], "2026-10-25");
    assert_eq!(json["rows"][1]["start"], "2026-10-24T22:00:00Z");
    assert_eq!(json["rows"][1]["end"], "2026-10-25T23:00:00Z");
    assert_eq!(json["rows"][1]["abandon_rate"], serde_json::json!(0.0));

    // An empty day: ratios are undefined, not zero.
    let empty = run(&store, &ReportQuery::days(date(2026, 11, 1), date(2026, 11, 1), GroupBy::Day).expect("day")).await;
    let json: serde_json::Value = serde_json::from_str(&empty.to_json()).expect("valid JSON");
    assert_eq!(json["total"]["offered"], 0);
    assert!(json["total"]["service_level"].is_null());
    assert!(empty.to_csv().lines().nth(1).expect("the day's line").starts_with("2026-11-01,0,0,0,0,0,0,0,0,0,0,,,,"));
}

pub async fn without_staffing_rows_occupancy_is_undefined(store: Store) {
    fixture::load(&store, false).await;
    let table = run(&store, &two_days(GroupBy::Agent)).await;
    assert_eq!(row(&table, "a1").occupancy(), None);
    assert_eq!(table.total.answered, 5, "everything else is still reported");

    let backwards = ReportQuery::new(
        jiff::Timestamp::from_millisecond(at("2026-10-25T00:00+02:00")).expect("valid"),
        jiff::Timestamp::from_millisecond(at("2026-10-24T00:00+02:00")).expect("valid"),
        GroupBy::Day,
    );
    assert!(matches!(report(&store, &backwards).await, Err(ReportError::EmptyRange { .. })));
}
