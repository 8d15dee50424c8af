//! Every kind of audit entry. The chain stores the name (`consent.given`, `message.held` …); this
//! is the one place those names are written, so a regulator's query and the code that records
//! agree, and a new kind of decision is added here or nowhere.

use std::fmt;

macro_rules! actions {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, )+) => {
        /// What an audit entry records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $( $(#[$doc])* $variant, )+
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];

            /// The name stored in the chain.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)+
                }
            }
        }
    };
}

actions! {
    /// A person agreed to a purpose.
    ConsentGiven => "consent.given",
    /// A person refused a purpose.
    ConsentRefused => "consent.refused",
    /// A person withdrew a purpose they had agreed to.
    ConsentWithdrawn => "consent.withdrawn",
    /// A purpose's text changed after the grant, so the grant no longer counts.
    ConsentExpired => "consent.expired",
    /// A `/command` (its name, or `unknown`).
    Command => "command",
    /// A message went to the LLM provider (redacted, under a pseudonym).
    MessageForwarded => "message.forwarded",
    /// A message was not forwarded, and why.
    MessageHeld => "message.held",
    /// A voice note was sent to the transcription service (its SHA-256, never the audio).
    VoiceTranscribed => "voice.transcribed",
    /// A Telegram Stars payment for a plan went through.
    PaymentReceived => "payment.received",
    /// A payment was refunded (by an admin, or as Telegram reported).
    PaymentRefunded => "payment.refunded",
    /// An owner added a document to a bot's knowledge base (its name and SHA-256).
    KbDocumentAdded => "kb.added",
    /// An owner removed one.
    KbDocumentRemoved => "kb.removed",
    /// Passages of a knowledge-base document, redacted, went to the embeddings service:
    /// recorded before they leave, with the SHA-256 of the request.
    KbEmbedded => "kb.embedded",
    /// A person's question, redacted, went to the embeddings service to search the knowledge
    /// base: recorded before it leaves, with the SHA-256 of the request.
    KnowledgeEmbedded => "knowledge.embedded",
    /// An owner enabled a tool for a bot (its name, kind and provider; never what it points at).
    ToolAdded => "tool.added",
    /// An owner removed one.
    ToolRemoved => "tool.removed",
    /// The model called a tool for a person: recorded before the service is called, with the
    /// SHA-256 of the values sent.
    ToolCalled => "tool.called",
    /// What the call came to: done (with what it made there, e.g. a row's range or a contact's
    /// id) or failed (and why).
    ToolCompleted => "tool.completed",
    /// A message over the person's rate limit.
    MessageRateLimited => "message.rate_limited",
    /// The provider failed to answer.
    LlmFailed => "llm.failed",
    /// A reply could not be delivered.
    DeliveryFailed => "delivery.failed",
    /// Another id of a person was linked to them (WhatsApp: a phone number and a business-scoped
    /// id arriving together).
    IdentityLinked => "identity.linked",
    /// The platform moved a person to a new id (a new number, a new business-scoped id).
    IdentityChanged => "identity.changed",
    /// The person blocked the bot.
    SubjectBlockedBot => "subject.blocked_bot",
    /// The platform says the person cannot be reached.
    SubjectUndeliverable => "subject.undeliverable",
    /// `/delete` confirmed: processing blocked, purge scheduled.
    ErasureRequested => "erasure.requested",
    /// Everything about the person deleted.
    ErasureCompleted => "erasure.completed",
    /// `/restore` before the purge.
    ErasureCancelled => "erasure.cancelled",
    /// `/export`: a download link was made.
    RightsExport => "rights.export",
    /// An export link was used.
    RightsExportDownloaded => "rights.export_downloaded",
    /// A policy version was published.
    PolicyPublished => "policy.published",
    /// An owner invite code was made.
    OwnerInvited => "owner.invited",
    /// An invite code was claimed.
    OwnerClaimed => "owner.claimed",
    /// An owner started linking an account.
    IntegrationAuthorizeStarted => "integration.authorize_started",
    /// An account was linked.
    IntegrationLinked => "integration.linked",
    /// The owner confirmed in their chat that a linked account is theirs: it is used from now.
    IntegrationConfirmed => "integration.confirmed",
    /// The provider or the owner refused the link.
    IntegrationDenied => "integration.denied",
    /// A link stopped working (refresh refused).
    IntegrationBroken => "integration.broken",
    /// A link's tokens were refreshed at the provider.
    IntegrationRefreshed => "integration.refreshed",
    /// A link was revoked.
    IntegrationRevoked => "integration.revoked",
    /// An admin key read through the admin API.
    AdminRead => "admin.read",
    /// An admin key revoked through the admin API.
    AdminRevoke => "admin.revoke",
    /// An admin key was revoked.
    AdminKeyRevoked => "admin.key_revoked",
    /// An admin key was made from the console.
    AdminKeyCreated => "admin.key_created",
    /// Someone signed in to the console (the key id, or the owner's pseudonym).
    ConsoleSignedIn => "console.signed_in",
    /// A console sign-in failed (a wrong key, code or recovery code).
    ConsoleSignInFailed => "console.sign_in_failed",
    /// An admin key's second factor was set up, or reset.
    ConsoleTotpEnrolled => "console.totp_enrolled",
    ConsoleTotpReset => "console.totp_reset",
    /// A console session ended (or every session of its holder).
    ConsoleSignedOut => "console.signed_out",
    /// A bot's assistant settings (system prompt, purposes' texts) saved as a draft.
    ConsoleSettingsSaved => "console.settings_saved",
    /// Retention pruned the chain's oldest entries; this entry anchors what remains.
    AuditAnchor => "audit.anchor",
}

/// A name that is not an audit action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an audit action")]
pub struct UnknownAction(pub String);

impl Action {
    pub fn parse(name: &str) -> Result<Action, UnknownAction> {
        Action::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| UnknownAction(name.to_string()))
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_action_survives_the_round_trip_and_names_are_unique() {
        let mut names = std::collections::HashSet::new();
        for a in Action::ALL {
            assert_eq!(Action::parse(&a.to_string()), Ok(*a));
            assert!(names.insert(a.as_str()), "{a} twice");
        }
    }

    proptest! {
        #[test]
        fn any_name_parses_or_is_an_error_without_panicking(name in "\\PC{0,40}") {
            match Action::parse(&name) {
                Ok(a) => prop_assert_eq!(a.as_str(), name.as_str()),
                Err(e) => prop_assert_eq!(e, UnknownAction(name.clone())),
            }
        }
    }
}
