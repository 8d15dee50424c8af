//! Building the running gateway from a configuration: database, bots, pipeline, HTTP server and
//! pollers. Tests use [`Gateway::start`] too, on 127.0.0.1:0 with their own database.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::{Context, Result};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use tokio::{sync::watch, task::JoinHandle};

use consentgate_adapters::{
    ChannelKind, InboundHandler,
    telegram::{Poller, TelegramSettings},
    telegram_webhook::{self, WebhookBot},
    webchat::{WebChat, WebChatSettings},
};
use consentgate_entity::bots;

use crate::{
    config::{BotSettings, Config},
    consent::{self, DEFAULT_POLICY},
    http,
    keys::{HmacKey, Keys},
    llm,
    metrics::Metrics,
    pipeline::{BotContext, Pipeline},
    redact::Redactor,
    storage,
};

/// A running gateway.
pub struct Gateway {
    /// Where the HTTP server listens (useful with port 0).
    pub addr: SocketAddr,
    pub db: DatabaseConnection,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

async fn register_bot(db: &DatabaseConnection, name: &str, channel: ChannelKind) -> Result<i64> {
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

fn telegram_settings(bot: &BotSettings) -> TelegramSettings {
    TelegramSettings {
        channel: bot.channel,
        bot_name: bot.name.clone(),
        token: bot.token.expose().to_string(),
        api_url: bot.api_url.clone(),
        poll_timeout: bot.poll_timeout_secs,
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

impl Gateway {
    /// Connects, migrates, and starts serving.
    pub async fn start(config: Config, keys: Keys) -> Result<Gateway> {
        let db = storage::connect(&config.database_url).await.with_context(
            || "cannot open the database named by CONSENTGATE_DATABASE_URL / database_url",
        )?;
        storage::migrate_up(&db)
            .await
            .context("applying database migrations failed")?;

        let policy_text = match &config.policy.file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("policy.file: cannot read {}", path.display()))?,
            None => DEFAULT_POLICY.to_string(),
        };
        anyhow::ensure!(
            !policy_text.trim().is_empty(),
            "policy.file: the policy text is empty"
        );

        let mut wanted: Vec<(String, ChannelKind)> = config
            .bots
            .iter()
            .map(|b| (b.name.clone(), b.channel))
            .collect();
        if config.webchat.enabled {
            wanted.push((config.webchat.bot_name.clone(), ChannelKind::WebChat));
        }
        let mut contexts = Vec::new();
        for (name, channel) in wanted {
            let id = register_bot(&db, &name, channel).await?;
            let policy =
                consent::ensure_policy(&db, id, &config.policy.label, &policy_text).await?;
            tracing::info!(bot = %name, %channel, policy_version = policy.version, "bot ready");
            contexts.push(BotContext {
                id,
                name,
                channel,
                policy,
            });
        }

        let pseudonym_key = keys.pseudonym.clone();
        let metrics = Arc::new(Metrics::new());
        let provider = llm::from_settings(&config.llm);
        tracing::info!(
            provider = provider.name(),
            model = provider.model(),
            "LLM provider"
        );
        let pipeline = Arc::new(Pipeline::new(
            db.clone(),
            Arc::new(keys),
            contexts,
            provider,
            Redactor::new(config.redact.clone()),
            metrics.clone(),
            config.messages_per_minute,
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
        let listener = tokio::net::TcpListener::bind(config.http_addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (CONSENTGATE_HTTP_ADDR / http_addr)",
                    config.http_addr
                )
            })?;
        let addr = listener.local_addr()?;
        let (shutdown, signal) = watch::channel(false);
        let mut tasks = Vec::new();

        // Webhook bots are registered with Telegram before the server takes requests.
        let mut webhook_bots = Vec::new();
        for bot in config.bots.iter().filter(|b| b.webhook_url.is_some()) {
            let secret = match &bot.webhook_secret {
                Some(secret) => secret.expose().to_string(),
                None => webhook_secret(&pseudonym_key, &bot.name),
            };
            let url = bot.webhook_url.clone().context("webhook URL")?;
            let webhook = WebhookBot::new(telegram_settings(bot), url, secret, handler.clone())
                .map_err(anyhow::Error::msg)?;
            webhook.register().await.map_err(|e| {
                anyhow::anyhow!("bot `{}`: could not register the webhook: {e}", bot.name)
            })?;
            tracing::info!(bot = %bot.name, "webhook registered; updates arrive at /webhooks/telegram/{}", bot.name);
            webhook_bots.push(Arc::new(webhook));
        }
        let mut router = http::router(db.clone(), metrics.clone(), webchat.as_ref());
        if !webhook_bots.is_empty() {
            router = router.merge(telegram_webhook::router(webhook_bots));
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

        for bot in config.bots.iter().filter(|b| b.webhook_url.is_none()) {
            let poller = Poller::new(telegram_settings(bot), handler.clone());
            tasks.push(tokio::spawn(poller.run(signal.clone())));
        }

        let pruning = pipeline.clone();
        let mut prune_signal = signal.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(300));
            loop {
                let stop = tokio::select! {
                    _ = tick.tick() => false,
                    _ = prune_signal.wait_for(|stop| *stop) => true,
                };
                if stop {
                    break;
                }
                pruning.housekeeping().await;
            }
        }));

        Ok(Gateway {
            addr,
            db,
            shutdown,
            tasks,
        })
    }

    /// Stops taking updates, lets in-flight work finish (up to `deadline`), and returns.
    pub async fn stop(self, deadline: Duration) {
        let _ = self.shutdown.send(true);
        let all = futures::future::join_all(self.tasks);
        if tokio::time::timeout(deadline, all).await.is_err() {
            tracing::warn!("shutdown deadline passed; some work was cut short");
        }
        let _ = self.db.close().await;
    }
}
