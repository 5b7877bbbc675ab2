//! Draws the scaling figures of docs/performance.md from the benchmarks' JSON lines.
//!
//! `cargo run --release -p repro-core --example plot_scaling -- <dir>` reads
//! `<dir>/{gloro-batch,gloro6-batch,byol-batch,pes-particles}.jsonl` (one `bench` line per size,
//! in the order run) and writes `<dir>/throughput.png` (items/s against the size, each
//! workload relative to its value at the reference's size) and `<dir>/memory.png` (peak
//! resident memory against the size).

use repro_core::plot::{LinePlot, Series, line_plot};
use std::path::{Path, PathBuf};

/// A file, its label, the sizes it was run at, and the reference's size.
const RUNS: [(&str, &str, &[f64], f64); 4] = [
    (
        "gloro-batch",
        "gloro-2c2f (batch)",
        &[64.0, 128.0, 256.0, 512.0, 1024.0],
        256.0,
    ),
    (
        "gloro6-batch",
        "gloro-6c2f (batch)",
        &[64.0, 256.0, 1024.0],
        256.0,
    ),
    (
        "byol-batch",
        "byol-resnet18 (batch)",
        &[16.0, 32.0, 64.0, 128.0],
        64.0,
    ),
    (
        "pes-particles",
        "pes-mnist-mlp (particles)",
        &[10.0, 100.0, 1000.0],
        100.0,
    ),
];

/// `(items/s, peak RSS in MiB)` of each JSON line of `path`.
fn read(path: &Path) -> Vec<(f64, f64)> {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let field = |k: &str| {
                v[k].as_f64()
                    .unwrap_or_else(|| panic!("{}: a line without `{k}`", path.display()))
            };
            (field("items_per_s"), field("peak_rss_mb"))
        })
        .collect()
}

fn main() {
    let dir = PathBuf::from(std::env::args().nth(1).expect("usage: plot_scaling <dir>"));
    let (mut speed, mut memory) = (Vec::new(), Vec::new());
    for (file, label, sizes, reference) in RUNS {
        let lines = read(&dir.join(format!("{file}.jsonl")));
        assert_eq!(
            lines.len(),
            sizes.len(),
            "{file}.jsonl: one line per size {sizes:?}"
        );
        let at_reference = sizes
            .iter()
            .position(|&s| s == reference)
            .expect("reference size");
        let base = lines[at_reference].0;
        let log2 = |s: f64| s.log2();
        speed.push(Series::new(
            label,
            sizes
                .iter()
                .zip(&lines)
                .map(|(&s, l)| (log2(s / reference), l.0 / base))
                .collect(),
        ));
        memory.push(Series::new(
            label,
            sizes
                .iter()
                .zip(&lines)
                .map(|(&s, l)| (log2(s / reference), l.1))
                .collect(),
        ));
    }
    let plot = |series, y_label: &str, log_y, title: &str| LinePlot {
        title: title.into(),
        x_label: "log2(size / reference size)".into(),
        y_label: y_label.into(),
        series,
        log_y,
        y_range: None,
    };
    let speed = plot(
        speed,
        "items/s relative to the reference size",
        false,
        "Throughput against size",
    );
    let memory = plot(memory, "peak RSS (MiB)", true, "Peak memory against size");
    for (name, p) in [("throughput.png", speed), ("memory.png", memory)] {
        let path = dir.join(name);
        line_plot(&path, &p).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        println!("{}", path.display());
    }
}
