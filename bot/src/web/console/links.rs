//! Owners sign in from their chat: `/panel` makes a one-time link (ten minutes, once; only its
//! SHA-256 is stored). Opening it shows a button; pressing it (a POST, so a link preview cannot
//! spend it) signs the owner in, to see only the bots they own.

use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use chrono::{Duration, Utc};
use maud::html;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};
use serde::Deserialize;
use serde_json::json;

use consentgate_entity::console_links;

use super::{Console, page, problem, unavailable};
use crate::audit::Action;
use crate::privacy::digest::{random_token, sha256_hex};

/// How long a sign-in link works.
pub const LASTS: Duration = Duration::minutes(10);

/// A sign-in link for the owner `pseudonym`, asked for on bot `bot_id`: the path to send
/// (`/console/login/link/{token}`).
pub async fn issue(db: &DatabaseConnection, bot_id: i64, pseudonym: &str) -> Result<String, DbErr> {
    let token = random_token();
    let now = Utc::now();
    console_links::ActiveModel {
        token_sha256: Set(sha256_hex(&token)),
        principal: Set(format!("owner:{pseudonym}")),
        bot_id: Set(bot_id),
        created_at: Set(now),
        expires_at: Set(now + LASTS),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(format!("/console/login/link/{token}"))
}

fn gone() -> Response {
    problem(
        StatusCode::GONE,
        "This link no longer works",
        "Sign-in links work once, for ten minutes. Send /panel in your chat with the assistant for a new one.",
        None,
    )
}

/// The page a link opens: a button to sign in (the link is not spent by looking at it).
pub(super) async fn open(State(c): State<Console>, Path(token): Path<String>) -> Response {
    let live = console_links::Entity::find_by_id(sha256_hex(&token))
        .one(&c.i.db)
        .await;
    match live {
        Ok(Some(l)) if l.used_at.is_none() && l.expires_at > Utc::now() => page(
            StatusCode::OK,
            "Sign in to the console",
            None,
            html! {
                p { "You asked for this link in your chat with the assistant. It works once, for ten minutes." }
                form method="post" action=(format!("/console/login/link/{token}")) {
                    button type="submit" class="primary" autofocus { "Sign in" }
                }
            },
        ),
        Ok(_) => gone(),
        Err(_) => unavailable(),
    }
}

#[derive(Deserialize)]
pub(super) struct Empty {}

/// Spends the link (once, on every replica) and signs the owner in.
pub(super) async fn use_link(
    State(c): State<Console>,
    headers: axum::http::HeaderMap,
    Path(token): Path<String>,
    Form(_): Form<Empty>,
) -> Response {
    if super::cross_site(&headers) {
        return problem(
            StatusCode::FORBIDDEN,
            "Refused",
            "Sign in from the link itself.",
            None,
        );
    }
    let digest = sha256_hex(&token);
    let now = Utc::now();
    let spent = console_links::Entity::update_many()
        .col_expr(console_links::Column::UsedAt, Expr::value(Some(now)))
        .filter(console_links::Column::TokenSha256.eq(digest.clone()))
        .filter(console_links::Column::UsedAt.is_null())
        .filter(console_links::Column::ExpiresAt.gt(now))
        .exec(&c.i.db)
        .await;
    match spent {
        Ok(r) if r.rows_affected == 1 => {}
        Ok(_) => {
            c.audit(Action::ConsoleSignInFailed, json!({"step": "link"}))
                .await;
            return gone();
        }
        Err(_) => return unavailable(),
    }
    let Ok(Some(link)) = console_links::Entity::find_by_id(digest).one(&c.i.db).await else {
        return unavailable();
    };
    c.sign_in_owner(&link.principal, "link").await
}

/// Forgets links that ended more than a day ago.
pub async fn prune(db: &DatabaseConnection) -> Result<u64, DbErr> {
    Ok(console_links::Entity::delete_many()
        .filter(console_links::Column::ExpiresAt.lt(Utc::now() - Duration::days(1)))
        .exec(db)
        .await?
        .rows_affected)
}
