//! Reading a float tensor's values on Burn's CPU backend without copying them.
//!
//! `Tensor::into_data` copies whenever the tensor is shared (a residual input that is used again
//! later) and Burn's conversion to a `Vec` copies once more to change the alignment; the fused
//! kernels only read their inputs, so they borrow the backend's buffer where it is contiguous.

use burn::backend::Flex;
use burn::module::Param;
use burn::tensor::Tensor;

/// `f` on the values of `x` in row-major order: borrowed from Burn's CPU backend when `x` lives
/// there as a contiguous f32 buffer, else (another backend, a strided view, another dtype)
/// copied out first.
pub fn with_values<const D: usize, R>(x: &Tensor<D>, f: impl FnOnce(&[f32]) -> R) -> R {
    if let Ok(primitive) = x.clone().try_into_primitive::<Flex>()
        && let Some(values) = primitive.as_slice::<f32>()
    {
        return f(values);
    }
    let data = x.clone().into_data().convert::<f32>();
    f(data.as_slice::<f32>().expect("converted to f32"))
}

/// A layer's bias as values, or `len` zeros for a layer without one: what a kernel's output
/// blocks start from.
pub fn bias_or_zeros(bias: &Option<Param<Tensor<1>>>, len: usize) -> Vec<f32> {
    match bias {
        Some(bias) => with_values(&bias.val(), <[f32]>::to_vec),
        None => vec![0.0; len],
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    #[test]
    fn contiguous_and_strided_tensors_read_in_row_major_order() {
        let device = Device::flex();
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]), &device);
        assert_eq!(with_values(&x, <[f32]>::to_vec), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let transposed = x.clone().swap_dims(0, 1);
        assert_eq!(with_values(&transposed, <[f32]>::to_vec), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        let sliced = x.slice_dim(1, 1..3);
        assert_eq!(with_values(&sliced, <[f32]>::to_vec), [2.0, 3.0, 5.0, 6.0]);
    }
}
