//! Tools through linked accounts: an owner enables a tool for their bot (`/tools add`), backed by
//! the bot's link to the tool's provider, and the model may call it while answering (OpenAI
//! function calling).
//!
//! - `sheets.read`: reads a fixed range of a spreadsheet (a price list to answer from).
//! - `sheets.append`: appends a row with the owner's columns (a bookings or leads sheet).
//! - `hubspot.contact`: finds or creates a HubSpot contact and adds a note to it.
//!
//! A tool that sends a person's data (`sheets.append`, `hubspot.contact`) is offered to the model
//! only for people who granted the purpose naming its service (`sheets`, `crm`); a tool whose
//! provider has no active link on the bot is not offered at all. The model sees placeholders;
//! the service receives the values they stand for, and what comes back is redacted before the
//! model reads it. What a tool points at (spreadsheet, range, columns) is stored encrypted.

pub mod erasure;
mod hubspot;
mod sheets;

use std::time::Duration;

use chrono::Utc;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use serde::{Deserialize, Serialize};

use consentgate_entity::bot_tools;

use crate::{
    config::{
        ToolSettings,
        tools::{HUBSPOT_SERVICE, SHEETS_SERVICE},
    },
    llm::ToolSpec,
    privacy::keys::Keys,
};

/// What a tool does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    SheetsRead,
    SheetsAppend,
    HubspotContact,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::SheetsRead, Kind::SheetsAppend, Kind::HubspotContact];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SheetsRead => "sheets.read",
            Kind::SheetsAppend => "sheets.append",
            Kind::HubspotContact => "hubspot.contact",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The OAuth provider whose link the tool uses.
    pub fn provider(self) -> &'static str {
        match self {
            Kind::SheetsRead | Kind::SheetsAppend => "google",
            Kind::HubspotContact => "hubspot",
        }
    }

    /// The service, in the words its purpose names it with.
    pub fn service(self) -> &'static str {
        match self {
            Kind::SheetsRead | Kind::SheetsAppend => SHEETS_SERVICE,
            Kind::HubspotContact => HUBSPOT_SERVICE,
        }
    }

    /// The service as the egress ledger and the audit log name it.
    pub fn recipient(self) -> &'static str {
        match self {
            Kind::SheetsRead | Kind::SheetsAppend => "google-sheets",
            Kind::HubspotContact => "hubspot",
        }
    }

    /// The purpose a person must have granted for the tool to send their data; `None` for a
    /// tool that sends nothing of theirs.
    pub fn purpose(self) -> Option<&'static str> {
        match self {
            Kind::SheetsRead => None,
            Kind::SheetsAppend => Some(crate::consent::PURPOSE_SHEETS),
            Kind::HubspotContact => Some(crate::consent::PURPOSE_CRM),
        }
    }

    /// The name of its count in the daily statistics.
    pub fn daily_count(self) -> &'static str {
        match self {
            Kind::SheetsRead => "tools.sheets_read",
            Kind::SheetsAppend => "tools.sheets_append",
            Kind::HubspotContact => "tools.hubspot_contact",
        }
    }
}

/// Tool calls that failed, in the daily statistics.
pub const FAILED_COUNT: &str = "tools.failed";

/// What a tool points at, stored encrypted.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Target {
    /// The spreadsheet's id (Sheets tools).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spreadsheet: String,
    /// A range in A1 notation, e.g. `Prices!A1:C50` or `Bookings` (Sheets tools).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub range: String,
    /// The columns of an appended row, in order (`sheets.append`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

/// A tool of a bot.
#[derive(Clone, Debug)]
pub struct Tool {
    pub id: i64,
    /// The owner (subject id) who enabled it; 0 for one not stored yet.
    pub created_by: i64,
    pub name: String,
    pub kind: Kind,
    pub description: String,
    pub target: Target,
}

impl Tool {
    /// How the model sees it.
    pub fn spec(&self) -> ToolSpec {
        let (note, parameters) = match self.kind {
            Kind::SheetsRead => (
                "Reads the business's spreadsheet and returns its rows. Takes no arguments."
                    .to_string(),
                serde_json::json!({"type": "object", "properties": {}}),
            ),
            Kind::SheetsAppend => {
                let properties: serde_json::Map<String, serde_json::Value> = self
                    .target
                    .columns
                    .iter()
                    .map(|c| (c.clone(), serde_json::json!({"type": "string"})))
                    .collect();
                (
                    format!(
                        "Writes one row ({}) to the business's spreadsheet. Call it only when the \
                         person asked for it and gave these details; use their words or the \
                         placeholders as written.",
                        self.target.columns.join(", ")
                    ),
                    serde_json::json!({"type": "object", "properties": properties, "required": self.target.columns}),
                )
            }
            Kind::HubspotContact => (
                "Finds the person among the business's HubSpot contacts by e-mail or phone (or \
                 creates the contact) and adds a note. Call it only when the person asked to be \
                 contacted; use their words or the placeholders as written."
                    .to_string(),
                serde_json::json!({
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "email": {"type": "string"},
                        "phone": {"type": "string"},
                        "note": {"type": "string", "description": "what the person asked for"},
                    },
                    "required": ["note"],
                }),
            ),
        };
        let description = if self.description.trim().is_empty() {
            note
        } else {
            format!("{} {note}", self.description.trim())
        };
        ToolSpec {
            name: self.name.clone(),
            description,
            parameters,
        }
    }
}

/// Why a tool could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("A tool named {0} exists already; /tools remove {0} first.")]
    Taken(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The most tools a bot may have.
pub const MOST_TOOLS: usize = 16;

/// A name the model can call: 1-32 of a-z, 0-9 and `_`, starting with a letter.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A spreadsheet's id from its id or its address (`…/spreadsheets/d/ID/edit…`).
pub fn spreadsheet_id(text: &str) -> Option<String> {
    let id = match text.split_once("/spreadsheets/d/") {
        Some((_, rest)) => rest.split(['/', '?', '#']).next().unwrap_or_default(),
        None => text,
    };
    ((10..=100).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| id.to_string())
}

/// Whether a range looks like A1 notation with an optional sheet name (`Prices!A1:C50`,
/// `'Price list'!A:C`, `Bookings`).
pub fn valid_range(range: &str) -> bool {
    (1..=100).contains(&range.len())
        && !range.chars().any(|c| c.is_control() || c == '/' || c == '\\')
        // A path segment of dots would be dropped from the address.
        && !range.chars().all(|c| c == '.')
}

fn decode(keys: &Keys, row: bot_tools::Model) -> Option<Tool> {
    let target = keys
        .fernet
        .decrypt(&row.settings_enc)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())?;
    Some(Tool {
        id: row.id,
        created_by: row.created_by,
        kind: Kind::parse(&row.kind)?,
        name: row.name,
        description: row.description,
        target,
    })
}

/// The bot's tools, oldest first.
pub async fn list(db: &impl ConnectionTrait, keys: &Keys, bot_id: i64) -> Result<Vec<Tool>, DbErr> {
    Ok(bot_tools::Entity::find()
        .filter(bot_tools::Column::BotId.eq(bot_id))
        .order_by_asc(bot_tools::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|row| decode(keys, row))
        .collect())
}

/// Adds a tool to a bot.
pub async fn add(
    db: &impl ConnectionTrait,
    keys: &Keys,
    bot_id: i64,
    owner: i64,
    tool: &Tool,
) -> Result<i64, AddError> {
    let existing = list(db, keys, bot_id).await?;
    if existing.iter().any(|t| t.name == tool.name) {
        return Err(AddError::Taken(tool.name.clone()));
    }
    if existing.len() >= MOST_TOOLS {
        return Err(AddError::Invalid(format!(
            "A bot may have at most {MOST_TOOLS} tools; /tools remove NAME makes room."
        )));
    }
    let settings = serde_json::to_vec(&tool.target).map_err(|e| DbErr::Custom(e.to_string()))?;
    let inserted = bot_tools::Entity::insert(bot_tools::ActiveModel {
        bot_id: Set(bot_id),
        name: Set(tool.name.clone()),
        kind: Set(tool.kind.as_str().to_string()),
        description: Set(tool.description.clone()),
        settings_enc: Set(keys.fernet.encrypt(&settings)),
        created_by: Set(owner),
        created_at: Set(Utc::now()),
        ..Default::default()
    })
    .exec(db)
    .await
    .map_err(|e| match e.sql_err() {
        // Two owners adding the same name at once: the unique index decides.
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => AddError::Taken(tool.name.clone()),
        _ => AddError::Db(e),
    })?;
    Ok(inserted.last_insert_id)
}

/// Removes a bot's tool by name; the removed tool, if there was one.
pub async fn remove(
    db: &impl ConnectionTrait,
    keys: &Keys,
    bot_id: i64,
    name: &str,
) -> Result<Option<Tool>, DbErr> {
    let Some(tool) = list(db, keys, bot_id)
        .await?
        .into_iter()
        .find(|t| t.name == name)
    else {
        return Ok(None);
    };
    let gone = bot_tools::Entity::delete_many()
        .filter(bot_tools::Column::Id.eq(tool.id))
        .exec(db)
        .await?
        .rows_affected;
    Ok((gone == 1).then_some(tool))
}

/// A tool call's outcome as the model is told it (before redaction), and for the audit log a
/// reference to what it made at the service (a row's range, a contact's id).
pub struct Done {
    pub result: String,
    pub made: Option<String>,
}

/// Why a tool call failed; said to the model as an error result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the arguments are not valid: {0}")]
    Arguments(String),
    #[error("the service did not answer in time")]
    Timeout,
    #[error("the service refused the request (HTTP {0})")]
    Status(u16),
    #[error("the service could not be reached")]
    Network,
    #[error("the service's answer could not be read")]
    Malformed,
}

impl CallError {
    /// A label for the audit log.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Arguments(_) => "arguments",
            CallError::Timeout => "timeout",
            CallError::Status(_) => "status",
            CallError::Network => "network",
            CallError::Malformed => "malformed",
        }
    }
}

/// Calls the services behind tools.
pub struct Runner {
    /// `None` if no client could be made (then every call fails): never one that follows
    /// redirects.
    http: Option<reqwest::Client>,
    settings: ToolSettings,
}

/// The longest answer read from a service.
const MOST_BYTES: usize = 256 * 1024;
/// The longest tool result given to the model.
pub const MOST_RESULT: usize = 6_000;

impl Runner {
    pub fn new(settings: ToolSettings) -> Runner {
        Runner {
            // No redirects: an access token goes only where the configuration says.
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(settings.timeout)
                .build()
                .inspect_err(|e| tracing::error!(error = %e, "no HTTP client for tools"))
                .ok(),
            settings,
        }
    }

    fn client(&self) -> Result<&reqwest::Client, CallError> {
        self.http.as_ref().ok_or(CallError::Network)
    }

    pub fn calls_per_answer(&self) -> usize {
        self.settings.calls_per_answer
    }

    pub fn timeout(&self) -> Duration {
        self.settings.timeout
    }

    /// Runs a call with the link's access token; `arguments` have their placeholders filled in.
    /// Bounded by the configured timeout.
    pub async fn run(
        &self,
        tool: &Tool,
        token: &str,
        arguments: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Done, CallError> {
        let call = async {
            match tool.kind {
                Kind::SheetsRead => sheets::read(self, token, &tool.target).await,
                Kind::SheetsAppend => sheets::append(self, token, &tool.target, arguments).await,
                Kind::HubspotContact => hubspot::contact(self, token, arguments).await,
            }
        };
        tokio::time::timeout(self.settings.timeout, call)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }

    /// Sends a request and reads its JSON answer, bounded in size.
    async fn json(&self, request: reqwest::RequestBuilder) -> Result<serde_json::Value, CallError> {
        let mut response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                CallError::Timeout
            } else {
                CallError::Network
            }
        })?;
        if !response.status().is_success() {
            return Err(CallError::Status(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|_| CallError::Network)? {
            body.extend_from_slice(&chunk);
            if body.len() > MOST_BYTES {
                return Err(CallError::Malformed);
            }
        }
        serde_json::from_slice(&body).map_err(|_| CallError::Malformed)
    }
}

/// A string argument, trimmed; empty when absent.
fn text_arg(arguments: &serde_json::Map<String, serde_json::Value>, name: &str) -> String {
    match arguments.get(name) {
        Some(serde_json::Value::String(s)) => s.trim().to_string(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Text cut to at most `most` bytes, at a character boundary, saying so.
pub fn bounded(mut text: String, most: usize) -> String {
    if text.len() > most {
        let mut at = most;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push_str("\n(cut here: the rest was too long)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spreadsheet_is_named_by_its_id_or_its_address() {
        let id = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms";
        assert_eq!(spreadsheet_id(id).as_deref(), Some(id));
        assert_eq!(
            spreadsheet_id(&format!(
                "https://docs.google.com/spreadsheets/d/{id}/edit#gid=0"
            ))
            .as_deref(),
            Some(id)
        );
        assert_eq!(spreadsheet_id("short"), None);
        assert_eq!(spreadsheet_id("../../../etc/passwd/xxxxxxxx"), None);
        assert!(valid_range("Prices!A1:C50"));
        assert!(!valid_range(".."));
        assert!(!valid_range("a/b"));
    }

    #[test]
    fn tool_names_are_what_a_model_can_call() {
        assert!(valid_name("price_list"));
        assert!(!valid_name("Price"));
        assert!(!valid_name("1st"));
        assert!(!valid_name("a-b"));
        assert!(!valid_name(&"a".repeat(33)));
    }

    #[test]
    fn a_sheet_row_tool_asks_for_its_columns() {
        let tool = Tool {
            id: 1,
            created_by: 1,
            name: "book".into(),
            kind: Kind::SheetsAppend,
            description: "Book a table.".into(),
            target: Target {
                spreadsheet: "x".repeat(20),
                range: "Bookings".into(),
                columns: vec!["name".into(), "phone".into()],
            },
        };
        let spec = tool.spec();
        assert!(spec.description.starts_with("Book a table."));
        assert_eq!(
            spec.parameters["required"],
            serde_json::json!(["name", "phone"])
        );
        assert_eq!(spec.parameters["properties"]["phone"]["type"], "string");
    }

    #[test]
    fn long_results_are_cut_at_a_character() {
        let cut = bounded("ёёё".into(), 3);
        assert!(cut.starts_with('ё') && cut.contains("cut here"));
    }
}
