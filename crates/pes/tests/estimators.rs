//! Properties of the estimators that can fail: unbiasedness of PES (and its bias-free
//! relatives) against an exact gradient, the bias of truncated ES and TBPTT, PES = ES at
//! K = T, antithetic cancellation of constant offsets, exactness of RTRL/BPTT, rejection of
//! non-finite losses and exact resumption from checkpoints.

use burn::tensor::{Device, Tensor};
use pes::estimators::{Clock, EstimatorConfig, EstimatorKind, build};
use pes::meta::{MetaOptions, meta_train};
use pes::outer::OuterConfig;
use pes::problems::HostState;
use pes::problems::influence::InfluenceBalancing;
use pes::problems::toy_regression::ToyRegression;
use pes::{PesError, UnrolledProblem, Window};

fn device() -> Device {
    Device::flex()
}

/// Sum of `calls` consecutive estimates at a fixed θ.
fn summed<P: UnrolledProblem + 'static>(
    problem: &P,
    config: &EstimatorConfig,
    theta: &[f64],
    calls: usize,
) -> Vec<f64> {
    let mut est = build(config, problem, &device()).unwrap();
    let mut total = vec![0.0; theta.len()];
    for _ in 0..calls {
        let e = est.estimate(problem, theta).unwrap();
        total.iter_mut().zip(&e.grad).for_each(|(t, g)| *t += g);
    }
    total
}

/// Mean and standard error of the first component over `seeds`.
fn mean_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let m = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// Unbiasedness (§4.1). Influence balancing with episodes of T = 20 steps, K = 3 (which does
/// not divide T: truncations crossing an episode end are split), θ = 0.3 fixed. Over 20
/// truncations (= 3 whole episodes) the summed estimate targets the gradient of the
/// Gaussian-smoothed total loss. The loss is quadratic in the per-truncation θ's, so
/// smoothing only adds a constant and the target is the exact f64 gradient of the unsmoothed
/// total (forward-mode sensitivities). PES and noise-reuse ES match it within 4 standard
/// errors over 120 seeds; truncated ES and TBPTT are off by many standard errors.
#[test]
fn pes_is_unbiased_where_truncated_es_and_tbptt_are_not() {
    let problem = InfluenceBalancing {
        horizon: Some(20),
        ..Default::default()
    };
    let (k, calls, theta) = (3usize, 20usize, 0.3);
    // The exact target: the same windows (split at episode ends) as the estimators use.
    let mut clock = Clock::default();
    let mut windows = Vec::new();
    for _ in 0..calls {
        for seg in clock.segments(k, problem.horizon()) {
            windows.push((seg.window.steps, seg.ends_episode));
            clock.advance(&seg);
        }
    }
    assert_eq!(clock.t, 0, "20 truncations of 3 cover 3 episodes of 20");
    let (_, exact) = problem.exact_windows(theta, &windows);

    let seeds = 120;
    let run = |kind| {
        let v: Vec<f64> = (0..seeds)
            .map(|s| {
                let cfg = EstimatorConfig::new(kind, k, 100, 0.1).with_seed(1000 + s);
                summed(&problem, &cfg, &[theta], calls)[0]
            })
            .collect();
        mean_se(&v)
    };
    let (pes_mean, pes_se) = run(EstimatorKind::Pes);
    let z_pes = (pes_mean - exact) / pes_se;
    eprintln!("exact {exact:.5}  PES {pes_mean:.5} ± {pes_se:.5} (z = {z_pes:.2})");
    assert!(z_pes.abs() < 4.0, "PES is biased: z = {z_pes}");

    let (nr_mean, nr_se) = run(EstimatorKind::NoiseReuseEs);
    let z_nr = (nr_mean - exact) / nr_se;
    eprintln!("noise-reuse ES {nr_mean:.5} ± {nr_se:.5} (z = {z_nr:.2})");
    assert!(z_nr.abs() < 4.0, "noise-reuse ES is biased: z = {z_nr}");

    let (tes_mean, tes_se) = run(EstimatorKind::TruncatedEs);
    let z_tes = (tes_mean - exact) / tes_se;
    eprintln!("truncated ES {tes_mean:.5} ± {tes_se:.5} (z = {z_tes:.2})");
    assert!(z_tes.abs() > 20.0, "truncated ES should be biased: z = {z_tes}");

    let tbptt = summed(
        &problem,
        &EstimatorConfig::new(EstimatorKind::Tbptt, k, 1, 0.0),
        &[theta],
        calls,
    )[0];
    let z_tbptt = (tbptt - exact) / pes_se;
    eprintln!("TBPTT {tbptt:.5} (off by {z_tbptt:.1} PES standard errors)");
    assert!(z_tbptt.abs() > 20.0, "TBPTT should be biased: {z_tbptt}");
}

/// With K = T, PES (ξ = ε after the first truncation, reset at the episode end) is vanilla ES:
/// identical estimates for the same perturbations, call after call.
#[test]
fn pes_equals_full_es_when_k_equals_t() {
    let problem = ToyRegression { horizon: 30 };
    let theta = [-1.0, 0.5];
    let mut pes = build(
        &EstimatorConfig::new(EstimatorKind::Pes, 30, 20, 0.3).with_seed(5),
        &problem,
        &device(),
    )
    .unwrap();
    let mut es = build(
        &EstimatorConfig::new(EstimatorKind::Es, 0, 20, 0.3).with_seed(5),
        &problem,
        &device(),
    )
    .unwrap();
    for _ in 0..3 {
        let a = pes.estimate(&problem, &theta).unwrap();
        let b = es.estimate(&problem, &theta).unwrap();
        assert_eq!(a.episodes_ended, 1);
        for (x, y) in a.grad.iter().zip(&b.grad) {
            assert!((x - y).abs() <= 1e-9 * (1.0 + y.abs()), "PES {x} vs ES {y}");
        }
        assert!((a.loss - b.loss).abs() < 1e-9 * a.loss.abs());
    }
}

/// The toy problem plus a constant on every loss term.
struct Offset(ToyRegression, f64);

impl UnrolledProblem for Offset {
    type State = HostState;
    fn name(&self) -> &'static str {
        "offset"
    }
    fn theta_dim(&self) -> usize {
        2
    }
    fn horizon(&self) -> Option<usize> {
        self.0.horizon()
    }
    fn init_state(&self, particles: usize, device: &Device) -> HostState {
        self.0.init_state(particles, device)
    }
    fn unroll(&self, s: HostState, th: Tensor<2>, w: Window) -> (HostState, Tensor<2>) {
        let (s, terms) = self.0.unroll(s, th, w);
        (s, terms + self.1)
    }
    fn host(&self) -> Option<&dyn pes::problems::HostDynamics> {
        self.0.host()
    }
}

/// Antithetic pairs: `Σ_i (L_i + c) ξ_i = Σ_i L_i ξ_i` since `ξ_{i+N/2} = −ξ_i`.
#[test]
fn antithetic_pairs_cancel_a_constant_offset() {
    let theta = [-2.0, -1.0];
    for kind in [
        EstimatorKind::Pes,
        EstimatorKind::TruncatedEs,
        EstimatorKind::NoiseReuseEs,
    ] {
        let cfg = EstimatorConfig::new(kind, 10, 40, 0.3).with_seed(9);
        let plain = summed(&ToyRegression::default(), &cfg, &theta, 4);
        let shifted = summed(&Offset(ToyRegression::default(), 100.0), &cfg, &theta, 4);
        for (a, b) in plain.iter().zip(&shifted) {
            // Only f64 rounding of the shifted terms remains (|terms| ≈ 25, offset 100).
            assert!((a - b).abs() < 1e-9 * (1.0 + a.abs()), "{kind:?}: {a} vs {b}");
        }
    }
    // And exactly in the f64 weighting itself.
    let eps = pes::noise::antithetic(6, 1, 0.5, 1, 1).unwrap();
    let mut g0 = vec![0.0];
    let mut g1 = vec![0.0];
    let losses = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    pes::estimators::accumulate_weighted(&mut g0, &losses, &eps, 0.5);
    let shifted: Vec<f64> = losses.iter().map(|l| l + 1e6).collect();
    pes::estimators::accumulate_weighted(&mut g1, &shifted, &eps, 0.5);
    assert!((g0[0] - g1[0]).abs() < 1e-6);
}

/// RTRL (forward mode, one step at a time) gives the exact gradient: against the separate
/// f64 sensitivity recursion of influence balancing, and over a toy-regression episode
/// against central finite differences of the f64 meta-loss; BPTT (K = T) equals it there.
#[test]
fn rtrl_and_bptt_are_exact() {
    let problem = InfluenceBalancing::default();
    let g = summed(
        &problem,
        &EstimatorConfig::new(EstimatorKind::Rtrl, 1, 1, 0.0),
        &[0.2],
        40,
    )[0];
    let (_, exact) = problem.exact(0.2, 40, 1);
    assert!(
        (g - exact).abs() < 1e-9 * (1.0 + exact.abs()),
        "RTRL {g} vs exact {exact}"
    );

    let toy = ToyRegression { horizon: 20 };
    let theta = [-0.5, 0.3];
    let rtrl = summed(
        &toy,
        &EstimatorConfig::new(EstimatorKind::Rtrl, 5, 1, 0.0),
        &theta,
        4,
    );
    let bptt = summed(
        &toy,
        &EstimatorConfig::new(EstimatorKind::Bptt, 0, 1, 0.0),
        &theta,
        1,
    );
    let h = 1e-6;
    for j in 0..2 {
        let (mut a, mut b) = (theta, theta);
        a[j] += h;
        b[j] -= h;
        let fd = (toy.meta_loss(&a) - toy.meta_loss(&b)) / (2.0 * h);
        assert!(
            (rtrl[j] - fd).abs() < 1e-5 * (1.0 + fd.abs()),
            "RTRL {} vs FD {fd}",
            rtrl[j]
        );
        assert!(
            (bptt[j] - fd).abs() < 1e-5 * (1.0 + fd.abs()),
            "BPTT {} vs FD {fd}",
            bptt[j]
        );
    }
}

/// A problem whose loss turns into NaN.
struct Exploding;

impl UnrolledProblem for Exploding {
    type State = Tensor<2>;
    fn name(&self) -> &'static str {
        "exploding"
    }
    fn theta_dim(&self) -> usize {
        1
    }
    fn horizon(&self) -> Option<usize> {
        None
    }
    fn init_state(&self, particles: usize, device: &Device) -> Tensor<2> {
        Tensor::zeros([particles, 1], device)
    }
    fn unroll(&self, s: Tensor<2>, th: Tensor<2>, _: Window) -> (Tensor<2>, Tensor<2>) {
        (s, th.log())
    }
}

#[test]
fn non_finite_losses_are_rejected() {
    for kind in [
        EstimatorKind::Pes,
        EstimatorKind::TruncatedEs,
        EstimatorKind::Tbptt,
    ] {
        let mut est = build(&EstimatorConfig::new(kind, 1, 4, 0.1), &Exploding, &device()).unwrap();
        match est.estimate(&Exploding, &[-1.0]) {
            Err(PesError::NonFiniteLoss { .. }) => {}
            other => panic!("{kind:?}: expected a non-finite-loss error, got {other:?}"),
        }
    }
    assert!(
        build(
            &EstimatorConfig::new(EstimatorKind::Pes, 1, 5, 0.1),
            &Exploding,
            &device()
        )
        .is_err()
    );
    assert!(
        build(
            &EstimatorConfig::new(EstimatorKind::Es, 1, 4, 0.1),
            &Exploding,
            &device()
        )
        .is_err()
    );
}

/// Killing a run and resuming from its checkpoint gives exactly the θ (and particle states
/// and ξ) of an uninterrupted run.
#[test]
fn meta_training_resumes_exactly() {
    let problem = ToyRegression::default();
    let cfg = EstimatorConfig::new(EstimatorKind::Pes, 7, 10, 0.3).with_seed(2);
    let outer = OuterConfig::adam(1e-2, 0.99);
    let root = tempfile::tempdir().unwrap();
    let opts = |iterations, resume| MetaOptions {
        iterations,
        eval_every: 5,
        checkpoint_every: 5,
        label: "PES K=7".into(),
        run: Some(repro_core::train::RunDir::create(root.path(), "pes", "resume", resume).unwrap()),
        resume,
        progress: false,
    };
    let mut eval = |th: &[f64]| Ok(problem.meta_loss(th));
    let mut straight = build(&cfg, &problem, &device()).unwrap();
    let full = meta_train(
        &problem,
        straight.as_mut(),
        &[-4.0, -4.0],
        &outer,
        &MetaOptions::quiet("x", 30, 5),
        &mut eval,
    )
    .unwrap();
    let mut first = build(&cfg, &problem, &device()).unwrap();
    meta_train(
        &problem,
        first.as_mut(),
        &[-4.0, -4.0],
        &outer,
        &opts(15, false),
        &mut eval,
    )
    .unwrap();
    let mut second = build(&cfg, &problem, &device()).unwrap();
    let resumed = meta_train(
        &problem,
        second.as_mut(),
        &[-4.0, -4.0],
        &outer,
        &opts(30, true),
        &mut eval,
    )
    .unwrap();
    assert_eq!(full.last().unwrap().theta, resumed.last().unwrap().theta);
    assert_eq!(full.len(), resumed.len());
}

/// On resume, `metrics.jsonl` is rewound to the checkpoint: the lines a killed run logged
/// after its last checkpoint are dropped and logged again once by the resumed run, while
/// lines of methods logged before stay.
#[test]
fn resume_rewinds_metrics_to_the_checkpoint() {
    let problem = ToyRegression::default();
    let cfg = EstimatorConfig::new(EstimatorKind::Pes, 7, 10, 0.3).with_seed(2);
    let outer = OuterConfig::adam(1e-2, 0.99);
    let root = tempfile::tempdir().unwrap();
    let run = |resume| repro_core::train::RunDir::create(root.path(), "pes", "rewind", resume).unwrap();
    let opts = |iterations, resume| MetaOptions {
        iterations,
        eval_every: 5,
        checkpoint_every: 10,
        label: "PES K=7".into(),
        run: Some(run(resume)),
        resume,
        progress: false,
    };
    let mut eval = |th: &[f64]| Ok(problem.meta_loss(th));
    let other = serde_json::json!({"method": "TES K=7", "iteration": 40, "eval": 1.0});
    run(false).log(&other).unwrap();
    let mut first = build(&cfg, &problem, &device()).unwrap();
    meta_train(
        &problem,
        first.as_mut(),
        &[-4.0, -4.0],
        &outer,
        &opts(10, true),
        &mut eval,
    )
    .unwrap();
    // a killed run got to iteration 20 and logged 15 and 20 after its checkpoint at 10
    for it in [15, 20] {
        run(true)
            .log(&serde_json::json!({"method": "PES K=7", "iteration": it, "eval": -1.0}))
            .unwrap();
    }
    let mut second = build(&cfg, &problem, &device()).unwrap();
    let resumed = meta_train(
        &problem,
        second.as_mut(),
        &[-4.0, -4.0],
        &outer,
        &opts(20, true),
        &mut eval,
    )
    .unwrap();
    let lines = run(true).read_metrics().unwrap();
    assert_eq!(lines[0], other);
    let mine: Vec<(u64, f64)> = lines[1..]
        .iter()
        .map(|l| (l["iteration"].as_u64().unwrap(), l["eval"].as_f64().unwrap()))
        .collect();
    let expected: Vec<(u64, f64)> = resumed[1..]
        .iter()
        .map(|r| (r.iteration as u64, r.eval.unwrap()))
        .collect();
    assert_eq!(mine, expected, "one line per evaluation, from the resumed run");
    assert_eq!(mine.len(), 4);
}
