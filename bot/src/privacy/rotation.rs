//! `consentgate keys rotate`: re-encrypts every stored secret with the first key of
//! `FERNET_KEYS`. Put the new key first and keep the old ones after it; run this; then the old
//! keys can go. Batched by primary key, and resumable: values already under the first key are
//! left alone, so running it again (after an interruption) only does what is left.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, Value as SqlValue};

use crate::privacy::keys::Keys;

/// Rows read per batch.
pub const BATCH: i64 = 500;

/// Every Fernet-encrypted column: (table, columns).
pub const ENCRYPTED: &[(&str, &[&str])] = &[
    ("bot_tools", &["settings_enc"]),
    ("channel_identities", &["user_id_enc", "chat_id_enc"]),
    ("conversation_messages", &["text_enc", "names_enc"]),
    ("integrations", &["access_token_enc", "refresh_token_enc"]),
    ("kb_passages", &["text_enc", "embedding_enc"]),
    ("oauth_states", &["chat_id_enc", "verifier_enc"]),
    ("payments", &["charge_id_enc"]),
];

/// What happened to one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    /// Values re-encrypted with the first key.
    pub rotated: u64,
    /// Values already under the first key.
    pub current: u64,
    /// Values no configured key opens (left as they are).
    pub unreadable: u64,
}

fn placeholder(db: &DatabaseConnection, n: usize) -> String {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

/// Rotates every table; `dry_run` only counts.
pub async fn rotate(
    db: &DatabaseConnection,
    keys: &Keys,
    dry_run: bool,
) -> Result<Vec<TableReport>, DbErr> {
    let backend = db.get_database_backend();
    let mut out = Vec::new();
    for (table, columns) in ENCRYPTED {
        let mut report = TableReport {
            table,
            ..Default::default()
        };
        let mut after = 0i64;
        loop {
            let select = format!(
                "SELECT id, {} FROM {table} WHERE id > {} ORDER BY id LIMIT {BATCH}",
                columns.join(", "),
                placeholder(db, 1)
            );
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    &select,
                    [after.into()],
                ))
                .await?;
            if rows.is_empty() {
                break;
            }
            for row in &rows {
                let id: i64 = row.try_get("", "id")?;
                after = id;
                for column in *columns {
                    let Some(token): Option<String> = row.try_get("", column)? else {
                        continue;
                    };
                    if keys.fernet.is_current(&token) {
                        report.current += 1;
                        continue;
                    }
                    let Ok(plain) = keys.fernet.decrypt(&token) else {
                        report.unreadable += 1;
                        continue;
                    };
                    if dry_run {
                        report.rotated += 1;
                        continue;
                    }
                    let update = format!(
                        "UPDATE {table} SET {column} = {} WHERE id = {} AND {column} = {}",
                        placeholder(db, 1),
                        placeholder(db, 2),
                        placeholder(db, 3)
                    );
                    let done = db
                        .execute_raw(Statement::from_sql_and_values(
                            backend,
                            &update,
                            [
                                SqlValue::from(keys.fernet.encrypt(&plain)),
                                id.into(),
                                token.into(),
                            ],
                        ))
                        .await?
                        .rows_affected();
                    // 0: the value changed meanwhile (written anew, so already current).
                    if done == 1 {
                        report.rotated += 1;
                    } else {
                        report.current += 1;
                    }
                }
            }
        }
        out.push(report);
    }
    Ok(out)
}

pub fn render(reports: &[TableReport], dry_run: bool) -> String {
    let verb = if dry_run {
        "would re-encrypt"
    } else {
        "re-encrypted"
    };
    let mut s = String::new();
    for r in reports {
        s.push_str(&format!(
            "{:<22} {verb} {:>7}, already current {:>7}, unreadable {:>5}\n",
            r.table, r.rotated, r.current, r.unreadable
        ));
    }
    s
}
