//! `consentgate payments refund CHARGE_ID`: refunds a Telegram Stars payment at Telegram
//! (`refundStarPayment`) and marks it refunded here, audited; the person is told.

use anyhow::{Context, Result};
use chrono::Utc;
use clap::Subcommand;
use consentgate_adapters::PlatformId;

use crate::{app::App, privacy::identity, rights::payments};

#[derive(Subcommand, Debug)]
pub enum PaymentsAction {
    /// Refund a payment, by the telegram_payment_charge_id from the person's /export or
    /// Telegram.
    Refund {
        /// The payment's telegram_payment_charge_id.
        charge_id: String,
    },
}

pub(super) async fn run(app: &App, action: PaymentsAction) -> Result<()> {
    let PaymentsAction::Refund { charge_id } = action;
    print!("{}", refund(app, &charge_id).await?);
    Ok(())
}

/// Refunds at Telegram, then records it; returns what the command prints.
pub async fn refund(app: &App, charge_id: &str) -> Result<String> {
    let payment = payments::find(&app.db, &app.keys, charge_id)
        .await?
        .context("no payment has this charge id")?;
    anyhow::ensure!(
        payment.refunded_at.is_none(),
        "this payment was refunded already"
    );
    let channel = app
        .notifier
        .channel(payment.bot_id)
        .context("the payment's bot is not configured here")?;
    let identities = identity::identities_of(&app.db, &app.keys, payment.subject_id).await?;
    let user = identities
        .iter()
        .find(|i| i.bot_id == payment.bot_id && i.user_id.is_some())
        .and_then(|i| i.user_id.clone())
        .context("the payer's Telegram id is no longer known here")?;
    channel
        .refund_stars(&PlatformId::new(user), charge_id)
        .await
        .map_err(|e| anyhow::anyhow!("Telegram did not refund it: {e}"))?;
    let refunded = payments::mark_refunded(
        &app.db,
        &app.keys,
        &app.audit,
        charge_id,
        "admin",
        Utc::now(),
    )
    .await?;
    let told = match &refunded {
        Some(row) => {
            let chat = identities
                .iter()
                .find(|i| i.bot_id == payment.bot_id)
                .and_then(|i| i.chat_id.clone());
            match chat {
                Some(chat) => {
                    app.notifier
                        .tell_chat(
                            payment.bot_id,
                            &chat,
                            &crate::pipeline::refund_notice(&row.plan),
                        )
                        .await
                }
                None => false,
            }
        }
        None => false,
    };
    Ok(format!(
        "refunded {} Stars for plan {} (payment {}); {} unused requests removed; person told: {}\n",
        payment.stars,
        payment.plan,
        payment.id,
        (payment.requests - payment.used).max(0),
        if told { "yes" } else { "no" }
    ))
}
