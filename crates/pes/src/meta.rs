//! The meta-training loop (paper Algorithm 1, outer part): repeatedly ask the estimator for
//! the next truncation's gradient and update θ with the outer optimiser; evaluate, log to
//! `metrics.jsonl` and checkpoint along the way; resume from the last checkpoint.

use crate::checkpoint::{MetaCheckpointer, MetaRecord, MetaState};
use crate::error::Result;
use crate::estimators::GradientEstimator;
use crate::outer::{OuterConfig, OuterOptimizer};
use crate::problems::UnrolledProblem;
use repro_core::train::{RunDir, progress_bar};

/// How to run one method's meta-training.
#[derive(Debug, Clone)]
pub struct MetaOptions {
    /// Outer iterations.
    pub iterations: usize,
    /// Evaluate every this many iterations (and at the start and the end).
    pub eval_every: usize,
    /// Checkpoint every this many iterations (0: never).
    pub checkpoint_every: usize,
    /// Label of the method in logs and checkpoint folders (e.g. `PES K=10`).
    pub label: String,
    /// Run directory for metrics and checkpoints (none: in memory only).
    pub run: Option<RunDir>,
    /// Continue from this method's last checkpoint.
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
}

impl MetaOptions {
    /// In-memory options without checkpoints or progress bar (tests).
    pub fn quiet(label: &str, iterations: usize, eval_every: usize) -> Self {
        Self {
            iterations,
            eval_every,
            checkpoint_every: 0,
            label: label.to_string(),
            run: None,
            resume: false,
            progress: false,
        }
    }
}

/// A file-name-safe version of a label.
pub fn slug(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Meta-trains θ from `theta0`; returns the logged records (the last one holds the final θ).
pub fn meta_train<P: UnrolledProblem>(
    problem: &P,
    estimator: &mut dyn GradientEstimator<P>,
    theta0: &[f64],
    outer: &OuterConfig,
    options: &MetaOptions,
    eval: &mut dyn FnMut(&[f64]) -> Result<f64>,
) -> Result<Vec<MetaRecord>> {
    Ok(meta_train_timed(problem, estimator, theta0, outer, options, eval)?.0)
}

/// Keeps the lines of `metrics.jsonl` up to `label`'s checkpoint at `iteration`: lines of
/// other methods (logged before this one started) and this method's lines up to `iteration`;
/// the lines a killed run logged after its checkpoint are dropped, to be logged again once
/// (the workspace's resume rule, [`repro_core::train::resume`]).
pub fn rewind_metrics(run: &RunDir, label: &str, iteration: usize) -> Result<()> {
    let lines = run.read_metrics()?;
    let keep = lines
        .iter()
        .position(|l| {
            l["method"].as_str() == Some(label)
                && l["iteration"].as_u64().is_some_and(|i| i as usize > iteration)
        })
        .unwrap_or(lines.len());
    run.rewind_metrics(keep)?;
    Ok(())
}

/// [`meta_train`], also returning the wall-clock seconds spent on the method in total (across
/// resumed runs: the time is part of the checkpoint).
pub fn meta_train_timed<P: UnrolledProblem>(
    problem: &P,
    estimator: &mut dyn GradientEstimator<P>,
    theta0: &[f64],
    outer: &OuterConfig,
    options: &MetaOptions,
    eval: &mut dyn FnMut(&[f64]) -> Result<f64>,
) -> Result<(Vec<MetaRecord>, f64)> {
    let start = std::time::Instant::now();
    let checkpointer = options
        .run
        .as_ref()
        .map(|r| MetaCheckpointer::new(r.file("checkpoints").join(slug(&options.label))));
    let mut state = MetaState {
        iteration: 0,
        theta: theta0.to_vec(),
        optimizer: OuterOptimizer::new(outer.clone(), theta0.len()),
        estimator: serde_json::Value::Null,
        history: Vec::new(),
        seconds: 0.0,
    };
    if options.resume
        && let Some(ck) = &checkpointer
        && let Some((saved, snapshot)) = ck.load()?
    {
        estimator.restore(snapshot)?;
        state = saved;
        if let Some(run) = &options.run {
            rewind_metrics(run, &options.label, state.iteration)?;
        }
        eprintln!("{}: resumed at iteration {}", options.label, state.iteration);
    }
    if state.history.is_empty() {
        let e = eval(&state.theta)?;
        state.history.push(MetaRecord {
            iteration: 0,
            theta: state.theta.clone(),
            truncation_loss: None,
            eval: Some(e),
        });
    }
    let seconds0 = state.seconds;
    let bar = options
        .progress
        .then(|| progress_bar(options.iterations as u64, &options.label));
    if let Some(b) = &bar {
        b.set_position(state.iteration as u64);
    }
    while state.iteration < options.iterations {
        let est = estimator.estimate(problem, &state.theta)?;
        state.optimizer.step(&mut state.theta, &est.grad);
        state.iteration += 1;
        let it = state.iteration;
        let evaluate =
            it == options.iterations || (options.eval_every > 0 && it.is_multiple_of(options.eval_every));
        let record = MetaRecord {
            iteration: it,
            theta: state.theta.clone(),
            truncation_loss: Some(est.loss),
            eval: if evaluate { Some(eval(&state.theta)?) } else { None },
        };
        if evaluate {
            if let Some(run) = &options.run {
                run.log(&serde_json::json!({
                    "method": options.label, "iteration": it, "theta": record.theta,
                    "truncation_loss": record.truncation_loss, "eval": record.eval,
                }))?;
            }
            if let Some(b) = &bar {
                b.set_message(format!(
                    "θ={:.4?} eval={:.4e}",
                    record.theta,
                    record.eval.unwrap_or(f64::NAN)
                ));
            }
            state.history.push(record);
        }
        if let Some(b) = &bar {
            b.set_position(it as u64);
        }
        if let Some(ck) = &checkpointer
            && options.checkpoint_every > 0
            && (it.is_multiple_of(options.checkpoint_every) || it == options.iterations)
        {
            let snapshot = estimator.snapshot();
            state.estimator = snapshot.meta.clone();
            state.seconds = seconds0 + start.elapsed().as_secs_f64();
            ck.save(&state, &snapshot)?;
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok((state.history, seconds0 + start.elapsed().as_secs_f64()))
}
