//! Report text: aligned tables for people, CSV and JSON for scripts. Pure, no I/O.
//!
//! A report is a [`Document`] of named sections, each a list of typed cells. The type decides
//! how a cell prints: in a table for reading (`12.5 h`, `83 %`, `12,345`, times in UTC), in
//! CSV and JSON as plain numbers in the unit the column key names (`_seconds`, `_percent`) and
//! times as ISO 8601. Column keys and section names are a stable interface (README, "Reports").

use std::fmt::Write as _;

use super::window::{format_iso, format_minute};

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    /// A plain quantity (load, capacity), two decimals in tables.
    Number(f64),
    /// A duration in seconds.
    Seconds(f64),
    /// A percentage, 0-100.
    Percent(f64),
    /// A Unix time, printed in UTC.
    Time(f64),
    /// No value (a percentile of no tasks, a host never seen).
    Empty,
    /// No value, with a word saying why for tables ("still waiting"); empty in CSV, null in JSON.
    Absent(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Key in CSV and JSON, with the unit as suffix where there is one.
    pub key: &'static str,
    /// Heading in tables.
    pub title: &'static str,
}

pub const fn column(key: &'static str, title: &'static str) -> Column {
    Column { key, title }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub name: &'static str,
    pub title: String,
    /// Current state, not a window (tables then say "now" instead of the window).
    pub timeless: bool,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    /// Lines printed under the table (what the numbers mean, what was left out).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub report: &'static str,
    pub since: f64,
    pub until: f64,
    pub sections: Vec<Section>,
}

impl Document {
    /// Keeps only the named section; None when the report has no such section.
    pub fn only(mut self, section: &str) -> Option<Document> {
        self.sections.retain(|s| s.name == section);
        (!self.sections.is_empty()).then_some(self)
    }

    pub fn section_names(&self) -> Vec<&'static str> {
        self.sections.iter().map(|s| s.name).collect()
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0 { format!("-{out}") } else { out }
}

/// A number with two decimals and thousands separators.
fn number(value: f64) -> String {
    let fixed = format!("{:.2}", value.abs());
    let (whole, fraction) = fixed.split_once('.').unwrap_or((&fixed, "00"));
    let whole = thousands(whole.parse().unwrap_or(0));
    let sign = if value < 0.0 && fixed != "0.00" { "-" } else { "" };
    format!("{sign}{whole}.{fraction}")
}

/// A duration for reading: `45 s`, `12.5 min`, `3.2 h`, `4.0 d`.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.0} s")
    } else if seconds < 3600.0 {
        format!("{:.1} min", seconds / 60.0)
    } else if seconds < 2.0 * 86_400.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.1} d", seconds / 86_400.0)
    }
}

fn percent(value: f64) -> String {
    if value < 10.0 && value != 0.0 { format!("{value:.1} %") } else { format!("{value:.0} %") }
}

fn table_cell(value: &Value) -> String {
    match value {
        Value::Text(text) => text.clone(),
        Value::Int(n) => thousands(*n),
        Value::Number(x) => number(*x),
        Value::Seconds(s) => duration(*s),
        Value::Percent(p) => percent(*p),
        Value::Time(t) => format_minute(*t),
        Value::Empty => "-".to_owned(),
        Value::Absent(word) => (*word).to_owned(),
    }
}

/// Rounds away binary noise so that CSV and JSON stay byte-stable (milli-units).
fn plain(value: f64) -> f64 {
    let rounded = (value * 1000.0).round() / 1000.0;
    if rounded == 0.0 { 0.0 } else { rounded }
}

fn machine_number(value: f64) -> String {
    serde_json::to_string(&plain(value)).unwrap_or_else(|_| "null".to_owned())
}

/// Aligned tables, one per section: numeric columns right, text and time columns left.
pub fn table(document: &Document) -> String {
    let mut out = String::new();
    for (index, section) in document.sections.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        if section.timeless {
            let _ = writeln!(out, "{} (now; the window does not apply)", section.title);
        } else {
            let _ = writeln!(
                out,
                "{} ({} – {} UTC, {})",
                section.title,
                format_minute(document.since),
                format_minute(document.until),
                duration(document.until - document.since)
            );
        }
        out.push('\n');
        let cells: Vec<Vec<String>> = section.rows.iter().map(|row| row.iter().map(table_cell).collect()).collect();
        let right: Vec<bool> = (0..section.columns.len())
            .map(|i| {
                section.rows.iter().any(|row| {
                    matches!(row.get(i), Some(Value::Int(_) | Value::Number(_) | Value::Seconds(_) | Value::Percent(_)))
                })
            })
            .collect();
        let widths: Vec<usize> = section
            .columns
            .iter()
            .enumerate()
            .map(|(i, column)| {
                cells.iter().map(|row| row[i].chars().count()).chain([column.title.chars().count()]).max().unwrap_or(0)
            })
            .collect();
        let line = |texts: Vec<&str>| -> String {
            let mut line = String::new();
            for (i, text) in texts.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(text.chars().count());
                if right[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(text);
                } else {
                    line.push_str(text);
                    line.push_str(&" ".repeat(pad));
                }
            }
            line.trim_end().to_owned()
        };
        out.push_str(&line(section.columns.iter().map(|c| c.title).collect()));
        out.push('\n');
        if cells.is_empty() {
            out.push_str("(nothing in this window)\n");
        }
        for row in &cells {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
            out.push('\n');
        }
        for note in &section.notes {
            let _ = writeln!(out, "note: {note}");
        }
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

fn csv_cell(value: &Value) -> String {
    match value {
        Value::Text(text) => csv_field(text),
        Value::Int(n) => n.to_string(),
        Value::Number(x) | Value::Seconds(x) | Value::Percent(x) => machine_number(*x),
        Value::Time(t) => format_iso(*t),
        Value::Empty | Value::Absent(_) => String::new(),
    }
}

/// CSV: one block per section, `# <section name>` on its first line, then the header of column
/// keys and the rows; blocks are separated by an empty line. With one section (`--section`)
/// the `#` line is left out, so the output is a plain CSV file.
pub fn csv(document: &Document) -> String {
    let mut out = String::new();
    let several = document.sections.len() > 1;
    for (index, section) in document.sections.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        if several {
            let _ = writeln!(out, "# {}", section.name);
        }
        let header: Vec<String> = section.columns.iter().map(|c| csv_field(c.key)).collect();
        out.push_str(&header.join(","));
        out.push('\n');
        for row in &section.rows {
            out.push_str(&row.iter().map(csv_cell).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
    }
    out
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

fn json_cell(value: &Value) -> String {
    match value {
        Value::Text(text) => json_string(text),
        Value::Int(n) => n.to_string(),
        Value::Number(x) | Value::Seconds(x) | Value::Percent(x) => machine_number(*x),
        Value::Time(t) => json_string(&format_iso(*t)),
        Value::Empty | Value::Absent(_) => "null".to_owned(),
    }
}

/// JSON: `{"report", "since", "until", "sections": [{"name", "notes", "rows": [{key: value}]}]}`,
/// keys in column order, one row per line.
pub fn json(document: &Document) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{{");
    let _ = writeln!(out, "  \"report\": {},", json_string(document.report));
    let _ = writeln!(out, "  \"since\": {},", json_string(&format_iso(document.since)));
    let _ = writeln!(out, "  \"until\": {},", json_string(&format_iso(document.until)));
    let _ = writeln!(out, "  \"sections\": [");
    for (index, section) in document.sections.iter().enumerate() {
        let notes: Vec<String> = section.notes.iter().map(|n| json_string(n)).collect();
        let _ = writeln!(out, "    {{");
        let _ = writeln!(out, "      \"name\": {},", json_string(section.name));
        let _ = writeln!(out, "      \"notes\": [{}],", notes.join(", "));
        if section.rows.is_empty() {
            let _ = writeln!(out, "      \"rows\": []");
        } else {
            let _ = writeln!(out, "      \"rows\": [");
            for (row_index, row) in section.rows.iter().enumerate() {
                let fields: Vec<String> = section
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(column, value)| format!("{}: {}", json_string(column.key), json_cell(value)))
                    .collect();
                let comma = if row_index + 1 < section.rows.len() { "," } else { "" };
                let _ = writeln!(out, "        {{{}}}{comma}", fields.join(", "));
            }
            let _ = writeln!(out, "      ]");
        }
        let comma = if index + 1 < document.sections.len() { "," } else { "" };
        let _ = writeln!(out, "    }}{comma}");
    }
    let _ = writeln!(out, "  ]");
    let _ = writeln!(out, "}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Document {
        Document {
            report: "sample",
            since: 1_795_910_400.0,
            until: 1_795_953_600.0,
            sections: vec![
                Section {
                    name: "first",
                    timeless: false,
                    title: "First".into(),
                    columns: vec![column("name", "name"), column("tasks", "tasks"), column("wait_seconds", "wait")],
                    rows: vec![
                        vec![Value::Text("a,\"b\"".into()), Value::Int(12_345), Value::Seconds(45_000.0)],
                        vec![Value::Text("c".into()), Value::Int(7), Value::Empty],
                    ],
                    notes: vec!["a note".into()],
                },
                Section {
                    name: "second",
                    timeless: false,
                    title: "Second".into(),
                    columns: vec![column("share_percent", "share"), column("at", "at")],
                    rows: vec![vec![Value::Percent(83.333_333), Value::Time(1_795_914_000.0)]],
                    notes: vec![],
                },
            ],
        }
    }

    #[test]
    fn units_read_well_in_tables() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(-1000), "-1,000");
        assert_eq!(number(12_345.678), "12,345.68");
        assert_eq!(duration(45.0), "45 s");
        assert_eq!(duration(750.0), "12.5 min");
        assert_eq!(duration(45_000.0), "12.5 h");
        assert_eq!(duration(7.0 * 86_400.0), "7.0 d");
        assert_eq!(percent(83.4), "83 %");
        assert_eq!(percent(8.34), "8.3 %");
        assert_eq!(percent(0.0), "0 %");
    }

    #[test]
    fn tables_align_text_left_and_numbers_right() {
        let text = table(&sample());
        let expected = "First (2026-11-29 00:00 – 2026-11-29 12:00 UTC, 12.0 h)\n\n\
                        name    tasks    wait\n\
                        a,\"b\"  12,345  12.5 h\n\
                        c           7       -\n\
                        note: a note\n\n\
                        Second (2026-11-29 00:00 – 2026-11-29 12:00 UTC, 12.0 h)\n\n\
                        share  at\n \
                        83 %  2026-11-29 01:00\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn csv_quotes_and_keeps_raw_units() {
        let expected = "# first\nname,tasks,wait_seconds\n\"a,\"\"b\"\"\",12345,45000.0\nc,7,\n\n\
                        # second\nshare_percent,at\n83.333,2026-11-29T01:00:00Z\n";
        assert_eq!(csv(&sample()), expected);
        let only = sample().only("second").unwrap();
        assert_eq!(csv(&only), "share_percent,at\n83.333,2026-11-29T01:00:00Z\n");
        assert!(sample().only("third").is_none());
    }

    #[test]
    fn json_is_valid_and_keeps_column_order() {
        let text = json(&sample());
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["since"], "2026-11-29T00:00:00Z");
        assert_eq!(parsed["sections"][0]["rows"][1]["wait_seconds"], serde_json::Value::Null);
        assert_eq!(parsed["sections"][0]["rows"][0]["name"], "a,\"b\"");
        assert_eq!(parsed["sections"][1]["rows"][0]["share_percent"], 83.333);
        assert!(text.contains("{\"name\": \"c\", \"tasks\": 7, \"wait_seconds\": null}"), "{text}");
    }
}
