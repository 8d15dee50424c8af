//! What the gateway says in its own voice. Short, honest, and the same on every channel.

use chrono::{DateTime, Utc};
use consentgate_adapters::{Button, Outbound};

use super::input::{ButtonData, ConsentTarget};
use crate::consent::{Choices, Policy, Purpose, State};

pub const SLOW_DOWN: &str =
    "You're sending messages faster than I can read them. Please wait a moment and try again.";

pub const UNFINISHED_AFTER_TOOLS: &str = "The assistant could not finish its answer. What it \
already did for you (a booking or a request passed on) stands, so please check before asking \
again.";

pub const ASSISTANT_UNAVAILABLE: &str =
    "Sorry, the assistant can't answer right now. Please try again in a little while.";

/// Ends an answer whose stream broke off when no other provider could finish it.
pub const ANSWER_CUT_OFF: &str =
    "_(The answer was cut off: the AI service stopped before it was finished. Please ask again.)_";

/// Ends an answer the provider stopped early for a reason of its own (a content filter …).
pub const ANSWER_STOPPED: &str = "_(The AI service stopped this answer before it was finished.)_";

/// Ends an answer the provider stopped at its length limit.
pub const ANSWER_AT_LENGTH_LIMIT: &str =
    "_(The answer reached the AI service's length limit. Ask me to go on if you need more.)_";

pub const NOT_FORWARDED: &str = "Sorry, I couldn't process that message safely, so it was not sent \
to the assistant. Please try a shorter message.";

pub const TEXT_ONLY: &str = "Sorry, I can only read text messages.";

pub const IMAGES_NOT_READ: &str = "Sorry, I can't look at pictures here. Please describe what \
you need in words.";

pub const FILES_NOT_READ: &str = "Sorry, I can't read files here. Please write what you need \
in a message.";

pub const IMAGES_NEED_CONSENT: &str = "To have pictures looked at, turn on “Pictures” with \
/consent: a picture goes to the AI service as it is, since nothing can be taken out of it. Or \
describe what you need in words.";

pub const PICTURE_TOO_LARGE: &str = "That picture is too large for me (5 MB at most). Please send a \
smaller one, or describe it in words.";

pub const PICTURE_FAILED: &str = "Sorry, I couldn't get that picture just now. Please try again, or \
describe it in words.";

pub const VOICE_OFF: &str = "Sorry, I can't listen to voice notes here. Please type your message.";

pub const VOICE_FAILED: &str = "Sorry, I couldn't make out that voice note just now. Please try \
again, or type your message.";

pub const VOICE_EMPTY: &str = "I couldn't hear any words in that voice note. Please try again, or \
type your message.";

/// A voice note from someone who has not turned on `voice`: how to.
pub fn voice_needs_consent(recipient: &str) -> String {
    format!(
        "To have your voice notes answered, turn on “Voice notes” with /consent: they are then \
         sent as audio to {recipient} to be written down (the audio is not kept). Or type your \
         message."
    )
}

/// No request left: which allowance ran out, when it renews, and where to get more.
pub fn allowance_used(out: &crate::rights::allowance::Out, plans: bool) -> String {
    use crate::rights::allowance::Period;
    let (what, when) = match out.period {
        Period::Day => (
            "today's",
            format!("at {} (UTC)", out.renews_at.format("%Y-%m-%d %H:%M")),
        ),
        Period::Month => (
            "this month's",
            format!("on {} (UTC)", out.renews_at.format("%Y-%m-%d")),
        ),
    };
    let mut text = format!(
        "You have used {what} {} free requests for the assistant. They renew {when}.",
        out.limit
    );
    if plans {
        text.push_str(" Send /plans for more now.");
    }
    text.push_str(" /privacy and your other rights work as always.");
    text
}

pub const PAYSUPPORT: &str = "Payments here buy more requests for the assistant, in Telegram \
Stars. If something went wrong with one, write what happened here: the business that runs this \
assistant can refund it (your payments and their charge ids are in /export). Telegram's own \
support cannot help with purchases from bots.";

pub const NO_PLANS: &str = "There are no paid plans here.";

pub const PLANS_NEED_CONSENT: &str = "Plans add requests for the assistant: please agree to how \
your messages are handled first (/start).";

pub const PLAN_GONE: &str = "This plan is not offered at this price any more. Send /plans to see \
what is.";

pub const PLAN_GONE_AFTER_PAYMENT: &str = "Thank you for your payment. This plan is no longer \
offered, so the operator will refund it.";

pub const PAYMENT_WHILE_ERASING: &str = "Your data is being deleted, so no payment is taken. \
/restore undoes the deletion.";

/// The plans offered, and what the person has left of earlier ones.
pub fn plans(
    offered: &[crate::config::PlanSettings],
    active: &[consentgate_entity::payments::Model],
) -> String {
    let mut text = String::from("Plans, paid in Telegram Stars:");
    for plan in offered {
        text.push_str(&format!(
            "\n• {}: {} more requests for {} days, {} ⭐",
            plan.title, plan.requests, plan.days, plan.stars
        ));
    }
    for a in active {
        text.push_str(&format!(
            "\n\nYou have {} requests left from {}, until {} (UTC).",
            (a.requests - a.used).max(0),
            a.plan,
            a.expires_at.format("%Y-%m-%d")
        ));
    }
    text
}

/// Thanks for a payment: what it added, until when.
pub fn paid(plan: &crate::config::PlanSettings, until: DateTime<Utc>) -> String {
    format!(
        "Thank you! {} more requests for the assistant are yours until {} (UTC). /export lists your payments.",
        plan.requests,
        until.format("%Y-%m-%d %H:%M")
    )
}

/// A payment was refunded.
pub fn refunded(plan: &str) -> String {
    format!(
        "Your payment for {plan} was refunded; the requests it added and you had not used are gone."
    )
}

pub const VOICE_FORWARDED: &str = "I only listen to voice notes you record yourself: a forwarded \
one carries someone else's voice. Please tell me in your own words, or type your message.";

/// A voice note whose file is larger than its length could need.
pub fn voice_too_large(max_seconds: u32) -> String {
    format!(
        "That recording is too large for me (I take about {} of voice). Please send a shorter one, or type your message.",
        duration(max_seconds)
    )
}

fn duration(seconds: u32) -> String {
    if seconds.is_multiple_of(60) {
        format!("{} minutes", seconds / 60)
    } else {
        format!("{seconds} seconds")
    }
}

/// A voice note over the limit.
pub fn voice_too_long(max_seconds: u32) -> String {
    format!(
        "That voice note is too long for me (at most {}). Please send a shorter one, or type your message.",
        duration(max_seconds)
    )
}

pub const HELP: &str = "What you can do here:\n\
/privacy — how your messages are handled, and your current choices\n\
/privacy history — earlier versions of the policy\n\
/consent — change each choice\n\
/start — review the policy and agree\n\
/revoke — withdraw all your consent at once\n\
/export — a copy of everything stored about you\n\
/delete — erase everything stored about you\n\
/restore — undo /delete while it is pending\n\
/stop or STOP — no marketing messages (START to get them again)\n\
/help — this list";

pub const THANKS_FOR_CONSENT: &str = "Thank you! You can chat with the assistant now.\n\
/privacy shows your choices; /revoke withdraws them at any time.";

pub const ALREADY_AGREED: &str = "You have already agreed. Just write your question.";

pub const DECLINED: &str = "Understood. Nothing you write will be stored or sent to the assistant.\n\
Send /start if you change your mind.";

pub const WITHDRAWN: &str = "All your consent is withdrawn. From now on, nothing you write is \
stored or sent to the assistant, and no marketing messages are sent to you. Your record of \
choices is kept as proof.\nSend /start if you want to agree again.";

pub const NOTHING_TO_WITHDRAW: &str = "You have no active consent to withdraw: nothing you write is \
stored or sent to the assistant.";

pub const WELCOME_BACK: &str = "Welcome back! Just write your question.";

pub const STALE_BUTTON: &str = "That button belongs to an earlier version of our privacy policy. \
Here is the current one:";

pub const HELD_AFTER_CHANGE: &str = "Your privacy choices changed before this message could be \
sent, so it was not sent to the assistant. /privacy shows where things stand.";
pub const NOT_YOUR_BUTTON: &str = "That button was not shown to you here, so it changes nothing. \
/consent shows your own choices.";
pub const UNKNOWN_BUTTON: &str = "That button is no longer active.";

pub const NEEDS_ASSISTANT_FIRST: &str = "Please agree to the main purpose first: without it, \
nothing you write is processed, so the other choices would have no effect.";

pub const STOPPED: &str = "You will get no marketing messages from us. Send START if you \
change your mind.";

pub const ALREADY_STOPPED: &str = "You are already unsubscribed from marketing messages. Send \
START if you change your mind.";

pub const STARTED: &str = "You will receive news and offers from us again. Send STOP at any \
time to end them.";

pub const START_OFFER: &str = "Here is what START would turn on. Choose below:";

pub const NO_MARKETING: &str = "This assistant sends no marketing messages, so there is nothing \
to stop.";

pub const DELETE_CANCELLED: &str = "Nothing was deleted.";

pub const NOTHING_TO_RESTORE: &str = "There is no pending deletion to undo.";

pub const RESTORED: &str = "Your deletion request is cancelled and your data is kept as before. \
Your earlier choices apply again; /privacy shows them.";

pub const ERASED_NOW: &str = "Everything stored about you on this channel has been deleted. If \
you write again, you will be asked for consent again.";

/// In a group: where to go to decide (a deep link to a private chat with the bot).
pub fn ask_in_private(inbound: &consentgate_adapters::Inbound) -> Outbound {
    in_private(
        inbound,
        "To answer you, I first need your decision on how your messages are handled. That \
         happens in a private chat, not in front of the group",
    )
}

/// A command that is only taken in private, answered in a group with the way there.
pub fn only_in_private(inbound: &consentgate_adapters::Inbound) -> Outbound {
    in_private(
        inbound,
        "Your choices and your data are handled in a private chat with me, not in front of the \
         group",
    )
}

/// In a group, after a withdrawal or STOP: it took effect, and nothing more is said there.
pub fn noted_in_private(inbound: &consentgate_adapters::Inbound) -> Outbound {
    in_private(
        inbound,
        "Noted. Your choices and your data are handled in a private chat with me, not in front of \
         the group",
    )
}

fn in_private(inbound: &consentgate_adapters::Inbound, why: &str) -> Outbound {
    let link = inbound.bot_handle.as_deref().and_then(|handle| {
        let host = match inbound.channel {
            consentgate_adapters::ChannelKind::Telegram => "t.me",
            consentgate_adapters::ChannelKind::Bale => "ble.ir",
            _ => return None,
        };
        Some(format!("https://{host}/{handle}?start=consent"))
    });
    Outbound::text(match link {
        Some(link) => format!("{why}: {link}"),
        None => format!("{why}. Please open a private chat with me and send /start."),
    })
}

pub fn unknown_command(name: &str) -> String {
    format!("Sorry, I don't know /{name}.\n\n{HELP}")
}

fn date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}

/// A consent choice about `target` under `policy`, as a button.
pub fn consent_button(label: &str, target: ConsentTarget, yes: bool, policy: &Policy) -> Button {
    Button::callback(
        label,
        ButtonData::consent(target, yes, policy.id).to_string(),
    )
}

/// The prompt: the policy and every required purpose with its exact text (whose hash is
/// recorded with the decision), and two buttons; preceded by a note when the person has been
/// here before.
/// `for_message`: the prompt answers a message that was held (and says so).
pub fn consent_prompt(policy: &Policy, choices: &Choices, for_message: bool) -> Vec<Outbound> {
    let mut out = Vec::new();
    let states: Vec<State> = policy.required().map(|p| choices.state(p)).collect();
    if states
        .iter()
        .any(|s| matches!(s, State::Outdated { .. } | State::Expired { .. }))
    {
        out.push(Outbound::text(
            "Our privacy policy has changed since you agreed. Please read the new version; \
             your messages are not processed until you decide.",
        ));
    } else if for_message
        && states
            .iter()
            .any(|s| matches!(s, State::Refused { .. } | State::Withdrawn { .. }))
    {
        out.push(Outbound::text(
            "You haven't agreed, so your message was not stored or sent to the assistant.",
        ));
    }
    let mut text = policy.text.trim_end().to_string();
    for p in policy.required() {
        text.push_str(&format!("\n\n{}:\n{}", p.title, p.text));
    }
    text.push_str("\n\nDo you agree?");
    out.push(Outbound::text(text).with_buttons(vec![vec![
        consent_button("Agree", ConsentTarget::Required, true, policy),
        consent_button("Decline", ConsentTarget::Required, false, policy),
    ]]));
    out
}

/// Optional purposes, each with its own pair of buttons (nothing is bundled), appended to
/// `intro`.
pub fn optional_choices(policy: &Policy, purposes: &[&Purpose], intro: &str) -> Outbound {
    let mut text = intro.to_string();
    let mut rows = Vec::new();
    for p in purposes {
        text.push_str(&format!("\n\n{}:\n{}", p.title, p.text));
        rows.push(vec![
            consent_button(
                &format!("{}: yes", p.name),
                ConsentTarget::Purpose(p.name.clone()),
                true,
                policy,
            ),
            consent_button(
                &format!("{}: no", p.name),
                ConsentTarget::Purpose(p.name.clone()),
                false,
                policy,
            ),
        ]);
    }
    Outbound::text(text).with_buttons(rows)
}

pub const OPTIONAL_INTRO: &str = "Optional choices, each off unless you turn it on:";

pub const RENEWAL_INTRO: &str = "Our privacy policy has changed the text of these optional \
choices, so they are off until you decide again:";

fn describe(state: &State) -> String {
    match state {
        State::NotAsked => "not decided (off)".to_string(),
        State::Given { at } => format!("on since {}", date(*at)),
        State::Outdated { at } => format!(
            "agreed on {} to an earlier text; needs your decision again (off)",
            date(*at)
        ),
        State::Refused { at } => format!("declined on {} (off)", date(*at)),
        State::Withdrawn { at } => format!("withdrawn on {} (off)", date(*at)),
        State::Expired { at } => format!(
            "lapsed on {} when its text changed (off until you decide)",
            date(*at)
        ),
    }
}

/// `/privacy`: the current summary, the person's choice per purpose, and how to change them.
pub fn privacy(policy: &Policy, choices: &Choices) -> Outbound {
    let mut text = format!(
        "Privacy policy, version {} ({}), in effect since {}.",
        policy.version,
        policy.label,
        date(policy.effective_at)
    );
    if !policy.summary.trim().is_empty() {
        text.push_str(&format!("\nWhat changed: {}", policy.summary.trim()));
    }
    text.push_str("\n\n");
    text.push_str(policy.text.trim_end());
    text.push_str("\n\nYour choices:");
    for p in &policy.purposes {
        text.push_str(&format!(
            "\n• {}{}: {}",
            p.title,
            if p.required { " (required)" } else { "" },
            describe(&choices.state(p))
        ));
    }
    text.push_str(
        "\n\n/consent changes each choice, /revoke withdraws everything at once, /export sends \
         you a copy of your data, /delete erases it. /privacy history lists earlier versions.",
    );
    Outbound::text(text)
}

/// `/privacy history`: every published version, newest first.
pub fn privacy_history(versions: &[Policy], current: &Policy) -> Outbound {
    let mut text = String::from("Versions of this privacy policy, newest first:");
    for v in versions.iter().rev() {
        let status = if v.id == current.id {
            " — in effect"
        } else if v.effective_at > Utc::now() {
            " — not yet in effect"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n\nVersion {} ({}), effective {}{status}\nSHA-256 {}…",
            v.version,
            v.label,
            date(v.effective_at),
            v.text_sha256.get(..16).unwrap_or(&v.text_sha256)
        ));
        if !v.summary.trim().is_empty() {
            text.push_str(&format!("\n{}", v.summary.trim()));
        }
    }
    Outbound::text(text)
}

/// `/consent`: each purpose, where the person stands, and a button to change it.
pub fn consent_overview(policy: &Policy, choices: &Choices) -> Outbound {
    let mut text = String::from("Your choices, one per purpose:");
    let mut rows = Vec::new();
    for p in &policy.purposes {
        let state = choices.state(p);
        text.push_str(&format!(
            "\n\n{}{}: {}\n{}",
            p.title,
            if p.required { " (required)" } else { "" },
            describe(&state),
            p.text
        ));
        let on = state.allows_processing();
        let label = format!("{} {}", if on { "Turn off" } else { "Turn on" }, p.name);
        rows.push(vec![consent_button(
            &label,
            ConsentTarget::Purpose(p.name.clone()),
            !on,
            policy,
        )]);
    }
    Outbound::text(text).with_buttons(rows)
}

pub fn purpose_on(purpose: &Purpose) -> String {
    format!("“{}” is on. /consent changes it.", purpose.title)
}

pub fn purpose_off(purpose: &Purpose, history_deleted: u64) -> String {
    let mut text = format!("“{}” is off. /consent changes it.", purpose.title);
    match history_deleted {
        0 => {}
        1 => text.push_str(" The stored message of our conversation was deleted."),
        n => text.push_str(&format!(
            " The {n} stored messages of our conversation were deleted."
        )),
    }
    text
}

pub fn delete_confirm(grace_days: u32, passed_on: Vec<(&'static str, Vec<String>)>) -> Outbound {
    let when = if grace_days == 0 {
        "at once, and cannot be undone".to_string()
    } else {
        format!(
            "after {grace_days} days; until then nothing you write is processed, and /restore \
             undoes it"
        )
    };
    Outbound::text(format!(
        "Delete everything stored about you on this channel — your choices, any stored \
         conversation, your encrypted ids and any accounts you linked? The deletion happens \
         {when}. Only the audit log keeps entries under your random-looking code, with no \
         content.{}",
        elsewhere(&passed_on)
    ))
    .with_buttons(vec![vec![
        Button::callback("Yes, delete", ButtonData::EraseConfirm.to_string()),
        Button::callback("Cancel", ButtonData::EraseCancel.to_string()),
    ]])
}

/// Where the assistant's tools passed the person's details, which deleting here does not reach.
fn elsewhere(passed_on: &[(&'static str, Vec<String>)]) -> String {
    if passed_on.is_empty() {
        return String::new();
    }
    format!(
        "\n\nAt your request the assistant also passed your details to the business's {}. \
         Deleting here does not delete them there; the business is told, so it can delete them \
         too.",
        crate::tools::erasure::services(passed_on)
    )
}

pub const ERASURE_ALREADY_DECIDED: &str = "Your data is already being deleted: nothing you write \
is processed. /privacy shows when, and /restore undoes it until then.";

pub fn erasure_scheduled(purge_after: DateTime<Utc>) -> String {
    format!(
        "Done: nothing you write is processed any more, and everything stored about you will be \
         deleted on {} (UTC). Send /restore before then to undo it.",
        purge_after.format("%Y-%m-%d %H:%M")
    )
}

pub fn erasure_pending(purge_after: DateTime<Utc>) -> String {
    format!(
        "Your data is scheduled for deletion on {} (UTC), so this message was not processed. \
         Send /restore to undo the deletion, or /export for a copy of your data first.",
        purge_after.format("%Y-%m-%d %H:%M")
    )
}

pub const EXPORT_PRIVATE_ONLY: &str = "For your privacy, /export works only in a private chat \
with me: open a chat with me and send /export there.";

pub const EXPORT_TOO_OFTEN: &str = "You have asked for several exports in the last hour. Please \
use the one you have, or try again later.";

/// Sent after a restart in place of an export file that was built but not sent: the file itself
/// is never kept.
pub const EXPORT_INTERRUPTED: &str = "Your export could not be sent because the assistant was \
restarting. Please send /export again.";
/// Sent after a restart when the provider's answer to a message was lost with the process.
pub const ANSWER_LOST: &str = "Sorry, your message reached the assistant but its answer was lost \
while the service restarted. Please send it again.";

pub const EXPORT_CAPTION: &str = "Everything stored about you, as JSON: your ids, your consent \
record, any stored conversation, linked integrations, payments, audit entries and each call \
made to the AI (or transcription) service about you.";

pub fn export_link(url: &str, minutes: i64) -> String {
    format!(
        "Your data export is ready: {url}\nThe link works once and expires in {minutes} minutes. \
         It holds everything stored about you, as JSON."
    )
}
