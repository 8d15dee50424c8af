//! A Telegram Stars payment for a plan: the requests it added, how many were used, until when,
//! and whether it was refunded. Telegram's `telegram_payment_charge_id` is kept Fernet-encrypted
//! (a refund needs it) and found by a keyed HMAC index.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub subject_id: i64,
    pub bot_id: i64,
    /// The plan's name in the configuration.
    pub plan: String,
    pub stars: i32,
    /// Requests the plan added, and how many of them were used.
    pub requests: i32,
    pub used: i32,
    #[sea_orm(column_type = "Text")]
    pub charge_id_enc: String,
    #[sea_orm(unique)]
    pub charge_index: String,
    pub paid_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub refunded_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
