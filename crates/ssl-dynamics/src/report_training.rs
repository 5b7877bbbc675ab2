//! The training section of `ssl-dynamics.md`, written from the run records of [`crate::sweep`]
//! and the published numbers and theory predictions of `anchors.json` only: every number is
//! read from a record, every verdict is computed from the numbers.

use crate::error::Result;
use crate::figures::{FIGURES, lines, plot};
use crate::sweep::{ABLATION_BASE, Ablation, Method, Pred, RunRecord, RunSpec};
use repro_core::data::DatasetName;
use repro_core::plot::Series;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// Larger, smaller, or indistinguishable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Larger.
    Higher,
    /// Within the seed spread.
    Tie,
    /// Smaller.
    Lower,
}

impl Direction {
    fn word(self) -> &'static str {
        match self {
            Direction::Higher => "higher",
            Direction::Tie => "tie",
            Direction::Lower => "lower",
        }
    }
}

/// A published number or statement with its source.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Published {
    /// Dataset, network, schedule.
    pub setting: String,
    /// What the source reports.
    pub result: String,
    /// Paper table/figure/section.
    pub source: String,
}

/// The paper's direction for a predictor pair (`a` against `b`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairAnchor {
    /// First predictor.
    pub a: Pred,
    /// Second predictor.
    pub b: Pred,
    /// `a` against `b` in the paper; `None` where no published number was retrieved.
    pub paper: Option<Direction>,
    /// What the source says.
    pub evidence: String,
    /// Paper table/figure/section.
    pub source: String,
}

/// An ablation compared with its base (the EMA one: BYOL against SimSiam).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AblationKey {
    /// Weight decay 0 against 4e-4.
    WeightDecay0,
    /// Weight decay 4e-3 against 4e-4.
    WeightDecay4e3,
    /// `α_p = 10` against 1.
    PredictorLr10,
    /// EMA target (BYOL) against none (SimSiam).
    Ema,
    /// No stop-gradient against stop-gradient.
    NoStopGradient,
}

impl AblationKey {
    fn label(self) -> &'static str {
        match self {
            AblationKey::WeightDecay0 => "weight decay 0 (vs 4e-4)",
            AblationKey::WeightDecay4e3 => "weight decay 4e-3 (vs 4e-4)",
            AblationKey::PredictorLr10 => "predictor lr ×10 (vs ×1)",
            AblationKey::Ema => "EMA target, BYOL (vs none, SimSiam)",
            AblationKey::NoStopGradient => "no stop-gradient (vs stop-gradient)",
        }
    }

    /// The treated runs and the base runs (MNIST, SGD linear predictor).
    fn groups<'a>(self, records: &'a [RunRecord]) -> (Vec<&'a RunRecord>, Vec<&'a RunRecord>) {
        let (bm, bp) = ABLATION_BASE;
        let select = |method: Method, ablation: Option<Ablation>| -> Vec<&'a RunRecord> {
            records
                .iter()
                .filter(|r| {
                    r.spec.dataset == DatasetName::Mnist
                        && r.spec.method == Some(method)
                        && r.spec.pred == bp
                        && r.spec.ablation == ablation
                })
                .collect()
        };
        let base = select(bm, None);
        let treated = match self {
            AblationKey::WeightDecay0 => select(bm, Some(Ablation::WeightDecay0)),
            AblationKey::WeightDecay4e3 => select(bm, Some(Ablation::WeightDecay4e3)),
            AblationKey::PredictorLr10 => select(bm, Some(Ablation::PredictorLr10)),
            AblationKey::NoStopGradient => select(bm, Some(Ablation::NoStopGradient)),
            AblationKey::Ema => select(Method::Byol, None),
        };
        (treated, base)
    }
}

/// A quantity read from a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Metric {
    /// Linear-probe test accuracy (%), final epoch.
    Probe,
    /// Collapse monitor of the projector output, last epoch.
    ZStd,
    /// Effective rank of `F̂` at the last step.
    EffectiveRank,
    /// `‖W_p − W_pᵀ‖/‖W_p‖` at the last step.
    Asymmetry,
    /// `‖[W_p, F̂]‖/(‖W_p‖‖F̂‖)` at the last step.
    Commutator,
}

impl Metric {
    fn label(self) -> &'static str {
        match self {
            Metric::Probe => "probe acc. (%)",
            Metric::ZStd => "z-std (collapse monitor)",
            Metric::EffectiveRank => "eff. rank of F̂",
            Metric::Asymmetry => "asymmetry of W_p",
            Metric::Commutator => "commutator [W_p, F̂]",
        }
    }

    /// The value in `r`, if it has one.
    pub fn of(self, r: &RunRecord) -> Option<f64> {
        let last = r.logs.last();
        let point = last.and_then(|l| l.theory.last());
        match self {
            Metric::Probe => Some(100.0 * r.probe.final_acc),
            Metric::ZStd => last.map(|l| l.z_std),
            Metric::EffectiveRank => point.map(|p| p.f_effective_rank),
            Metric::Asymmetry => point.and_then(|p| p.asymmetry),
            Metric::Commutator => point.and_then(|p| p.commutator),
        }
    }
}

/// What the analysis predicts for an ablation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prediction {
    /// Which comparison.
    pub ablation: AblationKey,
    /// On what.
    pub metric: Metric,
    /// The treated runs against the base.
    pub direction: Direction,
    /// The argument, in one line.
    pub why: String,
    /// Paper section/figure.
    pub source: String,
}

/// `anchors.json`: published numbers, the paper's predictor pairs, the theory's predictions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchors {
    /// Published numbers.
    pub published: Vec<Published>,
    /// Predictor pairs.
    pub pairs: Vec<PairAnchor>,
    /// Ablation predictions.
    pub predictions: Vec<Prediction>,
}

impl Anchors {
    /// `out/ssl-dynamics/anchors.json` (empty if absent).
    pub fn load(out: &Path) -> Result<Self> {
        let path = out.join(FIGURES).join("anchors.json");
        if !path.is_file() {
            return Ok(Self::default());
        }
        Ok(repro_core::config::load(&path)?)
    }
}

/// Mean, sample standard deviation and count.
pub fn mean_std(v: &[f64]) -> (f64, f64, usize) {
    let n = v.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, 0);
    }
    let m = v.iter().sum::<f64>() / n as f64;
    let var = if n > 1 {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64
    } else {
        f64::NAN
    };
    (m, var.sqrt(), n)
}

/// `a` against `b`: the difference of means, its standard error, and the direction. A
/// difference counts only if it exceeds both two standard errors and the larger seed standard
/// deviation; otherwise (or with fewer than 2 seeds on a side) it is a tie.
pub fn compare(a: &[f64], b: &[f64]) -> (f64, f64, Direction) {
    let (ma, sa, na) = mean_std(a);
    let (mb, sb, nb) = mean_std(b);
    let diff = ma - mb;
    if na < 2 || nb < 2 {
        return (diff, f64::NAN, Direction::Tie);
    }
    let se = (sa * sa / na as f64 + sb * sb / nb as f64).sqrt();
    let spread = sa.max(sb);
    let dir = if diff.abs() > 2.0 * se && diff.abs() > spread {
        if diff > 0.0 {
            Direction::Higher
        } else {
            Direction::Lower
        }
    } else {
        Direction::Tie
    };
    (diff, se, dir)
}

fn cell(v: &[f64], digits: usize) -> String {
    match mean_std(v) {
        (_, _, 0) => "–".into(),
        (m, _, 1) => format!("{m:.digits$} (n=1)"),
        (m, s, n) => format!("{m:.digits$} ± {s:.digits$} (n={n})"),
    }
}

fn ds_label(d: DatasetName) -> &'static str {
    match d {
        DatasetName::FashionMnist => "Fashion-MNIST",
        _ => "MNIST",
    }
}

const DATASETS: [DatasetName; 2] = [DatasetName::Mnist, DatasetName::FashionMnist];

fn select(records: &[RunRecord], f: impl Fn(&RunSpec) -> bool) -> Vec<&RunRecord> {
    records.iter().filter(|r| f(&r.spec)).collect()
}

fn values(runs: &[&RunRecord], m: Metric) -> Vec<f64> {
    runs.iter().filter_map(|r| m.of(r)).collect()
}

fn cell_runs(records: &[RunRecord], ds: DatasetName, method: Method, pred: Pred) -> Vec<&RunRecord> {
    select(records, |s| {
        s.dataset == ds && s.method == Some(method) && s.pred == pred && s.ablation.is_none()
    })
}

fn pred_label(p: Pred, d: usize) -> String {
    p.kind(d).label()
}

/// The training section.
pub fn training_section(fig_dir: &Path, records: &[RunRecord], anchors: &Anchors) -> Result<String> {
    let mut md = String::new();
    writeln!(
        md,
        "## DirectPred and BYOL/SimSiam training (paper Sec. 6), CPU scale\n"
    )
    .ok();
    let Some(first) = records.iter().find(|r| r.spec.method.is_some()) else {
        md.push_str("No run records yet: `cargo run --release -p ssl-dynamics -- sweep --set all`.\n\n");
        md.push_str(&published(anchors));
        return Ok(md);
    };
    md.push_str(&setup(first, records));
    for ds in DATASETS {
        md.push_str(&comparison(records, ds, first.config.ssl.branch.projector_out));
    }
    md.push_str(&pairs(records, anchors));
    md.push_str(&monitors(
        fig_dir,
        records,
        first.config.ssl.branch.projector_out,
    )?);
    md.push_str(&ablations(fig_dir, records, anchors)?);
    md.push_str(&published(anchors));
    Ok(md)
}

fn setup(r: &RunRecord, records: &[RunRecord]) -> String {
    let c = &r.config;
    let b = &c.ssl.branch;
    let images = c.train_limit.map_or("all".to_string(), |n| n.to_string());
    let steps = c.epochs * c.train_limit.unwrap_or(60_000).div_ceil(c.batch);
    let total_s: f64 = records.iter().map(|r| r.seconds).sum();
    format!(
        "**Setup (every number from `crates/ssl-dynamics/configs/cpu-comparison.json`; each record in \
         `docs/results/ssl-dynamics/runs/<name>/record.json` carries its config and command):** {images} pre-training \
         images, {} epochs, batch {} ({steps} steps), encoder {:?}, projector {} → {} → {}, SGD lr {}, momentum {}, \
         weight decay {}, BYOL m = 0.996 (target copied at start: {}), MNIST augmentation (random resized crop). \
         Probe: logistic regression on frozen standardised features, {} epochs, {} labelled training / {} test images; \
         final-epoch accuracy. Predictors: 2-layer MLP hidden {}, DirectPred ρ = 0.3, ε = 0.01, √ formula, DirectCopy \
         `W_p = F̂ + εI` with ε = 0.01 on the raw `F̂` (the reference trainer's `predictor_reg: directcopy` does not \
         normalise `F̂`; the cosine loss ignores the scale of `W_p`, so normalising would only rescale ε). Seeds 0, 1, 2 \
         per cell; a difference is reported only when it exceeds two standard errors and the larger seed standard \
         deviation, otherwise it is a **tie**. {} records, {:.0} s of training in all. This is a toy-scale CPU study, \
         not the paper's ResNet-18 runs.\n\n",
        c.epochs,
        c.batch,
        b.encoder,
        encoder_dim(&b.encoder),
        b.projector_hidden,
        b.projector_out,
        c.ssl.lr,
        c.ssl.momentum,
        c.ssl.weight_decay,
        c.ssl.copy_target_at_start,
        c.probe.epochs,
        r.probe_images.0,
        r.probe_images.1,
        4 * b.projector_out,
        records.len(),
        total_s
    )
}

fn comparison(records: &[RunRecord], ds: DatasetName, d: usize) -> String {
    let runs = select(records, |s| s.dataset == ds);
    if runs.is_empty() {
        return format!("### {}\n\nNo records for this dataset yet.\n\n", ds_label(ds));
    }
    let mut md = String::new();
    writeln!(
        md,
        "### {}: probe accuracy (%), mean ± std over seeds\n\nCommand per cell: `cargo run --release -p ssl-dynamics -- sweep --set comparison-{}` \
         (one run: the `command` of its record).\n",
        ds_label(ds),
        if ds == DatasetName::Mnist { "mnist" } else { "fashion" }
    )
    .ok();
    writeln!(
        md,
        "| predictor | BYOL (EMA) | SimSiam | z-std BYOL / SimSiam | eff. rank of F̂ BYOL / SimSiam |\n|---|---|---|---|---|"
    )
    .ok();
    for p in Pred::ALL {
        let by = cell_runs(records, ds, Method::Byol, p);
        let ss = cell_runs(records, ds, Method::SimSiam, p);
        writeln!(
            md,
            "| {} | {} | {} | {} / {} | {} / {} |",
            pred_label(p, d),
            cell(&values(&by, Metric::Probe), 2),
            cell(&values(&ss, Metric::Probe), 2),
            cell(&values(&by, Metric::ZStd), 3),
            cell(&values(&ss, Metric::ZStd), 3),
            cell(&values(&by, Metric::EffectiveRank), 1),
            cell(&values(&ss, Metric::EffectiveRank), 1),
        )
        .ok();
    }
    let random = select(records, |s| s.dataset == ds && s.method.is_none());
    writeln!(
        md,
        "| random-init encoder (no training; BN statistics calibrated) | {} | | | |\n\nHealthy z-std ≈ 1/√d = {:.3}; a collapsed output has z-std ≈ 0.\n",
        cell(&values(&random, Metric::Probe), 2),
        1.0 / (d as f64).sqrt()
    )
    .ok();
    md
}

fn pairs(records: &[RunRecord], anchors: &Anchors) -> String {
    let mut md = String::new();
    writeln!(
        md,
        "### Predictor pairs: does the difference exceed the seed spread?\n\n\
         | dataset | method | a vs b | Δ probe (points) | SE | measured | paper | agreement |\n|---|---|---|---|---|---|---|---|"
    )
    .ok();
    for ds in DATASETS {
        for m in Method::ALL {
            for pa in &anchors.pairs {
                let a = values(&cell_runs(records, ds, m, pa.a), Metric::Probe);
                let b = values(&cell_runs(records, ds, m, pa.b), Metric::Probe);
                if a.is_empty() || b.is_empty() {
                    continue;
                }
                let (diff, se, dir) = compare(&a, &b);
                let agreement = match (pa.paper, dir) {
                    (None, _) => "no published number retrieved".to_string(),
                    (Some(p), d) if p == d => "**agrees**".into(),
                    (Some(_), Direction::Tie) => "not resolved at this scale (tie)".into(),
                    (Some(Direction::Tie), _) => "**differs** (paper: comparable)".into(),
                    _ => "**disagrees**".into(),
                };
                writeln!(
                    md,
                    "| {} | {} | {} vs {} | {diff:+.2} | {se:.2} | {} | {} ({}) | {agreement} |",
                    ds_label(ds),
                    m.label(),
                    pa.a.name(),
                    pa.b.name(),
                    dir.word(),
                    pa.paper.map_or("–", |p| p.word()),
                    pa.source
                )
                .ok();
            }
        }
    }
    md.push('\n');
    md
}

/// The first and last theory point values of `f` per run.
fn first_last(
    runs: &[&RunRecord],
    f: impl Fn(&crate::dynamics::TheoryPoint) -> Option<f64>,
) -> (Vec<f64>, Vec<f64>) {
    let mut a = vec![];
    let mut b = vec![];
    for r in runs {
        let pts: Vec<&crate::dynamics::TheoryPoint> = r.logs.iter().flat_map(|l| &l.theory).collect();
        if let (Some(x), Some(y)) = (pts.first().and_then(|p| f(p)), pts.last().and_then(|p| f(p))) {
            a.push(x);
            b.push(y);
        }
    }
    (a, b)
}

fn curve(r: &RunRecord, f: impl Fn(&crate::dynamics::TheoryPoint) -> Option<f64>) -> Vec<(f64, f64)> {
    r.logs
        .iter()
        .flat_map(|l| &l.theory)
        .filter_map(|p| f(p).map(|v| (p.step as f64, v.max(1e-12))))
        .collect()
}

fn monitors(fig_dir: &Path, records: &[RunRecord], d: usize) -> Result<String> {
    let ds = DatasetName::Mnist;
    let linear = [
        Pred::Linear,
        Pred::LinearSym,
        Pred::DirectPred1,
        Pred::DirectPred5,
        Pred::DirectCopy,
    ];
    let mut md = String::new();
    writeln!(
        md,
        "### What the analysis predicts during training (MNIST, linear predictors)\n\n\
         Relative commutator ‖[W_p, F̂]‖/(‖W_p‖‖F̂‖) (Sec. 5: the eigenspaces of W_p and F align) and asymmetry \
         ‖W_p − W_pᵀ‖/‖W_p‖ (weight decay removes the antisymmetric part), logged every 10 steps with a running F̂ \
         (ρ = 0.3); first logged point → last, mean ± std over seeds.\n\n\
         | method | predictor | commutator first → last | trend | asymmetry first → last | trend |\n|---|---|---|---|---|---|"
    )
    .ok();
    for m in Method::ALL {
        for p in linear {
            let runs = cell_runs(records, ds, m, p);
            if runs.is_empty() {
                continue;
            }
            let (c0, c1) = first_last(&runs, |t| t.commutator);
            let (a0, a1) = first_last(&runs, |t| t.asymmetry);
            writeln!(
                md,
                "| {} | {} | {} → {} | {} | {} → {} | {} |",
                m.label(),
                pred_label(p, d),
                cell(&c0, 3),
                cell(&c1, 3),
                compare(&c1, &c0).2.word(),
                cell(&a0, 3),
                cell(&a1, 3),
                compare(&a1, &a0).2.word(),
            )
            .ok();
        }
    }
    // Figures: seed 0.
    let seed0 = |m: Method, p: Pred, a: Option<Ablation>| {
        records.iter().find(|r| {
            r.spec.dataset == ds
                && r.spec.method == Some(m)
                && r.spec.pred == p
                && r.spec.ablation == a
                && r.spec.seed == 0
        })
    };
    let mut figs = vec![];
    for m in Method::ALL {
        let series: Vec<Series> = [Pred::Linear, Pred::LinearSym, Pred::DirectPred5, Pred::DirectCopy]
            .iter()
            .filter_map(|&p| {
                seed0(m, p, None).map(|r| Series::new(pred_label(p, d), curve(r, |t| t.commutator)))
            })
            .collect();
        if series.is_empty() {
            continue;
        }
        figs.push(plot(
            fig_dir,
            &format!("dyn_commutator_{}.png", m.name()),
            lines(
                &format!("|[W_p, F]|/(|W_p||F|), MNIST, {}, seed 0", m.label()),
                "step",
                "commutator",
                series,
                true,
                None,
            ),
        )?);
    }
    let (bm, bp) = ABLATION_BASE;
    let asym: Vec<Series> = [
        (bm, None, "SimSiam, wd 4e-4"),
        (bm, Some(Ablation::WeightDecay0), "SimSiam, wd 0"),
        (bm, Some(Ablation::WeightDecay4e3), "SimSiam, wd 4e-3"),
        (Method::Byol, None, "BYOL, wd 4e-4"),
    ]
    .iter()
    .filter_map(|&(m, a, l)| seed0(m, bp, a).map(|r| Series::new(l, curve(r, |t| t.asymmetry))))
    .collect();
    if !asym.is_empty() {
        figs.push(plot(
            fig_dir,
            "dyn_asymmetry.png",
            lines(
                "Asymmetry |W_p - W_p^T|/|W_p|, SGD linear, MNIST, seed 0",
                "step",
                "asymmetry",
                asym,
                true,
                None,
            ),
        )?);
    }
    // Spectra at the last step: the predictor's eigenvalue on F's modes against s/max s.
    let mut spec = vec![];
    for (m, p) in [
        (Method::SimSiam, Pred::Linear),
        (Method::Byol, Pred::Linear),
        (Method::SimSiam, Pred::DirectPred5),
        (Method::SimSiam, Pred::DirectPred1),
    ] {
        let Some(r) = seed0(m, p, None) else { continue };
        let Some(t) = r.logs.last().and_then(|l| l.theory.last()) else {
            continue;
        };
        let smax = t.f_eigs.first().copied().unwrap_or(1.0).max(1e-12) as f64;
        let pmax = t.wp_on_f_modes.iter().fold(1e-12f32, |a, &b| a.max(b)) as f64;
        let pts = t
            .f_eigs
            .iter()
            .zip(&t.wp_on_f_modes)
            .map(|(&s, &w)| (s as f64 / smax, w as f64 / pmax))
            .collect();
        spec.push(Series::new(format!("{}, {}", m.label(), pred_label(p, d)), pts));
    }
    if !spec.is_empty() {
        spec.push(Series::new(
            "sqrt(s / max s) (DirectPred)",
            (0..=50)
                .map(|i| (i as f64 / 50.0, (i as f64 / 50.0).sqrt()))
                .collect(),
        ));
        figs.push(plot(
            fig_dir,
            "dyn_spectrum.png",
            lines(
                "W_p on the eigenvectors of F, last step (MNIST, seed 0)",
                "s_j / max s",
                "p_j / max p",
                spec,
                false,
                None,
            ),
        )?);
    }
    // Eigen-spectra over time for one SGD linear run.
    if let Some(r) = seed0(bm, bp, None) {
        let pts: Vec<&crate::dynamics::TheoryPoint> = r
            .logs
            .iter()
            .flat_map(|l| &l.theory)
            .filter(|t| !t.f_eigs.is_empty())
            .collect();
        let mut series = vec![];
        for t in &pts {
            let idx = |v: &[f32]| {
                v.iter()
                    .enumerate()
                    .map(|(i, &x)| ((i + 1) as f64, (x as f64).max(1e-9)))
                    .collect()
            };
            series.push(Series::new(format!("F, step {}", t.step), idx(&t.f_eigs)));
            series.push(Series::new(
                format!("W_p (sym.), step {}", t.step),
                idx(&t.wp_eigs),
            ));
        }
        figs.push(plot(
            fig_dir,
            "dyn_eigenspectra.png",
            lines(
                "Spectra of F and sym(W_p), SimSiam + SGD linear, MNIST, seed 0",
                "index (descending)",
                "eigenvalue",
                series,
                true,
                None,
            ),
        )?);
    }
    md.push('\n');
    for f in figs {
        writeln!(md, "![monitor]({f})\n").ok();
    }
    Ok(md)
}

fn ablations(fig_dir: &Path, records: &[RunRecord], anchors: &Anchors) -> Result<String> {
    let keys = [
        AblationKey::WeightDecay0,
        AblationKey::WeightDecay4e3,
        AblationKey::PredictorLr10,
        AblationKey::Ema,
        AblationKey::NoStopGradient,
    ];
    let mut md = String::new();
    writeln!(
        md,
        "### Ablations (MNIST, SGD linear predictor, SimSiam base unless named)\n\n\
         Command: `cargo run --release -p ssl-dynamics -- sweep --set ablations` (the base and BYOL runs come from \
         `--set comparison-mnist`).\n"
    )
    .ok();
    let (_, base) = AblationKey::Ema.groups(records);
    if let Some(b) = base.first() {
        let c = &b.config;
        let steps = (c.epochs * c.train_limit.unwrap_or(60_000).div_ceil(c.batch)) as f64;
        let shrink = |wd: f64| (-c.ssl.lr * wd * steps).exp();
        writeln!(
            md,
            "Weight decay alone would shrink a weight over the {steps:.0} steps of a run by a factor \
             exp(−lr·η·steps) = {:.4} at η = 4e-4 and {:.4} at η = 4e-3 (lr {}).\n",
            shrink(4e-4),
            shrink(4e-3),
            c.ssl.lr
        )
        .ok();
    }
    writeln!(
        md,
        "| run | probe acc. (%) | z-std | eff. rank of F̂ | asymmetry of W_p | commutator |\n|---|---|---|---|---|---|"
    )
    .ok();
    let row = |label: &str, runs: &[&RunRecord]| {
        format!(
            "| {label} | {} | {} | {} | {} | {} |",
            cell(&values(runs, Metric::Probe), 2),
            cell(&values(runs, Metric::ZStd), 3),
            cell(&values(runs, Metric::EffectiveRank), 1),
            cell(&values(runs, Metric::Asymmetry), 3),
            cell(&values(runs, Metric::Commutator), 3),
        )
    };
    writeln!(
        md,
        "{}",
        row("base: SimSiam, wd 4e-4, α_p = 1, stop-gradient", &base)
    )
    .ok();
    for k in keys {
        let (treated, _) = k.groups(records);
        writeln!(md, "{}", row(k.label(), &treated)).ok();
    }
    writeln!(
        md,
        "\n| ablation | quantity | theory predicts (vs base) | measured Δ ± SE | measured | verdict | why (source) |\n|---|---|---|---|---|---|---|"
    )
    .ok();
    for p in &anchors.predictions {
        let (treated, base) = p.ablation.groups(records);
        let a = values(&treated, p.metric);
        let b = values(&base, p.metric);
        if a.is_empty() || b.is_empty() {
            writeln!(
                md,
                "| {} | {} | {} | – | not run | – | {} ({}) |",
                p.ablation.label(),
                p.metric.label(),
                p.direction.word(),
                p.why,
                p.source
            )
            .ok();
            continue;
        }
        let (diff, se, dir) = compare(&a, &b);
        let verdict = if dir == p.direction {
            "**agrees**"
        } else if dir == Direction::Tie {
            "tie: not resolved"
        } else {
            "**disagrees**"
        };
        writeln!(
            md,
            "| {} | {} | {} | {diff:+.3} ± {se:.3} | {} | {verdict} | {} ({}) |",
            p.ablation.label(),
            p.metric.label(),
            p.direction.word(),
            dir.word(),
            p.why,
            p.source
        )
        .ok();
    }
    // z-std per epoch, mean over seeds.
    let mut series = vec![];
    let mut add = |label: &str, runs: &[&RunRecord]| {
        let epochs = runs.iter().map(|r| r.logs.len()).min().unwrap_or(0);
        if epochs == 0 {
            return;
        }
        let pts = (0..epochs)
            .map(|e| {
                let v: Vec<f64> = runs.iter().map(|r| r.logs[e].z_std).collect();
                ((e + 1) as f64, mean_std(&v).0)
            })
            .collect();
        series.push(Series::new(label, pts));
    };
    add("base (SimSiam, linear)", &base);
    for k in keys {
        let (treated, _) = k.groups(records);
        add(k.label(), &treated);
    }
    if !series.is_empty() {
        let f = plot(
            fig_dir,
            "ablation_zstd.png",
            lines(
                "Collapse monitor per epoch (seed mean), MNIST ablations",
                "epoch",
                "z-std",
                series,
                false,
                None,
            ),
        )?;
        writeln!(md, "\n![ablations]({f})\n").ok();
    }
    Ok(md)
}

fn published(anchors: &Anchors) -> String {
    let mut md = String::from(
        "### Published anchors (not re-run here; from `docs/results/ssl-dynamics/anchors.json`)\n\n| setting | result | source |\n|---|---|---|\n",
    );
    for p in &anchors.published {
        writeln!(md, "| {} | {} | {} |", p.setting, p.result, p.source).ok();
    }
    md.push('\n');
    md
}

/// Width of the encoder's pooled features.
fn encoder_dim(e: &crate::nets::EncoderKind) -> usize {
    match e {
        crate::nets::EncoderKind::SmallConv { channels, .. } => channels.last().copied().unwrap_or(0),
        crate::nets::EncoderKind::Resnet18 { width, .. } => 8 * width,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_difference_counts_only_beyond_two_standard_errors_and_the_seed_spread() {
        // Means 1.0 apart, stds 0.1: SE = 0.1·√(2/3) ≈ 0.082, so a clear difference.
        assert_eq!(compare(&[2.0, 2.1, 1.9], &[1.0, 1.1, 0.9]).2, Direction::Higher);
        assert_eq!(compare(&[1.0, 1.1, 0.9], &[2.0, 2.1, 1.9]).2, Direction::Lower);
        // Means 0.15 apart with std 0.1: 0.15 > 2 SE (0.163)? No: a tie.
        assert_eq!(compare(&[1.15, 1.25, 1.05], &[1.0, 1.1, 0.9]).2, Direction::Tie);
        // Above 2 SE but inside the larger seed std (std 0.5, n large): still a tie.
        let wide: Vec<f64> = (0..50).map(|i| if i % 2 == 0 { 0.5 } else { -0.5 }).collect();
        let shifted: Vec<f64> = wide.iter().map(|x| x + 0.4).collect();
        let (d, se, dir) = compare(&shifted, &wide);
        assert!(d.abs() > 2.0 * se, "{d} {se}");
        assert_eq!(dir, Direction::Tie);
        // One seed: no claim.
        assert_eq!(compare(&[5.0], &[1.0, 1.1]).2, Direction::Tie);
        let (m, s, n) = mean_std(&[1.0, 2.0, 3.0]);
        assert_eq!((m, s, n), (2.0, 1.0, 3));
    }
}
