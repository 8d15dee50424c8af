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
    retention: &RetentionSettings,
) -> Result<Vec<PurposeSettings>, ConfigError> {
    let fill = |text: &str| {
        text.replace("{recipients}", recipients)
            .replace("{history_days}", &retention.conversation_days.to_string())
    };
    let defaults = |name: &str| DEFAULT_PURPOSES.iter().find(|d| d.0 == name);
    let purposes: Vec<PurposeSettings> = match file {
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
        if matches!(p.name.as_str(), "history" | "marketing") && p.required {
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
