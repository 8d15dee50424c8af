//! Voice notes into text: an OpenAI-compatible `POST {base}/audio/transcriptions` (multipart,
//! `file` and `model`), as whisper.cpp's and faster-whisper's servers and the providers speak
//! it. The audio is sent as it came and kept nowhere; only the text comes back.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{Secret, TranscriptionSettings};

/// Why a voice note was not transcribed.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    #[error("the transcription service could not be reached: {0}")]
    Unreachable(String),
    #[error("the transcription service answered {0}")]
    Status(u16),
    #[error("the transcription service's answer could not be read")]
    Malformed,
}

/// The configured transcription service.
pub struct Transcriber {
    http: reqwest::Client,
    /// `transcription:{host}`, in the audit log and the egress ledger.
    name: String,
    /// Voice notes fetched and transcribed at once, at most.
    slots: tokio::sync::Semaphore,
    endpoint: String,
    model: String,
    api_key: Option<Secret>,
    /// Who it is, as the `voice` purpose names it.
    pub recipient: String,
    pub max_seconds: u32,
    max_bytes: u64,
}

/// Bytes a second of audio may take when a note's size stands in for its length: generous for
/// voice (Opus at 16–32 kbit/s is 2–4 kB/s) and for 128 kbit/s MP3 (16 kB/s).
const BYTES_PER_SECOND: u64 = 32_000;

/// Voice notes fetched and transcribed at once, per process.
const AT_ONCE: usize = 4;

/// What a transcription answer carries.
#[derive(Deserialize)]
struct Answer {
    text: String,
}

/// A file name the service can tell the format from.
fn file_name(mime: Option<&str>) -> &'static str {
    let mime = mime.unwrap_or_default();
    if mime.contains("mpeg") || mime.contains("mp3") {
        "voice.mp3"
    } else if mime.contains("mp4") || mime.contains("m4a") || mime.contains("aac") {
        "voice.m4a"
    } else if mime.contains("wav") {
        "voice.wav"
    } else if mime.contains("webm") {
        "voice.webm"
    } else {
        // Telegram's and WhatsApp's voice notes: Opus in Ogg.
        "voice.ogg"
    }
}

impl Transcriber {
    pub fn new(settings: &TranscriptionSettings) -> Self {
        Transcriber {
            name: format!(
                "transcription:{}",
                settings.base_url.host_str().unwrap_or("configured")
            ),
            slots: tokio::sync::Semaphore::new(AT_ONCE),
            http: reqwest::Client::builder()
                .timeout(settings.timeout)
                .connect_timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            endpoint: format!(
                "{}/audio/transcriptions",
                settings.base_url.as_str().trim_end_matches('/')
            ),
            model: settings.model.clone(),
            api_key: settings.api_key.clone(),
            recipient: settings.recipient.clone(),
            max_seconds: settings.max_seconds,
            max_bytes: settings.max_bytes,
        }
    }

    /// The name of the service in the audit log and the egress ledger.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The largest note taken: the configured size, and no more than `max_seconds` of audio
    /// could take (platforms do not always say how long a note is, and senders can misstate it).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
            .min(u64::from(self.max_seconds) * BYTES_PER_SECOND)
    }

    /// Waits for one of the few places for a voice note in memory.
    pub async fn slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.slots.acquire().await.ok()
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The text of a voice note.
    pub async fn transcribe(
        &self,
        audio: Vec<u8>,
        mime: Option<&str>,
    ) -> Result<String, TranscribeError> {
        let mut part = reqwest::multipart::Part::bytes(audio).file_name(file_name(mime));
        if let Some(m) = mime {
            part = part
                .mime_str(m)
                .map_err(|_| TranscribeError::Unreachable("unusable media type".into()))?;
        }
        let form = reqwest::multipart::Form::new()
            .text("model", self.model.clone())
            .text("response_format", "json")
            .part("file", part);
        let mut request = self.http.post(&self.endpoint).multipart(form);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| TranscribeError::Unreachable(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(TranscribeError::Status(response.status().as_u16()));
        }
        let answer: Answer = response
            .json()
            .await
            .map_err(|_| TranscribeError::Malformed)?;
        Ok(answer.text.trim().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn the_file_name_tells_the_format() {
        assert_eq!(file_name(Some("audio/ogg; codecs=opus")), "voice.ogg");
        assert_eq!(file_name(Some("audio/mpeg")), "voice.mp3");
        assert_eq!(file_name(Some("audio/mp4")), "voice.m4a");
        assert_eq!(file_name(None), "voice.ogg");
    }
}
