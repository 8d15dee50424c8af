//! Commands for business owners: `/claim CODE`, `/link PROVIDER`, `/links`, `/unlink PROVIDER`,
//! `/panel` (a sign-in link to the console).
//! Everyone else is politely refused. Before linking, the owner sees what the integration will
//! access, in words, and their approval is recorded as a consent event.

use chrono::Utc;
use consentgate_adapters::{Button, InboundKind, Outbound};

use super::input::{ButtonData, Command};
use super::{Pipeline, PipelineError, Turn};
use crate::audit;
use crate::owners::status::{Remote, Status};
use crate::privacy::digest;
use crate::privacy::digest::sha256_hex;
use crate::{
    consent::{self, Action, Decision, Method},
    owners::integrations::Filter,
};

pub const NOT_AN_OWNER: &str = "Only the owners of this assistant can manage linked accounts. If \
you are one, ask the operator for an invite code and send /claim CODE.";

pub const PRIVATE_ONLY: &str = "For safety, linked accounts are managed only in a private chat \
with me.";

pub const NOT_CONFIGURED: &str = "No accounts can be linked here yet: the operator has not \
configured any provider.";

/// The consent purpose an owner's approval of a provider is recorded under.
pub fn purpose_of(provider: &str) -> String {
    format!("integration:{provider}")
}

fn disclosure(title: &str, words: &[String]) -> String {
    let mut text = format!("Linking {title} will let this assistant:");
    for w in words {
        text.push_str(&format!("\n• {w}"));
    }
    text.push_str(
        "\n\nThe access is stored encrypted, and you can cut it off at any time with /unlink. \
         Continue?",
    );
    text
}

/// Owners' commands and the buttons of a link disclosure; `None` for anything else.
pub(super) async fn input(
    p: &Pipeline,
    t: &Turn<'_>,
) -> Result<Option<Vec<Outbound>>, PipelineError> {
    match &t.inbound.kind {
        InboundKind::Command { name, args } => match Command::parse(name) {
            Ok(command) if command.is_owner() => self::command(p, t, command, args).await.map(Some),
            _ => Ok(None),
        },
        InboundKind::ButtonPress { data } => match ButtonData::parse(data) {
            Ok(
                button @ (ButtonData::LinkGo { .. }
                | ButtonData::LinkCancel
                | ButtonData::LinkAnswer { .. }),
            ) => self::button(p, t, button).await.map(Some),
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

async fn command(
    p: &Pipeline,
    t: &Turn<'_>,
    command: Command,
    args: &str,
) -> Result<Vec<Outbound>, PipelineError> {
    let i = &p.integrations;
    let arg = args.split_whitespace().next().unwrap_or_default();
    if !t.inbound.chat.private {
        // An approval link posted in a group could be used by anyone there.
        return Ok(vec![Outbound::text(PRIVATE_ONLY)]);
    }
    if command == Command::Claim {
        let claimed = i
            .claim(
                t.bot.id,
                t.subject.id,
                &t.subject.pseudonym,
                arg,
                Utc::now(),
            )
            .await?;
        let reply = if claimed {
            "You are now an owner of this assistant. /link connects an account; /links lists them; /panel opens your console."
        } else {
            "That invite code is not valid: it may be mistyped, used or expired (codes work once, for 7 days)."
        };
        return Ok(vec![Outbound::text(reply)]);
    }
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        audit::Action::Command,
        serde_json::json!({"command": command.as_str()}),
    )
    .await?;
    if !i
        .is_owner(t.bot.id, t.subject.id, &t.subject.pseudonym)
        .await?
    {
        return Ok(vec![Outbound::text(NOT_AN_OWNER)]);
    }
    match command {
        Command::Link => link(p, arg),
        Command::Links => links(p, t).await,
        Command::Unlink => unlink(p, t, arg).await,
        Command::Panel => panel(p, t).await,
        Command::Kb => super::knowledge::command(p, t, args).await,
        Command::Tools => super::tools::command(p, t, args).await,
        // `/claim` is answered above; the rest are not owners' commands.
        _ => Ok(Vec::new()),
    }
}

/// `/panel`: a one-time link (ten minutes) that signs the owner in to the console, to see and
/// manage their own bots.
async fn panel(p: &Pipeline, t: &Turn<'_>) -> Result<Vec<Outbound>, PipelineError> {
    let path =
        crate::web::console::links::issue(&p.db, t.bot.id, t.subject.pseudonym.as_str()).await?;
    let base = p.integrations.public_base.trim_end_matches('/');
    let mut buttons = vec![Button::link("Open the console", format!("{base}{path}"))];
    // On Telegram, also inside the chat, as a Mini App.
    if t.inbound.channel == consentgate_adapters::ChannelKind::Telegram {
        buttons.push(Button::web_app(
            "Open here",
            format!("{base}/console/app/{}", t.bot.name),
        ));
    }
    Ok(vec![
        Outbound::text(
            "Your console: statistics, linked accounts and their history, for the assistants you \
             own. The button signs you in once, within ten minutes; do not forward it.",
        )
        .with_buttons(vec![buttons]),
    ])
}

/// `/link PROVIDER`: what the access allows, in words, before the owner goes on to approve it.
fn link(p: &Pipeline, arg: &str) -> Result<Vec<Outbound>, PipelineError> {
    let i = &p.integrations;
    if i.providers.is_empty() {
        return Ok(vec![Outbound::text(NOT_CONFIGURED)]);
    }
    let Some(provider) = i.provider(&arg.to_ascii_lowercase()) else {
        let names: Vec<&str> = i.providers.iter().map(|p| p.name.as_str()).collect();
        return Ok(vec![Outbound::text(format!(
            "Which account? Send /link followed by one of: {}.",
            names.join(", ")
        ))]);
    };
    Ok(vec![
        Outbound::text(disclosure(&provider.title, &provider.describe_scopes())).with_buttons(
            vec![vec![
                Button::callback(
                    format!("Continue to {}", provider.title),
                    ButtonData::LinkGo {
                        provider: provider.name.clone(),
                    }
                    .to_string(),
                ),
                Button::callback("Cancel", ButtonData::LinkCancel.to_string()),
            ]],
        ),
    ])
}

/// `/links`: the owner's linked accounts on this bot and what each may do.
async fn links(p: &Pipeline, t: &Turn<'_>) -> Result<Vec<Outbound>, PipelineError> {
    let i = &p.integrations;
    let links = i
        .list(&Filter {
            bot_id: Some(t.bot.id),
            owner: Some(t.subject.pseudonym.as_str().to_string()),
            ..Default::default()
        })
        .await?;
    let active: Vec<_> = links
        .iter()
        .filter(|l| l.status != Status::Revoked)
        .collect();
    if active.is_empty() {
        return Ok(vec![Outbound::text(
            "You have no linked accounts. /link connects one.",
        )]);
    }
    let mut text = String::from("Your linked accounts:");
    for l in active {
        let words = i
            .provider(&l.provider)
            .map(|p| p.describe_scopes())
            .unwrap_or_else(|| l.scopes.clone());
        text.push_str(&format!(
            "\n\n{} — {}\nlinked {}, last used {}\ncan: {}",
            l.provider,
            match l.status {
                Status::Broken => "broken: send /link again",
                Status::Pending => "waiting for you to confirm it above (not used until then)",
                other => other.as_str(),
            },
            l.linked_at.format("%Y-%m-%d %H:%M"),
            l.last_used_at.map_or("never".to_string(), |t| t
                .format("%Y-%m-%d %H:%M")
                .to_string()),
            words.join("; ")
        ));
    }
    Ok(vec![Outbound::text(text)])
}

/// `/unlink PROVIDER`: revoked at the provider where it can be, deleted here in any case.
async fn unlink(p: &Pipeline, t: &Turn<'_>, arg: &str) -> Result<Vec<Outbound>, PipelineError> {
    let i = &p.integrations;
    let provider = arg.to_ascii_lowercase();
    let revoked = i
        .revoke_all(
            &Filter {
                bot_id: Some(t.bot.id),
                owner: Some(t.subject.pseudonym.as_str().to_string()),
                provider: Some(provider.clone()),
                ..Default::default()
            },
            "owner",
        )
        .await?;
    if revoked.is_empty() {
        return Ok(vec![Outbound::text(format!(
            "You have no linked {} account. /links lists what is linked.",
            if provider.is_empty() {
                "such"
            } else {
                &provider
            }
        ))]);
    }
    record_integration_decision(p, t, &provider, Action::Withdrawn, Command::Unlink.as_str())
        .await?;
    let reply = if revoked.iter().all(|r| r.remote == Remote::Revoked) {
        format!(
            "{provider} is unlinked: the provider cancelled the access, and the keys were deleted here."
        )
    } else if revoked.iter().any(|r| r.remote == Remote::Failed) {
        format!(
            "{provider} is unlinked here: the keys were deleted. The provider could not be reached to cancel the access, so please also remove it in your account's security settings."
        )
    } else {
        format!(
            "{provider} is unlinked here: the keys were deleted. This provider has no way for us to cancel the access remotely; you can remove it in your account's security settings."
        )
    };
    Ok(vec![Outbound::text(reply)])
}

/// `link:go:<provider>` and `link:cancel`.
async fn button(
    p: &Pipeline,
    t: &Turn<'_>,
    data: ButtonData,
) -> Result<Vec<Outbound>, PipelineError> {
    let i = &p.integrations;
    if !t.inbound.chat.private {
        return Ok(vec![Outbound::text(PRIVATE_ONLY)]);
    }
    if let ButtonData::LinkAnswer { id, confirm } = data {
        // Only the owner who started the link, on this bot, can answer for it.
        let answer = if confirm {
            crate::owners::linking::Answer::Confirm
        } else {
            crate::owners::linking::Answer::Discard
        };
        let reply = i.answer(t.bot.id, t.subject.id, id, answer).await?;
        return Ok(vec![Outbound::text(reply)]);
    }
    let ButtonData::LinkGo {
        provider: provider_name,
    } = data
    else {
        return Ok(vec![Outbound::text("Nothing was linked.")]);
    };
    if !i
        .is_owner(t.bot.id, t.subject.id, &t.subject.pseudonym)
        .await?
    {
        return Ok(vec![Outbound::text(NOT_AN_OWNER)]);
    }
    let Some(provider) = i.provider(&provider_name) else {
        return Ok(vec![Outbound::text(
            "That provider is no longer configured.",
        )]);
    };
    let shown = disclosure(&provider.title, &provider.describe_scopes());
    record_integration_decision(p, t, &provider.name, Action::Given, &shown).await?;
    let url = i
        .start(
            provider,
            t.bot.id,
            t.subject.id,
            &t.subject.pseudonym,
            t.inbound.chat.id.expose(),
            Utc::now(),
        )
        .await?;
    Ok(vec![
        Outbound::text(format!(
            "Open {} to approve. The link works once, for 10 minutes; then you will be asked here to confirm the account.",
            provider.title
        ))
        .with_buttons(vec![vec![Button::link(
            format!("Open {}", provider.title),
            url.to_string(),
        )]]),
    ])
}

/// The owner's approval (or withdrawal) of an integration, in the consent record.
async fn record_integration_decision(
    p: &Pipeline,
    t: &Turn<'_>,
    provider: &str,
    action: Action,
    shown: &str,
) -> Result<(), PipelineError> {
    let purpose = purpose_of(provider);
    // A withdrawal names the text that was approved.
    let granted = if action == Action::Withdrawn {
        consent::Choices::load(&p.db, t.subject.id, t.bot.id)
            .await?
            .latest(&purpose)
            .map(|e| e.text_sha256.clone())
    } else {
        None
    };
    let text_sha256 = granted.unwrap_or_else(|| sha256_hex(shown));
    consent::record(
        &p.db,
        &p.audit,
        Decision {
            subject_id: t.subject.id,
            pseudonym: &t.subject.pseudonym,
            bot_id: t.bot.id,
            purpose: &purpose,
            action,
            policy: t.policy,
            text_sha256: &text_sha256,
            channel: t.inbound.channel,
            method: if action == Action::Given {
                Method::Button
            } else {
                Method::Command
            },
            platform_message_id: t
                .inbound
                .message_id
                .as_deref()
                .map(|m| digest::message_ref(&p.keys.pseudonym, t.inbound.channel.as_str(), m)),
        },
    )
    .await?;
    Ok(())
}
