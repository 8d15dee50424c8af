//! An OpenAI-compatible `/embeddings` client: vectors for knowledge-base passages (redacted
//! before they leave) and for questions (already redacted), so passages close in meaning are
//! found as well as those sharing words.

use std::time::Duration;

use serde::Deserialize;

use crate::config::{EmbeddingsSettings, Secret};

/// Inputs sent in one request at most.
pub const BATCH: usize = 64;
/// The longest answer read.
const MOST_BYTES: usize = 16 * 1024 * 1024;
/// The most dimensions a vector may have.
const MOST_DIMENSIONS: usize = 8192;

/// Why no vectors came back. Never carries the inputs.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the embeddings service did not answer in time")]
    Timeout,
    #[error("the embeddings service answered HTTP {0}")]
    Status(u16),
    #[error("the embeddings service could not be reached")]
    Network,
    #[error("the embeddings service's answer could not be read")]
    Malformed,
}

/// The service.
pub struct Embedder {
    http: Option<reqwest::Client>,
    endpoint: String,
    model: String,
    api_key: Option<Secret>,
    timeout: Duration,
    /// Who it is in the `assistant` purpose: questions go to it only while the text in effect
    /// names it.
    pub recipient: String,
    /// Its host, for the egress ledger (`embeddings:{host}`).
    pub host: String,
}

/// The exact bytes of a request, built before it is sent so that its SHA-256 can be recorded.
pub struct Request {
    pub bytes: Vec<u8>,
    count: usize,
}

#[derive(Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

impl Embedder {
    pub fn new(settings: &EmbeddingsSettings) -> Embedder {
        Embedder {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(settings.timeout)
                .build()
                .inspect_err(|e| tracing::error!(error = %e, "no HTTP client for embeddings"))
                .ok(),
            endpoint: format!(
                "{}/embeddings",
                settings.base_url.as_str().trim_end_matches('/')
            ),
            model: settings.model.clone(),
            api_key: settings.api_key.clone(),
            timeout: settings.timeout,
            recipient: settings.recipient.clone(),
            host: settings
                .base_url
                .host_str()
                .unwrap_or("embeddings")
                .to_string(),
        }
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// The request for `inputs` (at most [`BATCH`]).
    pub fn request(&self, inputs: &[String]) -> Request {
        let body = serde_json::json!({"model": self.model, "input": inputs});
        Request {
            bytes: serde_json::to_vec(&body).unwrap_or_default(),
            count: inputs.len(),
        }
    }

    /// Sends a request made by [`Embedder::request`]: one vector per input, in order.
    pub async fn send(&self, request: Request) -> Result<Vec<Vec<f32>>, EmbedError> {
        let http = self.http.as_ref().ok_or(EmbedError::Network)?;
        let mut call = http
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.bytes);
        if let Some(key) = &self.api_key {
            call = call.bearer_auth(key.expose());
        }
        let answered = async {
            let mut response = call.send().await.map_err(|e| {
                if e.is_timeout() {
                    EmbedError::Timeout
                } else {
                    EmbedError::Network
                }
            })?;
            if !response.status().is_success() {
                return Err(EmbedError::Status(response.status().as_u16()));
            }
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|_| EmbedError::Network)? {
                body.extend_from_slice(&chunk);
                if body.len() > MOST_BYTES {
                    return Err(EmbedError::Malformed);
                }
            }
            Ok(body)
        };
        let body = tokio::time::timeout(self.timeout, answered)
            .await
            .map_err(|_| EmbedError::Timeout)??;
        let answer: Answer = serde_json::from_slice(&body).map_err(|_| EmbedError::Malformed)?;
        if answer.data.len() != request.count {
            return Err(EmbedError::Malformed);
        }
        let mut vectors = vec![Vec::new(); request.count];
        for (n, item) in answer.data.into_iter().enumerate() {
            let at = item.index.unwrap_or(n);
            if at >= vectors.len()
                || item.embedding.is_empty()
                || item.embedding.len() > MOST_DIMENSIONS
                || item.embedding.iter().any(|x| !x.is_finite())
            {
                return Err(EmbedError::Malformed);
            }
            vectors[at] = item.embedding;
        }
        if vectors.iter().any(Vec::is_empty) {
            return Err(EmbedError::Malformed);
        }
        Ok(vectors)
    }
}

/// A vector as stored (little-endian f32s), before encryption.
pub fn to_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A vector with the model that made it, as stored before encryption: the model's name, a NUL,
/// then the vector.
pub fn to_stored(model: &str, vector: &[f32]) -> Vec<u8> {
    let mut out = model.as_bytes().to_vec();
    out.push(0);
    out.extend(to_bytes(vector));
    out
}

/// The model and the vector of stored bytes; `None` for bytes that are not one.
pub fn from_stored(bytes: &[u8]) -> Option<(String, Vec<f32>)> {
    let at = bytes.iter().position(|b| *b == 0)?;
    let model = std::str::from_utf8(&bytes[..at]).ok()?.to_string();
    Some((model, from_bytes(&bytes[at + 1..])?))
}

/// A stored vector; `None` for bytes that are not one.
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) || bytes.len() / 4 > MOST_DIMENSIONS {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// The cosine of the angle between two vectors; 0 when they differ in length or one is zero.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_storage_and_cosine_is_the_angle() {
        let v = vec![0.5, -1.25, 3.0];
        assert_eq!(from_bytes(&to_bytes(&v)), Some(v.clone()));
        assert_eq!(from_bytes(&[1, 2, 3]), None);
        assert_eq!(
            from_stored(&to_stored("m-1", &v)),
            Some(("m-1".to_string(), v.clone()))
        );
        assert_eq!(from_stored(&to_bytes(&v)), None);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 1.0]).abs() < 1e-6);
        assert_eq!(cosine(&[1.0], &[1.0, 2.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
    }
}
