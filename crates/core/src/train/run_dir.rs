//! A run directory `runs/<crate>/<name>/` per run: `config.json` (what was asked),
//! `metrics.jsonl` (one JSON object per line, appended as the run goes), checkpoints
//! (see [`crate::train::checkpoint`]) and the final report.

use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Flags every training binary shares.
#[derive(Debug, Clone, clap::Args, serde::Serialize, serde::Deserialize)]
pub struct RunArgs {
    /// Name of the run; its directory is `<runs-dir>/<crate>/<name>`.
    #[arg(long, default_value = "default")]
    pub name: String,
    /// Root of all run directories.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// Seed of every random source.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue from the last checkpoint of this run instead of starting over.
    #[arg(long)]
    pub resume: bool,
}

/// An open run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// `<root>/<crate>/<name>`.
    pub path: PathBuf,
}

impl RunDir {
    /// Creates (or reopens) `<root>/<krate>/<name>`. A fresh run (no `resume`) clears an old
    /// `metrics.jsonl` so that metrics of two runs never mix.
    pub fn create(root: &Path, krate: &str, name: &str, resume: bool) -> std::io::Result<Self> {
        let path = root.join(krate).join(name);
        std::fs::create_dir_all(&path)?;
        if !resume {
            let m = path.join("metrics.jsonl");
            if m.exists() {
                std::fs::remove_file(m)?;
            }
        }
        Ok(Self { path })
    }

    /// From [`RunArgs`].
    pub fn from_args(args: &RunArgs, krate: &str) -> std::io::Result<Self> {
        Self::create(&args.runs_dir, krate, &args.name, args.resume)
    }

    /// Path of a file inside the run.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `config.json` (atomically).
    pub fn write_config<C: Serialize>(&self, config: &C) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(config).map_err(std::io::Error::other)?;
        write_atomic(&self.file("config.json"), json.as_bytes())
    }

    /// Appends one line to `metrics.jsonl`.
    pub fn log<M: Serialize>(&self, record: &M) -> std::io::Result<()> {
        let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.file("metrics.jsonl"))?;
        writeln!(f, "{line}")
    }

    /// Keeps the first `lines` lines of `metrics.jsonl` and drops the rest: on resume, the
    /// lines a killed run logged after its last checkpoint are logged again by the resumed run.
    pub fn rewind_metrics(&self, lines: usize) -> std::io::Result<()> {
        let path = self.file("metrics.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let kept: String = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .take(lines)
            .map(|l| format!("{l}\n"))
            .collect();
        write_atomic(&path, kept.as_bytes())
    }

    /// Reads back every line of `metrics.jsonl`.
    pub fn read_metrics(&self) -> std::io::Result<Vec<serde_json::Value>> {
        let text = match std::fs::read_to_string(self.file("metrics.jsonl")) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
            .collect()
    }
}

/// Writes `bytes` to `path` through a temporary sibling and a rename, so a killed process
/// never leaves a half-written file under the final name.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = tmp_path(path);
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

/// `dir/.name.tmp` beside `path`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_metrics_and_fresh_runs_do_not_mix() {
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "gloro", "a", false).unwrap();
        run.write_config(&serde_json::json!({"lr": 1e-3})).unwrap();
        run.log(&serde_json::json!({"epoch": 1, "acc": 0.5})).unwrap();
        run.log(&serde_json::json!({"epoch": 2, "acc": 0.7})).unwrap();
        assert_eq!(run.read_metrics().unwrap().len(), 2);
        let resumed = RunDir::create(root.path(), "gloro", "a", true).unwrap();
        assert_eq!(resumed.read_metrics().unwrap()[1]["acc"], 0.7);
        resumed.rewind_metrics(1).unwrap();
        assert_eq!(
            resumed.read_metrics().unwrap(),
            [serde_json::json!({"epoch": 1, "acc": 0.5})]
        );
        resumed.rewind_metrics(5).unwrap();
        assert_eq!(resumed.read_metrics().unwrap().len(), 1);
        let fresh = RunDir::create(root.path(), "gloro", "a", false).unwrap();
        assert!(fresh.read_metrics().unwrap().is_empty());
        let cfg: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.file("config.json")).unwrap()).unwrap();
        assert_eq!(cfg["lr"], 1e-3);
        assert!(!tmp_path(&run.file("config.json")).exists());
    }
}
