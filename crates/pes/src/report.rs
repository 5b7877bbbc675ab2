//! Rendering of results: the paper's figures redrawn from our runs (PNG) and `DIR/pes.md`,
//! our numbers beside the paper's, with every history in `DIR/pes/results.json`. What runs is
//! decided in [`crate::reproduce`].

use crate::error::Result;
use crate::estimators::{EstimatorKind, Method};
use crate::experiments::{
    Grid, InfluenceConfig, MethodRun, MnistConfig, MnistResult, ToyConfig, ToyResult, VarianceConfig,
    VarianceCurve,
};
use repro_core::plot::{Heatmap, LinePlot, Series, heatmap, line_plot};
use repro_core::reproduce::Scale;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Influence-balancing figure (Fig. 4): loss and θ against outer iterations.
pub fn plot_influence(runs: &[MethodRun], dir: &Path) -> Result<()> {
    line_plot(
        &dir.join("influence_loss.png"),
        &LinePlot {
            title: "Influence balancing: loss of a 500-step unroll".into(),
            x_label: "outer iteration".into(),
            y_label: "loss".into(),
            series: runs
                .iter()
                .map(|r| Series::new(&r.label, r.eval_points()))
                .collect(),
            log_y: true,
            y_range: None,
        },
    )?;
    line_plot(
        &dir.join("influence_theta.png"),
        &LinePlot {
            title: "Influence balancing: θ (optimum −1/6)".into(),
            x_label: "outer iteration".into(),
            y_label: "θ".into(),
            series: runs
                .iter()
                .map(|r| {
                    let pts = r
                        .history
                        .iter()
                        .map(|h| (h.iteration as f64, h.theta[0]))
                        .collect();
                    Series::new(&r.label, pts)
                })
                .collect(),
            log_y: false,
            y_range: None,
        },
    )?;
    Ok(())
}

fn finite_capped(grid: &Grid, f: impl Fn(f64) -> f64) -> Vec<Vec<f64>> {
    let max = grid
        .values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, f64::max);
    grid.values
        .iter()
        .map(|row| {
            row.iter()
                .map(|&v| f(if v.is_finite() { v } else { max }))
                .collect()
        })
        .collect()
}

/// Toy-regression figure (Fig. 5): landscape with trajectories and meta-loss curves.
pub fn plot_toy(result: &ToyResult, dir: &Path) -> Result<()> {
    heatmap(
        &dir.join("toy_heatmap.png"),
        &Heatmap {
            title: "Toy regression: log10 meta-loss, trajectories from (-4,-4)".into(),
            x_label: "θ0 (log lr at t=0)".into(),
            y_label: "θ1 (log lr at t=T)".into(),
            x_range: result.heatmap.x,
            y_range: result.heatmap.y,
            values: finite_capped(&result.heatmap, f64::log10),
            lines: result
                .runs
                .iter()
                .map(|r| {
                    Series::new(
                        &r.label,
                        r.history.iter().map(|h| (h.theta[0], h.theta[1])).collect(),
                    )
                })
                .collect(),
            ..Default::default()
        },
    )?;
    line_plot(
        &dir.join("toy_meta_loss.png"),
        &LinePlot {
            title: "Toy regression: meta-loss of a full unroll".into(),
            x_label: "outer iteration".into(),
            y_label: "meta-loss".into(),
            series: result
                .runs
                .iter()
                .map(|r| Series::new(&r.label, r.eval_points()))
                .collect(),
            log_y: false,
            y_range: None,
        },
    )?;
    Ok(())
}

/// MNIST figure (Fig. 6): landscape over (log10 lr₀, log10 decay) with trajectories.
pub fn plot_mnist(result: &MnistResult, dir: &Path) -> Result<()> {
    let ln10 = std::f64::consts::LN_10;
    heatmap(
        &dir.join("mnist_heatmap.png"),
        &Heatmap {
            title: "MNIST: log10 sum of training losses over T".into(),
            x_label: "log10 lr0".into(),
            y_label: "log10 decay".into(),
            x_range: result.heatmap.x,
            y_range: result.heatmap.y,
            values: finite_capped(&result.heatmap, f64::log10),
            lines: result
                .runs
                .iter()
                .map(|r| {
                    let pts = r
                        .history
                        .iter()
                        .map(|h| (h.theta[0] / ln10, h.theta[1] / ln10))
                        .collect();
                    Series::new(&r.label, pts)
                })
                .collect(),
            ..Default::default()
        },
    )?;
    line_plot(
        &dir.join("mnist_meta_loss.png"),
        &LinePlot {
            title: "MNIST: sum of training losses of a full episode".into(),
            x_label: "outer iteration".into(),
            y_label: "meta-loss".into(),
            series: result
                .runs
                .iter()
                .map(|r| Series::new(&r.label, r.eval_points()))
                .collect(),
            log_y: false,
            y_range: None,
        },
    )?;
    Ok(())
}

/// Variance figure (Fig. 7).
pub fn plot_variance(curves: &[VarianceCurve], dir: &Path) -> Result<()> {
    line_plot(
        &dir.join("variance.png"),
        &LinePlot {
            title: "PES: normalised variance vs number of unrolls".into(),
            x_label: "log10 (T/K)".into(),
            y_label: "E|g - g*|^2 / |g*|^2".into(),
            series: curves
                .iter()
                .map(|c| {
                    let pts = c.points.iter().map(|&(u, v)| ((u as f64).log10(), v)).collect();
                    Series::new(format!("{:?}", c.sequence).to_lowercase(), pts)
                })
                .collect(),
            log_y: true,
            y_range: None,
        },
    )?;
    Ok(())
}

/// Writes `value` as pretty JSON to `dir/name`.
pub fn save_json<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value)?)?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// The folder of the figures and `results.json` under the results directory `out`.
pub fn figures_dir(out: &Path) -> PathBuf {
    out.join("pes")
}

/// Everything `pes.md` shows: each experiment's settings and results.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The scale that was run.
    pub scale: Scale,
    /// The device, as named in the report.
    pub device: &'a str,
    /// Influence balancing (§5.1): settings and one run per method.
    pub influence: (&'a InfluenceConfig, &'a [MethodRun]),
    /// Toy regression (§5.2): settings, runs and landscape.
    pub toy: (&'a ToyConfig, &'a ToyResult),
    /// MNIST schedule (§5.3): settings, runs and landscape.
    pub mnist: (&'a MnistConfig, &'a MnistResult),
    /// Variance against unrolls (§5.4): settings and curves.
    pub variance: (&'a VarianceConfig, &'a [VarianceCurve]),
}

/// What the paper reports for a method of the influence-balancing comparison (Fig. 4).
fn influence_claim(method: Method) -> &'static str {
    use EstimatorKind::*;
    match (method.kind, method.truncation) {
        (Pes, Some(1)) => "within 1e-3 of −1/6, loss < 1e-9 by iteration 3000",
        (Tbptt | TruncatedEs, Some(1)) => "moves away from θ*",
        (Rtrl, Some(1)) => "converges (exact gradient)",
        _ => "—",
    }
}

/// The toy-regression method PES's threshold crossing is reported for.
const TOY_PES: Method = Method {
    kind: EstimatorKind::Pes,
    truncation: Some(10),
};

/// What the paper reports for a method of the toy-regression comparison (Fig. 5).
fn toy_claim(method: Method) -> &'static str {
    use EstimatorKind::*;
    match (method.kind, method.truncation) {
        _ if method == TOY_PES => "≈2488 → below 600 within 1000 iterations",
        (Tbptt, Some(10)) => "stalls near 2423",
        (Es, _) => "converges (unbiased, K = T)",
        (TruncatedEs, Some(10)) => "biased (stalls)",
        _ => "—",
    }
}

/// What the paper reports for a method of the MNIST comparison (Fig. 6).
fn mnist_claim(method: Method) -> &'static str {
    if method.kind == EstimatorKind::Pes {
        "moves toward the low-loss region of the landscape"
    } else {
        "short-horizon bias: stops short of the low-loss region PES reaches"
    }
}

fn fmt_theta(t: &[f64]) -> String {
    let v: Vec<String> = t.iter().map(|x| format!("{x:.4}")).collect();
    format!("({})", v.join(", "))
}

/// Writes `out/pes.md` and `out/pes/results.json` from the results (the figures are drawn by
/// the `plot_*` functions as each experiment finishes); returns the report's path.
pub fn write(out: &Path, input: &ReportInput<'_>) -> Result<PathBuf> {
    let dir = figures_dir(out);
    std::fs::create_dir_all(&dir)?;
    let quick = input.scale == Scale::Quick;
    let (inf_cfg, inf) = input.influence;
    let (toy_cfg, toy) = input.toy;
    let (mnist_cfg, mnist) = input.mnist;
    let (var_cfg, curves) = input.variance;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# PES — Persistent Evolution Strategies (Vicol, Metz & Sohl-Dickstein, ICML 2021)\n"
    );
    let _ = writeln!(
        md,
        "Generated by `cargo run --release -p pes -- reproduce {}` (crate `pes`, Burn, device {}). \
         Figures are redrawn from our runs; the \"paper\" column quotes what the paper reports.\n",
        if quick { "--quick" } else { "--full" },
        input.device
    );

    // §5.1 influence balancing.
    let _ = writeln!(md, "## Influence balancing (§5.1, Fig. 4)\n");
    let _ = writeln!(
        md,
        "N = 1000, σ = 0.1, K = 1, SGD lr 1e-4, {} iterations from θ = 0.5; loss of a fresh 500-step unroll. Optimum θ* = −1/6.\n",
        inf_cfg.iterations
    );
    let _ = writeln!(
        md,
        "| method | paper | ours: final θ | ours: final loss | time |\n|---|---|---|---|---|"
    );
    for r in inf {
        let claim = influence_claim(r.method());
        let last = r.last();
        let _ = writeln!(
            md,
            "| {} | {} | {:.6} | {:.3e} | {:.1} s |",
            r.label,
            claim,
            last.theta[0],
            last.eval.unwrap_or(f64::NAN),
            r.seconds
        );
    }
    let _ = writeln!(
        md,
        "\n![influence loss](pes/influence_loss.png) ![influence theta](pes/influence_theta.png)\n"
    );

    // §5.2 toy regression.
    let _ = writeln!(md, "## Toy 2-D regression, linear LR schedule (§5.2, Fig. 5)\n");
    let _ = writeln!(
        md,
        "T = 100, K = 10, N = 100, σ = 0.3 (ES: K = T, σ = 1.0), Adam lr 1e-2 β1 0.99, {} iterations from θ = (−4, −4); \
         meta-loss = Σ_t f(x_t) of a fresh full unroll.\n",
        toy_cfg.iterations
    );
    let _ = writeln!(
        md,
        "| method | paper | ours: start | ours: best | ours: final | final θ | time |\n|---|---|---|---|---|---|---|"
    );
    for r in &toy.runs {
        let claim = toy_claim(r.method());
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {} | {:.1} s |",
            r.label,
            claim,
            r.history[0].eval.unwrap_or(f64::NAN),
            r.best(),
            r.last().eval.unwrap_or(f64::NAN),
            fmt_theta(&r.last().theta),
            r.seconds
        );
    }
    if let Some(p) = toy.runs.iter().find(|r| r.method() == TOY_PES) {
        let first_below = p
            .history
            .iter()
            .find(|h| h.eval.is_some_and(|e| e < 600.0))
            .map(|h| h.iteration.to_string())
            .unwrap_or_else(|| "never".into());
        let _ = writeln!(md, "\nPES first evaluated below 600 at iteration {first_below}.");
    }
    let _ = writeln!(
        md,
        "\n![toy heatmap](pes/toy_heatmap.png) ![toy meta-loss](pes/toy_meta_loss.png)\n"
    );

    // §5.3 MNIST.
    let _ = writeln!(md, "## MNIST learning-rate schedule (§5.3, Fig. 6)\n");
    let _ = writeln!(
        md,
        "MLP 784-100-100-10, SGD momentum 0.9, batch 100, lr_t = e^θ0 / (1 + t/5000)^(e^θ1), θ from (log 0.003, log 30). \
         Run here: T = {}, N = {}, K = {}, {} outer iterations (Adam lr {:?}), heatmap {}×{} cells over log10 lr0 ∈ {:?}, \
         log10 decay ∈ {:?}, {} training images{}. Paper: T = 5000, N = 1000, K ∈ {{10, 100}}, 5000 iterations, 40×40 grid. \
         \"ES\" here is truncated ES with the same K (full-episode ES at T = 5000 is out of reach on this CPU).\n",
        mnist_cfg.horizon,
        mnist_cfg.methods.first().map_or(0, |m| m.particles),
        mnist_cfg.methods.first().map_or(0, |m| m.truncation),
        mnist_cfg.iterations,
        mnist_cfg.outer,
        mnist_cfg.grid,
        mnist_cfg.grid,
        mnist_cfg.grid_lr,
        mnist_cfg.grid_decay,
        mnist.train_images,
        if mnist.embedded_subset {
            " (the embedded real-MNIST subset: full MNIST was not found)"
        } else {
            ""
        },
    );
    let _ = writeln!(
        md,
        "| method | paper | start meta-loss | final meta-loss | final (lr0, decay) | time |\n|---|---|---|---|---|---|"
    );
    for r in &mnist.runs {
        let claim = mnist_claim(r.method());
        let th = &r.last().theta;
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.2} | ({:.4}, {:.2}) | {:.1} s |",
            r.label,
            claim,
            r.history[0].eval.unwrap_or(f64::NAN),
            r.last().eval.unwrap_or(f64::NAN),
            th[0].exp(),
            th[1].exp(),
            r.seconds
        );
    }
    let _ = writeln!(
        md,
        "\n![mnist heatmap](pes/mnist_heatmap.png) ![mnist meta-loss](pes/mnist_meta_loss.png)\n"
    );

    // §5.4 variance.
    let _ = writeln!(md, "## Variance against the number of unrolls (§5.4, Fig. 7)\n");
    let _ = writeln!(
        md,
        "Penn Treebank is not available offline: a vanilla RNN (vocab {}, hidden {}) on a synthetic sequence of T = {} tokens, \
         either one token repeated or uniform random tokens; θ = all {} weights (random, fixed). PES (N = {}, σ = {}) summed over the \
         T/K truncations, against exact BPTT; {} repeats per K. Paper: flat for repeated data, growing with the number of \
         unrolls for random data.\n",
        var_cfg.vocab,
        var_cfg.hidden,
        var_cfg.length,
        var_cfg.vocab * var_cfg.hidden * 2 + var_cfg.hidden * var_cfg.hidden + var_cfg.hidden + var_cfg.vocab,
        var_cfg.particles,
        var_cfg.sigma,
        var_cfg.repeats
    );
    let header: Vec<String> = curves[0].points.iter().map(|(u, _)| u.to_string()).collect();
    let _ = writeln!(
        md,
        "| sequence \\ T/K | {} |\n|---|{}",
        header.join(" | "),
        "---|".repeat(header.len())
    );
    for c in curves {
        let v: Vec<String> = c.points.iter().map(|(_, v)| format!("{v:.3}")).collect();
        let _ = writeln!(md, "| {:?} | {} |", c.sequence, v.join(" | "));
    }
    let _ = writeln!(md, "\n![variance](pes/variance.png)\n");

    let json = serde_json::json!({
        "scale": input.scale, "influence": inf, "toy": toy, "mnist": mnist, "variance": curves,
    });
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&json)?)?;
    let path = out.join("pes.md");
    std::fs::write(&path, md)?;
    eprintln!("wrote {}", path.display());
    Ok(path)
}
