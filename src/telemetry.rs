//! Logging set-up: `tracing` with the level from `LOG_LEVEL` (an env-filter
//! directive such as `info` or `mapek=debug,kube=warn`) and the format from
//! `LOG_FORMAT` (`text`, the default, or `json`).

use tracing_subscriber::EnvFilter;

use crate::error::{Error, Result};

/// The log line format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber, writing to stderr. A `level` that does not parse
/// is an error naming it, not a silent default.
pub fn init(level: &str, format: LogFormat) -> Result<()> {
    let filter = EnvFilter::try_new(level).map_err(|e| Error::Setting {
        name: "LOG_LEVEL".into(),
        reason: format!("{level:?} is not a valid level or filter: {e}"),
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    result.map_err(|e| Error::Setting {
        name: "LOG_LEVEL".into(),
        reason: format!("cannot install the log subscriber: {e}"),
    })
}
