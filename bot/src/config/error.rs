//! A configuration problem, naming the key or variable at fault.

/// A configuration problem, naming where it is.
#[derive(Debug, thiserror::Error)]
#[error("configuration error in {place}: {problem}")]
pub struct ConfigError {
    pub place: String,
    pub problem: String,
}

pub(super) fn bad(place: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        place: place.into(),
        problem: problem.into(),
    }
}
