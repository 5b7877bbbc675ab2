//! Understanding Self-Supervised Learning Dynamics without Contrastive Pairs
//! (Tian, Chen, Ganguli, ICML 2021), on Burn.
//!
//! | module | paper | what it holds |
//! |---|---|---|
//! | [`linear`] | Sec. 3–5 | linear model, eigenvalue ODE, fixed points, collapse basin, SGD on synthetic data |

pub mod linear;
