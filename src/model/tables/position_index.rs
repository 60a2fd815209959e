//! [`PositionIndex`]: a relative-position index as its rule, with the table of it built only
//! where a path reads one.

use std::sync::{Arc, Mutex, OnceLock};

use burn::tensor::{Device, Int, Tensor, TensorData};

use super::coords::RelativeIndex;
use crate::model::kernels;

/// The relative-position index of one (query grid, key grid) pair.
///
/// The fused WGSL kernel computes each entry from [`PositionIndex::rule`], so on wgpu no
/// `n_q x n_k` table reaches the device (4 MiB of i32 for 32x32 windows, 16 MiB per stripe
/// direction for 64x64 stripes with anchors at half resolution). The CPU kernel reads the host
/// values ([`PositionIndex::values`]) and the plain ops the device tensor
/// ([`PositionIndex::tensor`]); each is built on first use and kept. Clones share them.
#[derive(Debug, Clone)]
pub struct PositionIndex {
    rule: RelativeIndex,
    device: Device,
    values: Arc<OnceLock<Vec<u32>>>,
    tensor: Arc<Mutex<Option<Tensor<1, Int>>>>,
}

impl PositionIndex {
    /// The index of `rule`, whose tables would live on `device`. Where the plain ops will read
    /// the device tensor (autodiff, `--plain`, a backend without a fused kernel), it is built
    /// now, with the other tables, rather than in the middle of the first forward, where it
    /// would take fresh pages of the device's memory pool above the forward's peak.
    pub fn new(rule: RelativeIndex, device: &Device) -> Self {
        let index = Self { rule, device: device.clone(), values: Arc::default(), tensor: Arc::default() };
        if !kernels::fused_gpu(device) && !kernels::fused_cpu(device) {
            index.tensor();
        }
        index
    }

    /// The rule the entries follow.
    pub fn rule(&self) -> RelativeIndex {
        self.rule
    }

    /// The entries on the host, `[n_q * n_k]`, row-major.
    pub fn values(&self) -> &[u32] {
        self.values.get_or_init(|| self.rule.values())
    }

    /// The entries on the device, `[n_q * n_k]`.
    pub fn tensor(&self) -> Tensor<1, Int> {
        // A poisoned lock means another thread panicked while building it: build it again.
        let mut slot = self.tensor.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.get_or_insert_with(|| {
            let values: Vec<i64> = self.values().iter().map(|&i| i64::from(i)).collect();
            let len = values.len();
            Tensor::from_data(TensorData::new(values, [len]), &self.device)
        })
        .clone()
    }

    /// Whether the device tensor has been built.
    #[cfg(all(test, not(target_arch = "wasm32")))]
    fn has_tensor(&self) -> bool {
        self.tensor.lock().map_or(true, |slot| slot.is_some())
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::tables::{IndexDirection, relative_position_index};

    #[test]
    fn values_and_tensor_are_the_rules_and_built_once() {
        let device = Device::flex();
        let rule = RelativeIndex::new([4, 8], 2, IndexDirection::WindowToAnchor);
        let index = PositionIndex::new(rule, &device);
        let shared = index.clone();
        assert!(!index.has_tensor(), "the fused CPU kernel reads the host values only");
        let plain = crate::model::kernels::with_plain_ops(|| PositionIndex::new(rule, &device));
        assert!(plain.has_tensor(), "built with the tables where the plain ops will read it");
        let expected = relative_position_index([4, 8], 2, IndexDirection::WindowToAnchor);
        let values: Vec<i64> = index.values().iter().map(|&i| i64::from(i)).collect();
        assert_eq!(values, expected);
        let tensor = index.tensor().into_data().convert::<i64>().try_into_vec::<i64>().unwrap();
        assert_eq!(tensor, expected);
        assert!(shared.has_tensor(), "clones share the built tensor");
        assert_eq!(shared.rule(), rule);
    }
}
