//! Schedules of ε, λ and the learning rate, evaluated per epoch (§6 and the reference scripts).

use serde::{Deserialize, Serialize};

/// How the training radius grows to its target `eps` over `epochs` epochs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum EpsSchedule {
    /// ε throughout.
    Fixed,
    /// Linear from 0 at the first epoch to ε at the last.
    Linear,
    /// Logarithmic-shaped ramp from 0.01·ε to ε over all epochs.
    Logarithmic,
    /// The logarithmic ramp squeezed into the first half, then held.
    LogToHalf,
}

fn log_ramp(i: f64, n: f64) -> f64 {
    // log((e − e^0.01)/(n−1)·i + e^0.01): 0.01 at i = 0, 1 at i = n − 1
    if n <= 1.0 {
        return 1.0;
    }
    let lo = 0.01f64.exp();
    ((std::f64::consts::E - lo) / (n - 1.0) * i + lo).ln()
}

impl EpsSchedule {
    /// ε at `epoch` (0-based) of `epochs`, for target `eps` trained with `overshoot`
    /// (the training radius is `overshoot · eps`; 1.0 for none).
    pub fn at(self, epoch: usize, epochs: usize, eps: f64, overshoot: f64) -> f64 {
        let target = eps * overshoot;
        let (i, n) = (epoch as f64, epochs as f64);
        match self {
            EpsSchedule::Fixed => target,
            EpsSchedule::Linear => target * if n > 1.0 { (i / (n - 1.0)).min(1.0) } else { 1.0 },
            EpsSchedule::Logarithmic => target * log_ramp(i.min(n - 1.0), n),
            EpsSchedule::LogToHalf => {
                let half = (n / 2.0).floor().max(1.0);
                target * log_ramp(i.min(half - 1.0), half)
            }
        }
    }
}

/// λ of the TRADES losses: linear from `start` to `end` over the first `ramp_epochs`, then `end`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaSchedule {
    /// λ at epoch 0.
    pub start: f64,
    /// λ after the ramp.
    pub end: f64,
    /// Epochs of the linear ramp.
    pub ramp_epochs: usize,
}

impl LambdaSchedule {
    /// `v` at every epoch.
    pub fn constant(v: f64) -> Self {
        Self {
            start: v,
            end: v,
            ramp_epochs: 0,
        }
    }

    /// λ at `epoch` (0-based).
    pub fn at(&self, epoch: usize) -> f64 {
        if self.ramp_epochs <= 1 || epoch + 1 >= self.ramp_epochs {
            return if epoch + 1 >= self.ramp_epochs {
                self.end
            } else {
                self.start
            };
        }
        self.start + (self.end - self.start) * epoch as f64 / (self.ramp_epochs - 1) as f64
    }
}

/// Learning rate held at `base` for `hold` epochs, then decayed exponentially so that it
/// would reach `floor` at the end of training (the reference's "decay to X after half").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrSchedule {
    /// The initial learning rate.
    pub base: f64,
    /// The rate the decay would reach at the last epoch.
    pub floor: f64,
    /// Epochs at `base` before the decay starts.
    pub hold: usize,
}

impl LrSchedule {
    /// The rate at `epoch` (0-based) of `epochs`.
    pub fn at(&self, epoch: usize, epochs: usize) -> f64 {
        if epoch < self.hold || epochs <= self.hold {
            return self.base;
        }
        let frac = (epoch - self.hold) as f64 / (epochs - self.hold) as f64;
        self.base * (self.floor / self.base).powf(frac)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eps_schedules_reach_the_target() {
        let e = 0.3;
        assert!((EpsSchedule::Fixed.at(0, 10, e, 1.5) - 0.45).abs() < 1e-12);
        assert_eq!(EpsSchedule::Linear.at(0, 11, e, 1.0), 0.0);
        assert!((EpsSchedule::Linear.at(5, 11, e, 1.0) - 0.15).abs() < 1e-12);
        assert!((EpsSchedule::Logarithmic.at(0, 10, e, 1.0) - 0.003).abs() < 1e-12);
        assert!((EpsSchedule::Logarithmic.at(9, 10, e, 1.0) - 0.3).abs() < 1e-12);
        let half = EpsSchedule::LogToHalf;
        assert!((half.at(4, 10, e, 1.1) - 0.33).abs() < 1e-12);
        assert!((half.at(9, 10, e, 1.1) - 0.33).abs() < 1e-12);
        assert!(half.at(2, 10, e, 1.1) < half.at(3, 10, e, 1.1));
    }

    #[test]
    fn lr_holds_then_decays_geometrically() {
        let s = LrSchedule {
            base: 1e-3,
            floor: 1e-6,
            hold: 15,
        };
        assert_eq!(s.at(14, 30), 1e-3);
        assert!((s.at(15, 30) - 1e-3).abs() < 1e-15);
        let r1 = s.at(20, 30) / s.at(19, 30);
        let r2 = s.at(25, 30) / s.at(24, 30);
        assert!((r1 - r2).abs() < 1e-12 && r1 < 1.0);
        assert!((s.at(30, 30) - 1e-6).abs() < 1e-15);
    }

    #[test]
    fn lambda_ramps_linearly() {
        let l = LambdaSchedule {
            start: 0.0,
            end: 2.0,
            ramp_epochs: 5,
        };
        assert_eq!(l.at(0), 0.0);
        assert_eq!(l.at(2), 1.0);
        assert_eq!(l.at(4), 2.0);
        assert_eq!(l.at(100), 2.0);
        assert_eq!(LambdaSchedule::constant(1.5).at(3), 1.5);
    }
}
