//! Every parser of outside input, fed arbitrary bytes and arbitrary JSON: a Telegram or Bale
//! update, a WhatsApp webhook body, the web chat's request bodies. None may panic; each either
//! reads the input or refuses it cleanly.

use std::sync::Arc;

use async_trait::async_trait;
use axum::{body::Body, http::Request};
use consentgate_adapters::{
    ChannelKind, HandleError, Inbound, InboundHandler, Outbound,
    telegram::{Me, parse_update_as},
    webchat::{SessionKey, WebChat, WebChatSettings},
    whatsapp::parse_webhook,
};
use proptest::prelude::*;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Arbitrary JSON, a few levels deep, with keys the parsers look for mixed into random ones.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("update_id".to_string()),
        Just("message".to_string()),
        Just("callback_query".to_string()),
        Just("my_chat_member".to_string()),
        Just("chat".to_string()),
        Just("from".to_string()),
        Just("text".to_string()),
        Just("id".to_string()),
        Just("type".to_string()),
        Just("entry".to_string()),
        Just("changes".to_string()),
        Just("field".to_string()),
        Just("value".to_string()),
        Just("messages".to_string()),
        Just("statuses".to_string()),
        Just("contacts".to_string()),
        Just("user_preferences".to_string()),
        Just("errors".to_string()),
        Just("wa_id".to_string()),
        Just("status".to_string()),
        "[a-z_]{1,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,24}".prop_map(Value::from),
        prop_oneof![
            Just("messages"),
            Just("user_preferences"),
            Just("text"),
            Just("interactive"),
            Just("button"),
            Just("failed"),
            Just("private"),
            Just("supergroup"),
            Just("/start"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn telegram_updates_of_any_text_parse_or_are_refused(raw in "\\PC{0,200}") {
        for channel in [ChannelKind::Telegram, ChannelKind::Bale] {
            let _ = parse_update_as(channel, "bot", None, &raw);
        }
    }

    #[test]
    fn telegram_updates_of_any_json_parse_or_are_refused(value in json_value(), id in any::<i64>()) {
        let me = Me { id: 1, username: "shop_bot".into() };
        let _ = parse_update_as(ChannelKind::Telegram, "bot", Some(&me), &value.to_string());
        // The same shapes inside a real update id and a message, to reach further in.
        let wrapped = json!({"update_id": id, "message": value.clone(), "callback_query": value});
        let _ = parse_update_as(ChannelKind::Telegram, "bot", Some(&me), &wrapped.to_string());
    }

    #[test]
    fn whatsapp_webhooks_of_any_json_parse_to_something_or_nothing(value in json_value()) {
        let _ = parse_webhook("wa", &value);
        for field in ["messages", "user_preferences"] {
            let body = json!({"entry": [{"changes": [{"field": field, "value": value.clone()}]}]});
            let _ = parse_webhook("wa", &body);
            let body = json!({"entry": [{"changes": [{"field": field, "value": {
                "messages": [value.clone()],
                "statuses": [value.clone()],
                "contacts": [value.clone()],
                "user_preferences": [value.clone()],
            }}]}]});
            let _ = parse_webhook("wa", &body);
        }
    }
}

/// A pipeline that answers nothing: the property is about the adapter's own parsing.
struct Silent;

#[async_trait]
impl InboundHandler for Silent {
    async fn handle(&self, _inbound: Inbound) -> Result<Vec<Outbound>, HandleError> {
        Ok(Vec::new())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn web_chat_bodies_of_any_bytes_get_an_answer(body in prop::collection::vec(any::<u8>(), 0..512), json in json_value()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let chat = WebChat::new(
                WebChatSettings {
                    bot_name: "webchat".into(),
                    secure_cookie: false,
                    max_sessions: 16,
                    session_key: SessionKey(vec![7; 32]),
                    sessions_per_minute: 100_000,
                    messages_per_minute: 100_000,
                    sessions_per_address: 100_000,
                    messages_per_address: 100_000,
                },
                Arc::new(Silent),
            );
            let router = chat.router();
            let session = router
                .clone()
                .oneshot(Request::post("/webchat/api/session").body(Body::empty()).unwrap())
                .await
                .unwrap();
            let cookie = session.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
            for path in ["/webchat/api/messages", "/webchat/api/buttons"] {
                for payload in [body.clone(), json.to_string().into_bytes()] {
                    let request = Request::post(path)
                        .header("content-type", "application/json")
                        .header("cookie", &cookie)
                        .body(Body::from(payload))
                        .unwrap();
                    let status = router.clone().oneshot(request).await.unwrap().status();
                    assert!(status.is_success() || status.is_client_error(), "{path}: {status}");
                }
            }
        });
    }
}
