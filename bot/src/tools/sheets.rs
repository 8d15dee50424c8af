//! Google Sheets API v4: reading a range, appending a row.

use serde_json::{Map, Value};

use super::{CallError, Done, MOST_RESULT, Runner, Target, bounded, text_arg};

/// The longest value written to a cell.
const MOST_CELL: usize = 1_000;

/// `{base}/v4/spreadsheets/{id}/values/{range}{suffix}`, each part encoded as a path segment.
fn values_url(runner: &Runner, target: &Target, suffix: &str) -> Result<url::Url, CallError> {
    let mut url = runner.settings.sheets_url.clone();
    url.path_segments_mut()
        .map_err(|_| CallError::Arguments("the Sheets address cannot take a path".into()))?
        .pop_if_empty()
        .extend([
            "v4",
            "spreadsheets",
            &target.spreadsheet,
            "values",
            &format!("{}{suffix}", target.range),
        ]);
    Ok(url)
}

/// The range's rows, one per line, cells separated by ` | `.
pub(super) async fn read(runner: &Runner, token: &str, target: &Target) -> Result<Done, CallError> {
    let url = values_url(runner, target, "")?;
    let answer = runner
        .json(runner.client()?.get(url).bearer_auth(token))
        .await?;
    let rows = answer["values"].as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return Ok(Done {
            result: "The range is empty.".into(),
            made: None,
        });
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|row| {
            row.as_array()
                .map(|cells| {
                    cells
                        .iter()
                        .map(|c| match c {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect::<Vec<_>>()
                        .join(" | ")
                })
                .unwrap_or_default()
        })
        .collect();
    Ok(Done {
        result: bounded(lines.join("\n"), MOST_RESULT),
        made: None,
    })
}

/// Appends one row, the owner's columns in order. Values are written as typed (`RAW`): a value
/// starting with `=` stays text, never becomes a formula.
pub(super) async fn append(
    runner: &Runner,
    token: &str,
    target: &Target,
    arguments: &Map<String, Value>,
) -> Result<Done, CallError> {
    let row: Vec<String> = target
        .columns
        .iter()
        .map(|c| {
            let mut v = text_arg(arguments, c);
            v.truncate(v.floor_char_boundary(MOST_CELL));
            v
        })
        .collect();
    if row.iter().all(String::is_empty) {
        return Err(CallError::Arguments(format!(
            "give at least one of: {}",
            target.columns.join(", ")
        )));
    }
    let mut url = values_url(runner, target, ":append")?;
    url.query_pairs_mut()
        .append_pair("valueInputOption", "RAW")
        .append_pair("insertDataOption", "INSERT_ROWS");
    let answer = runner
        .json(
            runner
                .client()?
                .post(url)
                .bearer_auth(token)
                .json(&serde_json::json!({"values": [row]})),
        )
        .await?;
    let range = answer["updates"]["updatedRange"]
        .as_str()
        .map(str::to_string);
    Ok(Done {
        result: "The row was added to the spreadsheet.".into(),
        made: range,
    })
}
