//! The configured bots: registered in the database once, and the settings each adapter is built
//! from. `serve` and every command that works on data see the same bots through [`App`](super::App).

use std::sync::Arc;

use anyhow::{Context, Result};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

use consentgate_adapters::{
    ChannelKind,
    telegram::{TelegramChannel, TelegramSettings},
    whatsapp,
};
use consentgate_entity::bots;

use crate::{
    config::{BotSettings, Config},
    pipeline::BotContext,
    privacy::{keys::Keys, pseudonym::Pseudonym},
    rights::notify::Notifier,
};

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
        let business = config
            .businesses
            .get(&name)
            .cloned()
            .unwrap_or_else(|| name.clone());
        out.push(BotContext {
            id,
            name,
            channel,
            business,
        });
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
                .flat_map(|id| {
                    let id = consentgate_adapters::PlatformId::new(id.clone());
                    // Both forms: someone first seen before businesses keeps the old one.
                    [
                        Pseudonym::derive_in(&keys.pseudonym, &b.business, b.channel, &id),
                        Pseudonym::derive(&keys.pseudonym, b.channel, &id),
                    ]
                    .map(|p| p.as_str().to_string())
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
