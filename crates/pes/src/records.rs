//! Run records kept in the repository (`<out>/pes/runs/<name>/record.json`): the command, the
//! config, the metrics (every method's evaluated history, landscapes) and a summary; no
//! weights. [`crate::report`] renders `pes.md` from these alone.

use crate::error::Result;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One finished experiment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record<C, R> {
    /// The command that produced it.
    pub command: String,
    /// The experiment's settings.
    pub config: C,
    /// What it measured (histories, landscapes, curves).
    pub metrics: R,
    /// The headline numbers (written for readers; the report recomputes them from `metrics`).
    pub summary: serde_json::Value,
}

/// Where the record `name` lives under the results directory `out`.
pub fn path(out: &Path, name: &str) -> PathBuf {
    repro_core::reproduce::record_path(out, "pes", name)
}

/// Writes a record (to a temporary name, then renamed).
pub fn save<C: Serialize, R: Serialize>(out: &Path, name: &str, record: &Record<C, R>) -> Result<PathBuf> {
    let p = repro_core::reproduce::write_record(out, "pes", name, record)?;
    eprintln!("wrote {}", p.display());
    Ok(p)
}

/// Reads the record `name`, if there is one (strictly: errors name the file and the field).
pub fn load<C: DeserializeOwned, R: DeserializeOwned>(
    out: &Path,
    name: &str,
) -> Result<Option<Record<C, R>>> {
    Ok(repro_core::reproduce::read_record(out, "pes", name)?)
}
