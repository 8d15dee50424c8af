//! Plans in Telegram Stars. `/plans` sends an invoice per plan to someone who may use the
//! assistant; Telegram's pre-checkout query is answered at once (yes only for a plan offered
//! now, at its price in Stars, to someone who may use the assistant and is not being erased);
//! the payment is recorded and adds the plan's requests for its days; a refund Telegram reports
//! takes back what was left. Rights commands never cost a request.

use chrono::Utc;
use consentgate_adapters::{InboundKind, Invoice, Outbound};

use super::{Pipeline, PipelineError, Turn, input::Command, replies};
use crate::consent::Choices;
use crate::rights::{allowance, payments};

/// Payments and `/plans`; `None` for anything else.
pub(super) async fn input(
    p: &Pipeline,
    t: &Turn<'_>,
) -> Result<Option<Vec<Outbound>>, PipelineError> {
    match &t.inbound.kind {
        InboundKind::Command { name, .. } if Command::parse(name) == Ok(Command::Plans) => {
            plans(p, t).await.map(Some)
        }
        InboundKind::Command { name, .. } if Command::parse(name) == Ok(Command::Paysupport) => {
            Ok(Some(vec![Outbound::text(replies::PAYSUPPORT)]))
        }
        InboundKind::PreCheckout {
            query_id,
            payload,
            currency,
            total,
        } => {
            pre_checkout(p, t, query_id, payload, currency, *total).await?;
            Ok(Some(Vec::new()))
        }
        InboundKind::Paid {
            payload,
            currency,
            total,
            charge_id,
        } => paid(p, t, payload, currency, *total, charge_id)
            .await
            .map(Some),
        InboundKind::Refunded { charge_id } => {
            let refunded = payments::mark_refunded(
                &p.db,
                &p.keys,
                &p.audit,
                charge_id,
                "telegram",
                Utc::now(),
            )
            .await?;
            Ok(Some(match refunded {
                Some(row) => vec![Outbound::text(replies::refunded(&row.plan))],
                None => Vec::new(),
            }))
        }
        _ => Ok(None),
    }
}

/// `/plans`: what is offered, and an invoice for each plan.
async fn plans(p: &Pipeline, t: &Turn<'_>) -> Result<Vec<Outbound>, PipelineError> {
    let offered = &p.allowance.plans;
    if offered.is_empty() || !t.inbound.channel.has_stars() {
        return Ok(vec![Outbound::text(replies::NO_PLANS)]);
    }
    if !t.inbound.chat.private {
        return Ok(vec![replies::only_in_private(t.inbound)]);
    }
    if t.subject.purge_after.is_some() {
        return Ok(vec![Outbound::text(replies::NO_PLANS)]);
    }
    let choices = Choices::load(&p.db, t.subject.id, t.bot.id).await?;
    if !choices.may_process(t.policy) {
        return Ok(vec![Outbound::text(replies::PLANS_NEED_CONSENT)]);
    }
    let active = allowance::active_plans(&p.db, t.subject.id, t.bot.id, Utc::now()).await?;
    let mut out = vec![Outbound::text(replies::plans(offered, &active))];
    for plan in offered {
        out.push(Outbound {
            invoice: Some(Invoice {
                title: plan.title.clone(),
                description: format!(
                    "{} more requests for the assistant, for {} days.",
                    plan.requests, plan.days
                ),
                payload: payments::payload(&plan.name),
                stars: plan.stars,
            }),
            ..Default::default()
        });
    }
    Ok(out)
}

/// Telegram asks whether the payment may go ahead: answered within its ten seconds.
async fn pre_checkout(
    p: &Pipeline,
    t: &Turn<'_>,
    query_id: &str,
    payload: &str,
    currency: &str,
    total: u32,
) -> Result<(), PipelineError> {
    let plan = payments::plan_of(payload).and_then(|name| p.allowance.plan(name));
    let refusal = match plan {
        _ if t.subject.purge_after.is_some() => Some(replies::PAYMENT_WHILE_ERASING),
        None => Some(replies::PLAN_GONE),
        Some(plan) if currency != "XTR" || total != plan.stars => Some(replies::PLAN_GONE),
        Some(_) => {
            let choices = Choices::load(&p.db, t.subject.id, t.bot.id).await?;
            (!choices.may_process(t.policy)).then_some(replies::PLANS_NEED_CONSENT)
        }
    };
    let Some(channel) = p.integrations.notifier.channel(t.bot.id) else {
        return Ok(());
    };
    if let Err(err) = channel.answer_pre_checkout(query_id, refusal).await {
        tracing::warn!(error = %err, "pre-checkout query not answered");
    }
    Ok(())
}

/// The payment went through: recorded, and the person told what they have now.
async fn paid(
    p: &Pipeline,
    t: &Turn<'_>,
    payload: &str,
    currency: &str,
    total: u32,
    charge_id: &str,
) -> Result<Vec<Outbound>, PipelineError> {
    let offered = payments::plan_of(payload)
        .and_then(|name| p.allowance.plan(name))
        .filter(|_| currency == "XTR")
        .cloned();
    // Checked at pre-checkout; a plan removed in between (or a replica configured otherwise) is
    // recorded with no requests, so that it can be refunded.
    let known = offered.is_some();
    let plan = offered.unwrap_or_else(|| crate::config::PlanSettings {
        name: payments::plan_of(payload)
            .unwrap_or("unknown")
            .chars()
            .take(64)
            .collect(),
        title: "a plan no longer offered".into(),
        stars: total,
        requests: 0,
        days: 1,
    });
    let plan = &plan;
    let recorded = payments::record(
        &p.db,
        &p.keys,
        &p.audit,
        payments::Payment {
            subject_id: t.subject.id,
            pseudonym: &t.subject.pseudonym,
            bot_id: t.bot.id,
            plan,
            stars: total,
            charge_id,
        },
        Utc::now(),
    )
    .await?;
    Ok(match recorded {
        Some(row) if known => vec![Outbound::text(replies::paid(plan, row.expires_at))],
        Some(_) => {
            tracing::warn!(
                "a payment for a plan not offered here; refund it with `consentgate payments refund`"
            );
            vec![Outbound::text(replies::PLAN_GONE_AFTER_PAYMENT)]
        }
        None => Vec::new(),
    })
}
