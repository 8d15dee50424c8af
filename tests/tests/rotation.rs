//! `consentgate keys rotate`: every stored secret re-encrypted with the first key, resumably;
//! afterwards the old key can go and everything still reads.

mod common;

use common::*;
use consentgate::{
    privacy::identity,
    privacy::keys::GeneratedKeys,
    privacy::rotation::{TableReport, rotate},
    rights::conversation,
};
use consentgate_entity::conversation_messages;
use sea_orm::EntityTrait;

fn table<'a>(report: &'a [TableReport], name: &str) -> &'a TableReport {
    report.iter().find(|r| r.table == name).unwrap()
}

#[tokio::test]
async fn rotation_re_encrypts_everything_and_can_be_run_again() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    agreed(&h, IVAN, true).await;
    h.telegram
        .push_update(text_update(4, IVAN, "remember the lilacs"));
    h.wait_sent(IVAN.id, 4).await;
    let before = conversation_messages::Entity::find()
        .all(h.db())
        .await
        .unwrap();

    let old = h.keys.fernet.clone();
    let new = GeneratedKeys::new().fernet;
    let both = h.keys_with(&[("FERNET_KEYS", &format!("{new},{old}"))]);
    let dry = rotate(h.db(), &both, true).await.unwrap();
    assert_eq!(table(&dry, "channel_identities").rotated, 2);
    // The question, the answer, and the names each was stored with.
    assert_eq!(table(&dry, "conversation_messages").rotated, 4);
    let done = rotate(h.db(), &both, false).await.unwrap();
    assert_eq!(done, dry, "the dry run counted what the run did");
    // Run again (as after an interruption): nothing left to do.
    let again = rotate(h.db(), &both, false).await.unwrap();
    assert_eq!(table(&again, "channel_identities").rotated, 0);
    assert_eq!(table(&again, "channel_identities").current, 2);
    assert_eq!(table(&again, "conversation_messages").current, 4);
    let after = conversation_messages::Entity::find()
        .all(h.db())
        .await
        .unwrap();
    assert_ne!(before[0].text_enc, after[0].text_enc);

    // The old key can go: everything reads with the new one alone.
    let only_new = h.keys_with(&[("FERNET_KEYS", &new)]);
    let subject = consentgate_entity::subjects::Entity::find()
        .one(h.db())
        .await
        .unwrap()
        .unwrap();
    let ids = identity::identities_of(h.db(), &only_new, subject.id)
        .await
        .unwrap();
    assert_eq!(
        ids[0].user_id.as_deref(),
        Some(IVAN.id.to_string().as_str())
    );
    let stored = conversation::all(h.db(), &only_new, subject.id)
        .await
        .unwrap();
    assert_eq!(stored[0].text, "remember the lilacs");
    assert!(stored[0].names.iter().any(|n| n == IVAN.first_name));
    // And the old key alone no longer does.
    let only_old = h.keys_with(&[("FERNET_KEYS", &old)]);
    let ids = identity::identities_of(h.db(), &only_old, subject.id)
        .await
        .unwrap();
    assert_eq!(ids[0].user_id, None);
    h.finish().await;
}
