//! `[allowance]` and `[[plans]]`: how many requests for the assistant one person may make per
//! bot, per day and per month, before they are asked to wait (or, on Telegram, to buy a plan in
//! Telegram Stars that adds requests for a while). Off unless a limit is set.

use serde::Deserialize;

use super::{ConfigError, Env, bad, env};

/// A paid plan: `requests` more requests, usable for `days` days, for `stars` Telegram Stars.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanSettings {
    pub name: String,
    pub title: String,
    pub stars: u32,
    pub requests: u32,
    pub days: u32,
}

/// Free requests per person and bot; `None`: no limit of that kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowanceSettings {
    pub per_day: Option<u32>,
    pub per_month: Option<u32>,
    pub plans: Vec<PlanSettings>,
}

impl AllowanceSettings {
    /// Whether requests are counted at all.
    pub fn limited(&self) -> bool {
        self.per_day.is_some() || self.per_month.is_some()
    }

    pub fn plan(&self, name: &str) -> Option<&PlanSettings> {
        self.plans.iter().find(|p| p.name == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileAllowance {
    requests_per_day: Option<u32>,
    requests_per_month: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePlan {
    name: String,
    title: Option<String>,
    stars: u32,
    requests: u32,
    days: Option<u32>,
}

fn limit(
    env: &dyn Env,
    var: &str,
    file: Option<u32>,
    place: &str,
) -> Result<Option<u32>, ConfigError> {
    let (place, value) = match env.get(var) {
        Some(v) => (
            var.to_string(),
            Some(
                v.trim()
                    .parse::<u32>()
                    .map_err(|_| bad(var, format!("`{v}` is not a whole number of requests")))?,
            ),
        ),
        None => (place.to_string(), file),
    };
    match value {
        Some(0) => Err(bad(
            place,
            "must be at least 1 (leave it unset for no limit)",
        )),
        v => Ok(v),
    }
}

/// The allowance from `[allowance]`, `[[plans]]` and the environment.
pub(super) fn settings(
    file: Option<FileAllowance>,
    plans: Vec<FilePlan>,
    env: &dyn Env,
) -> Result<AllowanceSettings, ConfigError> {
    let per_day = limit(
        env,
        env::REQUESTS_PER_DAY,
        file.as_ref().and_then(|f| f.requests_per_day),
        "allowance.requests_per_day",
    )?;
    let per_month = limit(
        env,
        env::REQUESTS_PER_MONTH,
        file.as_ref().and_then(|f| f.requests_per_month),
        "allowance.requests_per_month",
    )?;
    let mut out: Vec<PlanSettings> = Vec::new();
    for (i, p) in plans.into_iter().enumerate() {
        let place = |field: &str| format!("plans[{i}].{field}");
        if !super::purposes::valid_purpose_name(&p.name) || out.iter().any(|o| o.name == p.name) {
            return Err(bad(
                place("name"),
                "1-24 characters of a-z and _, each plan its own",
            ));
        }
        if !(1..=100_000).contains(&p.stars) {
            return Err(bad(place("stars"), "must be 1 to 100000"));
        }
        if !(1..=1_000_000).contains(&p.requests) {
            return Err(bad(place("requests"), "must be 1 to 1000000"));
        }
        let days = p.days.unwrap_or(30);
        if !(1..=366).contains(&days) {
            return Err(bad(place("days"), "must be 1 to 366"));
        }
        let title = p
            .title
            .unwrap_or_else(|| format!("{} requests for {days} days", p.requests));
        // Telegram's limit for an invoice's title (also its price label).
        if !(1..=32).contains(&title.chars().count()) {
            return Err(bad(place("title"), "must be 1 to 32 characters"));
        }
        out.push(PlanSettings {
            title,
            name: p.name,
            stars: p.stars,
            requests: p.requests,
            days,
        });
    }
    if !out.is_empty() && per_day.is_none() && per_month.is_none() {
        return Err(bad(
            "plans",
            "plans add requests to an allowance: set allowance.requests_per_day or requests_per_month",
        ));
    }
    Ok(AllowanceSettings {
        per_day,
        per_month,
        plans: out,
    })
}
