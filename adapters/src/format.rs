//! The assistant's Markdown, rendered for each channel: Telegram HTML, WhatsApp's own markers,
//! plain text (Bale) and safe HTML (web chat). Markdown is parsed into a tree first
//! (pulldown-cmark), so what comes out is always balanced: an unclosed `**` from the model is
//! shown as the two asterisks it is, never as markup that makes the platform refuse the message.
//! Raw HTML in the answer is shown as text, never interpreted. Long answers are split between
//! paragraphs (blocks), each part within the platform's length limit.

use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use crate::text::split_message;

/// How a channel shows formatted text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Telegram's `parse_mode = HTML` subset.
    TelegramHtml,
    /// WhatsApp's `*bold*`, `_italic_`, `~strike~`, `` `code` ``, ```` ``` ```` blocks and `> `.
    WhatsApp,
    /// No markup at all (Bale, and a fallback everywhere).
    Plain,
    /// HTML for the web chat: only the tags written here, every text escaped.
    WebHtml,
}

/// One message's worth of rendered text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    /// The text in the channel's markup.
    pub markup: String,
    /// What the reader sees (the markup's text without tags), for a plain-text fallback.
    pub plain: String,
}

/// Renders `markdown` for `style`, split into parts of at most `max` UTF-16 code units as the
/// platform counts them (Telegram the visible text, WhatsApp the text with its markers),
/// breaking between blocks (paragraphs, lists, code blocks) where it can. A block longer than
/// `max` on its own is split as plain text. Text that renders to nothing (only link
/// definitions, say) comes out as written.
pub fn render(markdown: &str, style: Style, max: usize) -> Vec<Rendered> {
    let mut parts: Vec<Rendered> = Vec::new();
    let mut current: Option<Rendered> = None;
    let size = |r: &Rendered| match style {
        Style::TelegramHtml | Style::WebHtml => units(&r.plain),
        Style::WhatsApp | Style::Plain => units(&r.markup),
    };
    for rendered in blocks(markdown, style) {
        if rendered.plain.trim().is_empty() {
            continue;
        }
        let len = size(&rendered);
        if len > max {
            parts.extend(current.take());
            // Too long for one message on its own: its text, split where lines or words end.
            parts.extend(as_text(&rendered.plain, style, max));
            continue;
        }
        current = Some(match current.take() {
            None => rendered,
            Some(so_far) if size(&so_far) + 2 + len <= max => Rendered {
                markup: join(style, &so_far.markup, &rendered.markup),
                plain: format!("{}\n\n{}", so_far.plain, rendered.plain),
            },
            Some(so_far) => {
                parts.push(so_far);
                rendered
            }
        });
    }
    parts.extend(current);
    if parts.is_empty() && !markdown.trim().is_empty() {
        return as_text(markdown.trim(), style, max);
    }
    parts
}

/// `text` shown as it is, without formatting, split within `max`.
fn as_text(text: &str, style: Style, max: usize) -> Vec<Rendered> {
    split_message(text, max)
        .into_iter()
        .map(|piece| Rendered {
            markup: match style {
                Style::TelegramHtml => escape_html(&piece),
                Style::WebHtml => format!("<p>{}</p>", escape_html(&piece)),
                Style::WhatsApp | Style::Plain => piece.clone(),
            },
            plain: piece,
        })
        .collect()
}

fn join(style: Style, a: &str, b: &str) -> String {
    match style {
        // Block elements separate themselves.
        Style::WebHtml => format!("{a}{b}"),
        _ => format!("{a}\n\n{b}"),
    }
}

fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

fn options() -> Options {
    Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS
}

/// The top-level blocks, each rendered. The whole text is parsed once, so reference links
/// resolve wherever their definitions are.
fn blocks(markdown: &str, style: Style) -> Vec<Rendered> {
    let mut r = Renderer::new(style);
    let mut out = Vec::new();
    let mut depth = 0usize;
    for event in Parser::new_ext(markdown, options()) {
        let ends_block = match &event {
            Event::Start(_) => {
                depth += 1;
                false
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                depth == 0
            }
            // A rule, or stray HTML, on its own.
            _ => depth == 0,
        };
        r.event(event);
        if ends_block {
            out.push(r.take());
        }
    }
    out
}

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Links the reader may follow: the web and e-mail, nothing that runs code.
fn safe_link(dest: &str) -> bool {
    let lower = dest.trim().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:")
}

/// Where a link goes, as its reader should see it (the host, or the mail address).
fn link_host(dest: &str) -> Option<String> {
    let dest = dest.trim();
    if let Some(address) = dest.strip_prefix("mailto:") {
        return Some(address.to_string());
    }
    let rest = dest.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    (!host.is_empty()).then(|| host.to_string())
}

/// A span being built: its markup and its visible text.
#[derive(Default)]
struct Buf {
    markup: String,
    plain: String,
}

struct Renderer {
    style: Style,
    /// Open spans, innermost last; the first is the block itself.
    stack: Vec<(Option<Tag<'static>>, Buf)>,
    /// Open lists: the next number of each, `None` for bullets.
    lists: Vec<Option<u64>>,
    /// Inside a code block: text is kept exactly.
    in_code: bool,
    /// Open block quotes (Telegram does not nest them: only the outermost is one).
    quotes: usize,
}

impl Renderer {
    fn text(&mut self, markup: &str, plain: &str) {
        if let Some((_, buf)) = self.stack.last_mut() {
            buf.markup.push_str(markup);
            buf.plain.push_str(plain);
        }
    }

    /// Text as the reader sees it, escaped for the style.
    fn literal(&mut self, text: &str) {
        match self.style {
            Style::TelegramHtml | Style::WebHtml => self.text(&escape_html(text), text),
            Style::WhatsApp | Style::Plain => self.text(text, text),
        }
    }

    fn newline(&mut self) {
        match self.style {
            Style::WebHtml => self.text("<br>", "\n"),
            _ => self.text("\n", "\n"),
        }
    }

    fn open(&mut self, tag: Tag<'_>) {
        self.stack.push((Some(tag.into_static()), Buf::default()));
    }

    fn close(&mut self) {
        let Some((tag, inner)) = self.stack.pop() else {
            return;
        };
        let Some(tag) = tag else {
            return;
        };
        let (markup, plain) = self.wrap(&tag, inner);
        self.text(&markup, &plain);
    }

    /// A finished span in the style's markup.
    fn wrap(&mut self, tag: &Tag<'static>, inner: Buf) -> (String, String) {
        use Style::*;
        let Buf { markup, plain } = inner;
        let style = self.style;
        // WhatsApp's markers only work hugging the words: spaces go outside them.
        let hug = |marker: &str| -> String {
            let trimmed = markup.trim();
            if trimmed.is_empty() {
                return markup.clone();
            }
            let lead = &markup[..markup.len() - markup.trim_start().len()];
            let trail = &markup[markup.trim_end().len()..];
            format!("{lead}{marker}{trimmed}{marker}{trail}")
        };
        let markup = match (tag, style) {
            (_, Plain) => markup,
            (Tag::Emphasis, TelegramHtml) => format!("<i>{markup}</i>"),
            (Tag::Emphasis, WebHtml) => format!("<em>{markup}</em>"),
            (Tag::Emphasis, WhatsApp) => hug("_"),
            (Tag::Strong, TelegramHtml) => format!("<b>{markup}</b>"),
            (Tag::Strong, WebHtml) => format!("<strong>{markup}</strong>"),
            (Tag::Strong, WhatsApp) => hug("*"),
            (Tag::Strikethrough, TelegramHtml) => format!("<s>{markup}</s>"),
            (Tag::Strikethrough, WebHtml) => format!("<del>{markup}</del>"),
            (Tag::Strikethrough, WhatsApp) => hug("~"),
            (Tag::Link { dest_url, .. }, TelegramHtml) if safe_link(dest_url) => {
                format!("<a href=\"{}\">{markup}</a>", escape_html(dest_url.trim()))
            }
            // On the web chat a link says where it goes, so words in an answer cannot pose as
            // the gateway's own links.
            (Tag::Link { dest_url, .. }, WebHtml) if safe_link(dest_url) => {
                let host = link_host(dest_url)
                    .filter(|h| !plain.contains(h.as_str()))
                    .map(|h| format!(" ({})", escape_html(&h)))
                    .unwrap_or_default();
                format!(
                    "<a href=\"{}\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">{markup}</a>{host}",
                    escape_html(dest_url.trim())
                )
            }
            (Tag::Link { dest_url, .. }, WhatsApp) if safe_link(dest_url) => {
                if plain.trim() == dest_url.trim() {
                    markup
                } else {
                    format!("{markup} ({})", dest_url.trim())
                }
            }
            (Tag::Heading { .. }, TelegramHtml) => format!("<b>{markup}</b>"),
            (Tag::Heading { level, .. }, WebHtml) => {
                let n = match level {
                    HeadingLevel::H1 | HeadingLevel::H2 => 3,
                    HeadingLevel::H3 => 4,
                    _ => 5,
                };
                format!("<h{n}>{markup}</h{n}>")
            }
            (Tag::Heading { .. }, WhatsApp) => hug("*"),
            (Tag::BlockQuote(_), TelegramHtml) if self.quotes == 0 => {
                format!("<blockquote>{}</blockquote>", markup.trim_end())
            }
            (Tag::BlockQuote(_), WebHtml) => format!("<blockquote>{markup}</blockquote>"),
            (Tag::BlockQuote(_), WhatsApp) => markup
                .trim_end()
                .lines()
                .map(|l| format!("> {l}"))
                .collect::<Vec<_>>()
                .join("\n"),
            (Tag::CodeBlock(kind), TelegramHtml) => match kind {
                CodeBlockKind::Fenced(lang) if is_language(lang) => format!(
                    "<pre><code class=\"language-{}\">{}</code></pre>",
                    lang.trim(),
                    markup.trim_end_matches('\n')
                ),
                _ => format!("<pre>{}</pre>", markup.trim_end_matches('\n')),
            },
            (Tag::CodeBlock(_), WebHtml) => {
                format!("<pre><code>{}</code></pre>", markup.trim_end_matches('\n'))
            }
            (Tag::CodeBlock(_), WhatsApp) => {
                format!("```\n{}\n```", markup.trim_end_matches('\n'))
            }
            (Tag::Paragraph | Tag::HtmlBlock, WebHtml) => {
                format!("<p>{}</p>", markup.trim_end())
            }
            (Tag::List(Some(_)), WebHtml) => format!("<ol>{markup}</ol>"),
            (Tag::List(None), WebHtml) => format!("<ul>{markup}</ul>"),
            (Tag::Item, WebHtml) => format!("<li>{}</li>", markup.trim_end()),
            (Tag::Table(_), WebHtml) => format!("<table>{markup}</table>"),
            (Tag::TableHead, WebHtml) => format!("<tr>{markup}</tr>"),
            (Tag::TableRow, WebHtml) => format!("<tr>{markup}</tr>"),
            (Tag::TableCell, WebHtml) => format!("<td>{markup}</td>"),
            _ => markup,
        };
        let plain = match tag {
            Tag::BlockQuote(_) if style == WhatsApp => markup.clone(),
            Tag::Link { dest_url, .. }
                if style == WhatsApp && safe_link(dest_url) && plain.trim() != dest_url.trim() =>
            {
                format!("{plain} ({})", dest_url.trim())
            }
            _ => plain,
        };
        (markup, plain)
    }

    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(end) => self.end(end),
            Event::Text(text) => {
                if self.in_code {
                    match self.style {
                        Style::TelegramHtml | Style::WebHtml => {
                            self.text(&escape_html(&text), &text)
                        }
                        _ => self.text(&text, &text),
                    }
                } else {
                    self.literal(&text)
                }
            }
            Event::Code(code) => {
                let (markup, plain) = match self.style {
                    Style::TelegramHtml | Style::WebHtml => (
                        format!("<code>{}</code>", escape_html(&code)),
                        code.to_string(),
                    ),
                    Style::WhatsApp => (format!("`{code}`"), code.to_string()),
                    Style::Plain => (code.to_string(), code.to_string()),
                };
                self.text(&markup, &plain)
            }
            // The model's HTML is text to show, never markup to obey.
            Event::Html(html) | Event::InlineHtml(html) => self.literal(&html),
            Event::SoftBreak | Event::HardBreak => self.newline(),
            Event::Rule => match self.style {
                Style::WebHtml => self.text("<hr>", "\n"),
                _ => self.text("———", "———"),
            },
            Event::TaskListMarker(done) => self.literal(if done { "☑ " } else { "☐ " }),
            Event::FootnoteReference(name) => self.literal(&format!("[{name}]")),
            Event::InlineMath(m) | Event::DisplayMath(m) => self.literal(&m),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match &tag {
            Tag::List(first) => {
                // A nested list starts on its own line.
                let mid_line = self
                    .stack
                    .last()
                    .is_some_and(|(_, b)| !b.plain.is_empty() && !b.plain.ends_with('\n'));
                if mid_line && self.style != Style::WebHtml {
                    self.newline();
                }
                self.lists.push(*first);
            }
            // Web HTML lays out items and cells with its own tags.
            Tag::Item if self.style != Style::WebHtml => {
                let depth = self.lists.len().saturating_sub(1);
                let marker = match self.lists.last_mut() {
                    Some(Some(n)) => {
                        let m = format!("{n}. ");
                        *n += 1;
                        m
                    }
                    _ => "• ".to_string(),
                };
                let indent = "   ".repeat(depth);
                self.literal(&format!("{indent}{marker}"));
            }
            Tag::CodeBlock(_) => self.in_code = true,
            Tag::BlockQuote(_) => self.quotes += 1,
            Tag::TableCell if self.style != Style::WebHtml => {
                let first = self.stack.last().is_some_and(|(t, b)| {
                    matches!(t, Some(Tag::TableRow | Tag::TableHead)) && b.plain.is_empty()
                });
                if !first {
                    self.literal(" | ");
                }
            }
            _ => {}
        }
        // Lists, items and table rows are laid out here, not wrapped.
        self.open(tag);
    }

    fn end(&mut self, end: TagEnd) {
        if matches!(end, TagEnd::BlockQuote(_)) {
            self.quotes = self.quotes.saturating_sub(1);
        }
        self.close();
        match end {
            TagEnd::List(_) => {
                self.lists.pop();
            }
            TagEnd::CodeBlock => self.in_code = false,
            _ => {}
        }
        if self.style == Style::WebHtml {
            return;
        }
        // Line ends after block parts (paragraphs get a blank line from the joining, or inside a
        // list item a line break).
        match end {
            TagEnd::Item | TagEnd::TableHead | TagEnd::TableRow => {
                let ends_line = self
                    .stack
                    .last()
                    .is_some_and(|(_, b)| b.plain.ends_with('\n'));
                if !ends_line {
                    self.newline();
                }
            }
            // Inside a list item or quote, the next block starts on a new line.
            TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::CodeBlock | TagEnd::BlockQuote(_)
                if self.stack.len() > 1 =>
            {
                self.newline();
            }
            _ => {}
        }
    }
}

fn is_language(lang: &str) -> bool {
    let lang = lang.trim();
    !lang.is_empty()
        && lang.len() <= 32
        && lang
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '#' | '_' | '.'))
}

impl Renderer {
    fn new(style: Style) -> Renderer {
        Renderer {
            style,
            stack: vec![(None, Buf::default())],
            lists: Vec::new(),
            in_code: false,
            quotes: 0,
        }
    }

    /// The block rendered so far, and a fresh start for the next.
    fn take(&mut self) -> Rendered {
        // Anything left open (it cannot be, from a parser's events, but be sure) is closed.
        while self.stack.len() > 1 {
            self.close();
        }
        let Buf { markup, plain } = self
            .stack
            .first_mut()
            .map(|(_, b)| std::mem::take(b))
            .unwrap_or_default();
        let markup = match self.style {
            Style::WebHtml => markup,
            _ => markup.trim_end().to_string(),
        };
        Rendered {
            markup,
            plain: plain.trim_end().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(md: &str, style: Style) -> String {
        let parts = render(md, style, 4096);
        assert_eq!(parts.len(), 1, "{parts:?}");
        parts[0].markup.clone()
    }

    #[test]
    fn emphasis_code_and_links_per_channel() {
        let md = "**Price**: *about* `42` ~~old~~ [site](https://example.com/a?b=1&c=2)";
        assert_eq!(
            one(md, Style::TelegramHtml),
            "<b>Price</b>: <i>about</i> <code>42</code> <s>old</s> <a href=\"https://example.com/a?b=1&amp;c=2\">site</a>"
        );
        assert_eq!(
            one(md, Style::WhatsApp),
            "*Price*: _about_ `42` ~old~ site (https://example.com/a?b=1&c=2)"
        );
        assert_eq!(one(md, Style::Plain), "Price: about 42 old site");
        assert_eq!(
            one(md, Style::WebHtml),
            "<p><strong>Price</strong>: <em>about</em> <code>42</code> <del>old</del> <a href=\"https://example.com/a?b=1&amp;c=2\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">site</a> (example.com)</p>"
        );
    }

    #[test]
    fn unbalanced_markup_stays_text_and_html_is_never_obeyed() {
        let md = "**bold without end, _half and `tick <b>x</b> <script>alert(1)</script> a < b & c";
        let tg = one(md, Style::TelegramHtml);
        assert!(!tg.contains("<b>") && !tg.contains("<script>"), "{tg}");
        assert!(
            tg.contains("**bold without end") && tg.contains("&lt;script&gt;"),
            "{tg}"
        );
        assert!(tg.contains("a &lt; b &amp; c"), "{tg}");
        let web = one(md, Style::WebHtml);
        assert!(!web.contains("<script>") && !web.contains("<b>"), "{web}");
        let wa = one(md, Style::WhatsApp);
        assert!(wa.starts_with("**bold without end"), "{wa}");
        // A link to script is shown as its text only.
        let js = one("[click](javascript:alert(1))", Style::TelegramHtml);
        assert_eq!(js, "click");
        assert_eq!(
            one("[click](javascript:alert(1))", Style::WebHtml),
            "<p>click</p>"
        );
    }

    #[test]
    fn whatsapp_markers_hug_their_words() {
        assert_eq!(one("** spaced **", Style::WhatsApp), "** spaced **");
        assert_eq!(one("a **b c** d", Style::WhatsApp), "a *b c* d");
        assert_eq!(one("***both***", Style::WhatsApp), "_*both*_");
    }

    #[test]
    fn lists_quotes_headings_and_code_blocks() {
        let md = "## Steps\n\n1. Call us\n2. Bring:\n   - your card\n   - a pen\n\n> quoted\n> twice\n\n```python\nprint(\"<hi>\")\n```";
        let tg = one(md, Style::TelegramHtml);
        assert_eq!(
            tg,
            "<b>Steps</b>\n\n1. Call us\n2. Bring:\n   • your card\n   • a pen\n\n<blockquote>quoted\ntwice</blockquote>\n\n<pre><code class=\"language-python\">print(&quot;&lt;hi&gt;&quot;)</code></pre>"
        );
        let wa = one(md, Style::WhatsApp);
        assert!(
            wa.starts_with("*Steps*\n\n1. Call us\n2. Bring:\n   • your card"),
            "{wa}"
        );
        assert!(wa.contains("> quoted\n> twice"), "{wa}");
        assert!(wa.ends_with("```\nprint(\"<hi>\")\n```"), "{wa}");
        let web = one(md, Style::WebHtml);
        assert!(web.starts_with("<h3>Steps</h3><ol><li>"), "{web}");
        assert!(web.contains("<ul><li>your card</li>"), "{web}");
    }

    #[test]
    fn long_answers_split_between_paragraphs_within_the_limit() {
        let para = |c: char| format!("**{}** {}", c, c.to_string().repeat(60));
        let md = (0..10)
            .map(|i| para((b'a' + i) as char))
            .collect::<Vec<_>>()
            .join("\n\n");
        let parts = render(&md, Style::TelegramHtml, 200);
        assert!(parts.len() >= 4, "{parts:?}");
        for part in &parts {
            assert!(units(&part.plain) <= 200);
            // Each part is whole paragraphs, with balanced tags.
            assert_eq!(
                part.markup.matches("<b>").count(),
                part.markup.matches("</b>").count()
            );
            assert!(part.markup.starts_with("<b>"), "{}", part.markup);
        }
        let all: String = parts
            .iter()
            .map(|p| p.plain.clone())
            .collect::<Vec<_>>()
            .join("\n\n");
        assert_eq!(all.matches('a').count(), 61);
        // A single paragraph longer than the limit is split as text.
        let long = "word ".repeat(100);
        let parts = render(&long, Style::TelegramHtml, 120);
        assert!(parts.len() >= 4);
        assert!(parts.iter().all(|p| units(&p.plain) <= 120));
    }

    #[test]
    fn reference_links_resolve_and_text_that_renders_to_nothing_is_kept() {
        let md = "See [our prices][1].\n\n[1]: https://shop.example/prices";
        assert_eq!(
            one(md, Style::TelegramHtml),
            "See <a href=\"https://shop.example/prices\">our prices</a>."
        );
        assert_eq!(
            one("[1]: https://x.example", Style::TelegramHtml),
            "[1]: https://x.example"
        );
    }

    #[test]
    fn quotes_do_not_nest_on_telegram_and_web_links_name_their_host() {
        assert_eq!(
            one("> outer\n> > inner", Style::TelegramHtml),
            "<blockquote>outer\ninner</blockquote>"
        );
        assert_eq!(
            one(
                "[Download your data](https://evil.example/export/x)",
                Style::WebHtml
            ),
            "<p><a href=\"https://evil.example/export/x\" rel=\"noopener noreferrer nofollow\" target=\"_blank\">Download your data</a> (evil.example)</p>"
        );
    }

    #[test]
    fn whatsapp_parts_count_their_markers() {
        let code = format!("```\n{}\n```", "x".repeat(95));
        let parts = render(&code, Style::WhatsApp, 100);
        assert!(parts.iter().all(|p| units(&p.markup) <= 100), "{parts:?}");
        let bold = (0..10)
            .map(|_| format!("**{}**", "b".repeat(40)))
            .collect::<Vec<_>>()
            .join("\n\n");
        let parts = render(&bold, Style::WhatsApp, 100);
        assert!(parts.iter().all(|p| units(&p.markup) <= 100), "{parts:?}");
        assert_eq!(parts.len(), 5);
    }

    #[test]
    fn code_blocks_are_not_split_by_blank_lines_inside() {
        let md = "```\na\n\nb\n```\n\nafter";
        let parts = render(md, Style::TelegramHtml, 4096);
        assert_eq!(parts[0].markup, "<pre>a\n\nb</pre>\n\nafter");
    }
}
