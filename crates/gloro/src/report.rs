//! `docs/results/gloro.md`: our numbers beside the published ones, with plots. Everything is
//! rendered from run records, the soundness check and measured bounds ([`crate::reproduce`]);
//! published numbers come from `docs/results/gloro/anchors.json` with their source.

use crate::bounds::Tightness;
use crate::soundness::SoundnessReport;
use crate::toy::ToyResult;
use crate::train::Summary;
use repro_core::data::DatasetName;
use repro_core::plot::{LinePlot, Series, line_plot};
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A published result with its source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// Dataset.
    pub dataset: DatasetName,
    /// Architecture name as the reference spells it.
    pub architecture: String,
    /// Certified radius.
    pub eps: f64,
    /// Published VRA.
    pub vra: f64,
    /// Epochs of the published run.
    pub epochs: usize,
    /// Where the number is published.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Anchors {
    published: Vec<Anchor>,
}

/// The published anchors (`docs/results/gloro/anchors.json`, compiled in).
pub fn anchors() -> Vec<Anchor> {
    let text = include_str!("../../../docs/results/gloro/anchors.json");
    repro_core::config::parse::<Anchors>(text, "docs/results/gloro/anchors.json")
        .expect("the shipped anchors parse")
        .published
}

/// The published anchor of a configuration (same dataset and ε).
pub fn anchor_for(dataset: DatasetName, eps: f64) -> Option<Anchor> {
    anchors()
        .into_iter()
        .find(|a| a.dataset == dataset && (a.eps - eps).abs() < 1e-6)
}

/// Everything the report shows.
#[derive(Debug, Default)]
pub struct ReportInput {
    /// `(label, command that produced it, summary)`.
    pub runs: Vec<(String, String, Summary)>,
    /// The two-moons result and its command.
    pub toy: Option<(ToyResult, String)>,
    /// The soundness check, its negative control (K halved) and the command.
    pub soundness: Option<(SoundnessReport, SoundnessReport, String)>,
    /// Per-layer tightness tables: `(model, command, rows)`.
    pub tightness: Vec<(String, String, Vec<Tightness>)>,
    /// Whether this is a `--quick` reproduction.
    pub quick: bool,
    /// Every seed of a configuration with records of several seeds: `(label, runs)`, each run
    /// `(command, summary)` in seed order.
    pub seeds: Vec<(String, Vec<(String, Summary)>)>,
}

/// Mean and sample standard deviation.
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

fn pct_ms(xs: &[f64]) -> String {
    let (m, s) = mean_std(xs);
    format!("{:.2} ± {:.2}%", m * 100.0, s * 100.0)
}

fn seeds(md: &mut String, input: &ReportInput) {
    if input.seeds.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Seeds
"
    );
    let _ = writeln!(
        md,
        "Each configuration trained from several seeds (mean ± sample standard deviation over the seeds). A difference between two settings smaller than their spread is a tie.
"
    );
    let _ = writeln!(
        md,
        "| setting | seeds | clean | certified VRA | estimate VRA | published VRA | certified VRA per seed |\n|---|---|---|---|---|---|---|"
    );
    for (label, runs) in &input.seeds {
        let get =
            |f: &dyn Fn(&Summary) -> Option<f64>| runs.iter().filter_map(|(_, s)| f(s)).collect::<Vec<_>>();
        let clean = get(&|s| Some(s.final_eval.clean_accuracy));
        let vra = get(&|s| Some(s.final_eval.vra));
        let est = get(&|s| s.estimate_eval.as_ref().map(|e| e.vra));
        let first = &runs[0].1;
        let published = anchor_for(first.config.dataset, first.config.eps).map_or("—".to_string(), |a| {
            format!("{} ({} epochs)", pct(a.vra), a.epochs)
        });
        let per_seed: Vec<String> = runs
            .iter()
            .map(|(_, s)| format!("{}: {}", s.seed, pct(s.final_eval.vra)))
            .collect();
        let seed_list: Vec<String> = runs.iter().map(|(_, s)| s.seed.to_string()).collect();
        let _ = writeln!(
            md,
            "| {label} | {} | {} | {} | {} | {published} | {} |",
            seed_list.join(", "),
            pct_ms(&clean),
            pct_ms(&vra),
            if est.len() == runs.len() {
                pct_ms(&est)
            } else {
                "—".into()
            },
            per_seed.join("; ")
        );
    }
    let _ = writeln!(md);
    for (label, runs) in &input.seeds {
        let first = &runs[0].1;
        if let Some(a) = anchor_for(first.config.dataset, first.config.eps) {
            let vra: Vec<f64> = runs.iter().map(|(_, s)| s.final_eval.vra).collect();
            let (m, sd) = mean_std(&vra);
            let verdict = if m - sd > a.vra {
                "above"
            } else if m + sd < a.vra {
                "below"
            } else {
                "within one standard deviation of"
            };
            let _ = writeln!(
                md,
                "- {label}: certified VRA {} over {} seeds is {verdict} the published {} ({} epochs against {}).",
                pct_ms(&vra),
                runs.len(),
                pct(a.vra),
                first.epochs.len(),
                a.epochs
            );
        }
    }
    let _ = writeln!(md, "\nCommands:\n");
    for (_, runs) in &input.seeds {
        for (cmd, _) in runs {
            let _ = writeln!(md, "- `{cmd}`");
        }
    }
    let _ = writeln!(md);
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

fn opt(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map_or("—".into(), f)
}

fn headline(md: &mut String, input: &ReportInput) {
    let _ = writeln!(md, "## Verified-robust accuracy against the published numbers\n");
    let _ = writeln!(
        md,
        "Certified VRA is the sound certificate (sound per-layer bounds and the floating-point allowance); the estimate column is the paper's method (converged power iteration, no allowance) on the same model.\n"
    );
    let _ = writeln!(
        md,
        "| setting | published VRA | ours: clean | ours: certified VRA | ours: estimate VRA | epochs run | data | command |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for (label, cmd, s) in &input.runs {
        let anchor = anchor_for(s.config.dataset, s.config.eps);
        let published = anchor.as_ref().map_or("—".to_string(), |a| {
            format!("{} ({} epochs)", pct(a.vra), a.epochs)
        });
        let data = if s.embedded_subset {
            "embedded subset (10k/2k)"
        } else {
            "full"
        };
        let _ = writeln!(
            md,
            "| {label} | {published} | {} | {} | {} | {} of {} | {data} | `{cmd}` |",
            pct(s.final_eval.clean_accuracy),
            pct(s.final_eval.vra),
            opt(s.estimate_eval.as_ref().map(|e| e.vra), pct),
            s.epochs.len(),
            s.config.epochs
        );
    }
    let _ = writeln!(md);
    for (label, _, s) in &input.runs {
        if let Some(a) = anchor_for(s.config.dataset, s.config.eps) {
            let verdict = if s.final_eval.vra >= a.vra {
                "reaches"
            } else {
                "falls short of"
            };
            let _ = writeln!(
                md,
                "- {label}: the certified VRA {} {verdict} the published {} ({} epochs against {}).",
                pct(s.final_eval.vra),
                pct(a.vra),
                s.epochs.len(),
                a.epochs
            );
        }
    }
    let mut sources: Vec<String> = anchors().into_iter().map(|a| a.source).collect();
    sources.dedup();
    let _ = writeln!(
        md,
        "\nPublished numbers: {} (`docs/results/gloro/anchors.json`).\n",
        sources.join("; ")
    );
}

fn soundness_cost(md: &mut String, input: &ReportInput) {
    let _ = writeln!(md, "## What soundness costs\n");
    let _ = writeln!(
        md,
        "The same model certified three ways: the paper's power-iteration K (an estimate), the sound K (proven per-layer bounds), and the sound K with the floating-point allowance 2Δ (the certificate).\n"
    );
    let _ = writeln!(
        md,
        "| setting | K estimate | K sound | VRA, estimate K | VRA, sound K | VRA, sound K + allowance |\n|---|---|---|---|---|---|"
    );
    for (label, _, s) in &input.runs {
        let _ = writeln!(
            md,
            "| {label} | {} | {:.4} | {} | {} | {} |",
            opt(s.estimate_eval.as_ref().map(|e| e.k), |k| format!("{k:.4}")),
            s.final_eval.k,
            opt(s.estimate_eval.as_ref().map(|e| e.vra), pct),
            opt(s.no_margin_vra, pct),
            pct(s.final_eval.vra)
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "### Per-layer bounds of the trained models\n");
    for (label, _, s) in &input.runs {
        if s.layer_bounds.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "{label}:\n\n| layer | kind | sound method | power iteration | sound bound | sound / power |\n|---|---|---|---|---|---|"
        );
        for b in &s.layer_bounds {
            let _ = writeln!(
                md,
                "| {} | {} | {:?} | {} | {:.6} | {} |",
                b.index,
                b.kind,
                b.method,
                opt(b.power_iteration, |p| format!("{p:.6}")),
                b.upper,
                opt(b.power_iteration, |p| format!("{:.6}", b.upper / p))
            );
        }
        let _ = writeln!(md);
    }
    for (model, cmd, rows) in &input.tightness {
        let _ = writeln!(
            md,
            "{model} (`{cmd}`):\n\n| layer | kind | input → output | power iteration | exact | Fourier | Fourier / power | seconds (exact, Fourier) |\n|---|---|---|---|---|---|---|---|"
        );
        for r in rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} → {} | {} | {} | {} | {} | {:.2}, {:.2} |",
                r.index,
                r.kind,
                r.dims.0,
                r.dims.1,
                opt(r.power_iteration, |p| format!("{p:.6}")),
                opt(r.exact, |p| format!("{p:.6}")),
                opt(r.fourier, |p| format!("{p:.6}")),
                match (r.fourier, r.power_iteration) {
                    (Some(f), Some(p)) => format!("{:.4}", f / p),
                    _ => "—".into(),
                },
                r.seconds.0,
                r.seconds.1
            );
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(md, "### Time to certify the test set\n");
    let _ = writeln!(
        md,
        "| setting | points | sound: bounds (s) | sound: certify (s) | estimate: power iteration (s) | estimate: certify (s) |\n|---|---|---|---|---|---|"
    );
    for (label, _, s) in &input.runs {
        if let Some(c) = &s.certify_cost {
            let _ = writeln!(
                md,
                "| {label} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                c.points,
                c.sound_bound_seconds,
                c.sound_eval_seconds,
                c.estimate_bound_seconds,
                c.estimate_eval_seconds
            );
        }
    }
    let _ = writeln!(
        md,
        "\nTimes are measured at the end of each run (the machine of the run, 2 threads); they vary by tens of per cent between runs.\n"
    );
}

fn run_sections(md: &mut String, fig_dir: &Path, input: &ReportInput) -> std::io::Result<()> {
    for (i, (label, _, s)) in input.runs.iter().enumerate() {
        let epochs = |f: fn(&crate::train::EpochMetrics) -> f64| {
            s.epochs
                .iter()
                .map(|m| (m.epoch as f64, f(m)))
                .collect::<Vec<_>>()
        };
        let series = vec![
            Series::new("test clean accuracy", epochs(|m| m.test_accuracy)),
            Series::new(
                format!("test certified VRA at eps {}", s.config.eps),
                epochs(|m| m.test_vra),
            ),
            Series::new("train VRA at training eps", epochs(|m| m.train_vra)),
        ];
        let name = format!("run{i}-curves.png");
        line_plot(
            &fig_dir.join(&name),
            &LinePlot {
                title: format!("{label}: accuracy per epoch"),
                x_label: "epoch".into(),
                y_label: "fraction".into(),
                series,
                ..Default::default()
            },
        )
        .map_err(std::io::Error::other)?;
        let curve = format!("run{i}-vra-vs-eps.png");
        line_plot(
            &fig_dir.join(&curve),
            &LinePlot {
                title: format!("{label}: certified VRA against eps"),
                x_label: "eps (l2)".into(),
                y_label: "VRA".into(),
                series: vec![Series::new("certified", s.vra_curve.clone())],
                y_range: Some((0.0, 1.0)),
                ..Default::default()
            },
        )
        .map_err(std::io::Error::other)?;
        let _ = writeln!(md, "### {label}\n\n{}\n", s.config.description);
        let _ = writeln!(md, "![curves](gloro/{name}) ![vra](gloro/{curve})\n");
        let _ = writeln!(
            md,
            "Per epoch, K and the test VRA are a certificate with the Fourier bound for every conv layer (cheaper, a little looser than the final evaluation's exact bounds).\n"
        );
        let _ = writeln!(
            md,
            "| epoch | loss | train acc | test acc | test VRA | K | s |\n|---|---|---|---|---|---|---|"
        );
        for m in &s.epochs {
            let _ = writeln!(
                md,
                "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.3} | {:.1} |",
                m.epoch, m.loss, m.train_accuracy, m.test_accuracy, m.test_vra, m.k, m.seconds
            );
        }
        let _ = writeln!(md);
    }
    Ok(())
}

fn soundness(md: &mut String, input: &ReportInput) {
    let Some((s, control, cmd)) = &input.soundness else {
        return;
    };
    let _ = writeln!(
        md,
        "## Soundness check\n\nEvery test point attacked with ℓ2 PGD ({} steps, {} random restarts plus the centre) inside its ε = {} ball (`{cmd}`). The control row attacks the same points against a certifier whose K was halved on purpose: the attack must break some of its \"certified\" points, or a 0 in the first row would prove nothing.\n",
        s.attack.steps, s.attack.restarts, s.eps
    );
    let _ = writeln!(
        md,
        "| certifier | points | certified | certified broken | uncertified attacked | uncertified broken |\n|---|---|---|---|---|---|"
    );
    for (name, r) in [("sound K", s), ("control: K × 0.5", control)] {
        let _ = writeln!(
            md,
            "| {name} | {} | {} | **{}** | {} | {} |",
            r.points, r.certified, r.certified_broken, r.uncertified_attacked, r.uncertified_broken
        );
    }
    let verdict = match (s.certified_broken, control.certified_broken) {
        (0, c) if c > 0 => format!("The attack breaks {c} points certified with K halved and none certified with the sound K."),
        (0, _) => "The attack breaks no certified point, but it also breaks none under the halved-K control, so it lacks the power to detect an over-claim at this scale.".into(),
        (b, _) => format!("**{b} certified points were broken: the certificate is unsound.**"),
    };
    let _ = writeln!(md, "\n{verdict}\n");
}

/// Writes the report and its figures under `out` (`out/gloro.md`, `out/gloro/*.png`).
pub fn write(out: &Path, input: &ReportInput) -> std::io::Result<PathBuf> {
    let fig_dir = out.join("gloro");
    std::fs::create_dir_all(&fig_dir)?;
    let mut md = String::new();
    let _ = writeln!(md, "# GloRo Nets: reproduction report\n");
    let _ = writeln!(
        md,
        "Leino, Wang & Fredrikson, *Globally-Robust Neural Networks*, ICML 2021. Generated by `cargo xtask reproduce gloro` from the run records under `docs/results/gloro/runs/` (the command beside each row trains it; `gloro record --run runs/gloro/<name>` turns a finished run into a record).\n"
    );
    if input.quick {
        let _ = writeln!(
            md,
            "> `--quick` trains only the quick configuration (6 epochs on the embedded 10000/2000-image MNIST subset); the other rows are records of completed runs. Registered configurations without a record are not shown.\n"
        );
    }
    headline(&mut md, input);
    seeds(&mut md, input);
    soundness_cost(&mut md, input);
    soundness(&mut md, input);
    if let Some((t, cmd)) = &input.toy {
        let _ = writeln!(
            md,
            "## Two moons\n\nClean accuracy {:.3}, certified VRA {:.3}, K {:.3} (`{cmd}`).\n\n![moons](gloro/moons.png)\n",
            t.clean_accuracy, t.vra, t.k
        );
    }
    let _ = writeln!(md, "## Runs\n");
    run_sections(&mut md, &fig_dir, input)?;
    let path = out.join("gloro.md");
    repro_core::train::run_dir::write_atomic(&path, md.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_anchors_parse_and_match_the_paper_configs() {
        let cfg =
            |name: &str| crate::config::TrainConfig::load(&crate::config::configs_dir().join(name)).unwrap();
        for name in [
            "mnist-0.3.json",
            "mnist-1.58.json",
            "cifar10-36.json",
            "tiny-imagenet-36.json",
        ] {
            let c = cfg(name);
            let a = anchor_for(c.dataset, c.eps).unwrap_or_else(|| panic!("{name}: no anchor"));
            assert_eq!(
                a.epochs, c.epochs,
                "{name}: the anchor's epochs are the paper config's"
            );
            assert!(!a.source.is_empty());
        }
        assert!(anchor_for(DatasetName::FashionMnist, 0.3).is_none());
    }

    #[test]
    fn mean_and_sample_standard_deviation() {
        let (m, s) = mean_std(&[0.9, 0.92, 0.94]);
        assert!((m - 0.92).abs() < 1e-12 && (s - 0.02).abs() < 1e-12, "{m} {s}");
        assert_eq!(mean_std(&[0.5]), (0.5, 0.0));
    }

    #[test]
    fn readme_headline_matches_the_records() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let row = readme
            .lines()
            .find(|l| l.starts_with("| [`docs/results/gloro.md`]"))
            .expect("README has a gloro row");
        let out = root.join("docs/results");
        for name in ["mnist-0.3-30ep", "mnist-1.58-10ep"] {
            let first = crate::reproduce::read_record(&out, name).unwrap().unwrap();
            let mut runs = vec![first.summary];
            runs.extend(
                crate::reproduce::seed_records(&out, name)
                    .unwrap()
                    .into_iter()
                    .map(|(_, r)| r.summary),
            );
            let vra: Vec<f64> = runs.iter().map(|s| s.final_eval.vra).collect();
            let (m, sd) = mean_std(&vra);
            let claim = format!(
                "certified VRA {:.1} ± {:.1} % over {} seeds",
                m * 100.0,
                sd * 100.0,
                runs.len()
            );
            assert!(
                row.contains(&claim),
                "README's gloro row should say `{claim}` for {name}: {row}"
            );
            if name == "mnist-0.3-30ep" {
                let est: Vec<f64> = runs
                    .iter()
                    .map(|s| s.estimate_eval.as_ref().unwrap().vra)
                    .collect();
                let (m, sd) = mean_std(&est);
                let claim = format!(
                    "{:.1} ± {:.1} % with the paper's power-iteration estimate",
                    m * 100.0,
                    sd * 100.0
                );
                assert!(row.contains(&claim), "{claim}: {row}");
            }
        }
    }
}
