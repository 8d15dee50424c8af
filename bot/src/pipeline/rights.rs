//! What a person can always do, with or without consent and without a rate limit: read the
//! policy, give, refuse and withdraw consent per purpose, export and delete their data, undo a
//! deletion, and object to marketing. Withdrawing is never harder than agreeing.

use chrono::Utc;
use consentgate_adapters::{Document, InboundKind, Outbound};

use super::input::{ButtonData, Command, ConsentTarget};
use super::{Pipeline, PipelineError, Turn, replies};
use crate::audit;
use crate::privacy::digest;
use crate::{
    consent::{
        self, Action, Choices, Decision, Method, PURPOSE_HISTORY, PURPOSE_MARKETING, Policy,
        Purpose, State,
    },
    rights::conversation,
    rights::export,
};

/// What a decision is about: a purpose, the text of it that was shown, and the version.
struct About<'a> {
    purpose: &'a str,
    text_sha256: &'a str,
    policy: &'a Policy,
}

/// Records a decision and remembers it for the rest of the turn.
async fn decide(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
    about: About<'_>,
    action: Action,
    method: Method,
) -> Result<(), PipelineError> {
    let About {
        purpose,
        text_sha256,
        policy,
    } = about;
    p.metrics
        .consent_events
        .get_or_create(&crate::app::metrics::ConsentLabel {
            purpose: purpose.to_string(),
            action: action.as_str(),
        })
        .inc();
    let event = consent::record(
        &p.db,
        &p.audit,
        Decision {
            subject_id: t.subject.id,
            pseudonym: &t.subject.pseudonym,
            bot_id: t.bot.id,
            purpose,
            action,
            policy,
            text_sha256,
            channel: t.inbound.channel,
            method,
            platform_message_id: t
                .inbound
                .message_id
                .as_deref()
                .map(|m| digest::message_ref(&p.keys.pseudonym, t.inbound.channel.as_str(), m)),
        },
    )
    .await?;
    choices.note(event);
    Ok(())
}

/// A decision about a purpose of the current policy.
async fn decide_current(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
    purpose: &Purpose,
    action: Action,
    method: Method,
) -> Result<(), PipelineError> {
    decide(
        p,
        t,
        choices,
        About {
            purpose: &purpose.name,
            text_sha256: &purpose.text_sha256,
            policy: t.policy,
        },
        action,
        method,
    )
    .await
}

/// Withdraws the grant of a purpose, naming the version and text that were granted (which may
/// be older than the current ones). Turning `history` off deletes the stored conversation.
/// Returns how many stored messages went.
async fn withdraw(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
    purpose: &str,
    method: Method,
) -> Result<u64, PipelineError> {
    let Some(grant) = choices
        .latest(purpose)
        .filter(|e| e.action == "given")
        .cloned()
    else {
        return Ok(0);
    };
    // The conversation goes first: if recording the withdrawal then fails, nothing is kept that
    // should not be, and the retry finds the grant still there.
    let mut deleted = 0;
    if purpose == PURPOSE_HISTORY {
        deleted += conversation::forget(&p.db, t.subject.id, t.bot.id).await?;
    }
    let policy = if grant.policy_version_id == t.policy.id {
        t.policy.clone()
    } else {
        consent::policy_by_id(&p.db, grant.policy_version_id)
            .await?
            .unwrap_or_else(|| t.policy.clone())
    };
    decide(
        p,
        t,
        choices,
        About {
            purpose,
            text_sha256: &grant.text_sha256,
            policy: &policy,
        },
        Action::Withdrawn,
        method,
    )
    .await?;
    if purpose == PURPOSE_HISTORY {
        // And once more, for an exchange stored while the withdrawal was being recorded.
        deleted += conversation::forget(&p.db, t.subject.id, t.bot.id).await?;
    }
    Ok(deleted)
}

/// Renewal after a policy change: grants whose purpose text changed expire (recorded), and the
/// person is told. Returns the notices for optional purposes; required ones are asked again by
/// the consent prompt.
pub(super) async fn expire_outdated(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
) -> Result<Vec<Outbound>, PipelineError> {
    let mut renewed = Vec::new();
    for purpose in &t.policy.purposes {
        if !matches!(choices.state(purpose), State::Outdated { .. }) {
            continue;
        }
        let grant = choices
            .latest(&purpose.name)
            .map(|g| g.text_sha256.clone())
            .unwrap_or_default();
        decide(
            p,
            t,
            choices,
            About {
                purpose: &purpose.name,
                text_sha256: &grant,
                policy: t.policy,
            },
            Action::Expired,
            Method::PolicyChange,
        )
        .await?;
        if purpose.name == PURPOSE_HISTORY {
            conversation::forget(&p.db, t.subject.id, t.bot.id).await?;
        }
        if !purpose.required {
            renewed.push(purpose);
        }
    }
    // The offer shows what the person had chosen: never in a group (it waits for their next
    // private message to show the choices again there, with /consent).
    if renewed.is_empty() || !t.inbound.chat.private {
        return Ok(Vec::new());
    }
    Ok(vec![replies::optional_choices(
        t.policy,
        &renewed,
        replies::RENEWAL_INTRO,
    )])
}

/// Thanks for agreeing, with the optional purposes the person has not decided under their
/// current texts.
fn thanks(policy: &Policy, choices: &Choices) -> Outbound {
    let open: Vec<&Purpose> = policy
        .optional()
        .filter(|p| {
            matches!(
                choices.state(p),
                State::NotAsked | State::Expired { .. } | State::Outdated { .. }
            )
        })
        .collect();
    if open.is_empty() {
        return Outbound::text(replies::THANKS_FOR_CONSENT);
    }
    replies::optional_choices(
        policy,
        &open,
        &format!(
            "{}\n\n{}",
            replies::THANKS_FOR_CONSENT,
            replies::OPTIONAL_INTRO
        ),
    )
}

/// Rights and consent, answered with or without consent: commands, consent buttons, the
/// words STOP and START, and marketing choices made on the platform; `None` for anything else.
pub(super) async fn input(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
) -> Result<Option<Vec<Outbound>>, PipelineError> {
    let out = match &t.inbound.kind {
        InboundKind::Command { name, args } => command(p, t, choices, name, args).await?,
        InboundKind::ButtonPress { data } => button(p, t, choices, data).await?,
        InboundKind::Text => match t.inbound.text.as_deref().and_then(keyword) {
            Some(on) if t.inbound.chat.private => {
                marketing(p, t, choices, on, Method::Keyword).await?
            }
            // STOP in a group takes effect; START (which may show choices) waits for private.
            Some(false) => {
                marketing(p, t, choices, false, Method::Keyword).await?;
                vec![replies::noted_in_private(t.inbound)]
            }
            Some(true) => vec![replies::only_in_private(t.inbound)],
            None => return Ok(None),
        },
        InboundKind::MarketingPreference { resume } => {
            // Set in the platform's own interface: recorded, not answered.
            marketing(p, t, choices, *resume, Method::PlatformSetting).await?;
            Vec::new()
        }
        // Payments are answered before this step.
        InboundKind::Blocked
        | InboundKind::Status { .. }
        | InboundKind::IdentityChanged { .. }
        | InboundKind::PreCheckout { .. }
        | InboundKind::Paid { .. }
        | InboundKind::Refunded { .. } => {
            return Ok(None);
        }
    };
    Ok(Some(out))
}

/// `/start`, `/privacy`, `/consent`, `/revoke`, `/export`, `/delete`, `/restore`, `/stop`,
/// `/help`, and a polite answer to anything else.
async fn command(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
    name: &str,
    args: &str,
) -> Result<Vec<Outbound>, PipelineError> {
    let command = Command::parse(name).ok().filter(|c| !c.is_owner());
    // What only shows something, or is not a command at all, leaves no lasting record.
    if let Some(command) = command.filter(|c| !c.is_read_only()) {
        p.record(
            Some(t.bot.id),
            Some(&t.subject.pseudonym),
            audit::Action::Command,
            serde_json::json!({"command": command.as_str()}),
        )
        .await?;
    }
    if !t.inbound.chat.private {
        match command {
            // Choices are shown and made in private, never in front of a group.
            Some(Command::Consent | Command::Delete | Command::Restore | Command::Privacy) => {
                return Ok(vec![replies::only_in_private(t.inbound)]);
            }
            Some(Command::Start) if !choices.may_process(t.policy) => {
                return Ok(vec![replies::only_in_private(t.inbound)]);
            }
            // Withdrawing is never harder: it takes effect here too, and the group is told
            // nothing about what there was to withdraw.
            Some(Command::Revoke | Command::Stop) => {
                command_in_private(p, t, choices, command, name, args).await?;
                return Ok(vec![replies::noted_in_private(t.inbound)]);
            }
            _ => {}
        }
    }
    command_in_private(p, t, choices, command, name, args).await
}

/// A command's effect and its answer, as given in the person's private chat.
async fn command_in_private(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
    command: Option<Command>,
    name: &str,
    args: &str,
) -> Result<Vec<Outbound>, PipelineError> {
    let Some(command) = command else {
        return Ok(vec![Outbound::text(replies::unknown_command(name))]);
    };
    match command {
        Command::Start => {
            if choices.may_process(t.policy) {
                Ok(vec![Outbound::text(replies::WELCOME_BACK)])
            } else {
                super::gate::count_prompt(p, t.inbound.channel);
                Ok(replies::consent_prompt(t.policy, choices, false))
            }
        }
        Command::Privacy if args.trim().eq_ignore_ascii_case("history") => {
            let versions = consent::versions(&p.db, t.bot.id).await?;
            Ok(vec![replies::privacy_history(&versions, t.policy)])
        }
        Command::Privacy => Ok(vec![replies::privacy(t.policy, choices)]),
        Command::Consent => Ok(vec![replies::consent_overview(t.policy, choices)]),
        Command::Revoke => {
            // Owners' approvals of integrations are ended with /unlink, which also cuts the access.
            let granted: Vec<String> = choices
                .granted()
                .map(|e| e.purpose.clone())
                .filter(|p| !p.starts_with("integration:"))
                .collect();
            if granted.is_empty() {
                return Ok(vec![Outbound::text(replies::NOTHING_TO_WITHDRAW)]);
            }
            for purpose in granted {
                withdraw(p, t, choices, &purpose, Method::Command).await?;
            }
            Ok(vec![Outbound::text(replies::WITHDRAWN)])
        }
        Command::Export => export(p, t).await,
        Command::Delete => Ok(vec![replies::delete_confirm(
            p.retention.erasure_grace_days,
            // The erasure covers the person on every bot of the business: so does the list.
            crate::tools::erasure::services_of(&p.db, &t.subject.pseudonym).await?,
        )]),
        Command::Restore => Ok(vec![Outbound::text(replies::NOTHING_TO_RESTORE)]),
        Command::Stop => marketing(p, t, choices, false, Method::Command).await,
        Command::Help => Ok(vec![Outbound::text(replies::HELP)]),
        // Owners' commands and `/plans` are answered before consent is read.
        Command::Claim
        | Command::Link
        | Command::Links
        | Command::Unlink
        | Command::Panel
        | Command::Plans
        | Command::Paysupport
        | Command::Kb
        | Command::Tools => Ok(vec![Outbound::text(replies::unknown_command(name))]),
    }
}

/// The bare words STOP and START, as people use them for marketing everywhere.
fn keyword(text: &str) -> Option<bool> {
    let word = text.trim().trim_end_matches(['.', '!']);
    if word.eq_ignore_ascii_case("stop") {
        Some(false)
    } else if word.eq_ignore_ascii_case("start") {
        Some(true)
    } else {
        None
    }
}

/// STOP (objection) or START for the `marketing` purpose.
pub(super) async fn marketing(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
    on: bool,
    method: Method,
) -> Result<Vec<Outbound>, PipelineError> {
    let Some(purpose) = t.policy.purpose(PURPOSE_MARKETING).cloned() else {
        return Ok(vec![Outbound::text(replies::NO_MARKETING)]);
    };
    let state = choices.state(&purpose);
    if on && !state.allows_processing() && !granted_before(p, t, &purpose).await? {
        // START from someone who never agreed to this text: show it and let them choose.
        return Ok(vec![replies::optional_choices(
            t.policy,
            &[&purpose],
            replies::START_OFFER,
        )]);
    }
    let reply = match (on, &state) {
        (true, State::Given { .. }) => replies::STARTED,
        (true, _) => {
            decide_current(p, t, choices, &purpose, Action::Given, method).await?;
            replies::STARTED
        }
        (false, State::Given { .. }) => {
            withdraw(p, t, choices, &purpose.name, method).await?;
            replies::STOPPED
        }
        (false, State::Refused { .. } | State::Withdrawn { .. }) => replies::ALREADY_STOPPED,
        (false, _) => {
            // Never granted, or granted for an old text: the objection is recorded all the same.
            decide_current(p, t, choices, &purpose, Action::Refused, method).await?;
            replies::STOPPED
        }
    };
    Ok(vec![Outbound::text(reply)])
}

/// Whether the person once granted this exact purpose text (START then simply reverses STOP).
async fn granted_before(
    p: &Pipeline,
    t: &Turn<'_>,
    purpose: &Purpose,
) -> Result<bool, PipelineError> {
    use consentgate_entity::consent_events::{Column, Entity};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Ok(Entity::find()
        .filter(Column::SubjectId.eq(t.subject.id))
        .filter(Column::BotId.eq(t.bot.id))
        .filter(Column::Purpose.eq(purpose.name.clone()))
        .filter(Column::Action.eq("given"))
        .filter(Column::TextSha256.eq(purpose.text_sha256.clone()))
        .one(&p.db)
        .await?
        .is_some())
}

/// `/export`: a document where the channel carries files, else a one-time link.
pub(super) async fn export(p: &Pipeline, t: &Turn<'_>) -> Result<Vec<Outbound>, PipelineError> {
    if !t.inbound.chat.private {
        return Ok(vec![Outbound::text(replies::EXPORT_PRIVATE_ONLY)]);
    }
    if p.export_limiter.check_key(&t.subject.id).is_err() {
        return Ok(vec![Outbound::text(replies::EXPORT_TOO_OFTEN)]);
    }
    let now = Utc::now();
    let via = if t.inbound.channel.carries_documents() {
        "document"
    } else {
        "link"
    };
    p.record(
        Some(t.bot.id),
        Some(&t.subject.pseudonym),
        audit::Action::RightsExport,
        serde_json::json!({"via": via}),
    )
    .await?;
    if via == "document" {
        let Some(data) = export::build(&p.db, &p.keys, t.subject.id, now).await? else {
            return Ok(Vec::new());
        };
        let bytes = serde_json::to_vec_pretty(&data).unwrap_or_default();
        return Ok(vec![Outbound::text(replies::EXPORT_CAPTION).with_document(
            Document {
                file_name: format!("consentgate-export-{}.json", now.format("%Y%m%d")),
                mime_type: "application/json".into(),
                bytes,
            },
        )]);
    }
    let token = export::create_link(&p.db, t.subject.id, t.bot.id, now).await?;
    let url = format!("{}/export/{token}", p.public_url.trim_end_matches('/'));
    Ok(vec![Outbound::text(replies::export_link(
        &url,
        export::LINK_MINUTES,
    ))])
}

/// A pressed button under one of our replies; forged or garbled data gets a polite "unknown".
async fn button(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
    data: &str,
) -> Result<Vec<Outbound>, PipelineError> {
    // Choices are made in private, never in front of a group (nor on someone else's behalf).
    if !t.inbound.chat.private {
        return Ok(vec![replies::only_in_private(t.inbound)]);
    }
    let Some(data) =
        super::buttons::verified(&p.keys.pseudonym, &t.subject.pseudonym, t.inbound, data)
    else {
        return Ok(vec![Outbound::text(replies::NOT_YOUR_BUTTON)]);
    };
    let (target, yes, policy_id) = match ButtonData::parse(data) {
        Ok(ButtonData::EraseConfirm) => return super::erasure::erase(p, t).await,
        Ok(ButtonData::EraseCancel) => return Ok(vec![Outbound::text(replies::DELETE_CANCELLED)]),
        Ok(ButtonData::Consent {
            target,
            yes,
            policy_id,
        }) => (target, yes, policy_id),
        _ => return Ok(vec![Outbound::text(replies::UNKNOWN_BUTTON)]),
    };
    if policy_id != t.policy.id {
        // The button was for another version: the person must see what they agree to.
        let mut out = vec![Outbound::text(replies::STALE_BUTTON)];
        if choices.may_process(t.policy) {
            out.push(replies::consent_overview(t.policy, choices));
        } else {
            out.extend(replies::consent_prompt(t.policy, choices, false));
        }
        return Ok(out);
    }
    let target = match target {
        ConsentTarget::Required => {
            return required(p, t, choices, yes).await;
        }
        ConsentTarget::Purpose(name) => name,
    };
    let Some(purpose) = t.policy.purpose(&target).cloned() else {
        return Ok(vec![Outbound::text(replies::UNKNOWN_BUTTON)]);
    };
    let state = choices.state(&purpose);
    if yes {
        if state.allows_processing() {
            return Ok(vec![Outbound::text(replies::purpose_on(&purpose))]);
        }
        // Purposes keep their order: nothing optional before the required ones.
        if !purpose.required && !choices.may_process(t.policy) {
            return Ok(vec![Outbound::text(replies::NEEDS_ASSISTANT_FIRST)]);
        }
        decide_current(p, t, choices, &purpose, Action::Given, Method::Button).await?;
        return Ok(vec![Outbound::text(replies::purpose_on(&purpose))]);
    }
    let deleted = match state {
        State::Given { .. } => withdraw(p, t, choices, &purpose.name, Method::Button).await?,
        State::Refused { .. } | State::Withdrawn { .. } => 0,
        _ => {
            decide_current(p, t, choices, &purpose, Action::Refused, Method::Button).await?;
            0
        }
    };
    Ok(vec![Outbound::text(replies::purpose_off(
        &purpose, deleted,
    ))])
}

/// The prompt's Agree / Decline: every required purpose at once.
async fn required(
    p: &Pipeline,
    t: &Turn<'_>,
    choices: &mut Choices,
    yes: bool,
) -> Result<Vec<Outbound>, PipelineError> {
    let required: Vec<Purpose> = t.policy.required().cloned().collect();
    if yes {
        if choices.may_process(t.policy) {
            return Ok(vec![Outbound::text(replies::ALREADY_AGREED)]);
        }
        for purpose in &required {
            if !choices.state(purpose).allows_processing() {
                decide_current(p, t, choices, purpose, Action::Given, Method::Button).await?;
            }
        }
        return Ok(vec![thanks(t.policy, choices)]);
    }
    for purpose in &required {
        match choices.state(purpose) {
            State::Given { .. } => {
                withdraw(p, t, choices, &purpose.name, Method::Button).await?;
            }
            State::Refused { .. } => {}
            _ => {
                decide_current(p, t, choices, purpose, Action::Refused, Method::Button).await?;
            }
        }
    }
    Ok(vec![Outbound::text(replies::DECLINED)])
}
