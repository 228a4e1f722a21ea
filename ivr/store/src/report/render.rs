//! A [`ReportTable`] as aligned text (for a terminal), CSV (for a
//! spreadsheet) and JSON (for the console and scripts). All three show the
//! same figures; text leaves out the score distribution to stay readable.
//! An undefined metric is empty in text and CSV and `null` in JSON.

use serde_json::{Value, json};

use super::{ReportRow, ReportTable, Tally};

/// `--format table|csv|json` of `ivr report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

/// `--format` text that names no [`ReportFormat`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format {0:?} (expected table, csv or json)")]
pub struct UnknownFormat(pub String);

impl std::str::FromStr for ReportFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "table" => Ok(ReportFormat::Table),
            "csv" => Ok(ReportFormat::Csv),
            "json" => Ok(ReportFormat::Json),
            other => Err(UnknownFormat(other.to_owned())),
        }
    }
}

/// Label of the total row in text and CSV.
pub const TOTAL: &str = "Total";

/// How one metric is shown.
#[derive(Clone, Copy)]
enum Format {
    Count,
    /// A ratio, as a percentage in text and a fraction in CSV and JSON.
    Ratio,
    Seconds,
    Score,
}

type Getter = fn(&Tally) -> Option<f64>;

/// The metric columns, in order: name, format, value.
const COLUMNS: [(&str, Format, Getter); 20] = [
    ("offered", Format::Count, |t| Some(t.offered as f64)),
    ("ivr_completed", Format::Count, |t| Some(t.ivr_completed as f64)),
    ("ivr_abandoned", Format::Count, |t| Some(t.ivr_abandoned as f64)),
    ("out_of_hours", Format::Count, |t| Some(t.out_of_hours as f64)),
    ("queued", Format::Count, |t| Some(t.queued as f64)),
    ("answered", Format::Count, |t| Some(t.answered as f64)),
    ("abandoned", Format::Count, |t| Some(t.abandoned as f64)),
    ("short_abandoned", Format::Count, |t| Some(t.short_abandoned as f64)),
    ("called_back", Format::Count, |t| Some(t.called_back as f64)),
    ("other", Format::Count, |t| Some(t.other() as f64)),
    ("abandon_rate", Format::Ratio, Tally::abandon_rate),
    ("service_level", Format::Ratio, Tally::service_level),
    ("sl2", Format::Ratio, Tally::service_level_2),
    ("asa_s", Format::Seconds, Tally::asa_s),
    ("aht_s", Format::Seconds, Tally::aht_s),
    ("acw_s", Format::Seconds, Tally::acw_s),
    ("occupancy", Format::Ratio, Tally::occupancy),
    ("longest_wait_s", Format::Seconds, Tally::longest_wait_s),
    ("surveys", Format::Count, |t| Some(t.surveys() as f64)),
    ("satisfaction", Format::Score, Tally::satisfaction),
];

fn text_cell(format: Format, value: Option<f64>) -> String {
    let Some(value) = value else { return String::new() };
    match format {
        Format::Count => format!("{value:.0}"),
        Format::Ratio => format!("{:.1}%", value * 100.0),
        Format::Seconds => format!("{value:.1}"),
        Format::Score => format!("{value:.2}"),
    }
}

fn csv_cell(format: Format, value: Option<f64>) -> String {
    let Some(value) = value else { return String::new() };
    match format {
        Format::Count => format!("{value:.0}"),
        Format::Ratio => format!("{value:.4}"),
        Format::Seconds => format!("{value:.1}"),
        Format::Score => format!("{value:.2}"),
    }
}

/// Rounded to 4 decimals so that JSON output is stable and free of
/// binary-fraction noise.
fn json_number(format: Format, value: Option<f64>) -> Value {
    match (format, value) {
        (_, None) => Value::Null,
        (Format::Count, Some(v)) => json!(v as i64),
        (_, Some(v)) => json!((v * 10_000.0).round() / 10_000.0),
    }
}

/// RFC 4180 quoting when a field needs it.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

impl ReportTable {
    fn title(&self) -> String {
        let question = self.question.as_deref().map(|q| format!(", survey question {q}")).unwrap_or_default();
        format!("Calls from {} to {} by {} ({}{question})", self.from, self.to, self.by, self.time_zone)
    }

    /// The rows and the total as aligned columns under a title line.
    pub fn to_text(&self) -> String {
        let mut lines: Vec<Vec<String>> = Vec::with_capacity(self.rows.len() + 2);
        lines.push(std::iter::once(self.by.as_str().to_owned()).chain(COLUMNS.iter().map(|c| c.0.to_owned())).collect());
        let cells = |group: &str, tally: &Tally| -> Vec<String> {
            std::iter::once(group.to_owned()).chain(COLUMNS.iter().map(|(_, f, get)| text_cell(*f, get(tally)))).collect()
        };
        lines.extend(self.rows.iter().map(|row| cells(&row.group, &row.tally)));
        lines.push(cells(TOTAL, &self.total));
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|i| lines.iter().map(|line| line[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = self.title();
        out.push('\n');
        for line in &lines {
            let mut text = String::new();
            for (i, (cell, width)) in line.iter().zip(&widths).enumerate() {
                // Group names left-aligned, figures right-aligned.
                if i == 0 {
                    text.push_str(&format!("{cell:<width$}"));
                } else {
                    text.push_str(&format!("  {cell:>width$}"));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }

    /// A header line, one line per row, and the total last; ratios as
    /// fractions, times in seconds, then the score distribution.
    pub fn to_csv(&self) -> String {
        let mut header: Vec<String> = vec![self.by.as_str().to_owned()];
        header.extend(COLUMNS.iter().map(|c| c.0.to_owned()));
        header.extend((0..=10).map(|v| format!("score_{v}")));
        let line = |group: &str, tally: &Tally| -> String {
            let mut cells = vec![csv_field(group)];
            cells.extend(COLUMNS.iter().map(|(_, f, get)| csv_cell(*f, get(tally))));
            cells.extend(tally.scores.iter().map(i64::to_string));
            cells.join(",")
        };
        let mut out = header.join(",");
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(&row.group, &row.tally));
            out.push('\n');
        }
        out.push_str(&line(TOTAL, &self.total));
        out.push('\n');
        out
    }

    /// The table in `format`.
    pub fn render(&self, format: ReportFormat) -> String {
        match format {
            ReportFormat::Table => self.to_text(),
            ReportFormat::Csv => self.to_csv(),
            ReportFormat::Json => self.to_json(),
        }
    }

    /// The whole table as a JSON value.
    pub fn to_json_value(&self) -> Value {
        json!({
            "by": self.by.as_str(),
            "from": self.from.to_string(),
            "to": self.to.to_string(),
            "time_zone": self.time_zone,
            "question": self.question,
            "definitions": "docs/metrics.md",
            "rows": self.rows.iter().map(row_json).collect::<Vec<_>>(),
            "total": tally_json(&self.total),
        })
    }

    /// [`ReportTable::to_json_value`], pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.to_json_value()).expect("invariant: a JSON value always serialises")
    }
}

fn tally_json(tally: &Tally) -> Value {
    let mut object = serde_json::Map::new();
    for (name, format, get) in COLUMNS {
        object.insert(name.to_owned(), json_number(format, get(tally)));
    }
    object.insert("scores".to_owned(), json!(tally.scores));
    Value::Object(object)
}

fn row_json(row: &ReportRow) -> Value {
    let mut value = tally_json(&row.tally);
    if let Value::Object(object) = &mut value {
        object.insert("group".to_owned(), json!(row.group));
        if let Some(interval) = &row.interval {
            let at = |ms| jiff::Timestamp::from_millisecond(ms).map(|t| t.to_string()).ok();
            object.insert("start".to_owned(), json!(at(interval.start_ms)));
            object.insert("end".to_owned(), json!(at(interval.end_ms)));
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_from_their_cli_names() {
        assert_eq!("table".parse(), Ok(ReportFormat::Table));
        assert_eq!("json".parse(), Ok(ReportFormat::Json));
        assert_eq!("xml".parse::<ReportFormat>(), Err(UnknownFormat("xml".into())));
    }

    #[test]
    fn csv_fields_with_commas_or_quotes_are_quoted() {
        assert_eq!(csv_field("health"), "health");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn undefined_metrics_are_empty_in_text_and_csv_and_null_in_json() {
        assert_eq!(text_cell(Format::Ratio, None), "");
        assert_eq!(text_cell(Format::Ratio, Some(0.8571)), "85.7%");
        assert_eq!(csv_cell(Format::Ratio, Some(0.857142)), "0.8571");
        assert_eq!(json_number(Format::Seconds, None), Value::Null);
        assert_eq!(json_number(Format::Ratio, Some(0.1 + 0.2)), json!(0.3));
    }
}
