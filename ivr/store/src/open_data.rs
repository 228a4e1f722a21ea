//! Open data: a month of anonymous aggregates of the line's calls (by day,
//! by hour of the day, by topic, by language, and the month's totals) for
//! publication as CSV and JSON (`ivr export open-data --month YYYY-MM`).
//!
//! # What it owns
//! Choosing what is published from [`crate::report`] tables and suppressing
//! small groups (k-anonymity with k = `min_group`; rules in
//! `docs/metrics.md`): small topics and languages are merged into
//! [`OTHER`] (omitted if that is still small), small days and hours are
//! omitted, satisfaction is withheld unless it rests on `min_group` scores.
//!
//! # What it must never do
//! Publish anything about an individual: no call ids, caller pseudonyms or
//! numbers, agents, IVR paths or timestamps finer than an hour; no count
//! below `min_group` except a zero.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::Serialize;

use crate::Store;
use crate::report::{GroupBy, ReportError, ReportQuery, ReportTable, Tally, report};

/// The group that small topics and languages are merged into.
pub const OTHER: &str = "(other)";

/// One published row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenDataRow {
    /// `2026-03-29`, `00`..`23`, a topic or a language.
    pub group: String,
    /// Calls offered to the line.
    pub calls: i64,
    pub answered: i64,
    pub abandoned_in_ivr: i64,
    pub abandoned_in_queue: i64,
    /// Answered within 20 s / answered.
    pub service_level: Option<f64>,
    /// Mean score 0..10, only when `satisfaction_scores` is published.
    pub satisfaction: Option<f64>,
    /// Number of scores, when at least `min_group`.
    pub satisfaction_scores: Option<i64>,
}

/// The month as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenDataTotals {
    #[serde(flatten)]
    pub row: OpenDataRow,
    pub service_level_2: Option<f64>,
    /// Average speed of answer, seconds.
    pub average_speed_of_answer_s: Option<f64>,
    /// Number of scores of each value 0..=10; a count under `min_group`
    /// (other than 0) is withheld.
    pub satisfaction_distribution: [Option<i64>; 11],
}

/// A month of open data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenData {
    /// `2026-03`.
    pub month: String,
    pub time_zone: String,
    pub min_group: u32,
    /// `None` when the month has fewer than `min_group` calls.
    pub totals: Option<OpenDataTotals>,
    pub by_day: Vec<OpenDataRow>,
    /// Hour of the day, local time (`00`..`23`), over the month.
    pub by_hour: Vec<OpenDataRow>,
    pub by_topic: Vec<OpenDataRow>,
    pub by_language: Vec<OpenDataRow>,
}

/// Why open data could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum OpenDataError {
    #[error("invalid month {0:?} (expected YYYY-MM)")]
    InvalidMonth(String),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// `YYYY-MM` as `(year, month)`.
pub fn parse_month(text: &str) -> Result<(i16, i8), OpenDataError> {
    let invalid = || OpenDataError::InvalidMonth(text.to_owned());
    let (year, month) = text.split_once('-').ok_or_else(invalid)?;
    if year.len() != 4 || month.len() != 2 {
        return Err(invalid());
    }
    let year: i16 = year.parse().map_err(|_| invalid())?;
    let month: i8 = month.parse().map_err(|_| invalid())?;
    Date::new(year, month, 1).map_err(|_| invalid())?;
    Ok((year, month))
}

/// Aggregates the calls that started in `month` (local time), suppressing
/// every group smaller than `min_group`.
pub async fn export_open_data(store: &Store, month: (i16, i8), min_group: u32) -> Result<OpenData, OpenDataError> {
    let (year, month_number) = month;
    let label = format!("{year:04}-{month_number:02}");
    let first = Date::new(year, month_number, 1).map_err(|_| OpenDataError::InvalidMonth(label.clone()))?;
    let last = first.last_of_month();
    let k = i64::from(min_group);
    let query = |by| ReportQuery::days(first, last, by);

    let by_day_table = report(store, &query(GroupBy::Day)?).await?;
    let hours = report(store, &query(GroupBy::Hour)?).await?;
    let topics = report(store, &query(GroupBy::Topic)?).await?;
    let languages = report(store, &query(GroupBy::Language)?).await?;

    let total = &by_day_table.total;
    let mut data = OpenData {
        month: label,
        time_zone: by_day_table.time_zone.clone(),
        min_group,
        totals: None,
        by_day: Vec::new(),
        by_hour: Vec::new(),
        by_topic: Vec::new(),
        by_language: Vec::new(),
    };
    if total.offered < k || total.offered == 0 {
        return Ok(data);
    }
    data.totals = Some(OpenDataTotals {
        row: published("total", total, k),
        service_level_2: total.service_level_2(),
        average_speed_of_answer_s: total.asa_s(),
        satisfaction_distribution: total.scores.map(|n| (n == 0 || n >= k).then_some(n)),
    });
    data.by_day = large_rows(&by_day_table, k);
    data.by_hour = hours_of_day(&hours)
        .into_iter()
        .filter(|(_, tally)| tally.offered >= k && tally.offered > 0)
        .map(|(hour, tally)| published(&format!("{hour:02}"), &tally, k))
        .collect();
    data.by_topic = merge_small(&topics, k);
    data.by_language = merge_small(&languages, k);
    Ok(data)
}

/// A row's published figures; satisfaction only on `k` scores or more.
fn published(group: &str, tally: &Tally, k: i64) -> OpenDataRow {
    let scores = tally.surveys();
    let enough_scores = scores > 0 && scores >= k;
    OpenDataRow {
        group: group.to_owned(),
        calls: tally.offered,
        answered: tally.answered,
        abandoned_in_ivr: tally.ivr_abandoned,
        abandoned_in_queue: tally.abandoned,
        service_level: tally.service_level(),
        satisfaction: if enough_scores { tally.satisfaction() } else { None },
        satisfaction_scores: enough_scores.then_some(scores),
    }
}

/// The rows with at least `k` calls (and at least one).
fn large_rows(table: &ReportTable, k: i64) -> Vec<OpenDataRow> {
    table
        .rows
        .iter()
        .filter(|row| row.tally.offered >= k && row.tally.offered > 0)
        .map(|row| published(&row.group, &row.tally, k))
        .collect()
}

/// Folds an hourly table into hours of the local day (the two October
/// 02:00 hours fold together).
fn hours_of_day(table: &ReportTable) -> BTreeMap<i8, Tally> {
    let mut out: BTreeMap<i8, Tally> = BTreeMap::new();
    for row in &table.rows {
        if let Some(interval) = &row.interval {
            out.entry(interval.period_start.hour()).or_default().add(&row.tally);
        }
    }
    out
}

/// Groups with at least `k` calls as they are; the rest merged into
/// [`OTHER`], itself published only with at least `k` calls.
fn merge_small(table: &ReportTable, k: i64) -> Vec<OpenDataRow> {
    let mut rows = Vec::new();
    let mut other = Tally::default();
    for row in &table.rows {
        if row.tally.offered >= k && row.tally.offered > 0 {
            rows.push(published(&row.group, &row.tally, k));
        } else {
            other.add(&row.tally);
        }
    }
    if other.offered >= k && other.offered > 0 {
        rows.push(published(OTHER, &other, k));
    }
    rows
}

const CSV_HEADER: &str = "calls,answered,abandoned_in_ivr,abandoned_in_queue,service_level,satisfaction,satisfaction_scores";

fn csv_row(row: &OpenDataRow) -> String {
    let ratio = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{}",
        crate::report::csv_field(&row.group),
        row.calls,
        row.answered,
        row.abandoned_in_ivr,
        row.abandoned_in_queue,
        ratio(row.service_level),
        row.satisfaction.map(|v| format!("{v:.2}")).unwrap_or_default(),
        row.satisfaction_scores.map(|n| n.to_string()).unwrap_or_default(),
    )
}

impl OpenData {
    /// One CSV table: `by` is `day`, `hour`, `topic` or `language`.
    pub fn to_csv(&self, by: GroupBy) -> String {
        let rows = match by {
            GroupBy::Hour => &self.by_hour,
            GroupBy::Topic => &self.by_topic,
            GroupBy::Language => &self.by_language,
            _ => &self.by_day,
        };
        let mut out = format!("{},{CSV_HEADER}\n", by.as_str());
        for row in rows {
            out.push_str(&csv_row(row));
            out.push('\n');
        }
        out
    }

    /// The month's totals as CSV (a header and at most one line), with
    /// SL2, ASA and the score distribution.
    pub fn totals_csv(&self) -> String {
        let distribution: Vec<String> = (0..=10).map(|v| format!("score_{v}")).collect();
        let mut out = format!("month,{CSV_HEADER},service_level_2,asa_s,{}\n", distribution.join(","));
        if let Some(totals) = &self.totals {
            let row = OpenDataRow { group: self.month.clone(), ..totals.row.clone() };
            let counts: Vec<String> =
                totals.satisfaction_distribution.iter().map(|n| n.map(|n| n.to_string()).unwrap_or_default()).collect();
            out.push_str(&format!(
                "{},{},{},{}\n",
                csv_row(&row),
                totals.service_level_2.map(|v| format!("{v:.4}")).unwrap_or_default(),
                totals.average_speed_of_answer_s.map(|v| format!("{v:.1}")).unwrap_or_default(),
                counts.join(",")
            ));
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("invariant: OpenData serialises (plain fields, string keys)")
    }

    /// Writes `open-data-YYYY-MM.json` and one CSV per table
    /// (`open-data-YYYY-MM-{totals,by-day,by-hour,by-topic,by-language}.csv`)
    /// into `dir`, creating it; returns the paths written.
    pub fn write_files(&self, dir: &Path) -> Result<Vec<PathBuf>, OpenDataError> {
        std::fs::create_dir_all(dir).map_err(|source| OpenDataError::Write { path: dir.to_owned(), source })?;
        let stem = format!("open-data-{}", self.month);
        let files = [
            (format!("{stem}.json"), self.to_json()),
            (format!("{stem}-totals.csv"), self.totals_csv()),
            (format!("{stem}-by-day.csv"), self.to_csv(GroupBy::Day)),
            (format!("{stem}-by-hour.csv"), self.to_csv(GroupBy::Hour)),
            (format!("{stem}-by-topic.csv"), self.to_csv(GroupBy::Topic)),
            (format!("{stem}-by-language.csv"), self.to_csv(GroupBy::Language)),
        ];
        let mut written = Vec::new();
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(|source| OpenDataError::Write { path: path.clone(), source })?;
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_are_yyyy_mm() {
        assert_eq!(parse_month("2026-03").ok(), Some((2026, 3)));
        for bad in ["2026-3", "2026-13", "26-03", "2026/03", "", "2026-00", "abcd-ef"] {
            assert!(parse_month(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn satisfaction_is_withheld_below_k_scores() {
        let mut scores = [0; 11];
        scores[8] = 2;
        let tally = Tally { offered: 10, answered: 5, answered_in_sl: 4, scores, ..Tally::default() };
        let row = published("x", &tally, 3);
        assert_eq!((row.satisfaction, row.satisfaction_scores), (None, None));
        assert_eq!(row.service_level, Some(0.8));
        let row = published("x", &tally, 2);
        assert_eq!((row.satisfaction, row.satisfaction_scores), (Some(8.0), Some(2)));
    }
}
