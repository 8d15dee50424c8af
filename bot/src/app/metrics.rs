//! Prometheus metrics, served at `/metrics`. Labels name channels, purposes, actions, reasons and
//! data types — never a person, an id or any text.

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabel {
    pub channel: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsentLabel {
    pub purpose: String,
    pub action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    pub r#type: String,
}

/// Everything the gateway counts.
pub struct Metrics {
    registry: Registry,
    pub messages_in: Family<ChannelLabel, Counter>,
    pub messages_out: Family<ChannelLabel, Counter>,
    pub consent_prompts: Family<ChannelLabel, Counter>,
    pub consent_events: Family<ConsentLabel, Counter>,
    pub held: Family<ReasonLabel, Counter>,
    pub rate_limited: Counter,
    pub llm_latency: Histogram,
    pub llm_errors: Family<ReasonLabel, Counter>,
    pub redactions: Family<TypeLabel, Counter>,
    pub outbound_queue: Gauge,
    /// Webhook requests refused (wrong secret or signature), per channel, since start.
    pub webhooks_refused: Family<ChannelLabel, Gauge>,
    pub rate_limit_waits: Gauge,
    /// Per bot and day, for the console: written to the database by housekeeping.
    pub daily: crate::store::daily::DailyCounts,
    /// Where the outbound figures are read from when `/metrics` is rendered.
    outbound: std::sync::OnceLock<(
        std::sync::Arc<consentgate_adapters::outbound::ChatQueues>,
        Vec<std::sync::Arc<consentgate_adapters::outbound::Pacer>>,
    )>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("consentgate");
        let m = Metrics {
            messages_in: Family::default(),
            messages_out: Family::default(),
            consent_prompts: Family::default(),
            consent_events: Family::default(),
            held: Family::default(),
            rate_limited: Counter::default(),
            // 5 ms … ~41 s
            llm_latency: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            llm_errors: Family::default(),
            redactions: Family::default(),
            outbound_queue: Gauge::default(),
            webhooks_refused: Family::default(),
            rate_limit_waits: Gauge::default(),
            daily: Default::default(),
            outbound: std::sync::OnceLock::new(),
            registry: Registry::default(),
        };
        registry.register(
            "outbound_queue_depth",
            "Replies queued or being sent, waiting for the platforms' limits",
            m.outbound_queue.clone(),
        );
        registry.register(
            "webhooks_refused",
            "Webhook requests refused for a wrong secret or signature, per channel, since start",
            m.webhooks_refused.clone(),
        );
        registry.register(
            "rate_limit_waits",
            "Times a send waited for a rate limit (ours or the platform's retry_after), since start",
            m.rate_limit_waits.clone(),
        );
        registry.register(
            "messages_in",
            "Messages received, per channel",
            m.messages_in.clone(),
        );
        registry.register(
            "messages_out",
            "Replies sent, per channel",
            m.messages_out.clone(),
        );
        registry.register(
            "consent_prompts",
            "Consent prompts shown, per channel",
            m.consent_prompts.clone(),
        );
        registry.register(
            "consent_events",
            "Consent decisions recorded, per purpose and action",
            m.consent_events.clone(),
        );
        registry.register(
            "messages_held",
            "Messages neither stored nor forwarded, per reason",
            m.held.clone(),
        );
        registry.register(
            "rate_limited",
            "Messages refused by the per-person rate limit",
            m.rate_limited.clone(),
        );
        registry.register(
            "llm_latency_seconds",
            "Time the LLM provider took to answer",
            m.llm_latency.clone(),
        );
        registry.register(
            "llm_errors",
            "LLM calls that failed, per kind",
            m.llm_errors.clone(),
        );
        registry.register(
            "redactions",
            "Items of personal data replaced before LLM calls, per type",
            m.redactions.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Where outbound figures come from (set once at start).
    pub fn watch_outbound(
        &self,
        queues: std::sync::Arc<consentgate_adapters::outbound::ChatQueues>,
        pacers: Vec<std::sync::Arc<consentgate_adapters::outbound::Pacer>>,
    ) {
        let _ = self.outbound.set((queues, pacers));
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        for (channel, refused) in consentgate_adapters::refusals::counts() {
            self.webhooks_refused
                .get_or_create(&ChannelLabel {
                    channel: channel.as_str(),
                })
                .set(refused as i64);
        }
        if let Some((queues, pacers)) = self.outbound.get() {
            self.outbound_queue.set(queues.pending());
            self.rate_limit_waits
                .set(pacers.iter().map(|p| p.rate_limit_waits() as i64).sum());
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}
