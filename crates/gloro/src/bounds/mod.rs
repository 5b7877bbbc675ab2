//! Sound per-layer Lipschitz bounds for certification (GloRo Nets §4, made rigorous).
//!
//! Training estimates each layer's spectral norm by power iteration ([`crate::lipschitz`]):
//! fast, differentiable, and the paper's method, but an estimate — a Rayleigh quotient and
//! its residual locate *some* eigenvalue of AᵀA, not necessarily the largest. Certificates use
//! the bounds of this module instead, each a proof that holds whatever the iterate:
//!
//! | layer | method | proof |
//! |---|---|---|
//! | dense | [`gram`] on the weight matrix | shifted Cholesky certificate with rounding-error terms |
//! | conv, small | [`conv::ConvOperator::exact_bound`] | the conv materialised in f64, then [`gram`] |
//! | conv, large | [`conv::ConvOperator::fourier_bound`] | circular embedding + polyphase DFT blocks, each through [`gram`] |
//!
//! A conv layer is "small" ([`ConvMethod::Auto`]) when the smaller side of its matrix is at
//! most [`EXACT_LIMIT`]; the MNIST layers of 2C2F are, the later layers of 4C3F and the
//! CIFAR/Tiny-ImageNet layers are not. [`float`] holds the rounding constants. Any failure
//! (non-finite weights, no certificate) is an error naming the layer: certification fails
//! closed.

pub mod conv;
pub mod float;
pub mod gram;

use crate::lipschitz::{LipConv2d, LipDense, LipschitzLayer};
use crate::model::{GloroNet, Layer};
use conv::{ConvOperator, abs_norm_upper_dense};
use float::{sum_squares_up, up};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Conv layers whose matrix has a smaller side of at most this many rows are bounded exactly
/// under [`ConvMethod::Auto`].
pub const EXACT_LIMIT: usize = 2048;

/// Where the per-layer bounds of a certificate come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BoundMethod {
    /// Proven upper bounds (this module): the certificate.
    #[default]
    Sound,
    /// Converged power iteration, √(λ + residual): the paper's estimate, for comparison only.
    PowerIteration,
}

/// How conv layers are bounded under [`BoundMethod::Sound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ConvMethod {
    /// Exact for small layers (see [`EXACT_LIMIT`]), Fourier otherwise.
    #[default]
    Auto,
    /// Always materialise (memory grows with input × output size).
    Exact,
    /// Always the circular/polyphase Fourier bound.
    Fourier,
}

/// The method that produced one layer's bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UsedMethod {
    /// Dense weight matrix through [`gram`].
    DenseGram,
    /// Materialised convolution through [`gram`].
    ConvExact,
    /// Polyphase Fourier blocks of the circular convolution.
    ConvFourier,
    /// Power-iteration estimate (not a proof).
    PowerIteration,
}

/// The kind of an affine body layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerKind {
    /// [`LipConv2d`].
    Conv2d,
    /// [`LipDense`].
    Dense,
}

impl std::fmt::Display for LayerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LayerKind::Conv2d => "conv2d",
            LayerKind::Dense => "dense",
        })
    }
}

/// One affine body layer as the certificate sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LayerBound {
    /// Position among the bounded body layers (0 = first conv or dense).
    pub index: usize,
    /// Conv or dense.
    pub kind: LayerKind,
    /// Upper bound of ‖A‖₂ used by the certificate.
    pub upper: f64,
    /// The converged power-iteration estimate √(λ + residual), for comparison; `None` when
    /// power iteration did not converge.
    pub power_iteration: Option<f64>,
    /// How [`Self::upper`] was obtained.
    pub method: UsedMethod,
    /// Upper bound of ‖|A|‖₂ (for the rounding-error bound).
    pub abs_norm: f64,
    /// Products summed per output (c_in·k² or d_in).
    pub fan_in: usize,
    /// Output size per example.
    pub outputs: usize,
    /// Upper bound of the bias' ℓ2 norm.
    pub bias_norm: f64,
}

/// A layer whose bound could not be established.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("body layer {index} ({kind}): {message}")]
pub struct BoundError {
    /// Position among the bounded body layers.
    pub index: usize,
    /// Conv or dense.
    pub kind: LayerKind,
    /// What failed.
    pub message: String,
}

fn host(t: burn::tensor::Tensor<1>) -> Vec<f64> {
    t.into_data()
        .convert::<f64>()
        .try_to_vec::<f64>()
        .expect("f64 data")
}

/// The operator of a conv layer, on the input size it was built for.
pub fn conv_operator(layer: &LipConv2d) -> ConvOperator {
    let w = layer.conv.weight.val();
    let shape = w.dims();
    let [_, _, h, wd] = layer.iterate.value_sync().dims();
    ConvOperator {
        weight: host(w.flatten(0, 3)),
        shape,
        stride: layer.stride,
        padding: layer.padding,
        input: [h, wd],
    }
}

/// The matrix `[d_out, d_in]` of a dense layer (Burn stores the transpose).
pub fn dense_matrix(layer: &LipDense) -> DMatrix<f64> {
    let w = layer.linear.weight.val();
    let [d_in, d_out] = w.dims();
    DMatrix::from_row_slice(d_in, d_out, &host(w.flatten(0, 1))).transpose()
}

fn bias_norm(b: Option<burn::tensor::Tensor<1>>) -> f64 {
    b.map_or(0.0, |b| up(sum_squares_up(host(b).into_iter()).sqrt()))
}

/// Power-iteration estimate of one layer after convergence, `None` if it did not converge.
fn power_estimate(l: &dyn LipschitzLayer, tol: f64, max_iters: usize) -> Option<f64> {
    l.converge(tol, max_iters).ok().map(|_| l.certified_bound())
}

/// The power-iteration estimate as a layer's bound: fails closed when it did not converge.
fn require(
    power: Option<f64>,
    index: usize,
    kind: LayerKind,
    convergence: crate::lipschitz::Convergence,
) -> Result<f64, BoundError> {
    power.ok_or_else(|| BoundError {
        index,
        kind,
        message: format!(
            "power iteration did not converge to a residual of {}·λ in {} iterations",
            convergence.tol, convergence.max_iters
        ),
    })
}

/// The bounds of every affine body layer, in order.
pub fn layer_bounds(
    model: &GloroNet,
    bound: BoundMethod,
    conv_method: ConvMethod,
    convergence: crate::lipschitz::Convergence,
) -> Result<Vec<LayerBound>, BoundError> {
    let mut out = Vec::new();
    for layer in &model.layers {
        let index = out.len();
        let b = match layer {
            Layer::Conv(c) => {
                let kind = LayerKind::Conv2d;
                let power = power_estimate(c, convergence.tol, convergence.max_iters);
                let op = conv_operator(c);
                let (d_in, d_out) = op.dims();
                let [_, ci, k, _] = op.shape;
                let (upper, method) = match bound {
                    BoundMethod::PowerIteration => (
                        require(power, index, kind, convergence)?,
                        UsedMethod::PowerIteration,
                    ),
                    BoundMethod::Sound => {
                        let exact = match conv_method {
                            ConvMethod::Exact => true,
                            ConvMethod::Fourier => false,
                            ConvMethod::Auto => d_in.min(d_out) <= EXACT_LIMIT,
                        };
                        let r = if exact {
                            op.exact_bound()
                        } else {
                            op.fourier_bound()
                        };
                        let b = r.map_err(|e| BoundError {
                            index,
                            kind,
                            message: e.to_string(),
                        })?;
                        (
                            b.upper,
                            if exact {
                                UsedMethod::ConvExact
                            } else {
                                UsedMethod::ConvFourier
                            },
                        )
                    }
                };
                LayerBound {
                    index,
                    kind,
                    upper,
                    power_iteration: power,
                    method,
                    abs_norm: op.abs_norm_upper(),
                    fan_in: ci * k * k,
                    outputs: d_out,
                    bias_norm: bias_norm(c.conv.bias.as_ref().map(|b| b.val())),
                }
            }
            Layer::Dense(d) => {
                let kind = LayerKind::Dense;
                let power = power_estimate(d, convergence.tol, convergence.max_iters);
                let a = dense_matrix(d);
                let (upper, method) = match bound {
                    BoundMethod::PowerIteration => (
                        require(power, index, kind, convergence)?,
                        UsedMethod::PowerIteration,
                    ),
                    BoundMethod::Sound => {
                        let b = gram::spectral_norm_upper(&a).map_err(|e| BoundError {
                            index,
                            kind,
                            message: e.to_string(),
                        })?;
                        (b.upper, UsedMethod::DenseGram)
                    }
                };
                LayerBound {
                    index,
                    kind,
                    upper,
                    power_iteration: power,
                    method,
                    abs_norm: abs_norm_upper_dense(&a),
                    fan_in: a.ncols(),
                    outputs: a.nrows(),
                    bias_norm: bias_norm(d.linear.bias.as_ref().map(|b| b.val())),
                }
            }
            Layer::MinMax(_) | Layer::Relu(_) | Layer::Flatten(_) => continue,
        };
        if !(b.upper.is_finite() && b.upper > 0.0) {
            return Err(BoundError {
                index,
                kind: b.kind,
                message: format!("bound {} is not finite and positive", b.upper),
            });
        }
        out.push(b);
    }
    Ok(out)
}

/// One row of the tightness comparison: a layer's bounds by every method that fits.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tightness {
    /// Position among the bounded body layers.
    pub index: usize,
    /// Conv or dense.
    pub kind: LayerKind,
    /// Input and output size of the layer's matrix.
    pub dims: (usize, usize),
    /// Converged power iteration √(λ + residual), `None` if it did not converge.
    pub power_iteration: Option<f64>,
    /// Exact (materialised or dense) sound bound, when the layer is small enough.
    pub exact: Option<f64>,
    /// Fourier sound bound (conv layers).
    pub fourier: Option<f64>,
    /// Seconds spent on the exact and Fourier bounds.
    pub seconds: (f64, f64),
}

/// Every layer's bounds by every method that fits in memory (exact when the smaller side is at
/// most `exact_limit`), to measure the sound bounds' looseness against the estimate.
pub fn tightness(
    model: &GloroNet,
    convergence: crate::lipschitz::Convergence,
    exact_limit: usize,
) -> Result<Vec<Tightness>, BoundError> {
    let mut rows = Vec::new();
    let timed = |f: &mut dyn FnMut() -> Result<f64, gram::GramError>| {
        let t = std::time::Instant::now();
        f().map(|v| (v, t.elapsed().as_secs_f64()))
    };
    for layer in &model.layers {
        let index = rows.len();
        let err = |kind| {
            move |e: gram::GramError| BoundError {
                index,
                kind,
                message: e.to_string(),
            }
        };
        let row = match layer {
            Layer::Conv(c) => {
                let op = conv_operator(c);
                let dims = op.dims();
                let exact = if dims.0.min(dims.1) <= exact_limit {
                    Some(timed(&mut || op.exact_bound().map(|b| b.upper)).map_err(err(LayerKind::Conv2d))?)
                } else {
                    None
                };
                let fourier =
                    timed(&mut || op.fourier_bound().map(|b| b.upper)).map_err(err(LayerKind::Conv2d))?;
                Tightness {
                    index,
                    kind: LayerKind::Conv2d,
                    dims,
                    power_iteration: power_estimate(c, convergence.tol, convergence.max_iters),
                    exact: exact.map(|e| e.0),
                    fourier: Some(fourier.0),
                    seconds: (exact.map_or(0.0, |e| e.1), fourier.1),
                }
            }
            Layer::Dense(d) => {
                let a = dense_matrix(d);
                let exact = timed(&mut || gram::spectral_norm_upper(&a).map(|b| b.upper))
                    .map_err(err(LayerKind::Dense))?;
                Tightness {
                    index,
                    kind: LayerKind::Dense,
                    dims: (a.ncols(), a.nrows()),
                    power_iteration: power_estimate(d, convergence.tol, convergence.max_iters),
                    exact: Some(exact.0),
                    fourier: None,
                    seconds: (exact.1, 0.0),
                }
            }
            Layer::MinMax(_) | Layer::Relu(_) | Layer::Flatten(_) => continue,
        };
        rows.push(row);
    }
    Ok(rows)
}
