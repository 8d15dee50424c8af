//! Channel adapters and the one message shape they share with the pipeline.
//!
//! Every channel turns its own JSON into an [`Inbound`] and turns an [`Outbound`] back into its
//! own API calls. Adapters decide nothing about consent or storage: they hand each `Inbound` to an
//! [`InboundHandler`] (the pipeline) and deliver whatever replies it returns.

pub mod model;
pub mod outbound;
pub mod telegram;
pub mod telegram_webhook;
pub mod text;
pub mod webchat;
pub mod whatsapp;

pub use model::{
    Button, Channel, ChannelKind, Chat, Document, HandleError, Inbound, InboundHandler,
    InboundKind, Outbound, PlatformId, SendError, Sender,
};
