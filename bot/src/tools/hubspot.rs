//! HubSpot CRM v3: find a contact by e-mail or phone (or create it), then add a note to it.

use serde_json::{Map, Value, json};

use super::{CallError, Done, Runner, text_arg};

/// The longest note written.
const MOST_NOTE: usize = 2_000;

/// HubSpot's association type "note to contact".
const NOTE_TO_CONTACT: u32 = 202;

fn url(runner: &Runner, path: &[&str]) -> Result<url::Url, CallError> {
    let mut url = runner.settings.hubspot_url.clone();
    url.path_segments_mut()
        .map_err(|_| CallError::Arguments("the HubSpot address cannot take a path".into()))?
        .pop_if_empty()
        .extend(path);
    Ok(url)
}

pub(super) async fn contact(
    runner: &Runner,
    token: &str,
    arguments: &Map<String, Value>,
) -> Result<Done, CallError> {
    let (name, email, phone) = (
        text_arg(arguments, "name"),
        text_arg(arguments, "email"),
        text_arg(arguments, "phone"),
    );
    let mut note = text_arg(arguments, "note");
    note.truncate(note.floor_char_boundary(MOST_NOTE));
    if email.is_empty() && phone.is_empty() {
        return Err(CallError::Arguments(
            "an e-mail address or a phone number is needed to find or create the contact".into(),
        ));
    }
    // Found by e-mail, else by phone: one search each, so a phone match never wins over the
    // contact the e-mail names.
    let mut existing = None;
    for (property, value) in [("email", &email), ("phone", &phone)] {
        if value.is_empty() || existing.is_some() {
            continue;
        }
        let search = json!({
            "filterGroups": [{"filters": [{"propertyName": property, "operator": "EQ", "value": value}]}],
            "limit": 1,
            "properties": ["email"],
        });
        let found = runner
            .json(
                runner
                    .client()?
                    .post(url(
                        runner,
                        &["crm", "v3", "objects", "contacts", "search"],
                    )?)
                    .bearer_auth(token)
                    .json(&search),
            )
            .await?;
        existing = found["results"][0]["id"].as_str().map(str::to_string);
    }
    let (id, created) = match existing {
        Some(id) => (id, false),
        None => {
            let (first, last) = match name.rsplit_once(' ') {
                Some((first, last)) => (first.trim().to_string(), last.trim().to_string()),
                None => (name.clone(), String::new()),
            };
            let mut properties = Map::new();
            for (key, value) in [
                ("firstname", first),
                ("lastname", last),
                ("email", email.clone()),
                ("phone", phone.clone()),
            ] {
                if !value.is_empty() {
                    properties.insert(key.into(), Value::String(value));
                }
            }
            let made = runner
                .json(
                    runner
                        .client()?
                        .post(url(runner, &["crm", "v3", "objects", "contacts"])?)
                        .bearer_auth(token)
                        .json(&json!({"properties": properties})),
                )
                .await?;
            let id = made["id"]
                .as_str()
                .map(str::to_string)
                .ok_or(CallError::Malformed)?;
            (id, true)
        }
    };
    if !note.is_empty() {
        runner
            .json(
                runner
                    .client()?
                    .post(url(runner, &["crm", "v3", "objects", "notes"])?)
                    .bearer_auth(token)
                    .json(&json!({
                        "properties": {
                            "hs_note_body": note,
                            "hs_timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                        },
                        "associations": [{
                            "to": {"id": id},
                            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": NOTE_TO_CONTACT}],
                        }],
                    })),
            )
            .await?;
    }
    let result = match (created, note.is_empty()) {
        (true, false) => "A new contact was created and the note added to it.",
        (true, true) => "A new contact was created.",
        (false, false) => "The contact was found and the note added to it.",
        (false, true) => "The contact was found.",
    };
    Ok(Done {
        result: result.into(),
        made: Some(format!("contact {id}")),
    })
}
