//! What people are asked: the policy text (`[policy]`) and the purposes (`[[purposes]]`), with
//! the built-in defaults.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, RetentionSettings, bad};

/// Where the privacy policy text comes from.
#[derive(Clone, Debug)]
pub struct PolicySettings {
    /// A file with the text; the built-in default when absent.
    pub file: Option<PathBuf>,
    /// A human label for the version, e.g. a date.
    pub label: String,
}

/// One purpose people are asked about, as configured (its text already filled in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurposeSettings {
    pub name: String,
    pub title: String,
    pub text: String,
    pub required: bool,
}

/// The built-in purposes; `{recipients}` and `{history_days}` are filled in from the
/// configuration.
pub const DEFAULT_PURPOSES: [(&str, &str, &str, bool); 3] = [
    (
        "assistant",
        "Answers from the AI assistant",
        "To answer you, the text of each message you send is passed to {recipients}, with names, \
phone numbers, card numbers and other personal details replaced by placeholders, together with a \
random-looking code instead of your account id. Required to use the assistant.",
        true,
    ),
    (
        "history",
        "Keeping our conversation",
        "Your messages and the answers are stored encrypted for up to {history_days} days, so the \
assistant can remember what you said earlier. Without this, no message text is stored at all. \
Off unless you turn it on.",
        false,
    ),
    (
        "marketing",
        "News and offers",
        "The business may write to you first with news and offers. Off unless you turn it on; \
send STOP at any time to end them.",
        false,
    ),
];

/// The built-in purpose for pictures, offered when a configured model accepts them;
/// `{image_recipients}` is filled in with who receives them.
pub const IMAGES_PURPOSE: (&str, &str, &str) = (
    "images",
    "Pictures",
    "Pictures you send are passed as they are, with their caption, to {image_recipients}, so that \
it can answer about them. A picture cannot have faces, names, numbers or addresses taken out: send \
only what you are happy for that service to see. Pictures are not stored here. Without this, \
pictures are not looked at. Off unless you turn it on.",
);

/// The built-in purpose for voice notes, offered when a transcription service is configured;
/// `{transcriber}` is filled in with who it is.
pub const VOICE_PURPOSE: (&str, &str, &str) = (
    "voice",
    "Voice notes",
    "Voice notes and audio you send (not forwarded ones) are passed as audio to {transcriber} to \
be turned into text, which is then handled like a typed message. Audio cannot have names or numbers taken out before it is \
sent; it is not stored here. Without this, voice notes are not listened to. Off unless you turn \
it on.",
);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePurpose {
    pub(super) name: String,
    pub(super) title: Option<String>,
    pub(super) text: Option<String>,
    pub(super) required: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePolicy {
    pub(super) file: Option<PathBuf>,
    pub(super) label: Option<String>,
}

pub(super) fn valid_purpose_name(name: &str) -> bool {
    (1..=24).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        && name != "req"
}

/// The purposes people are asked about, their texts filled in, checked for what the law
/// requires of them.
pub(super) fn settings(
    file: Option<Vec<FilePurpose>>,
    recipients: &str,
    transcriber: Option<&str>,
    image_recipients: Option<&str>,
    services: &[(&str, &str, &str)],
    retention: &RetentionSettings,
) -> Result<Vec<PurposeSettings>, ConfigError> {
    let fill = |text: &str| {
        text.replace("{recipients}", recipients)
            .replace("{history_days}", &retention.conversation_days.to_string())
            .replace(
                "{transcriber}",
                transcriber.unwrap_or("no service (voice notes are not transcribed here)"),
            )
            .replace(
                "{image_recipients}",
                image_recipients.unwrap_or("no service (pictures are not looked at here)"),
            )
    };
    let voice = (VOICE_PURPOSE.0, VOICE_PURPOSE.1, VOICE_PURPOSE.2, false);
    let images = (IMAGES_PURPOSE.0, IMAGES_PURPOSE.1, IMAGES_PURPOSE.2, false);
    let mut extra = vec![voice, images];
    // The purposes of the tools' services (`sheets`, `crm`): optional, offered when their
    // provider can be linked.
    extra.extend(services.iter().map(|(n, t, x)| (*n, *t, *x, false)));
    let defaults = |name: &str| DEFAULT_PURPOSES.iter().chain(&extra).find(|d| d.0 == name);
    let mut purposes: Vec<PurposeSettings> = match file {
        None => DEFAULT_PURPOSES
            .iter()
            .map(|(name, title, text, required)| PurposeSettings {
                name: name.to_string(),
                title: title.to_string(),
                text: fill(text),
                required: *required,
            })
            .collect(),
        Some(list) => {
            let mut out = Vec::new();
            for (i, p) in list.into_iter().enumerate() {
                let place = format!("purposes[{i}]");
                if !valid_purpose_name(&p.name) {
                    return Err(bad(
                        format!("{place}.name"),
                        "use 1-24 characters of a-z and _ (and not `req`)",
                    ));
                }
                let builtin = defaults(&p.name);
                let title = p
                    .title
                    .or(builtin.map(|d| d.1.to_string()))
                    .ok_or_else(|| bad(format!("{place}.title"), "required for a new purpose"))?;
                let text = p
                    .text
                    .or(builtin.map(|d| d.2.to_string()))
                    .ok_or_else(|| bad(format!("{place}.text"), "required for a new purpose"))?;
                if text.trim().is_empty() || title.trim().is_empty() {
                    return Err(bad(&place, "title and text must not be empty"));
                }
                if out.iter().any(|o: &PurposeSettings| o.name == p.name) {
                    return Err(bad(&place, format!("`{}` is declared twice", p.name)));
                }
                let required = p.required.unwrap_or(builtin.is_some_and(|d| d.3));
                out.push(PurposeSettings {
                    name: p.name,
                    title,
                    text: fill(&text),
                    required,
                });
            }
            out
        }
    };
    // With a transcription service, voice notes are offered even where the file lists the
    // purposes without them.
    if transcriber.is_some() && !purposes.iter().any(|p| p.name == VOICE_PURPOSE.0) {
        purposes.push(PurposeSettings {
            name: VOICE_PURPOSE.0.to_string(),
            title: VOICE_PURPOSE.1.to_string(),
            text: fill(VOICE_PURPOSE.2),
            required: false,
        });
    }
    if image_recipients.is_some() && !purposes.iter().any(|p| p.name == IMAGES_PURPOSE.0) {
        purposes.push(PurposeSettings {
            name: IMAGES_PURPOSE.0.to_string(),
            title: IMAGES_PURPOSE.1.to_string(),
            text: fill(IMAGES_PURPOSE.2),
            required: false,
        });
    }
    for (name, title, text) in services {
        if !purposes.iter().any(|p| p.name == *name) {
            purposes.push(PurposeSettings {
                name: name.to_string(),
                title: title.to_string(),
                text: fill(text),
                required: false,
            });
        }
    }
    match purposes.iter().find(|p| p.name == "assistant") {
        Some(p) if p.required => {}
        Some(_) => {
            return Err(bad(
                "purposes",
                "`assistant` must be required: without it no message can be answered",
            ));
        }
        None => {
            return Err(bad(
                "purposes",
                "declare the `assistant` purpose: it is what people agree to",
            ));
        }
    }
    for p in &purposes {
        if matches!(
            p.name.as_str(),
            "history" | "marketing" | "voice" | "images" | "sheets" | "crm"
        ) && p.required
        {
            return Err(bad(
                "purposes",
                format!(
                    "`{}` must be optional: it cannot be a condition of service",
                    p.name
                ),
            ));
        }
    }
    Ok(purposes)
}

/// Where the policy text comes from; a relative file is read from beside the configuration.
pub(super) fn policy(
    file: Option<FilePolicy>,
    base_dir: &Path,
) -> Result<PolicySettings, ConfigError> {
    let policy = match file {
        Some(p) => PolicySettings {
            file: p
                .file
                .map(|f| if f.is_relative() { base_dir.join(f) } else { f }),
            label: p.label.unwrap_or_else(|| "default".to_string()),
        },
        None => PolicySettings {
            file: None,
            label: "built-in".to_string(),
        },
    };
    if let Some(path) = &policy.file
        && !path.is_file()
    {
        return Err(bad(
            "policy.file",
            format!("{} is not a readable file", path.display()),
        ));
    }

    Ok(policy)
}
