//! `[tools]` and the `TOOLS_*` variables: where the services behind owners' tools answer (Google
//! Sheets, HubSpot), how many tool calls one answer may make and how long each may take. The
//! tools themselves are enabled per bot by its owners (`/tools`), each backed by a linked
//! account.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::{ConfigError, Env, bad, env, parse_url};

/// The services tools call, and their limits.
#[derive(Clone, Debug)]
pub struct ToolSettings {
    /// Google Sheets API v4, e.g. `https://sheets.googleapis.com`.
    pub sheets_url: Url,
    /// HubSpot's API, e.g. `https://api.hubapi.com`.
    pub hubspot_url: Url,
    /// Tool calls one answer may make; after them the model answers with what it has.
    pub calls_per_answer: usize,
    /// How long one call may take before the model is told it failed.
    pub timeout: Duration,
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings {
            sheets_url: Url::parse(DEFAULT_SHEETS_URL).expect("static URL"),
            hubspot_url: Url::parse(DEFAULT_HUBSPOT_URL).expect("static URL"),
            calls_per_answer: 4,
            timeout: Duration::from_secs(10),
        }
    }
}

const DEFAULT_SHEETS_URL: &str = "https://sheets.googleapis.com";
const DEFAULT_HUBSPOT_URL: &str = "https://api.hubapi.com";

/// The optional purpose for tools writing to Google Sheets, offered when Google can be linked.
pub const SHEETS_PURPOSE: (&str, &str, &str) = (
    "sheets",
    "Bookings and requests in Google Sheets",
    "When you ask the assistant to book something or to pass a request on, the details you give \
for it (such as your name, phone number, e-mail address, the date and what you ask for) are written \
to the business's own spreadsheet at Google Sheets. They stay there under the business's control: \
deleting your data here does not delete them there, but you are told where they went so you can \
ask the business. Without this, nothing about you is written to a spreadsheet. Off unless you turn \
it on.",
);

/// The optional purpose for tools writing to HubSpot, offered when HubSpot can be linked.
pub const CRM_PURPOSE: (&str, &str, &str) = (
    "crm",
    "Your contact in the business's HubSpot",
    "When you ask to be contacted, your name, phone number and e-mail address, with a note of what \
you asked, are saved as a contact in the business's customer records at HubSpot. They stay there \
under the business's control: deleting your data here does not delete them there, but you are told \
where they went so you can ask the business. Without this, nothing about you is saved there. Off \
unless you turn it on.",
);

/// The words naming each service in its purpose: a tool sends data only while the purpose the
/// person agreed to names its service.
pub const SHEETS_SERVICE: &str = "Google Sheets";
pub const HUBSPOT_SERVICE: &str = "HubSpot";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTools {
    sheets_url: Option<String>,
    hubspot_url: Option<String>,
    calls_per_answer: Option<usize>,
    timeout_secs: Option<u64>,
}

/// The settings from `[tools]` and the `TOOLS_*` variables.
pub(super) fn settings(
    file: Option<FileTools>,
    env: &dyn Env,
) -> Result<ToolSettings, ConfigError> {
    let file = file.unwrap_or_default();
    let url = |var: &'static str, key: &str, value: Option<String>, default: &str| match env
        .get(var)
        .map(|v| (var.to_string(), v))
        .or(value.map(|v| (format!("tools.{key}"), v)))
    {
        Some((place, v)) => parse_url(&place, &v),
        None => Ok(Url::parse(default).expect("static URL")),
    };
    let sheets_url = url(
        env::TOOLS_SHEETS_URL,
        "sheets_url",
        file.sheets_url,
        DEFAULT_SHEETS_URL,
    )?;
    let hubspot_url = url(
        env::TOOLS_HUBSPOT_URL,
        "hubspot_url",
        file.hubspot_url,
        DEFAULT_HUBSPOT_URL,
    )?;
    let calls_per_answer = file.calls_per_answer.unwrap_or(4);
    if !(1..=10).contains(&calls_per_answer) {
        return Err(bad("tools.calls_per_answer", "must be 1 to 10"));
    }
    let (place, timeout_secs) = match env.get(env::TOOLS_TIMEOUT_SECS) {
        Some(v) => (
            env::TOOLS_TIMEOUT_SECS,
            v.trim().parse::<u64>().map_err(|_| {
                bad(
                    env::TOOLS_TIMEOUT_SECS,
                    format!("`{v}` is not a whole number of seconds"),
                )
            })?,
        ),
        None => ("tools.timeout_secs", file.timeout_secs.unwrap_or(10)),
    };
    if !(1..=60).contains(&timeout_secs) {
        return Err(bad(place, "must be 1 to 60"));
    }
    Ok(ToolSettings {
        sheets_url,
        hubspot_url,
        calls_per_answer,
        timeout: Duration::from_secs(timeout_secs),
    })
}
