//! A training step's loss and gradients with the batch split across the CPU threads: each part
//! runs its forward and backward on its own fork of the model (its own autodiff graph), its loss
//! weighted by its share of the batch, and the parts' gradients are summed.
//!
//! Burn's CPU backend runs element-wise work, and autodiff its bookkeeping, on one thread; on
//! the small patches of training those dominate, and a second thread gained nothing within one
//! forward (`docs/benchmarks.md`). Whole parts of a batch are independent, so they run side by
//! side; the sum of the weighted parts' gradients is the whole batch's gradient (up to the order
//! of float additions).

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use super::data::Planar;
use crate::model::Grl;

/// The mean absolute error of `model` on the batch and its gradients, the batch cut into at most
/// `parts` parts (of whole images) computed in parallel on rayon's pool. One part computes on `model`
/// itself; more compute on forks of it, whose parameters share `model`'s ids.
pub fn loss_and_grads(model: &Grl, inputs: &[Planar], targets: &[Planar], device: &Device, parts: usize) -> (f32, GradientsParams) {
    assert_eq!(inputs.len(), targets.len(), "as many inputs as targets");
    let n = inputs.len();
    let size = n.div_ceil(parts.clamp(1, n.max(1)));
    if size >= n {
        return part_loss_and_grads(model, inputs, targets, device, 1.0);
    }
    let part = |(inputs, targets): (&[Planar], &[Planar])| {
        part_loss_and_grads(&model.clone().fork(device), inputs, targets, device, inputs.len() as f64 / n as f64)
    };
    let chunks: Vec<_> = inputs.chunks(size).zip(targets.chunks(size)).collect();
    let results: Vec<(f32, GradientsParams)> = chunks.into_par_iter().map(part).collect();
    let mut total = 0.0;
    let mut accumulator = GradientsAccumulator::<Grl>::new();
    for (loss, grads) in results {
        total += loss;
        accumulator.accumulate(model, grads);
    }
    (total, accumulator.grads())
}

/// `weight` times the mean absolute error of `model` on one part, and its gradients.
fn part_loss_and_grads(model: &Grl, inputs: &[Planar], targets: &[Planar], device: &Device, weight: f64) -> (f32, GradientsParams) {
    let output = model.forward(batch_tensor(inputs, device));
    let loss = (output - batch_tensor(targets, device)).abs().mean();
    let loss = if weight == 1.0 { loss } else { loss * weight };
    let grads = GradientsParams::from_grads(loss.backward(), model);
    (loss.into_scalar::<f32>(), grads)
}

/// Planar images of one size as a `[n, 3, h, w]` tensor.
pub fn batch_tensor(images: &[Planar], device: &Device) -> Tensor<4> {
    let (h, w) = (images[0].height, images[0].width);
    let values: Vec<f32> = images.iter().flat_map(|im| im.planes.iter().copied()).collect();
    Tensor::from_data(TensorData::new(values, [images.len(), 3, h, w]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GrlConfig;
    use burn::tensor::Tolerance;
    use rand::SeedableRng;

    /// Two and three parts give the loss and gradients of one, to float rounding.
    #[test]
    fn split_batches_give_the_whole_batch_gradients() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let config = GrlConfig { embed_dim: 8, upscale: 1, depths: vec![1], num_heads_window: vec![1], num_heads_stripe: vec![1], mlp_ratio: 1.0, ..GrlConfig::default() };
        let model = config.init(&device);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let image = |rng: &mut rand::rngs::StdRng| Planar { width: 16, height: 16, planes: (0..3 * 256).map(|_| rand::RngExt::random::<f32>(rng)).collect() };
        let inputs: Vec<Planar> = (0..4).map(|_| image(&mut rng)).collect();
        let targets: Vec<Planar> = (0..4).map(|_| image(&mut rng)).collect();
        let (whole_loss, whole) = loss_and_grads(&model, &inputs, &targets, &device, 1);
        let weight = |grads: &GradientsParams| grads.get::<4>(model.conv_first.weight.id).expect("a gradient").into_data();
        for parts in [2, 3] {
            let (loss, grads) = loss_and_grads(&model, &inputs, &targets, &device, parts);
            assert!((loss - whole_loss).abs() < 1e-6 * whole_loss.abs().max(1.0), "{parts} parts: loss {loss} against {whole_loss}");
            weight(&grads).assert_approx_eq::<f32>(&weight(&whole), Tolerance::rel_abs(1e-4, 1e-6));
            assert_eq!(grads.len(), whole.len(), "every parameter has its gradient");
        }
    }
}
