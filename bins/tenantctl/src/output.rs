//! What a command prints: human text by default, one JSON document with `--json`.

use std::error::Error as _;

use serde_json::{Value, json};

use crate::error::CliError;

/// The result of a command, in both forms.
pub(crate) struct Output {
    human: String,
    json: Value,
    /// A line for stderr after the human text (the next page's cursor), so that stdout
    /// stays the listing alone.
    hint: Option<String>,
}

// === impl Output ===

impl Output {
    pub(crate) fn new(human: impl Into<String>, json: Value) -> Self {
        Self {
            human: human.into(),
            json,
            hint: None,
        }
    }

    /// This listing as one page: the JSON becomes `{"items": [...], "next": CURSOR|null}`
    /// and, when a page follows, the human text gets a hint naming `--after CURSOR`.
    pub(crate) fn page(mut self, next: Option<&str>) -> Self {
        self.json = json!({ "items": self.json, "next": next });
        self.hint = next.map(|n| format!("More: repeat with --after {n}"));
        self
    }

    /// A line for stderr after the human text.
    pub(crate) fn with_hint(mut self, hint: String) -> Self {
        self.hint = Some(hint);
        self
    }

    pub(crate) fn print(&self, json: bool) {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&self.json).unwrap_or_default()
            );
        } else {
            if !self.human.is_empty() {
                println!("{}", self.human.trim_end());
            }
            if let Some(hint) = &self.hint {
                eprintln!("{hint}");
            }
        }
    }

    /// Errors go to stderr with their whole cause chain; with `--json` as an object on
    /// stdout too, so scripts can parse both outcomes.
    pub(crate) fn print_error(err: &CliError, json: bool) {
        let mut causes = Vec::new();
        let mut source = err.source();
        while let Some(cause) = source {
            causes.push(cause.to_string());
            source = cause.source();
        }
        eprintln!("error: {err}");
        for cause in &causes {
            eprintln!("  caused by: {cause}");
        }
        if json {
            let mut value =
                json!({ "error": err.to_string(), "kind": err.kind(), "causes": causes });
            if let Some(code) = err.remote_code() {
                value["code"] = json!(code);
            }
            println!("{value}");
        }
    }
}

/// Formats a timestamp as RFC 3339 (UTC, seconds).
pub(crate) fn timestamp(t: time::OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// Renders rows as aligned columns under a header.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}
