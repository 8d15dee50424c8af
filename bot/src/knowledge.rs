//! The knowledge base of each bot: documents its owners add from the chat (`/kb add` on a
//! file), split into passages stored Fernet-encrypted, and searched with tantivy's full-text
//! index, built in memory from the decrypted passages (so nothing is on disk in clear) and
//! rebuilt when the bot's documents change (on any replica). The best passages for a question
//! go to the provider with their source names, so answers can cite them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use tantivy::{
    Index, IndexWriter, TantivyDocument,
    collector::TopDocs,
    doc,
    query::QueryParser,
    schema::{Field, STORED, Schema, TEXT, Value},
};

use consentgate_entity::{kb_documents, kb_passages};

use crate::privacy::{digest::sha256_hex, keys::Keys};

/// The longest document text taken, in characters.
pub const MAX_CHARS: usize = 200_000;
/// A passage is about this long (paragraphs are kept whole when they fit).
const PASSAGE_CHARS: usize = 700;
/// Passages handed to the provider per question, and their total length at most.
const BEST: usize = 3;
const BEST_CHARS: usize = 2_000;

/// Why a file could not be added.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// A kind of file whose text is not read (yet).
    Kind,
    /// Not UTF-8 text, or empty.
    NotText,
    TooLong,
}

/// The text of a file, by its name and type: plain text and Markdown as they are, HTML without
/// its markup, PDF as pdf-extract reads it.
pub fn extract(name: &str, mime: Option<&str>, bytes: &[u8]) -> Result<String, Unreadable> {
    let lower = name.to_ascii_lowercase();
    let mime = mime.unwrap_or_default();
    if lower.ends_with(".pdf") || mime == "application/pdf" {
        return pdf_text(bytes);
    }
    let html = lower.ends_with(".html") || lower.ends_with(".htm") || mime.contains("html");
    let plain = [".txt", ".md", ".markdown", ".csv"]
        .iter()
        .any(|e| lower.ends_with(e))
        || mime.starts_with("text/");
    if !html && !plain {
        return Err(Unreadable::Kind);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| Unreadable::NotText)?;
    let text = if html {
        strip_html(text)
    } else {
        text.to_string()
    };
    if text.trim().is_empty() {
        return Err(Unreadable::NotText);
    }
    if text.chars().count() > MAX_CHARS {
        return Err(Unreadable::TooLong);
    }
    Ok(text.replace("\r\n", "\n"))
}

/// The binary PDFs are read with, in a child process (`consentgate read-pdf`); unset, they are
/// read in this process.
static PDF_READER: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// How long a child may take to read a PDF.
const PDF_SECONDS: u64 = 20;

/// From now on PDFs are read by `binary read-pdf` in a child process of their own, with limits
/// on its memory and time: a file built to overflow the PDF library's stack or exhaust memory
/// ends that process, never the gateway. `consentgate serve` sets it to its own binary.
pub fn read_pdfs_with(binary: std::path::PathBuf) {
    let _ = PDF_READER.set(binary);
}

/// [`extract`], with PDFs read in a child process where [`read_pdfs_with`] set a binary, and
/// everything else (and PDFs without one) off the async workers.
pub async fn extract_file(
    name: String,
    mime: Option<String>,
    bytes: Vec<u8>,
) -> Result<String, Unreadable> {
    let pdf =
        name.to_ascii_lowercase().ends_with(".pdf") || mime.as_deref() == Some("application/pdf");
    if pdf && let Some(binary) = PDF_READER.get() {
        return read_pdf_in(binary, bytes).await;
    }
    tokio::task::spawn_blocking(move || extract(&name, mime.as_deref(), &bytes))
        .await
        .unwrap_or(Err(Unreadable::NotText))
}

/// Exit codes of `consentgate read-pdf` besides 0 (the text on standard output).
pub const PDF_NOT_TEXT: i32 = 3;
pub const PDF_TOO_LONG: i32 = 4;

/// A PDF's text, read by `binary read-pdf` in a child process with no environment variables
/// (no keys are handed to it; it runs as the same user), at most two at once, bounded in time
/// and in what it may write; a child that crashes or is killed is an unreadable file.
pub async fn read_pdf_in(binary: &std::path::Path, bytes: Vec<u8>) -> Result<String, Unreadable> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // At most two readers at once (each may take 1 GiB): the others wait their turn.
    static READERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let Ok(_turn) = READERS.acquire().await else {
        return Err(Unreadable::NotText);
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(PDF_SECONDS);
    let child = tokio::process::Command::new(binary)
        .arg("read-pdf")
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => {
            tracing::warn!(error = %err, "the PDF reader could not be started");
            return Err(Unreadable::NotText);
        }
    };
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Unreadable::NotText);
    };
    let read = async {
        let writing = async move {
            // A child that stops reading (it died) is seen by its exit status below.
            let _ = stdin.write_all(&bytes).await;
            drop(stdin);
        };
        // At most what MAX_CHARS characters take in UTF-8, and one byte more to notice.
        let limit = (MAX_CHARS * 4 + 1) as u64;
        let mut out = Vec::new();
        let mut bounded = stdout.take(limit);
        let reading = bounded.read_to_end(&mut out);
        let (_, read) = tokio::join!(writing, reading);
        read.map(|_| out)
    };
    // One deadline for the whole reading: the child is killed when it passes.
    let out = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(out)) => out,
        _ => return Err(Unreadable::NotText),
    };
    let status = match tokio::time::timeout_at(deadline, child.wait()).await {
        Ok(Ok(status)) => status,
        _ => return Err(Unreadable::NotText),
    };
    match status.code() {
        Some(0) => String::from_utf8(out).map_err(|_| Unreadable::NotText),
        Some(PDF_TOO_LONG) => Err(Unreadable::TooLong),
        other => {
            tracing::warn!(exit = ?other, "the PDF reader refused or failed on a file");
            Err(Unreadable::NotText)
        }
    }
}

/// A PDF's text. A malformed file is refused, never a panic (the library is not guarded
/// against every broken file).
pub fn pdf_text(bytes: &[u8]) -> Result<String, Unreadable> {
    let owned = bytes.to_vec();
    let text = std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem(&owned))
        .map_err(|_| Unreadable::NotText)?
        .map_err(|_| Unreadable::NotText)?;
    if text.trim().is_empty() {
        return Err(Unreadable::NotText);
    }
    if text.chars().count() > MAX_CHARS {
        return Err(Unreadable::TooLong);
    }
    // Lines broken by the layout are joined into paragraphs again.
    Ok(text.replace("\r\n", "\n"))
}

/// HTML's text: tags, scripts and styles dropped, the common entities decoded, block ends as
/// line breaks.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tag = &rest[start + 1..];
        // The tag's name, from a short slice only (never the whole rest of the document).
        let head: String = tag
            .chars()
            .take(12)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = head.trim_start_matches('/');
        let closing = if name.starts_with("script") {
            Some("</script")
        } else if name.starts_with("style") {
            Some("</style")
        } else {
            None
        };
        if ["p", "br", "li", "h1", "h2", "h3", "h4", "div", "tr"]
            .iter()
            .any(|b| name.starts_with(b))
        {
            out.push('\n');
        }
        // Past a script's or style's end tag (either case), else past this tag.
        let after = match closing {
            Some(end) => find_ascii_ci(tag, end).and_then(|i| tag[i..].find('>').map(|j| i + j)),
            None => tag.find('>'),
        };
        match after {
            Some(i) => rest = &tag[i + 1..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Where `needle` (ASCII, lower case) first occurs in `haystack`, in any case; linear.
fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..h.len().saturating_sub(n.len() - 1)).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Paragraphs, joined up to about [`PASSAGE_CHARS`]; a longer paragraph is cut at sentence
/// ends or, failing that, at the length.
pub fn split(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let push = |current: &mut String, out: &mut Vec<String>| {
        if !current.trim().is_empty() {
            out.push(current.trim().to_string());
        }
        current.clear();
    };
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        if current.chars().count() + paragraph.chars().count() > PASSAGE_CHARS {
            push(&mut current, &mut out);
        }
        if paragraph.chars().count() <= PASSAGE_CHARS {
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(paragraph);
            continue;
        }
        for sentence in paragraph.split_inclusive(['.', '!', '?', '\n']) {
            if current.chars().count() + sentence.chars().count() > PASSAGE_CHARS {
                push(&mut current, &mut out);
            }
            let mut chars = sentence.chars().peekable();
            while chars.peek().is_some() {
                let piece: String = chars.by_ref().take(PASSAGE_CHARS).collect();
                if current.chars().count() + piece.chars().count() > PASSAGE_CHARS {
                    push(&mut current, &mut out);
                }
                current.push_str(&piece);
            }
        }
    }
    push(&mut current, &mut out);
    out
}

/// The most passages one bot's knowledge base holds (about 16 MB of text): its index is kept in
/// memory.
pub const MOST_PASSAGES: u64 = 20_000;

/// The error of [`add`] when the document would take the bot past [`MOST_PASSAGES`].
pub const FULL: &str = "the knowledge base is full";

/// A bot's documents, as the owner sees them.
pub async fn list(db: &DatabaseConnection, bot_id: i64) -> Result<Vec<kb_documents::Model>, DbErr> {
    kb_documents::Entity::find()
        .filter(kb_documents::Column::BotId.eq(bot_id))
        .order_by_asc(kb_documents::Column::Id)
        .all(db)
        .await
}

/// Who changes a knowledge base: the audit entries are written in the change's transaction, so
/// a change is kept with its entry or not at all.
pub struct Changer<'a> {
    pub audit: &'a crate::audit::AuditLog,
    /// The owner, in the chat.
    pub subject: Option<&'a crate::privacy::pseudonym::Pseudonym>,
    /// Added to each entry's detail as `by` (on the console: the key or the owner).
    pub by: Option<serde_json::Value>,
}

impl Changer<'_> {
    async fn append(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        action: crate::audit::Action,
        document: &kb_documents::Model,
    ) -> Result<(), DbErr> {
        let mut detail = audit_detail(document);
        if let Some(by) = &self.by {
            detail["by"] = by.clone();
        }
        self.audit
            .append(txn, Some(document.bot_id), self.subject, action, detail)
            .await
    }
}

/// What the audit log says of a document: its name and the SHA-256 of its text, never the text.
pub fn audit_detail(document: &kb_documents::Model) -> serde_json::Value {
    serde_json::json!({"document": document.id, "name": document.name, "text_sha256": document.sha256, "passages": document.passages, "redacted": document.redacted})
}

/// Stores a document's passages, encrypted, with its audit entry (`kb.added`); returns it.
pub async fn add(
    db: &DatabaseConnection,
    keys: &Keys,
    bot_id: i64,
    (name, text, redacted): (&str, &str, bool),
    who: &Changer<'_>,
) -> Result<kb_documents::Model, DbErr> {
    let txn = crate::audit::begin(db).await?;
    let document = insert(&txn, keys, bot_id, (name, text, redacted)).await?;
    // Counted after the write, in its transaction: uploads at the same moment cannot pass the
    // limit together.
    let held = kb_passages::Entity::find()
        .filter(kb_passages::Column::BotId.eq(bot_id))
        .count(&txn)
        .await?;
    if held > MOST_PASSAGES {
        txn.rollback().await?;
        return Err(DbErr::Custom(FULL.into()));
    }
    who.append(&txn, crate::audit::Action::KbDocumentAdded, &document)
        .await?;
    txn.commit().await?;
    Ok(document)
}

async fn insert(
    txn: &sea_orm::DatabaseTransaction,
    keys: &Keys,
    bot_id: i64,
    (name, text, redacted): (&str, &str, bool),
) -> Result<kb_documents::Model, DbErr> {
    let passages = split(text);
    let document = kb_documents::ActiveModel {
        bot_id: Set(bot_id),
        name: Set(name.chars().take(200).collect()),
        sha256: Set(sha256_hex(text)),
        passages: Set(i32::try_from(passages.len()).unwrap_or(i32::MAX)),
        redacted: Set(redacted),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(txn)
    .await?;
    for (seq, passage) in passages.iter().enumerate() {
        kb_passages::ActiveModel {
            document_id: Set(document.id),
            bot_id: Set(bot_id),
            seq: Set(i32::try_from(seq).unwrap_or(i32::MAX)),
            text_enc: Set(keys.fernet.encrypt(passage.as_bytes())),
            ..Default::default()
        }
        .insert(txn)
        .await?;
    }
    Ok(document)
}

/// Deletes a document of a bot and its passages inside `txn`; `None` when it has none with this
/// id (any more).
async fn delete(
    txn: &sea_orm::DatabaseTransaction,
    bot_id: i64,
    id: i64,
) -> Result<Option<kb_documents::Model>, DbErr> {
    // A write first: on SQLite a transaction that reads before it writes fails when another
    // connection wrote meanwhile (see `consent::lock_person`).
    let claimed = kb_documents::Entity::update_many()
        .col_expr(
            kb_documents::Column::BotId,
            sea_orm::sea_query::Expr::col(kb_documents::Column::BotId),
        )
        .filter(kb_documents::Column::Id.eq(id))
        .filter(kb_documents::Column::BotId.eq(bot_id))
        .exec(txn)
        .await?
        .rows_affected;
    if claimed != 1 {
        return Ok(None);
    }
    let Some(document) = kb_documents::Entity::find_by_id(id)
        .filter(kb_documents::Column::BotId.eq(bot_id))
        .one(txn)
        .await?
    else {
        return Ok(None);
    };
    kb_passages::Entity::delete_many()
        .filter(kb_passages::Column::DocumentId.eq(id))
        .exec(txn)
        .await?;
    let gone = kb_documents::Entity::delete_many()
        .filter(kb_documents::Column::Id.eq(id))
        .exec(txn)
        .await?
        .rows_affected;
    Ok((gone == 1).then_some(document))
}

/// Replaces a document with a new version (its personal data replaced), in one transaction
/// with both audit entries: the old one is removed only if it is still there, so a document
/// removed meanwhile stays removed and a second request changes nothing. `None` then.
pub async fn replace(
    db: &DatabaseConnection,
    keys: &Keys,
    bot_id: i64,
    old_id: i64,
    (name, text): (&str, &str),
    who: &Changer<'_>,
) -> Result<Option<(kb_documents::Model, kb_documents::Model)>, DbErr> {
    let txn = crate::audit::begin(db).await?;
    let Some(old) = delete(&txn, bot_id, old_id).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    let new = insert(&txn, keys, bot_id, (name, text, true)).await?;
    who.append(&txn, crate::audit::Action::KbDocumentRemoved, &old)
        .await?;
    who.append(&txn, crate::audit::Action::KbDocumentAdded, &new)
        .await?;
    txn.commit().await?;
    Ok(Some((old, new)))
}

/// A document's name and whole text (its passages, decrypted, in order).
pub async fn text_of(
    db: &DatabaseConnection,
    keys: &Keys,
    bot_id: i64,
    id: i64,
) -> Result<Option<(String, String)>, DbErr> {
    let Some(document) = kb_documents::Entity::find_by_id(id)
        .filter(kb_documents::Column::BotId.eq(bot_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let passages: Vec<String> = kb_passages::Entity::find()
        .filter(kb_passages::Column::DocumentId.eq(id))
        .order_by_asc(kb_passages::Column::Seq)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|p| String::from_utf8(keys.fernet.decrypt(&p.text_enc).ok()?).ok())
        .collect();
    Ok(Some((document.name, passages.join("\n\n"))))
}

/// Removes a document of a bot with its audit entry (`kb.removed`); `None` when it has none
/// with this id.
pub async fn remove(
    db: &DatabaseConnection,
    bot_id: i64,
    id: i64,
    who: &Changer<'_>,
) -> Result<Option<kb_documents::Model>, DbErr> {
    let txn = crate::audit::begin(db).await?;
    let Some(document) = delete(&txn, bot_id, id).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    who.append(&txn, crate::audit::Action::KbDocumentRemoved, &document)
        .await?;
    txn.commit().await?;
    Ok(Some(document))
}

/// `[PHONE_1]` → `[phone removed]`: placeholders of a redacted document that no answer can
/// turn back into anyone's data.
pub fn unnumbered(text: &str) -> String {
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

/// Adds embeddings to a document's passages: each passage redacted (unnumbered placeholders, so
/// nothing identifying leaves even where the owner kept the personal data in the document),
/// sent in batches, each recorded first (`kb.embedded`: the document, how many passages, the
/// request's SHA-256), and the vectors stored encrypted with the model that made them, one
/// transaction per batch. Returns how many passages got one; a service that fails leaves the
/// rest to full-text search.
pub async fn embed_document(
    db: &DatabaseConnection,
    keys: &Keys,
    (embedder, redactor): (&crate::embeddings::Embedder, &crate::redact::Redactor),
    document: &kb_documents::Model,
    who: &Changer<'_>,
) -> Result<usize, DbErr> {
    let passages = kb_passages::Entity::find()
        .filter(kb_passages::Column::DocumentId.eq(document.id))
        .order_by_asc(kb_passages::Column::Seq)
        .all(db)
        .await?;
    let mut sendable = Vec::with_capacity(passages.len());
    for p in &passages {
        let Some(text) = keys
            .fernet
            .decrypt(&p.text_enc)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
        else {
            continue;
        };
        let hints = crate::redact::Hints::default();
        let Ok(redacted) = redactor.redact(&text, &hints, &mut crate::redact::Placeholders::new())
        else {
            // Not redacted: not sent.
            continue;
        };
        sendable.push((p.id, unnumbered(redacted.as_str())));
    }
    let mut embedded = 0;
    for batch in sendable.chunks(crate::embeddings::BATCH) {
        let inputs: Vec<String> = batch.iter().map(|(_, t)| t.clone()).collect();
        let request = embedder.request(&inputs);
        let mut detail = serde_json::json!({
            "document": document.id,
            "passages": batch.len(),
            "provider": format!("embeddings:{}", embedder.host),
            "model": embedder.model(),
            "payload_sha256": sha256_hex(&request.bytes),
        });
        if let Some(by) = &who.by {
            detail["by"] = by.clone();
        }
        who.audit
            .record(
                db,
                Some(document.bot_id),
                who.subject,
                crate::audit::Action::KbEmbedded,
                detail,
            )
            .await?;
        let vectors = match embedder.send(request).await {
            Ok(vectors) => vectors,
            Err(err) => {
                tracing::warn!(error = %err, "knowledge-base passages not embedded; found by words only");
                break;
            }
        };
        let txn = crate::audit::begin(db).await?;
        for ((id, _), vector) in batch.iter().zip(vectors) {
            let stored = keys
                .fernet
                .encrypt(&crate::embeddings::to_stored(embedder.model(), &vector));
            kb_passages::Entity::update_many()
                .col_expr(
                    kb_passages::Column::EmbeddingEnc,
                    sea_orm::sea_query::Expr::value(Some(stored)),
                )
                .filter(kb_passages::Column::Id.eq(*id))
                .exec(&txn)
                .await?;
            embedded += 1;
        }
        txn.commit().await?;
    }
    Ok(embedded)
}

/// One bot's passages and their index.
pub struct BotIndex {
    /// What the index was built from: (passages, newest passage id, passages with embeddings).
    version: (u64, i64, u64),
    /// (source name, text) by passage number in the index.
    passages: Vec<(String, String)>,
    /// Each passage's embedding, where it has one.
    vectors: Vec<Option<Vec<f32>>>,
    index: Index,
    body: Field,
    number: Field,
}

impl BotIndex {
    fn build(
        version: (u64, i64, u64),
        passages: Vec<(String, String)>,
        vectors: Vec<Option<Vec<f32>>>,
    ) -> tantivy::Result<Self> {
        let mut schema = Schema::builder();
        let number = schema.add_u64_field("n", STORED);
        let body = schema.add_text_field("body", TEXT);
        let index = Index::create_in_ram(schema.build());
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000)?;
        for (n, (name, text)) in passages.iter().enumerate() {
            // The source's name is searched too ("prices", "opening hours").
            writer.add_document(doc!(number => n as u64, body => format!("{name}\n{text}")))?;
        }
        writer.commit()?;
        Ok(BotIndex {
            version,
            passages,
            vectors,
            index,
            body,
            number,
        })
    }

    /// Whether any passage has an embedding (then a question's is worth asking for).
    pub fn has_vectors(&self) -> bool {
        self.vectors.iter().any(Option::is_some)
    }

    /// The passages that best answer `question`, at most [`BEST`] and [`BEST_CHARS`] in all:
    /// by full-text score, or, with the question's embedding, by the two together (each
    /// counting half: the full-text score relative to the best one, and the cosine).
    pub fn best(
        &self,
        question: &str,
        embedding: Option<&[f32]>,
    ) -> tantivy::Result<Vec<(String, String)>> {
        let reader = self.index.reader()?;
        let searcher = reader.searcher();
        let parser = QueryParser::for_index(&self.index, vec![self.body]);
        // Whatever people type is a query: nothing in it is an error.
        let (query, _) = parser.parse_query_lenient(question);
        let mut scores: HashMap<usize, f32> = HashMap::new();
        let found = searcher.search(&query, &TopDocs::with_limit(BEST * 4))?;
        let top = found.first().map_or(0.0, |(score, _)| *score);
        for (score, address) in found {
            let doc: TantivyDocument = searcher.doc(address)?;
            if let Some(n) = doc.get_first(self.number).and_then(|v| v.as_u64()) {
                let relative = if top > 0.0 { score / top } else { 0.0 };
                scores.insert(
                    n as usize,
                    relative * if embedding.is_some() { 0.5 } else { 1.0 },
                );
            }
        }
        if let Some(question) = embedding {
            for (n, vector) in self.vectors.iter().enumerate() {
                let Some(vector) = vector else { continue };
                let close = crate::embeddings::cosine(question, vector);
                if close > MIN_COSINE {
                    *scores.entry(n).or_default() += close * 0.5;
                }
            }
        }
        let mut ranked: Vec<(usize, f32)> = scores.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut out = Vec::new();
        let mut length = 0;
        for (n, _) in ranked.into_iter().take(BEST) {
            let Some((name, text)) = self.passages.get(n) else {
                continue;
            };
            let text: String = text
                .chars()
                .take(BEST_CHARS - length.min(BEST_CHARS))
                .collect();
            length += text.chars().count();
            if !text.is_empty() {
                out.push((name.clone(), text));
            }
            if length >= BEST_CHARS {
                break;
            }
        }
        Ok(out)
    }
}

/// Passages less close in meaning than this are not taken on their embedding alone.
const MIN_COSINE: f32 = 0.3;

/// The knowledge bases of every bot, each index built when first needed and again after its
/// documents change.
#[derive(Default)]
pub struct Knowledge {
    by_bot: Mutex<HashMap<i64, Arc<BotIndex>>>,
    /// The embeddings model configured now; passages embedded by another are searched by
    /// words only.
    model: Option<String>,
}

impl Knowledge {
    pub fn new(model: Option<String>) -> Knowledge {
        Knowledge {
            by_bot: Mutex::default(),
            model,
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<BotIndex>>> {
        self.by_bot.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A bot's index, built or rebuilt when its passages changed; `None` when it has none.
    pub async fn index(
        &self,
        db: &DatabaseConnection,
        keys: &Keys,
        bot_id: i64,
    ) -> Result<Option<Arc<BotIndex>>, DbErr> {
        // One round trip per question: how many passages, the newest, and how many have
        // embeddings (added after their passages were stored).
        let (count, newest, embedded): (i64, Option<i64>, i64) = kb_passages::Entity::find()
            .select_only()
            .column_as(kb_passages::Column::Id.count(), "count")
            .column_as(kb_passages::Column::Id.max(), "newest")
            .column_as(kb_passages::Column::EmbeddingEnc.count(), "embedded")
            .filter(kb_passages::Column::BotId.eq(bot_id))
            .into_tuple()
            .one(db)
            .await?
            .unwrap_or((0, None, 0));
        if count == 0 {
            self.held().remove(&bot_id);
            return Ok(None);
        }
        let count = u64::try_from(count).unwrap_or_default();
        let version = (
            count,
            newest.unwrap_or_default(),
            u64::try_from(embedded).unwrap_or_default(),
        );
        let held = self.held().get(&bot_id).cloned();
        Ok(Some(match held.filter(|i| i.version == version) {
            Some(index) => index,
            None => {
                let built = Arc::new(self.load(db, keys, bot_id, version).await?);
                self.held().insert(bot_id, built.clone());
                built
            }
        }))
    }

    async fn load(
        &self,
        db: &DatabaseConnection,
        keys: &Keys,
        bot_id: i64,
        version: (u64, i64, u64),
    ) -> Result<BotIndex, DbErr> {
        let names: HashMap<i64, String> = list(db, bot_id)
            .await?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect();
        let passages = kb_passages::Entity::find()
            .filter(kb_passages::Column::BotId.eq(bot_id))
            .order_by_asc(kb_passages::Column::Id)
            .all(db)
            .await?
            .into_iter()
            .filter_map(|p| {
                let text = String::from_utf8(keys.fernet.decrypt(&p.text_enc).ok()?).ok()?;
                // Only vectors of the model configured now compare with a question's.
                let vector = p
                    .embedding_enc
                    .as_deref()
                    .and_then(|e| keys.fernet.decrypt(e).ok())
                    .and_then(|b| crate::embeddings::from_stored(&b))
                    .filter(|(model, _)| Some(model.as_str()) == self.model.as_deref())
                    .map(|(_, vector)| vector);
                Some(((names.get(&p.document_id)?.clone(), text), vector))
            })
            .unzip::<_, _, Vec<_>, Vec<_>>();
        let (passages, vectors) = passages;
        BotIndex::build(version, passages, vectors)
            .map_err(|e| DbErr::Custom(format!("index: {e}")))
    }
}

/// The passages as the provider is given them, numbered with their sources.
pub fn as_context(passages: &[(String, String)]) -> Option<String> {
    if passages.is_empty() {
        return None;
    }
    let mut text = String::from(
        "Passages from the business's own documents that may help. Answer from them where they \
         do, and cite the source in brackets as it is named below:",
    );
    for (name, passage) in passages {
        text.push_str(&format!("\n\n[{name}]\n{passage}"));
    }
    Some(text)
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

    use super::*;

    #[test]
    fn files_are_read_by_kind_and_html_loses_its_markup() {
        assert_eq!(
            extract("a.md", None, b"# Prices\n\nBread 3").unwrap(),
            "# Prices\n\nBread 3"
        );
        let html = extract(
            "a.html",
            None,
            b"<html><style>p{}</style><p>Bread &amp; milk</p><script>x()</script></html>",
        )
        .unwrap();
        assert_eq!(html.trim(), "Bread & milk");
        assert_eq!(
            extract("a.pdf", Some("application/pdf"), b"%PDF-1.4 broken"),
            Err(Unreadable::NotText)
        );
        assert_eq!(extract("a.docx", None, b"PK"), Err(Unreadable::Kind));
        assert_eq!(
            extract("a.txt", None, b"\xff\xfe"),
            Err(Unreadable::NotText)
        );
    }

    #[test]
    fn passages_keep_paragraphs_whole_and_stay_short() {
        let text = format!(
            "{}\n\nShort one.\n\n{}",
            "A".repeat(300),
            "Long sentence. ".repeat(100)
        );
        let passages = split(&text);
        assert!(
            passages.iter().all(|p| p.chars().count() <= PASSAGE_CHARS),
            "{passages:?}"
        );
        assert!(passages[0].contains("Short one."));
        let joined: usize = passages
            .iter()
            .map(|p| p.chars().filter(|c| *c == 'L').count())
            .sum();
        assert_eq!(joined, 100, "nothing lost");
    }

    #[test]
    fn the_best_passages_come_with_their_sources() {
        let index = BotIndex::build(
            (2, 2, 0),
            vec![
                ("prices.md".into(), "Sourdough bread costs 4 euros.".into()),
                ("hours.md".into(), "We open at 8 on weekdays.".into()),
            ],
            vec![None, None],
        )
        .unwrap();
        let best = index.best("how much is the sourdough?", None).unwrap();
        assert_eq!(best[0].0, "prices.md");
        assert!(index.best("((( unbalanced \"", None).is_ok());
    }

    #[test]
    fn a_passage_close_in_meaning_is_found_without_a_word_in_common() {
        let index = BotIndex::build(
            (2, 2, 2),
            vec![
                ("prices.md".into(), "Sourdough bread costs 4 euros.".into()),
                ("hours.md".into(), "Doors unlock at 8 on weekdays.".into()),
            ],
            vec![Some(vec![1.0, 0.0]), Some(vec![0.0, 1.0])],
        )
        .unwrap();
        // No word of the question is in the hours; its embedding is close to theirs.
        assert!(index.best("when is it open?", None).unwrap().is_empty());
        let best = index.best("when is it open?", Some(&[0.1, 0.9])).unwrap();
        assert_eq!(best[0].0, "hours.md");
        // Words and meaning together: the sourdough question still finds the prices first.
        let best = index
            .best("how much is the sourdough?", Some(&[0.6, 0.4]))
            .unwrap();
        assert_eq!(best[0].0, "prices.md");
    }
}
