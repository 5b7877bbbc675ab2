//! The ⊥ logit of GloRo Nets (§3, Eq. 4–5) and the certified radius.
//!
//! With logits y, predicted class j = argmax y, body bound K and head rows w_i, the logit
//! difference y_j − y_i is K·‖w_j − w_i‖-Lipschitz, so within an ℓ2 ball of radius ε it can
//! fall by at most ε·K_ji, K_ji = K·‖w_j − w_i‖ (the tight per-pair form). The network outputs
//! `[y, y_⊥]` with y_⊥ = max_{i≠j} (y_i + ε·K_ji); when y_⊥ < y_j no point of the ball can
//! change the prediction.
//!
//! Only the argmax index j is masked. (The reference implementation masks every logit equal
//! to the maximum; on a tie it then certifies a point whose prediction is not unique.)

use burn::tensor::{Bool, Int, Tensor};

/// Which bound on the logit differences builds y_⊥.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum MarginForm {
    /// K_ji = K·‖w_j − w_i‖ (the reference implementation's bound).
    Tight,
    /// K_i + K_j with K_i = K·‖w_i‖, as written in the paper's text (looser).
    Naive,
}

/// `[m, m]` matrix of ‖w_j − w_i‖ from the class rows `w` `[m, d]`. The diagonal is exactly 0
/// and carries no gradient (no NaN from the square root at zero distance).
pub fn pairwise_distances(w: Tensor<2>) -> Tensor<2> {
    let [m, _] = w.dims();
    let device = w.device();
    let gram = w.clone().matmul(w.clone().transpose());
    let sq = w.powf_scalar(2.0).sum_dim(1); // [m, 1]
    let d2 = sq.clone() + sq.reshape([1, m]) - gram.mul_scalar(2.0);
    let eye: Tensor<2, Bool> = Tensor::<2, Int>::eye(m, &device).bool();
    // replace the diagonal (and round-off negatives) before the root, then zero it
    let safe = d2.clamp_min(1e-12).mask_fill(eye.clone(), 1.0);
    safe.sqrt().mask_fill(eye, 0.0)
}

/// The m+1 GloRo logits `[y, y_⊥]` for logits `y` `[B, m]`, class rows `w` `[m, d]` and body
/// bound `k` `[1]`, at radius `eps`.
pub fn gloro_logits(y: Tensor<2>, w: Tensor<2>, k: Tensor<1>, eps: f64, form: MarginForm) -> Tensor<2> {
    let [b, m] = y.dims();
    let j = y.clone().argmax(1).reshape([b]); // [B]
    let is_j: Tensor<2, Bool> = j.clone().one_hot::<2>(m).bool();
    let k2 = k.reshape([1, 1]);
    let spread = match form {
        MarginForm::Tight => pairwise_distances(w).select(0, j) * k2, // [B, m]
        MarginForm::Naive => {
            let norms = w.powf_scalar(2.0).sum_dim(1).sqrt().reshape([1, m]) * k2; // K_i
            let kj = norms.clone().expand([b, m]).gather(1, j.reshape([b, 1])); // [B, 1]
            norms + kj
        }
    };
    let candidates = (y.clone() + spread.mul_scalar(eps)).mask_fill(is_j, -1e9);
    let bot = candidates.max_dim(1); // [B, 1]
    Tensor::cat(vec![y, bot], 1)
}

/// The certified radius of one pair: (gap − 2Δ₀)/(K_ji + 2Δ₁) for a logit gap y_j − y_i,
/// K_ji = K·‖w_j − w_i‖ and a rounding allowance Δ₀ + Δ₁·ε (zero without one; see
/// [`crate::certify`]). Fails closed: NaN or infinite inputs, K_ji ≤ 0, or a negative allowance
/// give radius 0, never +∞.
pub fn pair_radius(gap: f64, kji: f64, delta: (f64, f64)) -> f64 {
    let all_finite = gap.is_finite() && kji.is_finite() && delta.0.is_finite() && delta.1.is_finite();
    if !all_finite || kji <= 0.0 || delta.0 < 0.0 || delta.1 < 0.0 {
        return 0.0;
    }
    let num = crate::bounds::float::down(gap - 2.0 * delta.0);
    let den = crate::bounds::float::up(kji + 2.0 * delta.1);
    if num <= 0.0 {
        0.0
    } else {
        crate::bounds::float::down(num / den)
    }
}

/// The minimum over `radii`, 0 when any is NaN (`f64::min` would drop it).
pub fn min_radius(radii: impl Iterator<Item = f64>) -> f64 {
    let mut r = f64::INFINITY;
    for x in radii {
        if x.is_nan() {
            return 0.0;
        }
        r = r.min(x);
    }
    r
}

/// Certified ℓ2 radius of each row of `logits` `[B, m]`: min_{i≠j} (y_j − y_i)/K_ji with
/// K_ji = `k`·`distances[j·m + i]`, no rounding allowance. A row with a non-finite logit gets
/// radius 0 (and so does a non-finite or non-positive `k`).
pub fn certified_radius(logits: &[f32], m: usize, k: f64, distances: &[f64]) -> Vec<(usize, f64)> {
    logits
        .chunks_exact(m)
        .map(|y| {
            let j = argmax(y);
            if y.iter().any(|v| !v.is_finite()) {
                return (j, 0.0);
            }
            let r = min_radius(
                (0..m)
                    .filter(|&i| i != j)
                    .map(|i| pair_radius(y[j] as f64 - y[i] as f64, k * distances[j * m + i], (0.0, 0.0))),
            );
            (j, r)
        })
        .collect()
}

/// ‖w_j − w_i‖ for every pair of rows of `w` (`m` rows of `d`, row-major f32), computed from the
/// differences in f64 (not the Gram identity, which cancels for near-equal rows) and rounded
/// upwards: `[m·m]`.
pub fn distances_upper(w: &[f32], m: usize) -> Vec<f64> {
    let d = w.len() / m.max(1);
    let mut out = vec![0.0; m * m];
    for j in 0..m {
        for i in 0..m {
            if i != j {
                let diffs = (0..d).map(|t| w[j * d + t] as f64 - w[i * d + t] as f64);
                out[j * m + i] = crate::bounds::float::up(crate::bounds::float::sum_squares_up(diffs).sqrt());
            }
        }
    }
    out
}

/// Index of the first maximum (the same convention as Burn's `argmax`).
pub fn argmax(y: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in y.iter().enumerate() {
        if *v > y[best] {
            best = i;
        }
    }
    best
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn bot_logit_matches_hand_computation() {
        let d = Device::flex();
        // w rows: (0,0), (3,4), (0,1): distances 0-1 = 5, 0-2 = 1, 1-2 = sqrt(9+9)
        let w = Tensor::<2>::from_floats([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]], &d);
        let y = Tensor::<2>::from_floats([[2.0, 1.0, 0.5]], &d);
        let k = Tensor::<1>::from_floats([2.0], &d);
        let out = gloro_logits(y.clone(), w.clone(), k.clone(), 0.1, MarginForm::Tight)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // j = 0: candidates 1 + 0.1*2*5 = 2.0, 0.5 + 0.1*2*1 = 0.7
        assert!((out[3] - 2.0).abs() < 1e-5, "{out:?}");
        let naive = gloro_logits(y, w, k, 0.1, MarginForm::Naive)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // K_i = 2*|w_i| = 0, 10, 2; y_bot = max(1 + 0.1*(10+0), 0.5 + 0.1*(2+0)) = 2.0
        assert!((naive[3] - 2.0).abs() < 1e-5, "{naive:?}");
    }

    #[test]
    fn only_the_argmax_is_masked_on_ties() {
        let d = Device::flex();
        let w = Tensor::<2>::from_floats([[1.0, 0.0], [0.0, 1.0]], &d);
        let y = Tensor::<2>::from_floats([[1.0, 1.0]], &d);
        let k = Tensor::<1>::from_floats([1.0], &d);
        let out = gloro_logits(y, w, k, 0.0, MarginForm::Tight)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        // the tied logit is a competitor: y_bot = 1 = y_j, so the point is not certified
        assert_eq!(out[2], 1.0);
        let r = certified_radius(&[1.0, 1.0], 2, 1.0, &[0.0, 2f64.sqrt(), 2f64.sqrt(), 0.0]);
        assert_eq!(r[0], (0, 0.0));
    }

    #[test]
    fn no_nan_in_gradients_through_distances() {
        let d = Device::flex().autodiff();
        let w = Tensor::<2>::from_floats([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]], &d).require_grad();
        let y = Tensor::<2>::from_floats([[0.3, 0.2, 0.1], [0.0, 0.5, 0.1]], &d);
        let k = Tensor::<1>::from_floats([1.5], &d).require_grad();
        let out = gloro_logits(y, w.clone(), k.clone(), 0.3, MarginForm::Tight);
        let grads = out.sum().backward();
        let gw = w.grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        assert!(gw.iter().all(|g| g.is_finite()), "{gw:?}");
        assert!(k.grad(&grads).unwrap().into_scalar::<f32>().is_finite());
    }

    #[test]
    fn radius_and_bot_agree() {
        // certified at eps iff y_bot < y_j iff radius > eps
        let d = Device::flex();
        let w = Tensor::<2>::from_floats([[0.5, -1.0], [1.0, 0.3], [-0.2, 0.4]], &d);
        let y = Tensor::<2>::from_floats([[1.0, 0.2, -0.5], [0.1, 0.15, 0.0]], &d);
        let k = 1.7;
        let dist: Vec<f64> = pairwise_distances(w.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        let radii = certified_radius(&y.to_data().try_to_vec::<f32>().unwrap(), 3, k, &dist);
        for eps in [0.01, 0.05, 0.2, 0.5] {
            let out = gloro_logits(
                y.clone(),
                w.clone(),
                Tensor::from_floats([k as f32], &d),
                eps,
                MarginForm::Tight,
            );
            let v = out.into_data().try_to_vec::<f32>().unwrap();
            for (row, (j, r)) in radii.iter().enumerate() {
                let certified = v[row * 4 + 3] < v[row * 4 + j];
                assert_eq!(certified, *r > eps, "row {row} eps {eps} r {r}");
            }
        }
    }

    #[test]
    fn radius_fails_closed_on_nan_and_degenerate_bounds() {
        let d = [0.0, 1.0, 1.0, 0.0];
        // a NaN competitor logit: f64::min would drop it and certify at +inf
        assert_eq!(certified_radius(&[1.0, f32::NAN], 2, 1.0, &d)[0].1, 0.0);
        assert_eq!(certified_radius(&[f32::NAN, 0.0], 2, 1.0, &d)[0].1, 0.0);
        assert_eq!(certified_radius(&[f32::INFINITY, 0.0], 2, 1.0, &d)[0].1, 0.0);
        // K = 0, K = NaN, K = inf: a positive gap must not certify at infinity
        for k in [0.0, f64::NAN, f64::INFINITY, -1.0] {
            assert_eq!(certified_radius(&[1.0, 0.0], 2, k, &d)[0].1, 0.0, "K = {k}");
        }
        // identical head rows (K_ji = 0)
        assert_eq!(certified_radius(&[1.0, 0.0], 2, 1.0, &[0.0; 4])[0].1, 0.0);
        assert_eq!(min_radius([1.0, f64::NAN, 2.0].into_iter()), 0.0);
        // and a healthy case is certified: gap 1, K_ji 2 -> radius 0.5
        let r = certified_radius(&[1.0, 0.0], 2, 2.0, &d)[0].1;
        assert!(r > 0.4999999 && r <= 0.5, "{r}");
    }

    #[test]
    fn the_rounding_allowance_is_charged_twice_and_scales_with_eps() {
        // gap 1, K_ji 1, Δ = 0.1 + 0.2 ε: radius = (1 − 0.2)/(1 + 0.4)
        let r = pair_radius(1.0, 1.0, (0.1, 0.2));
        assert!((r - 0.8 / 1.4).abs() < 1e-11 && r <= 0.8 / 1.4, "{r}");
        assert_eq!(
            pair_radius(0.15, 1.0, (0.1, 0.0)),
            0.0,
            "gap below 2Δ is not certified"
        );
    }

    #[test]
    fn direct_distances_survive_near_equal_rows() {
        // rows 1e4 apart in norm but 1e-3 apart from each other: the f32 Gram identity
        // cancels to 0 or noise, the direct difference does not
        let a = [1.0e4f32, 0.0];
        let b = [1.0e4f32, 1.0e-3];
        let w: Vec<f32> = a.iter().chain(&b).copied().collect();
        let d = distances_upper(&w, 2);
        let exact = 1.0e-3f32 as f64;
        assert!(d[1] >= exact && d[1] < exact * (1.0 + 1e-9), "{}", d[1]);
        let gram = pairwise_distances(Tensor::<2>::from_floats([a, b], &Device::flex()))
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(
            ((gram[1] as f64) - exact).abs() > 0.5 * exact,
            "the Gram identity should fail here: {}",
            gram[1]
        );
    }
}
