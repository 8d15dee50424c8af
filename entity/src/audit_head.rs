//! The head of the audit chain: one row (id 1) with the last sequence number and hash. Appenders
//! lock this row, which is what keeps concurrent writers from forking the chain.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_head")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    pub seq: i64,
    pub hash: String,
    /// The time of the last entry (absent in chains written before it was kept here).
    pub at: Option<DateTimeUtc>,
    /// The sequence number of the entry `at` belongs to: an older binary moves `seq` without
    /// `at`, and then the two disagree.
    pub at_seq: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
