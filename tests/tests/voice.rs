//! Voice notes: transcribed and answered only for people who turned on `voice`, the fake
//! transcription server receiving the audio exactly as the platform served it and the provider
//! only the redacted transcript; without the purpose, or over the limits, the person is told
//! what to do and nothing leaves. Pictures go to a model that takes them only with `images`,
//! and are declined politely otherwise. Audio and pictures are kept nowhere.

mod common;

use common::*;
use consentgate_e2e::FakeTranscriber;
use consentgate_entity::{audit_log, egress_ledger};
use sea_orm::EntityTrait;
use serde_json::json;

/// Opus-in-Ogg-like bytes: binary, with a marker to look for at rest.
fn audio() -> Vec<u8> {
    let mut bytes = b"OggS\x00\x02".to_vec();
    bytes.extend((0..4096u32).map(|i| (i * 7 % 256) as u8));
    bytes.extend(b"VOICE-MARKER-7f3a");
    bytes
}

fn voice(file_id: &str, seconds: u32, size: usize) -> serde_json::Value {
    json!({"file_id": file_id, "file_unique_id": format!("u-{file_id}"), "duration": seconds,
           "mime_type": "audio/ogg", "file_size": size})
}

async fn start() -> (Harness, FakeTranscriber) {
    let transcriber = FakeTranscriber::start().await;
    let env = |k: &str, v: &str| (k.to_string(), v.to_string());
    let h = Harness::start(Options {
        telegram: true,
        extra_env: vec![
            env("TRANSCRIBE_BASE_URL", &transcriber.base_url),
            env("TRANSCRIBE_MODEL", "whisper-1"),
            env("TRANSCRIBE_API_KEY", "test-transcribe-key"),
        ],
        ..Default::default()
    })
    .await;
    (h, transcriber)
}

#[tokio::test]
async fn a_voice_note_is_transcribed_and_answered_only_after_the_person_turned_on_voice() {
    let (h, transcriber) = start().await;
    transcriber.answer("Please call me back on +44 20 7946 0958 about my order");
    let bytes = audio();
    h.telegram.put_file("v1", bytes.clone());
    agreed(&h, MARYAM, false).await;
    // The optional choices offer voice notes, naming the service.
    let choices = h.wait_sent(MARYAM.id, 2).await;
    assert!(
        choices[1].contains("Voice notes")
            && choices[1].contains("transcription service at 127.0.0.1"),
        "{choices:?}"
    );

    // Without the purpose: told how to turn it on; nothing fetched, nothing sent.
    h.telegram.push_update(media_update(
        3,
        MARYAM,
        "voice",
        voice("v1", 4, bytes.len()),
    ));
    let told = h.wait_sent(MARYAM.id, 3).await;
    assert!(told[2].contains("/consent"), "{told:?}");
    assert!(transcriber.requests().is_empty());
    assert!(h.telegram.downloads().is_empty());
    let llm_before = h.llm.requests().len();

    // Turned on, the next voice note is fetched, transcribed and answered.
    let on = button_data(&h, MARYAM.id, "voice: yes");
    h.telegram.push_update(button_update(4, MARYAM, &on));
    h.wait_sent(MARYAM.id, 4).await;
    h.telegram.push_update(media_update(
        5,
        MARYAM,
        "voice",
        voice("v1", 4, bytes.len()),
    ));
    let answered = h.wait_sent(MARYAM.id, 5).await;
    assert!(
        answered[4].starts_with("LLM: Please call me back"),
        "{answered:?}"
    );
    let sent = transcriber.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].audio, bytes,
        "the audio exactly as Telegram served it"
    );
    assert_eq!(sent[0].model, "whisper-1");
    assert_eq!(sent[0].file_name, "voice.ogg");
    assert_eq!(
        sent[0].authorization.as_deref(),
        Some("Bearer test-transcribe-key")
    );
    assert_eq!(h.telegram.downloads(), vec!["voice/v1.oga".to_string()]);
    // The provider saw the transcript redacted.
    let llm = h.llm.requests();
    assert_eq!(llm.len(), llm_before + 1);
    let raw = &llm.last().unwrap().raw;
    assert!(!raw.contains("7946"), "{raw}");
    assert!(raw.contains("about my order"), "{raw}");

    // Recorded: an audit entry and a ledger row with the audio's SHA-256; the audio at rest
    // nowhere.
    let sha = consentgate::privacy::digest::sha256_hex(&bytes);
    let entry = audit_log::Entity::find()
        .all(h.db())
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "voice.transcribed")
        .expect("the transcription audited");
    assert!(entry.detail.contains(&sha), "{}", entry.detail);
    let ledger = egress_ledger::Entity::find().all(h.db()).await.unwrap();
    assert!(
        ledger
            .iter()
            .any(|r| r.provider == "transcription:127.0.0.1" && r.payload_sha256 == sha),
        "{ledger:?}"
    );
    let at_rest = h.sqlite_bytes();
    assert!(
        !at_rest
            .windows(b"VOICE-MARKER-7f3a".len())
            .any(|w| w == b"VOICE-MARKER-7f3a")
    );

    // Too long: said so, and nothing is fetched or sent.
    h.telegram.push_update(media_update(
        6,
        MARYAM,
        "voice",
        voice("v1", 4000, bytes.len()),
    ));
    let too_long = h.wait_sent(MARYAM.id, 6).await;
    assert!(too_long[5].contains("too long"), "{too_long:?}");
    // Too large by what Telegram says of the file.
    h.telegram.push_update(media_update(
        7,
        MARYAM,
        "voice",
        voice("v1", 4, 50 * 1024 * 1024),
    ));
    let too_large = h.wait_sent(MARYAM.id, 7).await;
    assert!(too_large[6].contains("too large"), "{too_large:?}");
    // Too large with no size said beforehand, nor a length: refused as it arrives (the cap is
    // what five minutes of voice could take, well under the 20 MB configured).
    h.telegram.put_file("nosize-big", vec![7u8; 9_700_000]);
    let mut unsized_note = voice("nosize-big", 4, 0);
    unsized_note.as_object_mut().unwrap().remove("file_size");
    unsized_note.as_object_mut().unwrap().remove("duration");
    unsized_note["duration"] = json!(0);
    h.telegram
        .push_update(media_update(70, MARYAM, "voice", unsized_note));
    let refused = h.wait_sent(MARYAM.id, 8).await;
    assert!(refused[7].contains("too large"), "{refused:?}");
    // Someone else's voice, forwarded: not sent.
    let mut forwarded = media_update(71, MARYAM, "voice", voice("v1", 4, bytes.len()));
    forwarded["message"]["forward_origin"] =
        json!({"type": "hidden_user", "date": 1_699_999_000, "sender_user_name": "Someone"});
    h.telegram.push_update(forwarded);
    let refused = h.wait_sent(MARYAM.id, 9).await;
    assert!(refused[8].contains("record yourself"), "{refused:?}");
    assert_eq!(transcriber.requests().len(), 1);

    // The service failing: a polite apology, and the provider is not asked.
    transcriber.fail_with(Some(500));
    h.telegram.push_update(media_update(
        72,
        MARYAM,
        "voice",
        voice("v1", 4, bytes.len()),
    ));
    let failed = h.wait_sent(MARYAM.id, 10).await;
    assert!(failed[9].contains("couldn't make out"), "{failed:?}");
    assert_eq!(h.llm.requests().len(), llm_before + 1);

    // A picture: declined in words.
    h.telegram.push_update(media_update(
        73,
        MARYAM,
        "photo",
        json!([{"file_id": "p1", "file_unique_id": "up1", "width": 90, "height": 90, "file_size": 900}]),
    ));
    let picture = h.wait_sent(MARYAM.id, 11).await;
    assert!(picture[10].contains("pictures"), "{picture:?}");
    // The failure is in the audit log.
    assert!(
        audit_log::Entity::find()
            .all(h.db())
            .await
            .unwrap()
            .iter()
            .any(|e| e.action == "message.held" && e.detail.contains("transcription_failed"))
    );
    h.finish().await;
}

#[tokio::test]
async fn without_a_transcription_service_voice_notes_are_declined_and_not_offered() {
    let h = Harness::start(Options {
        telegram: true,
        ..Default::default()
    })
    .await;
    agreed(&h, MARYAM, false).await;
    let choices = h.wait_sent(MARYAM.id, 2).await;
    assert!(!choices[1].contains("Voice notes"), "{choices:?}");
    h.telegram
        .push_update(media_update(3, MARYAM, "voice", voice("v1", 4, 100)));
    let told = h.wait_sent(MARYAM.id, 3).await;
    assert!(told[2].contains("can't listen to voice notes"), "{told:?}");
    assert!(h.telegram.downloads().is_empty());
    h.finish().await;
}

#[tokio::test]
async fn a_newly_configured_service_gets_nothing_until_a_policy_naming_it_is_agreed_to() {
    let (mut h, transcriber) = start().await;
    transcriber.answer("hello there");
    let bytes = audio();
    h.telegram.put_file("v1", bytes.clone());
    agreed(&h, MARYAM, false).await;
    let on = button_data(&h, MARYAM.id, "voice: yes");
    h.telegram.push_update(button_update(3, MARYAM, &on));
    h.wait_sent(MARYAM.id, 3).await;
    // The operator moves to another model: the grant named the old one.
    h.restart_with(&[("TRANSCRIBE_MODEL", "whisper-large")])
        .await;
    h.telegram.push_update(media_update(
        4,
        MARYAM,
        "voice",
        voice("v1", 4, bytes.len()),
    ));
    let told = h.wait_sent(MARYAM.id, 4).await;
    assert!(told[3].contains("can't listen to voice notes"), "{told:?}");
    assert!(transcriber.requests().is_empty());
    assert!(h.telegram.downloads().is_empty());
    h.finish().await;
}

#[tokio::test]
async fn a_picture_goes_to_a_model_that_takes_pictures_only_after_the_person_turned_on_images() {
    let h = Harness::start(Options {
        telegram: true,
        extra_env: vec![("LLM_IMAGES".to_string(), "true".to_string())],
        ..Default::default()
    })
    .await;
    let jpeg: Vec<u8> = b"\xff\xd8\xff\xe0JFIF"
        .iter()
        .copied()
        .chain((0..3000u32).map(|i| (i * 11 % 256) as u8))
        .collect();
    h.telegram.put_file("p1", jpeg.clone());
    agreed(&h, MARYAM, false).await;
    let choices = h.wait_sent(MARYAM.id, 2).await;
    assert!(
        choices[1].contains("Pictures") && choices[1].contains("cannot have faces"),
        "{choices:?}"
    );
    let photo = |id: i64| {
        let mut update = media_update(
            id,
            MARYAM,
            "photo",
            json!([{"file_id": "p1", "file_unique_id": "up1", "width": 640, "height": 480, "file_size": jpeg.len()}]),
        );
        update["message"]["caption"] = json!("how much is this? call me on +44 20 7946 0958");
        update
    };
    let llm_before = h.llm.requests().len();

    // Without `images`: how to turn it on; nothing fetched or sent.
    h.telegram.push_update(photo(3));
    let told = h.wait_sent(MARYAM.id, 3).await;
    assert!(told[2].contains("/consent"), "{told:?}");
    assert!(h.telegram.downloads().is_empty());
    assert_eq!(h.llm.requests().len(), llm_before);

    // With it: the picture as it came, the caption redacted.
    let on = button_data(&h, MARYAM.id, "images: yes");
    h.telegram.push_update(button_update(4, MARYAM, &on));
    h.wait_sent(MARYAM.id, 4).await;
    h.telegram.push_update(photo(5));
    let answered = h.wait_sent(MARYAM.id, 5).await;
    assert!(answered[4].contains("[picture]"), "{answered:?}");
    let request = h.llm.requests().pop().unwrap();
    let parts = request.body["messages"].as_array().unwrap().last().unwrap()["content"].clone();
    let caption = parts[0]["text"].as_str().unwrap();
    assert!(
        caption.contains("how much is this") && !caption.contains("7946"),
        "{caption}"
    );
    let url = parts[1]["image_url"]["url"].as_str().unwrap();
    use base64::Engine;
    assert_eq!(
        url,
        format!(
            "data:image/jpeg;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(&jpeg)
        )
    );
    // Recorded like any forward (the ledger's SHA-256 covers the picture); kept nowhere.
    let at_rest = h.sqlite_bytes();
    assert!(!at_rest.windows(jpeg.len()).any(|w| w == jpeg.as_slice()));
    h.finish().await;
}
