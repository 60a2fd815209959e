//! Running an operation on a tensor in chunks along one dimension: what keeps the largest
//! allocation of a token-wise step bounded (a GPU pool's pages follow the largest allocation it
//! has served, for the rest of the process).

use burn::tensor::Tensor;

/// `f` on `x` in chunks of at most `rows` along `dim`, the results concatenated along it; `f`
/// on the whole of `x` when one chunk holds it. Right for any `f` that works on each index of
/// `dim` independently.
pub fn map_in_chunks<const D: usize>(x: Tensor<D>, dim: usize, rows: usize, mut f: impl FnMut(Tensor<D>) -> Tensor<D>) -> Tensor<D> {
    let len = x.dims()[dim];
    let rows = rows.max(1);
    if len <= rows {
        return f(x);
    }
    let parts = (0..len).step_by(rows).map(|start| f(x.clone().slice_dim(dim, start..len.min(start + rows))));
    Tensor::cat(parts.collect(), dim)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution};

    #[test]
    fn chunks_cover_every_row_once_in_order() {
        let device = Device::flex();
        let x = Tensor::<3>::random([2, 7, 3], Distribution::Normal(0.0, 1.0), &device);
        let mut calls = Vec::new();
        let out = map_in_chunks(x.clone(), 1, 3, |t| {
            calls.push(t.dims()[1]);
            t * 2.0
        });
        assert_eq!(calls, [3, 3, 1]);
        out.into_data().assert_eq(&(x * 2.0).into_data(), true);
    }
}
