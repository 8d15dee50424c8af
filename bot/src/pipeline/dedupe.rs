//! Dedupe: an atomic insert of (bot, update key). Whoever inserts first handles the update; a
//! platform's retry, or a second replica receiving the same update, finds the row and stops.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set, sea_query::OnConflict,
};

use consentgate_entity::processed_updates::{self, Column};

/// Claims an update. `true` means this call is the first and must handle it.
pub async fn claim(db: &DatabaseConnection, bot_id: i64, key: &str) -> Result<bool, DbErr> {
    let row = processed_updates::ActiveModel {
        bot_id: Set(bot_id),
        update_key: Set(key.to_string()),
        processed_at: Set(Utc::now()),
    };
    let inserted = processed_updates::Entity::insert(row)
        .on_conflict(
            OnConflict::columns([Column::BotId, Column::UpdateKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
}

/// Gives a claim back after handling failed, so the redelivery is processed.
pub async fn release(db: &DatabaseConnection, bot_id: i64, key: &str) -> Result<(), DbErr> {
    processed_updates::Entity::delete_many()
        .filter(Column::BotId.eq(bot_id))
        .filter(Column::UpdateKey.eq(key))
        .exec(db)
        .await?;
    Ok(())
}
