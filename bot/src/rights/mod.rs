//! A person's rights over their data, and the limits the gateway keeps on its own: export,
//! erasure, retention, the stored conversation (kept only with `history`), and notices sent
//! outside a reply.

pub mod allowance;
pub mod conversation;
pub mod erasure;
pub mod export;
pub mod notify;
pub mod payments;
pub mod retention;
