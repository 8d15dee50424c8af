//! Telegram updates as the Bot API sends them, for people known by a number: a private text
//! (with its `bot_command` entity when it starts with `/`) and a press of an inline button.

use serde_json::{Value, json};

/// The sender: a person (not a bot) named "Person".
pub fn person(id: i64) -> Value {
    json!({"id": id, "is_bot": false, "first_name": "Person"})
}

/// The private chat with that person (Telegram gives it the person's id).
pub fn private_chat(id: i64) -> Value {
    json!({"id": id, "type": "private", "first_name": "Person"})
}

/// A text `person` sent in private, as update (and message) `update_id`.
pub fn text(update_id: i64, person_id: i64, text: &str) -> Value {
    let mut message = json!({
        "message_id": update_id,
        "date": 1_700_000_000,
        "chat": private_chat(person_id),
        "from": person(person_id),
        "text": text,
    });
    if text.starts_with('/') {
        let length = text
            .split_whitespace()
            .next()
            .map_or(0, |c| c.chars().count());
        message["entities"] = json!([{"type": "bot_command", "offset": 0, "length": length}]);
    }
    json!({"update_id": update_id, "message": message})
}

/// `person` pressing the inline button carrying `data` under one of the bot's messages.
pub fn button(update_id: i64, person_id: i64, data: &str) -> Value {
    json!({
        "update_id": update_id,
        "callback_query": {
            "id": format!("cbq-{update_id}"),
            "from": person(person_id),
            "message": {
                "message_id": 5000 + update_id,
                "date": 1_700_000_000,
                "chat": private_chat(person_id),
                "from": {"id": 1, "is_bot": true, "first_name": "Fake", "username": "fake_bot"},
                "text": "policy"
            },
            "chat_instance": "-42",
            "data": data
        }
    })
}
