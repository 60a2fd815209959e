//! [`CoordTable`]: a coordinate table and, in its [`BiasCache`], the per-entry
//! relative-position biases computed from it, so that the two travel together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use burn::module::ParamId;
use burn::tensor::Tensor;

/// The per-entry biases `16 * sigmoid(cpb_mlp(table))` (`[T, heads]`) that the transforms of a
/// model computed from one coordinate table, by transform (keyed by its MLP's output weight).
///
/// A bias depends only on the weights and on the table, which depends only on the tile shape:
/// the forwards that share a [`super::TableIndexMask`] (the tiles of one shape in a restore,
/// a benchmark's runs) compute each transform's once. Clones share the entries. The key is the
/// parameter's id, which an optimiser step keeps, so the bias is cached only outside autodiff
/// (the caller decides), and tables must not outlive a change of weights (they are built per
/// restore).
/// A log-spaced relative-coordinate table and the biases the transforms computed from it.
#[derive(Debug, Clone)]
pub struct CoordTable {
    /// The coordinates, `[T, 2]`.
    pub coords: Tensor<2>,
    /// The per-entry biases computed from `coords`, by transform.
    pub biases: BiasCache,
}

impl CoordTable {
    /// A table with no bias computed yet.
    pub fn new(coords: Tensor<2>) -> Self {
        Self { coords, biases: BiasCache::default() }
    }
}

#[derive(Debug, Clone, Default)]
pub struct BiasCache(Arc<Mutex<HashMap<ParamId, Tensor<2>>>>);

impl BiasCache {
    /// The entry of `key`, computed by `compute` the first time.
    pub fn get_or_compute(&self, key: ParamId, compute: impl FnOnce() -> Tensor<2>) -> Tensor<2> {
        self.entries().entry(key).or_insert_with(compute).clone()
    }

    /// How many biases it holds.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// The map, locked. A poisoned lock only means another thread panicked mid-insert: the map
    /// is still whole, so both readers take it as it is.
    fn entries(&self) -> MutexGuard<'_, HashMap<ParamId, Tensor<2>>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
