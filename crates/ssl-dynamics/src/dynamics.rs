//! What the analysis predicts about a linear predictor during training, measured (paper Sec. 5
//! "eigenspace alignment" and Sec. 6, Fig. 4–5): the relative commutator
//! `‖[W_p, F̂]‖_F / (‖W_p‖_F ‖F̂‖_F)` (→ 0 as the eigenspaces align), the asymmetry
//! `‖W_p − W_pᵀ‖_F / ‖W_p‖_F` (→ 0 under weight decay), and the spectra of `F̂` and `W_p`
//! (DirectPred's `p_j = √(s_j / max s)` relation).

use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

/// The monitors at one step. Spectra are stored only at some steps (empty otherwise), in `f32`
/// to keep run records small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TheoryPoint {
    /// Optimiser steps completed.
    pub step: usize,
    /// `‖W_p F̂ − F̂ W_p‖_F / (‖W_p‖_F ‖F̂‖_F)`; `None` without a linear predictor.
    pub commutator: Option<f64>,
    /// `‖W_p − W_pᵀ‖_F / ‖W_p‖_F`; `None` without a linear predictor.
    pub asymmetry: Option<f64>,
    /// Effective rank `exp(H(s / Σs))` of `F̂` (`d` for a flat spectrum, 1 for one mode).
    pub f_effective_rank: f64,
    /// Eigenvalues `s_j` of `F̂`, descending.
    pub f_eigs: Vec<f32>,
    /// Eigenvalues of `(W_p + W_pᵀ)/2`, descending.
    pub wp_eigs: Vec<f32>,
    /// `u_jᵀ W_p u_j` for the eigenvectors `u_j` of `F̂`, in the order of `f_eigs`: the
    /// predictor's eigenvalue on `F̂`'s mode `j` once the two align.
    pub wp_on_f_modes: Vec<f32>,
}

fn descending(v: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = v.collect();
    v.sort_by(|a, b| b.total_cmp(a));
    v
}

/// Relative commutator `‖AB − BA‖_F / (‖A‖_F ‖B‖_F)` (0 when either is 0).
pub fn relative_commutator(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    let denom = a.norm() * b.norm();
    if denom == 0.0 {
        return 0.0;
    }
    (a * b - b * a).norm() / denom
}

/// `‖W − Wᵀ‖_F / ‖W‖_F` (0 for `W = 0`).
pub fn asymmetry(w: &DMatrix<f64>) -> f64 {
    let n = w.norm();
    if n == 0.0 {
        0.0
    } else {
        (w - w.transpose()).norm() / n
    }
}

/// `exp` of the entropy of the normalised non-negative eigenvalues.
pub fn effective_rank(s: &[f64]) -> f64 {
    let total: f64 = s.iter().map(|x| x.max(0.0)).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let h: f64 = s
        .iter()
        .map(|x| x.max(0.0) / total)
        .filter(|p| *p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    h.exp()
}

/// The monitors for predictor weight `w` (`y = W z`; `None` for an MLP) and correlation `f`;
/// with `spectra`, the eigenvalue lists too.
pub fn theory_point(step: usize, w: Option<&DMatrix<f64>>, f: &DMatrix<f64>, spectra: bool) -> TheoryPoint {
    let f_sym = (f + f.transpose()) * 0.5;
    let eig = SymmetricEigen::new(f_sym.clone());
    let mut order: Vec<usize> = (0..eig.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let s: Vec<f64> = order.iter().map(|&j| eig.eigenvalues[j]).collect();
    let mut point = TheoryPoint {
        step,
        commutator: w.map(|w| relative_commutator(w, &f_sym)),
        asymmetry: w.map(asymmetry),
        f_effective_rank: effective_rank(&s),
        f_eigs: vec![],
        wp_eigs: vec![],
        wp_on_f_modes: vec![],
    };
    if spectra {
        point.f_eigs = s.iter().map(|&x| x as f32).collect();
        if let Some(w) = w {
            let w_sym = (w + w.transpose()) * 0.5;
            point.wp_eigs = descending(w_sym.symmetric_eigenvalues().iter().copied())
                .into_iter()
                .map(|x| x as f32)
                .collect();
            point.wp_on_f_modes = order
                .iter()
                .map(|&j| {
                    let u = eig.eigenvectors.column(j);
                    (u.transpose() * w * u)[(0, 0)] as f32
                })
                .collect();
        }
    }
    point
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DVector;

    #[test]
    fn commuting_matrices_give_zero_and_a_rotation_of_eigenvectors_does_not() {
        // Shared eigenvectors: W = U diag(p) Uᵀ, F = U diag(s) Uᵀ commute.
        let q = DMatrix::from_fn(4, 4, |i, j| ((i * 5 + j * 3) % 7) as f64 - 3.0)
            .qr()
            .q();
        let f = &q * DMatrix::from_diagonal(&DVector::from_vec(vec![4.0, 2.0, 1.0, 0.5])) * q.transpose();
        let w = &q * DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 0.7, 0.5, 0.3])) * q.transpose();
        assert!(relative_commutator(&w, &f) < 1e-12);
        // Diagonal F against a W mixing modes 0 and 1: [W, F] has entries (s0 − s1) c on the
        // off-diagonal pair; with W = [[0, c], [c, 0]] ⊕ 0 and F = diag(2, 1, ...),
        // ‖[W, F]‖ = √2 |c| (s0 − s1) and ‖W‖ = √2 |c|.
        let f = DMatrix::from_diagonal(&DVector::from_vec(vec![2.0, 1.0, 0.0]));
        let mut w = DMatrix::zeros(3, 3);
        w[(0, 1)] = 0.5;
        w[(1, 0)] = 0.5;
        let expect = 1.0 / 5f64.sqrt(); // (s0 − s1) / ‖F‖ = 1 / √5
        assert!((relative_commutator(&w, &f) - expect).abs() < 1e-12);
    }

    #[test]
    fn asymmetry_effective_rank_and_modes_have_their_closed_forms() {
        // W = [[1, 1], [0, 1]]: W − Wᵀ has two entries ±1, ‖W‖ = √3.
        let w = DMatrix::from_row_slice(2, 2, &[1.0, 1.0, 0.0, 1.0]);
        assert!((asymmetry(&w) - (2f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(asymmetry(&DMatrix::identity(3, 3)), 0.0);
        assert!((effective_rank(&[1.0, 1.0, 1.0, 1.0]) - 4.0).abs() < 1e-12);
        assert!((effective_rank(&[5.0, 0.0, 0.0]) - 1.0).abs() < 1e-12);
        // F = diag(1, 4): descending order puts mode 1 first; W's diagonal is read on F's modes.
        let f = DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 4.0]));
        let w = DMatrix::from_row_slice(2, 2, &[0.3, 0.2, 0.0, 0.9]);
        let p = theory_point(7, Some(&w), &f, true);
        let close = |a: &[f32], b: &[f64]| a.iter().zip(b).all(|(x, y)| (*x as f64 - y).abs() < 1e-6);
        assert!(close(&p.f_eigs, &[4.0, 1.0]), "{:?}", p.f_eigs);
        assert!(close(&p.wp_on_f_modes, &[0.9, 0.3]), "{:?}", p.wp_on_f_modes);
        let sym_top = 0.6 + (0.09f64 + 0.01).sqrt(); // eigenvalues of [[0.3, 0.1], [0.1, 0.9]]
        assert!((p.wp_eigs[0] as f64 - sym_top).abs() < 1e-6);
        let no_spectra = theory_point(7, None, &f, false);
        assert!(no_spectra.commutator.is_none() && no_spectra.f_eigs.is_empty());
    }
}
