//! The route every message takes, whatever channel it came from. Read top to bottom:
//!
//! 1. **dedupe** — a delivery already handled for this bot is dropped (platforms retry);
//! 2. **identify** — the channel user becomes a subject, known by pseudonym from here on;
//! 3. **blocked** — a person who blocked the bot is marked unreachable, nothing is sent;
//! 4. **rights and consent** — /start, /privacy, /revoke, /help and consent buttons are always
//!    answered, with or without consent (and without a rate limit: withdrawing must never be
//!    harder than agreeing);
//! 5. **rate limit** — a person sending faster than `messages_per_minute` is asked to slow down;
//! 6. **consent gate** — without a grant of the current policy version the message is neither
//!    stored nor forwarded; the person gets the consent prompt instead;
//! 7. **assistant** — personal data in the message is replaced by placeholders (if that fails,
//!    nothing is sent), the redacted text goes to the LLM provider under the person's pseudonym,
//!    and the answer comes back with the placeholders restored.
//!
//! Every decision is written to the audit log (metadata only). Database trouble fails closed:
//! nothing is forwarded, and the adapter is told to deliver the message again later.

mod assistant;
mod dedupe;
mod replies;
mod rights;

use std::{collections::HashMap, num::NonZeroU32, sync::Arc};

use async_trait::async_trait;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sea_orm::{DatabaseConnection, DbErr};

use consentgate_adapters::{
    ChannelKind, HandleError, Inbound, InboundHandler, InboundKind, Outbound,
};

use crate::{
    audit::AuditLog,
    consent::{self, Policy},
    identity::{self, Subject},
    keys::Keys,
    llm::Provider,
    metrics::{ChannelLabel, Metrics, ReasonLabel},
    redact::Redactor,
};

/// A configured bot as the pipeline knows it.
#[derive(Clone, Debug)]
pub struct BotContext {
    pub id: i64,
    pub name: String,
    pub channel: ChannelKind,
    pub policy: Policy,
}

/// Why a message could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    #[error("no bot named `{0}` is configured")]
    UnknownBot(String),
}

impl From<PipelineError> for HandleError {
    fn from(err: PipelineError) -> Self {
        HandleError {
            retry: matches!(err, PipelineError::Database(_)),
            reason: err.to_string(),
        }
    }
}

/// One message in flight, with who sent it.
pub(crate) struct Turn<'a> {
    pub bot: &'a BotContext,
    pub subject: &'a Subject,
    pub inbound: &'a Inbound,
}

/// The message pipeline shared by every channel.
pub struct Pipeline {
    db: DatabaseConnection,
    keys: Arc<Keys>,
    bots: HashMap<String, BotContext>,
    provider: Box<dyn Provider>,
    redactor: Redactor,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl Pipeline {
    pub fn new(
        db: DatabaseConnection,
        keys: Arc<Keys>,
        bots: Vec<BotContext>,
        provider: Box<dyn Provider>,
        redactor: Redactor,
        metrics: Arc<Metrics>,
        messages_per_minute: u32,
    ) -> Self {
        let per_minute = NonZeroU32::new(messages_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(messages_per_minute.clamp(1, 10)).unwrap_or(NonZeroU32::MIN);
        Pipeline {
            audit: AuditLog::new(keys.audit.clone()),
            metrics,
            db,
            keys,
            bots: bots.into_iter().map(|b| (b.name.clone(), b)).collect(),
            provider,
            redactor,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
        }
    }

    /// Forgets rate-limit state of people who have been quiet and dedupe claims older than any
    /// platform redelivers; call now and then.
    pub async fn housekeeping(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        match dedupe::prune(&self.db).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(removed = n, "pruned old dedupe claims"),
            Err(err) => tracing::warn!(error = %err, "could not prune dedupe claims"),
        }
    }

    /// Handles one inbound message and returns the replies for its chat.
    pub async fn route(&self, inbound: &Inbound) -> Result<Vec<Outbound>, PipelineError> {
        let bot = self
            .bots
            .get(&inbound.bot)
            .ok_or_else(|| PipelineError::UnknownBot(inbound.bot.clone()))?;

        let channel = ChannelLabel {
            channel: inbound.channel.as_str(),
        };
        self.metrics.messages_in.get_or_create(&channel).inc();

        // 1. dedupe
        if !dedupe::claim(&self.db, bot.id, &inbound.update_key).await? {
            tracing::debug!(bot = %bot.name, "duplicate delivery ignored");
            return Ok(Vec::new());
        }
        let result = self.process(bot, inbound).await;
        match &result {
            Ok(replies) => {
                dedupe::complete(&self.db, bot.id, &inbound.update_key).await?;
                self.metrics
                    .messages_out
                    .get_or_create(&channel)
                    .inc_by(replies.len() as u64);
            }
            Err(_) => {
                // Let the platform's redelivery be handled, instead of being dropped as a duplicate.
                if let Err(err) = dedupe::release(&self.db, bot.id, &inbound.update_key).await {
                    tracing::error!(bot = %bot.name, error = %err, "could not release dedupe claim");
                }
            }
        }
        result
    }

    async fn process(
        &self,
        bot: &BotContext,
        inbound: &Inbound,
    ) -> Result<Vec<Outbound>, PipelineError> {
        // 2. identify
        let Some(user) = &inbound.sender.id else {
            // Channel posts and the like have no person behind them to answer.
            return Ok(Vec::new());
        };
        let subject = identity::identify(
            &self.db,
            &self.keys,
            bot.id,
            inbound.channel,
            user,
            &inbound.chat.id,
        )
        .await?;

        // 3. blocked
        if inbound.kind == InboundKind::Blocked {
            identity::set_reachable(&self.db, subject.id, false).await?;
            self.audit
                .record(
                    &self.db,
                    Some(bot.id),
                    Some(&subject.pseudonym),
                    "subject.blocked_bot",
                    serde_json::json!({"channel": inbound.channel.as_str()}),
                )
                .await?;
            return Ok(Vec::new());
        }
        if !subject.reachable {
            identity::set_reachable(&self.db, subject.id, true).await?;
        }

        let turn = Turn {
            bot,
            subject: &subject,
            inbound,
        };

        // 4. rights and consent: answered without consent
        match &inbound.kind {
            InboundKind::Command { name, .. } => return rights::command(self, &turn, name).await,
            InboundKind::ButtonPress { data } => return rights::button(self, &turn, data).await,
            InboundKind::Text | InboundKind::Blocked => {}
        }

        // 5. rate limit
        if self
            .limiter
            .check_key(&subject.pseudonym.as_str().to_string())
            .is_err()
        {
            self.audit
                .record(
                    &self.db,
                    Some(bot.id),
                    Some(&subject.pseudonym),
                    "message.rate_limited",
                    serde_json::json!({}),
                )
                .await?;
            self.metrics.rate_limited.inc();
            return Ok(vec![Outbound::text(replies::SLOW_DOWN)]);
        }

        // 6. consent gate
        let state = consent::state(
            &self.db,
            subject.id,
            bot.id,
            consent::PURPOSE_ASSISTANT,
            &bot.policy,
        )
        .await?;
        if !state.allows_processing() {
            self.audit.record(
                &self.db,
                Some(bot.id),
                Some(&subject.pseudonym),
                "message.held",
                serde_json::json!({"reason": "no_consent", "purpose": consent::PURPOSE_ASSISTANT}),
            )
            .await?;
            self.metrics
                .held
                .get_or_create(&ReasonLabel {
                    reason: "no_consent",
                })
                .inc();
            self.count_prompt(inbound.channel);
            return Ok(replies::consent_prompt(&bot.policy, &state));
        }

        // 7. assistant
        assistant::answer(self, &turn).await
    }
}

impl Pipeline {
    fn count_prompt(&self, channel: ChannelKind) {
        self.metrics
            .consent_prompts
            .get_or_create(&ChannelLabel {
                channel: channel.as_str(),
            })
            .inc();
    }
}

#[async_trait]
impl InboundHandler for Pipeline {
    async fn handle(&self, inbound: Inbound) -> Result<Vec<Outbound>, HandleError> {
        self.route(&inbound).await.map_err(|err| {
            tracing::error!(bot = %inbound.bot, channel = %inbound.channel, error = %err, "message not handled");
            err.into()
        })
    }
}
