//! Signing in from the Telegram Mini App: the console opened inside Telegram (the `/panel`
//! button) posts the `initData` Telegram gave it, and the gateway checks it as Telegram
//! specifies: `hash` is HMAC-SHA256, under a key derived from the bot's token with "WebAppData",
//! of the other fields sorted as `key=value` lines; when a `signature` field is present it must
//! also be Telegram's Ed25519 signature over `{bot_id}:WebAppData` and the same lines without
//! `hash` and `signature`; and `auth_date` must be recent. Only then is the Telegram user looked
//! up (never created) and, if they own the bot, signed in.

use base64::Engine;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Telegram's production Ed25519 key for third-party validation (from the Mini Apps page).
pub const TELEGRAM_PUBLIC_KEY: &str =
    "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d";

/// How old `initData` may be.
pub const MAX_AGE_SECS: i64 = 300;

/// Why `initData` was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("initData is missing a field: {0}")]
    Missing(&'static str),
    #[error("initData's hash does not match this bot")]
    Hash,
    #[error("initData's signature is not Telegram's")]
    Signature,
    #[error("initData is too old, or from the future")]
    Stale,
    #[error("initData's user cannot be read")]
    User,
}

type Fields = Vec<(String, String)>;

fn fields(init_data: &str) -> Fields {
    url::form_urlencoded::parse(init_data.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field<'f>(fields: &'f Fields, name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The sorted `key=value` lines of every field but `leave_out`.
fn check_string(fields: &Fields, leave_out: &[&str]) -> String {
    let mut lines: Vec<String> = fields
        .iter()
        .filter(|(k, _)| !leave_out.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    lines.sort();
    lines.join("\n")
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `hash` as Telegram computes it for `bot_token`.
pub fn expected_hash(bot_token: &str, check_string: &str) -> String {
    let secret = hmac(b"WebAppData", bot_token.as_bytes());
    hex::encode(hmac(&secret, check_string.as_bytes()))
}

/// The Telegram user id `init_data` vouches for, if it was made for this bot (`bot_token`,
/// `bot_id`) within [`MAX_AGE_SECS`] of `now`. A `signature` is checked against `public_key`
/// (hex; [`TELEGRAM_PUBLIC_KEY`] in production).
pub fn validate(
    init_data: &str,
    bot_token: &str,
    bot_id: i64,
    public_key: &str,
    now: i64,
) -> Result<i64, Refused> {
    let fields = fields(init_data);
    let hash = field(&fields, "hash").ok_or(Refused::Missing("hash"))?;
    let expected = expected_hash(bot_token, &check_string(&fields, &["hash"]));
    if !consentgate_adapters::constant_time_eq(hash.as_bytes(), expected.as_bytes()) {
        return Err(Refused::Hash);
    }
    if let Some(signature) = field(&fields, "signature") {
        let message = format!(
            "{bot_id}:WebAppData\n{}",
            check_string(&fields, &["hash", "signature"])
        );
        let key: [u8; 32] = hex::decode(public_key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or(Refused::Signature)?;
        let key = VerifyingKey::from_bytes(&key).map_err(|_| Refused::Signature)?;
        let signature: [u8; 64] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature.trim_end_matches('='))
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or(Refused::Signature)?;
        key.verify(message.as_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| Refused::Signature)?;
    }
    let auth_date: i64 = field(&fields, "auth_date")
        .ok_or(Refused::Missing("auth_date"))?
        .parse()
        .map_err(|_| Refused::Stale)?;
    if now - auth_date > MAX_AGE_SECS || auth_date - now > 60 {
        return Err(Refused::Stale);
    }
    let user = field(&fields, "user").ok_or(Refused::Missing("user"))?;
    serde_json::from_str::<serde_json::Value>(user)
        .ok()
        .and_then(|u| u["id"].as_i64())
        .ok_or(Refused::User)
}

/// `initData` as Telegram would make it for `bot_token` (for tests and for checking this code
/// against Telegram's own description).
pub fn sign(pairs: &[(&str, &str)], bot_token: &str) -> String {
    let fields: Fields = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let hash = expected_hash(bot_token, &check_string(&fields, &["hash"]));
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.append_pair("hash", &hash);
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const TOKEN: &str = "123456:ABC-test-token";
    const NOW: i64 = 1_800_000_000;

    fn data(auth_date: i64) -> Vec<(String, String)> {
        vec![
            ("query_id".into(), "AAH".into()),
            (
                "user".into(),
                r#"{"id":279058397,"first_name":"Ivan","language_code":"en"}"#.into(),
            ),
            ("auth_date".into(), auth_date.to_string()),
        ]
    }

    fn pairs(d: &[(String, String)]) -> Vec<(&str, &str)> {
        d.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn data_signed_for_this_bot_and_fresh_is_taken() {
        let signed = sign(&pairs(&data(NOW - 5)), TOKEN);
        assert_eq!(
            validate(&signed, TOKEN, 123456, TELEGRAM_PUBLIC_KEY, NOW),
            Ok(279058397)
        );
    }

    #[test]
    fn forged_tampered_other_bots_and_stale_data_are_refused() {
        let signed = sign(&pairs(&data(NOW - 5)), TOKEN);
        // Another bot's token.
        assert_eq!(
            validate(&signed, "999:other", 999, TELEGRAM_PUBLIC_KEY, NOW),
            Err(Refused::Hash)
        );
        // A different user spliced in.
        let tampered = signed.replace("279058397", "100000001");
        assert_eq!(
            validate(&tampered, TOKEN, 123456, TELEGRAM_PUBLIC_KEY, NOW),
            Err(Refused::Hash)
        );
        // No hash at all.
        assert_eq!(
            validate(
                "user=%7B%22id%22%3A1%7D&auth_date=1",
                TOKEN,
                1,
                TELEGRAM_PUBLIC_KEY,
                NOW
            ),
            Err(Refused::Missing("hash"))
        );
        // Six minutes old.
        let stale = sign(&pairs(&data(NOW - 360)), TOKEN);
        assert_eq!(
            validate(&stale, TOKEN, 123456, TELEGRAM_PUBLIC_KEY, NOW),
            Err(Refused::Stale)
        );
    }

    #[test]
    fn a_signature_must_be_telegrams() {
        // A key pair standing in for Telegram's: the message is built as the Mini Apps page
        // says, and only the matching public key accepts it.
        let telegram = SigningKey::from_bytes(&[7u8; 32]);
        let public = hex::encode(telegram.verifying_key().to_bytes());
        let d = data(NOW - 5);
        let mut fields: Fields = d.clone();
        let message = format!("123456:WebAppData\n{}", check_string(&fields, &[]));
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(telegram.sign(message.as_bytes()).to_bytes());
        fields.push(("signature".into(), sig));
        let signed = sign(&pairs(&fields), TOKEN);
        assert_eq!(
            validate(&signed, TOKEN, 123456, &public, NOW),
            Ok(279058397)
        );
        // Telegram's real key did not sign it; nor does it hold for another bot id.
        assert_eq!(
            validate(&signed, TOKEN, 123456, TELEGRAM_PUBLIC_KEY, NOW),
            Err(Refused::Signature)
        );
        assert_eq!(
            validate(&signed, TOKEN, 654321, &public, NOW),
            Err(Refused::Signature)
        );
    }
}

// ---- the console's Mini App routes ----

use axum::{
    Form,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::Response,
};
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::{Console, page, problem, unavailable};
use crate::audit::Action;

/// The Mini App page's one script: hands Telegram's `initData` to the gateway.
const SCRIPT: &str = "(function(){var w=window.Telegram&&window.Telegram.WebApp;var m=document.getElementById('msg');if(!w||!w.initData){m.textContent='Open this page from the button in your chat with the assistant.';return;}w.ready();fetch(location.pathname+'/session',{method:'POST',credentials:'same-origin',headers:{'Content-Type':'application/x-www-form-urlencoded'},body:'init_data='+encodeURIComponent(w.initData)}).then(function(r){if(r.ok||r.redirected){location.href='/console/';}else{m.textContent='Telegram could not vouch for you here. Send /panel for a sign-in link.';}});})();";

/// The page Telegram opens: Telegram's own script gives it `initData`, this page's script
/// posts it. Nothing else runs; the page may be framed by Telegram's web client only.
pub(super) async fn app_page(State(c): State<Console>, Path(bot): Path<String>) -> Response {
    if !c.miniapp_bots.contains_key(&bot) {
        return problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such assistant.",
            None,
        );
    }
    let mut response = page(
        StatusCode::OK,
        "Console",
        None,
        html! {
            p id="msg" role="status" { "Signing you in…" }
            script src="https://telegram.org/js/telegram-web-app.js" {}
            script { (maud::PreEscaped(SCRIPT)) }
        },
    );
    let policy = format!(
        "default-src 'none'; script-src https://telegram.org {}; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors https://web.telegram.org",
        consentgate_adapters::csp_hash(SCRIPT)
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

#[derive(Deserialize)]
pub(super) struct InitDataForm {
    #[serde(default)]
    init_data: String,
}

/// Checks `initData` and signs its Telegram user in, if they own the bot.
pub(super) async fn app_session(
    State(c): State<Console>,
    headers: axum::http::HeaderMap,
    Path(bot): Path<String>,
    Form(form): Form<InitDataForm>,
) -> Response {
    if super::cross_site(&headers) {
        return problem(
            StatusCode::FORBIDDEN,
            "Refused",
            "Sign in from the Mini App.",
            None,
        );
    }
    let Some((bot_id, token)) = c.miniapp_bots.get(&bot).cloned() else {
        return problem(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such assistant.",
            None,
        );
    };
    let refused = |why: &str| {
        let c = c.clone();
        let why = why.to_string();
        async move {
            c.audit(
                Action::ConsoleSignInFailed,
                json!({"step": "miniapp", "reason": why}),
            )
            .await;
            problem(
                StatusCode::UNAUTHORIZED,
                "Not signed in",
                "Telegram could not vouch for you here. Send /panel in your chat with the assistant for a sign-in link.",
                None,
            )
        }
    };
    let telegram_bot_id: i64 = token
        .split(':')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_default();
    let user = match validate(
        form.init_data.get(..8192).unwrap_or(&form.init_data),
        &token,
        telegram_bot_id,
        TELEGRAM_PUBLIC_KEY,
        chrono::Utc::now().timestamp(),
    ) {
        Ok(user) => user,
        Err(why) => return refused(&why.to_string()).await,
    };
    let subject = crate::privacy::identity::find_by_platform_id(
        &c.i.db,
        &c.i.keys,
        bot_id,
        consentgate_adapters::ChannelKind::Telegram,
        &consentgate_adapters::PlatformId::new(user.to_string()),
    )
    .await;
    let subject = match subject {
        Ok(Some(s)) => s,
        Ok(None) => return refused("unknown person").await,
        Err(_) => return unavailable(),
    };
    match c.i.is_owner(bot_id, subject.id, &subject.pseudonym).await {
        Ok(true) => {}
        Ok(false) => return refused("not an owner").await,
        Err(_) => return unavailable(),
    }
    c.sign_in_owner(&format!("owner:{}", subject.pseudonym.as_str()), "miniapp")
        .await
}
