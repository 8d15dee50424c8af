//! Tools in the pipeline: `/tools` for owners, and for each message the tools the model may call
//! for this person, and each call the model asks for — its arguments' placeholders filled in,
//! recorded (audit entry and egress ledger row, with the person's consent read again under
//! their lock) before the service is called, its result redacted before the model reads it.

use std::collections::HashSet;

use consentgate_adapters::Outbound;
use consentgate_entity::integrations;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use super::egress::{Egress, Recorded};

use super::{Pipeline, PipelineError, Turn};
use crate::{
    audit::Action,
    consent::Choices,
    llm::{ToolCall, ToolSpec},
    owners::status::Status,
    privacy::digest,
    redact::{Hints, Placeholders},
    tools::{self, AddError, Kind, Target, Tool},
};

const USAGE: &str = "Tools let the assistant use your linked accounts while it answers:
• /tools add NAME sheets.read SPREADSHEET RANGE what it holds — e.g. /tools add prices sheets.read https://docs.google.com/spreadsheets/d/… Prices!A1:C50 Our price list
• /tools add NAME sheets.append SPREADSHEET RANGE COLUMNS what it is for — e.g. /tools add booking sheets.append … Bookings name,phone,date Book a table
• /tools add NAME hubspot.contact when to use it — e.g. /tools add callback hubspot.contact Ask our team to call the person back
• /tools remove NAME
Sheets tools need a linked Google account (/link google), HubSpot tools a linked HubSpot account (/link hubspot). Tools that pass on a person's details are used only for people who agreed to it in /privacy.";

pub(super) async fn command(
    p: &Pipeline,
    t: &Turn<'_>,
    args: &str,
) -> Result<Vec<Outbound>, PipelineError> {
    let say = |text: String| Ok(vec![Outbound::text(text)]);
    let mut words = args.split_whitespace();
    match words.next() {
        None | Some("list") => say(listing(p, t).await?),
        Some("add") => {
            let rest: Vec<&str> = words.collect();
            match parse_add(&rest) {
                Ok(tool) => add(p, t, tool).await,
                Err(why) => say(format!("{why}\n\n{USAGE}")),
            }
        }
        Some("remove") => {
            let name = words.next().unwrap_or_default();
            match tools::remove(&p.db, &p.keys, t.bot.id, name).await? {
                Some(tool) => {
                    audit(p, t, Action::ToolRemoved, &tool).await?;
                    say(format!(
                        "Removed the tool {}: the assistant no longer uses it.",
                        tool.name
                    ))
                }
                None => say(format!("There is no tool named {name}. /tools lists them.")),
            }
        }
        _ => say(USAGE.to_string()),
    }
}

/// `/tools add NAME KIND …` read into a tool; `Err` says what is wrong.
fn parse_add(words: &[&str]) -> Result<Tool, String> {
    let (Some(name), Some(kind)) = (words.first(), words.get(1)) else {
        return Err("Give the tool a name and a kind.".into());
    };
    if !tools::valid_name(name) {
        return Err(format!(
            "{name} cannot be a tool's name: use up to 32 lowercase letters, digits and _, starting with a letter."
        ));
    }
    let Some(kind) = Kind::parse(kind) else {
        return Err(format!(
            "{kind} is not a kind of tool; the kinds are sheets.read, sheets.append and hubspot.contact."
        ));
    };
    let rest = &words[2..];
    let sheet = || -> Result<(String, String), String> {
        let spreadsheet = rest
            .first()
            .and_then(|s| tools::spreadsheet_id(s))
            .ok_or("Give the spreadsheet's address or id.")?;
        let range = rest
            .get(1)
            .filter(|r| tools::valid_range(r))
            .ok_or("Give the range, e.g. Prices!A1:C50, or a sheet's name.")?;
        Ok((spreadsheet, range.to_string()))
    };
    let (target, description) = match kind {
        Kind::SheetsRead => {
            let (spreadsheet, range) = sheet()?;
            (
                Target {
                    spreadsheet,
                    range,
                    columns: Vec::new(),
                },
                rest[2..].join(" "),
            )
        }
        Kind::SheetsAppend => {
            let (spreadsheet, range) = sheet()?;
            let columns: Vec<String> = rest
                .get(2)
                .map(|c| {
                    c.split(',')
                        .map(|c| c.trim().to_ascii_lowercase())
                        .filter(|c| !c.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            if columns.is_empty()
                || columns.len() > 12
                || !columns.iter().all(|c| tools::valid_name(c))
                || columns.iter().collect::<HashSet<_>>().len() != columns.len()
            {
                return Err(
                    "Give the row's columns separated by commas, e.g. name,phone,date (up to 12; lowercase letters, digits and _)."
                        .into(),
                );
            }
            (
                Target {
                    spreadsheet,
                    range,
                    columns,
                },
                rest[3..].join(" "),
            )
        }
        Kind::HubspotContact => (Target::default(), rest.join(" ")),
    };
    if description.chars().count() > 300 {
        return Err("Keep the description to 300 characters.".into());
    }
    Ok(Tool {
        id: 0,
        created_by: 0,
        name: name.to_string(),
        kind,
        description,
        target,
    })
}

async fn add(p: &Pipeline, t: &Turn<'_>, tool: Tool) -> Result<Vec<Outbound>, PipelineError> {
    // The description goes to the provider with every question: no personal data in it.
    let found = p
        .redactor
        .redact(
            &tool.description,
            &Hints::default(),
            &mut Placeholders::new(),
        )
        .map(|r| r.counts().keys().cloned().collect::<Vec<_>>());
    match found {
        Ok(kinds) if kinds.is_empty() => {}
        Ok(kinds) => {
            return Ok(vec![Outbound::text(format!(
                "The description appears to hold personal data ({}). It goes to the AI provider \
                 with every question: describe the tool without it.",
                kinds.join(", ")
            ))]);
        }
        Err(_) => {
            return Ok(vec![Outbound::text(
                "The description could not be checked for personal data; make it shorter.",
            )]);
        }
    }
    let linked = active_providers(p, t.bot.id)
        .await?
        .contains(tool.kind.provider());
    match tools::add(&p.db, &p.keys, t.bot.id, t.subject.id, &tool).await {
        Ok(_) => {}
        Err(AddError::Db(err)) => return Err(err.into()),
        Err(refused) => return Ok(vec![Outbound::text(refused.to_string())]),
    }
    audit(p, t, Action::ToolAdded, &tool).await?;
    let mut text = format!(
        "Added the tool {} ({}). The assistant may use it from the next message.",
        tool.name,
        tool.kind.as_str()
    );
    if !linked {
        text.push_str(&format!(
            "\nIt works once this assistant has a linked {} account: /link {}.",
            tool.kind.service(),
            tool.kind.provider()
        ));
    }
    if let Some(purpose) = tool.kind.purpose() {
        let named = t
            .policy
            .purpose(purpose)
            .is_some_and(|x| x.text.contains(tool.kind.service()));
        text.push_str(&if named {
            format!(
                "\nIt passes on people's details, so it is used only for people who turned on \"{}\" in /privacy.",
                t.policy.purpose(purpose).map_or("", |x| x.title.as_str())
            )
        } else {
            format!(
                "\nIt passes on people's details, and the policy in effect does not yet ask people about {}: it stays unused until the operator publishes a policy version with the `{purpose}` purpose naming it.",
                tool.kind.service()
            )
        });
    }
    Ok(vec![Outbound::text(text)])
}

async fn listing(p: &Pipeline, t: &Turn<'_>) -> Result<String, PipelineError> {
    let list = tools::list(&p.db, &p.keys, t.bot.id).await?;
    if list.is_empty() {
        return Ok(format!("This assistant has no tools yet.\n\n{USAGE}"));
    }
    let linked = active_providers(p, t.bot.id).await?;
    let mut text = String::from("The tools this assistant may use:");
    for tool in &list {
        let state = if linked.contains(tool.kind.provider()) {
            "on".to_string()
        } else {
            format!("off until /link {}", tool.kind.provider())
        };
        text.push_str(&format!(
            "\n• {} — {} ({state}){}",
            tool.name,
            tool.kind.as_str(),
            if tool.description.is_empty() {
                String::new()
            } else {
                format!(": {}", tool.description)
            }
        ));
    }
    text.push_str("\n\n/tools add … adds one; /tools remove NAME removes one.");
    Ok(text)
}

async fn audit(
    p: &Pipeline,
    t: &Turn<'_>,
    action: Action,
    tool: &Tool,
) -> Result<(), PipelineError> {
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        action,
        serde_json::json!({"tool": tool.name, "kind": tool.kind.as_str(), "provider": tool.kind.provider()}),
    )
    .await?;
    Ok(())
}

/// The providers the bot has an active link to.
async fn active_providers(p: &Pipeline, bot_id: i64) -> Result<HashSet<String>, PipelineError> {
    Ok(integrations::Entity::find()
        .select_only()
        .column(integrations::Column::Provider)
        .filter(integrations::Column::BotId.eq(bot_id))
        .filter(integrations::Column::Status.eq(Status::Active.as_str()))
        .into_tuple::<String>()
        .all(&p.db)
        .await?
        .into_iter()
        .collect())
}

/// The tools offered for one message.
#[derive(Default)]
pub(super) struct Offer {
    pub tools: Vec<Tool>,
    pub specs: Vec<ToolSpec>,
    /// For the model: tools held back until the person agrees, and where they can.
    pub note: Option<String>,
}

/// The bot's tools the model may call for this person: those whose provider the bot has an
/// active link to (a revoked or broken link takes its tools away at once), and of those that
/// pass on the person's data, only the ones whose purpose, naming the service, they granted.
pub(super) async fn offer(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &Choices,
) -> Result<Offer, PipelineError> {
    let all = tools::list(&p.db, &p.keys, t.bot.id).await?;
    if all.is_empty() {
        return Ok(Offer::default());
    }
    let linked = active_providers(p, t.bot.id).await?;
    let mut offer = Offer::default();
    let mut held = Vec::new();
    for tool in all {
        if !linked.contains(tool.kind.provider()) {
            continue;
        }
        if let Some(purpose) = tool.kind.purpose() {
            let Some(stated) = t.policy.purpose(purpose) else {
                continue;
            };
            if !stated.text.contains(tool.kind.service()) {
                continue;
            }
            if !choices.allows(t.policy, purpose) {
                held.push(format!("{} (\"{}\")", tool.name, stated.title));
                continue;
            }
        }
        offer.specs.push(tool.spec());
        offer.tools.push(tool);
    }
    if !held.is_empty() {
        offer.note = Some(format!(
            "Some of the business's tools can be used for this person only after they agree to \
             it in /privacy: {}. If they ask for what those do, tell them so; do not pretend it \
             was done.",
            held.join(", ")
        ));
    }
    Ok(offer)
}

/// What a call came to, for the model: its result or an error, redacted.
pub(super) struct Answered {
    pub result: String,
    /// The person's consent changed meanwhile: nothing more is done for this message.
    pub stop: bool,
}

/// Runs one call the model asked for.
pub(super) async fn call(
    p: &Pipeline,
    t: &Turn<'_>,
    offer: &Offer,
    call: &ToolCall,
    (placeholders, hints): (&mut Placeholders, &Hints),
    round: usize,
) -> Result<Answered, PipelineError> {
    let say = |text: &str| {
        Ok(Answered {
            result: format!("error: {text}"),
            stop: false,
        })
    };
    let Some(tool) = offer.tools.iter().find(|x| x.name == call.name) else {
        return say("there is no such tool");
    };
    let arguments: serde_json::Map<String, serde_json::Value> = if call.arguments.trim().is_empty()
    {
        Default::default()
    } else {
        match serde_json::from_str(&call.arguments) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return say("the arguments must be a JSON object"),
        }
    };
    // The placeholders the model saw become the values they stand for: what the person gave
    // for this purpose goes to the service.
    let restored: serde_json::Map<String, serde_json::Value> = arguments
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => {
                (k, serde_json::Value::String(placeholders.restore(&s)))
            }
            other => (k, other),
        })
        .collect();
    let sent = serde_json::to_vec(&restored).unwrap_or_default();
    let Some((integration, token)) = p
        .integrations
        .access_token(t.bot.id, tool.kind.provider())
        .await?
    else {
        return say("the linked account is no longer available");
    };
    // Keyed: a plain hash of a short value (a phone number) could be confirmed by guessing.
    let sha = digest::keyed_hex(&p.keys.audit, &[b"tool-sent:", &sent]);
    let egress = Egress {
        action: Action::ToolCalled,
        detail: serde_json::json!({
            "tool": tool.name,
            "kind": tool.kind.as_str(),
            "provider": tool.kind.recipient(),
            "integration": integration,
            "sent_sha256": sha,
            "round": round,
        }),
        // The kind with the name: what the call could carry.
        recipient: (
            format!("tool:{}", tool.kind.recipient()),
            format!("{}:{}", tool.kind.as_str(), tool.name),
        ),
        sha256: sha,
        purpose: tool.kind.purpose(),
        link: Some(integration),
        tool: Some(tool.id),
    };
    match super::egress::record(p, t, egress).await? {
        Recorded::Yes => {}
        Recorded::Unlinked => return say("the tool or its linked account is no longer available"),
        Recorded::ConsentChanged => {
            p.record(
                Some(t.bot.id),
                Some(&t.subject.pseudonym),
                Action::MessageHeld,
                serde_json::json!({"reason": "consent_changed", "tool": tool.name}),
            )
            .await?;
            return Ok(Answered {
                result: "error: the person's consent changed; nothing was done".into(),
                stop: true,
            });
        }
    }
    let outcome = p.tools.run(tool, &token, &restored).await;
    let daily = &p.metrics.daily;
    daily.add(t.bot.id, tool.kind.daily_count(), 1);
    let (detail, text) = match outcome {
        Ok(done) => (
            serde_json::json!({"tool": tool.name, "kind": tool.kind.as_str(), "ok": true, "made": done.made}),
            done.result,
        ),
        Err(err) => {
            daily.add(t.bot.id, tools::FAILED_COUNT, 1);
            tracing::warn!(tool = %tool.name, kind = tool.kind.as_str(), error = %err, "tool call failed");
            (
                serde_json::json!({"tool": tool.name, "kind": tool.kind.as_str(), "ok": false, "error": err.kind()}),
                format!("error: {err}"),
            )
        }
    };
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        Action::ToolCompleted,
        detail,
    )
    .await?;
    // What comes back is redacted like a message before the model reads it; a value already
    // seen gets the same placeholder.
    let result = match p.redactor.redact(&text, hints, placeholders) {
        Ok(redacted) => redacted.as_str().to_string(),
        Err(_) => "error: the result could not be redacted, so it is withheld".into(),
    };
    Ok(Answered {
        result,
        stop: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHEET: &str =
        "https://docs.google.com/spreadsheets/d/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/edit";

    #[test]
    fn add_reads_each_kind() {
        let read = parse_add(&[
            "prices",
            "sheets.read",
            SHEET,
            "Prices!A1:C50",
            "Our",
            "prices",
        ])
        .unwrap();
        assert_eq!(read.kind, Kind::SheetsRead);
        assert_eq!(read.target.range, "Prices!A1:C50");
        assert_eq!(read.description, "Our prices");
        let append = parse_add(&[
            "booking",
            "sheets.append",
            SHEET,
            "Bookings",
            "Name,phone,date",
            "Book",
        ])
        .unwrap();
        assert_eq!(append.target.columns, ["name", "phone", "date"]);
        let crm = parse_add(&["callback", "hubspot.contact", "Call", "back"]).unwrap();
        assert_eq!(crm.description, "Call back");
    }

    #[test]
    fn add_says_what_is_wrong() {
        assert!(
            parse_add(&["Prices", "sheets.read"])
                .unwrap_err()
                .contains("name")
        );
        assert!(
            parse_add(&["p", "sheets.write"])
                .unwrap_err()
                .contains("kinds")
        );
        assert!(
            parse_add(&["p", "sheets.read", "nope"])
                .unwrap_err()
                .contains("spreadsheet")
        );
        assert!(
            parse_add(&["p", "sheets.append", SHEET, "B", "name,name"])
                .unwrap_err()
                .contains("columns")
        );
    }
}
