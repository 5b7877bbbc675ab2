//! Rendering of results: the paper's figures redrawn from the run records
//! ([`crate::records`]) as PNG, and `DIR/pes.md` with our numbers (mean ± std over seeds)
//! beside the paper's anchors (`DIR/pes/anchors.json`). Every sentence that depends on a
//! result is generated from it. What runs is decided in [`crate::reproduce`].

use crate::error::Result;
use crate::estimators::{EstimatorConfig, EstimatorKind, Method};
use crate::experiments::{
    Grid, InfluenceConfig, MethodRun, MnistConfig, MnistResult, ToyConfig, ToyResult, VarianceConfig,
    VarianceCurve, mnist::MnistObjective,
};
use crate::records;
use repro_core::plot::{Heatmap, LinePlot, Series, heatmap, line_plot};
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
            series: first_seed(runs)
                .into_iter()
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
            series: first_seed(runs)
                .into_iter()
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

/// The grid with values above `factor` × its median (diverged inner runs) clipped there, so
/// that the colour scale shows the basin instead of the divergence.
fn clipped(grid: &Grid, factor: f64) -> Grid {
    let mut finite: Vec<f64> = grid
        .values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if finite.is_empty() {
        return grid.clone();
    }
    finite.sort_by(f64::total_cmp);
    let cap = factor * finite[finite.len() / 2];
    Grid {
        values: grid
            .values
            .iter()
            .map(|r| r.iter().map(|v| v.min(cap)).collect())
            .collect(),
        ..grid.clone()
    }
}

/// A plus sign of half-width `r` around `(x, y)` (marks a point on a heatmap).
fn cross(label: &str, x: f64, y: f64, r: f64) -> Series {
    Series::new(
        label,
        vec![(x - r, y), (x + r, y), (x, y), (x, y + r), (x, y - r)],
    )
}

/// The runs of the first seed (one trajectory per method).
fn first_seed(runs: &[MethodRun]) -> Vec<&MethodRun> {
    let seed = runs.first().map(|r| r.config.seed);
    runs.iter().filter(|r| Some(r.config.seed) == seed).collect()
}

/// Toy-regression figure (Fig. 4): landscape with the exact optimum and each method's
/// trajectory (first seed), and meta-loss curves.
pub fn plot_toy(result: &ToyResult, dir: &Path) -> Result<()> {
    let mut lines: Vec<Series> = first_seed(&result.runs)
        .into_iter()
        .map(|r| {
            Series::new(
                &r.label,
                r.history.iter().map(|h| (h.theta[0], h.theta[1])).collect(),
            )
        })
        .collect();
    let o = result.optimum.theta;
    lines.push(cross("exact optimum", o[0], o[1], 0.25));
    heatmap(
        &dir.join("toy_heatmap.png"),
        &Heatmap {
            title: "Toy regression: log10 meta-loss, trajectories from (-4,-4)".into(),
            x_label: "θ0 (log lr at t=0)".into(),
            y_label: "θ1 (log lr at t=T)".into(),
            x_range: result.heatmap.x,
            y_range: result.heatmap.y,
            values: finite_capped(&result.heatmap, f64::log10),
            lines,
            ..Default::default()
        },
    )?;
    line_plot(
        &dir.join("toy_meta_loss.png"),
        &LinePlot {
            title: "Toy regression: meta-loss of a full unroll".into(),
            x_label: "outer iteration".into(),
            y_label: "meta-loss".into(),
            series: first_seed(&result.runs)
                .into_iter()
                .map(|r| Series::new(&r.label, r.eval_points()))
                .collect(),
            log_y: true,
            y_range: None,
        },
    )?;
    Ok(())
}

/// MNIST figure (Figs. 5–6): landscape over (log10 lr₀, log10 decay) with every run's
/// trajectory, files `<prefix>_heatmap.png` (when the landscape was computed) and
/// `<prefix>_meta_loss.png`.
pub fn plot_mnist_as(
    result: &MnistResult,
    dir: &Path,
    prefix: &str,
    objective: MnistObjective,
) -> Result<()> {
    let ln10 = std::f64::consts::LN_10;
    let seeds = result
        .runs
        .iter()
        .map(|r| r.config.seed)
        .collect::<std::collections::BTreeSet<_>>();
    let name = |r: &MethodRun| {
        if seeds.len() > 1 {
            format!("{} s{}", r.label, r.config.seed)
        } else {
            r.label.clone()
        }
    };
    // one colour per method, shared by its seeds
    let mut methods: Vec<&str> = Vec::new();
    for r in &result.runs {
        if !methods.contains(&r.label.as_str()) {
            methods.push(&r.label);
        }
    }
    let colour = |r: &MethodRun| methods.iter().position(|m| *m == r.label).unwrap_or(0);
    let what = match objective {
        MnistObjective::TrainingLoss => "sum of training losses",
        MnistObjective::ValidationError => "sum of validation errors",
    };
    if !result.heatmap.values.is_empty() {
        heatmap(
            &dir.join(format!("{prefix}_heatmap.png")),
            &Heatmap {
                title: format!("MNIST: log10 {what} over T, with trajectories"),
                x_label: "log10 lr0".into(),
                y_label: "log10 decay".into(),
                x_range: result.heatmap.x,
                y_range: result.heatmap.y,
                values: finite_capped(&clipped(&result.heatmap, 3.0), f64::log10),
                lines: result
                    .runs
                    .iter()
                    .map(|r| {
                        let pts = r
                            .history
                            .iter()
                            .map(|h| (h.theta[0] / ln10, h.theta[1] / ln10))
                            .collect();
                        Series::new(name(r), pts).with_colour(colour(r))
                    })
                    .collect(),
                ..Default::default()
            },
        )?;
    }
    line_plot(
        &dir.join(format!("{prefix}_meta_loss.png")),
        &LinePlot {
            title: format!("MNIST: {what} of a full episode"),
            x_label: "outer iteration".into(),
            y_label: "meta-loss".into(),
            series: result
                .runs
                .iter()
                .map(|r| Series::new(name(r), r.eval_points()).with_colour(colour(r)))
                .collect(),
            log_y: false,
            y_range: None,
        },
    )?;
    Ok(())
}

/// MNIST figure as `mnist_heatmap.png` and `mnist_meta_loss.png`.
pub fn plot_mnist(result: &MnistResult, dir: &Path) -> Result<()> {
    plot_mnist_as(result, dir, "mnist", MnistObjective::TrainingLoss)
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
                    Series::new(c.sequence.to_string(), pts)
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

/// The folder of the figures, anchors and run records under the results directory `out`.
pub fn figures_dir(out: &Path) -> PathBuf {
    out.join("pes")
}

/// The record names of the MNIST runs the report shows, in order.
pub const MNIST_RECORDS: [&str; 6] = [
    "mnist-t1000",
    "mnist-t1000-valid",
    "mnist-cpu-k10",
    "mnist-cpu-k100",
    "mnist-cpu-valid-k10",
    "mnist-quick",
];

/// Mean and (sample) standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n.max(1.0);
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

fn pm(v: &[f64], digits: usize) -> String {
    let (m, s) = mean_std(v);
    format!("{m:.digits$} ± {s:.digits$}")
}

fn pm_e(v: &[f64]) -> String {
    let (m, s) = mean_std(v);
    format!("{m:.3e} ± {s:.1e}")
}

/// The runs grouped by method, in order of first appearance.
pub fn by_method(runs: &[MethodRun]) -> Vec<(Method, Vec<&MethodRun>)> {
    let mut out: Vec<(Method, Vec<&MethodRun>)> = Vec::new();
    for r in runs {
        match out.iter_mut().find(|(m, _)| *m == r.method()) {
            Some((_, v)) => v.push(r),
            None => out.push((r.method(), vec![r])),
        }
    }
    out
}

fn finals(runs: &[&MethodRun]) -> Vec<f64> {
    runs.iter().map(|r| r.last().eval.unwrap_or(f64::NAN)).collect()
}

/// Anchors: what the paper states, with its source.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchors {
    /// One entry per statement.
    pub anchors: Vec<Anchor>,
}

/// One statement of the paper.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// `influence`, `toy`, `mnist` or `variance`.
    pub experiment: String,
    /// The method it is about (a display label such as `PES K=10`), if any.
    #[serde(default)]
    pub method: Option<String>,
    /// What the paper states.
    pub claim: String,
    /// Where (figure, section).
    pub source: String,
}

impl Anchors {
    fn claim(&self, experiment: &str, method: &str) -> String {
        self.anchors
            .iter()
            .find(|a| a.experiment == experiment && a.method.as_deref() == Some(method))
            .map(|a| format!("{} ({})", a.claim, a.source))
            .unwrap_or_else(|| "—".into())
    }
    fn general(&self, experiment: &str) -> Vec<&Anchor> {
        self.anchors
            .iter()
            .filter(|a| a.experiment == experiment && a.method.is_none())
            .collect()
    }
}

/// Relative tolerance on the meta-loss for "reaches the optimum" (toy regression).
pub const TOY_TOLERANCE: f64 = 0.01;

/// Renders `out/pes.md` and the figures from the records under `out/pes/runs/` alone;
/// returns the report's path. Experiments without a record are listed as missing.
pub fn render(out: &Path) -> Result<PathBuf> {
    let dir = figures_dir(out);
    std::fs::create_dir_all(&dir)?;
    let anchors: Anchors = match std::fs::read_to_string(dir.join("anchors.json")) {
        Ok(t) => serde_json::from_str(&t)?,
        Err(_) => Anchors::default(),
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# PES — Persistent Evolution Strategies (Vicol, Metz & Sohl-Dickstein, ICML 2021)\n\n\
         Rendered by `cargo run --release -p pes -- report` from the run records under `pes/runs/` \
         (each record holds the command that produced it, its config, every evaluated history and a summary). \
         The \"paper\" column quotes `pes/anchors.json` (statements of the paper, with figure/section). \
         Numbers are mean ± std over the seeds named in each section.\n"
    );
    influence_section(&mut md, out, &dir, &anchors)?;
    toy_section(&mut md, out, &dir, &anchors)?;
    mnist_section(&mut md, out, &dir, &anchors)?;
    variance_section(&mut md, out, &dir, &anchors)?;
    let path = out.join("pes.md");
    std::fs::write(&path, md)?;
    eprintln!("wrote {}", path.display());
    Ok(path)
}

fn missing(md: &mut String, name: &str) {
    let _ = writeln!(md, "No record `pes/runs/{name}/record.json`: not run.\n");
}

fn command_line(md: &mut String, command: &str) {
    let _ = writeln!(md, "Command: `{command}`\n");
}

fn influence_section(md: &mut String, out: &Path, dir: &Path, anchors: &Anchors) -> Result<()> {
    let _ = writeln!(md, "## Influence balancing (§5.1, Fig. 3)\n");
    let Some(rec) = records::load::<InfluenceConfig, Vec<MethodRun>>(out, "influence")? else {
        missing(md, "influence");
        return Ok(());
    };
    let cfg = &rec.config;
    command_line(md, &rec.command);
    let _ = writeln!(
        md,
        "{} iterations from θ = {}, outer optimiser {} (UORO: {}); loss of a fresh {}-step unroll; seeds {:?}. \
         Computed in f64. Optimum θ* = −1/6.\n",
        cfg.iterations, cfg.theta0, cfg.outer, cfg.uoro_outer, cfg.eval_steps, cfg.seeds
    );
    let _ = writeln!(
        md,
        "| method | paper | final θ | final loss | seeds with \\|θ − θ*\\| < 1e-3 |\n|---|---|---|---|---|"
    );
    let opt = -1.0 / 6.0;
    for (m, runs) in by_method(&rec.metrics) {
        let th: Vec<f64> = runs.iter().map(|r| r.last().theta[0]).collect();
        let near = th.iter().filter(|t| (*t - opt).abs() < 1e-3).count();
        let _ = writeln!(
            md,
            "| {m} | {} | {} | {} | {near}/{} |",
            anchors.claim("influence", &m.to_string()),
            pm(&th, 6),
            pm_e(&finals(&runs)),
            runs.len()
        );
    }
    plot_influence(&rec.metrics, dir)?;
    let _ = writeln!(
        md,
        "\n![influence loss](pes/influence_loss.png) ![influence theta](pes/influence_theta.png)\n"
    );
    Ok(())
}

fn toy_section(md: &mut String, out: &Path, dir: &Path, anchors: &Anchors) -> Result<()> {
    let _ = writeln!(
        md,
        "## Toy 2-D regression, linear learning-rate schedule (§5.2, Fig. 4)\n"
    );
    let Some(rec) = records::load::<ToyConfig, ToyResult>(out, "toy")? else {
        missing(md, "toy");
        return Ok(());
    };
    let (cfg, res) = (&rec.config, &rec.metrics);
    command_line(md, &rec.command);
    let o = res.optimum;
    let _ = writeln!(
        md,
        "T = {}, outer optimiser {}, {} outer iterations from θ = {:?}, seeds {:?}; meta-loss = Σ_t f(x_t) of a fresh \
         full unroll, in f64. Exact optimum of the meta-objective (f64 grid of {n}×{n} over [−5, 5]², then a \
         compass search from the 8 best points): θ* = ({:.4}, {:.4}), meta-loss {:.3}. \"Reaches the optimum\": \
         final meta-loss within {:.0} % of it on every seed.\n",
        cfg.horizon,
        cfg.outer,
        cfg.iterations,
        cfg.theta0,
        cfg.seeds,
        o.theta[0],
        o.theta[1],
        o.meta_loss,
        TOY_TOLERANCE * 100.0,
        n = cfg.optimum_grid,
    );
    let _ = writeln!(
        md,
        "| method | N, σ | paper | start | best | final | final θ (mean) | reaches the optimum | time/run |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    let mut verdicts = Vec::new();
    for (m, runs) in by_method(&res.runs) {
        let f = finals(&runs);
        let best: Vec<f64> = runs.iter().map(|r| r.best()).collect();
        let th0 = mean_std(&runs.iter().map(|r| r.last().theta[0]).collect::<Vec<_>>()).0;
        let th1 = mean_std(&runs.iter().map(|r| r.last().theta[1]).collect::<Vec<_>>()).0;
        let reaches = f.iter().all(|v| *v <= o.meta_loss * (1.0 + TOY_TOLERANCE));
        let secs: Vec<f64> = runs.iter().map(|r| r.seconds).collect();
        let c = &runs[0].config;
        let extra = match m.kind {
            EstimatorKind::Es => " (full-episode ES, extra row)",
            EstimatorKind::Uoro => " (extra row)",
            _ => "",
        };
        let _ = writeln!(
            md,
            "| {m}{extra} | {} | {} | {:.1} | {} | {} | ({th0:.3}, {th1:.3}) | {} | {:.1} s |",
            if m.kind.is_evolutionary() {
                format!("{}, {}", c.particles, c.sigma)
            } else {
                "—".into()
            },
            anchors.claim("toy", &m.to_string()),
            runs[0].history[0].eval.unwrap_or(f64::NAN),
            pm(&best, 1),
            pm(&f, 1),
            if reaches { "yes" } else { "no" },
            mean_std(&secs).0,
        );
        let best_reaches = best.iter().all(|v| *v <= o.meta_loss * (1.0 + TOY_TOLERANCE));
        verdicts.push((m, reaches, best_reaches));
    }
    let reached: Vec<String> = verdicts.iter().filter(|v| v.1).map(|v| v.0.to_string()).collect();
    let not: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.1)
        .map(|v| v.0.to_string())
        .collect();
    let best_only: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.1 && v.2)
        .map(|v| v.0.to_string())
        .collect();
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let _ = writeln!(
        md,
        "\nReach the optimum (final meta-loss within {tol:.0} % on every seed): {}. Do not: {}. \
         Of those, within {tol:.0} % at their best evaluation on every seed: {}. (ES-type methods descend the \
         Gaussian-smoothed objective, whose minimiser differs from θ* by the smoothing.)\n",
        list(&reached),
        list(&not),
        list(&best_only),
        tol = TOY_TOLERANCE * 100.0,
    );
    plot_toy(res, dir)?;
    let _ = writeln!(
        md,
        "![toy heatmap](pes/toy_heatmap.png) ![toy meta-loss](pes/toy_meta_loss.png)\n"
    );
    Ok(())
}

/// Sustained throughput assumed for the GPU estimate of the paper-scale MNIST cost (an
/// assumption, not a measurement: batched small matrix products on a current data-centre GPU).
pub const ASSUMED_GPU_FLOPS: f64 = 1e13;

/// Floating-point operations of one particle's inner step of the MNIST MLP (forward and
/// backward ≈ 3 × the forward products).
pub fn mnist_step_flops(cfg: &MnistConfig) -> f64 {
    let [h1, h2] = cfg.hidden;
    3.0 * 2.0 * cfg.batch_size as f64 * (784 * h1 + h1 * h2 + h2 * 10) as f64
}

/// What the methods of `cfg` with no run at all would cost at `per_step` seconds per particle
/// inner step: one outer iteration runs N particles over K steps, so one seed costs
/// `iterations × N × K × per_step`. `None` when every method has a run.
pub fn unrun_cost(cfg: &MnistConfig, runs: &[MethodRun], per_step: f64) -> Option<String> {
    let unrun: Vec<&EstimatorConfig> = cfg
        .methods
        .iter()
        .filter(|m| !runs.iter().any(|r| r.method() == m.method()))
        .collect();
    if unrun.is_empty() {
        return None;
    }
    let hours =
        |m: &EstimatorConfig| (cfg.iterations * m.particles * m.truncation) as f64 * per_step / 3600.0;
    let each: Vec<String> = unrun
        .iter()
        .map(|m| format!("{} ≈ {:.1} h", m.label(), hours(m)))
        .collect();
    let total: f64 = unrun.iter().map(|m| hours(m)).sum::<f64>() * cfg.seeds.len() as f64;
    Some(format!(
        "Not run in this record: at that rate one seed at this record's settings ({} outer iterations × N × K \
         particle steps) costs {}; the {} seeds of all of them ≈ {:.0} h.",
        cfg.iterations,
        each.join(", "),
        cfg.seeds.len(),
        total
    ))
}

/// One line per MNIST method: which seeds are complete, partial (with the iterations done)
/// or not started.
pub fn mnist_status(cfg: &MnistConfig, runs: &[MethodRun]) -> String {
    let mut lines = Vec::new();
    for m in &cfg.methods {
        let label = m.label();
        let mut done = Vec::new();
        let mut partial = Vec::new();
        let mut missing = Vec::new();
        for &seed in &cfg.seeds {
            match runs
                .iter()
                .find(|r| r.method() == m.method() && r.config.seed == seed)
            {
                Some(r) => match r.completed {
                    None => done.push(seed.to_string()),
                    Some(it) => partial.push(format!(
                        "seed {seed} at {it}/{} (last evaluation: {:.2} at iteration {})",
                        cfg.iterations,
                        r.last().eval.unwrap_or(f64::NAN),
                        r.last().iteration
                    )),
                },
                None => missing.push(seed.to_string()),
            }
        }
        let mut parts = Vec::new();
        if !done.is_empty() {
            let s = if done.len() > 1 { "s" } else { "" };
            parts.push(format!("complete for seed{s} {}", done.join(", ")));
        }
        if !partial.is_empty() {
            parts.push(format!("partial: {}", partial.join("; ")));
        }
        if !missing.is_empty() {
            let s = if missing.len() > 1 { "s" } else { "" };
            parts.push(format!("not run for seed{s} {}", missing.join(", ")));
        }
        lines.push(format!("- {label}: {}.", parts.join("; ")));
    }
    lines.join("\n")
}

/// The evaluation of `run` at `iteration`, if it has one.
fn eval_at(run: &MethodRun, iteration: usize) -> Option<f64> {
    run.history
        .iter()
        .find(|h| h.iteration == iteration)
        .and_then(|h| h.eval)
}

fn mnist_section(md: &mut String, out: &Path, dir: &Path, anchors: &Anchors) -> Result<()> {
    let _ = writeln!(md, "## MNIST learning-rate schedule (§5.3, Figs. 5–6)\n");
    for a in anchors.general("mnist") {
        let _ = writeln!(md, "Paper: {} ({}).\n", a.claim, a.source);
    }
    let paper = MnistConfig::full();
    let mut any = false;
    let mut not_run = Vec::new();
    for name in MNIST_RECORDS {
        let Some(rec) = records::load::<MnistConfig, MnistResult>(out, name)? else {
            not_run.push(format!("`{name}`"));
            continue;
        };
        any = true;
        let (cfg, res) = (&rec.config, &rec.metrics);
        let _ = writeln!(md, "### `{name}`\n");
        command_line(md, &rec.command);
        let m0 = cfg.methods.first();
        let mut ks: Vec<usize> = cfg.methods.iter().map(|m| m.truncation).collect();
        ks.dedup();
        let ks: Vec<String> = ks.iter().map(|k| k.to_string()).collect();
        let _ = writeln!(
            md,
            "Objective: {}; MLP 784-{}-{}-10, batch {}, T = {}, N = {}, K ∈ {{{}}}, σ = {}, {} outer iterations ({}), \
             seeds {:?}, {} training images{}; {}. Paper: T = {}, N = {}, K ∈ {{10, 100}}, {} iterations.\n",
            cfg.objective,
            cfg.hidden[0],
            cfg.hidden[1],
            cfg.batch_size,
            cfg.horizon,
            m0.map_or(0, |m| m.particles),
            ks.join(", "),
            m0.map_or(0.0, |m| m.sigma),
            cfg.iterations,
            cfg.outer,
            cfg.seeds,
            res.train_images,
            if res.embedded_subset {
                " (embedded subset)"
            } else {
                ""
            },
            if res.heatmap.values.is_empty() {
                "meta-loss landscape not computed".to_string()
            } else {
                format!("meta-loss landscape on {}×{} cells", cfg.grid, cfg.grid)
            },
            paper.horizon,
            paper.methods[0].particles,
            paper.iterations,
        );
        let _ = writeln!(md, "Status:\n\n{}\n", mnist_status(cfg, &res.runs));
        let _ = writeln!(
            md,
            "| method | paper | complete seeds | start meta-loss | final meta-loss | final lr₀ (mean) | final decay (mean) | s / outer iteration |\n\
             |---|---|---|---|---|---|---|---|"
        );
        let groups = by_method(&res.runs);
        for (m, runs) in &groups {
            let complete: Vec<&MethodRun> = runs.iter().copied().filter(|r| !r.is_partial()).collect();
            let f = finals(&complete);
            let lr: Vec<f64> = complete.iter().map(|r| r.last().theta[0].exp()).collect();
            let dec: Vec<f64> = complete.iter().map(|r| r.last().theta[1].exp()).collect();
            let per_it: Vec<f64> = runs
                .iter()
                .map(|r| r.seconds / r.completed.unwrap_or(cfg.iterations).max(1) as f64)
                .collect();
            let (final_loss, lr0, decay) = if complete.is_empty() {
                ("—".to_string(), "—".to_string(), "—".to_string())
            } else {
                (
                    pm(&f, 2),
                    format!("{:.4}", mean_std(&lr).0),
                    format!("{:.2}", mean_std(&dec).0),
                )
            };
            let _ = writeln!(
                md,
                "| {m} | {} | {}/{} | {:.2} | {final_loss} | {lr0} | {decay} | {:.3} |",
                anchors.claim("mnist", m.kind.label()),
                complete.len(),
                cfg.seeds.len(),
                runs[0].history[0].eval.unwrap_or(f64::NAN),
                mean_std(&per_it).0,
            );
        }
        // PES against truncated ES at the same K: a difference within the seed spread is a tie.
        for (m, runs) in &groups {
            if m.kind != EstimatorKind::Pes {
                continue;
            }
            let Some((_, tes)) = groups
                .iter()
                .find(|(o, _)| o.kind == EstimatorKind::TruncatedEs && o.truncation == m.truncation)
            else {
                continue;
            };
            let full = |v: &[&MethodRun]| -> Vec<f64> {
                v.iter()
                    .filter(|r| !r.is_partial())
                    .map(|r| r.last().eval.unwrap_or(f64::NAN))
                    .collect()
            };
            let (fp, ft) = (full(runs), full(tes));
            let compare = |a: &[f64], b: &[f64]| {
                let ((ma, sa), (mb, sb)) = (mean_std(a), mean_std(b));
                if a.len() < 3 || b.len() < 3 {
                    format!(
                        "no verdict (seeds: PES {}, truncated ES {}; 3 needed)",
                        a.len(),
                        b.len()
                    )
                } else if (ma - mb).abs() <= sa.max(sb) {
                    "a tie (difference within the seed spread)".to_string()
                } else if ma < mb {
                    format!("PES lower by {:.2}", mb - ma)
                } else {
                    format!("truncated ES lower by {:.2}", ma - mb)
                }
            };
            let _ = writeln!(
                md,
                "\nK = {}: final meta-loss PES vs truncated ES: {}.",
                m.truncation.unwrap_or(0),
                compare(&fp, &ft)
            );
            // seeds with runs of both methods, at the latest iteration all of those reached
            let paired = |a: &[&MethodRun], b: &[&MethodRun]| -> Vec<MethodRun> {
                a.iter()
                    .filter(|r| b.iter().any(|o| o.config.seed == r.config.seed))
                    .map(|r| (*r).clone())
                    .collect()
            };
            let (pp, pt) = (paired(runs, tes), paired(tes, runs));
            let common = pp
                .iter()
                .chain(&pt)
                .map(|r| r.last().iteration)
                .min()
                .unwrap_or(0);
            if common > 0 && pp.iter().chain(&pt).any(|r| r.is_partial()) {
                let at =
                    |v: &[MethodRun]| -> Vec<f64> { v.iter().filter_map(|r| eval_at(r, common)).collect() };
                let (a, b) = (at(&pp), at(&pt));
                let seeds: Vec<String> = pp.iter().map(|r| r.config.seed.to_string()).collect();
                let _ = writeln!(
                    md,
                    "At iteration {common}, the latest that both methods reached on the seeds they share ({}; partial \
                     runs included): PES {} vs truncated ES {}: {}.",
                    seeds.join(", "),
                    pm(&a, 2),
                    pm(&b, 2),
                    compare(&a, &b)
                );
            }
        }
        // Cost of the paper's scale from the measured time per particle step.
        let pes_runs: Vec<&MethodRun> = res
            .runs
            .iter()
            .filter(|r| r.config.kind == EstimatorKind::Pes && r.seconds > 0.0)
            .collect();
        if !pes_runs.is_empty() {
            let per_step = mean_std(
                &pes_runs
                    .iter()
                    .map(|r| {
                        let c = &r.config;
                        let done = r.completed.unwrap_or(cfg.iterations).max(1);
                        r.seconds / (done * c.particles * c.truncation) as f64
                    })
                    .collect::<Vec<_>>(),
            )
            .0;
            let steps = |k: usize| (paper.iterations * paper.methods[0].particles * k) as f64;
            let cpu = |k: usize| per_step * steps(k) / 3600.0;
            let gpu = |k: usize| steps(k) * mnist_step_flops(&paper) / ASSUMED_GPU_FLOPS / 3600.0;
            let _ = writeln!(
                md,
                "\nMeasured (PES runs of this record, on a shared 2-core CPU): {:.2} ms per particle inner step \
                 (batch {}, hidden {:?}). At that rate one method and one seed of the paper's scale \
                 (`configs/mnist.json`: T = {}, N = {}, {} outer iterations) costs ≈ {:.0} h at K = 10 and ≈ {:.0} h at \
                 K = 100 on this CPU; the paper's four methods ≈ {:.0} h. Estimate, not measured: at an assumed \
                 sustained {:.0} TFLOP/s on a GPU ({:.1} MFLOP per particle step; small batched products rarely sustain more) ≈ {:.1} h at K = 10 and ≈ {:.1} h at \
                 K = 100.",
                per_step * 1e3,
                cfg.batch_size,
                cfg.hidden,
                paper.horizon,
                paper.methods[0].particles,
                paper.iterations,
                cpu(10),
                cpu(100),
                2.0 * (cpu(10) + cpu(100)),
                ASSUMED_GPU_FLOPS / 1e12,
                mnist_step_flops(&paper) / 1e6,
                gpu(10),
                gpu(100),
            );
            if let Some(line) = unrun_cost(cfg, &res.runs, per_step) {
                let _ = writeln!(md, "\n{line}");
            }
        }
        plot_mnist_as(res, dir, name, cfg.objective)?;
        let heat = if res.heatmap.values.is_empty() {
            String::new()
        } else {
            format!("![{name} heatmap](pes/{name}_heatmap.png) ")
        };
        let _ = writeln!(md, "\n{heat}![{name} meta-loss](pes/{name}_meta_loss.png)\n");
    }
    if !any {
        missing(md, "mnist-*");
    } else if !not_run.is_empty() {
        let _ = writeln!(
            md,
            "Not run (no record; configs under `crates/pes/configs/`): {}.\n",
            not_run.join(", ")
        );
    }
    Ok(())
}

/// Growth of a variance curve: the variance at the most unrolls over that at one unroll.
pub fn growth(curve: &VarianceCurve) -> f64 {
    let most = curve.points.iter().max_by_key(|p| p.0).map_or(f64::NAN, |p| p.1);
    let least = curve.points.iter().min_by_key(|p| p.0).map_or(f64::NAN, |p| p.1);
    most / least
}

/// A curve is flat when it grows less than this factor from one unroll to T unrolls …
pub const FLAT_BELOW: f64 = 2.5;
/// … and growing when it grows more than this factor.
pub const GROWING_ABOVE: f64 = 5.0;

/// The shape of a curve by [`growth`]: flat, growing or in between.
pub fn shape(curve: &VarianceCurve) -> &'static str {
    let g = growth(curve);
    if g < FLAT_BELOW {
        "flat"
    } else if g > GROWING_ABOVE {
        "growing"
    } else {
        "in between"
    }
}

/// The sentence stating whether the paper's Fig. 7 shape holds: the repeated sequence flat,
/// the random one growing, real text's growth strictly between the two.
pub fn variance_verdict(curves: &[VarianceCurve]) -> String {
    use crate::problems::lstm::TextSequence;
    let find = |k: TextSequence| curves.iter().find(|c| c.sequence == k);
    let (Some(real), Some(rep), Some(rnd)) = (
        find(TextSequence::Real),
        find(TextSequence::Repeat),
        find(TextSequence::Random),
    ) else {
        return "Not all three sequences were run, so the paper's shape is not checked.".into();
    };
    let (gr, gp, gn) = (growth(real), growth(rep), growth(rnd));
    let checks = [
        (
            shape(rep) == "flat",
            format!("repeated is {} ({gp:.1}×)", shape(rep)),
        ),
        (
            shape(rnd) == "growing",
            format!("random is {} ({gn:.1}×)", shape(rnd)),
        ),
        (
            gp < gr && gr < gn,
            format!(
                "real text grows {gr:.1}×, {} the two",
                if gp < gr && gr < gn {
                    "between"
                } else {
                    "not between"
                }
            ),
        ),
    ];
    let holds = checks.iter().all(|c| c.0);
    let detail: Vec<String> = checks.into_iter().map(|c| c.1).collect();
    format!(
        "The paper's shape {}: {}.",
        if holds { "holds" } else { "does not hold" },
        detail.join("; ")
    )
}

fn variance_section(md: &mut String, out: &Path, dir: &Path, anchors: &Anchors) -> Result<()> {
    let _ = writeln!(md, "## Variance against the number of unrolls (§5.4, Fig. 7)\n");
    let Some(rec) = records::load::<VarianceConfig, Vec<VarianceCurve>>(out, "variance")? else {
        missing(md, "variance");
        return Ok(());
    };
    let (cfg, curves) = (&rec.config, &rec.metrics);
    command_line(md, &rec.command);
    for a in anchors.general("variance") {
        let _ = writeln!(md, "Paper: {} ({}).\n", a.claim, a.source);
    }
    let paper = VarianceConfig::default();
    let _ = writeln!(
        md,
        "A character-level LSTM (hidden and embedding size {}, vocabulary {} characters) in f64 at a fixed θ₀, on \
         T = {} characters of `{}` (real text, lower-cased, whitespace runs as one space), its first character \
         repeated, or random characters. PES (N = {}, σ = {}) summed over the T/K truncations against the exact \
         gradient of the sequence (forward mode, equal to full BPTT); {} repeats per K; mean ± standard error of \
         E‖ĝ − g‖² / ‖g‖². The paper: Penn Treebank characters, T = {}, N = {}, σ = {}, reference gradient from \
         5000-particle ES.\n",
        cfg.hidden,
        curves.first().map_or(0, |c| c.vocab),
        cfg.length,
        cfg.text
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
        cfg.particles,
        cfg.sigma,
        cfg.repeats,
        paper.length,
        paper.particles,
        paper.sigma,
    );
    if let Some(c0) = curves.first() {
        let header: Vec<String> = c0.points.iter().map(|(u, _)| u.to_string()).collect();
        let _ = writeln!(
            md,
            "| sequence \\ T/K | {} | growth (T/K = {} over 1) | shape | time |\n|---|{}---|---|---|",
            header.join(" | "),
            cfg.length,
            "---|".repeat(header.len())
        );
    }
    for c in curves {
        let v: Vec<String> = c
            .points
            .iter()
            .zip(&c.std_errors)
            .map(|((_, v), se)| format!("{v:.3} ± {se:.3}"))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {:.1}× | {} | {:.0} s |",
            c.sequence,
            v.join(" | "),
            growth(c),
            shape(c),
            c.seconds
        );
    }
    let _ = writeln!(
        md,
        "\nCriterion: a curve is flat when its variance at T/K = T is less than {FLAT_BELOW}× that at T/K = 1, \
         growing when more than {GROWING_ABOVE}×; the paper's shape holds when the repeated sequence is flat, the \
         random one growing and real text's growth lies strictly between theirs. {}",
        variance_verdict(curves)
    );
    if cfg.length < paper.length || cfg.particles < paper.particles {
        // the cost of an estimate is proportional to N (every particle runs every step)
        let seconds: f64 = curves.iter().map(|c| c.seconds).sum();
        let scale = (paper.length * paper.particles) as f64 / (cfg.length * cfg.particles) as f64;
        let _ = writeln!(
            md,
            "\nThis record is smaller than the paper's setting (T = {}, N = {}): its three curves took {:.0} min on the \
             shared 2-core machine, so the paper's would take ≈ {:.0} min (cost ∝ T·N). `crates/pes/configs/variance.json` \
             holds the paper's setting: `cargo run --release -p pes -- variance --config crates/pes/configs/variance.json`.",
            paper.length,
            paper.particles,
            seconds / 60.0,
            seconds * scale / 60.0
        );
    }
    plot_variance(curves, dir)?;
    let _ = writeln!(md, "\n![variance](pes/variance.png)\n");
    Ok(())
}
