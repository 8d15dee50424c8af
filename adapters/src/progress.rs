//! A reply being written: the pipeline says how far the answer has got, and the channel shows
//! it (a Telegram draft, the web chat's growing bubble) or that something is being written (the
//! `typing` action, WhatsApp's typing indicator). Updates coalesce: a channel that is slower
//! than the model (its rate limits) shows the latest text when it can, never a backlog.

use tokio::sync::watch;

/// How far a reply has got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Stage {
    /// Nothing yet.
    #[default]
    Idle,
    /// The answer is being asked for; no text yet (or the text so far was dropped, when a
    /// provider failed midway and the next one starts again).
    Writing,
    /// The answer so far, as Markdown with every placeholder restored.
    Text(String),
}

/// The pipeline's side: where it reports progress. Dropping it ends the showing.
pub struct Progress {
    tx: Option<watch::Sender<Stage>>,
}

impl Progress {
    /// Progress that goes nowhere (a channel that shows none, a replay, a test).
    pub fn none() -> Progress {
        Progress { tx: None }
    }

    /// Progress and the receiver a channel shows it from.
    pub fn channel() -> (Progress, watch::Receiver<Stage>) {
        let (tx, rx) = watch::channel(Stage::Idle);
        (Progress { tx: Some(tx) }, rx)
    }

    /// The answer is being asked for.
    pub fn writing(&self) {
        if let Some(tx) = &self.tx {
            tx.send_replace(Stage::Writing);
        }
    }

    /// The answer so far (restored Markdown). Cheap when nobody watches.
    pub fn text(&self, so_far: &str) {
        if let Some(tx) = &self.tx
            && !so_far.trim().is_empty()
        {
            tx.send_if_modified(|stage| match stage {
                Stage::Text(old) if old == so_far => false,
                _ => {
                    *stage = Stage::Text(so_far.to_string());
                    true
                }
            });
        }
    }

    /// Whether anyone is shown the progress.
    pub fn watched(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| !tx.is_closed())
    }
}

/// Where a reply is being written.
#[derive(Clone, Debug)]
pub struct Writing {
    pub chat: crate::PlatformId,
    /// A one-to-one chat (drafts are shown only there).
    pub private: bool,
    /// The platform id of the message being answered (WhatsApp marks it read with the typing
    /// indicator).
    pub message_id: Option<String>,
}
