//! The state of a linked account, as stored in `integrations.status` and shown to owners and
//! admins, and what the provider said when asked to revoke it.

use std::fmt;

use serde::Serialize;

/// Where a linked account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Tokens held, waiting for the owner to confirm in their chat that the account linked is
    /// theirs; not used, not refreshed.
    Pending,
    /// Tokens held and refreshed.
    Active,
    /// The provider refused a refresh: the owner must link again.
    Broken,
    /// Ended by the owner, an admin or an erasure; its tokens are deleted.
    Revoked,
}

/// A status name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an integration status; expected pending, active, broken or revoked")]
pub struct UnknownStatus(pub String);

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Active,
        Status::Broken,
        Status::Revoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Broken => "broken",
            Status::Revoked => "revoked",
        }
    }

    pub fn parse(name: &str) -> Result<Status, UnknownStatus> {
        Status::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownStatus(name.to_string()))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the provider was told when a link was revoked (RFC 7009).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Remote {
    /// The provider revoked the token.
    Revoked,
    /// The provider has no revocation endpoint, or no token was left to revoke.
    NotSupported,
    /// The provider could not be reached or refused; the tokens are deleted here anyway.
    Failed,
    /// It had been revoked before.
    AlreadyRevoked,
    /// Not asked: a new link of the same account replaced it, and revoking the old token at
    /// the provider could end the new grant too.
    Skipped,
}

impl Remote {
    pub fn as_str(self) -> &'static str {
        match self {
            Remote::Revoked => "revoked",
            Remote::NotSupported => "not_supported",
            Remote::Failed => "failed",
            Remote::AlreadyRevoked => "already_revoked",
            Remote::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_status_survives_the_round_trip_and_serializes_as_its_name() {
        for s in Status::ALL {
            assert_eq!(Status::parse(&s.to_string()), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for r in [
            Remote::Revoked,
            Remote::NotSupported,
            Remote::Failed,
            Remote::AlreadyRevoked,
            Remote::Skipped,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }

    proptest! {
        #[test]
        fn any_name_parses_or_is_an_error_without_panicking(name in "\\PC{0,20}") {
            if let Ok(s) = Status::parse(&name) {
                prop_assert_eq!(s.as_str(), name.as_str());
            }
        }
    }
}
