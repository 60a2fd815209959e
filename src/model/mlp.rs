//! [`Mlp`]: the feed-forward branch of every block (reference `Mlp` in `swin_v1_block.py`).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::chunks::map_in_chunks;
use super::cpu_linear::{Activation, linear};
use super::kernels;

/// Configuration of an [`Mlp`].
#[derive(Config, Debug)]
pub struct MlpConfig {
    /// Input and output width C.
    pub dim: usize,
    /// Hidden width, `int(C * mlp_ratio)`.
    pub hidden_dim: usize,
}

/// Linear(C, hidden), exact (erf) GELU, Linear(hidden, C).
#[derive(Module, Debug)]
pub struct Mlp {
    /// Linear(C, hidden).
    pub fc1: Linear,
    /// Linear(hidden, C).
    pub fc2: Linear,
}

impl MlpConfig {
    /// Initializes an [`Mlp`].
    pub fn init(&self, device: &Device) -> Mlp {
        Mlp {
            fc1: LinearConfig::new(self.dim, self.hidden_dim).init(device),
            fc2: LinearConfig::new(self.hidden_dim, self.dim).init(device),
        }
    }
}

impl Mlp {
    /// # Shapes
    ///
    /// - x: `[B, L, C]`
    /// - output: `[B, L, C]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [_, tokens, c] = x.dims();
        // On a GPU, in chunks of tokens whose hidden features (the first layer's output and its
        // GELU) together are no larger than `x`: the device pool's pages follow the largest
        // allocation it has served, for the rest of the process.
        let chunks = if kernels::on_gpu(&x.device()) { (2 * self.fc1.weight.dims()[1]).div_ceil(c).min(tokens) } else { 1 };
        map_in_chunks(x, 1, tokens.div_ceil(chunks.max(1)), |x| self.forward_tokens(x))
    }

    /// All of `x`'s tokens at once (on the CPU, the GELU fused into the first layer).
    fn forward_tokens(&self, x: Tensor<3>) -> Tensor<3> {
        linear(&self.fc2, linear(&self.fc1, x, Activation::Gelu), Activation::Identity)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::model::cpu_gelu::gelu;
    use burn::tensor::{TensorData, Tolerance};

    #[test]
    fn gelu_is_the_exact_erf_form() {
        let device = Device::flex();
        let x = Tensor::<1>::from_data(TensorData::from([-3.0f32, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]), &device);
        // x * Phi(x), from torch.nn.functional.gelu (approximate="none").
        let expected = TensorData::from([
            -0.004_049_7f32,
            -0.158_655_25,
            -0.154_268_74,
            0.0,
            0.345_731_26,
            0.841_344_75,
            2.995_950_3,
        ]);
        gelu(x).into_data().assert_approx_eq::<f32>(&expected, Tolerance::absolute(1e-6));
    }

    #[test]
    fn hidden_width_from_a_fractional_ratio() {
        let device = Device::flex();
        let mlp = MlpConfig::new(30, 51).init(&device);
        let x = Tensor::<3>::zeros([1, 4, 30], &device);
        assert_eq!(mlp.forward(x).dims(), [1, 4, 30]);
        assert_eq!(mlp.fc1.weight.dims(), [30, 51]);
    }
}
