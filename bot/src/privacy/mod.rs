//! Privacy: the keys that protect what is stored, the pseudonyms and blind indexes that stand in
//! for people, the subject behind each channel user, and re-encryption under a new key.

pub mod digest;
pub mod files;
pub mod identity;
pub mod keys;
pub mod pseudonym;
pub mod rotation;
