//! `pes reproduce`: which experiments run at which [`Scale`], and running them; the figures
//! and `pes.md` are rendered by [`crate::report`].
//!
//! | experiment | `--quick` | `--full` |
//! |---|---|---|
//! | influence balancing (§5.1) | the paper's settings | the paper's settings |
//! | toy regression (§5.2) | 1000 outer iterations, 60×60 landscape | 20 000 iterations, 100×100 |
//! | MNIST schedule (§5.3) | [`MnistConfig::quick`] | [`MnistConfig::full`] (days on a 2-core CPU) |
//! | variance (§5.4) | [`VarianceConfig::quick`] | [`VarianceConfig::default`] |

use crate::error::Result;
use crate::experiments::{self, Context, InfluenceConfig, MnistConfig, ToyConfig, VarianceConfig};
use crate::report::{self, ReportInput};
use repro_core::data::DataArgs;
use repro_core::reproduce::Scale;
use std::path::{Path, PathBuf};

/// The settings of every experiment of a reproduction.
#[derive(Debug, Clone)]
pub struct Experiments {
    /// Influence balancing (§5.1).
    pub influence: InfluenceConfig,
    /// Toy regression (§5.2).
    pub toy: ToyConfig,
    /// MNIST learning-rate schedule (§5.3).
    pub mnist: MnistConfig,
    /// Variance against the number of unrolls (§5.4).
    pub variance: VarianceConfig,
}

impl Experiments {
    /// What runs at `scale` (see the module's table).
    pub fn at(scale: Scale) -> Self {
        let quick = scale == Scale::Quick;
        let mut toy = ToyConfig::default();
        if quick {
            toy.iterations = 1000;
            toy.grid = 60;
        }
        Self {
            influence: InfluenceConfig::default(),
            toy,
            mnist: if quick {
                MnistConfig::quick()
            } else {
                MnistConfig::full()
            },
            variance: if quick {
                VarianceConfig::quick()
            } else {
                VarianceConfig::default()
            },
        }
    }
}

/// Runs every experiment at `scale`, drawing each figure as soon as its experiment ends, and
/// writes `out/pes.md`; returns its path.
pub fn reproduce(scale: Scale, out: &Path, data: &DataArgs, ctx: &Context) -> Result<PathBuf> {
    let plan = Experiments::at(scale);
    let dir = report::figures_dir(out);
    std::fs::create_dir_all(&dir)?;

    eprintln!("== influence balancing ==");
    let influence = experiments::influence::run(&plan.influence, ctx)?;
    report::plot_influence(&influence, &dir)?;

    eprintln!("== toy regression ==");
    let toy = experiments::toy::run(&plan.toy, ctx)?;
    report::plot_toy(&toy, &dir)?;

    eprintln!("== MNIST learning-rate schedule ==");
    let mnist = experiments::mnist::run(&plan.mnist, data, ctx)?;
    report::plot_mnist(&mnist, &dir)?;

    eprintln!("== variance ==");
    let curves = experiments::variance::run(&plan.variance, &ctx.device)?;
    report::plot_variance(&curves, &dir)?;

    let device = format!("{:?}", ctx.device);
    report::write(
        out,
        &ReportInput {
            scale,
            device: &device,
            influence: (&plan.influence, &influence),
            toy: (&plan.toy, &toy),
            mnist: (&plan.mnist, &mnist),
            variance: (&plan.variance, &curves),
        },
    )
}
