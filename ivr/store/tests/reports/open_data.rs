//! `export_open_data` against the fixture: October 2026 with k = 3.

use ivr_store::Store;
use ivr_store::open_data::{OTHER, OpenDataRow, export_open_data};

use crate::fixture::{self, PSEUDONYM_PREFIX};

fn groups(rows: &[OpenDataRow]) -> Vec<(&str, i64)> {
    rows.iter().map(|r| (r.group.as_str(), r.calls)).collect()
}

pub async fn open_data_suppresses_small_groups(store: Store) {
    fixture::load(&store, true).await;
    let data = export_open_data(&store, (2026, 10), 3).await.expect("export runs");
    assert_eq!(data.month, "2026-10");

    // The month: the 13 calls of the fixture's weekend plus c00 and c14.
    let totals = data.totals.as_ref().expect("15 calls >= 3");
    assert_eq!((totals.row.calls, totals.row.answered), (15, 5));
    assert_eq!((totals.row.abandoned_in_ivr, totals.row.abandoned_in_queue), (1, 3));
    assert_eq!(totals.row.service_level, Some(0.4));
    assert_eq!((totals.row.satisfaction, totals.row.satisfaction_scores), (Some(8.6), Some(5)));
    // Scores 6, 8, 9 once and 10 twice: every non-zero count is under 3.
    let mut distribution = [Some(0); 11];
    for value in [6, 8, 9, 10] {
        distribution[value] = None;
    }
    assert_eq!(totals.satisfaction_distribution, distribution);

    // The 23rd and 26th have one call each: omitted.
    assert_eq!(groups(&data.by_day), [("2026-10-24", 7), ("2026-10-25", 6)]);
    // 10h: c01-c04; 11h: c05-c07; 09h: c10-c12. 02h has c08 and c09 (both
    // 02:00 hours fold together), 23h c00 and c13, 00h c14: omitted.
    assert_eq!(groups(&data.by_hour), [("09", 3), ("10", 4), ("11", 3)]);
    // Taxes 2, transport 1, housing 1 merge into (other) = 4.
    assert_eq!(groups(&data.by_topic), [("(none)", 3), ("health", 8), (OTHER, 4)]);
    let health = &data.by_topic[1];
    assert_eq!(health.satisfaction_scores, Some(3));
    assert!((health.satisfaction.expect("3 scores") - 29.0 / 3.0).abs() < 1e-9);
    let other = &data.by_topic[2];
    assert_eq!((other.satisfaction, other.satisfaction_scores), (None, None), "2 scores < 3: withheld");
    // en has 1 call: merged into (other), which at 1 call is omitted.
    assert_eq!(groups(&data.by_language), [("ca", 10), ("es", 4)]);

    // With k = 1 nothing is suppressed.
    let all = export_open_data(&store, (2026, 10), 1).await.expect("export runs");
    assert_eq!(all.by_day.len(), 4);
    assert_eq!(groups(&all.by_language), [("ca", 10), ("en", 1), ("es", 4)]);
}

pub async fn open_data_has_no_personal_data_and_writes_its_files(store: Store) {
    fixture::load(&store, true).await;
    let data = export_open_data(&store, (2026, 10), 1).await.expect("export runs");
    let dir = std::env::temp_dir().join(format!("ivr-open-data-{}", crate::unique_suffix()));
    let written = data.write_files(&dir).expect("files written");
    let names: Vec<String> =
        written.iter().map(|p| p.file_name().expect("a file").to_string_lossy().into_owned()).collect();
    assert_eq!(
        names,
        [
            "open-data-2026-10.json",
            "open-data-2026-10-totals.csv",
            "open-data-2026-10-by-day.csv",
            "open-data-2026-10-by-hour.csv",
            "open-data-2026-10-by-topic.csv",
            "open-data-2026-10-by-language.csv",
        ]
    );
    for path in &written {
        let text = std::fs::read_to_string(path).expect("readable");
        for personal in [PSEUDONYM_PREFIX, "c03", "a1", "a2", "welcome", "012"] {
            assert!(!text.contains(personal), "{} contains {personal:?}:\n{text}", path.display());
        }
    }
    let by_day = std::fs::read_to_string(dir.join("open-data-2026-10-by-day.csv")).expect("readable");
    assert_eq!(
        by_day.lines().next(),
        Some("day,calls,answered,abandoned_in_ivr,abandoned_in_queue,service_level,satisfaction,satisfaction_scores")
    );
    assert!(by_day.contains("\n2026-10-24,7,2,1,3,0.5000,8.33,3\n"), "{by_day}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written[0]).expect("readable")).expect("valid JSON");
    assert_eq!(json["min_group"], 1);
    assert_eq!(json["totals"]["calls"], 15);
    let _ = std::fs::remove_dir_all(dir);
}

pub async fn open_data_of_a_quiet_month_publishes_nothing(store: Store) {
    fixture::load(&store, true).await;
    // 15 calls in October, fewer than k = 20.
    let data = export_open_data(&store, (2026, 10), 20).await.expect("export runs");
    assert_eq!(data.totals, None);
    assert!(data.by_day.is_empty() && data.by_hour.is_empty() && data.by_topic.is_empty() && data.by_language.is_empty());
    // A month with no calls at all, even with k = 0.
    let empty = export_open_data(&store, (2026, 11), 0).await.expect("export runs");
    assert_eq!(empty.totals, None);
}
