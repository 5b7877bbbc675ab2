//! Test power of the unbiasedness checks (§4.1): PES passes a z-test against the exact
//! gradient at the smallest σ of the shipped configs and at σ = 1e-3 (the host problems run
//! in f64), with a standard error below 5 % of the gradient, while deliberately broken PES
//! variants fail the same check; UORO is unbiased for the RTRL gradient.

use burn::tensor::Device;
use pes::estimators::{EstimatorConfig, EstimatorKind, GradientEstimator, Persistent, PesFault, build};
use pes::problems::influence::InfluenceBalancing;
use pes::problems::{HostState, UnrolledProblem};

/// Mean and standard error.
fn mean_se(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let m = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0);
    (m, (var / n).sqrt())
}

/// Episodes of T = 20 steps, K = 5, θ = 0.3.
const T: usize = 20;
const K: usize = 5;
const THETA: f64 = 0.3;
const REPEATS: u64 = 400;
const PARTICLES: usize = 20;
/// The episode measured (1-based).
const EPISODE: usize = 20;

fn problem() -> InfluenceBalancing {
    InfluenceBalancing {
        horizon: Some(T),
        ..Default::default()
    }
}

/// Exact gradient of one episode's loss (taken after every window of K steps). The loss is
/// quadratic in the per-truncation θ's, so Gaussian smoothing only adds a constant and this
/// is also the gradient PES is unbiased for.
fn exact() -> f64 {
    let windows: Vec<(usize, bool)> = (0..T / K).map(|i| (K, i + 1 == T / K)).collect();
    problem().exact_windows(THETA, &windows).1
}

/// Mean and standard error over seeds of PES's summed estimate over episode [`EPISODE`]
/// (after the earlier whole episodes, so that a ξ carried over episode ends would show).
fn pes_last_episode(sigma: f64, fault: Option<PesFault>) -> (f64, f64) {
    let p = problem();
    let calls = T / K;
    let values: Vec<f64> = (0..REPEATS)
        .map(|r| {
            let cfg = EstimatorConfig::new(EstimatorKind::Pes, K, PARTICLES, sigma).with_seed(7000 + r);
            let mut est = Persistent::<HostState>::new(cfg, &Device::flex());
            if let Some(f) = fault {
                est = est.with_fault(f);
            }
            let mut total = 0.0;
            for c in 0..EPISODE * calls {
                let e = GradientEstimator::<InfluenceBalancing>::estimate(&mut est, &p, &[THETA]).unwrap();
                if c >= (EPISODE - 1) * calls {
                    total += e.grad[0];
                }
            }
            total
        })
        .collect();
    mean_se(&values)
}

/// The check itself: |z| < 4 and a standard error below 5 % of |exact|.
fn passes(mean: f64, se: f64, exact: f64) -> bool {
    ((mean - exact) / se).abs() < 4.0 && se < 0.05 * exact.abs()
}

#[test]
fn pes_passes_the_unbiasedness_check_at_small_sigma_and_broken_pes_fails_it() {
    let exact = exact();
    assert!(exact.abs() > 1.0, "exact gradient {exact}");
    // 0.01: the smallest σ of a shipped config (variance.json); 1e-3 needs f64 throughout.
    for sigma in [0.01, 1e-3] {
        let (m, se) = pes_last_episode(sigma, None);
        let z = (m - exact) / se;
        eprintln!("σ = {sigma}: exact {exact:.5}, PES {m:.5} ± {se:.5} (z = {z:.2})");
        assert!(z.abs() < 4.0, "PES biased at σ = {sigma}: z = {z}");
        assert!(
            se < 0.05 * exact.abs(),
            "PES too noisy to tell at σ = {sigma}: se = {se}"
        );
    }
    // ξ not reset at episode ends: the measured episode's losses are weighted by all earlier
    // episodes' perturbations too. Those are independent of these losses (the state is
    // reset), so the mean stays right but the variance grows with every episode: the
    // standard-error bound catches it.
    let (m, se) = pes_last_episode(0.01, Some(PesFault::XiNotReset));
    let z = (m - exact) / se;
    eprintln!(
        "ξ not reset: {m:.5} ± {se:.5} (z = {z:.2}, se/|exact| = {:.3})",
        se / exact.abs()
    );
    assert!(
        !passes(m, se, exact),
        "a PES that never resets ξ passed the check"
    );
    // ξ not accumulated (truncated ES with persistent states): biased.
    let (m, se) = pes_last_episode(0.01, Some(PesFault::XiNotAccumulated));
    let z = (m - exact) / se;
    eprintln!("ξ not accumulated: {m:.5} ± {se:.5} (z = {z:.2})");
    assert!(
        z.abs() > 4.0,
        "a PES without accumulated ξ is not detected: z = {z}"
    );
}

/// UORO's rank-one sensitivity is unbiased: the mean over seeds of its summed gradient over
/// 8 one-step windows matches the exact (RTRL) gradient within 4 standard errors on a small
/// influence-balancing system, with a standard error below 10 % of it.
#[test]
fn uoro_is_unbiased_for_the_rtrl_gradient() {
    let p = InfluenceBalancing {
        n: 3,
        positives: 2,
        horizon: None,
    };
    let (theta, steps) = (0.2, 8);
    let (_, exact) = p.exact(theta, steps, 1);
    let rtrl = {
        let mut est = build(
            &EstimatorConfig::new(EstimatorKind::Rtrl, 1, 1, 0.0),
            &p,
            &Device::flex(),
        )
        .unwrap();
        (0..steps)
            .map(|_| est.estimate(&p, &[theta]).unwrap().grad[0])
            .sum::<f64>()
    };
    assert!(
        (rtrl - exact).abs() < 1e-9 * exact.abs().max(1.0),
        "RTRL {rtrl} vs {exact}"
    );
    let values: Vec<f64> = (0..20_000)
        .map(|seed| {
            let cfg = EstimatorConfig::new(EstimatorKind::Uoro, 1, 1, 0.0).with_seed(seed);
            let mut est = build(&cfg, &p, &Device::flex()).unwrap();
            (0..steps)
                .map(|_| est.estimate(&p, &[theta]).unwrap().grad[0])
                .sum::<f64>()
        })
        .collect();
    let (m, se) = mean_se(&values);
    let z = (m - exact) / se;
    eprintln!("exact {exact:.5}, UORO {m:.5} ± {se:.5} (z = {z:.2})");
    assert!(z.abs() < 4.0, "UORO biased: z = {z}");
    assert!(se < 0.1 * exact.abs(), "UORO too noisy to tell: se = {se}");
    assert_eq!(p.theta_dim(), 1);
}

/// PES on the paper's variance model (§5.4, a character-level LSTM, f64) at σ = 1e-3: the
/// sum of the estimates over the T/K truncations of a sequence matches the exact gradient
/// within 4 standard errors along the direction that separates the exact gradient from the
/// truncated one (TBPTT with the same K), and that separation is over 4 standard errors, so
/// a PES without accumulated ξ (truncated ES with persistent states) fails the same check.
#[test]
fn pes_is_unbiased_on_the_lstm_and_truncation_bias_is_detectable() {
    use pes::problems::lstm::{CharLstm, TextSequence, normalise};
    let text = normalise(
        "It was the best of times, it was the worst of times, it was the age of wisdom, \
         it was the age of foolishness.",
    );
    let (t, k, n, sigma) = (12, 3, 100, 1e-3);
    let p = CharLstm::new(TextSequence::Real, &text, 3, t, 0, 0).unwrap();
    let mut theta = p.init_theta(3);
    // larger recurrent weights give the sequence a long memory (a visible truncation bias)
    theta.iter_mut().for_each(|w| *w *= 2.0);
    let sum_of = |kind, k, particles, sigma, seed, fault: Option<PesFault>| -> Vec<f64> {
        let cfg = EstimatorConfig::new(kind, k, particles, sigma).with_seed(seed);
        let mut g = vec![0.0; theta.len()];
        let mut add = |e: Vec<f64>| g.iter_mut().zip(&e).for_each(|(a, b)| *a += b);
        if let Some(f) = fault {
            let mut est = Persistent::<HostState>::new(cfg, &Device::flex()).with_fault(f);
            for _ in 0..t / k {
                add(GradientEstimator::<CharLstm>::estimate(&mut est, &p, &theta)
                    .unwrap()
                    .grad);
            }
        } else {
            let mut est = build(&cfg, &p, &Device::flex()).unwrap();
            for _ in 0..t / k {
                add(est.estimate(&p, &theta).unwrap().grad);
            }
        }
        g
    };
    let exact = sum_of(EstimatorKind::Tbptt, t, 1, 0.0, 0, None);
    let truncated = sum_of(EstimatorKind::Tbptt, k, 1, 0.0, 0, None);
    let diff: Vec<f64> = exact.iter().zip(&truncated).map(|(a, b)| a - b).collect();
    let norm = diff.iter().map(|x| x * x).sum::<f64>().sqrt();
    let u: Vec<f64> = diff.iter().map(|x| x / norm).collect();
    let along = |g: &[f64]| g.iter().zip(&u).map(|(a, b)| a * b).sum::<f64>();
    let target = along(&exact);
    let projections = |fault| -> (f64, f64) {
        let v: Vec<f64> = (0..40)
            .map(|r| along(&sum_of(EstimatorKind::Pes, k, n, sigma, 500 + r, fault)))
            .collect();
        mean_se(&v)
    };
    let (m, se) = projections(None);
    let z = (m - target) / se;
    eprintln!(
        "LSTM: exact {target:.5}, truncated {:.5}, PES {m:.5} ± {se:.5} (z = {z:.2})",
        along(&truncated)
    );
    assert!(z.abs() < 4.0, "PES biased on the LSTM: z = {z}");
    assert!(
        norm > 4.0 * se,
        "truncation bias {norm} not resolvable with se {se}"
    );
    let (m, se) = projections(Some(PesFault::XiNotAccumulated));
    let z = (m - target) / se;
    eprintln!("LSTM, ξ not accumulated: {m:.5} ± {se:.5} (z = {z:.2})");
    assert!(
        z.abs() > 4.0,
        "a PES without accumulated ξ passed on the LSTM: z = {z}"
    );
}
