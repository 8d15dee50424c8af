//! Business owners and the accounts they link: invites, OAuth linking, token refresh and
//! revocation.

pub mod integrations;
mod invites;
pub mod linking;
pub mod oauth;
mod refresh;
mod revoke;
pub mod status;
