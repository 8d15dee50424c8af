//! The knowledge page: for each assistant a session may see, its knowledge-base documents (add a
//! file, replace the personal data found in one, remove one) and its tools (remove one; they are
//! added from the chat with `/tools add`, where the owner's linked accounts are). Admins and
//! owners change, auditors read; every change is an audit entry naming who made it, with the
//! document's name and SHA-256, never its text.

use axum::{
    Form,
    extract::{Multipart, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::{
    Console, assistant::visible_bots, page, pages::when, problem, session::Role, unavailable,
};
use crate::audit::Action;
use crate::pipeline::BotContext;
use crate::pipeline::knowledge::{self as intake, Redacted};

pub(super) async fn page_(State(c): State<Console>, headers: HeaderMap) -> Response {
    let s = match c.signed_in(&headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let bots = match visible_bots(&c, &s).await {
        Ok(bots) => bots,
        Err(r) => return r,
    };
    let may_change = s.role != Role::Auditor;
    let mut sections = Vec::new();
    for bot in &bots {
        let documents = crate::knowledge::list(&c.i.db, bot.id).await;
        let tools = crate::tools::list(&c.i.db, &c.i.keys, bot.id).await;
        let (Ok(documents), Ok(tools)) = (documents, tools) else {
            return unavailable();
        };
        sections.push((bot, documents, tools));
    }
    let body = html! {
        p class="note" { "What each assistant answers from, and the tools it may call through the linked accounts. Documents are stored encrypted and searched for every question; the best passages go to the AI service with their names. Tools are added from the chat with " code { "/tools add" } "." }
        @for (bot, documents, tools) in &sections {
            section aria-labelledby=(format!("kb-{}", bot.id)) {
                h2 id=(format!("kb-{}", bot.id)) { (bot.name) }
                @if documents.is_empty() {
                    p { "No documents yet." }
                } @else {
                    div class="table" { table class="stack" {
                        thead { tr { th { "document" } th { "name" } th { "passages" } th { "added" } th { "personal data" } th { span class="note" { "actions" } } } }
                        tbody { @for d in documents { tr {
                            td data-label="document" { (d.id) }
                            td data-label="name" { (d.name) }
                            td data-label="passages" { (d.passages) }
                            td data-label="added" { (when(&d.created_at)) }
                            td data-label="personal data" { (if d.redacted { "replaced" } else { "as added" }) }
                            td data-label="" {
                                @if may_change {
                                    form method="post" action="/console/knowledge/redact" class="inline" {
                                        input type="hidden" name="csrf" value=(s.csrf);
                                        input type="hidden" name="bot" value=(bot.name);
                                        input type="hidden" name="id" value=(d.id);
                                        button type="submit" aria-label=(format!("Replace the personal data in {}", d.name)) { "Replace personal data" }
                                    }
                                    form method="post" action="/console/knowledge/remove" class="inline" {
                                        input type="hidden" name="csrf" value=(s.csrf);
                                        input type="hidden" name="bot" value=(bot.name);
                                        input type="hidden" name="id" value=(d.id);
                                        button type="submit" class="danger" aria-label=(format!("Remove {}", d.name)) { "Remove" }
                                    }
                                }
                            }
                        } } }
                    } }
                }
                @if may_change {
                    form method="post" action="/console/knowledge/add" enctype="multipart/form-data" {
                        input type="hidden" name="csrf" value=(s.csrf);
                        input type="hidden" name="bot" value=(bot.name);
                        @let id = format!("file-{}", bot.id);
                        label for=(id) { "Add a document (plain text, Markdown, HTML or PDF; 2 MB at most)" }
                        input id=(id) type="file" name="file" required accept=".txt,.md,.markdown,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf";
                        button type="submit" class="primary" { "Add" }
                    }
                }
                h3 { "Tools" }
                @if tools.is_empty() {
                    p { "No tools. Owners add them from the chat: " code { "/tools add NAME sheets.read …" } "." }
                } @else {
                    div class="table" { table class="stack" {
                        thead { tr { th { "name" } th { "kind" } th { "uses" } th { "description" } th { span class="note" { "actions" } } } }
                        tbody { @for t in tools { tr {
                            td data-label="name" { code { (t.name) } }
                            td data-label="kind" { (t.kind.as_str()) }
                            td data-label="uses" { (t.kind.service()) (t.kind.purpose().map(|p| format!(", only for people who granted `{p}`")).unwrap_or_default()) }
                            td data-label="description" { (t.description) }
                            td data-label="" {
                                @if may_change {
                                    form method="post" action="/console/tools/remove" class="inline" {
                                        input type="hidden" name="csrf" value=(s.csrf);
                                        input type="hidden" name="bot" value=(bot.name);
                                        input type="hidden" name="id" value=(t.name);
                                        button type="submit" class="danger" aria-label=(format!("Remove the tool {}", t.name)) { "Remove" }
                                    }
                                }
                            }
                        } } }
                    } }
                }
            }
        }
    };
    page(StatusCode::OK, "Knowledge and tools", Some(&s), body)
}

/// The form of a change to one document or tool.
#[derive(Deserialize)]
pub(super) struct Change {
    // Defaults: a form without them is refused by the session check, not by the parser.
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    bot: String,
    /// A document's number, or a tool's name.
    #[serde(default)]
    id: String,
}

/// The session changing a document of a bot, the bot and the document's number.
async fn document_change(
    c: &Console,
    headers: &HeaderMap,
    form: &Change,
) -> Result<(super::session::Session, BotContext, i64), Response> {
    let (s, bot) = changing(c, headers, &form.csrf, &form.bot).await?;
    match form.id.parse::<i64>() {
        Ok(id) => Ok((s, bot, id)),
        Err(_) => Err(no_document(&s)),
    }
}

fn no_document(s: &super::session::Session) -> Response {
    problem(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such document.",
        Some(s),
    )
}

/// The session changing `bot_name`'s knowledge, if it may.
async fn changing(
    c: &Console,
    headers: &HeaderMap,
    csrf: &str,
    bot_name: &str,
) -> Result<(super::session::Session, BotContext), Response> {
    let s = c
        .changing_as(
            headers,
            csrf,
            &[Role::Admin, Role::Owner],
            super::AUDITORS_READ,
        )
        .await?;
    let bots = visible_bots(c, &s).await?;
    match bots.into_iter().find(|b| b.name == bot_name) {
        Some(bot) => Ok((s, bot)),
        None => Err(problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such assistant here.",
            Some(&s),
        )),
    }
}

/// The session, as the knowledge base's audit entries name it (`by`).
fn changer<'a>(c: &'a Console, s: &super::session::Session) -> crate::knowledge::Changer<'a> {
    crate::knowledge::Changer {
        audit: &c.i.audit,
        subject: None,
        by: Some(s.actor()),
    }
}

/// An audit entry about a bot's knowledge, naming who changed it.
async fn record(
    c: &Console,
    s: &super::session::Session,
    bot: &BotContext,
    action: Action,
    mut detail: serde_json::Value,
) -> bool {
    detail["by"] = s.actor();
    c.i.audit
        .record(&c.i.db, Some(bot.id), None, action, detail)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "console: audit entry not written"))
        .is_ok()
}

fn done(s: &super::session::Session, title: &str, text: String) -> Response {
    page(
        StatusCode::OK,
        title,
        Some(s),
        html! {
            p class="ok" role="status" { (text) }
            p { a href="/console/knowledge" { "Back to knowledge and tools" } }
        },
    )
}

/// A file added from the console, as from the chat.
pub(super) async fn add(
    State(c): State<Console>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    // Signed in, and allowed to change, before the body is read; the form's token after.
    if let Err(r) = c
        .signed_in_as(&headers, &[Role::Admin, Role::Owner], super::AUDITORS_READ)
        .await
    {
        return r;
    }
    let (mut csrf, mut bot, mut file) = (String::new(), String::new(), None);
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(_) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "Not added",
                    "The upload was not complete, or larger than 2 MB. Go back and try again.",
                    None,
                );
            }
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("bot") => bot = field.text().await.unwrap_or_default(),
            Some("file") => {
                let name = field.file_name().unwrap_or("document.txt").to_string();
                let mime = field.content_type().map(str::to_string);
                match field.bytes().await {
                    Ok(bytes) => file = Some((name, mime, Vec::from(bytes))),
                    Err(_) => {
                        return problem(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "Not added",
                            "That file is too large (2 MB at most).",
                            None,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    let (s, bot) = match changing(&c, &headers, &csrf, &bot).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let Some((name, mime, bytes)) = file.filter(|(_, _, b)| !b.is_empty()) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "Not added",
            "Choose a file to add.",
            Some(&s),
        );
    };
    // Only the name's last part: a browser may send a path.
    let name = name
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or("document.txt")
        .chars()
        .take(200)
        .collect::<String>();
    let tools = (c.redactor.as_ref(), c.embedder.as_deref());
    let who = changer(&c, &s);
    let taken = intake::take(
        &c.i.db,
        &c.i.keys,
        tools,
        (bot.id, &who),
        (name, mime, bytes),
    )
    .await;
    let (document, found) = match taken {
        Ok(Ok(added)) => added,
        Ok(Err(refused)) => {
            return problem(StatusCode::BAD_REQUEST, "Not added", refused, Some(&s));
        }
        Err(_) => return unavailable(),
    };
    let mut text = format!(
        "Added {} ({} passages) as document {} of {}. The assistant answers from it from now on.",
        document.name, document.passages, document.id, bot.name
    );
    if let Some(kinds) = intake::described(&found) {
        text.push_str(&format!(
            " It appears to contain personal data ({kinds}), which the assistant would pass to the AI service when relevant: “Replace personal data” on the knowledge page replaces it with placeholders."
        ));
    }
    done(&s, "Document added", text)
}

pub(super) async fn remove(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<Change>,
) -> Response {
    let (s, bot, id) = match document_change(&c, &headers, &form).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match crate::knowledge::remove(&c.i.db, bot.id, id, &changer(&c, &s)).await {
        Ok(Some(document)) => done(
            &s,
            "Document removed",
            format!("Removed {} from {}.", document.name, bot.name),
        ),
        Ok(None) => no_document(&s),
        Err(_) => unavailable(),
    }
}

pub(super) async fn redact(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<Change>,
) -> Response {
    let (s, bot, id) = match document_change(&c, &headers, &form).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let tools = (c.redactor.as_ref(), c.embedder.as_deref());
    let who = changer(&c, &s);
    match intake::redact_document(&c.i.db, &c.i.keys, tools, (bot.id, &who), id).await {
        Ok(Redacted::Done { new }) => done(
            &s,
            "Personal data replaced",
            format!(
                "The personal data in {} is replaced with placeholders (now document {}).",
                new.name, new.id
            ),
        ),
        Ok(Redacted::Missing) => no_document(&s),
        Ok(Redacted::Failed) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Not replaced",
            "The document could not be redacted; it is unchanged.",
            Some(&s),
        ),
        Err(_) => unavailable(),
    }
}

pub(super) async fn remove_tool(
    State(c): State<Console>,
    headers: HeaderMap,
    Form(form): Form<Change>,
) -> Response {
    let (s, bot) = match changing(&c, &headers, &form.csrf, &form.bot).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match crate::tools::remove(&c.i.db, &c.i.keys, bot.id, &form.id).await {
        Ok(Some(tool)) => {
            let detail = json!({"tool": tool.name, "kind": tool.kind.as_str(), "provider": tool.kind.provider()});
            if !record(&c, &s, &bot, Action::ToolRemoved, detail).await {
                return unavailable();
            }
            done(
                &s,
                "Tool removed",
                format!(
                    "Removed the tool {} of {}: the assistant no longer uses it.",
                    tool.name, bot.name
                ),
            )
        }
        Ok(None) => problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such tool.",
            Some(&s),
        ),
        Err(_) => unavailable(),
    }
}
