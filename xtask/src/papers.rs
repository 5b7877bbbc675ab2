//! The registry of paper crates: what `cargo xtask reproduce` and `cargo xtask bench` run.
//!
//! Each paper crate's binary implements two subcommands with a common interface:
//! - `<bin> reproduce --quick|--full --out DIR` writes `DIR/<report>.md` and its figures;
//! - `<bin> bench --steps N --warmup N` prints one JSON line per workload:
//!   `{"workload": ..., "framework": "burn", "items_per_s": ..., "step_ms": ..., ...}`.

/// One paper crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paper {
    /// Name on the xtask command line.
    pub key: &'static str,
    /// Cargo package (and binary) name.
    pub package: &'static str,
    /// Report file written under the results directory.
    pub report: &'static str,
    /// The reference script of its benchmark workloads (under `../shared/bench/`).
    pub reference: &'static str,
    /// The workloads its benchmark runs.
    pub workloads: &'static [&'static str],
}

/// Every registered paper crate.
pub const PAPERS: [Paper; 3] = [
    Paper {
        key: "gloro",
        package: "gloro",
        report: "gloro.md",
        reference: "torch_ref.py",
        workloads: &["gloro-2c2f", "gloro-6c2f"],
    },
    Paper {
        key: "ssl",
        package: "ssl-dynamics",
        report: "ssl-dynamics.md",
        reference: "torch_ref.py",
        workloads: &["byol-resnet18"],
    },
    Paper {
        key: "pes",
        package: "pes",
        report: "pes.md",
        reference: "jax_ref.py",
        workloads: &["pes-mnist-mlp"],
    },
];

/// Resolves command-line names (`all` or keys) to papers, in registry order.
pub fn select(names: &[String]) -> Result<Vec<Paper>, String> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(PAPERS.to_vec());
    }
    let mut out = Vec::new();
    for n in names {
        match PAPERS.iter().find(|p| p.key == n || p.package == n) {
            Some(p) if !out.contains(p) => out.push(*p),
            Some(_) => {}
            None => {
                let keys: Vec<&str> = PAPERS.iter().map(|p| p.key).collect();
                return Err(format!(
                    "unknown paper `{n}`; expected one of: all, {}",
                    keys.join(", ")
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_by_key_package_or_all() {
        assert_eq!(select(&[]).unwrap().len(), 3);
        assert_eq!(select(&["all".into()]).unwrap().len(), 3);
        let s = select(&["pes".into(), "ssl-dynamics".into(), "pes".into()]).unwrap();
        assert_eq!(s.iter().map(|p| p.key).collect::<Vec<_>>(), vec!["pes", "ssl"]);
        let err = select(&["foo".into()]).unwrap_err();
        assert!(err.contains("foo") && err.contains("gloro"));
    }
}
