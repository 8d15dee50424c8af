//! The route every message takes, whatever channel it came from. Read top to bottom:
//!
//! 1. **dedupe** — a delivery already handled for this bot is dropped (platforms retry);
//! 2. **identify** — the channel user becomes a subject, known by pseudonym from here on;
//! 3. **blocked** — a person who blocked the bot is marked unreachable, nothing is sent;
//! 4. **erasure pending** — after `/delete`, nothing is processed: only `/restore`, `/export`
//!    and `/help` are answered until the purge;
//! 5. **rights and consent** — /start, /privacy, /consent, /revoke, /export, /delete, /stop,
//!    /help, consent buttons and the words STOP and START are always answered, with or without
//!    consent (and without a rate limit: withdrawing must never be harder than agreeing);
//! 6. **rate limit** — a person sending faster than `messages_per_minute` is asked to slow down;
//! 7. **renewal** — grants whose purpose text changed in a new policy version expire (recorded),
//!    and the person is told first;
//! 8. **consent gate** — without a grant of every required purpose for its current text the
//!    message is neither stored nor forwarded; the person gets the consent prompt instead;
//! 9. **assistant** — personal data in the message (and in the stored conversation, for people
//!    who chose `history`) is replaced by placeholders (if that fails, nothing is sent), the
//!    redacted text goes to the LLM provider under the person's pseudonym, and the answer comes
//!    back with the placeholders restored. Only with `history` is the exchange stored.
//!
//! Every decision is written to the audit log (metadata only). Database trouble fails closed:
//! nothing is forwarded, and the adapter is told to deliver the message again later.

mod assistant;
pub mod buttons;
mod dedupe;
mod delivery;
mod egress;
mod erasure;
mod gate;
mod identities;
pub mod input;
pub(crate) mod knowledge;
pub mod outbox;
mod owners;
mod payments;
mod pictures;

/// What a person is told when their payment for `plan` was refunded.
pub fn refund_notice(plan: &str) -> String {
    replies::refunded(plan)
}
mod replies;
mod rights;
mod tools;
mod voice;

use std::{
    collections::HashMap,
    num::NonZeroU32,
    panic::AssertUnwindSafe,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use futures::FutureExt;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr};

use consentgate_adapters::{
    ChannelKind, HandleError, Inbound, InboundHandler, InboundKind, Outbound, Progress,
};

use crate::audit::Action;
use crate::{
    app::metrics::{ChannelLabel, Metrics},
    audit::{AuditLog, Pending},
    config::RetentionSettings,
    consent::{self, Choices, Policy},
    llm::Providers,
    owners::integrations::Integrations,
    privacy::digest,
    privacy::identity::{self, Subject},
    privacy::keys::Keys,
    privacy::pseudonym::Pseudonym,
    redact::Redactor,
    store::commit::{Committer, Flush, WriteLock},
};

/// A configured bot as the pipeline knows it.
#[derive(Clone, Debug)]
pub struct BotContext {
    pub id: i64,
    pub name: String,
    pub channel: ChannelKind,
    /// The business the bot belongs to: people, their pseudonyms, exports, erasures and consent
    /// are shared between bots of one business only.
    pub business: String,
}

/// Why a message could not be handled.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    #[error("no bot named `{0}` is configured")]
    UnknownBot(String),
    #[error("bot `{0}` has no policy in effect")]
    NoPolicy(String),
    #[error("handling the message panicked")]
    Panicked,
    /// Another delivery of the same update is being handled (by this process or another), or
    /// was when a process died: the platform is to deliver it again later.
    #[error("the same update is being handled elsewhere; deliver it again later")]
    Busy,
}

impl From<PipelineError> for HandleError {
    fn from(err: PipelineError) -> Self {
        HandleError {
            retry: matches!(
                err,
                PipelineError::Database(_) | PipelineError::Panicked | PipelineError::Busy
            ),
            reason: err.to_string(),
        }
    }
}

/// One message in flight, with who sent it.
pub(crate) struct Turn<'a> {
    pub bot: &'a BotContext,
    pub subject: &'a Subject,
    pub inbound: &'a Inbound,
    /// The delivery's dedupe key, as stored ([`digest::delivery_key`]).
    pub delivery: &'a str,
    /// The policy version in effect.
    pub policy: &'a Policy,
    /// Set once the delivery's dedupe claim was marked handled, together with a decision.
    pub completed: &'a AtomicBool,
    /// The person's turn ([`Pipeline::person_lock`]), given up once the forward is recorded so
    /// the provider's answer is not waited for.
    pub order: &'a PersonTurn,
    /// Where the assistant's answer shows as it is written.
    pub progress: &'a Progress,
    /// A request of the person's allowance was spent for this message already (by its voice
    /// note's transcription): its forward spends none.
    pub spent: AtomicBool,
}

/// Held while a person's message is decided: their next message (or withdrawal) waits for it.
pub(crate) type PersonTurn = std::sync::Mutex<Option<tokio::sync::OwnedMutexGuard<()>>>;

/// How many locks people's turns are spread over (two people rarely share one, and if they do
/// they only take turns).
const PERSON_LOCKS: usize = 1024;

/// What [`Pipeline::prefetch`] read while the dedupe claim was being written.
#[derive(Default)]
struct Prefetched {
    subject: Option<Subject>,
    policy: Option<Arc<Policy>>,
    choices: Option<Choices>,
}

/// What the pipeline needs beyond its parts.
#[derive(Clone)]
pub struct PipelineSettings {
    /// Owners, linked accounts and the OAuth providers.
    pub integrations: Arc<Integrations>,
    /// Messages a person may send per minute before being asked to slow down.
    pub messages_per_minute: u32,
    pub retention: RetentionSettings,
    /// Earlier messages sent as context for people who chose `history`.
    pub history_messages: usize,
    /// Base of links the gateway sends, e.g. `https://chat.example.com`.
    pub public_url: String,
    /// How long a process's unfinished work (an update being handled, replies being sent) is
    /// left to it before another process, or this one after a restart, takes it over.
    pub takeover: std::time::Duration,
    /// Turns voice notes into text; `None`: voice notes are not listened to.
    pub transcriber: Option<Arc<crate::transcribe::Transcriber>>,
    /// Requests per person and bot, and the plans that add more.
    pub allowance: crate::config::AllowanceSettings,
    /// Where owners' tools call their services, and the limits on tool calls.
    pub tools: crate::config::ToolSettings,
    /// Knowledge-base passages found by meaning too; `None`: by words only.
    pub embedder: Option<Arc<crate::embeddings::Embedder>>,
}

/// The message pipeline shared by every channel.
pub struct Pipeline {
    db: DatabaseConnection,
    /// Shares transactions between the messages in flight (group commit).
    committer: Committer,
    /// Takes the dedupe claims: a writer of its own, so claims never queue behind audit appends
    /// on the chain's head row. Its commits are not flushed on their own ([`Flush::Later`]): a
    /// claim has to be seen by other deliveries at once, but before anything is sent or
    /// forwarded for it, a flushed commit of the same delivery (the forward record, or the
    /// completion) takes it to disk along with its own write. Until then a power cut or database
    /// crash can forget it; a duplicate acknowledged meanwhile on its strength is lost with the
    /// original handling, as it would be if the claim had been flushed.
    claims: Committer,
    keys: Arc<Keys>,
    bots: HashMap<String, BotContext>,
    providers: Providers,
    redactor: Redactor,
    audit: AuditLog,
    metrics: Arc<Metrics>,
    limiter: DefaultKeyedRateLimiter<i64>,
    /// Exports per person: each builds the whole file.
    export_limiter: DefaultKeyedRateLimiter<i64>,
    /// One "slow down" notice per person per minute; further excess messages get no reply.
    notice_limiter: DefaultKeyedRateLimiter<i64>,
    retention: RetentionSettings,
    history_messages: usize,
    public_url: String,
    integrations: Arc<Integrations>,
    /// See [`PipelineSettings::takeover`].
    lease: chrono::Duration,
    transcriber: Option<Arc<crate::transcribe::Transcriber>>,
    allowance: Arc<crate::config::AllowanceSettings>,
    /// Each bot's knowledge base, searched for every question.
    knowledge: crate::knowledge::Knowledge,
    /// Calls the services behind owners' tools.
    tools: crate::tools::Runner,
    embedder: Option<Arc<crate::embeddings::Embedder>>,
    /// One lock per slot of people: a person's messages are decided in the order they arrived,
    /// whatever chat or connection brought them.
    person_locks: Box<[Arc<tokio::sync::Mutex<()>>]>,
    /// The policy version last read, per bot. Published versions never change, so while the
    /// number of the version in effect (read along with the person) is this one's, it is not
    /// read again; a version published by any process is read on the first message after it
    /// takes effect.
    policies: std::sync::Mutex<HashMap<i64, Arc<Policy>>>,
}

impl Pipeline {
    pub fn new(
        db: DatabaseConnection,
        keys: Arc<Keys>,
        bots: Vec<BotContext>,
        providers: Providers,
        redactor: Redactor,
        metrics: Arc<Metrics>,
        settings: PipelineSettings,
    ) -> Self {
        let messages_per_minute = settings.messages_per_minute;
        let per_minute = NonZeroU32::new(messages_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(messages_per_minute.clamp(1, 10)).unwrap_or(NonZeroU32::MIN);
        // On SQLite, one writer at a time on the file: the two take turns.
        let lock = (db.get_database_backend() == DatabaseBackend::Sqlite).then(WriteLock::default);
        let audit = AuditLog::new(keys.audit.clone());
        let committer =
            Committer::start_with(db.clone(), lock.clone(), Flush::Each, Some(audit.clone()));
        let claims = Committer::start_with(db.clone(), lock, Flush::Later, None);
        Pipeline {
            audit,
            metrics,
            committer,
            claims,
            db,
            keys,
            bots: bots.into_iter().map(|b| (b.name.clone(), b)).collect(),
            providers,
            redactor,
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            notice_limiter: RateLimiter::keyed(Quota::per_minute(NonZeroU32::MIN)),
            export_limiter: RateLimiter::keyed(
                Quota::per_hour(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN)),
            ),
            retention: settings.retention,
            history_messages: settings.history_messages,
            public_url: settings.public_url,
            transcriber: settings.transcriber,
            allowance: Arc::new(settings.allowance),
            knowledge: crate::knowledge::Knowledge::new(
                settings.embedder.as_ref().map(|e| e.model().to_string()),
            ),
            tools: crate::tools::Runner::new(settings.tools),
            embedder: settings.embedder,
            integrations: settings.integrations,
            lease: chrono::Duration::from_std(settings.takeover)
                .unwrap_or(chrono::Duration::minutes(1)),
            person_locks: (0..PERSON_LOCKS)
                .map(|_| Arc::new(tokio::sync::Mutex::new(())))
                .collect(),
            policies: Default::default(),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Appends an audit entry, in a transaction shared with the other messages in flight.
    pub(crate) async fn record(
        &self,
        bot_id: Option<i64>,
        subject: Option<&Pseudonym>,
        action: Action,
        detail: serde_json::Value,
    ) -> Result<(), DbErr> {
        self.append(bot_id, subject.cloned(), None, action, detail)
            .await
    }

    /// Appends an audit entry about a person; with `unreachable`, marks them so in the same
    /// transaction, so whoever sees the mark finds its reason in the audit log.
    async fn record_about(
        &self,
        bot_id: i64,
        subject: &Subject,
        unreachable: bool,
        action: Action,
        detail: serde_json::Value,
    ) -> Result<(), DbErr> {
        let mark = unreachable.then_some(subject.id);
        self.append(
            Some(bot_id),
            Some(subject.pseudonym.clone()),
            mark,
            action,
            detail,
        )
        .await
    }

    async fn append(
        &self,
        bot_id: Option<i64>,
        subject: Option<Pseudonym>,
        mark_unreachable: Option<i64>,
        action: Action,
        detail: serde_json::Value,
    ) -> Result<(), DbErr> {
        let entry = Pending {
            bot_id,
            subject,
            action,
            detail,
        };
        self.committer
            .write_recorded(entry, move |txn| {
                Box::pin(async move {
                    if let Some(id) = mark_unreachable {
                        identity::set_reachable(txn, id, false).await?;
                    }
                    Ok(())
                })
            })
            .await
    }

    /// Forgets rate-limit state of people who have been quiet; call now and then. (Old
    /// delivery records go with the retention sweep.)
    pub fn housekeeping(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        self.export_limiter.retain_recent();
        self.notice_limiter.retain_recent();
        self.notice_limiter.shrink_to_fit();
        self.export_limiter.shrink_to_fit();
    }

    /// Handles one inbound message and returns the replies for its chat.
    pub async fn route(&self, inbound: &Inbound) -> Result<Vec<Outbound>, PipelineError> {
        self.route_watched(inbound, &Progress::none()).await
    }

    /// [`Pipeline::route`], reporting on `progress` how far the assistant's answer has got.
    pub async fn route_watched(
        &self,
        inbound: &Inbound,
        progress: &Progress,
    ) -> Result<Vec<Outbound>, PipelineError> {
        let bot = self
            .bots
            .get(&inbound.bot)
            .ok_or_else(|| PipelineError::UnknownBot(inbound.bot.clone()))?;

        let channel = ChannelLabel {
            channel: inbound.channel.as_str(),
        };
        self.metrics.messages_in.get_or_create(&channel).inc();

        // The person's turn: what they sent earlier, on any chat or connection, is decided first.
        let turn = match &inbound.sender.id {
            Some(user) => Some(self.person_lock(inbound.channel, user).lock_owned().await),
            None => None,
        };
        let order: PersonTurn = std::sync::Mutex::new(turn);

        // 1. dedupe; what an ordinary message needs is read meanwhile (nothing is created for a
        // delivery that turns out to be a duplicate).
        let delivery = digest::delivery_key(&self.keys.pseudonym, &inbound.update_key);
        let (bot_id, key, lease) = (bot.id, delivery.clone(), self.lease);
        let claim = self
            .claims
            .write_in_order(format!("{bot_id}:{key}"), move |txn| {
                Box::pin(dedupe::claim(txn, bot_id, key.clone(), lease))
            });
        let (claimed, early) = tokio::join!(claim, self.prefetch(bot, inbound));
        let claimed = match claimed {
            Ok(claimed) => claimed,
            Err(err) => {
                // The claim may have committed all the same: give it back, so the redelivery
                // is handled rather than taken for a duplicate.
                self.release(bot, &delivery).await;
                return Err(err.into());
            }
        };
        match claimed {
            dedupe::Claim::Taken => {}
            dedupe::Claim::Handled => {
                tracing::debug!(bot = %bot.name, "duplicate delivery ignored");
                return Ok(Vec::new());
            }
            dedupe::Claim::Busy => return Err(PipelineError::Busy),
        }
        let completed = AtomicBool::new(false);
        // A bug that panics fails this message like a database error would (the claim is given
        // back and the platform delivers it again), instead of leaving a claim that makes the
        // redelivery look like a duplicate.
        let result = AssertUnwindSafe(self.process(
            bot,
            inbound,
            &delivery,
            early,
            (&completed, &order, progress),
        ))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| {
            tracing::error!(bot = %bot.name, "handling a message panicked");
            Err(PipelineError::Panicked)
        });
        match &result {
            Ok(replies) => {
                // The replies are kept until sent, in the transaction that marks the delivery
                // handled (unless that happened with the decision already), flushed, and with
                // it the claim, before the update is acknowledged.
                let done = completed.load(Ordering::Relaxed);
                let kept = (inbound.channel.acknowledges() && !replies.is_empty()).then(|| {
                    outbox::row(&self.keys, bot_id, &delivery, inbound, replies, self.lease)
                });
                if kept.is_some() || !done {
                    let key = delivery.clone();
                    // Once the forward was recorded, its commit flushed the apology that stands
                    // for this answer: replacing it needs no flush of its own (a killed process
                    // loses nothing; a power cut now would send the apology instead).
                    let writer = if done { &self.claims } else { &self.committer };
                    writer
                        .write(move |txn| {
                            let (key, kept) = (key.clone(), kept.clone());
                            Box::pin(async move {
                                if !done {
                                    dedupe::complete(txn, bot_id, key).await?;
                                }
                                match kept {
                                    Some(row) => outbox::keep(txn, row).await,
                                    None => Ok(()),
                                }
                            })
                        })
                        .await?;
                }
                self.metrics
                    .messages_out
                    .get_or_create(&channel)
                    .inc_by(replies.len() as u64);
            }
            // Once the forward is recorded the delivery counts as handled whatever failed after
            // it: a redelivery must not reach the provider a second time.
            Err(_) if completed.load(Ordering::Relaxed) => {}
            Err(_) => self.release(bot, &delivery).await,
        }
        result
    }

    /// Gives a claim back after handling failed, so the platform's redelivery is handled
    /// instead of being dropped as a duplicate. (A claim marked handled is never given back.)
    async fn release(&self, bot: &BotContext, key: &str) {
        if let Err(err) = dedupe::release(&self.db, bot.id, key).await {
            tracing::error!(bot = %bot.name, error = %err, "could not release dedupe claim");
        }
    }

    /// For a text from a known person: who they are, the policy in effect and their choices.
    /// Anything not found (or not read) here is read again in [`Self::process`].
    async fn prefetch(&self, bot: &BotContext, inbound: &Inbound) -> Prefetched {
        let Some(user) = inbound.sender.id.as_ref().filter(|_| {
            inbound.kind == InboundKind::Text && (inbound.chat.private || inbound.addressed)
        }) else {
            return Prefetched::default();
        };
        // The person, and in the same statement their choices and the number of the policy
        // version in effect.
        let in_effect = consent::version_in_effect(bot.id, chrono::Utc::now());
        let found = identity::find_with(
            &self.db,
            &self.keys,
            bot.id,
            inbound.channel,
            user,
            in_effect,
        )
        .await
        .unwrap_or_else(|err| {
            // Read again, and reported if it fails again, by `process`.
            tracing::debug!(bot = %bot.name, error = %err, "prefetch failed");
            None
        });
        let (subject, version, choices) = match found {
            Some(found) => (
                Some(found.subject),
                found.extra,
                Some(Choices::from_events(found.consent_events)),
            ),
            None => (None, None, None),
        };
        // For someone not known yet nothing came back: the policy in effect is read instead.
        let policy = self.policy(bot.id, version).await;
        Prefetched {
            subject,
            choices,
            policy: policy.ok().flatten(),
        }
    }

    /// The policy in effect for a bot: version `version`, or, when that is not known, whichever
    /// is in effect now. Served from [`Self::policies`] when it holds that version.
    async fn policy(
        &self,
        bot_id: i64,
        version: Option<i32>,
    ) -> Result<Option<Arc<Policy>>, DbErr> {
        let held = self.policies_held().get(&bot_id).cloned();
        if let Some(policy) = held.filter(|p| Some(p.version) == version) {
            return Ok(Some(policy));
        }
        let read = match version {
            Some(version) => consent::policy_version(&self.db, bot_id, version).await?,
            None => consent::current_policy(&self.db, bot_id, chrono::Utc::now()).await?,
        };
        let Some(policy) = read.map(Arc::new) else {
            return Ok(None);
        };
        self.policies_held().insert(bot_id, policy.clone());
        Ok(Some(policy))
    }

    /// The lock of a person's slot.
    fn person_lock(
        &self,
        channel: ChannelKind,
        user: &consentgate_adapters::PlatformId,
    ) -> Arc<tokio::sync::Mutex<()>> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (channel.as_str(), user.expose()).hash(&mut hasher);
        let slot = (hasher.finish() % self.person_locks.len() as u64) as usize;
        self.person_locks[slot].clone()
    }

    fn policies_held(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Policy>>> {
        self.policies.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn process(
        &self,
        bot: &BotContext,
        inbound: &Inbound,
        delivery: &str,
        mut early: Prefetched,
        (completed, order, progress): (&AtomicBool, &PersonTurn, &Progress),
    ) -> Result<Vec<Outbound>, PipelineError> {
        // What became of a message we sent (never creates anyone).
        if let InboundKind::Status { .. } = &inbound.kind {
            delivery::status(self, bot, inbound).await?;
            return Ok(Vec::new());
        }

        // A new number or business-scoped id for someone (never creates anyone).
        if let InboundKind::IdentityChanged { to } = &inbound.kind {
            identities::changed(self, bot, inbound, to).await?;
            return Ok(Vec::new());
        }

        // Group chatter not meant for the bot is not ours to read, let alone store.
        if !inbound.chat.private && !inbound.addressed {
            return Ok(Vec::new());
        }

        // 2. identify
        let Some(user) = &inbound.sender.id else {
            // Channel posts and the like have no person behind them to answer.
            return Ok(Vec::new());
        };
        let subject = match early.subject.take() {
            Some(subject) => subject,
            None => {
                // Replies and notices go to the person's private chat, never to the group where
                // they were first seen (on Telegram and Bale that chat has the person's id).
                let chat = if inbound.chat.private {
                    &inbound.chat.id
                } else {
                    user
                };
                let (subject, how) = identity::identify(
                    &self.db,
                    &self.keys,
                    (bot.id, inbound.channel, &bot.business),
                    (user, inbound.sender.also.as_ref()),
                    chat,
                )
                .await?;
                if how == identity::HowFound::Linked {
                    identities::linked(self, bot, &subject, inbound).await?;
                }
                subject
            }
        };
        identities::link_also(self, bot, &subject, inbound).await?;
        let pseudonym = subject.pseudonym.clone();
        let out = self
            .for_subject(
                bot,
                inbound,
                delivery,
                (early, completed, order, progress),
                subject,
            )
            .await?;
        // Consent and erasure buttons work only for this person, in this chat.
        Ok(buttons::sign_all(
            &self.keys.pseudonym,
            &pseudonym,
            inbound,
            out,
        ))
    }

    /// Steps 3 to 9, for a known person.
    async fn for_subject(
        &self,
        bot: &BotContext,
        inbound: &Inbound,
        delivery: &str,
        (early, completed, order, progress): (Prefetched, &AtomicBool, &PersonTurn, &Progress),
        subject: Subject,
    ) -> Result<Vec<Outbound>, PipelineError> {
        // 3. blocked
        if inbound.kind == InboundKind::Blocked {
            self.record_about(
                bot.id,
                &subject,
                true,
                Action::SubjectBlockedBot,
                serde_json::json!({"channel": inbound.channel.as_str()}),
            )
            .await?;
            return Ok(Vec::new());
        }
        if !subject.reachable {
            identity::set_reachable(&self.db, subject.id, true).await?;
        }

        let policy = match early.policy {
            Some(policy) => policy,
            None => self
                .policy(bot.id, None)
                .await?
                .ok_or_else(|| PipelineError::NoPolicy(bot.name.clone()))?,
        };
        let turn = Turn {
            bot,
            subject: &subject,
            inbound,
            delivery,
            policy: &policy,
            completed,
            order,
            progress,
            spent: AtomicBool::new(false),
        };

        // Payments (Telegram's pre-checkout query must be answered within ten seconds, also
        // while an erasure is pending: with a no) and `/plans`.
        if let Some(out) = payments::input(self, &turn).await? {
            return Ok(out);
        }

        // 4. erasure pending
        if let Some(purge_after) = subject.purge_after {
            return erasure::while_erasing(self, &turn, purge_after).await;
        }

        // 5. owners' commands, rights and consent: answered without consent
        if let Some(out) = owners::input(self, &turn).await? {
            return Ok(out);
        }
        let mut choices = match early.choices {
            Some(choices) => choices,
            None => Choices::load(&self.db, subject.id, bot.id).await?,
        };
        if let Some(out) = rights::input(self, &turn, &mut choices).await? {
            return Ok(out);
        }

        // 6. rate limit
        if let Some(out) = gate::rate_limit(self, &turn).await? {
            return Ok(out);
        }

        // 7. renewal
        let mut out = rights::expire_outdated(self, &turn, &mut choices).await?;

        // 8. consent gate
        if !choices.may_process(&policy) {
            return gate::hold(self, &turn, &choices).await;
        }

        // 9. assistant
        out.extend(assistant::answer(self, &turn, &choices).await?);
        Ok(out)
    }
}

#[async_trait]
impl InboundHandler for Pipeline {
    async fn handle(&self, inbound: Inbound) -> Result<Vec<Outbound>, HandleError> {
        self.handle_watched(inbound, &Progress::none()).await
    }

    async fn handle_watched(
        &self,
        inbound: Inbound,
        progress: &Progress,
    ) -> Result<Vec<Outbound>, HandleError> {
        self.route_watched(&inbound, progress).await.map_err(|err| {
            match err {
                PipelineError::Busy => {
                    tracing::info!(bot = %inbound.bot, channel = %inbound.channel, "update in hand elsewhere; to be delivered again")
                }
                _ => {
                    tracing::error!(bot = %inbound.bot, channel = %inbound.channel, error = %err, "message not handled")
                }
            }
            err.into()
        })
    }

    /// The replies went out: their outbox row goes.
    async fn sent(&self, bot: &str, update_key: &str) {
        let Some(bot_id) = self.bots.get(bot).map(|b| b.id) else {
            return;
        };
        let key = digest::delivery_key(&self.keys.pseudonym, update_key);
        let forgotten = self
            .claims
            .write(move |txn| {
                let key = key.clone();
                Box::pin(async move { outbox::forget(txn, bot_id, &key).await })
            })
            .await;
        if let Err(err) = forgotten {
            tracing::warn!(bot, error = %err, "a sent reply stays in the outbox; it may be sent again after a restart");
        }
    }

    /// A send failed for a reason about the person: blocked or unreachable people are marked
    /// so (nothing is sent to them until they write again); everything is audited.
    async fn undeliverable(
        &self,
        bot: &str,
        channel: ChannelKind,
        user: &consentgate_adapters::PlatformId,
        error: &consentgate_adapters::SendError,
    ) {
        delivery::undeliverable(self, bot, channel, user, error).await;
    }
}
