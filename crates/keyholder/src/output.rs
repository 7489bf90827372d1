//! What the CLI prints: a readable table by default, or JSON for scripts
//! (`--json`: an array of objects keyed by the column names, or one object).

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ContentArrangement, Table as Comfy};
use prost_types::{Duration, Timestamp};
use serde_json::{Map, Value};

/// Rows under named columns.
#[derive(Debug, Default)]
pub struct Table {
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns (snake_case: they are the JSON keys).
    pub fn new(columns: &[&'static str]) -> Self {
        Self {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds one row; cells beyond the columns are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Prints the table (or its JSON) to stdout.
    pub fn print(&self, json: bool) {
        if json {
            let list: Vec<Value> = self.rows.iter().map(|r| self.object(r)).collect();
            println!("{}", Value::Array(list));
            return;
        }
        if self.rows.is_empty() {
            println!("(none)");
            return;
        }
        let mut t = Comfy::new();
        t.load_preset(UTF8_BORDERS_ONLY)
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_header(self.columns.iter().map(|c| c.replace('_', " ")));
        for r in &self.rows {
            t.add_row(r.clone());
        }
        println!("{t}");
    }

    fn object(&self, row: &[String]) -> Value {
        let mut m = Map::new();
        for (c, v) in self.columns.iter().zip(row) {
            m.insert((*c).to_string(), Value::String(v.clone()));
        }
        Value::Object(m)
    }
}

/// One record as `field  value` lines, or a JSON object.
#[derive(Debug, Default)]
pub struct Record(Vec<(&'static str, String)>);

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table row as a record: `columns[i]` names `row[i]`.
    pub fn from_row(columns: &[&'static str], row: Vec<String>) -> Self {
        Self(columns.iter().copied().zip(row).collect())
    }

    /// Adds a field.
    pub fn field(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.0.push((name, value.into()));
        self
    }

    /// Prints it.
    pub fn print(&self, json: bool) {
        if json {
            let mut m = Map::new();
            for (k, v) in &self.0 {
                m.insert((*k).to_string(), Value::String(v.clone()));
            }
            println!("{}", Value::Object(m));
            return;
        }
        let width = self.0.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        for (k, v) in &self.0 {
            println!("{:width$}  {v}", k.replace('_', " "));
        }
    }
}

/// A timestamp as RFC 3339 in UTC, or empty when unset.
pub fn time(t: Option<&Timestamp>) -> String {
    t.and_then(|t| {
        let nanos = u32::try_from(t.nanos).unwrap_or(0);
        chrono::DateTime::from_timestamp(t.seconds, nanos)
    })
    .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
    .unwrap_or_default()
}

/// A duration as "4h", "30m", or empty when unset.
pub fn duration(d: Option<&Duration>) -> String {
    d.and_then(|d| u64::try_from(d.seconds).ok())
        .map(|s| humantime::format_duration(std::time::Duration::from_secs(s)).to_string())
        .unwrap_or_default()
}

/// An enum's proto name without its common prefix, lowercased:
/// `ACCESS_REQUEST_STATE_PENDING` → `pending`.
pub fn enum_name(full: &str, prefix: &str) -> String {
    full.strip_prefix(prefix)
        .unwrap_or(full)
        .to_ascii_lowercase()
        .replace('_', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_durations_and_enum_names_print_plainly() {
        let t = Timestamp {
            seconds: 1_790_000_000,
            nanos: 0,
        };
        assert_eq!(time(Some(&t)), "2026-09-21T14:13:20Z");
        assert_eq!(time(None), "");
        let d = Duration {
            seconds: 4 * 3600 + 30 * 60,
            nanos: 0,
        };
        assert_eq!(duration(Some(&d)), "4h 30m");
        assert_eq!(
            enum_name("ACCESS_REQUEST_STATE_PENDING", "ACCESS_REQUEST_STATE_"),
            "pending"
        );
        assert_eq!(
            enum_name("SUPPORT_ACCESS_MODE_ON_REQUEST", "SUPPORT_ACCESS_MODE_"),
            "on-request"
        );
    }

    #[test]
    fn json_rows_are_keyed_by_column() {
        let mut t = Table::new(&["grant_id", "state"]);
        t.row(vec!["g1".into(), "active".into()]);
        assert_eq!(
            Value::Array(t.rows.iter().map(|r| t.object(r)).collect()).to_string(),
            r#"[{"grant_id":"g1","state":"active"}]"#
        );
    }
}
