//! Dedupe: a platform update is handled once per bot, however often the platform delivers it.
//! A row is a claim on the update; `completed` says it was handled.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "processed_updates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub bot_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub update_key: String,
    /// When the claim was taken (or taken over).
    pub processed_at: DateTimeUtc,
    /// False while the update is being handled; a stale incomplete claim can be taken over.
    pub completed: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
