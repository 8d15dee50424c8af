//! An OAuth `state` in flight: random, single-use, expiring, bound to (bot, chat, person,
//! provider). Only its SHA-256 is stored; the PKCE verifier and the chat id are Fernet-encrypted.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oauth_states")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub state_sha256: String,
    pub bot_id: i64,
    pub subject_id: i64,
    pub chat_id_enc: String,
    pub provider: String,
    pub verifier_enc: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
