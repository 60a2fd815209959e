//! Training and evaluating GRL in the project (native only): data, degradations, test pairs,
//! metrics, the training loop with checkpoints, and evaluation against the trivial baselines.

pub mod checkpoint;
pub mod data;
pub mod degrade;
pub mod eval;
pub mod metrics;
pub mod split_batch;
pub mod testset;
pub mod trainer;
