//! A person's whole consent record, as `/export` and `consentgate consent show` give it: every
//! decision with the policy version it was made under, and what is in effect now on each bot
//! they decided on.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use consentgate_entity::{consent_events, policy_versions};

use super::{Choices, Policy, State, current_policy, history};

/// Every decision of one person, oldest first, and what stands now.
pub struct Record {
    pub events: Vec<consent_events::Model>,
    /// The policy versions the events were made under, by id.
    pub versions: HashMap<i64, policy_versions::Model>,
    /// Per bot the person decided on (in bot id order), where a policy is in effect.
    pub current: Vec<InEffect>,
}

/// What is in effect on one bot: the policy version and each purpose's state.
pub struct InEffect {
    pub bot_id: i64,
    pub policy: Policy,
    /// (purpose, state) in the policy's order.
    pub states: Vec<(String, State)>,
}

impl Record {
    pub async fn load(
        db: &impl ConnectionTrait,
        subject_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Record, DbErr> {
        let events = history(db, subject_id, None).await?;
        let version_ids: Vec<i64> = events.iter().map(|e| e.policy_version_id).collect();
        let versions = policy_versions::Entity::find()
            .filter(policy_versions::Column::Id.is_in(version_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let mut bots_seen: Vec<i64> = events.iter().map(|e| e.bot_id).collect();
        bots_seen.sort_unstable();
        bots_seen.dedup();
        let mut current = Vec::new();
        for bot_id in bots_seen {
            let Some(policy) = current_policy(db, bot_id, now).await? else {
                continue;
            };
            let choices = Choices::load(db, subject_id, bot_id).await?;
            let states = policy
                .purposes
                .iter()
                .map(|p| (p.name.clone(), choices.state(p)))
                .collect();
            current.push(InEffect {
                bot_id,
                policy,
                states,
            });
        }
        Ok(Record {
            events,
            versions,
            current,
        })
    }
}
