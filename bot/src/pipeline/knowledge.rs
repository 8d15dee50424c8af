//! `/kb` for owners: the bot's knowledge base from the chat. A file sent with the caption
//! `/kb add` (plain text, Markdown, HTML or PDF) is split into passages and stored encrypted; the
//! owner is told if it appears to hold personal data (the redactor's detectors) and may have it
//! replaced by placeholders with `/kb redact N`. `/kb` lists the documents, `/kb remove N`
//! removes one. Audited with the document's name and the SHA-256 of its text.

use consentgate_adapters::{MediaError, MediaKind, Outbound};

use super::{Pipeline, PipelineError, Turn};
use crate::audit::Action;
use crate::knowledge::{self, Unreadable};
use crate::privacy::keys::Keys;
use crate::redact::{Hints, Placeholders, Redactor};
use consentgate_entity::kb_documents;
use std::collections::BTreeMap;

/// The largest file taken.
pub(crate) const MAX_BYTES: u64 = 2 * 1024 * 1024;

pub(super) async fn command(
    p: &Pipeline,
    t: &Turn<'_>,
    args: &str,
) -> Result<Vec<Outbound>, PipelineError> {
    let mut words = args.split_whitespace();
    let say = |text: String| Ok(vec![Outbound::text(text)]);
    match (
        words.next(),
        words.next().and_then(|n| n.parse::<i64>().ok()),
    ) {
        (None | Some("list"), _) => say(listing(p, t).await?),
        (Some("add"), _) => add(p, t).await,
        (Some("remove"), Some(id)) => match knowledge::remove(&p.db, t.bot.id, id).await? {
            Some(document) => {
                audit(p, t, Action::KbDocumentRemoved, &document).await?;
                say(format!(
                    "Removed {} from the knowledge base.",
                    document.name
                ))
            }
            None => say(format!("There is no document {id}. /kb lists them.")),
        },
        (Some("redact"), Some(id)) => redact(p, t, id).await,
        _ => say(USAGE.to_string()),
    }
}

const USAGE: &str = "The knowledge base: send a file (plain text, Markdown, HTML or PDF) with the \
caption /kb add to add it; /kb lists the documents; /kb remove N removes one; /kb redact N \
replaces the personal data found in one with placeholders.";

async fn listing(p: &Pipeline, t: &Turn<'_>) -> Result<String, PipelineError> {
    let documents = knowledge::list(&p.db, t.bot.id).await?;
    if documents.is_empty() {
        return Ok(format!("The knowledge base is empty.\n\n{USAGE}"));
    }
    let mut text = String::from("The knowledge base the assistant answers from:");
    for d in &documents {
        text.push_str(&format!(
            "\n{}. {} — {} passages, added {}{}",
            d.id,
            d.name,
            d.passages,
            d.created_at.format("%Y-%m-%d"),
            if d.redacted {
                ", personal data replaced"
            } else {
                ""
            }
        ));
    }
    text.push_str("\n\n/kb remove N removes one; a file with the caption /kb add adds one.");
    Ok(text)
}

async fn audit(
    p: &Pipeline,
    t: &Turn<'_>,
    action: Action,
    document: &kb_documents::Model,
) -> Result<(), PipelineError> {
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        action,
        audit_detail(document),
    )
    .await?;
    Ok(())
}

/// What the audit log says of a document: its name and the SHA-256 of its text, never the text.
pub(crate) fn audit_detail(document: &kb_documents::Model) -> serde_json::Value {
    serde_json::json!({"document": document.id, "name": document.name, "text_sha256": document.sha256, "passages": document.passages, "redacted": document.redacted})
}

/// Personal data the redactor finds in a text, by kind.
fn personal_data(redactor: &Redactor, text: &str) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    for passage in knowledge::split(text) {
        if let Ok(r) = redactor.redact(&passage, &Hints::default(), &mut Placeholders::new()) {
            for (kind, n) in r.counts() {
                *found.entry(kind.clone()).or_default() += n;
            }
        }
    }
    found
}

async fn add(p: &Pipeline, t: &Turn<'_>) -> Result<Vec<Outbound>, PipelineError> {
    let say = |text: &str| Ok(vec![Outbound::text(text)]);
    let Some(media) = t
        .inbound
        .media
        .as_ref()
        .filter(|m| m.kind == MediaKind::Document)
    else {
        return say("Send the file itself with the caption /kb add.");
    };
    let Some(channel) = p.integrations.notifier.channel(t.bot.id) else {
        return say("Files cannot be received on this channel.");
    };
    let bytes = match channel.fetch_media(media, MAX_BYTES).await {
        Ok(bytes) => bytes,
        Err(MediaError::TooLarge(_)) => return say("That file is too large (2 MB at most)."),
        Err(err) => {
            tracing::warn!(error = %err, "knowledge-base file not fetched");
            return say("Sorry, I couldn't get that file just now. Please send it again.");
        }
    };
    let name = media
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "document.txt".into());
    let (document, found) = match take(
        &p.db,
        &p.keys,
        &p.redactor,
        t.bot.id,
        (name, media.mime.clone(), bytes),
    )
    .await?
    {
        Ok(added) => added,
        Err(refused) => return say(refused),
    };
    audit(p, t, Action::KbDocumentAdded, &document).await?;
    let mut reply = format!(
        "Added {} ({} passages) as document {}. The assistant answers from it from now on.",
        document.name, document.passages, document.id
    );
    if let Some(kinds) = described(&found) {
        reply.push_str(&format!(
            "\n\nIt appears to contain personal data ({kinds}). The assistant would pass it to the \
             AI service when it is relevant. Send /kb redact {} to replace it with placeholders.",
            document.id
        ));
    }
    say(&reply)
}

/// Personal data found, in words: "1 PHONE, 2 EMAIL"; `None` for none.
pub(crate) fn described(found: &BTreeMap<String, usize>) -> Option<String> {
    (!found.is_empty()).then(|| {
        found
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// A file offered to a bot's knowledge base, (name, type, bytes): read (off the async workers,
/// given up after a while), split, stored encrypted. The document and the personal data the
/// redactor's detectors find in it, or why it was refused, in words for the owner. The caller
/// audits it.
pub(crate) async fn take(
    db: &sea_orm::DatabaseConnection,
    keys: &Keys,
    redactor: &Redactor,
    bot_id: i64,
    (name, mime, bytes): (String, Option<String>, Vec<u8>),
) -> Result<Result<(kb_documents::Model, BTreeMap<String, usize>), &'static str>, sea_orm::DbErr> {
    if bytes.len() as u64 > MAX_BYTES {
        return Ok(Err("That file is too large (2 MB at most)."));
    }
    let extracted = tokio::time::timeout(
        std::time::Duration::from_secs(25),
        knowledge::extract_file(name.clone(), mime, bytes),
    )
    .await;
    let Ok(extracted) = extracted else {
        return Ok(Err(
            "That file could not be read in time. Please send it as plain text.",
        ));
    };
    let text = match extracted {
        Ok(text) => text,
        Err(Unreadable::Kind) => {
            return Ok(Err(
                "I can read plain text, Markdown, HTML and PDF files; please send it as one of those.",
            ));
        }
        Err(Unreadable::NotText) => return Ok(Err("That file holds no text I can read.")),
        Err(Unreadable::TooLong) => {
            return Ok(Err("That file is too long (200,000 characters at most)."));
        }
    };
    let found = personal_data(redactor, &text);
    let document = knowledge::add(db, keys, bot_id, &name, &text, false).await?;
    Ok(Ok((document, found)))
}

/// Replaces the personal data in a document with placeholders (a new version of it).
async fn redact(p: &Pipeline, t: &Turn<'_>, id: i64) -> Result<Vec<Outbound>, PipelineError> {
    let say = |text: String| Ok(vec![Outbound::text(text)]);
    match redact_document(&p.db, &p.keys, &p.redactor, t.bot.id, id).await? {
        Redacted::Missing => say(format!("There is no document {id}. /kb lists them.")),
        Redacted::Failed => {
            say("Sorry, that document could not be redacted; it is unchanged.".into())
        }
        Redacted::Done { old, new } => {
            if let Some(old) = old {
                audit(p, t, Action::KbDocumentRemoved, &old).await?;
            }
            audit(p, t, Action::KbDocumentAdded, &new).await?;
            say(format!(
                "The personal data in {} is replaced with placeholders (now document {}).",
                new.name, new.id
            ))
        }
    }
}

/// What `/kb redact` did.
pub(crate) enum Redacted {
    Missing,
    /// The redactor failed: the document is unchanged.
    Failed,
    /// The redacted version added, and the old one removed (`None` if another request removed
    /// it meanwhile). The caller audits both.
    Done {
        old: Option<kb_documents::Model>,
        new: kb_documents::Model,
    },
}

/// Replaces the personal data the redactor finds in a document with unnumbered placeholders:
/// a new document of the same name, and the old one removed.
pub(crate) async fn redact_document(
    db: &sea_orm::DatabaseConnection,
    keys: &Keys,
    redactor: &Redactor,
    bot_id: i64,
    id: i64,
) -> Result<Redacted, sea_orm::DbErr> {
    let Some((name, text)) = knowledge::text_of(db, keys, bot_id, id).await? else {
        return Ok(Redacted::Missing);
    };
    let mut redacted = Vec::new();
    for passage in knowledge::split(&text) {
        match redactor.redact(&passage, &Hints::default(), &mut Placeholders::new()) {
            // Unnumbered, so an answer quoting one is never "restored" to the asker's data.
            Ok(r) => redacted.push(unnumbered(r.as_str())),
            Err(_) => return Ok(Redacted::Failed),
        }
    }
    let new = knowledge::add(db, keys, bot_id, &name, &redacted.join("\n\n"), true).await?;
    let old = knowledge::remove(db, bot_id, id).await?;
    Ok(Redacted::Done { old, new })
}

/// `[PHONE_1]` → `[phone removed]`: placeholders of a redacted document that no answer can
/// turn back into anyone's data.
fn unnumbered(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let label = tail[1..].find(']').map(|end| &tail[1..=end]);
        match label.and_then(|l| l.rsplit_once('_')) {
            Some((kind, n))
                if !kind.is_empty()
                    && kind.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
                    && !n.is_empty()
                    && n.bytes().all(|b| b.is_ascii_digit()) =>
            {
                out.push_str(&format!(
                    "[{} removed]",
                    kind.to_ascii_lowercase().replace('_', " ")
                ));
                rest = &tail[kind.len() + n.len() + 3..];
            }
            _ => {
                out.push('[');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_lose_their_numbers() {
        assert_eq!(
            super::unnumbered("call [PHONE_1] or [EMAIL_2], [not one] [X_y]"),
            "call [phone removed] or [email removed], [not one] [X_y]"
        );
    }
}
