//! Outbound pacing: token buckets per bot and per chat shaped to each platform, and one retry
//! policy for every send. A platform's `retry_after` is honoured; transient failures are retried
//! with jittered exponential back-off up to a cap; permanent ones (blocked, unreachable, window
//! closed, bad request) are returned at once for the caller to record.

use std::{
    num::NonZeroU32,
    sync::atomic::{AtomicI64, AtomicU64, Ordering},
    time::Duration,
};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng;

use crate::model::SendError;

/// The limits one bot keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Messages per second for the whole bot (or WhatsApp number).
    pub per_bot_per_second: u32,
    /// One message per this period to the same private chat or person …
    pub chat_period: Duration,
    /// … with bursts of up to this many.
    pub chat_burst: u32,
    /// One message per this period to the same group, with `chat_burst` bursts.
    pub group_period: Duration,
    /// Attempts per message, the first included.
    pub max_attempts: u32,
    /// The longest wait between attempts (a platform's `retry_after` is capped here too).
    pub max_backoff: Duration,
}

impl Limits {
    /// Telegram and Bale: about 30 messages a second per bot, one a second per private chat
    /// (short bursts allowed), 20 a minute per group.
    pub const BOT_API: Limits = Limits {
        per_bot_per_second: 30,
        chat_period: Duration::from_secs(1),
        chat_burst: 5,
        group_period: Duration::from_secs(3),
        max_attempts: 5,
        max_backoff: Duration::from_secs(60),
    };

    /// WhatsApp Cloud API: 80 messages a second per number, about one per 6 s to the same
    /// person, with bursts.
    pub const WHATSAPP: Limits = Limits {
        per_bot_per_second: 80,
        chat_period: Duration::from_secs(6),
        chat_burst: 10,
        group_period: Duration::from_secs(6),
        max_attempts: 5,
        max_backoff: Duration::from_secs(120),
    };
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// Paces and retries the sends of one bot.
pub struct Pacer {
    limits: Limits,
    bot: DefaultDirectRateLimiter,
    chats: DefaultKeyedRateLimiter<String>,
    groups: DefaultKeyedRateLimiter<String>,
    /// Sends waiting for a token or a retry right now.
    waiting: AtomicI64,
    /// Times a send had to wait for the platform's limits (ours or its `retry_after`).
    waits: AtomicU64,
}

impl Pacer {
    pub fn new(limits: Limits) -> Self {
        let per_chat = Quota::with_period(limits.chat_period)
            .unwrap_or(Quota::per_second(nz(1)))
            .allow_burst(nz(limits.chat_burst));
        let per_group = Quota::with_period(limits.group_period)
            .unwrap_or(Quota::per_second(nz(1)))
            .allow_burst(nz(limits.chat_burst));
        Pacer {
            limits,
            bot: RateLimiter::direct(Quota::per_second(nz(limits.per_bot_per_second))),
            chats: RateLimiter::keyed(per_chat),
            groups: RateLimiter::keyed(per_group),
            waiting: AtomicI64::new(0),
            waits: AtomicU64::new(0),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Sends waiting right now.
    pub fn queue_depth(&self) -> i64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits so far for rate limits.
    pub fn rate_limit_waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
    }

    /// Forgets buckets of chats that have been quiet.
    pub fn housekeeping(&self) {
        self.chats.retain_recent();
        self.chats.shrink_to_fit();
        self.groups.retain_recent();
        self.groups.shrink_to_fit();
    }

    /// Waits until the bot may send one more request (for chat actions, which are not
    /// messages to the chat).
    pub(crate) async fn take_bot_token(&self) {
        if self.bot.check().is_err() {
            self.waits.fetch_add(1, Ordering::Relaxed);
            self.bot.until_ready().await;
        }
    }

    /// Waits until `chat` (and the bot) may receive one more update.
    pub(crate) async fn take_tokens(&self, chat: &str, group: bool) {
        let key = chat.to_string();
        let limiter = if group { &self.groups } else { &self.chats };
        if limiter.check_key(&key).is_err() {
            self.waits.fetch_add(1, Ordering::Relaxed);
            limiter.until_key_ready(&key).await;
        }
        if self.bot.check().is_err() {
            self.waits.fetch_add(1, Ordering::Relaxed);
            self.bot.until_ready().await;
        }
    }

    /// Sends one message with `attempt`, pacing it and retrying what is worth retrying.
    pub async fn send<F, Fut>(&self, chat: &str, group: bool, attempt: F) -> Result<(), SendError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), SendError>>,
    {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let result = self.send_inner(chat, group, attempt).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        result
    }

    async fn send_inner<F, Fut>(&self, chat: &str, group: bool, attempt: F) -> Result<(), SendError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), SendError>>,
    {
        let mut tries = 0u32;
        loop {
            self.take_tokens(chat, group).await;
            tries += 1;
            let err = match attempt().await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            if tries >= self.limits.max_attempts {
                return Err(err);
            }
            let wait = match &err {
                SendError::RateLimited(secs) => {
                    self.waits.fetch_add(1, Ordering::Relaxed);
                    Duration::from_secs(*secs).min(self.limits.max_backoff)
                }
                SendError::Transient(_) => {
                    // 0.5 s, 1 s, 2 s … with up to 50% jitter, capped.
                    let base = Duration::from_millis(500) * 2u32.saturating_pow(tries - 1);
                    let jitter = rand::thread_rng().gen_range(0.0..0.5);
                    base.mul_f64(1.0 + jitter).min(self.limits.max_backoff)
                }
                _ => return Err(err),
            };
            tracing::debug!(error = %err, attempt = tries, wait_ms = wait.as_millis() as u64, "send failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn a_chat_keeps_its_order_and_its_worker_leaves_when_done() {
        let queues = Arc::new(ChatQueues::default());
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (hold, release) = tokio::sync::oneshot::channel::<()>();
        // Chat "a" waits on its first job; "b" is not held up by it.
        let s = sent.clone();
        queues.push("a".into(), async move {
            let _ = release.await;
            s.lock().unwrap().push("a1");
        });
        for (chat, label) in [("a", "a2"), ("b", "b1"), ("a", "a3")] {
            let s = sent.clone();
            queues.push(chat.into(), async move { s.lock().unwrap().push(label) });
        }
        assert!(!queues.drain(Duration::from_millis(200)).await);
        assert_eq!(*sent.lock().unwrap(), ["b1"]);
        assert_eq!(
            queues.active(),
            1,
            "b's worker left once its queue was empty"
        );
        hold.send(()).unwrap();
        assert!(queues.drain(Duration::from_secs(5)).await);
        assert_eq!(*sent.lock().unwrap(), ["b1", "a1", "a2", "a3"]);
        // The worker leaves after its last job: wait for it to notice.
        for _ in 0..100 {
            if queues.active() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(queues.active(), 0);
        // A chat heard from again gets a worker again.
        let s = sent.clone();
        queues.push("a".into(), async move { s.lock().unwrap().push("a4") });
        assert!(queues.drain(Duration::from_secs(5)).await);
        assert_eq!(sent.lock().unwrap().last(), Some(&"a4"));
    }

    #[tokio::test]
    async fn permanent_errors_are_not_retried_and_transient_ones_are() {
        let pacer = Pacer::new(Limits {
            max_backoff: Duration::from_millis(20),
            ..Limits::BOT_API
        });
        let calls = Arc::new(Mutex::new(0));
        let c = calls.clone();
        let r = pacer
            .send("1", false, || {
                *c.lock().unwrap() += 1;
                async { Err(SendError::Blocked) }
            })
            .await;
        assert!(matches!(r, Err(SendError::Blocked)));
        assert_eq!(*calls.lock().unwrap(), 1);
        let c = calls.clone();
        let r = pacer
            .send("2", false, || {
                let n = {
                    let mut g = c.lock().unwrap();
                    *g += 1;
                    *g
                };
                async move {
                    if n < 4 {
                        Err(SendError::Transient("502".into()))
                    } else {
                        Ok(())
                    }
                }
            })
            .await;
        assert!(r.is_ok());
        assert_eq!(*calls.lock().unwrap(), 4);
        let c = calls.clone();
        let r = pacer
            .send("3", false, || {
                *c.lock().unwrap() += 1;
                async { Err(SendError::Transient("down".into())) }
            })
            .await;
        assert!(matches!(r, Err(SendError::Transient(_))));
        assert_eq!(*calls.lock().unwrap(), 4 + 5, "gave up after max_attempts");
        assert_eq!(pacer.queue_depth(), 0);
    }
}

/// One ordered queue of send jobs per chat: a slow chat (waiting for its limit, or for a
/// `retry_after`) never holds up another, and one chat's replies keep their order. A chat's
/// worker ends as soon as its queue is empty (its rate-limit state is kept by the [`Pacer`]), so
/// memory follows the chats with replies in flight, not every chat heard from lately.
#[derive(Default)]
pub struct ChatQueues {
    queues: std::sync::Mutex<
        std::collections::HashMap<String, tokio::sync::mpsc::UnboundedSender<Job>>,
    >,
    /// Jobs queued or running.
    pending: std::sync::Arc<AtomicI64>,
}

type Job = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

impl ChatQueues {
    /// Queues `job` behind the chat's earlier jobs.
    pub fn push(
        self: &std::sync::Arc<Self>,
        chat: String,
        job: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let pending = self.pending.clone();
        pending.fetch_add(1, Ordering::SeqCst);
        let job: Job = Box::pin(async move {
            job.await;
            pending.fetch_sub(1, Ordering::SeqCst);
        });
        if let Some(tx) = queues.get(&chat) {
            match tx.send(job) {
                Ok(()) => return,
                Err(tokio::sync::mpsc::error::SendError(job)) => {
                    queues.remove(&chat);
                    return self.spawn_worker(&mut queues, chat, job);
                }
            }
        }
        self.spawn_worker(&mut queues, chat, job);
    }

    /// Replies queued or being sent right now.
    pub fn pending(&self) -> i64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// Waits until every queued reply was sent (or given up), at most `deadline`. `false` when
    /// the deadline came first.
    pub async fn drain(&self, deadline: Duration) -> bool {
        let until = tokio::time::Instant::now() + deadline;
        while self.pending() > 0 {
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Chats with a worker right now.
    pub fn active(&self) -> usize {
        self.queues.lock().map(|q| q.len()).unwrap_or(0)
    }

    fn spawn_worker(
        self: &std::sync::Arc<Self>,
        queues: &mut std::collections::HashMap<String, tokio::sync::mpsc::UnboundedSender<Job>>,
        chat: String,
        first: Job,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let _ = tx.send(first);
        queues.insert(chat.clone(), tx);
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match rx.try_recv() {
                    Ok(job) => job.await,
                    Err(tokio::sync::mpsc::error::TryRecvError::Empty) => {
                        // Done: leave, unless a job arrived while the map was being locked.
                        let mut queues = this.queues.lock().unwrap_or_else(|e| e.into_inner());
                        if rx.is_empty() {
                            queues.remove(&chat);
                            return;
                        }
                    }
                    Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => return,
                }
            }
        });
    }
}
