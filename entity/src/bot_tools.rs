//! A tool an owner enabled for a bot: the name the model calls it by, its kind (e.g.
//! `sheets.read`, `sheets.append`, `hubspot.contact`), the owner's description, and what it points
//! at (spreadsheet, range, columns) as Fernet-encrypted JSON. It works only while the bot has an
//! active link to the kind's provider.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "bot_tools")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub bot_id: i64,
    pub name: String,
    pub kind: String,
    pub description: String,
    pub settings_enc: String,
    /// The owner (subject id) who enabled it.
    pub created_by: i64,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
