//! Predictors (paper Sec. 6, Tables 1–3): the 2-layer MLP with BN, a linear predictor trained by
//! SGD, and a linear predictor whose weight is set directly (DirectPred, DirectCopy).

use crate::directpred::{DirectPredConfig, Formula};
use crate::nets::MlpHead;
use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// Which predictor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum PredictorKind {
    /// `Linear(d → hidden) → BN → ReLU → Linear(hidden → d)` (BYOL's default, hidden 512).
    Mlp {
        /// Hidden width.
        hidden: usize,
    },
    /// A `d × d` linear layer without bias, trained by SGD with the encoder.
    Linear,
    /// The same, made symmetric `W_p ← (W_p + W_pᵀ)/2` after every optimiser step (reference
    /// `predictor_reg: symmetric`; the symmetric `W_p` of the analysis, Sec. 3).
    LinearSymmetric,
    /// No predictor: `p = z` (a fixed identity map). The analysis predicts collapse (Sec. 3).
    None,
    /// A `d × d` linear layer set from the correlation of the projector outputs.
    DirectPred(DirectPredConfig),
}

impl PredictorKind {
    /// DirectPred with the reference defaults.
    pub fn direct_pred() -> Self {
        PredictorKind::DirectPred(DirectPredConfig::default())
    }

    /// DirectCopy as the reference sets it (`W_p = F̂ + εI`, no normalisation).
    pub fn direct_copy() -> Self {
        PredictorKind::DirectPred(DirectPredConfig {
            formula: Formula::DirectCopyRaw,
            ..DirectPredConfig::default()
        })
    }

    /// Short name for tables.
    pub fn label(&self) -> String {
        match self {
            PredictorKind::Mlp { .. } => "2-layer MLP".into(),
            PredictorKind::Linear => "linear (SGD)".into(),
            PredictorKind::LinearSymmetric => "linear (SGD, symmetrised)".into(),
            PredictorKind::None => "no predictor".into(),
            PredictorKind::DirectPred(c) => match c.formula {
                Formula::Sqrt => format!("DirectPred (freq {})", c.freq),
                Formula::Linear => format!("DirectPred p=s/max s (freq {})", c.freq),
                Formula::DirectCopy => format!("DirectCopy F/|F|_F (freq {})", c.freq),
                Formula::DirectCopySpectral => format!("DirectCopy F/|F|_2 (freq {})", c.freq),
                Formula::DirectCopyRaw => format!("DirectCopy (freq {})", c.freq),
            },
        }
    }

    /// Whether SGD trains the predictor (every kind but a fixed one and DirectPred at freq 1).
    pub fn is_trained(&self) -> bool {
        match self {
            PredictorKind::None => false,
            PredictorKind::DirectPred(c) => c.freq > 1,
            _ => true,
        }
    }

    /// Whether the predictor is one `d × d` matrix `W_p` (the theory monitors apply).
    pub fn is_linear(&self) -> bool {
        !matches!(self, PredictorKind::Mlp { .. })
    }

    /// Builds the module for outputs of width `d`.
    pub fn init(&self, d: usize, device: &Device) -> Predictor {
        let linear = || LinearConfig::new(d, d).with_bias(false).init(device);
        match self {
            PredictorKind::Mlp { hidden } => Predictor::Mlp(MlpHead::new(d, *hidden, d, device)),
            PredictorKind::Linear | PredictorKind::LinearSymmetric => Predictor::Linear(linear()),
            PredictorKind::None => {
                let identity = DMatrix::<f64>::identity(d, d);
                Predictor::Linear(linear().no_grad()).set_linear_weight(&identity)
            }
            // Set every step: no gradient needed. Otherwise SGD trains it in between.
            PredictorKind::DirectPred(c) if c.freq <= 1 => Predictor::Linear(linear().no_grad()),
            PredictorKind::DirectPred(_) => Predictor::Linear(linear()),
        }
    }
}

/// A predictor module.
// One predictor per network: the size difference of the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Predictor {
    /// The 2-layer MLP head.
    Mlp(MlpHead),
    /// A `d × d` linear layer without bias (trained, or set directly by DirectPred).
    Linear(Linear),
}

impl Predictor {
    /// Predictions `[B, d]` from projector outputs `[B, d]`.
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        match self {
            Predictor::Mlp(m) => m.forward(z),
            Predictor::Linear(l) => l.forward(z),
        }
    }

    /// Writes a symmetric `W_p` into the linear layer, keeping its parameter id (so optimiser
    /// state carries over) and whether it is trained; an MLP predictor is returned unchanged.
    /// (Burn's `Linear` computes `x W`; `W_p` is symmetric, so this is the same map as the
    /// reference's `x W_pᵀ`.)
    pub fn set_linear_weight(self, w: &DMatrix<f64>) -> Self {
        let linear = match self {
            Predictor::Linear(linear) => linear,
            mlp @ Predictor::Mlp(_) => return mlp,
        };
        let d = w.nrows();
        let (id, old, _) = linear.weight.consume();
        let device = old.device();
        let trained = old.is_require_grad();
        // Burn's weight is [d_in, d_out] row-major, i.e. Wᵀ row-major = W column-major,
        // which is nalgebra's storage order.
        let vals: Vec<f32> = w.iter().map(|&x| x as f32).collect();
        let mut t = Tensor::<2>::from_data(TensorData::new(vals, [d, d]), &device);
        if trained {
            t = t.require_grad();
        }
        Predictor::Linear(Linear {
            weight: Param::initialized(id, t),
            bias: linear.bias,
        })
    }

    /// `W_p ← (W_p + W_pᵀ)/2` in place of the linear weight (same parameter id, still trained);
    /// an MLP predictor is returned unchanged.
    pub fn symmetrize(self) -> Self {
        match self.linear_weight() {
            Some(w) => {
                let sym = (&w + w.transpose()) * 0.5;
                self.set_linear_weight(&sym)
            }
            None => self,
        }
    }

    /// The linear weight as an `f64` matrix `W` with `y = W z` (for tests and reports); `None`
    /// for the MLP.
    pub fn linear_weight(&self) -> Option<DMatrix<f64>> {
        let Predictor::Linear(l) = self else {
            return None;
        };
        let [a, b] = l.weight.dims();
        let v = l
            .weight
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .ok()?;
        // Burn stores [d_in, d_out] row-major: W_burn[i][o]; y_o = Σ_i z_i W_burn[i][o].
        Some(DMatrix::from_fn(b, a, |o, i| v[i * b + o] as f64))
    }
}
