//! Recording what is about to leave for a service other than the LLM provider (a tool's
//! service, the embeddings service): the audit entry and the egress-ledger row, in one commit,
//! with the person's consent read again under their row lock — and, where the egress needs
//! them, the purpose it rests on and the link it goes through. Nothing is recorded, and so
//! nothing may be sent, when any of them changed meanwhile.

use consentgate_entity::{egress_ledger, integrations};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

use super::{Pipeline, PipelineError, Turn};
use crate::{
    audit::{Action, Pending},
    consent::Choices,
    owners::status::Status,
};

/// What is about to leave, and what it rests on.
pub(super) struct Egress {
    pub action: Action,
    pub detail: serde_json::Value,
    /// The egress ledger's `provider` and `model`.
    pub recipient: (String, String),
    pub sha256: String,
    /// An optional purpose the person must still have granted.
    pub purpose: Option<&'static str>,
    /// A link that must still be active.
    pub link: Option<i64>,
    /// A tool (`bot_tools` id) that must still be enabled.
    pub tool: Option<i64>,
}

/// What became of the record.
pub(super) enum Recorded {
    Yes,
    /// A withdrawal, refusal or erasure came first.
    ConsentChanged,
    /// The link was revoked or broke meanwhile, or the tool was removed.
    Unlinked,
}

const NOT_NOW: &str = "consent changed before the egress";
const UNLINKED: &str = "link revoked before the egress";

pub(super) async fn record(
    p: &Pipeline,
    t: &Turn<'_>,
    egress: Egress,
) -> Result<Recorded, PipelineError> {
    let (bot_id, subject_id) = (t.bot.id, t.subject.id);
    let entry = Pending {
        bot_id: Some(bot_id),
        subject: Some(t.subject.pseudonym.clone()),
        action: egress.action,
        detail: egress.detail,
    };
    let ledger = egress_ledger::ActiveModel {
        subject_id: Set(subject_id),
        bot_id: Set(bot_id),
        provider: Set(egress.recipient.0),
        model: Set(egress.recipient.1),
        payload_sha256: Set(egress.sha256),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    };
    let (policy, purpose, link, tool) =
        (t.policy.clone(), egress.purpose, egress.link, egress.tool);
    let written = p
        .committer
        .write_recorded(entry, move |txn| {
            let (policy, ledger) = (policy.clone(), ledger.clone());
            Box::pin(async move {
                crate::consent::lock_person(txn, subject_id).await?;
                let allowed = crate::consent::may_process_now(txn, subject_id, bot_id, &policy)
                    .await?
                    && match purpose {
                        None => true,
                        Some(purpose) => Choices::load(txn, subject_id, bot_id)
                            .await?
                            .allows(&policy, purpose),
                    };
                if !allowed {
                    return Err(sea_orm::DbErr::Custom(NOT_NOW.into()));
                }
                if let Some(tool) = tool
                    && consentgate_entity::bot_tools::Entity::find_by_id(tool)
                        .one(txn)
                        .await?
                        .is_none()
                {
                    // Removed while the answer was being written.
                    return Err(sea_orm::DbErr::Custom(UNLINKED.into()));
                }
                if let Some(link) = link {
                    let active = integrations::Entity::find_by_id(link)
                        .filter(integrations::Column::Status.eq(Status::Active.as_str()))
                        .one(txn)
                        .await?
                        .is_some();
                    if !active {
                        return Err(sea_orm::DbErr::Custom(UNLINKED.into()));
                    }
                }
                egress_ledger::Entity::insert(ledger)
                    .exec_without_returning(txn)
                    .await?;
                Ok(())
            })
        })
        .await;
    match written {
        Ok(()) => Ok(Recorded::Yes),
        Err(sea_orm::DbErr::Custom(why)) if why == NOT_NOW => Ok(Recorded::ConsentChanged),
        Err(sea_orm::DbErr::Custom(why)) if why == UNLINKED => Ok(Recorded::Unlinked),
        Err(err) => Err(err.into()),
    }
}
