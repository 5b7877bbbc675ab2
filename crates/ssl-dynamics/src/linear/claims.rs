//! The paper's theoretical claims as small, deterministic experiments. Each function returns
//! the numbers a test checks and the curves a figure draws ([`crate::report`]).

use super::fixed_points::{
    BASIN_DT, BASIN_T, FixedPoints, Outcome, basin_fraction, collapse_boundary, fixed_points, grid_modes,
    outcome,
};
use super::matrix_model::{LinearHyper, LinearState, MatrixFlow, SgdTrainer, SyntheticData};
use super::ode::{Mode, OdeParams, Trajectory, final_states, integrate};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// A named curve `(x, y)`.
pub type Curve = (String, Vec<(f64, f64)>);

/// Claim 1 (Theorem 1): without stop-gradient `‖W‖ → 0` for every weight decay `η > 0`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NoStopGradient {
    /// `(η, ‖W(T)‖ / ‖W(0)‖)` without stop-gradient.
    pub final_ratio: Vec<(f64, f64)>,
    /// `(η, ‖W(T)‖ / ‖W(0)‖)` with stop-gradient, same init (the non-collapsing reference).
    pub stop_grad_ratio: Vec<(f64, f64)>,
    /// `‖W(t)‖` curves for the figure.
    pub curves: Vec<Curve>,
}

/// Matrix gradient flow with `X = I`, `X' = σ²I`, `n = d = 8`, with and without stop-gradient.
pub fn no_stop_gradient(etas: &[f64], sigma2: f64, t_end: f64) -> NoStopGradient {
    let d = 8;
    let x = DMatrix::identity(d, d);
    let x_aug = DMatrix::identity(d, d) * sigma2;
    let init = LinearState::random(d, d, 1.5, 1.0, 0.1, 11);
    let norm0 = init.w.norm();
    let mut out = NoStopGradient {
        final_ratio: vec![],
        stop_grad_ratio: vec![],
        curves: vec![],
    };
    for &eta in etas {
        for stop_gradient in [false, true] {
            let mut hyper = LinearHyper::new(eta);
            hyper.stop_gradient = stop_gradient;
            let flow = MatrixFlow {
                x: x.clone(),
                x_aug: x_aug.clone(),
                hyper,
            };
            let mut curve = vec![];
            let end = flow.integrate(init.clone(), t_end, 0.05, 200, |t, s| curve.push((t, s.w.norm())));
            let ratio = end.w.norm() / norm0;
            if stop_gradient {
                out.stop_grad_ratio.push((eta, ratio));
            } else {
                out.final_ratio.push((eta, ratio));
            }
            let tag = if stop_gradient {
                "stop-grad"
            } else {
                "no stop-grad"
            };
            out.curves.push((format!("{tag}, eta={eta}"), curve));
        }
    }
    out
}

/// Claim 2: a trajectory of the eigenvalue ODE from `start`, and where it ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeRun {
    /// ODE parameters.
    pub params: OdeParams,
    /// Initial condition.
    pub start: Mode,
    /// Final state.
    pub end: Mode,
    /// Whether it collapsed.
    pub outcome: Outcome,
    /// The fixed points at `τ = 1` (`None` past the threshold).
    pub fixed_points: Option<FixedPoints>,
    /// The sampled trajectory.
    pub trajectory: Trajectory,
}

/// Integrates one mode (τ₀ = 1) for `t_end`.
pub fn run_mode(params: OdeParams, start: Mode, t_end: f64) -> ModeRun {
    let trajectory = integrate(&params, &[start], t_end, 0.02, 400);
    let end = trajectory.last()[0];
    ModeRun {
        params,
        start,
        end,
        outcome: outcome(&end),
        fixed_points: fixed_points(&params, 1.0),
        trajectory,
    }
}

/// Outcomes over a grid of initial conditions and the saddle `(p*−, s*−)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhasePortrait {
    /// ODE parameters.
    pub params: OdeParams,
    /// The grid covers `p ∈ [0, p_max]`.
    pub p_max: f64,
    /// The grid covers `s ∈ [0, s_max]`.
    pub s_max: f64,
    /// Grid cells per side.
    pub n: usize,
    /// Row-major (`s` rows, bottom first): final `s` of the mode started at the cell centre.
    pub final_s: Vec<Vec<f64>>,
    /// Initial conditions and their outcome.
    pub starts: Vec<(Mode, Outcome)>,
    /// A few trajectories for the overlay.
    pub trajectories: Vec<Vec<(f64, f64)>>,
    /// The fixed points at `τ = 1`.
    pub fixed_points: Option<FixedPoints>,
}

/// Phase portrait on `[0, p_max] × [0, s_max]` with an `n × n` grid.
pub fn phase_portrait(params: OdeParams, p_max: f64, s_max: f64, n: usize) -> PhasePortrait {
    let grid = grid_modes(p_max, s_max, n);
    let ends = final_states(&params, &grid, BASIN_T, BASIN_DT);
    let final_s = ends
        .chunks(n)
        .map(|row| row.iter().map(|m| m.s).collect())
        .collect();
    let starts = grid.iter().zip(&ends).map(|(g, e)| (*g, outcome(e))).collect();
    let mut seeds = vec![];
    for &p in &[0.1, 0.5, 0.9] {
        for &s in &[0.1, 0.45] {
            seeds.push(Mode::new(p * p_max, s * s_max));
        }
    }
    let traj = integrate(&params, &seeds, BASIN_T, BASIN_DT, 400);
    let trajectories = (0..seeds.len()).map(|j| traj.path(j)).collect();
    PhasePortrait {
        params,
        p_max,
        s_max,
        n,
        final_s,
        starts,
        trajectories,
        fixed_points: fixed_points(&params, 1.0),
    }
}

/// Claim 3: the collapse basin shrinks as the predictor's relative learning rate grows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictorLr {
    /// `(α_p, collapsing fraction of the grid)`.
    pub basin_fraction: Vec<(f64, f64)>,
    /// `(α_p, p0, s_c)`: the smallest initial `s` that survives from `p0`.
    pub boundary: Vec<(f64, f64, f64)>,
}

/// Basin size and boundary for each `α_p` (with `η_p = η`).
pub fn predictor_lr(eta: f64, alphas: &[f64], p0s: &[f64], grid: usize) -> PredictorLr {
    let mut out = PredictorLr {
        basin_fraction: vec![],
        boundary: vec![],
    };
    for &alpha_p in alphas {
        let params = OdeParams {
            alpha_p,
            ..OdeParams::simsiam(eta)
        };
        out.basin_fraction
            .push((alpha_p, basin_fraction(&params, 1.0, 1.0, grid)));
        for &p0 in p0s {
            if let Some(sc) = collapse_boundary(&params, p0, 2.0, 30) {
                out.boundary.push((alpha_p, p0, sc));
            }
        }
    }
    out
}

/// Claim 4: the EMA target protects weak modes but does not move the threshold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmaProtection {
    /// The weak mode, without EMA.
    pub without_ema: ModeRun,
    /// The same mode with EMA rate `β`.
    pub with_ema: Vec<(f64, ModeRun)>,
    /// Past the threshold (`η > 1/(4(1+σ²))`), with EMA: `(β, final s)`.
    pub past_threshold: Vec<(f64, ModeRun)>,
}

/// Runs the weak mode `weak` at weight decay `eta` with each `β`, and a healthy mode past
/// the threshold at `eta_past`.
pub fn ema_protection(eta: f64, eta_past: f64, weak: Mode, betas: &[f64], t_end: f64) -> EmaProtection {
    let base = OdeParams::simsiam(eta);
    let without_ema = run_mode(base, weak, t_end);
    let with_ema = betas
        .iter()
        .map(|&b| {
            let params = OdeParams {
                beta: Some(b),
                ..base
            };
            (b, run_mode(params, weak, t_end))
        })
        .collect();
    let past_threshold = betas
        .iter()
        .map(|&b| {
            let params = OdeParams {
                beta: Some(b),
                ..OdeParams::simsiam(eta_past)
            };
            (b, run_mode(params, Mode::new(0.6, 0.5), t_end))
        })
        .collect();
    EmaProtection {
        without_ema,
        with_ema,
        past_threshold,
    }
}

/// Claim 5: the predictor's eigenspace aligns with `F`'s: `‖[F, W_p]‖ → 0`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alignment {
    /// `(t, relative commutator)` for a symmetric predictor and for an unconstrained one.
    pub symmetric: Vec<(f64, f64)>,
    /// The same for an unconstrained predictor.
    pub free: Vec<(f64, f64)>,
}

/// Matrix flow from a random, non-aligned init (`W_p` random symmetric) with weight decay `eta`.
pub fn alignment(eta: f64, beta: Option<f64>, t_end: f64) -> Alignment {
    let d = 6;
    let x = DMatrix::identity(d, d);
    let x_aug = DMatrix::identity(d, d) * 0.1;
    let mut init = LinearState::random(d, d, 1.5, 0.8, 0.3, 5);
    init.wp = (&init.wp + init.wp.transpose()) * 0.5;
    let run = |symmetric_predictor: bool| {
        let hyper = LinearHyper {
            beta,
            symmetric_predictor,
            ..LinearHyper::new(eta)
        };
        let flow = MatrixFlow {
            x: x.clone(),
            x_aug: x_aug.clone(),
            hyper,
        };
        let mut curve = vec![];
        flow.integrate(init.clone(), t_end, 0.05, 200, |t, s| {
            curve.push((t, s.commutator()))
        });
        curve
    };
    Alignment {
        symmetric: run(true),
        free: run(false),
    }
}

/// Claims re-checked on the full-matrix model trained by SGD on synthetic data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SgdCheck {
    /// The data distribution.
    pub data: SyntheticData,
    /// `(η, theory p*+ or NaN past the threshold, top singular values of W_p)`.
    pub singular_values: Vec<(f64, f64, Vec<f64>)>,
    /// `(η, nuisance ‖W‖ at the start, at the end, signal ‖W‖ at the end)`.
    pub nuisance: Vec<(f64, f64, f64, f64)>,
    /// `(η, ‖W(T)‖/‖W(0)‖)` past the threshold.
    pub past_threshold: Vec<(f64, f64)>,
    /// `(η, ‖W(T)‖/‖W(0)‖)` without stop-gradient.
    pub no_stop_gradient: Vec<(f64, f64)>,
    /// Curves of the nuisance and signal norms for the figure.
    pub curves: Vec<Curve>,
}

/// SGD settings for [`sgd_check`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SgdSettings {
    /// Output dimension `n` of `W` (its rows).
    pub n: usize,
    /// The data distribution.
    pub data: SyntheticData,
    /// Step size.
    pub lr: f64,
    /// Samples per step.
    pub batch: usize,
    /// Steps.
    pub steps: usize,
    /// Seed of the initialisation and the samples.
    pub seed: u64,
}

impl Default for SgdSettings {
    fn default() -> Self {
        Self {
            n: 6,
            data: SyntheticData {
                dim: 12,
                signal: 4,
                sigma2: 0.2,
            },
            lr: 0.02,
            batch: 64,
            steps: 15_000,
            seed: 7,
        }
    }
}

/// Trains the linear model by SGD at each `eta` (stop-gradient, SimSiam target), past the
/// threshold at `eta_past`, and without stop-gradient at `eta_nsg`.
pub fn sgd_check(settings: SgdSettings, etas: &[f64], eta_past: f64, eta_nsg: f64) -> SgdCheck {
    let SgdSettings {
        n,
        data,
        lr,
        batch,
        steps,
        seed,
    } = settings;
    let init = LinearState::random(n, data.dim, 3.0, 1.0, 0.05, seed);
    let train = |hyper: LinearHyper, curves: Option<&mut Vec<Curve>>| {
        let trainer = SgdTrainer {
            data,
            hyper,
            lr,
            batch,
        };
        let mut nuis = vec![];
        let mut sig = vec![];
        let end = trainer.train(init.clone(), steps, seed + 1, steps / 200, |k, s, _| {
            let t = k as f64 * lr;
            nuis.push((t, data.nuisance_norm(&s.w)));
            sig.push((t, data.signal_norm(&s.w)));
        });
        if let Some(c) = curves {
            c.push((format!("nuisance |W|, eta={}", hyper.eta), nuis));
            c.push((format!("signal |W|, eta={}", hyper.eta), sig));
        }
        end
    };
    let mut out = SgdCheck {
        data,
        singular_values: vec![],
        nuisance: vec![],
        past_threshold: vec![],
        no_stop_gradient: vec![],
        curves: vec![],
    };
    let norm0 = init.w.norm();
    for &eta in etas {
        let hyper = LinearHyper::new(eta);
        let end = train(hyper, Some(&mut out.curves));
        let params = OdeParams {
            sigma2: data.sigma2,
            ..OdeParams::simsiam(eta)
        };
        let theory = fixed_points(&params, 1.0).map_or(f64::NAN, |f| f.p_plus);
        let sv = end.predictor_singular_values();
        out.singular_values.push((eta, theory, sv));
        out.nuisance.push((
            eta,
            data.nuisance_norm(&init.w),
            data.nuisance_norm(&end.w),
            data.signal_norm(&end.w),
        ));
    }
    let end = train(LinearHyper::new(eta_past), None);
    out.past_threshold.push((eta_past, end.w.norm() / norm0));
    let hyper = LinearHyper {
        stop_gradient: false,
        ..LinearHyper::new(eta_nsg)
    };
    let end = train(hyper, None);
    out.no_stop_gradient.push((eta_nsg, end.w.norm() / norm0));
    out
}

/// The numbers and curves of the seven theory claims.
#[derive(Debug, Clone)]
pub struct TheoryResults {
    /// Claim 1 (Theorem 1): weights vanish without stop-gradient.
    pub no_stop_gradient: NoStopGradient,
    /// Claim 2: the eigenvalue ODE just below and just above the threshold, same start.
    pub threshold_runs: [(f64, ModeRun); 2],
    /// Fixed points below the threshold.
    pub fixed_points: crate::linear::FixedPoints,
    /// Claim 3: phase portrait below the threshold.
    pub portrait: PhasePortrait,
    /// Claim 3: `(p₀, s_c(p₀))` on the collapse-basin boundary.
    pub basin_boundary: Vec<(f64, f64)>,
    /// Claim 4: basin against the predictor's relative learning rate.
    pub predictor_lr: PredictorLr,
    /// The `α_p` of claim 4.
    pub alphas: Vec<f64>,
    /// Claim 5: EMA and a weak mode.
    pub ema: EmaProtection,
    /// Claim 6: the predictor aligns with `F`.
    pub alignment: Alignment,
    /// Claim 7: SGD settings.
    pub sgd_settings: SgdSettings,
    /// Claim 7: the linear model trained by SGD.
    pub sgd: SgdCheck,
    /// Claim 7: `(η, p*+)` of the theory.
    pub sgd_theory: Vec<(f64, f64)>,
    /// Wall time of all claims.
    pub seconds: f64,
}
