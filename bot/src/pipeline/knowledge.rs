//! `/kb` for owners: the bot's knowledge base from the chat. A file sent with the caption
//! `/kb add` (plain text, Markdown, HTML or PDF) is split into passages and stored encrypted; the
//! owner is told if it appears to hold personal data (the redactor's detectors) and may have it
//! replaced by placeholders with `/kb redact N`. `/kb` lists the documents, `/kb remove N`
//! removes one. Audited with the document's name and the SHA-256 of its text.

use consentgate_adapters::{MediaError, MediaKind, Outbound};

use super::{Pipeline, PipelineError, Turn};
use crate::audit::Action;
use crate::embeddings::Embedder;
use crate::knowledge::{self, Unreadable};
use crate::privacy::keys::Keys;
use crate::redact::{Hints, Placeholders, Redactor};
use consentgate_entity::kb_documents;
use std::collections::BTreeMap;

/// What an owner is told when a document would not fit.
const FULL: &str =
    "The knowledge base is full (20,000 passages). Remove a document first (/kb lists them).";

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
        (Some("remove"), Some(id)) => {
            match knowledge::remove(&p.db, t.bot.id, id, &changer(p, t)).await? {
                Some(document) => say(format!(
                    "Removed {} from the knowledge base.",
                    document.name
                )),
                None => say(format!("There is no document {id}. /kb lists them.")),
            }
        }
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

/// The owner in the chat, as the knowledge base's audit entries name them.
fn changer<'a>(p: &'a Pipeline, t: &'a Turn<'_>) -> knowledge::Changer<'a> {
    knowledge::Changer {
        audit: &p.audit,
        subject: Some(&t.subject.pseudonym),
        by: None,
    }
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
        (&p.redactor, p.embedder.as_deref()),
        (t.bot.id, &changer(p, t)),
        (name, media.mime.clone(), bytes),
    )
    .await?
    {
        Ok(added) => added,
        Err(refused) => return say(refused),
    };
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
    (redactor, embedder): (&Redactor, Option<&Embedder>),
    (bot_id, who): (i64, &knowledge::Changer<'_>),
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
    let document = match knowledge::add(db, keys, bot_id, (&name, &text, false), who).await {
        Ok(document) => document,
        Err(sea_orm::DbErr::Custom(why)) if why == knowledge::FULL => return Ok(Err(FULL)),
        Err(err) => return Err(err),
    };
    if let Some(embedder) = embedder {
        embed(db, keys, (embedder, redactor), &document, who).await;
    }
    Ok(Ok((document, found)))
}

/// Replaces the personal data in a document with placeholders (a new version of it).
async fn redact(p: &Pipeline, t: &Turn<'_>, id: i64) -> Result<Vec<Outbound>, PipelineError> {
    let say = |text: String| Ok(vec![Outbound::text(text)]);
    let tools = (&p.redactor, p.embedder.as_deref());
    match redact_document(&p.db, &p.keys, tools, (t.bot.id, &changer(p, t)), id).await? {
        Redacted::Missing => say(format!("There is no document {id}. /kb lists them.")),
        Redacted::Failed => {
            say("Sorry, that document could not be redacted; it is unchanged.".into())
        }
        Redacted::Done { new } => say(format!(
            "The personal data in {} is replaced with placeholders (now document {}).",
            new.name, new.id
        )),
    }
}

/// A document's embeddings, best effort: the document is stored either way, and one that is
/// not (fully) embedded is found by words.
async fn embed(
    db: &sea_orm::DatabaseConnection,
    keys: &Keys,
    services: (&Embedder, &Redactor),
    document: &kb_documents::Model,
    who: &knowledge::Changer<'_>,
) {
    if let Err(err) = knowledge::embed_document(db, keys, services, document, who).await {
        tracing::warn!(error = %err, "knowledge-base document not embedded; found by words only");
    }
}

/// What `/kb redact` did.
pub(crate) enum Redacted {
    Missing,
    /// The redactor failed: the document is unchanged.
    Failed,
    /// The old version removed and the redacted one added, in one transaction with both
    /// audit entries.
    Done {
        new: kb_documents::Model,
    },
}

/// Replaces the personal data the redactor finds in a document with unnumbered placeholders:
/// a new document of the same name, and the old one removed.
pub(crate) async fn redact_document(
    db: &sea_orm::DatabaseConnection,
    keys: &Keys,
    (redactor, embedder): (&Redactor, Option<&Embedder>),
    (bot_id, who): (i64, &knowledge::Changer<'_>),
    id: i64,
) -> Result<Redacted, sea_orm::DbErr> {
    let Some((name, text)) = knowledge::text_of(db, keys, bot_id, id).await? else {
        return Ok(Redacted::Missing);
    };
    let mut redacted = Vec::new();
    for passage in knowledge::split(&text) {
        match redactor.redact(&passage, &Hints::default(), &mut Placeholders::new()) {
            // Unnumbered, so an answer quoting one is never "restored" to the asker's data.
            Ok(r) => redacted.push(knowledge::unnumbered(r.as_str())),
            Err(_) => return Ok(Redacted::Failed),
        }
    }
    let text = redacted.join("\n\n");
    let Some((_, new)) = knowledge::replace(db, keys, bot_id, id, (&name, &text), who).await?
    else {
        // Removed meanwhile (or replaced by another request): it stays so.
        return Ok(Redacted::Missing);
    };
    if let Some(embedder) = embedder {
        embed(db, keys, (embedder, redactor), &new, who).await;
    }
    Ok(Redacted::Done { new })
}

/// The passages of the bot's knowledge base that best answer a message, searched with its
/// redacted text: by full-text score, and, where the passages have embeddings and the
/// `assistant` purpose in effect names the embeddings service, by meaning too (the redacted
/// question's embedding, recorded before it leaves as any forward is). A search or a service
/// that fails leaves fewer passages; only a record that cannot be written is an error (then
/// nothing leaves).
pub(super) async fn search(
    p: &Pipeline,
    t: &Turn<'_>,
    redacted: &str,
) -> Result<Vec<(String, String)>, PipelineError> {
    let index = match p.knowledge.index(&p.db, &p.keys, t.bot.id).await {
        Ok(Some(index)) => index,
        Ok(None) => return Ok(Vec::new()),
        Err(err) => {
            tracing::warn!(error = %err, "knowledge base not searched");
            return Ok(Vec::new());
        }
    };
    let mut embedding = None;
    if let Some(embedder) = p.embedder.as_deref()
        && !redacted.trim().is_empty()
        && index.has_vectors()
        && t.policy
            .purpose(crate::consent::PURPOSE_ASSISTANT)
            .is_some_and(|a| a.text.contains(&embedder.recipient))
    {
        let request = embedder.request(&[redacted.to_string()]);
        // Keyed: a plain hash of a short question could be confirmed by guessing it.
        let sha =
            crate::privacy::digest::keyed_hex(&p.keys.audit, &[b"embeddings:", &request.bytes]);
        let provider = format!("embeddings:{}", embedder.host);
        let egress = super::egress::Egress {
            action: Action::KnowledgeEmbedded,
            detail: serde_json::json!({"provider": provider, "model": embedder.model(), "payload_sha256": sha}),
            recipient: (provider, embedder.model().to_string()),
            sha256: sha,
            purpose: None,
            link: None,
            tool: None,
        };
        // A withdrawal that came first: nothing is sent (the forward's own record then holds
        // the message).
        if let super::egress::Recorded::Yes = super::egress::record(p, t, egress).await? {
            match embedder.send(request).await {
                Ok(mut vectors) => embedding = vectors.pop(),
                Err(err) => {
                    tracing::warn!(error = %err, "question not embedded; knowledge base searched by words only")
                }
            }
        }
    }
    Ok(index
        .best(redacted, embedding.as_deref())
        .unwrap_or_else(|err| {
            tracing::warn!(error = %err, "knowledge base not searched");
            Vec::new()
        }))
}
