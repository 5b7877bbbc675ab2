//! Rendering of results: the paper's figures redrawn from the run records
//! ([`crate::records`]) as PNG, and `DIR/pes.md` with our numbers (mean ± std over seeds)
//! beside the paper's anchors (`DIR/pes/anchors.json`). Every sentence that depends on a
//! result is generated from it. What runs is decided in [`crate::reproduce`].

use crate::error::Result;
use crate::estimators::{EstimatorKind, Method};
use crate::experiments::{
    Grid, InfluenceConfig, MethodRun, MnistConfig, MnistResult, ToyConfig, ToyResult, VarianceConfig,
    VarianceCurve,
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

/// MNIST figure (Figs. 5–6): landscape over (log10 lr₀, log10 decay) with trajectories,
/// files `<prefix>_heatmap.png` and `<prefix>_meta_loss.png`.
pub fn plot_mnist_as(result: &MnistResult, dir: &Path, prefix: &str) -> Result<()> {
    let ln10 = std::f64::consts::LN_10;
    heatmap(
        &dir.join(format!("{prefix}_heatmap.png")),
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
        &dir.join(format!("{prefix}_meta_loss.png")),
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

/// MNIST figure as `mnist_heatmap.png` and `mnist_meta_loss.png`.
pub fn plot_mnist(result: &MnistResult, dir: &Path) -> Result<()> {
    plot_mnist_as(result, dir, "mnist")
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

/// The folder of the figures, anchors and run records under the results directory `out`.
pub fn figures_dir(out: &Path) -> PathBuf {
    out.join("pes")
}

/// The record names of the MNIST runs the report shows, in order.
pub const MNIST_RECORDS: [&str; 4] = [
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
        "{} iterations from θ = {}, SGD lr {:?} (UORO: {:?}); loss of a fresh {}-step unroll; seeds {:?}. \
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
        "T = {}, Adam {:?}, {} outer iterations from θ = {:?}, seeds {:?}; meta-loss = Σ_t f(x_t) of a fresh \
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

fn mnist_section(md: &mut String, out: &Path, dir: &Path, anchors: &Anchors) -> Result<()> {
    let _ = writeln!(md, "## MNIST learning-rate schedule (§5.3, Figs. 5–6)\n");
    for a in anchors.general("mnist") {
        let _ = writeln!(md, "Paper: {} ({}).\n", a.claim, a.source);
    }
    let mut any = false;
    for name in MNIST_RECORDS {
        let Some(rec) = records::load::<MnistConfig, MnistResult>(out, name)? else {
            continue;
        };
        any = true;
        let (cfg, res) = (&rec.config, &rec.metrics);
        let _ = writeln!(md, "### `{name}`\n");
        command_line(md, &rec.command);
        let m0 = cfg.methods.first();
        let _ = writeln!(
            md,
            "Objective {:?}; MLP 784-{}-{}-10, batch {}, T = {}, N = {}, K = {}, σ = {}, {} outer iterations (Adam {:?}), \
             seeds {:?}, {} training images{}; landscape {}×{} cells. Paper: T = 5000, N = 1000, K ∈ {{10, 100}}, \
             5000 iterations.\n",
            cfg.objective,
            cfg.hidden[0],
            cfg.hidden[1],
            cfg.batch_size,
            cfg.horizon,
            m0.map_or(0, |m| m.particles),
            m0.map_or(0, |m| m.truncation),
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
            cfg.grid,
            cfg.grid,
        );
        let _ = writeln!(
            md,
            "| method | paper | start meta-loss | final meta-loss | final lr₀ (mean) | final decay (mean) | s / outer iteration |\n\
             |---|---|---|---|---|---|---|"
        );
        let groups = by_method(&res.runs);
        for (m, runs) in &groups {
            let f = finals(runs);
            let lr: Vec<f64> = runs.iter().map(|r| r.last().theta[0].exp()).collect();
            let dec: Vec<f64> = runs.iter().map(|r| r.last().theta[1].exp()).collect();
            let per_it: Vec<f64> = runs
                .iter()
                .map(|r| r.seconds / cfg.iterations.max(1) as f64)
                .collect();
            let _ = writeln!(
                md,
                "| {m} | {} | {:.2} | {} | {:.4} | {:.2} | {:.3} |",
                anchors.claim("mnist", m.kind.label()),
                runs[0].history[0].eval.unwrap_or(f64::NAN),
                pm(&f, 2),
                mean_std(&lr).0,
                mean_std(&dec).0,
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
            let (a, sa) = mean_std(&finals(runs));
            let (b, sb) = mean_std(&finals(tes));
            let verdict = if runs.len() < 3 || tes.len() < 3 {
                "no verdict (fewer than 3 seeds)".to_string()
            } else if (a - b).abs() <= sa.max(sb) {
                "a tie (difference within the seed spread)".to_string()
            } else if a < b {
                format!("PES lower by {:.2}", b - a)
            } else {
                format!("truncated ES lower by {:.2}", a - b)
            };
            let _ = writeln!(
                md,
                "\nK = {}: final meta-loss PES vs truncated ES: {verdict}.",
                m.truncation.unwrap_or(0)
            );
        }
        // Cost of the paper's scale from the measured time per particle step.
        if let Some((m, runs)) = groups.iter().find(|(m, _)| m.kind == EstimatorKind::Pes) {
            let c = &runs[0].config;
            let per_step = mean_std(&runs.iter().map(|r| r.seconds).collect::<Vec<_>>()).0
                / (cfg.iterations.max(1) * c.particles * c.truncation) as f64;
            let paper = MnistConfig::full();
            let pc = &paper.methods[0];
            let hours = per_step * (paper.iterations * pc.particles * pc.truncation) as f64 / 3600.0;
            let _ = writeln!(
                md,
                "\nMeasured {m}: {:.2} ms per particle inner step (batch {}, hidden {:?}). At that rate the paper's \
                 scale (`configs/mnist.json`: N = {}, K = {}, {} outer iterations, one method, one seed) costs ≈ {:.0} h \
                 on this CPU.",
                per_step * 1e3,
                cfg.batch_size,
                cfg.hidden,
                pc.particles,
                pc.truncation,
                paper.iterations,
                hours
            );
        }
        plot_mnist_as(res, dir, name)?;
        let _ = writeln!(
            md,
            "\n![{name} heatmap](pes/{name}_heatmap.png) ![{name} meta-loss](pes/{name}_meta_loss.png)\n"
        );
    }
    if !any {
        missing(md, "mnist-*");
    }
    Ok(())
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
    let _ = writeln!(
        md,
        "A vanilla RNN (vocab {}, hidden {}) on a synthetic sequence of T = {} tokens (one token repeated, or uniform \
         random tokens); θ = all weights, fixed. PES (N = {}, σ = {}) summed over the T/K truncations against exact \
         BPTT; {} repeats per K. The paper uses an LSTM on Penn Treebank characters; an LSTM on real text is not run \
         here, so the paper's \"in between\" curve has no counterpart.\n",
        cfg.vocab, cfg.hidden, cfg.length, cfg.particles, cfg.sigma, cfg.repeats
    );
    if let Some(c0) = curves.first() {
        let header: Vec<String> = c0.points.iter().map(|(u, _)| u.to_string()).collect();
        let _ = writeln!(
            md,
            "| sequence \\ T/K | {} | shape (last/first) |\n|---|{}---|",
            header.join(" | "),
            "---|".repeat(header.len())
        );
    }
    for c in curves {
        let v: Vec<String> = c.points.iter().map(|(_, v)| format!("{v:.3}")).collect();
        let most = c.points.iter().max_by_key(|p| p.0).map_or(f64::NAN, |p| p.1);
        let least = c.points.iter().min_by_key(|p| p.0).map_or(f64::NAN, |p| p.1);
        let ratio = most / least;
        let shape = if ratio < 2.5 {
            "flat"
        } else if ratio > 5.0 {
            "growing"
        } else {
            "in between"
        };
        let _ = writeln!(
            md,
            "| {:?} | {} | {shape} ({ratio:.1}×) |",
            c.sequence,
            v.join(" | ")
        );
    }
    plot_variance(curves, dir)?;
    let _ = writeln!(md, "\n![variance](pes/variance.png)\n");
    Ok(())
}
