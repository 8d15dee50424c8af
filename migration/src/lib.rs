//! Schema migrations for ConsentGate: one dated file per change, each with `up` and `down`, run
//! unchanged on SQLite and PostgreSQL. `consentgate serve` applies pending ones at start;
//! `consentgate migrate up|down|status` drives them by hand.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_spine;
mod m20261123_000002_dedupe_lease;
mod m20261123_000003_audit_chain;
mod m20261123_000004_rights;
mod m20261123_000005_integrations;
mod m20261201_000006_audit_head_time;
mod m20261202_000007_outbox;
mod m20261202_000008_conversation_chat;
mod m20261202_000009_conversation_names;
mod m20261203_000010_console;
mod m20261203_000011_console_links;
mod m20261203_000012_console_indexes;
mod m20261203_000013_daily_counts;
mod m20261203_000014_bot_settings;
mod m20261203_000015_allowance;
mod m20261203_000016_knowledge;
mod m20261203_000017_tools;
mod m20261203_000018_embeddings;

/// A foreign key that deletes the row with what it points to (a person's rows go with them).
pub(crate) fn fk(
    name: &str,
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(from.0, from.1)
        .to(to.0, to.1)
        .on_delete(ForeignKeyAction::Cascade)
        .take()
}

/// The ordered list of every migration ConsentGate has.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_spine::Migration),
            Box::new(m20261123_000002_dedupe_lease::Migration),
            Box::new(m20261123_000003_audit_chain::Migration),
            Box::new(m20261123_000004_rights::Migration),
            Box::new(m20261123_000005_integrations::Migration),
            Box::new(m20261201_000006_audit_head_time::Migration),
            Box::new(m20261202_000007_outbox::Migration),
            Box::new(m20261202_000008_conversation_chat::Migration),
            Box::new(m20261202_000009_conversation_names::Migration),
            Box::new(m20261203_000010_console::Migration),
            Box::new(m20261203_000011_console_links::Migration),
            Box::new(m20261203_000012_console_indexes::Migration),
            Box::new(m20261203_000013_daily_counts::Migration),
            Box::new(m20261203_000014_bot_settings::Migration),
            Box::new(m20261203_000015_allowance::Migration),
            Box::new(m20261203_000016_knowledge::Migration),
            Box::new(m20261203_000017_tools::Migration),
            Box::new(m20261203_000018_embeddings::Migration),
        ]
    }
}
