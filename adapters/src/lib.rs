//! Channel adapters and the one message shape they share with the pipeline.
//!
//! Every channel turns its own JSON into an [`Inbound`] and turns an [`Outbound`] back into its
//! own API calls. Adapters decide nothing about consent or storage: they hand each `Inbound` to an
//! [`InboundHandler`] (the pipeline) and deliver whatever replies it returns.

pub mod body;
pub mod client;
pub mod delivery;
pub mod format;
pub mod media;
pub mod model;
pub mod outbound;
pub mod progress;
pub mod refusals;
pub mod shutdown;
pub mod telegram;
pub mod text;
pub mod webchat;
pub mod whatsapp;

pub use model::{
    Button, Channel, ChannelKind, Chat, DeliveryStatus, Document, FailureReason, Format,
    HandleError, Inbound, InboundHandler, InboundKind, Invoice, Media, MediaError, MediaKind,
    Outbound, PlatformId, SendError, Sender,
};
pub use progress::{Progress, Stage, Writing};
pub use shutdown::{Shutdown, ShutdownTrigger};

/// Equality that takes the same time wherever the inputs differ, for secrets (webhook tokens,
/// verify tokens, key hashes): the time taken says nothing about how much of a guess was right.
pub fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `'sha256-…'`: how a Content-Security-Policy names one inline script or style, so a page can
/// allow exactly its own and nothing else.
pub fn csp_hash(inline: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(inline.as_bytes()))
    )
}
