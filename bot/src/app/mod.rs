//! Building the running gateway from a configuration: database, bots, pipeline, HTTP server and
//! pollers. Tests use [`Gateway::start`] too, on 127.0.0.1:0 with their own database.

pub mod metrics;
pub mod telemetry;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use tokio::{sync::watch, task::JoinHandle};

use consentgate_adapters::{
    ChannelKind, InboundHandler,
    telegram::{Poller, TelegramChannel, TelegramSettings},
    telegram_webhook::{self, WebhookBot},
    webchat::{WebChat, WebChatSettings},
    whatsapp,
};
use consentgate_entity::bots;

use crate::{
    app::metrics::Metrics,
    audit::AuditLog,
    config::{BotSettings, Config},
    consent,
    consent::policy,
    llm,
    owners::integrations::Integrations,
    owners::oauth,
    pipeline::{BotContext, Pipeline, PipelineSettings},
    privacy::keys::{HmacKey, Keys},
    privacy::pseudonym::Pseudonym,
    redact::Redactor,
    rights::notify::Notifier,
    rights::retention::Sweeper,
    store, web,
    web::admin,
};

/// A running gateway.
pub struct Gateway {
    /// Where the HTTP server listens (useful with port 0).
    pub addr: SocketAddr,
    pub db: DatabaseConnection,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    queues: Arc<consentgate_adapters::outbound::ChatQueues>,
}

pub async fn register_bot(
    db: &DatabaseConnection,
    name: &str,
    channel: ChannelKind,
) -> Result<i64> {
    if let Some(bot) = bots::Entity::find()
        .filter(bots::Column::Name.eq(name))
        .one(db)
        .await?
    {
        anyhow::ensure!(
            bot.channel == channel.as_str(),
            "bot `{name}` was registered as a {} bot and is now configured as {}; bot names cannot change channel",
            bot.channel,
            channel
        );
        return Ok(bot.id);
    }
    let inserted = bots::ActiveModel {
        name: Set(name.to_string()),
        channel: Set(channel.as_str().to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await;
    match inserted {
        Ok(bot) => Ok(bot.id),
        // Another replica registered it first.
        Err(_) => bots::Entity::find()
            .filter(bots::Column::Name.eq(name))
            .one(db)
            .await?
            .map(|b| b.id)
            .context("could not register the bot"),
    }
}

pub fn telegram_settings(bot: &BotSettings) -> TelegramSettings {
    TelegramSettings {
        channel: bot.channel,
        bot_name: bot.name.clone(),
        token: bot.token.expose().to_string(),
        api_url: bot.api_url.clone(),
        poll_timeout: bot.poll_timeout_secs,
        limits: bot.limits,
    }
}

/// The webhook secret token of a bot, derived from `PSEUDONYM_KEY` so that every replica
/// registers and checks the same one without another secret to distribute: 43 characters of
/// URL-safe base64.
pub fn webhook_secret(key: &HmacKey, bot_name: &str) -> String {
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.bytes()).expect("HMAC takes any key");
    mac.update(b"telegram-webhook-secret\x00");
    mac.update(bot_name.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The configured bots (and the web chat), registered in the database.
pub async fn configured_bots(db: &DatabaseConnection, config: &Config) -> Result<Vec<BotContext>> {
    let mut wanted: Vec<(String, ChannelKind)> = config
        .bots
        .iter()
        .map(|b| (b.name.clone(), b.channel))
        .collect();
    if config.webchat.enabled {
        wanted.push((config.webchat.bot_name.clone(), ChannelKind::WebChat));
    }
    if let Some(w) = &config.whatsapp {
        wanted.push((w.name.clone(), ChannelKind::WhatsApp));
    }
    let mut out = Vec::new();
    for (name, channel) in wanted {
        let id = register_bot(db, &name, channel).await?;
        out.push(BotContext { id, name, channel });
    }
    Ok(out)
}

/// Owners named in the configuration, as pseudonyms per bot id.
pub fn configured_owners(
    config: &Config,
    bots: &[BotContext],
    keys: &Keys,
) -> std::collections::HashMap<i64, Vec<String>> {
    bots.iter()
        .filter_map(|b| {
            let ids = config.owners.get(&b.name)?;
            let pseudonyms = ids
                .iter()
                .map(|id| {
                    Pseudonym::derive(
                        &keys.pseudonym,
                        b.channel,
                        &consentgate_adapters::PlatformId::new(id.clone()),
                    )
                    .as_str()
                    .to_string()
                })
                .collect();
            Some((b.id, pseudonyms))
        })
        .collect()
}

/// The adapter's settings for the configured WhatsApp number.
pub fn whatsapp_settings(config: &Config) -> Option<whatsapp::WhatsAppSettings> {
    let w = config.whatsapp.as_ref()?;
    Some(whatsapp::WhatsAppSettings {
        bot_name: w.name.clone(),
        graph_url: w.graph_url.clone(),
        api_version: w.api_version.clone(),
        phone_number_id: w.phone_number_id.clone(),
        access_token: w.access_token.expose().to_string(),
        app_secret: w.app_secret.expose().to_string(),
        verify_token: w.verify_token.expose().to_string(),
        template: w
            .template
            .clone()
            .map(|(name, language)| whatsapp::Template { name, language }),
        limits: consentgate_adapters::outbound::Limits {
            per_bot_per_second: w.per_second,
            ..consentgate_adapters::outbound::Limits::WHATSAPP
        },
    })
}

/// The channels that can write to people first, for notices outside replies.
pub fn notifier_for(config: &Config, bots: &[BotContext]) -> Notifier {
    let mut notifier = Notifier::default();
    if let Some(settings) = whatsapp_settings(config)
        && let Some(ctx) = bots.iter().find(|b| b.name == settings.bot_name)
    {
        notifier.add(ctx.id, Arc::new(whatsapp::WhatsAppChannel::new(settings)));
    }
    for bot in &config.bots {
        if let Some(ctx) = bots.iter().find(|b| b.name == bot.name) {
            notifier.add(
                ctx.id,
                Arc::new(TelegramChannel::new(&telegram_settings(bot))),
            );
        }
    }
    notifier
}

impl Gateway {
    /// Connects, migrates, and starts serving.
    pub async fn start(config: Config, keys: Keys) -> Result<Gateway> {
        let db = store::connect(&config.database_url).await.with_context(
            || "cannot open the database named by CONSENTGATE_DATABASE_URL / database_url",
        )?;
        store::migrate_up(&db)
            .await
            .context("applying database migrations failed")?;

        let draft = policy::configured_draft(&config)?;
        let contexts = configured_bots(&db, &config).await?;
        for BotContext { id, name, channel } in &contexts {
            let (policy, differs) = consent::ensure_initial(&db, *id, &draft).await?;
            if differs {
                tracing::warn!(
                    bot = %name,
                    policy_version = policy.version,
                    "the configured policy text or purposes differ from the published version; \
                     publish them with `consentgate policy publish FILE --summary ...` (until then \
                     version {} stays in effect)",
                    policy.version
                );
            }
            tracing::info!(bot = %name, %channel, policy_version = policy.version, "bot ready");
        }
        let notifier = Arc::new(notifier_for(&config, &contexts));

        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (CONSENTGATE_HTTP_ADDR / http_addr)",
                    config.http_addr
                )
            })?;
        let addr = listener.local_addr()?;
        let public_url = config.public_base(addr);
        let pseudonym_key = keys.pseudonym.clone();
        let keys = Arc::new(keys);
        let audit = AuditLog::new(keys.audit.clone());
        let metrics = Arc::new(Metrics::new());
        let provider = llm::from_settings(&config.llm);
        tracing::info!(
            provider = provider.name(),
            model = provider.model(),
            "LLM provider"
        );
        let integrations = Arc::new(Integrations {
            db: db.clone(),
            keys: keys.clone(),
            audit: audit.clone(),
            providers: config.oauth.clone(),
            public_base: public_url.clone(),
            notifier: notifier.clone(),
            configured_owners: configured_owners(&config, &contexts, &keys),
            http: oauth::client(),
        });
        let pipeline = Arc::new(Pipeline::new(
            db.clone(),
            keys.clone(),
            contexts,
            provider,
            Redactor::new(config.redact.clone()),
            metrics.clone(),
            PipelineSettings {
                integrations: integrations.clone(),
                messages_per_minute: config.messages_per_minute,
                retention: config.retention.clone(),
                history_messages: config.history_messages,
                public_url,
            },
        ));
        let handler: Arc<dyn InboundHandler> = pipeline.clone();

        let webchat = config.webchat.enabled.then(|| {
            WebChat::new(
                WebChatSettings {
                    bot_name: config.webchat.bot_name.clone(),
                    secure_cookie: config.webchat.secure_cookie,
                    max_sessions: config.webchat.max_sessions,
                },
                handler.clone(),
            )
        });
        let (shutdown, signal) = watch::channel(false);
        let mut tasks = Vec::new();

        // Replies of every bot queue here, so that shutdown can wait for them.
        let queues = Arc::new(consentgate_adapters::outbound::ChatQueues::default());
        let mut pacers = Vec::new();
        // Webhook bots are registered with Telegram before the server takes requests.
        let mut webhook_bots = Vec::new();
        for bot in config.bots.iter().filter(|b| b.webhook_url.is_some()) {
            let secret = match &bot.webhook_secret {
                Some(secret) => secret.expose().to_string(),
                None => webhook_secret(&pseudonym_key, &bot.name),
            };
            let url = bot.webhook_url.clone().context("webhook URL")?;
            let webhook = WebhookBot::new(telegram_settings(bot), url, secret, handler.clone())
                .map_err(anyhow::Error::msg)?
                .with_queues(queues.clone());
            pacers.push(webhook.pacer());
            webhook.register().await.map_err(|e| {
                anyhow::anyhow!("bot `{}`: could not register the webhook: {e}", bot.name)
            })?;
            tracing::info!(bot = %bot.name, channel = %bot.channel, "webhook registered");
            webhook_bots.push(Arc::new(webhook));
        }
        let mut channel_states: web::ChannelStates = webhook_bots
            .iter()
            .map(|b| {
                (
                    b.settings.bot_name.clone(),
                    Arc::new(std::sync::atomic::AtomicBool::new(true)),
                )
            })
            .collect();
        let mut pollers = Vec::new();
        for bot in config.bots.iter().filter(|b| b.webhook_url.is_none()) {
            let poller =
                Poller::new(telegram_settings(bot), handler.clone()).with_queues(queues.clone());
            pacers.push(poller.pacer());
            channel_states.push((bot.name.clone(), poller.connected()));
            pollers.push(poller);
        }
        let mut router = web::router(
            db.clone(),
            metrics.clone(),
            webchat.as_ref(),
            channel_states,
        )
        .merge(web::export_router(db.clone(), keys.clone(), audit.clone()))
        .merge(web::oauth_router(integrations.clone()))
        .merge(admin::router(integrations.clone()));
        if !webhook_bots.is_empty() {
            router = router.merge(telegram_webhook::router(webhook_bots));
        }
        if let Some(settings) = whatsapp_settings(&config) {
            tracing::info!(bot = %settings.bot_name, "WhatsApp webhook at /webhooks/whatsapp/{}", settings.bot_name);
            let bot = Arc::new(
                whatsapp::WhatsAppBot::new(settings, handler.clone()).with_queues(queues.clone()),
            );
            pacers.push(bot.channel.pacer().clone());
            router = router.merge(whatsapp::router(vec![bot]));
        }
        let mut server_signal = signal.clone();
        tasks.push(tokio::spawn(async move {
            let stop = async move {
                let _ = server_signal.wait_for(|stop| *stop).await;
            };
            if let Err(err) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(error = %err, "HTTP server failed");
            }
        }));
        if config.webchat.enabled {
            tracing::info!("web chat on http://{addr}/");
        }

        for poller in pollers {
            tasks.push(tokio::spawn(poller.run(signal.clone())));
        }

        let housekeeping = pipeline.clone();
        let paced = pacers.clone();
        let mut housekeeping_signal = signal.clone();
        let settings = config.retention.clone();
        let sweep_db = db.clone();
        tasks.push(tokio::spawn(async move {
            // Rate-limit state of people who have gone quiet is dropped every minute.
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            // The first sweep a minute after start, then at the configured interval.
            let first = tokio::time::Instant::now()
                + settings.sweep_interval.min(Duration::from_secs(60));
            let mut sweep = tokio::time::interval_at(first, settings.sweep_interval);
            loop {
                enum Due {
                    Housekeeping,
                    Sweep,
                    Stop,
                }
                let due = tokio::select! {
                    _ = tick.tick() => Due::Housekeeping,
                    _ = sweep.tick() => Due::Sweep,
                    _ = housekeeping_signal.wait_for(|stop| *stop) => Due::Stop,
                };
                match due {
                    Due::Housekeeping => {
                        housekeeping.housekeeping();
                        for pacer in &paced {
                            pacer.housekeeping();
                        }
                    }
                    Due::Stop => break,
                    Due::Sweep => {
                        let sweeper = Sweeper {
                            db: &sweep_db,
                            keys: housekeeping.keys(),
                            audit: housekeeping.audit(),
                            settings: &settings,
                            notifier: &notifier,
                            integrations: Some(&integrations),
                        };
                        match integrations.refresh_due(Utc::now()).await {
                            Ok((0, 0)) => {}
                            Ok((refreshed, broken)) => tracing::info!(refreshed, broken, "integration tokens refreshed"),
                            Err(err) => tracing::warn!(error = %err, "token refresh sweep failed"),
                        }
                        match sweeper.run(Utc::now(), false).await {
                            Ok(report) => {
                                for r in report.iter().filter(|r| r.count > 0) {
                                    tracing::info!(class = r.class, deleted = r.count, "retention sweep");
                                }
                            }
                            Err(err) => tracing::warn!(error = %err, "retention sweep failed; it runs again later"),
                        }
                    }
                }
            }
        }));

        metrics.watch_outbound(queues.clone(), pacers);
        Ok(Gateway {
            addr,
            db,
            shutdown,
            tasks,
            queues,
        })
    }

    /// Stops taking updates, lets in-flight work finish (up to `deadline`), and returns.
    pub async fn stop(self, deadline: Duration) {
        let started = tokio::time::Instant::now();
        let _ = self.shutdown.send(true);
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!("shutdown deadline passed; some work was cut short");
        }
        // Replies already decided are sent before the process goes.
        let left = deadline.saturating_sub(started.elapsed());
        if !self.queues.drain(left).await {
            tracing::warn!(
                pending = self.queues.pending(),
                "shutdown deadline passed with replies still queued"
            );
        }
        let _ = self.db.close().await;
    }
}
