//! The paper's theoretical claims (Sec. 4–5), each checked with fixed seeds and thresholds.

use ssl_dynamics::linear::claims::*;
use ssl_dynamics::linear::fixed_points::{BASIN_DT, BASIN_T, Outcome, collapse_boundary};
use ssl_dynamics::linear::ode::final_states;
use ssl_dynamics::linear::*;

#[test]
fn without_stop_gradient_the_weights_vanish_for_every_weight_decay() {
    let r = no_stop_gradient(&[0.01, 0.05, 0.2], 0.1, 300.0);
    for &(eta, ratio) in &r.final_ratio {
        assert!(ratio < 1e-6, "eta={eta}: |W(T)|/|W(0)| = {ratio}");
    }
    // With stop-gradient the same init keeps non-trivial weights.
    for &(eta, ratio) in &r.stop_grad_ratio {
        assert!(ratio > 0.1, "eta={eta}: stop-grad ratio {ratio}");
    }
}

#[test]
fn eta_024_ends_at_the_predicted_fixed_point_and_eta_026_collapses() {
    let ok = run_mode(OdeParams::simsiam(0.24), Mode::new(0.5, 0.5), 1500.0);
    assert!(
        (ok.end.p - 0.600).abs() < 1e-3 && (ok.end.s - 0.360).abs() < 1e-3,
        "{:?}",
        ok.end
    );
    let fp = ok.fixed_points.unwrap();
    assert!((fp.p_plus - ok.end.p).abs() < 1e-6 && (fp.s_plus - ok.end.s).abs() < 1e-6);
    let bad = run_mode(OdeParams::simsiam(0.26), Mode::new(0.5, 0.5), 1500.0);
    assert_eq!(bad.outcome, Outcome::Collapsed);
    assert!(bad.end.s < 1e-8 && bad.end.p < 1e-4, "{:?}", bad.end);
    assert!(fixed_points(&OdeParams::simsiam(0.26), 1.0).is_none());
    // With augmentation noise the threshold moves to 1/(4(1+σ²)).
    assert!((eta_threshold(1.0, 0.2) - 1.0 / 4.8).abs() < 1e-12);
}

#[test]
fn p_minus_bounds_the_collapse_basin() {
    let params = OdeParams::simsiam(0.24);
    let fp = fixed_points(&params, 1.0).unwrap();
    let portrait = phase_portrait(params, 1.2, 1.0, 24);
    let (mut below, mut above) = (0, 0);
    for (m, out) in &portrait.starts {
        if m.p < fp.p_minus && m.s < fp.s_minus {
            below += 1;
            assert_eq!(*out, Outcome::Collapsed, "{m:?} should collapse");
        }
        if m.p > fp.p_minus && m.p <= fp.p_plus && m.s > fp.s_minus {
            above += 1;
            assert_eq!(*out, Outcome::Survived, "{m:?} should survive");
        }
    }
    assert!(
        below > 20 && above > 50,
        "grid covers both regions: {below} {above}"
    );
    // Every survivor ends at (p*+, s*+).
    let ends = final_states(
        &params,
        &[Mode::new(1.1, 0.9), Mode::new(0.45, 0.2)],
        BASIN_T,
        BASIN_DT,
    );
    for e in ends {
        assert!(
            (e.p - fp.p_plus).abs() < 1e-3 && (e.s - fp.s_plus).abs() < 1e-3,
            "{e:?}"
        );
    }
    // The boundary passes through the saddle: just above it survives, just below collapses.
    let sc = collapse_boundary(&params, fp.p_minus, 1.0, 30).unwrap();
    assert!(
        (sc - fp.s_minus).abs() < 0.01,
        "boundary at p*-: {sc} vs s*- {}",
        fp.s_minus
    );
}

#[test]
fn larger_predictor_learning_rate_shrinks_the_basin_as_one_over_alpha() {
    let r = predictor_lr(0.24, &[1.0, 2.0, 4.0], &[0.1, 0.3], 24);
    let f: Vec<f64> = r.basin_fraction.iter().map(|x| x.1).collect();
    assert!(f[0] > f[1] && f[1] > f[2] && f[2] > 0.0, "{f:?}");
    for p0 in [0.1, 0.3] {
        let b: Vec<(f64, f64)> = r
            .boundary
            .iter()
            .filter(|x| x.1 == p0)
            .map(|x| (x.0, x.2))
            .collect();
        assert_eq!(b.len(), 3);
        for &(alpha, sc) in &b {
            let scaled = alpha * sc;
            assert!(
                (scaled - b[0].1).abs() / b[0].1 < 0.01,
                "p0={p0} alpha={alpha}: {scaled} vs {}",
                b[0].1
            );
        }
    }
}

#[test]
fn ema_protects_a_weak_mode_but_keeps_the_threshold() {
    let weak = Mode::new(0.2, 0.19);
    let r = ema_protection(0.24, 0.26, weak, &[0.01, 0.1, 1.0], 5000.0);
    assert_eq!(r.without_ema.outcome, Outcome::Collapsed);
    for (beta, run) in &r.with_ema {
        if *beta <= 0.1 {
            assert_eq!(run.outcome, Outcome::Survived, "beta={beta}");
            assert!(
                (run.end.p - 0.6).abs() < 1e-3 && (run.end.s - 0.36).abs() < 1e-3,
                "{:?}",
                run.end
            );
            assert!((run.end.tau - 1.0).abs() < 2e-3);
        } else {
            // A fast EMA (β = 1) behaves like no EMA.
            assert_eq!(run.outcome, Outcome::Collapsed, "beta={beta}");
        }
    }
    for (beta, run) in &r.past_threshold {
        assert_eq!(
            run.outcome,
            Outcome::Collapsed,
            "past threshold, beta={beta}: {:?}",
            run.end
        );
    }
}

#[test]
fn predictor_eigenspace_aligns_with_f() {
    let a = alignment(0.1, Some(0.1), 300.0);
    let (c0, c1) = (a.symmetric[0].1, a.symmetric.last().unwrap().1);
    assert!(c0 > 0.05, "init is not aligned: {c0}");
    assert!(c1 < 1e-6, "commutator {c0} -> {c1}");
    assert!(a.free.last().unwrap().1 < 1e-6);
}

#[test]
fn sgd_trained_linear_model_matches_the_theory() {
    let settings = SgdSettings::default();
    let r = sgd_check(settings, &[0.05, 0.1, 0.15], 0.25, 0.1);
    for (eta, theory, sv) in &r.singular_values {
        for s in &sv[..settings.data.signal] {
            assert!((s - theory).abs() < 0.035, "eta={eta}: sv {s} vs p*+ {theory}");
        }
        for s in &sv[settings.data.signal..] {
            assert!(*s < 1e-3, "eta={eta}: extra predictor direction {s}");
        }
    }
    for (eta, n0, n1, sig) in &r.nuisance {
        assert!(n1 / n0 < 0.01, "eta={eta}: nuisance {n0} -> {n1}");
        assert!(*sig > 0.5, "eta={eta}: signal kept {sig}");
    }
    assert!(r.past_threshold[0].1 < 1e-6, "{:?}", r.past_threshold);
    assert!(r.no_stop_gradient[0].1 < 1e-6, "{:?}", r.no_stop_gradient);
}
