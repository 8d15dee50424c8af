//! `serve`: the [`App`] at work. One HTTP server (web chat, webhooks, OAuth callbacks, exports,
//! admin API, health), a poller per bot without a webhook, and housekeeping; all of them stop on
//! one [`Shutdown`], and replies already decided are sent before the process goes.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::AtomicBool},
    time::Duration,
};

use anyhow::{Context, Result};
use sea_orm::DatabaseConnection;
use tokio::{net::TcpListener, task::JoinHandle};

use consentgate_adapters::{
    InboundHandler,
    outbound::{ChatQueues, Pacer},
    telegram::Poller,
    telegram::webhook::{self, WebhookBot},
    webchat::{SessionKey, WebChat, WebChatSettings},
    whatsapp,
};

use super::{App, Shutdown, ShutdownTrigger, bots, housekeeping, resend};
use crate::privacy::digest;
use crate::{
    app::metrics::Metrics,
    config::Config,
    consent::{self, policy},
    llm,
    owners::integrations::Integrations,
    pipeline::{BotContext, Pipeline, PipelineSettings},
    privacy::keys::Keys,
    redact::Redactor,
    web::{self, admin, server},
};

/// How long open HTTP connections get to finish after a stop signal.
const SERVER_DRAIN: Duration = Duration::from_secs(15);

/// A running gateway.
pub struct Gateway {
    /// Where the HTTP server listens (useful with port 0).
    pub addr: SocketAddr,
    pub db: DatabaseConnection,
    shutdown: ShutdownTrigger,
    tasks: Vec<JoinHandle<()>>,
    queues: Arc<ChatQueues>,
    /// Its counts are added to the database once the last answers are in.
    metrics: Arc<Metrics>,
}

impl Gateway {
    /// Connects, migrates, and starts serving.
    pub async fn start(config: Config, keys: Keys) -> Result<Gateway> {
        App::open(config, keys).await?.serve().await
    }

    /// Stops taking updates, lets in-flight work finish (up to `deadline`), and returns.
    pub async fn stop(self, deadline: Duration) {
        let started = tokio::time::Instant::now();
        self.shutdown.fire();
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
        if let Err(err) = self.metrics.daily.flush(&self.db).await {
            tracing::warn!(error = %err, "the last daily counts were not written");
        }
        let _ = self.db.close().await;
    }
}

impl App {
    /// Publishes each bot's first policy version if it has none, binds the HTTP address and
    /// starts every task.
    pub async fn serve(self) -> Result<Gateway> {
        self.announce_policies().await?;
        let listener = TcpListener::bind(self.config.http_addr)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (CONSENTGATE_HTTP_ADDR / http_addr)",
                    self.config.http_addr
                )
            })?;
        let addr = listener.local_addr()?;
        let public_url = self.config.public_base(addr);
        let metrics = Arc::new(Metrics::new());
        let integrations = Arc::new(self.integrations(public_url.clone()));
        let pipeline = self.pipeline(&metrics, &integrations, public_url);
        let handler: Arc<dyn InboundHandler> = pipeline.clone();
        let (trigger, shutdown) = Shutdown::new();
        // Replies of every bot queue here, so that shutdown can wait for them.
        let queues = Arc::new(ChatQueues::default());
        let channels = self.channels(&handler, &queues).await?;

        let webchat = self.config.webchat.enabled.then(|| {
            WebChat::new(
                WebChatSettings {
                    bot_name: self.config.webchat.bot_name.clone(),
                    secure_cookie: self.config.webchat.secure_cookie,
                    max_sessions: self.config.webchat.max_sessions,
                    session_key: SessionKey(digest::webchat_session_key(&self.keys.pseudonym)),
                    sessions_per_minute: self.config.webchat.sessions_per_minute,
                    messages_per_minute: self.config.webchat.messages_per_minute,
                    sessions_per_address: self.config.webchat.sessions_per_address,
                    messages_per_address: self.config.webchat.messages_per_address,
                },
                handler.clone(),
            )
        });
        let mut router = web::router(
            self.db.clone(),
            metrics.clone(),
            webchat.as_ref(),
            channels.states,
        )
        .merge(web::export_router(
            self.db.clone(),
            self.keys.clone(),
            self.audit.clone(),
        ))
        .merge(web::oauth_router(integrations.clone()))
        .merge(admin::router(integrations.clone()))
        .merge(web::console::router(
            integrations.clone(),
            web::console::Setup {
                telegram_bots: self.telegram_bots(),
                bots: self.bots.clone(),
                purposes: consent::policy::configured_purposes(&self.config),
                erasure_grace_days: self.config.retention.erasure_grace_days,
                metrics: metrics.clone(),
                system_prompt: match &self.config.llm {
                    crate::config::LlmSettings::OpenAi { system_prompt, .. } => {
                        Some(system_prompt.clone())
                    }
                    crate::config::LlmSettings::Echo => None,
                },
                redactor: Redactor::new(self.config.redact.clone()),
                embedder: self.embedder(),
            },
        ));
        if !channels.webhooks.is_empty() {
            router = router.merge(webhook::router(channels.webhooks));
        }
        if let Some(bot) = channels.whatsapp {
            router = router.merge(whatsapp::router(vec![bot]));
        }

        let mut tasks = Vec::new();
        let router = web::headers::secure(router);
        let http = self.config.http.clone();
        let descriptors = server::raise_descriptor_limit();
        let limits = server::Limits {
            max_connections: http.max_connections,
            header_timeout: http.header_timeout,
            body_timeout: http.body_timeout,
            trusted_proxies: http.trusted_proxies.into(),
        }
        .within_descriptors();
        tracing::info!(
            max_connections = limits.max_connections,
            descriptors,
            "HTTP connection cap"
        );
        tasks.push(tokio::spawn(server::serve(
            listener,
            router,
            limits,
            shutdown.clone(),
            SERVER_DRAIN,
        )));
        if self.config.webchat.enabled {
            tracing::info!("web chat on http://{addr}/");
        }
        for poller in channels.pollers {
            tasks.push(tokio::spawn(poller.run(shutdown.clone())));
        }
        metrics.watch_outbound(queues.clone(), channels.pacers.clone());
        tasks.push(tokio::spawn(resend::run(
            pipeline.clone(),
            channels.deliveries,
            shutdown.clone(),
        )));
        let db = self.db.clone();
        tasks.push(tokio::spawn(housekeeping::run(
            self,
            pipeline,
            metrics.clone(),
            integrations,
            channels.pacers,
            shutdown,
        )));
        Ok(Gateway {
            addr,
            db,
            shutdown: trigger,
            tasks,
            queues,
            metrics,
        })
    }

    /// The Telegram bots by name, with their id here and their token (the console checks Mini
    /// App sign-ins with it).
    /// The embeddings service, where one is configured.
    fn embedder(&self) -> Option<Arc<crate::embeddings::Embedder>> {
        self.config
            .embeddings
            .as_ref()
            .map(|e| Arc::new(crate::embeddings::Embedder::new(e)))
    }

    fn telegram_bots(&self) -> std::collections::HashMap<String, (i64, String)> {
        self.config
            .bots
            .iter()
            .filter(|b| b.channel == consentgate_adapters::ChannelKind::Telegram)
            .filter_map(|b| {
                let id = self.bots.iter().find(|c| c.name == b.name)?.id;
                Some((b.name.clone(), (id, b.token.expose().to_string())))
            })
            .collect()
    }

    /// Every bot gets its first policy version from the configuration; a configuration that
    /// differs from the version in effect is reported, never published silently.
    async fn announce_policies(&self) -> Result<()> {
        let draft = policy::configured_draft(&self.config)?;
        for BotContext {
            id, name, channel, ..
        } in &self.bots
        {
            let settings = policy::settings_of(&self.db, *id).await?;
            let draft = draft.for_bot(settings.as_ref());
            let (policy, differs) = consent::ensure_initial(&self.db, *id, &draft).await?;
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
        Ok(())
    }

    fn pipeline(
        &self,
        metrics: &Arc<Metrics>,
        integrations: &Arc<Integrations>,
        public_url: String,
    ) -> Arc<Pipeline> {
        let providers = llm::Providers::from_settings(&self.config.llm);
        for (order, provider) in providers.all().enumerate() {
            tracing::info!(
                order = order + 1,
                provider = provider.name(),
                model = provider.model(),
                "LLM provider"
            );
        }
        Arc::new(Pipeline::new(
            self.db.clone(),
            self.keys.clone(),
            self.bots.clone(),
            providers,
            Redactor::new(self.config.redact.clone()),
            metrics.clone(),
            PipelineSettings {
                integrations: integrations.clone(),
                messages_per_minute: self.config.messages_per_minute,
                retention: self.config.retention.clone(),
                history_messages: self.config.history_messages,
                public_url,
                takeover: self.config.takeover,
                allowance: self.config.allowance.clone(),
                tools: self.config.tools.clone(),
                embedder: self.embedder(),
                transcriber: self.config.transcription.as_ref().map(|t| {
                    tracing::info!(model = %t.model, "voice notes are transcribed");
                    Arc::new(crate::transcribe::Transcriber::new(t))
                }),
            },
        ))
    }

    /// The adapters of the configured bots. Webhook bots are registered with the platform
    /// before the server takes requests.
    async fn channels(
        &self,
        handler: &Arc<dyn InboundHandler>,
        queues: &Arc<ChatQueues>,
    ) -> Result<Channels> {
        let mut out = Channels::default();
        for bot in self.config.bots.iter() {
            let settings = bots::telegram_settings(bot);
            let Some(url) = bot.webhook_url.clone() else {
                let poller = Poller::new(settings, handler.clone()).with_queues(queues.clone());
                out.pacers.push(poller.pacer());
                out.deliveries.push(poller.delivery());
                out.states.push((bot.name.clone(), poller.connected()));
                out.pollers.push(poller);
                continue;
            };
            let secret = match &bot.webhook_secret {
                Some(secret) => secret.expose().to_string(),
                None => digest::webhook_secret(&self.keys.pseudonym, &bot.name),
            };
            let webhook = WebhookBot::new(settings, url, secret, handler.clone())
                .map_err(anyhow::Error::msg)?
                .with_queues(queues.clone());
            out.pacers.push(webhook.pacer());
            out.deliveries.push(webhook.delivery());
            webhook.register().await.map_err(|e| {
                anyhow::anyhow!("bot `{}`: could not register the webhook: {e}", bot.name)
            })?;
            tracing::info!(bot = %bot.name, channel = %bot.channel, "webhook registered");
            out.states
                .push((bot.name.clone(), Arc::new(AtomicBool::new(true))));
            out.webhooks.push(Arc::new(webhook));
        }
        if let Some(settings) = bots::whatsapp_settings(&self.config) {
            tracing::info!(bot = %settings.bot_name, "WhatsApp webhook at /webhooks/whatsapp/{}", settings.bot_name);
            let bot = Arc::new(
                whatsapp::WhatsAppBot::new(settings, handler.clone()).with_queues(queues.clone()),
            );
            out.pacers.push(bot.channel.pacer().clone());
            out.deliveries.push(bot.delivery());
            out.whatsapp = Some(bot);
        }
        Ok(out)
    }
}

/// The adapters `serve` runs, and what the health probes and housekeeping need of them.
#[derive(Default)]
struct Channels {
    pollers: Vec<Poller>,
    webhooks: Vec<Arc<WebhookBot>>,
    whatsapp: Option<Arc<whatsapp::WhatsAppBot>>,
    pacers: Vec<Arc<Pacer>>,
    /// Every bot's replies, for those a crash left unsent.
    deliveries: Vec<consentgate_adapters::delivery::Delivery>,
    states: web::ChannelStates,
}
