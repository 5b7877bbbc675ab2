//! `cargo xtask bench`: runs each paper crate's benchmark (release build, the library's real
//! training step) several times, optionally runs the Python reference of the same workloads
//! in the same session, and prints one table: ours (median and spread), the reference, and
//! the ratio. The table is also written as JSON under `target/bench/`.
//!
//! Each paper binary reports the workload's FLOPs per item (counted from the model's shapes,
//! see `repro_core::flops`); the table turns throughputs into GFLOP/s with that count for ours
//! and for the reference alike (the workload is the same by definition), and, where the CPU is
//! known ([`crate::peak`]), into fractions of the machine's peak.

use crate::papers::{Paper, Reference, Workload};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// One JSON line of a benchmark (ours or a reference script).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Measurement {
    pub workload: Workload,
    pub framework: String,
    pub items_per_s: f64,
    #[serde(default)]
    pub step_ms: f64,
    #[serde(default)]
    pub threads: Option<usize>,
    /// FLOPs of one training step per item (the paper binaries report it; the references
    /// do not).
    #[serde(default)]
    pub flops_per_item: Option<f64>,
    /// The device, as the benchmark names it (the paper binaries do; the references do not).
    #[serde(default)]
    pub device: Option<String>,
}

/// One row of the final table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub workload: Workload,
    pub ours_median: f64,
    pub ours_min: f64,
    pub ours_max: f64,
    pub reference_framework: Option<String>,
    pub reference: Option<f64>,
    /// ours / reference (≥ 1: we are at least as fast).
    pub ratio: Option<f64>,
    /// FLOPs per item, from our benchmark's line.
    pub flops_per_item: Option<f64>,
    /// Worker threads of our benchmark.
    pub ours_threads: Option<usize>,
    /// Worker threads of the reference, when it reports them.
    pub reference_threads: Option<usize>,
    /// Our achieved GFLOP/s: items/s × FLOPs per item / 1e9.
    pub ours_gflops: Option<f64>,
    /// The reference's achieved GFLOP/s, with our FLOPs per item.
    pub reference_gflops: Option<f64>,
    /// Our GFLOP/s over the peak of the threads we used ([`with_peak`]).
    #[serde(default)]
    pub ours_peak_fraction: Option<f64>,
    /// The reference's GFLOP/s over the peak of the threads it used.
    #[serde(default)]
    pub reference_peak_fraction: Option<f64>,
}

/// Extracts the JSON measurement lines from a program's output (other lines, and JSON lines of
/// other shapes or unknown workloads, are ignored).
pub fn parse_lines(text: &str) -> Vec<Measurement> {
    text.lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Median, minimum and maximum.
pub fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    (
        median,
        *v.first().unwrap_or(&f64::NAN),
        *v.last().unwrap_or(&f64::NAN),
    )
}

/// Builds the table from our repetitions and the reference's measurements.
pub fn table(ours: &[Measurement], reference: &[Measurement]) -> Vec<Row> {
    let mut workloads: Vec<Workload> = Vec::new();
    for m in ours {
        if !workloads.contains(&m.workload) {
            workloads.push(m.workload);
        }
    }
    workloads
        .into_iter()
        .map(|w| {
            let v: Vec<f64> = ours
                .iter()
                .filter(|m| m.workload == w)
                .map(|m| m.items_per_s)
                .collect();
            let (median, min, max) = spread(&v);
            let r = reference.iter().find(|m| m.workload == w);
            let mine = ours.iter().find(|m| m.workload == w);
            let flops_per_item = mine.and_then(|m| m.flops_per_item).filter(|f| f.is_finite());
            let gflops = |items_per_s: f64| flops_per_item.map(|f| items_per_s * f / 1e9);
            Row {
                workload: w,
                ours_median: median,
                ours_min: min,
                ours_max: max,
                reference_framework: r.map(|m| m.framework.clone()),
                reference: r.map(|m| m.items_per_s),
                ratio: r.map(|m| median / m.items_per_s),
                flops_per_item,
                ours_threads: mine.and_then(|m| m.threads),
                reference_threads: r.and_then(|m| m.threads),
                ours_gflops: gflops(median),
                reference_gflops: r.and_then(|m| gflops(m.items_per_s)),
                ours_peak_fraction: None,
                reference_peak_fraction: None,
            }
        })
        .collect()
}

/// Sets each row's fractions of `peak`: achieved GFLOP/s over the peak of the threads each
/// side used (`default_threads` where a side does not report them: JAX uses every core).
pub fn with_peak(rows: &mut [Row], peak: &crate::peak::Peak, default_threads: usize) {
    for r in rows {
        let fraction = |gflops: Option<f64>, threads: Option<usize>| {
            gflops.map(|g| g / peak.gflops(threads.unwrap_or(default_threads)))
        };
        r.ours_peak_fraction = fraction(r.ours_gflops, r.ours_threads);
        r.reference_peak_fraction = fraction(r.reference_gflops, r.reference_threads);
    }
}

/// The table as aligned text, then FLOPs per item, GFLOP/s and fractions of the peak.
pub fn render(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<16} {:>14} {:>22} {:>18} {:>7}\n",
        "workload", "ours items/s", "spread (min..max)", "reference", "ratio"
    );
    for r in rows {
        let reference = match (&r.reference_framework, r.reference) {
            (Some(f), Some(v)) => format!("{v:.1} ({f})"),
            _ => "not run".into(),
        };
        let ratio = r.ratio.map_or("—".into(), |x| format!("{x:.2}"));
        s += &format!(
            "{:<16} {:>14.1} {:>22} {:>18} {:>7}\n",
            r.workload.name(),
            r.ours_median,
            format!("{:.1}..{:.1}", r.ours_min, r.ours_max),
            reference,
            ratio
        );
    }
    let num = |x: Option<f64>, scale: f64, digits: usize| {
        x.map_or("—".into(), |v| format!("{:.digits$}", v * scale))
    };
    s += &format!(
        "\n{:<16} {:>12} {:>12} {:>12} {:>11} {:>11}\n",
        "workload", "MFLOP/item", "ours GFLOP/s", "ref GFLOP/s", "ours %peak", "ref %peak"
    );
    for r in rows {
        s += &format!(
            "{:<16} {:>12} {:>12} {:>12} {:>11} {:>11}\n",
            r.workload.name(),
            num(r.flops_per_item, 1e-6, 2),
            num(r.ours_gflops, 1.0, 1),
            num(r.reference_gflops, 1.0, 1),
            num(r.ours_peak_fraction, 100.0, 1),
            num(r.reference_peak_fraction, 100.0, 1),
        );
    }
    s
}

/// The device the paper binaries measure on (their `--device` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum BenchDevice {
    /// Burn's flex CPU backend with this workspace's kernels (the default features).
    #[default]
    Flex,
    /// The ndarray CPU backend (built with the `ndarray` feature).
    Ndarray,
    /// The GPU through wgpu (built with the `wgpu` feature).
    Wgpu,
}

impl BenchDevice {
    /// The binaries' `--device` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Ndarray => "ndarray",
            Self::Wgpu => "wgpu",
        }
    }

    /// `features` with the cargo feature this device needs added (flex is a default feature).
    pub fn features(self, features: &[String]) -> Vec<String> {
        let mut all = features.to_vec();
        if self != Self::Flex && !all.iter().any(|f| f == self.name()) {
            all.push(self.name().to_string());
        }
        all
    }
}

/// The command of one repetition: `cargo run --release -p <package> [--features …] --
/// --device D bench --steps N --warmup W`.
pub fn bench_command(
    root: &Path,
    paper: Paper,
    steps: usize,
    warmup: usize,
    device: BenchDevice,
    features: &[String],
) -> Command {
    let mut cmd = paper.cargo_run(root, &device.features(features));
    cmd.args([
        "--device",
        device.name(),
        "bench",
        "--steps",
        &steps.to_string(),
        "--warmup",
        &warmup.to_string(),
    ]);
    cmd
}

/// Runs [`bench_command`] `reps` times; every repetition must measure each of the paper's
/// workloads.
pub fn run_ours(
    root: &Path,
    paper: Paper,
    steps: usize,
    warmup: usize,
    reps: usize,
    device: BenchDevice,
    features: &[String],
) -> Result<Vec<Measurement>, String> {
    let mut all = Vec::new();
    for rep in 0..reps.max(1) {
        eprintln!(
            "bench {paper} on {} (repetition {}/{})",
            device.name(),
            rep + 1,
            reps.max(1)
        );
        let mut cmd = bench_command(root, paper, steps, warmup, device, features);
        let out = cmd.output().map_err(|e| format!("cannot run cargo: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{paper} bench failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let got = parse_lines(&String::from_utf8_lossy(&out.stdout));
        if let Some(w) = missing(paper, &got) {
            return Err(format!("{paper} bench printed no measurement of {w}"));
        }
        all.extend(got);
    }
    Ok(all)
}

/// The first of `paper`'s workloads that `got` has no measurement of.
pub fn missing(paper: Paper, got: &[Measurement]) -> Option<Workload> {
    paper
        .workloads()
        .iter()
        .copied()
        .find(|w| !got.iter().any(|m| m.workload == *w))
}

/// The Python used for the reference scripts: `$REFBENCH_PYTHON`, else `~/refbench/bin/python`.
pub fn reference_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REFBENCH_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")?;
    let p = Path::new(&home).join("refbench/bin/python");
    p.is_file().then_some(p)
}

/// Runs the reference script of `paper`'s workloads; `Err` says why it could not (no Python, no
/// torch).
pub fn run_reference(
    root: &Path,
    paper: Paper,
    steps: usize,
    warmup: usize,
) -> Result<Vec<Measurement>, String> {
    let python = reference_python()
        .ok_or("no reference Python: set REFBENCH_PYTHON or create ~/refbench (see docs/performance.md)")?;
    let reference = paper.reference();
    let script = root.join("../shared/bench").join(reference.script());
    if !script.is_file() {
        return Err(format!("{} not found", script.display()));
    }
    let mut cmd = Command::new(&python);
    cmd.arg(&script);
    if reference == Reference::Torch {
        cmd.args(paper.workloads().iter().map(|w| w.name()));
    }
    cmd.args(["--steps", &steps.to_string(), "--warmup", &warmup.to_string()]);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(parse_lines(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_lines_and_builds_ratios() {
        let ours = parse_lines(
            "noise\n{\"workload\":\"gloro-2c2f\",\"framework\":\"burn\",\"items_per_s\":100.0,\"step_ms\":1.0}\n{\"workload\":\"gloro-2c2f\",\"framework\":\"burn\",\"items_per_s\":300.0}\n{\"workload\":\"gloro-2c2f\",\"framework\":\"burn\",\"items_per_s\":200.0}\n{\"workload\":\"gloro-6c2f\",\"framework\":\"burn\",\"items_per_s\":50.0}\n",
        );
        assert_eq!(ours.len(), 4);
        let reference = parse_lines(
            "{\"workload\":\"gloro-2c2f\",\"framework\":\"pytorch\",\"items_per_s\":400.0,\"step_ms\":2.5,\"threads\":2}",
        );
        let rows = table(&ours, &reference);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].workload, Workload::Gloro2C2F);
        assert_eq!(
            (rows[0].ours_median, rows[0].ours_min, rows[0].ours_max),
            (200.0, 100.0, 300.0)
        );
        assert_eq!(rows[0].ratio, Some(0.5));
        assert_eq!((rows[1].ours_median, rows[1].ratio), (50.0, None));
        let text = render(&rows);
        assert!(
            text.contains("gloro-2c2f") && text.contains("pytorch") && text.contains("0.50"),
            "{text}"
        );
        let no_ref = table(&ours, &[]);
        assert!(render(&no_ref).contains("not run"));
    }

    #[test]
    fn gflops_use_our_count_for_both_sides_and_fractions_the_threads_each_used() {
        let ours = parse_lines(
            "{\"workload\":\"byol-resnet18\",\"framework\":\"burn\",\"items_per_s\":10.0,\"threads\":2,\"flops_per_item\":8.0e9}",
        );
        let reference = parse_lines(
            "{\"workload\":\"byol-resnet18\",\"framework\":\"pytorch\",\"items_per_s\":20.0,\"threads\":1}",
        );
        let mut rows = table(&ours, &reference);
        // 10 images/s × 8 GFLOP = 80 GFLOP/s; the reference's 20 images/s of the same work = 160.
        assert_eq!(
            (rows[0].ours_gflops, rows[0].reference_gflops),
            (Some(80.0), Some(160.0))
        );
        // A core of 64 FLOPs per cycle at 2 GHz: 128 GFLOP/s per core.
        let cpu = crate::peak::Cpu::parse(
            "vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\nmodel name\t: Xeon\ncpu MHz\t\t: 2000.000\n",
        )
        .unwrap();
        let peak = crate::peak::Peak::of(cpu, Some(512)).unwrap();
        with_peak(&mut rows, &peak, 2);
        assert_eq!(rows[0].ours_peak_fraction, Some(80.0 / 256.0));
        assert_eq!(rows[0].reference_peak_fraction, Some(160.0 / 128.0));
        let text = render(&rows);
        assert!(
            text.contains("8000.00") && text.contains("160.0") && text.contains("31.2"),
            "{text}"
        );
        // Without a count there are no GFLOP/s.
        let bare =
            parse_lines("{\"workload\":\"byol-resnet18\",\"framework\":\"burn\",\"items_per_s\":10.0}");
        assert_eq!(table(&bare, &reference)[0].reference_gflops, None);
    }

    #[test]
    fn unknown_workloads_are_not_measurements_and_missing_ones_are_named() {
        let got = parse_lines(
            "{\"workload\":\"other\",\"framework\":\"burn\",\"items_per_s\":1.0}\n{\"workload\":\"gloro-6c2f\",\"framework\":\"burn\",\"items_per_s\":2.0}",
        );
        assert_eq!(got.len(), 1);
        assert_eq!(missing(Paper::Gloro, &got), Some(Workload::Gloro2C2F));
        assert_eq!(missing(Paper::Pes, &got), Some(Workload::PesMnistMlp));
        let both = parse_lines(
            "{\"workload\":\"gloro-2c2f\",\"framework\":\"burn\",\"items_per_s\":1.0}\n{\"workload\":\"gloro-6c2f\",\"framework\":\"burn\",\"items_per_s\":2.0}",
        );
        assert_eq!(missing(Paper::Gloro, &both), None);
    }
}
