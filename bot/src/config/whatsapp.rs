//! The WhatsApp Business number, from the `WHATSAPP_*` variables.

use url::Url;

use super::{ConfigError, Env, Secret, bad, bots::valid_bot_name, env, parse_url};

/// One WhatsApp Business Cloud API number, from the `WHATSAPP_*` variables.
#[derive(Clone, Debug)]
pub struct WhatsAppConfig {
    pub name: String,
    pub access_token: Secret,
    pub phone_number_id: String,
    pub app_secret: Secret,
    pub verify_token: Secret,
    pub graph_url: Url,
    pub api_version: String,
    /// The approved template for messages outside the 24-hour window: (name, language).
    pub template: Option<(String, String)>,
    /// Messages per second for the number (Meta's default 80; upgraded numbers 1,000).
    pub per_second: u32,
}

pub const DEFAULT_GRAPH_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_GRAPH_VERSION: &str = "v21.0";

/// The WhatsApp number, when any of its variables is set; then all four credentials must be.
pub(super) fn settings(env: &dyn Env) -> Result<Option<WhatsAppConfig>, ConfigError> {
    const REQUIRED: [&str; 4] = [
        env::WHATSAPP_ACCESS_TOKEN,
        env::WHATSAPP_PHONE_NUMBER_ID,
        env::WHATSAPP_APP_SECRET,
        env::WHATSAPP_VERIFY_TOKEN,
    ];
    let values: Vec<Option<String>> = REQUIRED.iter().map(|v| env.get(v)).collect();
    let any = values.iter().any(Option::is_some)
        || env.get(env::WHATSAPP_GRAPH_URL).is_some()
        || env.get(env::WHATSAPP_TEMPLATE).is_some();
    if !any {
        return Ok(None);
    }
    if let Some(missing) = REQUIRED.iter().zip(&values).find(|(_, v)| v.is_none()) {
        return Err(bad(
            *missing.0,
            "not set; the WhatsApp channel needs WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_APP_SECRET and WHATSAPP_VERIFY_TOKEN",
        ));
    }
    let get = |i: usize| values[i].clone().unwrap_or_default().trim().to_string();
    let phone_number_id = get(1);
    if !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            env::WHATSAPP_PHONE_NUMBER_ID,
            "expected the numeric id Meta shows",
        ));
    }
    let graph_url = parse_url(
        env::WHATSAPP_GRAPH_URL,
        &env.get(env::WHATSAPP_GRAPH_URL)
            .unwrap_or_else(|| DEFAULT_GRAPH_URL.to_string()),
    )?;
    let api_version = env
        .get(env::WHATSAPP_API_VERSION)
        .unwrap_or_else(|| DEFAULT_GRAPH_VERSION.to_string());
    if !api_version.starts_with('v') {
        return Err(bad(
            env::WHATSAPP_API_VERSION,
            "expected a version such as v21.0",
        ));
    }
    let name = env
        .get(env::WHATSAPP_BOT_NAME)
        .unwrap_or_else(|| "whatsapp".to_string());
    if !valid_bot_name(&name) {
        return Err(bad(
            env::WHATSAPP_BOT_NAME,
            "use 1-64 characters of A-Z a-z 0-9 - _",
        ));
    }
    Ok(Some(WhatsAppConfig {
        name,
        access_token: Secret::new(get(0)),
        phone_number_id,
        app_secret: Secret::new(get(2)),
        verify_token: Secret::new(get(3)),
        graph_url,
        api_version,
        per_second: match env.get(env::WHATSAPP_MESSAGES_PER_SECOND) {
            Some(v) => v.trim().parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                bad(
                    env::WHATSAPP_MESSAGES_PER_SECOND,
                    format!("`{v}` is not a whole number above 0"),
                )
            })?,
            None => 80,
        },
        template: env.get(env::WHATSAPP_TEMPLATE).map(|t| {
            (
                t.trim().to_string(),
                env.get(env::WHATSAPP_TEMPLATE_LANGUAGE)
                    .unwrap_or_else(|| "en".to_string()),
            )
        }),
    }))
}
