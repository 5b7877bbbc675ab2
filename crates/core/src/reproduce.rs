//! Reproductions: the shared `reproduce` flags (re-exported from `repro-args`) and the records
//! of finished runs from which every paper's report is rendered.

pub use repro_args::{ReproduceArgs, Scale, ScaleArgs};
use std::path::{Path, PathBuf};

/// Where the record of run `name` of `paper` lives: `<out>/<paper>/runs/<name>/record.json`.
/// A record is a finished run in the compact form kept in the repository (command, config,
/// metrics, summary; no weights), from which the paper's report is rendered.
pub fn record_path(out: &Path, paper: &str, name: &str) -> PathBuf {
    out.join(paper).join("runs").join(name).join("record.json")
}

/// Reads the record of run `name`, if one was written; strictly (unknown or mistyped fields
/// are errors naming the file and the field).
pub fn read_record<T: serde::de::DeserializeOwned>(
    out: &Path,
    paper: &str,
    name: &str,
) -> Result<Option<T>, crate::Error> {
    let path = record_path(out, paper, name);
    if !path.is_file() {
        return Ok(None);
    }
    crate::config::load(&path).map(Some)
}

/// Writes (or overwrites) the record of run `name` atomically; returns its path.
pub fn write_record<T: serde::Serialize>(
    out: &Path,
    paper: &str,
    name: &str,
    record: &T,
) -> std::io::Result<PathBuf> {
    let path = record_path(out, paper, name);
    std::fs::create_dir_all(path.parent().expect("a record has a folder"))?;
    let json = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    crate::train::run_dir::write_atomic(&path, &json)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Rec {
        command: String,
        value: f64,
    }

    #[test]
    fn records_round_trip_and_are_read_strictly() {
        let out = tempfile::tempdir().unwrap();
        assert!(read_record::<Rec>(out.path(), "p", "a").unwrap().is_none());
        let r = Rec {
            command: "x".into(),
            value: 0.25,
        };
        let path = write_record(out.path(), "p", "a", &r).unwrap();
        assert_eq!(path, out.path().join("p/runs/a/record.json"));
        assert_eq!(read_record::<Rec>(out.path(), "p", "a").unwrap(), Some(r));
        std::fs::write(&path, r#"{"command": "x", "value": 1, "extra": 2}"#).unwrap();
        let e = read_record::<Rec>(out.path(), "p", "a").unwrap_err().to_string();
        assert!(e.contains("record.json") && e.contains("extra"), "{e}");
    }
}
