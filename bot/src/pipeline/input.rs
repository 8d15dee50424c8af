//! What a person can send besides text: the commands the gateway knows and the data of the
//! buttons it puts under its replies. Each has one `parse` and one `Display`, so the button a
//! reply carries is the button the pipeline reads back, and anything else is an error the
//! pipeline answers politely.

use std::fmt;

/// Input that is not one of ours: an unknown command, forged or outdated button data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a known {what}")]
pub struct Unknown {
    what: &'static str,
}

/// A `/command` the gateway answers. Adapters hand over the name lower-cased, without the `/`
/// and without a `@botname` suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Start,
    Privacy,
    Consent,
    Revoke,
    Export,
    Delete,
    Restore,
    Stop,
    Help,
    /// `/claim CODE`: become an owner with an invite code.
    Claim,
    Link,
    Links,
    Unlink,
    /// `/panel`: a one-time link to sign in to the console.
    Panel,
    /// `/plans`: the plans in Telegram Stars, each as an invoice.
    Plans,
    /// `/paysupport`: help with a payment, as Telegram asks of bots that take Stars.
    Paysupport,
    /// `/kb`, `/kb add` (on a file), `/kb remove N`, `/kb redact N`: the owner's knowledge base.
    Kb,
    /// `/tools`, `/tools add NAME KIND …`, `/tools remove NAME`: tools the assistant may call
    /// through the bot's linked accounts.
    Tools,
}

impl Command {
    pub const ALL: [Command; 18] = [
        Command::Start,
        Command::Privacy,
        Command::Consent,
        Command::Revoke,
        Command::Export,
        Command::Delete,
        Command::Restore,
        Command::Stop,
        Command::Help,
        Command::Claim,
        Command::Link,
        Command::Links,
        Command::Unlink,
        Command::Panel,
        Command::Plans,
        Command::Paysupport,
        Command::Kb,
        Command::Tools,
    ];

    pub fn parse(name: &str) -> Result<Command, Unknown> {
        Command::ALL
            .into_iter()
            .find(|c| c.as_str() == name)
            .ok_or(Unknown { what: "command" })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Privacy => "privacy",
            Command::Consent => "consent",
            Command::Revoke => "revoke",
            Command::Export => "export",
            Command::Delete => "delete",
            Command::Restore => "restore",
            Command::Stop => "stop",
            Command::Help => "help",
            Command::Claim => "claim",
            Command::Link => "link",
            Command::Links => "links",
            Command::Unlink => "unlink",
            Command::Panel => "panel",
            Command::Plans => "plans",
            Command::Paysupport => "paysupport",
            Command::Kb => "kb",
            Command::Tools => "tools",
        }
    }

    /// Commands that only show something (help, the policy, the choices): answered, not
    /// audited, so repeating them costs no lasting record.
    pub fn is_read_only(self) -> bool {
        matches!(self, Command::Help | Command::Privacy | Command::Consent)
    }

    /// Owners' commands, answered by `owners` (and only to owners, but for `/claim`).
    pub fn is_owner(self) -> bool {
        matches!(
            self,
            Command::Claim
                | Command::Link
                | Command::Links
                | Command::Unlink
                | Command::Panel
                | Command::Kb
                | Command::Tools
        )
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a consent button decides about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsentTarget {
    /// Every required purpose at once (the prompt's Agree / Decline).
    Required,
    /// One purpose, by name.
    Purpose(String),
}

/// The data of a button the gateway sent. Well under Telegram's 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ButtonData {
    /// `c:<purpose or req>:<y|n>:<policy id>`; prompts sent by earlier versions carried
    /// `consent:agree|decline:<policy id>`, read as the same choice about `req`.
    Consent {
        target: ConsentTarget,
        yes: bool,
        /// The policy version the button was shown with: a choice counts only for the text
        /// the person saw.
        policy_id: i64,
    },
    /// `erase:confirm`: go ahead with `/delete`.
    EraseConfirm,
    /// `erase:cancel`.
    EraseCancel,
    /// `link:go:<provider>`: the owner read the disclosure and continues to the provider.
    LinkGo { provider: String },
    /// `link:cancel`.
    LinkCancel,
    /// `link:ok:<id>` / `link:no:<id>`: the owner's answer about a pending linked account.
    LinkAnswer { id: i64, confirm: bool },
}

/// What a purpose name may hold in button data (as the configuration requires of it).
fn valid_target(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ButtonData {
    /// A consent choice about `target` under the policy version `policy_id`.
    pub fn consent(target: ConsentTarget, yes: bool, policy_id: i64) -> ButtonData {
        ButtonData::Consent {
            target,
            yes,
            policy_id,
        }
    }

    pub fn parse(data: &str) -> Result<ButtonData, Unknown> {
        let unknown = Unknown { what: "button" };
        let parts: Vec<&str> = data.split(':').collect();
        let (target, yes, id) = match parts.as_slice() {
            ["erase", "confirm"] => return Ok(ButtonData::EraseConfirm),
            ["erase", "cancel"] => return Ok(ButtonData::EraseCancel),
            ["link", "cancel"] => return Ok(ButtonData::LinkCancel),
            ["link", yn @ ("ok" | "no"), id] => {
                return id
                    .parse()
                    .map(|id| ButtonData::LinkAnswer {
                        id,
                        confirm: *yn == "ok",
                    })
                    .map_err(|_| unknown);
            }
            ["link", "go", provider] if valid_target(provider) => {
                return Ok(ButtonData::LinkGo {
                    provider: provider.to_string(),
                });
            }
            ["c", "req", yn @ ("y" | "n"), id] => (ConsentTarget::Required, *yn == "y", *id),
            ["c", name, yn @ ("y" | "n"), id] if valid_target(name) => {
                (ConsentTarget::Purpose(name.to_string()), *yn == "y", *id)
            }
            ["consent", choice @ ("agree" | "decline"), id] => {
                (ConsentTarget::Required, *choice == "agree", *id)
            }
            _ => return Err(unknown),
        };
        let policy_id = id.parse().map_err(|_| unknown.clone())?;
        Ok(ButtonData::consent(target, yes, policy_id))
    }
}

impl fmt::Display for ButtonData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ButtonData::Consent {
                target,
                yes,
                policy_id,
            } => {
                let target = match target {
                    ConsentTarget::Required => "req",
                    ConsentTarget::Purpose(name) => name,
                };
                let yn = if *yes { "y" } else { "n" };
                write!(f, "c:{target}:{yn}:{policy_id}")
            }
            ButtonData::EraseConfirm => f.write_str("erase:confirm"),
            ButtonData::EraseCancel => f.write_str("erase:cancel"),
            ButtonData::LinkGo { provider } => write!(f, "link:go:{provider}"),
            ButtonData::LinkCancel => f.write_str("link:cancel"),
            ButtonData::LinkAnswer { id, confirm } => {
                write!(f, "link:{}:{id}", if *confirm { "ok" } else { "no" })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn target() -> impl Strategy<Value = ConsentTarget> {
        prop_oneof![
            Just(ConsentTarget::Required),
            "[a-z0-9_-]{1,24}"
                .prop_filter("`req` is the required set", |n| n != "req")
                .prop_map(ConsentTarget::Purpose),
        ]
    }

    fn button() -> impl Strategy<Value = ButtonData> {
        prop_oneof![
            (target(), any::<bool>(), any::<i64>())
                .prop_map(|(t, y, id)| ButtonData::consent(t, y, id)),
            Just(ButtonData::EraseConfirm),
            Just(ButtonData::EraseCancel),
            Just(ButtonData::LinkCancel),
            "[a-z0-9_-]{1,24}".prop_map(|provider| ButtonData::LinkGo { provider }),
            (any::<i64>(), any::<bool>())
                .prop_map(|(id, confirm)| ButtonData::LinkAnswer { id, confirm }),
        ]
    }

    proptest! {
        #[test]
        fn every_button_survives_the_round_trip(b in button()) {
            prop_assert_eq!(ButtonData::parse(&b.to_string()), Ok(b));
        }

        #[test]
        fn any_button_data_parses_or_is_an_error_without_panicking(data in "\\PC{0,80}") {
            if let Ok(b) = ButtonData::parse(&data) {
                // What parses prints back to data that parses the same.
                prop_assert_eq!(ButtonData::parse(&b.to_string()), Ok(b));
            }
        }

        #[test]
        fn any_command_name_parses_or_is_an_error_without_panicking(name in "\\PC{0,40}") {
            if let Ok(c) = Command::parse(&name) {
                prop_assert_eq!(c.as_str(), name.as_str());
            }
        }
    }

    #[test]
    fn every_command_survives_the_round_trip() {
        for c in Command::ALL {
            assert_eq!(Command::parse(&c.to_string()), Ok(c));
        }
    }

    #[test]
    fn buttons_sent_by_earlier_versions_still_parse() {
        assert_eq!(
            ButtonData::parse("consent:agree:7"),
            Ok(ButtonData::consent(ConsentTarget::Required, true, 7))
        );
        assert_eq!(
            ButtonData::parse("consent:decline:7"),
            Ok(ButtonData::consent(ConsentTarget::Required, false, 7))
        );
    }

    #[test]
    fn forged_or_garbled_input_is_unknown() {
        for data in [
            "",
            "c",
            "c:history:maybe:1",
            "c:history:y:one",
            "c::y:1",
            "c:a:b:y:1",
            "erase:now",
            "link:go:",
            "link:go:a:b",
            "link:xyz",
        ] {
            assert!(ButtonData::parse(data).is_err(), "{data:?}");
        }
        for name in ["", "Start", "/start", "tool", "unknown"] {
            assert!(Command::parse(name).is_err(), "{name:?}");
        }
    }
}
