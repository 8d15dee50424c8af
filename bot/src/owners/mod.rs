//! Business owners and the accounts they link: invites, OAuth linking, token refresh and
//! revocation.

pub mod integrations;
pub mod oauth;
pub mod status;
