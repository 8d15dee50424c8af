//! What the gateway says in its own voice. Short, honest, and the same on every channel.

use consentgate_adapters::{Button, Outbound};

use crate::consent::{Policy, State};

pub const SLOW_DOWN: &str =
    "You're sending messages faster than I can read them. Please wait a moment and try again.";

pub const ASSISTANT_UNAVAILABLE: &str =
    "Sorry, the assistant can't answer right now. Please try again in a little while.";

pub const NOT_FORWARDED: &str = "Sorry, I couldn't process that message safely, so it was not sent \
to the assistant. Please try a shorter message.";

pub const TEXT_ONLY: &str = "Sorry, I can only read text messages.";

pub const HELP: &str = "What you can do here:\n\
/privacy — how your messages are handled, and your current choice\n\
/start — review the policy and agree\n\
/revoke — withdraw your consent at once\n\
/help — this list";

pub const THANKS_FOR_CONSENT: &str = "Thank you! You can chat with the assistant now.\n\
/privacy shows your choice; /revoke withdraws it at any time.";

pub const ALREADY_AGREED: &str = "You have already agreed. Just write your question.";

pub const DECLINED: &str = "Understood. Nothing you write will be stored or sent to the assistant.\n\
Send /start if you change your mind.";

pub const WITHDRAWN: &str = "Your consent is withdrawn. From now on, nothing you write is stored or \
sent to the assistant. Your record of choices is kept as proof.\nSend /start if you want to agree again.";

pub const NOTHING_TO_WITHDRAW: &str = "You have no active consent to withdraw: nothing you write is \
stored or sent to the assistant.";

pub const WELCOME_BACK: &str = "Welcome back! Just write your question.";

pub const STALE_BUTTON: &str = "That button belongs to an earlier version of our privacy policy. \
Here is the current one:";

pub const UNKNOWN_BUTTON: &str = "That button is no longer active.";

pub fn unknown_command(name: &str) -> String {
    format!("Sorry, I don't know /{name}.\n\n{HELP}")
}

/// Button data for a consent decision on a policy version (well under Telegram's 64 bytes).
pub fn consent_button_data(agree: bool, policy: &Policy) -> String {
    format!(
        "consent:{}:{}",
        if agree { "agree" } else { "decline" },
        policy.id
    )
}

/// The prompt: the exact policy text (whose hash is recorded with the decision) and two buttons,
/// preceded by a note when the person has been here before.
pub fn consent_prompt(policy: &Policy, state: &State) -> Vec<Outbound> {
    let mut out = Vec::new();
    match state {
        State::Outdated { .. } => out.push(Outbound::text(
            "Our privacy policy has changed since you agreed. Please read the new version; \
             your messages are not processed until you decide.",
        )),
        State::Refused { .. } | State::Withdrawn { .. } => out.push(Outbound::text(
            "You haven't agreed, so your message was not stored or sent to the assistant.",
        )),
        State::NotAsked | State::Given { .. } => {}
    }
    out.push(Outbound::text(policy.text.clone()).with_buttons(vec![vec![
        Button {
            label: "Agree".into(),
            data: consent_button_data(true, policy),
        },
        Button {
            label: "Decline".into(),
            data: consent_button_data(false, policy),
        },
    ]]));
    out
}

/// `/privacy`: the policy and where the person stands.
pub fn privacy(policy: &Policy, state: &State) -> Outbound {
    let choice = match state {
        State::NotAsked => "you have not decided yet".to_string(),
        State::Given { at } => format!("you agreed on {}", at.format("%Y-%m-%d")),
        State::Outdated { at } => format!(
            "you agreed to an earlier version on {}; the current version needs your decision",
            at.format("%Y-%m-%d")
        ),
        State::Refused { at } => format!("you declined on {}", at.format("%Y-%m-%d")),
        State::Withdrawn { at } => format!("you withdrew consent on {}", at.format("%Y-%m-%d")),
    };
    let change = if state.allows_processing() {
        "/revoke withdraws your consent at once."
    } else {
        "/start lets you review and agree."
    };
    Outbound::text(format!(
        "Privacy policy, version {} ({}), in effect since {}:\n\n{}\n\nYour choice: {choice}.\n{change}",
        policy.version,
        policy.label,
        policy.effective_at.format("%Y-%m-%d"),
        policy.text,
    ))
}
